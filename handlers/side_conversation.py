"""The resident's side conversations about a case of theirs: answering the office's question, adding information
to an appeal, disagreeing with an answer.

They begin without losing a review being written, which is set aside beside them, and however they end (Done,
/cancel, a leftover keyboard's Back, or another start: /start, /review, the menu) the review is the current one
again, and an answer to the office that was begun counts as given."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from aiogram import BaseMiddleware, F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import Filter, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot import keyboards
from bot.callbacks import CaseReplyStart, MenuAction, MenuChoice, buttons_under
from bot.cases import resident
from bot.filters import PrivateChat
from bot.l10n import L10n
from bot.states import SIDE_CONVERSATIONS, CaseReply, CaseVerdict, ReviewForm
from storage.repositories import Repositories

_SIDE_STATES = frozenset(side.state for side in SIDE_CONVERSATIONS)
# A side conversation nobody wrote in for this long is over: the next text is not an answer to the office but what
# the resident writes now, a thank-you ten days later, say. (A text after "I disagree" is asked about instead: it may
# be the reason, thought over for a day, or not.)
IDLE_ENDS_AFTER = timedelta(hours=24)
# Set in the handler's data when the idle rule gave a review set aside back: the message is not for its step (a
# day-old question), and is held for "continue or start over" (handlers/feedback/held.py).
REVIEW_BACK_AFTER_IDLE = "review_back_after_idle"
# Set when a text comes a day after "I disagree" while the answer can still be disagreed with: the conversation goes
# on, and the resident is asked whether the text is the reason (handlers/case_reply.py), never losing it.
REASON_AFTER_IDLE = "reason_after_idle"


async def set_aside(state: FSMContext, side_state: Any, data: dict[str, Any], repo: Repositories,
                    now: datetime) -> None:
    """Begin a side conversation; a review being written is kept beside it (its step and draft). The same one
    begun again (Reply pressed twice on one question, or under the case's next question) goes on as it was, an
    answer given in it being to the question open when it was sent (`answered` holds its number); another begun
    while one goes ends that one as every other way out does: an answer to the office's open question gives the
    case back to the office (else it waited for the resident for good, who had answered)."""
    current, kept = await state.get_state(), await state.get_data()
    if current == side_state.state and kept.get("case_id") == data.get("case_id"):
        await state.set_data({**kept, **data, "last_at": now.timestamp()})
        return
    if current == CaseReply.adding.state:
        await resident.finish_if_answered(repo, kept["case_id"], kept.get("answered"), now)
    aside = kept.get("aside")  # a side conversation begun from another keeps the review kept by the first
    if aside is None and (current or "").startswith(ReviewForm.__name__) and kept.get("draft"):
        aside = {"state": current, "data": kept}
    await state.set_state(side_state)
    data = {**data, "last_at": now.timestamp()}
    await state.set_data({**data, "aside": aside} if aside else data)


async def went_on(state: FSMContext, now: datetime) -> None:
    """The resident wrote in the side conversation: it is idle from now."""
    await state.update_data(last_at=now.timestamp())


def question_replied_to(message: Message) -> int | None:
    """The case whose question from the office (the message with the ✍️ Reply button) the message quotes with
    Telegram's own Reply, if it does."""
    replied = message.reply_to_message
    if replied is None or replied.reply_markup is None or replied.from_user is None or not replied.from_user.is_bot:
        return None
    questions = buttons_under(replied, CaseReplyStart)
    return questions[0].case_id if questions else None


class EndIdleSideConversation(BaseMiddleware):
    """On every message: a side conversation idle for `IDLE_ENDS_AFTER` ends before the message is routed (an
    answer given goes back to the office, a review set aside is the current one again), so the message is handled
    as what it is now. Registered on the dispatcher's messages, after the update's transaction has read the state:
    `raw_state` is read again for every router's StateFilter.

    A message quoting the office's question the conversation answers, while the case still waits for it, says what
    it is: the answer, however late (a name remembered the next evening), so the conversation goes on. A review
    given back is marked (`REVIEW_BACK_AFTER_IDLE`): the message is held and the resident asked about it. A text
    a day after "I disagree" goes on too, marked (`REASON_AFTER_IDLE`): the resident is asked whether it is the
    reason."""

    async def __call__(self, handler: Callable[[Any, dict[str, Any]], Awaitable[Any]], event: Message,
                       data: dict[str, Any]) -> Any:
        state: FSMContext | None = data.get("state")
        now: datetime | None = data.get("now")
        if state is not None and now is not None and data.get("raw_state") in _SIDE_STATES:
            kept = await state.get_data()
            last_at = kept.get("last_at")
            # (one begun before conversations kept the time has none: left to end as before)
            if (last_at is not None and now.timestamp() - last_at > IDLE_ENDS_AFTER.total_seconds()
                    and not await self._answers_its_question(event, data, kept)):
                if await self._may_be_the_reason(event, data, kept):
                    data[REASON_AFTER_IDLE] = True
                else:
                    data[REVIEW_BACK_AFTER_IDLE] = await end_side_conversation(state, data["repo"], now)
                    data["raw_state"] = await state.get_state()
        return await handler(event, data)

    @staticmethod
    async def _may_be_the_reason(message: Message, data: dict[str, Any], kept: dict[str, Any]) -> bool:
        """A text after "I disagree" on an answer still standing: it may be the reason, typed the next day."""
        user = data.get("user")
        text = message.text or ""
        return (data.get("raw_state") == CaseVerdict.disagreeing.state and bool(text) and not text.startswith("/")
                and user is not None and "answer" in kept
                and await resident.verdict_applies(data["repo"], kept["case_id"], user.id, kept["answer"])
                is not None)

    @staticmethod
    async def _answers_its_question(message: Message, data: dict[str, Any], kept: dict[str, Any]) -> bool:
        user = data.get("user")
        case_id = question_replied_to(message)
        return (data.get("raw_state") == CaseReply.adding.state and case_id is not None
                and case_id == kept.get("case_id") and user is not None
                and await resident.awaits_answer(data["repo"], case_id, user.id))


async def in_side_conversation(state: FSMContext) -> bool:
    return await state.get_state() in _SIDE_STATES


async def end_side_conversation(state: FSMContext, repo: Repositories, now: datetime) -> bool:
    """End the side conversation the resident is in, if any. An answer to the office's question that was begun
    goes back to the office as after Done (else its list shows the case waiting for the resident, who thinks they
    answered). True when a review set aside for it is the current one again."""
    if not await in_side_conversation(state):
        return False
    current, data = await state.get_state(), await state.get_data()
    if current == CaseReply.adding.state:
        await resident.finish_if_answered(repo, data["case_id"], data.get("answered"), now)
    await state.clear()
    aside = data.get("aside")
    if not aside:
        return False
    await state.set_state(aside["state"])
    await state.set_data(aside["data"])
    return True


async def offer_unfinished(message: Message, l10n: L10n, *, holding: str | None = None) -> None:
    """Continue the unfinished review or start over; `holding`: with what the resident just sent, which either
    choice keeps, named as what it is ("text", or "files" when there are no words at all)."""
    await message.answer(l10n(f"unfinished.prompt_with_{holding}" if holding else "unfinished.prompt"),
                         reply_markup=keyboards.make_unfinished_keyboard(l10n))


# Commands that only show something (and /cancel, which ends a side conversation itself) leave it going: an answer
# half-written to the office is not handed back for a look at the help.
_STAYING = ("/cancel", "/help")


class _Command(Filter):
    async def __call__(self, message: Message) -> bool:
        text = message.text or ""
        return text.startswith("/") and text.split(maxsplit=1)[0].split("@")[0] not in _STAYING


def make_exits_router() -> Router:
    """Tried before every other private router: a command (/top, /language, /my…) or a menu button in the middle
    of a side conversation ends it, said so, before doing what was asked; else what is typed next would still go
    to the office as an answer, or reopen a case as the reason for disagreeing. /cancel ends it by itself."""
    router = Router(name="side_conversation_exits")
    router.message.filter(PrivateChat(), StateFilter(*SIDE_CONVERSATIONS))
    router.callback_query.filter(PrivateChat(), StateFilter(*SIDE_CONVERSATIONS))

    @router.message(_Command())
    async def command(message: Message, state: FSMContext, l10n: L10n, repo: Repositories, now: datetime) -> None:
        await message.answer(l10n("reply.left"))
        await end_side_conversation(state, repo, now)
        raise SkipHandler

    @router.callback_query(MenuChoice.filter(F.action != MenuAction.RIGHTS))  # the rights page only shows
    async def menu_button(query: CallbackQuery, state: FSMContext, l10n: L10n, repo: Repositories,
                          now: datetime) -> None:
        if isinstance(query.message, Message):
            await query.message.answer(l10n("reply.left"))
        await end_side_conversation(state, repo, now)
        raise SkipHandler

    return router
