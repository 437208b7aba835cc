"""Step 1, the polyclinic: typed (a unique match is taken at once), by district, or the nearest to a location."""

from __future__ import annotations

from datetime import datetime

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot import keyboards
from bot.callbacks import ClinicPick, DistrictPick, Flow, FlowAction
from bot.config import Settings
from bot.filters import HasLocation, HasText
from bot.keyboards import address_in, clinic_button, name_in
from bot.l10n import L10n
from bot.services import drafts, search
from bot.services.directory_index import DirectoryIndex
from bot.states import ReviewForm
from handlers.feedback.description import too_long
from handlers.feedback.step import ask_clinic, place_of, step_maker
from storage.models import User
from storage.repositories import Repositories


def unique_match(matches: list[tuple[search.Place, float]]) -> search.Place | None:
    """The one clinic a query means: the only match, or an exact one clearly ahead of the rest."""
    if len(matches) == 1:
        return matches[0][0]
    if len(matches) > 1 and matches[0][1] >= 0.999 and matches[1][1] < matches[0][1] - 0.05:
        return matches[0][0]
    return None


def register(private: Router, settings: Settings) -> None:
    step_of = step_maker(settings)

    @private.callback_query(Flow.filter(F.action == FlowAction.DISTRICTS), StateFilter(ReviewForm.clinic))
    async def districts_again(query: CallbackQuery, state: FSMContext, repo: Repositories, l10n: L10n,
                              user: User | None, now: datetime) -> None:
        await query.answer()
        await ask_clinic(step_of(query, state, repo, l10n, user, now), {})

    @private.callback_query(DistrictPick.filter(), StateFilter(ReviewForm.clinic))
    async def district_chosen(query: CallbackQuery, callback_data: DistrictPick, state: FSMContext,
                              repo: Repositories, l10n: L10n, user: User | None, now: datetime) -> None:
        district = await repo.directory.district(callback_data.district_id)
        clinics = await repo.directory.active_clinics(callback_data.district_id)
        if district is None or not clinics:
            await query.answer(l10n("errors.stale_button"), show_alert=True)
            return
        await query.answer()
        step = step_of(query, state, repo, l10n, user, now)
        await step.show(l10n("clinic.in_district", district=name_in(district, l10n.language)),
                        keyboards.make_clinics_keyboard(l10n, clinics, district.id, callback_data.page))

    @private.message(StateFilter(ReviewForm.clinic), HasText())
    async def clinic_typed(message: Message, state: FSMContext, repo: Repositories, l10n: L10n,
                           user: User | None, directory_index: DirectoryIndex, now: datetime) -> None:
        # The index is built once per directory version and shared with inline mode (not rebuilt per message).
        directory = await directory_index.current(repo)
        matches = directory.index.places(message.text)
        step = step_of(message, state, repo, l10n, user, now)
        draft = await step.draft()
        story = draft.get("clinic_story") or ""
        sent_at = message.date.timestamp()
        if message.text not in story and (len(message.text.split()) >= drafts.STORY_WORDS
                                          or drafts.continues_split(draft.get("clinic_story_part"), sent_at)):
            # "Я вчера была в 17 поликлинике у терапевта, она накричала": the story is the start of the description
            # (shown at that step, where it can be cleared), whatever the search makes of it. Kept aside until the
            # polyclinic is chosen: the stories sent here join (a long one Telegram split, as it was cut), one
            # typed again is kept once, and the limit counts what is already written.
            written = draft.get("text") or ""
            room = settings.feedback.max_text_chars - (len(written) + 2 if written else 0)
            joined = drafts.append_part(story, draft.get("clinic_story_part"), message.text, sent_at, room)
            draft = {**draft, "clinic_story": joined.text, "clinic_story_part": joined.last_part}
            await step.save(draft)
            if joined.refused:
                await message.answer(too_long(l10n, joined, room))
                return
        if not matches:
            await message.answer(l10n("clinic.not_found"))
            return
        if (place := unique_match(matches)) is not None:
            # One action fewer: the next step shows the address and a button to choose another.
            await step.advance(drafts.with_clinic(draft, place.id))
            return
        by_id = directory.clinics
        buttons = [clinic_button(by_id[place.id], l10n.language, _address_suffix(by_id[place.id], l10n))
                   for place, _ in matches]
        await message.answer(l10n("clinic.matches"), reply_markup=keyboards.make_matches_keyboard(l10n, buttons))

    @private.message(StateFilter(ReviewForm.clinic), HasLocation())
    async def clinic_near(message: Message, state: FSMContext, repo: Repositories, l10n: L10n) -> None:
        clinics = await repo.directory.active_clinics()
        nearest = search.nearest([place_of(clinic) for clinic in clinics],
                                 message.location.latitude, message.location.longitude, limit=5)
        by_id = {clinic.id: clinic for clinic in clinics}
        buttons = [clinic_button(by_id[place.id], l10n.language, l10n("clinic.distance", km=l10n.number(km, 1)))
                   for place, km in nearest]
        await message.answer(l10n("clinic.nearest"), reply_markup=keyboards.make_matches_keyboard(l10n, buttons))

    @private.callback_query(ClinicPick.filter(), StateFilter(ReviewForm.clinic))
    async def clinic_chosen(query: CallbackQuery, callback_data: ClinicPick, state: FSMContext,
                            repo: Repositories, l10n: L10n, user: User | None, now: datetime) -> None:
        clinic = await repo.directory.clinic(callback_data.clinic_id)
        if clinic is None or not clinic.active:
            await query.answer(l10n("errors.stale_button"), show_alert=True)
            return
        await query.answer()
        step = step_of(query, state, repo, l10n, user, now)
        await step.advance(drafts.with_clinic(await step.draft(), clinic.id))

    @private.callback_query(Flow.filter(F.action == FlowAction.CHANGE_CLINIC), StateFilter(ReviewForm.target))
    async def another_clinic(query: CallbackQuery, state: FSMContext, repo: Repositories, l10n: L10n,
                             user: User | None, now: datetime) -> None:
        await query.answer()
        step = step_of(query, state, repo, l10n, user, now)
        await step.advance(drafts.clear(await step.draft(), "clinic"))


def _address_suffix(clinic, l10n: L10n) -> str:
    # Two clinics on one street ("тулеби") are told apart by their addresses.
    address = address_in(clinic, l10n.language)
    return l10n("clinic.button_address", address=address) if address else ""
