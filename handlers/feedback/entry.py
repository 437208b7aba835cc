"""Starting, resuming, cancelling and moving back in a review: menu, /review, deep links, free text at the menu."""

from __future__ import annotations

from datetime import datetime

from aiogram import Bot, F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import Command, CommandObject, CommandStart, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.deep_linking import create_start_link

from bot import keyboards
from bot.callbacks import EditPick, Flow, FlowAction, MenuAction, MenuChoice, StartWith
from bot.config import Settings
from bot.filters import GroupChat, HasEvidence, HasText, LeftoverKeyboardButton
from bot.l10n import L10n
from bot.services import drafts, media, people, reviews
from bot.states import ReviewForm
from handlers.feedback.description import ambulance_due, tell_captions_left_out, too_long
from handlers.feedback.held import add_held, preset_from
from handlers.feedback.step import (
    ASK,
    SINCE_MESSAGE,
    Step,
    close_reply_keyboard,
    offer_phone,
    preview_text,
    step_maker,
    subject_label,
)
from handlers.screens import cancel_question, show_consent, show_menu
from handlers.side_conversation import offer_unfinished
from storage.models import User
from storage.repositories import Repositories


async def has_unfinished(state: FSMContext) -> bool:
    """A review in progress that holds something the resident chose or wrote."""
    if not (await state.get_state() or "").startswith(ReviewForm.__name__):
        return False
    return bool((await state.get_data()).get("draft"))


async def begin(step: Step, preset: drafts.Draft | None = None, *, settings: Settings, force: bool = False) -> None:
    """Start (or restart) a review, after checking consent, the daily limit and an unfinished draft."""
    if people.needs_consent(step.user):
        await step.message.answer(step.l10n("consent.required"))
        await show_consent(step.message, step.l10n)
        return
    limit = settings.feedback.daily_limit
    if await reviews.submitted_today(step.repo, step.user, step.now, settings.zone) >= limit:
        await step.message.answer(step.l10n("limits.daily", limit=limit))
        return
    if not force and await has_unfinished(step.state):
        # Nothing is dropped without a word: the resident decides, and the link or text waits meanwhile.
        await step.state.update_data(pending_preset=preset or {})
        await offer_unfinished(step.message, step.l10n)
        return
    draft = await step.draft()
    if draft.get("reply_keyboard"):
        await close_reply_keyboard(step.message, step.l10n)
    # Buttons under messages from before this message belong to an earlier conversation (a review sent, one
    # discarded): they must not act on this one (step.FromThisReview).
    await step.state.set_data({SINCE_MESSAGE: step.message.message_id})
    preset = dict(preset or {})
    if preset.get("media"):
        # Files sent at the menu or held while the review was set aside: a caption that will not fit the description
        # is said so now, as at the description step.
        _, left_out = drafts.files_joined({**preset, "media": []}, preset["media"], settings.feedback.max_text_chars)
        await tell_captions_left_out(step.message, step.l10n, left_out)
    if preset.get("doctor_id"):
        # A link names the doctor or clinic it was made for, so the resident knows where it leads.
        await step.message.answer(step.l10n("deep_link.about", subject=await subject_label(step, preset)))
    await step.advance(preset)


async def ask_again(step: Step) -> None:
    """The current step once more, as a new message (after a detour such as a confirmation)."""
    draft = await step.draft()
    if draft.pop("typing", None):
        # The outcome or name prompt the detour left is not on the screen any more: the next text is not its answer.
        await step.save(draft)
    current = await step.current()
    again = step.anew()
    if current == "preview":
        draft = await offer_phone(again, draft) or draft  # the phone keyboard, in the language chosen meanwhile
        await again.show(await preview_text(again, draft), keyboards.make_preview_keyboard(step.l10n, draft),
                         new=True)
    elif current in ASK:
        await ASK[current](again, draft)


def register(private: Router, router: Router, settings: Settings) -> None:
    step_of = step_maker(settings)
    in_flow = StateFilter(ReviewForm)

    @private.callback_query(MenuChoice.filter(F.action == MenuAction.FEEDBACK))
    async def from_menu(query: CallbackQuery, state: FSMContext, repo: Repositories, l10n: L10n,
                        user: User | None, now: datetime) -> None:
        await query.answer()
        await begin(step_of(query, state, repo, l10n, user, now), settings=settings)

    @private.message(Command("review"))
    async def review_command(message: Message, state: FSMContext, repo: Repositories, l10n: L10n,
                             user: User | None, now: datetime) -> None:
        await begin(step_of(message, state, repo, l10n, user, now), settings=settings)

    @private.message(CommandStart(deep_link=True))
    async def deep_link(message: Message, command: CommandObject, state: FSMContext, repo: Repositories,
                        l10n: L10n, user: User | None, now: datetime) -> None:
        preset = await reviews.preset_from_link(repo, command.args or "")
        onboarded = user is not None and user.language is not None and not people.needs_consent(user)
        if preset is None and onboarded and (gone := reviews.link_gone(command.args or "")) is not None:
            # A shared "review this doctor" link from last year, the doctor gone from the directory: said, rather
            # than the plain menu leaving the person to guess why the link did nothing; a review in progress is
            # offered as after any other start.
            await message.answer(l10n(f"{gone}_page.gone"))
            await (offer_unfinished(message, l10n) if await has_unfinished(state) else show_menu(message, l10n))
            return
        if preset is None or not onboarded:
            # Unknown payload, or a newcomer who must be onboarded first: plain /start handles it, and keeps
            # the link's purpose for after the consent.
            raise SkipHandler
        await begin(step_of(message, state, repo, l10n, user, now), preset, settings=settings)

    @router.message(GroupChat(), Command("review"))
    async def review_in_group(message: Message, bot: Bot, l10n: L10n) -> None:
        # Nothing personal is collected in a group: the button opens the private chat.
        link = await create_start_link(bot, "review")
        await message.answer(l10n("group.review_prompt"),
                             reply_markup=keyboards.make_link_keyboard(l10n("group.open_private"), link))

    # An unfinished review: continue it, or start over (with what the resident asked for meanwhile).
    @private.callback_query(Flow.filter(F.action == FlowAction.RESUME), in_flow)
    async def resume(query: CallbackQuery, state: FSMContext, repo: Repositories, l10n: L10n,
                     user: User | None, now: datetime) -> None:
        await query.answer()
        held = (await state.get_data()).get("held")
        await state.update_data(pending_preset=None, held=None)
        await query.message.edit_reply_markup(reply_markup=None)
        step = step_of(query, state, repo, l10n, user, now)
        if held:
            await add_held(step, held)
        await ask_again(step)

    @private.callback_query(Flow.filter(F.action == FlowAction.START_OVER), in_flow)
    async def start_over(query: CallbackQuery, state: FSMContext, repo: Repositories, l10n: L10n,
                         user: User | None, now: datetime) -> None:
        await query.answer()
        data = await state.get_data()
        # What the resident asked for meanwhile, else what they wrote after a day away: the new review's start.
        preset = data.get("pending_preset") or await preset_from(repo, data.get("held") or {})
        await query.message.edit_reply_markup(reply_markup=None)
        await begin(step_of(query, state, repo, l10n, user, now), preset, settings=settings, force=True)

    # Cancel: a draft with text or files is discarded only once the resident confirms.
    @private.callback_query(Flow.filter(F.action == FlowAction.CANCEL), in_flow)
    async def cancel(query: CallbackQuery, state: FSMContext, repo: Repositories, l10n: L10n,
                     user: User | None, now: datetime) -> None:
        await query.answer()
        await ask_cancel(step_of(query, state, repo, l10n, user, now))

    @private.callback_query(Flow.filter(F.action == FlowAction.DISCARD), in_flow)
    async def discard_confirmed(query: CallbackQuery, state: FSMContext, repo: Repositories, l10n: L10n,
                                user: User | None, now: datetime) -> None:
        await query.answer()
        await discard(step_of(query, state, repo, l10n, user, now))

    @private.callback_query(Flow.filter(F.action == FlowAction.KEEP), in_flow)
    async def keep_writing(query: CallbackQuery, state: FSMContext, repo: Repositories, l10n: L10n,
                           user: User | None, now: datetime) -> None:
        await query.answer()
        await query.message.edit_reply_markup(reply_markup=None)
        await ask_again(step_of(query, state, repo, l10n, user, now))

    @private.callback_query(Flow.filter(F.action == FlowAction.BACK), in_flow)
    async def back(query: CallbackQuery, state: FSMContext, repo: Repositories, l10n: L10n,
                   user: User | None, now: datetime) -> None:
        await query.answer()
        await go_back(step_of(query, state, repo, l10n, user, now))

    @private.callback_query(EditPick.filter(F.step.in_(keyboards.EDITABLE)), StateFilter(ReviewForm.preview))
    async def edit_part(query: CallbackQuery, callback_data: EditPick, state: FSMContext, repo: Repositories,
                        l10n: L10n, user: User | None, now: datetime) -> None:
        await query.answer()
        step = step_of(query, state, repo, l10n, user, now)
        draft = drafts.clear(drafts.offer_left_behind(await step.draft()), callback_data.step)
        if callback_data.step == "description":
            draft.pop("description_done", None)
        await step.advance(draft)

    @private.callback_query(StartWith.filter())
    async def start_with(query: CallbackQuery, callback_data: StartWith, state: FSMContext, repo: Repositories,
                         l10n: L10n, user: User | None, now: datetime) -> None:
        offer = (await state.get_data()).get("menu_offer")
        if offer is None or await state.get_state() is not None:
            # An offer already answered (another of its prompts, or a review begun since): nothing of what the
            # resident is doing now is touched.
            await query.answer(l10n("errors.stale_button"), show_alert=True)
            return
        await query.answer()
        await query.message.edit_reply_markup(reply_markup=None)
        if not callback_data.start:
            await state.set_data({})
            await show_menu(query.message, l10n)
            return
        await begin(step_of(query, state, repo, l10n, user, now), await preset_from(repo, offer), settings=settings)


def register_fallback(fallback: Router, settings: Settings) -> None:
    """Tried after every feature router: what nobody else took while no review is in progress."""

    @fallback.message(StateFilter(None), LeftoverKeyboardButton())
    async def leftover_keyboard(message: Message, l10n: L10n) -> None:
        # A button of a keyboard left over from an earlier conversation: it goes, and the menu is shown.
        await close_reply_keyboard(message, l10n)
        await show_menu(message, l10n)

    # Free text or a photo at the menu: offered as the start of a review instead of a dead end.
    @fallback.message(StateFilter(None), HasText())
    async def text_at_menu(message: Message, state: FSMContext, l10n: L10n, user: User | None) -> None:
        if people.needs_consent(user):
            raise SkipHandler
        offer = await recent_offer(state, message)
        limit = settings.feedback.max_text_chars
        joined = drafts.append_part(offer.get("text") or "", offer.get("last_part"), message.text,
                                    message.date.timestamp(), limit)
        offer = {**offer, "text": joined.text, "at": message.date.timestamp(), "last_part": joined.last_part}
        if message.forward_origin is not None and not joined.refused:
            offer["text_forwarded"] = True  # kept into the review it starts: the office's card says so
        ambulance = ambulance_due(offer, joined.text)
        await state.set_data({"menu_offer": offer})
        if ambulance:
            await message.answer(l10n("ambulance.call_now"))
        if joined.refused:  # the review would refuse it at its description step: said here, where it was sent
            await message.answer(too_long(l10n, joined, limit))
            return
        await message.answer(l10n("menu_offer.prompt"), reply_markup=keyboards.make_start_with_keyboard(l10n))

    @fallback.message(StateFilter(None), HasEvidence())
    async def file_at_menu(message: Message, state: FSMContext, l10n: L10n, user: User | None) -> None:
        evidence = media.evidence_of(message)
        if people.needs_consent(user) or evidence is None:
            raise SkipHandler
        offer = await recent_offer(state, message)
        files = list(offer.get("media") or [])
        same_album = message.media_group_id is not None and offer.get("album") == message.media_group_id
        limit_told = same_album and offer.get("limit_told")
        past_limit = len(files) >= settings.feedback.max_media
        if not past_limit:
            files.append(evidence.as_dict())  # only the reference: the file is downloaded once the review goes on
        await state.set_data({"menu_offer": {**offer, "media": files, "album": message.media_group_id,
                                             "at": message.date.timestamp(), "last_part": None,
                                             "limit_told": bool(limit_told or past_limit)}})
        if past_limit and not limit_told:  # said once, for an album too
            await message.answer(l10n("evidence.limit", limit=settings.feedback.max_media))
        elif not same_album and not past_limit:  # an album is one offer, not one for each of its items
            await message.answer(l10n("menu_offer.prompt"), reply_markup=keyboards.make_start_with_keyboard(l10n))


# Texts and files sent at the menu this close together make one offer (a text Telegram split, an album, a story and
# its photo); after a longer pause a message starts a new one.
OFFER_JOINS_WITHIN_SECONDS = 600


async def recent_offer(state: FSMContext, message: Message) -> dict:
    """The menu offer the message joins: the one not yet answered, unless it is older than a pause."""
    offer = (await state.get_data()).get("menu_offer") or {}
    return offer if 0 <= message.date.timestamp() - offer.get("at", 0) <= OFFER_JOINS_WITHIN_SECONDS else {}


async def ask_cancel(step: Step) -> None:
    draft = await step.draft()
    if drafts.has_content(draft):
        await step.show(cancel_question(step.l10n, draft),
                        keyboards.make_discard_keyboard(step.l10n), new=True)
        return
    await discard(step)


async def discard(step: Step) -> None:
    draft = await step.draft()
    if draft.get("reply_keyboard"):
        await close_reply_keyboard(step.message, step.l10n)
    await step.state.clear()
    await step.show(step.l10n("cancel.done"))
    await show_menu(step.message, step.l10n)


async def go_back(step: Step) -> None:
    draft = drafts.offer_left_behind(await step.draft())
    current = await step.current()
    if current == "criteria":
        # The detailed stars are a detour from the preview: Back asks the criterion before, and from the first returns
        # to the preview as it was, the overall stars kept (not cleared and asked again as the step before).
        answered = dict(draft.get("criteria", {}))
        if answered:
            answered.pop(list(answered)[-1])
            await step.advance({**draft, "criteria": answered})
        else:
            await step.advance({**draft, "criteria_wanted": False, "criteria_done": False})
        return
    previous = drafts.previous_step(draft, current) if current in drafts.STEPS else None
    if previous == "when" or (current == "when"):
        previous = "description"
    if previous == "description":
        draft = {**draft, "description_done": False}
        draft.pop("incident_when", None)
        draft.pop("incident_date", None)
        await step.advance(draft)
        return
    await step.advance(drafts.clear(draft, previous) if previous else draft)
