"""Step 5, what happened: text (a long one split by Telegram is joined), voice and files together, then when.

Nothing sent at this step is lost: every text message is added to the description, every file (photo, video,
document, voice, audio, video note, animation) is kept with its caption, and the step is closed by saying when
it happened. A text sent after the step was closed is offered to be added to the description.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot import keyboards
from bot.callbacks import Flow, FlowAction, IncidentPick
from bot.config import Settings
from bot.filters import HasEvidence, HasText
from bot.l10n import L10n
from bot.services import drafts, specialty_words
from bot.states import ReviewForm
from handlers.feedback.files import receive
from handlers.feedback.step import (
    ASK,
    WHEN_ASKED_ON,
    Step,
    ask_about_offer,
    ask_description,
    hint,
    log,
    preview_text,
    remember_when_asked,
    step_maker,
)
from storage.models import User
from storage.repositories import Repositories

RECORDINGS = ("voice", "audio", "video_note")
BEFORE_DESCRIPTION = (ReviewForm.clinic, ReviewForm.target, ReviewForm.kind, ReviewForm.category, ReviewForm.rating,
                      ReviewForm.criteria)
_DATE = re.compile(r"^\s*(\d{1,2})[./\-\s](\d{1,2})(?:[./\-\s](\d{2,4}))?\s*$")


def parse_day(text: str, today: date) -> date | None:
    """A typed day, "26.11.2026", "26.11.26" or "26.11" (the last such day up to today); None if it is no day or
    in the future."""
    match = _DATE.match(text)
    if match is None:
        return None
    day, month, year = int(match[1]), int(match[2]), match[3]
    year_number = today.year if year is None else int(year) + (2000 if len(year) == 2 else 0)
    try:
        typed = date(year_number, month, day)
    except ValueError:
        typed = None
    if year is None and (typed is None or typed > today):
        # "30.12" typed on 3 January is the visit of last week, not a day still to come; so is "29.02" typed
        # in a year without one, if last year had it.
        try:
            typed = date(year_number - 1, month, day)
        except ValueError:
            return None
    return typed if typed is not None and typed <= today else None


def acknowledgement(draft: drafts.Draft, l10n: L10n, settings: Settings, joined: int = 0) -> str:
    text = draft.get("text") or ""
    lines = []
    if joined > 1:
        lines.append(l10n("description.joined", parts=joined, length=len(text)))
    lines.append(l10n("description.received", length=len(text), files=len(draft.get("media", [])),
                      limit=settings.feedback.max_media))
    lines.append(l10n("description.more_or_when"))
    return "\n".join(lines)


def too_long(l10n: L10n, joined: drafts.Appended, limit: int) -> str:
    """What a resident is told of a text refused as too long: how long it (or its run of parts) was, and how much
    fits beside what is kept."""
    room = limit - len(joined.text)
    if joined.parts > 1:
        return l10n("description.too_long_parts", parts=joined.parts, length=joined.total, limit=room)
    return l10n("description.too_long", length=joined.total, limit=room)


def ambulance_due(holder: dict, text: str | None) -> bool:
    """Whether the ambulance's line is to be said now for `text` joining a draft or an offer ("Мама без сознания,
    скорая не едет": the office is alerted, but a life now is the ambulance's): once per `holder`, marked in it."""
    if holder.get("told_ambulance") or not text or not specialty_words.is_emergency(text):
        return False
    holder["told_ambulance"] = True
    return True


async def tell_captions_left_out(message: Message, l10n: L10n, left_out: list[tuple[str, int]]) -> None:
    """Captions that did not fit the description (`drafts.files_joined`) are said so, as a typed text over the
    limit is: not left out without a word."""
    for caption, room in left_out:
        await message.answer(l10n("description.caption_too_long", length=len(caption), limit=room))


async def add_file(step: Step, message: Message, bot: Bot,
                   answer: Callable[[drafts.Draft], Awaitable[tuple[str, InlineKeyboardMarkup]]]) -> None:
    """The file joins the draft and is answered with `answer(draft)`: once for an album, whose one answer is
    edited as its other items arrive. Past the limit a file is refused, said once for an album."""
    l10n = step.l10n
    draft = await step.draft()
    items = list(draft.get("media", []))
    album, group = draft.get("album") or {}, message.media_group_id
    if len(items) >= step.settings.feedback.max_media:
        if group is None or not (album.get("id") == group and album.get("limit_told")):
            await message.answer(l10n("evidence.limit", limit=step.settings.feedback.max_media))
            if group is not None:  # the album's other items past the limit are not told again
                await step.save({**draft, "album": {**(album if album.get("id") == group else {}),
                                                    "id": group, "limit_told": True}})
        return
    evidence = await receive(bot, message, step.settings, l10n)
    if evidence is None:
        return
    # Each item of an album is a message of its own, captioned or not: every caption is measured, not only the
    # album's first.
    draft, left_out = drafts.files_joined({**draft, "last_part": None}, [evidence.as_dict()],
                                          step.settings.feedback.max_text_chars)
    if ambulance_due(draft, message.caption):
        await message.answer(l10n("ambulance.call_now"))
    await tell_captions_left_out(message, l10n, left_out)
    text, markup = await answer(draft)
    if group and album.get("id") == group and album.get("message_id"):
        # The same album: update its one acknowledgement instead of answering every item.
        try:
            await message.bot.edit_message_text(text, chat_id=message.chat.id, message_id=album["message_id"],
                                                reply_markup=markup)
        except TelegramBadRequest:
            log.info("album acknowledgement %s could not be edited", album.get("message_id"))
    else:
        sent = await message.answer(text, reply_markup=markup)
        draft["album"] = {**(album if album.get("id") == group else {}), "id": group,
                          "message_id": sent.message_id}
    await step.save(draft)


async def kept_story(step: Step, message: Message) -> bool:
    """A story typed where a button is asked for once the polyclinic is chosen (whom it is about, the kind, the stars:
    "I am writing for my mother, she is 82..."): kept for the description, as a file sent there is, and said so;
    False for a shorter text, which is an answer or a mistake. The caller asks its step again."""
    draft = await step.draft()
    sent_at = message.date.timestamp()
    if len(message.text.split()) < drafts.STORY_WORDS and not drafts.continues_split(draft.get("last_part"), sent_at):
        return False
    limit = step.settings.feedback.max_text_chars
    text = "" if draft.get("text_from_captions") else draft.get("text") or ""  # typed words make the text theirs
    joined = drafts.append_part(text, draft.get("last_part"), message.text, sent_at, limit)
    draft = {**draft, "text": joined.text, "last_part": joined.last_part}
    draft.pop("text_from_captions", None)
    if message.forward_origin is not None and not joined.refused:
        draft["text_forwarded"] = True
    ambulance = ambulance_due(draft, joined.text)
    await step.save(draft)
    if ambulance:
        await message.answer(step.l10n("ambulance.call_now"))
    if joined.refused:
        await message.answer(too_long(step.l10n, joined, limit))
    elif joined.parts == 1:  # the rest of a text Telegram split is not told again
        await message.answer(step.l10n("description.story_kept", length=len(joined.text)))
    return True


def register(private: Router, settings: Settings) -> None:
    step_of = step_maker(settings)

    # Text where only buttons answer (the kind, a violation's category, the detailed stars): a story is kept for the
    # description; anything else is left to the hint.
    @private.message(StateFilter(ReviewForm.kind, ReviewForm.category, ReviewForm.criteria), HasText())
    async def story_at_buttons(message: Message, state: FSMContext, repo: Repositories, l10n: L10n,
                               user: User | None, now: datetime) -> None:
        step = step_of(message, state, repo, l10n, user, now)
        if not await kept_story(step, message):
            await hint(step)
            return
        await ASK[await step.current()](step.anew(), await step.draft())

    async def acknowledge(step: Step, draft: drafts.Draft, joined: int = 0) -> None:
        markup = keyboards.make_description_keyboard(step.l10n, reopened=False)
        await remember_when_asked(step)
        await step.message.answer(acknowledgement(draft, step.l10n, settings, joined), reply_markup=markup)

    @private.message(StateFilter(ReviewForm.description), HasText())
    async def description_typed(message: Message, state: FSMContext, repo: Repositories, l10n: L10n,
                                user: User | None, now: datetime) -> None:
        step = step_of(message, state, repo, l10n, user, now)
        draft = await step.draft()
        draft.pop("text_from_captions", None)  # what the resident types makes the text theirs
        joined = drafts.append_part(draft.get("text") or "", draft.get("last_part"), message.text,
                                    message.date.timestamp(), settings.feedback.max_text_chars)
        draft = {**draft, "text": joined.text, "last_part": joined.last_part}
        if message.forward_origin is not None and not joined.refused:
            draft["text_forwarded"] = True  # someone else's words, perhaps: the office is told (cards.card_text)
        ambulance = ambulance_due(draft, joined.text)
        await step.save(draft)
        if ambulance:
            await message.answer(l10n("ambulance.call_now"))
        if joined.refused:
            await message.answer(too_long(l10n, joined, settings.feedback.max_text_chars))
            return
        await acknowledge(step, draft, joined.parts)

    @private.message(StateFilter(ReviewForm.description), HasEvidence())
    async def file_sent(message: Message, state: FSMContext, repo: Repositories, l10n: L10n,
                        user: User | None, bot: Bot, now: datetime) -> None:
        step = step_of(message, state, repo, l10n, user, now)

        async def acknowledged(draft: drafts.Draft) -> tuple[str, InlineKeyboardMarkup]:
            await remember_when_asked(step)
            return acknowledgement(draft, l10n, settings), keyboards.make_description_keyboard(l10n, reopened=False)

        await add_file(step, message, bot, acknowledged)

    # A voice note or a photo where a button is asked for (the polyclinic, the doctor, the stars, the date): kept
    # for the description, as a story typed where the polyclinic is asked is, instead of dropped with a hint.
    @private.message(StateFilter(*BEFORE_DESCRIPTION, ReviewForm.when), HasEvidence())
    async def file_kept(message: Message, state: FSMContext, repo: Repositories, l10n: L10n,
                        user: User | None, bot: Bot, now: datetime) -> None:
        step = step_of(message, state, repo, l10n, user, now)
        album, group = (await step.draft()).get("album") or {}, message.media_group_id
        limit = settings.feedback.max_media

        async def kept(draft: drafts.Draft) -> tuple[str, None]:
            return l10n("evidence.kept_for_description", files=len(draft["media"]), limit=limit), None

        await add_file(step, message, bot, kept)
        if group is None or album.get("id") != group:  # an album's other items edit the one acknowledgement
            await ASK[await step.current()](step.anew(), await step.draft())

    @private.message(StateFilter(ReviewForm.preview), HasEvidence())
    async def file_at_preview(message: Message, state: FSMContext, repo: Repositories, l10n: L10n,
                              user: User | None, bot: Bot, now: datetime) -> None:
        """A photo remembered at the last moment: it joins the files, and the preview is shown again with it."""
        step = step_of(message, state, repo, l10n, user, now)

        async def previewed(draft: drafts.Draft) -> tuple[str, InlineKeyboardMarkup]:
            return await preview_text(step, draft), keyboards.make_preview_keyboard(l10n, draft)

        await add_file(step, message, bot, previewed)

    @private.callback_query(IncidentPick.filter(F.when.in_(drafts.INCIDENT_WHEN)), StateFilter(ReviewForm.description))
    async def when_chosen(query: CallbackQuery, callback_data: IncidentPick, state: FSMContext, repo: Repositories,
                          l10n: L10n, user: User | None, now: datetime) -> None:
        step = step_of(query, state, repo, l10n, user, now)
        # Files brought from the menu have their captions too.
        draft = drafts.caption_as_text(await step.draft(), settings.feedback.max_text_chars)
        has_words = bool(draft.get("text")) or any(item["kind"] in RECORDINGS for item in draft.get("media", []))
        if not has_words:
            await query.answer(l10n("description.required"), show_alert=True)
            return
        await query.answer()
        today = step.today
        when = callback_data.when
        asked_on = (await state.get_data()).get(WHEN_ASKED_ON)
        if when in ("today", "yesterday") and asked_on not in (None, today.isoformat()):
            # "Today" under a message of last week meant that day, not this one: a day she did not choose is not
            # stored; she is asked again, with buttons that mean what they say now.
            await step.message.answer(l10n("when.asked_again", day=l10n.day(date.fromisoformat(asked_on))))
            await ask_description(step.anew(), draft)
            return
        incident = {"today": today, "yesterday": today - timedelta(days=1)}.get(when)
        draft = {**draft, "description_done": True, "incident_when": when,
                 "incident_date": incident.isoformat() if incident else None}
        draft.pop("album", None)
        draft.pop("last_part", None)
        await step.advance(draft)

    @private.callback_query(Flow.filter(F.action == FlowAction.CLEAR_TEXT), StateFilter(ReviewForm.description))
    async def clear_text(query: CallbackQuery, state: FSMContext, repo: Repositories, l10n: L10n,
                         user: User | None, now: datetime) -> None:
        await query.answer()
        step = step_of(query, state, repo, l10n, user, now)
        draft = {**await step.draft(), "text": "", "last_part": None, "text_forwarded": False}
        await step.save(draft)
        await ask_description(step, draft)

    @private.message(StateFilter(ReviewForm.when), HasText())
    async def date_typed(message: Message, state: FSMContext, repo: Repositories, l10n: L10n,
                         user: User | None, now: datetime) -> None:
        step = step_of(message, state, repo, l10n, user, now)
        day = parse_day(message.text, step.today)
        draft = await step.draft()
        if day is None:
            if len(message.text.strip()) > 12:
                # Not a date but more words: offered to the description rather than refused.
                await offer_text(step, message.text)
                return
            await message.answer(l10n("when.not_a_date"))
            return
        await step.advance({**draft, "incident_date": day.isoformat()})

    # A text after the description was closed (while the date or the preview is asked): add it, or not.
    @private.callback_query(Flow.filter(F.action.in_({FlowAction.ADD_TEXT, FlowAction.DROP_TEXT})),
                            StateFilter(ReviewForm.when, ReviewForm.preview))
    async def late_text_decided(query: CallbackQuery, callback_data: Flow, state: FSMContext, repo: Repositories,
                                l10n: L10n, user: User | None, now: datetime) -> None:
        step = step_of(query, state, repo, l10n, user, now)
        draft = await step.draft()
        pending = draft.get("pending_text")
        if pending is None or not drafts.asks_about_offer(draft, query.message.message_id):
            await query.answer(l10n("errors.stale_button"), show_alert=True)
            return
        limit = settings.feedback.max_text_chars
        if callback_data.action == FlowAction.ADD_TEXT:
            combined = drafts.join_parts(draft.get("text") or "", pending, together=False)
            if len(combined) > limit:
                # The text stays on offer: the resident may still leave it out, or shorten the description first.
                await query.answer(l10n("description.too_long_added", length=len(combined), limit=limit),
                                   show_alert=True)
                return
            draft["text"] = combined
            draft.pop("text_from_captions", None)
        drafts.drop_offer(draft)
        await query.answer(l10n("description.added") if callback_data.action == FlowAction.ADD_TEXT else None)
        await step.advance(draft)


async def offer_text(step: Step, text: str, *, question: str | None = None,
                     markup: InlineKeyboardMarkup | None = None) -> drafts.Draft | None:
    """A text that is not an answer to the current question: kept aside and offered to the description.

    Texts sent before the resident decides join the one on offer (the parts of a text Telegram split, as they were
    cut), and every offer's button decides for all of them: whichever is pressed, none of the texts is lost, and the
    others then say they are out of date. Returns the draft as saved, or None when the text was refused as too
    long (what was on offer stays)."""
    draft = await step.draft()
    pending = draft.get("pending_text")
    limit = step.settings.feedback.max_text_chars
    joined = drafts.append_part(pending or "", draft.get("pending_part"), text, step.message.date.timestamp(), limit)
    draft = {**draft, "pending_part": joined.last_part}
    if joined.text:
        draft["pending_text"] = joined.text
    else:
        draft.pop("pending_text", None)
    await step.save(draft)
    if joined.refused:
        await step.message.answer(too_long(step.l10n, joined, limit))
        return None
    return await ask_about_offer(step, draft, question, markup)
