"""What a resident writes to a review the idle rule just gave back (a side conversation left for a day ended,
handlers/side_conversation.py): held, and the resident asked to continue that review or start over, as every
other way back into an unfinished review asks. Continue adds it to the old review's description; Start over
begins the new one with it. A day later the text is not an answer to the step the review was left at."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from aiogram import Router
from aiogram.filters import Filter, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import Message

from bot import keyboards
from bot.config import Settings
from bot.filters import HasEvidence, HasText, LeftoverKeyboardButton
from bot.l10n import L10n
from bot.services import drafts, media, search
from bot.states import ReviewForm
from handlers.feedback.description import ambulance_due, tell_captions_left_out, too_long
from handlers.feedback.place import unique_match
from handlers.feedback.step import Step, place_of
from handlers.side_conversation import REVIEW_BACK_AFTER_IDLE, offer_unfinished
from storage.repositories import Repositories

# Messages this close after the held one join it (a text Telegram split, a story and its photo) until the resident
# decides; later ones are the review's again.
HELD_JOINS_WITHIN_SECONDS = 600


class HeldForUnfinished(Filter):
    """The first message after the idle rule gave a review back, or one following it closely before the resident
    decided (commands and a leftover keyboard's buttons are theirs)."""

    async def __call__(self, message: Message, state: FSMContext, **data: Any) -> bool:
        if (message.text or "").startswith("/"):
            return False
        if data.get(REVIEW_BACK_AFTER_IDLE):
            return True
        held = (await state.get_data()).get("held")
        return bool(held) and 0 <= message.date.timestamp() - held.get("at", 0) <= HELD_JOINS_WITHIN_SECONDS


def register(private: Router, settings: Settings) -> None:
    """Registered before every step's handlers: a held message is answered by none of them."""
    held_here = (StateFilter(ReviewForm), HeldForUnfinished(), ~LeftoverKeyboardButton())

    @private.message(*held_here, HasText())
    async def text_held(message: Message, state: FSMContext, l10n: L10n) -> None:
        held = (await state.get_data()).get("held") or {}
        limit = settings.feedback.max_text_chars
        joined = drafts.append_part(held.get("text") or "", held.get("last_part"), message.text,
                                    message.date.timestamp(), limit)
        held = {**held, "text": joined.text, "last_part": joined.last_part, "at": message.date.timestamp()}
        ambulance = ambulance_due(held, joined.text)
        await state.update_data(held=held)
        if ambulance:
            await message.answer(l10n("ambulance.call_now"))
        if joined.refused:
            await message.answer(too_long(l10n, joined, limit))
        elif joined.parts == 1:  # the rest of a text Telegram split is not asked about again
            await offer_unfinished(message, l10n, holding="text")

    @private.message(*held_here, HasEvidence())
    async def file_held(message: Message, state: FSMContext, l10n: L10n) -> None:
        held = (await state.get_data()).get("held") or {}
        files = list(held.get("media") or [])
        same_album = message.media_group_id is not None and held.get("album") == message.media_group_id
        if len(files) < settings.feedback.max_media:
            files.append(media.evidence_of(message).as_dict())  # the reference; downloaded once the review goes on
        await state.update_data(held={**held, "media": files, "album": message.media_group_id,
                                      "at": message.date.timestamp(), "last_part": None})
        if not same_album:
            worded = held.get("text") or any(item.get("caption") for item in files)
            await offer_unfinished(message, l10n, holding="text" if worded else "files")


async def add_held(step: Step, held: dict[str, Any]) -> None:
    """Continue: what was held joins the old review's description (its files, as many as fit, their captions as
    the description step takes them); a text that would pass the limit is said to, and not added, and so is a
    caption that does not fit."""
    draft = await step.draft()
    limit = step.settings.feedback.max_text_chars
    room = max(0, step.settings.feedback.max_media - len(draft.get("media", [])))
    draft, left_out = drafts.files_joined(draft, list(held.get("media") or [])[:room], limit)
    if held.get("text"):
        combined = drafts.join_parts(draft.get("text") or "", held["text"], together=False)
        if len(combined) > limit:
            await step.message.answer(step.l10n("description.too_long_added", length=len(combined), limit=limit))
        else:
            draft["text"] = combined
            draft.pop("text_from_captions", None)
    if not draft.get("text") or draft.get("text_from_captions"):  # once she typed, the captions are the files' own
        await tell_captions_left_out(step.message, step.l10n, left_out)
    await step.save(draft)
    await step.message.answer(step.l10n("description.added"))


async def preset_from(repo: Repositories, offer: dict[str, Any]) -> drafts.Draft:
    """A new review begun with what the resident wrote or sent before it (at the menu, or held): its words name a
    polyclinic alone ("…the therapist at polyclinic 17"), it is taken (and can be changed)."""
    preset = {key: value for key, value in offer.items() if key in ("text", "text_forwarded", "media", "told_ambulance")
              and value}
    if preset.get("text"):
        clinics = await repo.directory.active_clinics()
        place = unique_match(search.find_places(preset["text"], [place_of(clinic) for clinic in clinics]))
        if place is not None:
            preset["clinic_id"] = place.id
    return preset


async def held_or_offered(state: FSMContext, message: Message, l10n: L10n, text: str,
                          at: float) -> Callable[[], Awaitable[Any]]:
    """A text from a side conversation that turned out not to belong to it ("no, it is about something else"),
    the conversation just ended: held for a review given back (continue or start over), else offered as a new
    review, as a text typed at the menu is. Returns the question, to be sent after the commit."""
    if await state.get_state() is not None:
        await state.update_data(held={"text": text, "at": at})
        return partial(offer_unfinished, message, l10n, holding="text")
    await state.set_data({"menu_offer": {"text": text, "at": at}})
    return partial(message.answer, l10n("menu_offer.prompt"), reply_markup=keyboards.make_start_with_keyboard(l10n))
