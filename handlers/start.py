"""Onboarding and navigation: /start, language, consent, main menu, /help, /language, /cancel."""

from __future__ import annotations

from datetime import datetime

from aiogram import F, Router
from aiogram.filters import Command, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.callbacks import ConsentAction, ConsentChoice, LanguageChoice, MenuAction, MenuChoice
from bot.config import Settings
from bot.filters import PrivateChat
from bot.keyboards import make_consent_keyboard, make_language_keyboard, make_main_menu
from bot.l10n import LANGUAGES, L10n, Translator
from bot.services import people
from storage.models import User
from storage.repositories import Repositories


async def show_language_prompt(message: Message, l10n: L10n, preselected: str) -> None:
    await message.answer(l10n("language.prompt"), reply_markup=make_language_keyboard(l10n, preselected))


async def show_consent(message: Message, l10n: L10n) -> None:
    await message.answer(
        l10n("consent.text", version=people.CONSENT_VERSION),
        reply_markup=make_consent_keyboard(l10n, people.CONSENT_VERSION),
    )


async def show_menu(message: Message, l10n: L10n) -> None:
    await message.answer(l10n("menu.title"), reply_markup=make_main_menu(l10n))


def make_router(settings: Settings) -> Router:
    router = Router(name="start")
    router.message.filter(PrivateChat())
    router.callback_query.filter(PrivateChat())

    @router.message(CommandStart())
    async def start(message: Message, state: FSMContext, user: User | None, l10n: L10n,
                    translator: Translator) -> None:
        await state.clear()
        if user is None or user.language is None:
            await show_language_prompt(message, l10n, translator.pick(message.from_user.language_code))
        elif people.needs_consent(user):
            await show_consent(message, l10n)
        else:
            await show_menu(message, l10n)

    @router.message(Command("language"))
    async def language_command(message: Message, l10n: L10n) -> None:
        await show_language_prompt(message, l10n, l10n.language)

    @router.message(Command("help"))
    async def help_command(message: Message, l10n: L10n) -> None:
        await message.answer(l10n("help.text"))

    @router.message(Command("cancel"))
    async def cancel(message: Message, state: FSMContext, l10n: L10n) -> None:
        if await state.get_state() is None:
            await message.answer(l10n("cancel.nothing"))
            return
        await state.clear()
        await message.answer(l10n("cancel.done"))
        await show_menu(message, l10n)

    @router.callback_query(LanguageChoice.filter())
    async def language_chosen(query: CallbackQuery, callback_data: LanguageChoice, repo: Repositories,
                              now: datetime, l10n: L10n, translator: Translator) -> None:
        if callback_data.code not in LANGUAGES:
            await query.answer(l10n("errors.stale_button"))
            return
        user = await people.choose_language(repo, query.from_user.id, callback_data.code, now,
                                            query.from_user.first_name)
        l10n = translator[user.language]
        await query.answer(l10n("language.chosen"))
        await query.message.edit_text(l10n("language.chosen"))
        if people.needs_consent(user):
            await show_consent(query.message, l10n)
        else:
            await show_menu(query.message, l10n)

    @router.callback_query(ConsentChoice.filter())
    async def consent_chosen(query: CallbackQuery, callback_data: ConsentChoice, repo: Repositories,
                             now: datetime, l10n: L10n) -> None:
        user = await repo.users.get_or_create(query.from_user.id, now, query.from_user.first_name)
        if callback_data.version != people.CONSENT_VERSION:
            # The text they read is not the one in force: show the current one instead of recording it.
            await query.answer(l10n("errors.stale_button"))
            await show_consent(query.message, l10n)
            return
        if callback_data.action == ConsentAction.ACCEPT:
            await people.give_consent(repo, user, callback_data.version, now)
            outcome = l10n("consent.accepted")
        else:
            await people.decline_consent(repo, user, now)
            outcome = l10n("consent.declined")
        await query.answer()
        await query.message.edit_reply_markup(reply_markup=None)
        await query.message.answer(outcome)
        await show_menu(query.message, l10n)

    @router.callback_query(MenuChoice.filter(F.action.in_({MenuAction.RIGHTS, MenuAction.LANGUAGE})))
    async def menu_chosen(query: CallbackQuery, callback_data: MenuChoice, l10n: L10n) -> None:
        await query.answer()
        if callback_data.action == MenuAction.RIGHTS:
            await query.message.answer(l10n("rights.text"))
        else:
            await show_language_prompt(query.message, l10n, l10n.language)

    return router
