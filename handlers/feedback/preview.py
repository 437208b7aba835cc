"""The last screen: the preview with the last choices on it (publication, on whose behalf, the appellant's full
name, the outcome wanted, the phone), and the submission with its receipt."""

from __future__ import annotations

import asyncio
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
from bot.filters import HasContact, HasText, LeftoverKeyboardButton
from bot.l10n import L10n
from bot.services import drafts, people, reviews, text_language
from bot.services.names import as_full_name, is_name_shaped, looks_like_full_name, may_be_full_name
from bot.states import ReviewForm
from bot.unit_of_work import AfterCommit
from handlers.feedback.description import offer_text
from handlers.feedback.entry import ask_cancel, go_back
from handlers.feedback.files import fetch_missing_evidence
from handlers.feedback.step import Step, ask_about_offer, close_reply_keyboard, preview_text, step_maker
from handlers.screens import show_menu
from storage.models import User
from storage.repositories import Repositories

OUTCOME_CHARS = 1000


def register(private: Router, settings: Settings) -> None:
    step_of = step_maker(settings)
    in_preview = StateFilter(ReviewForm.preview)

    async def redraw(step: Step, draft: drafts.Draft, *, new: bool = False) -> None:
        await step.save(draft)
        await step.state.set_state(ReviewForm.preview)
        await step.show(await preview_text(step, draft), keyboards.make_preview_keyboard(step.l10n, draft), new=new)

    async def subject_gone(query: CallbackQuery, step: Step, draft: drafts.Draft, kind: str) -> None:
        """Said as a shared link to them says it; what was written and sent stays, and whom the review is about is
        asked again (its kind and stars kept, as after changing the doctor)."""
        await query.answer()
        await query.message.edit_reply_markup(reply_markup=None)
        await query.message.answer("\n".join([step.l10n(f"{kind}_page.gone"), step.l10n(f"preview.{kind}_gone")]))
        await step.anew().advance(drafts.clear(draft, "clinic" if kind == "clinic" else "target"))

    @private.callback_query(Flow.filter(F.action == FlowAction.SHOW_NAME), in_preview)
    async def show_name_toggled(query: CallbackQuery, state: FSMContext, repo: Repositories, l10n: L10n,
                                user: User | None, now: datetime) -> None:
        await query.answer()
        step = step_of(query, state, repo, l10n, user, now)
        draft = await step.draft()
        await redraw(step, {**draft, "show_name": not draft.get("show_name")})

    @private.callback_query(Flow.filter(F.action == FlowAction.CRITERIA), in_preview)
    async def criteria_asked(query: CallbackQuery, state: FSMContext, repo: Repositories, l10n: L10n,
                             user: User | None, now: datetime) -> None:
        await query.answer()
        step = step_of(query, state, repo, l10n, user, now)
        draft = await step.draft()
        await step.advance({**draft, "criteria_wanted": True, "criteria_done": False, "criteria": {}})

    @private.callback_query(Flow.filter(F.action == FlowAction.BEHALF), in_preview)
    async def behalf_asked(query: CallbackQuery, state: FSMContext, repo: Repositories, l10n: L10n,
                           user: User | None, now: datetime) -> None:
        await query.answer()
        step = step_of(query, state, repo, l10n, user, now)
        await step.show(l10n("behalf.prompt"), keyboards.make_behalf_keyboard(l10n))

    @private.callback_query(BehalfPick.filter(F.who.in_(drafts.BEHALF)), in_preview)
    async def behalf_chosen(query: CallbackQuery, callback_data: BehalfPick, state: FSMContext, repo: Repositories,
                            l10n: L10n, user: User | None, now: datetime) -> None:
        await query.answer()
        step = step_of(query, state, repo, l10n, user, now)
        await redraw(step, {**await step.draft(), "on_behalf": callback_data.who})

    @private.callback_query(Flow.filter(F.action.in_({FlowAction.OUTCOME, FlowAction.NAME})), in_preview)
    async def typing_asked(query: CallbackQuery, callback_data: Flow, state: FSMContext, repo: Repositories,
                           l10n: L10n, user: User | None, now: datetime) -> None:
        await query.answer()
        step = step_of(query, state, repo, l10n, user, now)
        draft = {**await step.draft(), "typing": callback_data.action.value}
        await step.save(draft)
        if callback_data.action == FlowAction.OUTCOME:
            key = "preview.outcome_prompt"
        else:  # one writing for her mother typed the mother's name, and it was taken for the appellant's
            key = "preview.name_prompt_behalf" if drafts.for_someone_else(draft) else "preview.name_prompt"
        await step.show(l10n(key), keyboards.make_return_keyboard(l10n), new=True)

    @private.callback_query(Flow.filter(F.action == FlowAction.CLEAR_NAME), in_preview)
    async def name_cleared(query: CallbackQuery, state: FSMContext, repo: Repositories, l10n: L10n,
                           user: User | None, now: datetime) -> None:
        await query.answer()
        step = step_of(query, state, repo, l10n, user, now)
        draft = await step.draft()
        draft.pop("appellant_name", None)
        await redraw(step, draft)

    @private.message(in_preview, LeftoverKeyboardButton())
    async def phone_keyboard_button(message: Message, keyboard_button: str, state: FSMContext, repo: Repositories,
                                    l10n: L10n, user: User | None, now: datetime) -> None:
        # The phone keyboard's own Back and Cancel buttons arrive as text.
        step = step_of(message, state, repo, l10n, user, now)
        await (go_back(step) if keyboard_button == "back" else ask_cancel(step))

    @private.message(in_preview, HasText())
    async def text_at_preview(message: Message, state: FSMContext, repo: Repositories, l10n: L10n,
                              user: User | None, now: datetime) -> None:
        step = step_of(message, state, repo, l10n, user, now)
        draft = await step.draft()
        text = message.text.strip()
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
                # sent before or after it. Only this question decides now: an earlier one's Add would publish the
                # name, an earlier name question's Yes would take this name.
                start = len(offered["pending_text"]) - len(message.text)
                await step.save({**offered, "name_offer": {"text": message.text, "start": start},
                                 "offer_messages": offered["offer_messages"][-1:]})
            return
        await offer_text(step, message.text)

    @private.callback_query(Flow.filter(F.action == FlowAction.TAKE_NAME), in_preview)
    async def name_taken(query: CallbackQuery, state: FSMContext, repo: Repositories, l10n: L10n,
                         user: User | None, now: datetime) -> None:
        step = step_of(query, state, repo, l10n, user, now)
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
        step = step_of(message, state, repo, l10n, user, now)
        await reviews.remember_phone(repo, user, message.contact.phone_number, now)
        await message.answer(l10n("phone.thanks"), reply_markup=ReplyKeyboardRemove())
        await redraw(step, {**await step.draft(), "phone_shared": True, "reply_keyboard": False}, new=True)

    @private.callback_query(Flow.filter(F.action == FlowAction.SUBMIT), in_preview)
    async def submit(query: CallbackQuery, state: FSMContext, repo: Repositories, l10n: L10n, user: User | None,
                     now: datetime, bot: Bot, after_commit: AfterCommit) -> None:
        step = step_of(query, state, repo, l10n, user, now)
        draft = await step.draft()
        if drafts.next_step(draft) != "preview" or people.needs_consent(user):
            await query.answer(l10n("errors.stale_button"), show_alert=True)
            return
        if await reviews.submitted_today(repo, user, now, settings.zone) >= settings.feedback.daily_limit:
            await query.answer(l10n("limits.daily", limit=settings.feedback.daily_limit), show_alert=True)
            return
        await fetch_missing_evidence(bot, draft, Path(settings.media.dir))
        # The answer is owed in the language the appeal is written in, not the screens' (a Kazakh text sent from a
        # phone in Russian is answered in Kazakh; the office's card says so).
        language = await asyncio.to_thread(text_language.written_in, draft.get("text"), l10n.language)  # dictionary
        try:
            result = await reviews.submit(repo, user, draft, now=now, settings=settings, language=language)
        except reviews.SubjectGone as gone:
            await subject_gone(query, step, draft, gone.kind)
            return
        await state.clear()
        await query.answer()
        await query.message.edit_reply_markup(reply_markup=None)
        # The reference number is a promise: it goes out only once the review holding it is committed. The
        # receipt also takes the phone keyboard away, so nothing of the conversation lingers.
        after_commit(partial(query.message.answer, reviews.receipt(result, l10n, settings),
                             reply_markup=ReplyKeyboardRemove() if draft.get("reply_keyboard") else None))
        after_commit(partial(show_menu, query.message, l10n), repeatable=True)


__all__ = ["close_reply_keyboard", "register"]
