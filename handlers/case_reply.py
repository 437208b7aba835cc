"""The resident's side of a case: answering the office's question, adding information or withdrawing from My
reviews, and closing the loop on an answer ("That settles it" / "I disagree", which reopens the case)."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

from aiogram import Bot, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import BaseFilter, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.callbacks import (
    CaseReplyDone,
    CaseReplyStart,
    LateReason,
    MyAppeal,
    MyAppealAction,
    ResidentVerdict,
    VerdictAction,
)
from bot.cases import resident
from bot.cases.cards import OPEN_STATUSES
from bot.config import Settings
from bot.filters import HasEvidence, HasText, LeftoverKeyboardButton, PrivateChat
from bot.l10n import L10n
from bot.states import SIDE_CONVERSATIONS, AppealAddition, CaseReply, CaseVerdict, ReviewForm
from bot.unit_of_work import AfterCommit
from handlers.feedback.files import receive
from handlers.feedback.held import held_or_offered
from handlers.long_texts import refused_length
from handlers.side_conversation import end_side_conversation, offer_unfinished, question_replied_to, set_aside, went_on
from handlers.start import leave_side_conversation
from storage.models import CaseStatus, ReviewStatus, User
from storage.repositories import Repositories

REASON_LIMIT = 3000


def done_keyboard(l10n: L10n, case_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
        text=l10n("reply.done"), callback_data=CaseReplyDone(case_id=case_id).pack())]])


def late_reason_keyboard(l10n: L10n, case_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text=l10n("case_resident.late_reason_yes"),
                              callback_data=LateReason(case_id=case_id, send=True).pack())],
        [InlineKeyboardButton(text=l10n("case_resident.late_reason_no"),
                              callback_data=LateReason(case_id=case_id, send=False).pack())]])


async def reference_of(repo: Repositories, case_id: int) -> str:
    case = await repo.reviews.case(case_id)
    review = await repo.reviews.get(case.review_id) if case else None
    return review.reference if review else ""


async def come_back(state: FSMContext, message: Message, l10n: L10n, repo: Repositories, now: datetime,
                    after_commit: AfterCommit) -> None:
    """End the side conversation. A review set aside for it is the current one again, and the resident is offered
    to continue it (or start over), as after any other detour: after the commit, below the side conversation's last
    word, which is sent then too."""
    if await end_side_conversation(state, repo, now):
        after_commit(partial(offer_unfinished, message, l10n), repeatable=True)


async def add_to_case(message: Message, state: FSMContext, case_id: int, repo: Repositories, user: User | None,
                      l10n: L10n, now: datetime, bot: Bot, after_commit: AfterCommit, settings: Settings, *,
                      asked: bool = True) -> None:
    """A text or a file for the case: the office's question answered (`asked`), or information added from My
    reviews. The receipt goes out once it is stored; a case no longer waiting for it ends the side conversation."""
    media = None
    if message.text is None:
        evidence = await receive(bot, message, settings, l10n)
        if evidence is None:
            return
        media = [evidence.as_dict()]
    # A caption is the file's own words: they go with it, not also as a text of their own (read twice).
    added = await resident.resident_added(repo, case_id, user.id, now, settings, text=message.text, media=media,
                                          asked=asked)
    if added is None:
        after_commit(partial(message.answer, l10n("reply.not_waiting" if asked else "case_resident.not_open")))
        await come_back(state, message, l10n, repo, now, after_commit)
        return
    await went_on(state, now)
    if asked:
        # However the conversation ends now, the office gets the case back, unless it asks again meanwhile: the
        # answer is to this question, and the next one needs its own.
        await state.update_data(answered=await resident.open_question(repo, case_id))
    after_commit(partial(message.answer, l10n("reply.received"), reply_markup=done_keyboard(l10n, case_id)))


async def say_finished(query: CallbackQuery, case_id: int, state: FSMContext, repo: Repositories, l10n: L10n,
                       now: datetime, after_commit: AfterCommit) -> None:
    """Done under a side conversation: thanked with the appeal's reference once stored, and back to a review."""
    case = await repo.reviews.case(case_id)
    review = await repo.reviews.get(case.review_id) if case else None
    await query.answer()
    after_commit(partial(query.message.answer, l10n("reply.finished", reference=review.reference if review else "")))
    await come_back(state, query.message, l10n, repo, now, after_commit)


class RepliesToCaseQuestion(BaseFilter):
    """A message sent with Telegram's Reply on the office's question (the message with the ✍️ Reply button): the
    answer to it while the case waits for one, whatever the conversation is at. Gives the case's id."""

    async def __call__(self, message: Message) -> bool | dict[str, Any]:
        case_id = question_replied_to(message)
        return {"question_case_id": case_id} if case_id is not None else False


async def waiting_case(repo: Repositories, case_id: int, user: User | None) -> bool:
    """The case waits for this resident's answer."""
    return user is not None and await resident.awaits_answer(repo, case_id, user.id)


def make_question_reply_router(settings: Settings) -> Router:
    """Tried before the review conversation's routers: a Reply to the office's question answers it even in the
    middle of writing a review (which is set aside meanwhile) or at the menu (where it would start a review)."""
    router = Router(name="case_question_reply")
    router.message.filter(PrivateChat(), RepliesToCaseQuestion())

    @router.message(HasText())
    @router.message(HasEvidence())
    async def replied_to_question(message: Message, question_case_id: int, state: FSMContext, repo: Repositories,
                                  user: User | None, l10n: L10n, now: datetime, bot: Bot,
                                  after_commit: AfterCommit) -> None:
        if not await waiting_case(repo, question_case_id, user):
            if (await state.get_state() or "").startswith(ReviewForm.__name__):
                raise SkipHandler  # in the middle of a review: the text is for it, not lost
            # At the menu, or answering another question: said, and never taken for an answer about another case.
            await message.answer(l10n("reply.not_waiting"))
            return
        await set_aside(state, CaseReply.adding, {"case_id": question_case_id}, repo, now)
        await add_to_case(message, state, question_case_id, repo, user, l10n, now, bot, after_commit, settings)

    return router


def make_router(settings: Settings) -> Router:
    router = Router(name="case_reply")
    router.message.filter(PrivateChat())
    router.callback_query.filter(PrivateChat())

    @router.message(StateFilter(*SIDE_CONVERSATIONS), LeftoverKeyboardButton())
    async def leftover_keyboard(message: Message, state: FSMContext, l10n: L10n, repo: Repositories,
                                now: datetime) -> None:
        # A review's phone keyboard stays below a side conversation begun from its preview: its Back and Cancel
        # end the side conversation, and are never sent to the office as an answer.
        await leave_side_conversation(state, message, l10n, repo, now)

    @router.callback_query(CaseReplyStart.filter())
    async def start(query: CallbackQuery, callback_data: CaseReplyStart, state: FSMContext, repo: Repositories,
                    user: User | None, l10n: L10n, now: datetime) -> None:
        if not await waiting_case(repo, callback_data.case_id, user):
            await query.answer(l10n("reply.not_waiting"), show_alert=True)
            return
        await query.answer()
        await set_aside(state, CaseReply.adding, {"case_id": callback_data.case_id}, repo, now)
        await query.message.answer(l10n("reply.prompt"), reply_markup=done_keyboard(l10n, callback_data.case_id))

    @router.message(StateFilter(CaseReply.adding), HasText())
    @router.message(StateFilter(CaseReply.adding), HasEvidence())
    async def answered(message: Message, state: FSMContext, repo: Repositories, user: User | None, l10n: L10n,
                       now: datetime, bot: Bot, after_commit: AfterCommit) -> None:
        case_id = (await state.get_data())["case_id"]
        await add_to_case(message, state, case_id, repo, user, l10n, now, bot, after_commit, settings)

    @router.callback_query(CaseReplyDone.filter(), StateFilter(CaseReply.adding))
    async def done(query: CallbackQuery, callback_data: CaseReplyDone, state: FSMContext, repo: Repositories,
                   l10n: L10n, now: datetime, after_commit: AfterCommit) -> None:
        data = await state.get_data()
        if data.get("case_id") != callback_data.case_id:
            # Done under an answer about another case, pressed in this one: it neither ends this conversation nor
            # gives that case back to the office unanswered.
            await query.answer(l10n("errors.stale_button"), show_alert=True)
            return
        if not await resident.answer_stands(repo, callback_data.case_id, data.get("answered")):
            # Nothing was sent: the office still waits for the answer, and the resident is told so (not thanked for
            # information that never came); the question's Reply button still works.
            await query.answer()
            after_commit(partial(query.message.answer, l10n("reply.nothing_sent")))
            await come_back(state, query.message, l10n, repo, now, after_commit)
            return
        await resident.resident_finished(repo, callback_data.case_id, now)
        await say_finished(query, callback_data.case_id, state, repo, l10n, now, after_commit)

    # --- Closing the loop on an answer ----------------------------------------------------------------------

    async def drop_buttons(message) -> None:
        try:
            await message.edit_reply_markup(reply_markup=None)
        except TelegramBadRequest:  # an old message may no longer be editable; the fact is stored either way
            pass

    @router.callback_query(ResidentVerdict.filter())
    async def verdict(query: CallbackQuery, callback_data: ResidentVerdict, state: FSMContext, repo: Repositories,
                      user: User | None, l10n: L10n, now: datetime, after_commit: AfterCommit) -> None:
        if user is None or await resident.verdict_applies(repo, callback_data.case_id, user.id,
                                                        callback_data.answer) is None:
            # "I disagree" again under an answer already disagreed with: said what happened, not "an earlier answer".
            view = user and await resident.disputed(repo, callback_data.case_id, user.id, callback_data.answer)
            await query.answer(l10n("case_resident.disagreed_already", reference=view.review.reference) if view
                               else l10n("case_resident.verdict_stale"), show_alert=True)
            return
        data = await state.get_data()
        if (callback_data.action == VerdictAction.DISAGREE and await state.get_state() == CaseVerdict.disagreeing.state
                and data.get("case_id") == callback_data.case_id and data.get("answer") == callback_data.answer):
            # A double tap, or the button pressed again while the reason is awaited: the same conversation goes on,
            # from now (the next text is the reason), with no second prompt to wonder about.
            await went_on(state, now)
            await query.answer(l10n("case_resident.disagree_already_asked",
                                    reference=await reference_of(repo, callback_data.case_id)), show_alert=True)
            return
        if callback_data.action == VerdictAction.SETTLED:
            view = await resident.settled(repo, callback_data.case_id, user.id, callback_data.answer, now)
            await query.answer()
            after_commit(partial(drop_buttons, query.message))
            after_commit(partial(query.message.answer, l10n("case_resident.settled",
                                                            reference=view.review.reference)))
            return
        await set_aside(state, CaseVerdict.disagreeing, {"case_id": callback_data.case_id,
                                                         "answer": callback_data.answer}, repo, now)
        await query.answer()
        await query.message.answer(l10n("case_resident.disagree_prompt"))

    @router.message(StateFilter(CaseVerdict.disagreeing), HasText())
    async def disagreement(message: Message, state: FSMContext, repo: Repositories, user: User | None, l10n: L10n,
                           now: datetime, after_commit: AfterCommit, reason_after_idle: bool = False) -> None:
        reason = message.text.strip()
        # A long paste arrives in parts: the rest of one refused is refused with it, never reopening the case with
        # a fragment that begins mid-word as the whole reason.
        if await refused_length(state, message, REASON_LIMIT) is not None:
            await message.answer(l10n("case_resident.too_long", limit=REASON_LIMIT))
            return
        data = await state.get_data()
        if reason_after_idle or data.get("late_reason"):
            # A day after "I disagree" (side_conversation.REASON_AFTER_IDLE) the text may be the reason, or a new
            # matter: asked, and kept either way.
            # More text before the answer joins it: the question is about all she wrote since.
            late = "\n\n".join(part for part in (data.get("late_reason"), reason) if part)
            if len(late) > REASON_LIMIT:
                await message.answer(l10n("case_resident.too_long", limit=REASON_LIMIT))
                return
            await state.update_data(late_reason=late)
            await message.answer(l10n("case_resident.late_reason_question",
                                      reference=await reference_of(repo, data["case_id"])),
                                 reply_markup=late_reason_keyboard(l10n, data["case_id"]))
            return
        view = await resident.reopen(repo, data["case_id"], user.id, data["answer"], reason, now, settings)
        if view is None:
            await message.answer(l10n("case_resident.verdict_stale"))
        else:
            after_commit(partial(message.answer, resident.reopened_text(view, l10n)))
        await come_back(state, message, l10n, repo, now, after_commit)

    @router.callback_query(LateReason.filter())
    async def late_reason_decided(query: CallbackQuery, callback_data: LateReason, state: FSMContext,
                                  repo: Repositories, user: User | None, l10n: L10n, now: datetime,
                                  after_commit: AfterCommit) -> None:
        data = await state.get_data()
        if (await state.get_state() != CaseVerdict.disagreeing.state or data.get("case_id") != callback_data.case_id
                or not data.get("late_reason")):
            await query.answer(l10n("errors.stale_button"), show_alert=True)
            return
        await query.answer()
        after_commit(partial(drop_buttons, query.message))
        if callback_data.send:
            view = await resident.reopen(repo, data["case_id"], user.id, data["answer"], data["late_reason"], now,
                                         settings)
            after_commit(partial(query.message.answer, l10n("case_resident.verdict_stale") if view is None else
                                 resident.reopened_text(view, l10n)))
            await come_back(state, query.message, l10n, repo, now, after_commit)
            return
        # Something else: the conversation ends as a day idle ends it, and the text is what it is now.
        await end_side_conversation(state, repo, now)
        after_commit(await held_or_offered(state, query.message, l10n, data["late_reason"], now.timestamp()))

    @router.message(StateFilter(CaseVerdict.disagreeing))
    async def reason_not_text(message: Message, l10n: L10n) -> None:
        if message.text is not None:
            raise SkipHandler  # a command: its own handler, or the generic hint
        # A voice note, a photo or a sticker for the reason: it is asked for in words (the office reads it on the
        # case's card), and the buttons the generic hint would point to are not there.
        await message.answer(l10n("case_resident.reason_in_words"))

    # --- From My reviews: add information, withdraw -----------------------------------------------------

    @router.callback_query(MyAppeal.filter())
    async def my_appeal(query: CallbackQuery, callback_data: MyAppeal, state: FSMContext, repo: Repositories,
                        user: User | None, l10n: L10n, now: datetime, after_commit: AfterCommit) -> None:
        review = await repo.reviews.of_user(callback_data.review_id, user.id) if user else None
        if review is None:  # someone else's review, or a forged id: nothing said of it
            await query.answer(l10n("errors.stale_button"), show_alert=True)
            return
        case = await repo.reviews.case_of(review.id)
        if case is None:
            # A gratitude is no appeal: its card offers neither button, so this one was made up; it must not
            # withdraw the review from the ratings.
            await query.answer(l10n("case_resident.not_an_appeal"), show_alert=True)
            return
        if review.status == ReviewStatus.WITHDRAWN or case.status not in OPEN_STATUSES:
            await query.answer(l10n("case_resident.not_open"), show_alert=True)
            return
        if callback_data.action == MyAppealAction.ADD:
            # While the office waits for the resident's answer, what they add from My appeals is that answer: the
            # case goes back to the office with Done, as from the question's own button.
            waiting = case.status == CaseStatus.WAITING_RESIDENT
            await set_aside(state, CaseReply.adding if waiting else AppealAddition.adding, {"case_id": case.id},
                            repo, now)
            await query.answer()
            prompt = l10n("reply.prompt") if waiting else l10n("case_resident.add_prompt", reference=review.reference)
            await query.message.answer(prompt, reply_markup=done_keyboard(l10n, case.id))
            return
        if callback_data.action == MyAppealAction.WITHDRAW:
            await query.answer()
            markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
                text=l10n("case_resident.withdraw_yes"),
                callback_data=MyAppeal(review_id=review.id, action=MyAppealAction.WITHDRAW_CONFIRM).pack())]])
            await query.message.answer(l10n("case_resident.withdraw_question", reference=review.reference),
                                       reply_markup=markup)
            return
        await resident.withdraw(repo, review, user, now, settings)
        await query.answer()
        after_commit(partial(drop_buttons, query.message))
        after_commit(partial(query.message.answer, l10n("case_resident.withdrawn", reference=review.reference)))

    @router.message(StateFilter(AppealAddition.adding), HasText())
    @router.message(StateFilter(AppealAddition.adding), HasEvidence())
    async def added_to_appeal(message: Message, state: FSMContext, repo: Repositories, user: User | None,
                              l10n: L10n, now: datetime, bot: Bot, after_commit: AfterCommit) -> None:
        case_id = (await state.get_data())["case_id"]
        await add_to_case(message, state, case_id, repo, user, l10n, now, bot, after_commit, settings, asked=False)

    @router.callback_query(CaseReplyDone.filter(), StateFilter(AppealAddition.adding))
    async def addition_done(query: CallbackQuery, callback_data: CaseReplyDone, state: FSMContext,
                            repo: Repositories, l10n: L10n, now: datetime, after_commit: AfterCommit) -> None:
        if (await state.get_data()).get("case_id") != callback_data.case_id:
            await query.answer(l10n("errors.stale_button"), show_alert=True)
            return
        await say_finished(query, callback_data.case_id, state, repo, l10n, now, after_commit)

    return router
