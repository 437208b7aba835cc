"""Residents' data rights: /mydata (a copy of everything stored), /forget (after a confirmation), /consent."""

from __future__ import annotations

import logging
from datetime import datetime

from aiogram import Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardMarkup, Message

from bot.callbacks import ConsentChange, ConsentManage, ForgetAction, ForgetChoice
from bot.config import Settings
from bot.filters import PrivateChat
from bot.keyboards import make_home_keyboard, one_per_row
from bot.l10n import L10n
from bot.services import people, privacy
from handlers.screens import show_consent
from storage.models import User
from storage.repositories import Repositories

log = logging.getLogger(__name__)


def make_forget_keyboard(l10n: L10n, user_id: int) -> InlineKeyboardMarkup:
    return one_per_row([
        (l10n("privacy.forget_button"), ForgetChoice(action=ForgetAction.CONFIRM, user_id=user_id)),
        (l10n("privacy.keep_button"), ForgetChoice(action=ForgetAction.CANCEL, user_id=user_id)),
    ])


def make_consent_state_keyboard(l10n: L10n, state: str) -> InlineKeyboardMarkup:
    buttons = []
    if state in ("none", "withdrawn", "outdated"):
        buttons.append((l10n("privacy.give_button"), ConsentManage(action=ConsentChange.GIVE)))
    if state in ("given", "outdated"):
        buttons.append((l10n("privacy.withdraw_button"), ConsentManage(action=ConsentChange.WITHDRAW)))
    return one_per_row(buttons)


def consent_text(user: User | None, l10n: L10n, settings: Settings) -> str:
    state = privacy.consent_state(user)
    if state == "none":
        return l10n("privacy.consent_none")
    zone = settings.zone
    if state == "withdrawn":
        return l10n("privacy.consent_state_withdrawn",
                    when=user.consent_withdrawn_at.astimezone(zone).strftime("%d.%m.%Y %H:%M"))
    key = "privacy.consent_state_given" if state == "given" else "privacy.consent_state_outdated"
    return l10n(key, when=user.consent_at.astimezone(zone).strftime("%d.%m.%Y %H:%M"),
                version=user.consent_version, current=people.CONSENT_VERSION)


def make_withdraw_keyboard(l10n: L10n) -> InlineKeyboardMarkup:
    return one_per_row([
        (l10n("privacy.withdraw_confirm_button"), ConsentManage(action=ConsentChange.WITHDRAW_CONFIRMED)),
        (l10n("privacy.withdraw_keep_button"), ConsentManage(action=ConsentChange.KEEP)),
    ])


async def drop_buttons(query: CallbackQuery) -> None:
    """The question was answered: its buttons go, so it cannot be answered twice (an old message may not edit)."""
    if isinstance(query.message, Message):
        try:
            await query.message.edit_reply_markup(reply_markup=None)
        except TelegramBadRequest as error:
            log.info("buttons of message %s not removed: %s", query.message.message_id, error)


def make_router(settings: Settings) -> Router:
    router = Router(name="privacy")
    router.message.filter(PrivateChat())
    router.callback_query.filter(PrivateChat())

    @router.message(Command("mydata"))
    async def my_data(message: Message, repo: Repositories, user: User | None, l10n: L10n, now: datetime) -> None:
        if user is None:  # nothing is stored: a short answer, not an empty file
            await message.answer(l10n("privacy.mydata_nothing"))
            return
        data = await privacy.export(repo, user, now=now, settings=settings)
        document = BufferedInputFile(privacy.export_bytes(data),
                                     filename=privacy.export_file_name(now, settings.zone))
        await message.answer(privacy.summary(data, l10n))  # readable at a glance; the file holds everything
        await message.answer_document(document, caption=l10n("privacy.mydata_caption"))

    @router.message(Command("forget"))
    async def forget_command(message: Message, user: User | None, l10n: L10n) -> None:
        if user is None:
            await message.answer(l10n("privacy.forget_nothing"))
            return
        await message.answer(l10n("privacy.forget_confirm"), reply_markup=make_forget_keyboard(l10n, user.id))

    @router.callback_query(ForgetChoice.filter())
    async def forget_chosen(query: CallbackQuery, callback_data: ForgetChoice, state: FSMContext,
                            repo: Repositories, user: User | None, l10n: L10n, now: datetime) -> None:
        # The button names whose data it asked about: after /forget this account is someone new (or nobody).
        if user is None or user.id != callback_data.user_id:
            await query.answer(l10n("privacy.forget_stale"), show_alert=True)
            return
        await query.answer()
        await drop_buttons(query)
        if callback_data.action == ForgetAction.CANCEL:
            await query.message.answer(l10n("privacy.forget_cancelled"), reply_markup=make_home_keyboard(l10n))
            return
        # Cleared first: the storage may write an empty record, which forgetting then removes with the rest.
        await state.clear()
        await privacy.forget(repo, user, now=now, settings=settings)
        await query.message.answer(l10n("privacy.forget_done", when=now.astimezone(settings.zone).strftime(
            "%d.%m.%Y %H:%M")))

    @router.message(Command("consent"))
    async def consent_command(message: Message, user: User | None, l10n: L10n) -> None:
        await message.answer(consent_text(user, l10n, settings),
                             reply_markup=make_consent_state_keyboard(l10n, privacy.consent_state(user)))

    @router.callback_query(ConsentManage.filter())
    async def consent_changed(query: CallbackQuery, callback_data: ConsentManage, state: FSMContext,
                              repo: Repositories, user: User | None, l10n: L10n, now: datetime) -> None:
        if callback_data.action == ConsentChange.GIVE:
            await query.answer()
            await drop_buttons(query)
            await show_consent(query.message, l10n)  # the one consent screen, with its versioned buttons
            return
        if callback_data.action == ConsentChange.KEEP:
            await query.answer()
            await drop_buttons(query)
            await query.message.answer(l10n("privacy.consent_kept"), reply_markup=make_home_keyboard(l10n))
            return
        if user is None or not user.has_consent:
            await query.answer(l10n("privacy.consent_not_in_force"), show_alert=True)
            return
        if callback_data.action == ConsentChange.WITHDRAW:
            # One tap never drops a review being written: say what goes, and ask.
            draft = (await state.get_data()).get("draft") or {}
            key = "privacy.withdraw_confirm_draft" if draft else "privacy.withdraw_confirm"
            await query.answer()
            await drop_buttons(query)
            await query.message.answer(l10n(key), reply_markup=make_withdraw_keyboard(l10n))
            return
        if not await privacy.withdraw_consent(repo, user, now):
            await query.answer(l10n("privacy.consent_not_in_force"), show_alert=True)
            return
        # A review being written is not submitted without consent, and its draft is the person's data.
        await state.clear()
        await query.answer()
        await drop_buttons(query)
        await query.message.answer(l10n("privacy.consent_withdrawn"), reply_markup=make_home_keyboard(l10n))

    return router
