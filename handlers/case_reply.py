"""The resident answers the prosecutor's office's question: text and files join the case and reach the chat."""

from __future__ import annotations

from datetime import datetime

from aiogram import Bot, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.callbacks import CaseReplyDone, CaseReplyStart
from bot.config import Settings
from bot.filters import HasEvidence, HasText, PrivateChat
from bot.l10n import L10n
from bot.services import cases
from bot.states import CaseReply
from handlers.feedback.files import receive
from storage.models import CaseStatus, User
from storage.repositories import Repositories


def done_keyboard(l10n: L10n, case_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
        text=l10n("reply.done"), callback_data=CaseReplyDone(case_id=case_id).pack())]])


def make_router(settings: Settings) -> Router:
    router = Router(name="case_reply")
    router.message.filter(PrivateChat())
    router.callback_query.filter(PrivateChat())

    async def waiting_case(repo: Repositories, case_id: int, user: User | None):
        case = await repo.reviews.case(case_id)
        if case is None or user is None or case.status != CaseStatus.WAITING_RESIDENT:
            return None
        review = await repo.reviews.get(case.review_id)
        return case if review.user_id == user.id else None

    @router.callback_query(CaseReplyStart.filter())
    async def start(query: CallbackQuery, callback_data: CaseReplyStart, state: FSMContext, repo: Repositories,
                    user: User | None, l10n: L10n) -> None:
        if await waiting_case(repo, callback_data.case_id, user) is None:
            await query.answer(l10n("reply.not_waiting"), show_alert=True)
            return
        await query.answer()
        await state.set_state(CaseReply.adding)
        await state.set_data({"case_id": callback_data.case_id})
        await query.message.answer(l10n("reply.prompt"), reply_markup=done_keyboard(l10n, callback_data.case_id))

    @router.message(StateFilter(CaseReply.adding), HasText())
    async def text_added(message: Message, state: FSMContext, repo: Repositories, user: User | None,
                         l10n: L10n, now: datetime) -> None:
        case_id = (await state.get_data())["case_id"]
        if await cases.resident_added(repo, case_id, user.id, now, settings, text=message.text) is None:
            await state.clear()
            await message.answer(l10n("reply.not_waiting"))
            return
        await message.answer(l10n("reply.received"), reply_markup=done_keyboard(l10n, case_id))

    @router.message(StateFilter(CaseReply.adding), HasEvidence())
    async def file_added(message: Message, state: FSMContext, repo: Repositories, user: User | None,
                         l10n: L10n, now: datetime, bot: Bot) -> None:
        case_id = (await state.get_data())["case_id"]
        evidence = await receive(bot, message, settings, l10n)
        if evidence is None:
            return
        added = await cases.resident_added(repo, case_id, user.id, now, settings, text=message.caption,
                                           media=[evidence.as_dict()])
        if added is None:
            await state.clear()
            await message.answer(l10n("reply.not_waiting"))
            return
        await message.answer(l10n("reply.received"), reply_markup=done_keyboard(l10n, case_id))

    @router.callback_query(CaseReplyDone.filter(), StateFilter(CaseReply.adding))
    async def done(query: CallbackQuery, callback_data: CaseReplyDone, state: FSMContext, repo: Repositories,
                   l10n: L10n, now: datetime) -> None:
        await state.clear()
        await cases.resident_finished(repo, callback_data.case_id, now)
        case = await repo.reviews.case(callback_data.case_id)
        review = await repo.reviews.get(case.review_id) if case else None
        await query.answer()
        await query.message.answer(l10n("reply.finished", reference=review.reference if review else ""))

    return router
