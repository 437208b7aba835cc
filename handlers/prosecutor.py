"""The prosecutor's chat: alert buttons, answers by reply, /cases and /case; only members or the role may act."""

from __future__ import annotations

import html
import logging
from datetime import datetime

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject, Filter, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, TelegramObject

from bot.callbacks import AlertAction, AlertActionV1
from bot.config import Settings
from bot.filters import HasText
from bot.services import alerts, cases, clinics, urgency_decisions
from bot.services.access import ProsecutorAccess
from bot.services.alerts import CaseView
from bot.states import ProsecutorInput
from storage.repositories import Repositories

log = logging.getLogger(__name__)

NEEDS_WORDS = {AlertAction.ASK: ProsecutorInput.ask, AlertAction.CLOSE: ProsecutorInput.close,
               AlertAction.REJECT: ProsecutorInput.reject, AlertAction.EXTEND: ProsecutorInput.extend}
TEXT_PART = 3500


class InChat(Filter):
    def __init__(self, chat_id: int | None) -> None:
        self.chat_id = chat_id

    async def __call__(self, event: TelegramObject) -> bool:
        chat = getattr(event, "chat", None)
        return self.chat_id is not None and chat is not None and chat.id == self.chat_id


async def refresh_card(bot: Bot, view: CaseView, settings: Settings, chat_id: int, message_id: int) -> None:
    """Show the new status and assignee on the card; an old or deleted card is not worth failing for."""
    l10n = alerts.chat_l10n(settings)
    try:
        await bot.edit_message_text(alerts.card_text(view, l10n, settings.zone), chat_id=chat_id,
                                    message_id=message_id, reply_markup=alerts.card_keyboard(view, l10n))
    except TelegramBadRequest as error:
        log.info("card %s of %s not edited: %s", message_id, view.review.reference, error)


def make_router(settings: Settings) -> Router:
    router = Router(name="prosecutor")
    access = ProsecutorAccess(settings.prosecutor.chat_id, settings.prosecutor.membership_cache_seconds)
    in_chat = InChat(settings.prosecutor.chat_id)
    l10n = alerts.chat_l10n(settings)

    @router.callback_query(AlertActionV1.filter())
    async def alert_button(query: CallbackQuery, callback_data: AlertActionV1, bot: Bot, repo: Repositories,
                           state: FSMContext, now: datetime) -> None:
        in_office_chat = query.message is not None and query.message.chat.id == settings.prosecutor.chat_id
        # Buttons act only under the office's own cards: a copy forwarded elsewhere, or forged data, does nothing.
        if not in_office_chat or not await access.allowed(bot, repo, query.from_user.id):
            await query.answer(l10n("alert.refused"), show_alert=True)
            return
        case = await repo.reviews.case(callback_data.case_id)
        if case is None:  # forged or from another installation
            await query.answer(l10n("cases.unknown"), show_alert=True)
            return
        view = await alerts.load(repo, case)
        action = callback_data.action
        if action == AlertAction.FULL_TEXT:
            await query.answer()
            text = view.review.text
            for start in range(0, len(text), TEXT_PART):
                await query.message.answer(l10n("alert.full_text", reference=view.review.reference,
                                                text=html.escape(text[start:start + TEXT_PART])))
            return
        if action == AlertAction.OPEN:
            await query.answer()
            card = await query.message.answer(alerts.card_text(view, l10n, settings.zone),
                                              reply_markup=alerts.card_keyboard(view, l10n))
            await repo.outbox.point_card_to(view.review.id, query.message.chat.id, card.message_id)
            return
        try:
            if action in NEEDS_WORDS:
                if action == AlertAction.EXTEND and (not case.formal_appeal or case.extended):
                    raise cases.CaseActionRefused("cases.cannot_extend")
                if case.status not in alerts.OPEN_STATUSES:
                    raise cases.CaseActionRefused("cases.already_closed")
                await state.set_state(NEEDS_WORDS[action])
                await state.update_data(case_id=case.id, card_chat=query.message.chat.id,
                                        card_message=query.message.message_id)
                await query.answer()
                await query.message.answer(l10n(f"alert.prompt_{action.value}", reference=view.review.reference,
                                                name=html.escape(query.from_user.full_name)))
                return
            if action == AlertAction.TAKE:
                view = await cases.take(repo, case.id, query.from_user.id, now)
            else:
                view = await cases.forward(repo, case.id, query.from_user.id, now, settings)
        except cases.CaseActionRefused as refusal:
            await query.answer(l10n(refusal.key), show_alert=True)
            return
        if action == AlertAction.FORWARD and not await clinics.recipients(repo, view.review.clinic_id):
            # Marked, but the polyclinic has no linked chat or staff here: the office must reach it another way.
            await query.answer(l10n("clinic_cases.forward_nowhere"), show_alert=True)
        else:
            await query.answer(l10n(f"alert.done_{action.value}"))
        await refresh_card(bot, view, settings, query.message.chat.id, query.message.message_id)

    @router.message(in_chat, Command("cancel"))
    async def cancel(message: Message, state: FSMContext) -> None:
        await state.clear()
        await message.reply(l10n("alert.cancelled"))

    @router.message(in_chat, StateFilter(ProsecutorInput), HasText())
    async def words_given(message: Message, state: FSMContext, bot: Bot, repo: Repositories, now: datetime) -> None:
        data = await state.get_data()
        current = await state.get_state()
        await state.clear()
        if not await access.allowed(bot, repo, message.from_user.id):
            await message.reply(l10n("alert.refused"))
            return
        words = message.text.strip()
        try:
            if current == ProsecutorInput.ask.state:
                view = await cases.ask(repo, data["case_id"], message.from_user.id, words, now)
            elif current == ProsecutorInput.close.state:
                view = await cases.close(repo, data["case_id"], message.from_user.id, words, now)
            elif current == ProsecutorInput.reject.state:
                view = await cases.reject(repo, data["case_id"], message.from_user.id, words, now)
            else:
                view = await cases.extend(repo, data["case_id"], message.from_user.id, words, now, settings)
        except cases.CaseActionRefused as refusal:
            await message.reply(l10n(refusal.key))
            return
        await message.reply(l10n(f"alert.done_{current.split(':')[-1]}", reference=view.review.reference))
        await refresh_card(bot, view, settings, data["card_chat"], data["card_message"])

    @router.message(in_chat, F.reply_to_message, HasText())
    async def answer_by_reply(message: Message, bot: Bot, repo: Repositories, now: datetime) -> None:
        card = await repo.outbox.by_sent_message(message.chat.id, message.reply_to_message.message_id)
        if card is None or card.kind != "alert" or card.review_id is None:
            return  # an ordinary conversation in the chat
        if not await access.allowed(bot, repo, message.from_user.id):
            await message.reply(l10n("alert.refused"))
            return
        case = await repo.reviews.case_of(card.review_id)
        try:
            view = await cases.close(repo, case.id, message.from_user.id, message.text.strip(), now)
        except cases.CaseActionRefused as refusal:
            await message.reply(l10n(refusal.key))
            return
        await message.reply(l10n("alert.done_close", reference=view.review.reference))
        await refresh_card(bot, view, settings, message.chat.id, card.sent_message_id)

    @router.message(in_chat, Command("cases"))
    async def list_cases(message: Message, bot: Bot, repo: Repositories) -> None:
        if not await access.allowed(bot, repo, message.from_user.id):
            return
        await message.answer(await cases.list_text(repo, settings))

    @router.message(in_chat, Command("case"))
    async def one_case(message: Message, command: CommandObject, bot: Bot, repo: Repositories) -> None:
        if not await access.allowed(bot, repo, message.from_user.id):
            return
        if not command.args:
            await message.answer(l10n("cases.usage"))
            return
        text = await cases.one_text(repo, settings, command.args)
        review = await repo.reviews.by_reference(command.args.strip().upper())
        case = await repo.reviews.case_of(review.id) if review else None
        markup = urgency_decisions.keyboard(case.id, l10n) if case else None
        await message.answer(text, reply_markup=markup)

    return router
