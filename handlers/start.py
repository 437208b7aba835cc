"""Onboarding and navigation: /start, language and consent on one screen, main menu, /help, /language, /cancel."""

from __future__ import annotations

import html
from datetime import datetime
from functools import partial

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.methods import SendMessage
from aiogram.types import CallbackQuery, Message, ReplyKeyboardRemove

from bot.callbacks import ConsentAction, ConsentChoice, LanguageChoice, MenuAction, MenuChoice, OnboardAccept
from bot.config import Settings
from bot.filters import PrivateChat
from bot.keyboards import (
    make_home_keyboard,
    make_language_keyboard,
    make_onboarding_keyboard,
)
from bot.l10n import LANGUAGES, L10n, Translator
from bot.services import people, reviews
from bot.states import TopSearch
from bot.unit_of_work import AfterCommit
from handlers.feedback.entry import begin, has_unfinished
from handlers.feedback.step import Step
from handlers.screens import cancel_question, show_consent, show_menu
from handlers.side_conversation import end_side_conversation, in_side_conversation, offer_unfinished
from storage.models import User
from storage.repositories import Repositories


async def show_language_prompt(message: Message, l10n: L10n, preselected: str) -> None:
    # In all three languages: the person may read none of the others.
    await message.answer(l10n("language.prompt_all"), reply_markup=make_language_keyboard(l10n, preselected))


def onboarding_text(l10n: L10n) -> str:
    return l10n("language.prompt_all") + "\n\n" + l10n("consent.text", version=people.CONSENT_VERSION)


def show_onboarding(message: Message, l10n: L10n) -> SendMessage:
    """A newcomer's one screen: the consent in the language Telegram reports, languages to switch, and Agree.

    This and `show_menu` give the call itself: awaited, it is sent; queued after the commit, it may go as the webhook
    request's answer (bot/unit_of_work.py, `WebhookReply`)."""
    return message.answer(onboarding_text(l10n), reply_markup=make_onboarding_keyboard(l10n, people.CONSENT_VERSION))


def contacts_text(l10n: L10n, settings: Settings) -> str:
    """The operator and the official lines, as configured (contacts.*)."""
    contacts = settings.contacts
    lines = [l10n("contacts.title")]
    if contacts.operator_name or contacts.operator_contact:
        lines.append(l10n("contacts.operator", name=html.escape(contacts.operator_name or "—"),
                          contact=html.escape(contacts.operator_contact or "—")))
    lines += [l10n(f"contacts.line_{line}", phone=html.escape(phone)) for line, phone in contacts.lines.items()
              if l10n.has(f"contacts.line_{line}")]
    return "\n".join(lines) if len(lines) > 1 else ""


async def after_onboarding(message: Message, state: FSMContext, l10n: L10n, repo: Repositories, user: User,
                           now: datetime, settings: Settings) -> None:
    """The menu, or what a deep link followed before onboarding asked for: its purpose is kept."""
    link = (await state.get_data()).get("pending_link")
    if link:
        preset = await reviews.preset_from_link(repo, link)
        if preset is not None:
            await state.set_data({})
            await begin(Step(message, state, repo, l10n, settings, user, now), preset, settings=settings)
            return
        if (gone := reviews.link_gone(link)) is not None:
            await message.answer(l10n(f"{gone}_page.gone"))
    await show_menu(message, l10n)


async def unfinished(state: FSMContext) -> bool:
    return await has_unfinished(state)


async def leave_side_conversation(state: FSMContext, message: Message, l10n: L10n, repo: Repositories,
                                  now: datetime) -> None:
    """/cancel, or a leftover keyboard's Back or Cancel, in a side conversation: it ends (what was sent in it is
    kept), and a review set aside for it is offered back; else the menu."""
    await message.answer(l10n("reply.left"))
    if await end_side_conversation(state, repo, now):
        await offer_unfinished(message, l10n)
    else:
        await show_menu(message, l10n)


def make_router(settings: Settings) -> Router:
    router = Router(name="start")
    router.message.filter(PrivateChat())
    router.callback_query.filter(PrivateChat())

    @router.message(CommandStart())
    async def start(message: Message, state: FSMContext, user: User | None, l10n: L10n,
                    translator: Translator, command: CommandObject, after_commit: AfterCommit) -> None:
        # In the middle of answering the office, the exits router (handlers/side_conversation.py) has already
        # ended that and given back the review it set aside.
        if user is not None and user.language is not None and not people.needs_consent(user) and await unfinished(
                state):
            # Starting again never drops a review in progress without a word.
            await offer_unfinished(message, l10n)
            return
        await state.clear()
        if user is None or user.language is None or people.needs_consent(user):
            if command.args:
                await state.set_data({"pending_link": command.args})
            if user is None or user.language is None:
                l10n = translator[translator.pick(message.from_user.language_code)]
            # After the commit: no Bot API round trip inside the transaction (on SQLite every other update waits
            # for it), a retried update shows its screen once, and by webhook it is the request's answer.
            after_commit(partial(show_onboarding, message, l10n), repeatable=True)
        else:
            after_commit(partial(show_menu, message, l10n), repeatable=True)

    @router.message(Command("language"))
    async def language_command(message: Message, l10n: L10n) -> None:
        await show_language_prompt(message, l10n, l10n.language)

    @router.message(Command("help"))
    async def help_command(message: Message, l10n: L10n) -> None:
        await message.answer(l10n("help.text", contacts=contacts_text(l10n, settings)),
                             reply_markup=make_home_keyboard(l10n))

    @router.message(Command("cancel"))
    async def cancel(message: Message, state: FSMContext, l10n: L10n, repo: Repositories, now: datetime) -> None:
        current = await state.get_state()
        if current is None:
            await message.answer(l10n("cancel.nothing"), reply_markup=ReplyKeyboardRemove())
            return
        if await in_side_conversation(state):
            # Answering the office or disagreeing with its answer: that ends, a review set aside for it comes back.
            await leave_side_conversation(state, message, l10n, repo, now)
            return
        data = await state.get_data()
        draft = data.get("draft") or {}
        if draft.get("text") or draft.get("media") or draft.get("voice"):
            from bot.keyboards import make_discard_keyboard

            # Ten files and a long text are not thrown away by one word: the resident confirms.
            await message.answer(cancel_question(l10n, draft), reply_markup=make_discard_keyboard(l10n))
            return
        await state.clear()
        await message.answer(l10n("cancel.done"), reply_markup=ReplyKeyboardRemove())
        await show_menu(message, l10n)

    @router.callback_query(LanguageChoice.filter())
    async def language_chosen(query: CallbackQuery, callback_data: LanguageChoice, repo: Repositories,
                              state: FSMContext, now: datetime, l10n: L10n, translator: Translator) -> None:
        if callback_data.code not in LANGUAGES:
            await query.answer(l10n("errors.stale_button"))
            return
        user = await people.choose_language(repo, query.from_user.id, callback_data.code, now,
                                            query.from_user.first_name)
        l10n = translator[user.language]
        await query.answer(l10n("language.chosen"))
        if people.needs_consent(user):
            # The same one screen, now in the chosen language (pressing the language shown changes nothing).
            try:
                await query.message.edit_text(onboarding_text(l10n),
                                              reply_markup=make_onboarding_keyboard(l10n, people.CONSENT_VERSION))
            except TelegramBadRequest as error:
                if "not modified" not in str(error):
                    raise
            return
        await query.message.edit_text(l10n("language.chosen"))
        if await unfinished(state):
            await offer_unfinished(query.message, l10n)
        else:
            await show_menu(query.message, l10n)

    @router.callback_query(OnboardAccept.filter())
    async def onboarding_decided(query: CallbackQuery, callback_data: OnboardAccept, repo: Repositories,
                                 state: FSMContext, now: datetime, translator: Translator) -> None:
        l10n = translator[callback_data.language]
        if callback_data.language not in LANGUAGES or callback_data.version != people.CONSENT_VERSION:
            await query.answer(l10n("errors.stale_button"))
            await show_onboarding(query.message, l10n)
            return
        user = await people.choose_language(repo, query.from_user.id, callback_data.language, now,
                                            query.from_user.first_name)
        if callback_data.accept:
            await people.give_consent(repo, user, callback_data.version, now)
        else:
            await people.decline_consent(repo, user, now)
        await query.answer()
        await query.message.edit_reply_markup(reply_markup=None)
        await query.message.answer(l10n("consent.accepted" if callback_data.accept else "consent.declined"))
        if callback_data.accept:
            await after_onboarding(query.message, state, l10n, repo, user, now, settings)
        else:
            await show_menu(query.message, l10n)

    @router.callback_query(ConsentChoice.filter())
    async def consent_chosen(query: CallbackQuery, callback_data: ConsentChoice, repo: Repositories,
                             state: FSMContext, now: datetime, l10n: L10n) -> None:
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
        if callback_data.action == ConsentAction.ACCEPT:
            await after_onboarding(query.message, state, l10n, repo, user, now, settings)
        else:
            await show_menu(query.message, l10n)

    @router.callback_query(MenuChoice.filter(F.action.in_({MenuAction.RIGHTS, MenuAction.LANGUAGE,
                                                           MenuAction.HOME})))
    async def menu_chosen(query: CallbackQuery, callback_data: MenuChoice, l10n: L10n, state: FSMContext) -> None:
        await query.answer()
        if callback_data.action == MenuAction.HOME:
            if await state.get_state() == TopSearch.specialty.state:
                # Back at the menu, words are words again: a story is offered as a review, not searched for as
                # a specialty.
                await state.clear()
            await show_menu(query.message, l10n)
        elif callback_data.action == MenuAction.RIGHTS:
            await query.message.answer(l10n("rights.text", contacts=contacts_text(l10n, settings)),
                                       reply_markup=make_home_keyboard(l10n))
        else:
            await show_language_prompt(query.message, l10n, l10n.language)

    return router
