"""Discussion in the office's chat: a reply to a case's message is never an answer to the resident; its author may
keep it as the case's internal note."""

from __future__ import annotations

import html
from datetime import datetime
from functools import partial

from aiogram import Bot, Router
from aiogram.filters import Filter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.callbacks import CaseNoteV1
from bot.cases import actions
from bot.filters import HasText
from bot.unit_of_work import AfterCommit
from handlers.prosecutor.chat import CASE_MESSAGE_KINDS, WORDS_LIMIT, OfficeChat
from storage.repositories import Repositories

NOTES_KEPT = 10  # replies offered as notes, per person, that can still be saved


class RepliesToSomething(Filter):
    async def __call__(self, message: Message) -> bool:
        return message.reply_to_message is not None


def register(router: Router, office_chat: OfficeChat) -> None:
    l10n = office_chat.l10n
    allowed, pressed_in_office = office_chat.allowed, office_chat.pressed_in_office

    @router.message(RepliesToSomething(), HasText())
    async def reply_to_card(message: Message, bot: Bot, repo: Repositories, state: FSMContext,
                            now: datetime) -> None:
        card = await repo.outbox.by_sent_message(message.chat.id, message.reply_to_message.message_id)
        if card is None or card.kind not in CASE_MESSAGE_KINDS or card.review_id is None:
            return  # an ordinary conversation in the chat
        if not await allowed(bot, repo, message.from_user, now):
            return  # discussion among others: nothing to offer
        case = await repo.reviews.case_of(card.review_id)
        if case is None:
            return
        notes = dict((await state.get_data()).get("notes") or {})
        notes[str(message.message_id)] = message.text.strip()[:WORDS_LIMIT]
        await state.update_data(notes=dict(list(notes.items())[-NOTES_KEPT:]))
        markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
            text=l10n("case_note.button"), callback_data=CaseNoteV1(case_id=case.id,
                                                                    message_id=message.message_id).pack())]])
        await message.reply(l10n("case_note.offer"), reply_markup=markup)

    @router.callback_query(CaseNoteV1.filter())
    async def save_note(query: CallbackQuery, callback_data: CaseNoteV1, bot: Bot, repo: Repositories,
                        state: FSMContext, now: datetime, after_commit: AfterCommit) -> None:
        if not await pressed_in_office(query, bot, repo, now):
            return
        notes = dict((await state.get_data()).get("notes") or {})
        text = notes.pop(str(callback_data.message_id), None)
        if text is None:  # someone else's reply, or saved already
            await query.answer(l10n("case_note.gone"), show_alert=True)
            return
        try:
            view = await actions.note(repo, callback_data.case_id, query.from_user.id, text, now)
        except actions.CaseActionRefused as refusal:
            await query.answer(l10n(refusal.key, **refusal.values), show_alert=True)
            return
        await state.update_data(notes=notes)
        await query.answer()
        after_commit(partial(query.message.edit_text, l10n("case_note.saved", reference=view.review.reference,
                                                           name=html.escape(query.from_user.full_name))))

