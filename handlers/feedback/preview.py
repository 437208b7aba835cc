"""The last screen: the preview with the last choices on it (publication, on whose behalf, the appellant's full
name, the outcome wanted, the phone), and the submission with its receipt."""

from __future__ import annotations

import re
from datetime import datetime
from functools import partial
from pathlib import Path

from aiogram import Bot, F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, ReplyKeyboardRemove

from bot import keyboards
from bot.callbacks import BehalfPick, Flow, FlowAction
from bot.config import Settings
from bot.filters import HasContact, HasText
from bot.l10n import L10n, Translator
from bot.services import drafts, people, reviews
from bot.states import ReviewForm
from bot.unit_of_work import AfterCommit
from handlers.feedback.description import ask_about_offer, offer_text
from handlers.feedback.entry import ask_cancel, go_back
from handlers.feedback.files import fetch_missing_evidence
from handlers.feedback.step import Step, close_reply_keyboard, preview_text, step_maker
from handlers.start import show_menu
from storage.models import User
from storage.repositories import Repositories

# A full name as people write it: two to four words of letters (hyphens and apostrophes inside), initials
# ("Иванова А.С.", "Иванова А. С.", "А.С. Иванова") and a patronymic's separate "кызы"/"оглы"/"ұлы"
# ("Мамедова Севиль Ахмед кызы").
_WORD = re.compile(r"[^\W\d_]+(?:[-'’][^\W\d_]+)*")
_INITIALS = re.compile(r"[^\W\d_]\.(?:[^\W\d_]\.?)?")
_PARTICLES = frozenset({"кызы", "қызы", "оглы", "ұлы", "улы", "kyzy", "qyzy", "ogly", "uly"})
OUTCOME_CHARS = 1000


def _name_tokens(text: str) -> list[str] | None:
    """The words of a text shaped as a full name, or None; "А. С." counts as one set of initials."""
    text = re.sub(r"(?<=\.)\s+(?=[^\W\d_]\.)", "", " ".join(text.split()))
    tokens = text.split()
    names = [token for token in tokens if token.lower() not in _PARTICLES]
    if len(text) > 120 or not 2 <= len(names) <= 4 or tokens[0].lower() in _PARTICLES:
        return None
    words = [token for token in names if _WORD.fullmatch(token.rstrip("."))]
    if not words or not all(token in words or _INITIALS.fullmatch(token) for token in names):
        return None  # a surname at least, beside initials ("А.С. Иванова", "Иванова А.С")
    return tokens


def is_name_shaped(text: str) -> bool:
    """Two to four words (or a surname and initials) that can be a full name, however capitalised."""
    return _name_tokens(text) is not None


def looks_like_full_name(text: str) -> bool:
    """A full name written as one: "Иванова Айгуль Сериковна", "Иванова А.С.", not "очень плохо" or "Очень плохо"."""
    tokens = _name_tokens(text)
    return tokens is not None and all(token[0].isupper() for token in tokens if token.lower() not in _PARTICLES)


def may_be_full_name(text: str) -> bool:
    """Shaped as a full name but not capitalised as one ("иванова айгуль сериковна"): a name typed in a hurry, or
    two words of a story; the resident is asked which."""
    tokens = _name_tokens(text)
    return tokens is not None and all(token == token.lower() for token in tokens)


def as_full_name(text: str) -> str:
    """A full name as it is written: each word capitalised (parts after a hyphen or apostrophe too), initials in
    capitals, "кызы" and its kind as they are."""
    def capitalised(token: str) -> str:
        if token.lower() in _PARTICLES:
            return token.lower()
        return re.sub(r"(^|[-'’.])([^\W\d_])", lambda match: match[1] + match[2].upper(), token)

    return " ".join(capitalised(token) for token in _name_tokens(text) or text.split())


def register(private: Router, settings: Settings) -> None:
    step_of = step_maker(settings)
    in_preview = StateFilter(ReviewForm.preview)

    async def redraw(step: Step, draft: drafts.Draft, *, new: bool = False) -> None:
        await step.save(draft)
        await step.state.set_state(ReviewForm.preview)
        await step.show(await preview_text(step, draft), keyboards.make_preview_keyboard(step.l10n, draft), new=new)

    @private.callback_query(Flow.filter(F.action == FlowAction.SHOW_NAME), in_preview)
    async def show_name_toggled(query: CallbackQuery, state: FSMContext, repo: Repositories, l10n: L10n,
                                user: User | None) -> None:
        await query.answer()
        step = step_of(query, state, repo, l10n, user)
        draft = await step.draft()
        await redraw(step, {**draft, "show_name": not draft.get("show_name")})

    @private.callback_query(Flow.filter(F.action == FlowAction.CRITERIA), in_preview)
    async def criteria_asked(query: CallbackQuery, state: FSMContext, repo: Repositories, l10n: L10n,
                             user: User | None) -> None:
        await query.answer()
        step = step_of(query, state, repo, l10n, user)
        draft = await step.draft()
        await step.advance({**draft, "criteria_wanted": True, "criteria_done": False, "criteria": {}})

    @private.callback_query(Flow.filter(F.action == FlowAction.BEHALF), in_preview)
    async def behalf_asked(query: CallbackQuery, state: FSMContext, repo: Repositories, l10n: L10n,
                           user: User | None) -> None:
        await query.answer()
        step = step_of(query, state, repo, l10n, user)
        await step.show(l10n("behalf.prompt"), keyboards.make_behalf_keyboard(l10n))

    @private.callback_query(BehalfPick.filter(F.who.in_(drafts.BEHALF)), in_preview)
    async def behalf_chosen(query: CallbackQuery, callback_data: BehalfPick, state: FSMContext, repo: Repositories,
                            l10n: L10n, user: User | None) -> None:
        await query.answer()
        step = step_of(query, state, repo, l10n, user)
        await redraw(step, {**await step.draft(), "on_behalf": callback_data.who})

    @private.callback_query(Flow.filter(F.action.in_({FlowAction.OUTCOME, FlowAction.NAME})), in_preview)
    async def typing_asked(query: CallbackQuery, callback_data: Flow, state: FSMContext, repo: Repositories,
                           l10n: L10n, user: User | None) -> None:
        await query.answer()
        step = step_of(query, state, repo, l10n, user)
        await step.save({**await step.draft(), "typing": callback_data.action.value})
        key = "preview.outcome_prompt" if callback_data.action == FlowAction.OUTCOME else "preview.name_prompt"
        await step.show(l10n(key), keyboards.make_return_keyboard(l10n), new=True)

    @private.callback_query(Flow.filter(F.action == FlowAction.CLEAR_NAME), in_preview)
    async def name_cleared(query: CallbackQuery, state: FSMContext, repo: Repositories, l10n: L10n,
                           user: User | None) -> None:
        await query.answer()
        step = step_of(query, state, repo, l10n, user)
        draft = await step.draft()
        draft.pop("appellant_name", None)
        await redraw(step, draft)

    @private.message(in_preview, HasText())
    async def text_at_preview(message: Message, state: FSMContext, repo: Repositories, l10n: L10n,
                              user: User | None, translator: Translator) -> None:
        step = step_of(message, state, repo, l10n, user)
        draft = await step.draft()
        text = message.text.strip()
        # The phone keyboard's own Back and Cancel buttons arrive as text.
        if text in translator.every("flow.back"):
            await go_back(step)
            return
        if text in translator.every("flow.cancel"):
            await ask_cancel(step)
            return
        typing = draft.pop("typing", None)
        if typing == FlowAction.OUTCOME:
            await redraw(step, {**draft, "outcome": text[:OUTCOME_CHARS]}, new=True)
            return
        if drafts.is_formal_kind(draft) and (typing == FlowAction.NAME or (
                not draft.get("appellant_name") and looks_like_full_name(text))):
            if not is_name_shaped(text):  # asked for it: a name in any case ("Иванова айгуль" too)
                await message.answer(l10n("preview.name_invalid"))
                await step.save({**draft, "typing": FlowAction.NAME.value})
                return
            await redraw(step, {**draft, "appellant_name": as_full_name(text)}, new=True)
            return
        await step.save(draft)
        if drafts.is_formal_kind(draft) and not draft.get("appellant_name") and may_be_full_name(text):
            # The preview asks for the full name: "иванова айгуль сериковна" is most likely it, and offered to the
            # description it would be published. The resident says which it is.
            offered = await offer_text(step, message.text, markup=keyboards.make_name_or_text_keyboard(l10n),
                                       question=l10n("preview.name_or_text", name=as_full_name(text)))
            if offered is not None:
                # Where the name is in the texts on offer: "Yes, it is my name" takes it alone, whatever else was
                # sent before or after it.
                start = len(offered["pending_text"]) - len(message.text)
                await step.save({**offered, "name_offer": {"text": message.text, "start": start}})
            return
        await offer_text(step, message.text)

    @private.callback_query(Flow.filter(F.action == FlowAction.TAKE_NAME), in_preview)
    async def name_taken(query: CallbackQuery, state: FSMContext, repo: Repositories, l10n: L10n,
                         user: User | None) -> None:
        step = step_of(query, state, repo, l10n, user)
        draft = await step.draft()
        pending, offer = draft.get("pending_text") or "", draft.get("name_offer") or {}
        name, start = offer.get("text", ""), offer.get("start", -1)
        if (not name or start < 0 or pending[start:start + len(name)] != name
                or not drafts.asks_about_offer(draft, query.message.message_id)):
            await query.answer(l10n("errors.stale_button"), show_alert=True)  # decided already
            return
        await query.answer()
        # The other texts on offer stay on offer, and are asked about again below the preview.
        rest = [piece for piece in (pending[:start].rstrip("\n"), pending[start + len(name):].lstrip("\n")) if piece]
        draft = {**drafts.drop_offer(draft), "appellant_name": as_full_name(name)}
        if rest:
            draft = {**draft, "pending_text": "\n\n".join(rest)}
        await redraw(step, draft)
        if rest:
            await ask_about_offer(step, draft)

    @private.message(in_preview, HasContact())
    async def phone_shared(message: Message, state: FSMContext, repo: Repositories, l10n: L10n,
                           user: User | None, now: datetime) -> None:
        if message.contact.user_id != message.from_user.id:
            await message.answer(l10n("phone.not_yours"))
            return
        step = step_of(message, state, repo, l10n, user)
        await reviews.remember_phone(repo, user, message.contact.phone_number, now)
        await message.answer(l10n("phone.thanks"), reply_markup=ReplyKeyboardRemove())
        await redraw(step, {**await step.draft(), "phone_shared": True, "reply_keyboard": False}, new=True)

    @private.callback_query(Flow.filter(F.action == FlowAction.SUBMIT), in_preview)
    async def submit(query: CallbackQuery, state: FSMContext, repo: Repositories, l10n: L10n, user: User | None,
                     now: datetime, bot: Bot, after_commit: AfterCommit) -> None:
        step = step_of(query, state, repo, l10n, user)
        draft = await step.draft()
        if drafts.next_step(draft) != "preview" or people.needs_consent(user):
            await query.answer(l10n("errors.stale_button"), show_alert=True)
            return
        if await reviews.submitted_today(repo, user, now, settings.zone) >= settings.feedback.daily_limit:
            await query.answer(l10n("limits.daily", limit=settings.feedback.daily_limit), show_alert=True)
            return
        await fetch_missing_evidence(bot, draft, Path(settings.media.dir))
        result = await reviews.submit(repo, user, draft, now=now, settings=settings, language=l10n.language)
        await state.clear()
        await query.answer()
        await query.message.edit_reply_markup(reply_markup=None)
        # The reference number is a promise: it goes out only once the review holding it is committed. The
        # receipt also takes the phone keyboard away, so nothing of the conversation lingers.
        after_commit(partial(query.message.answer, reviews.receipt(result, l10n, settings),
                             reply_markup=ReplyKeyboardRemove() if draft.get("reply_keyboard") else None))
        after_commit(partial(show_menu, query.message, l10n), repeatable=True)


__all__ = ["close_reply_keyboard", "register"]
