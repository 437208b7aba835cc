"""Step 2, whom it concerns: a doctor (by specialty or typed surname), the polyclinic in general, or a specialty."""

from __future__ import annotations

from datetime import datetime

from aiogram import Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot import keyboards
from bot.callbacks import DoctorPage, DoctorPick, SpecialtyPage, SpecialtyPick, Target, TargetPick
from bot.config import Settings
from bot.filters import HasText
from bot.keyboards import doctor_button, name_in
from bot.l10n import L10n
from bot.services import drafts, search
from bot.states import ReviewForm
from handlers.feedback.description import kept_story
from handlers.feedback.kind import asked_about_previous
from handlers.feedback.step import Step, ask_specialty, ask_target, person_of, step_maker
from storage.models import User
from storage.repositories import Repositories


def register(private: Router, settings: Settings) -> None:
    step_of = step_maker(settings)

    @private.callback_query(TargetPick.filter(), StateFilter(ReviewForm.target))
    async def target_chosen(query: CallbackQuery, callback_data: TargetPick, state: FSMContext,
                            repo: Repositories, l10n: L10n, user: User | None, now: datetime) -> None:
        await query.answer()
        step = step_of(query, state, repo, l10n, user, now)
        draft = {**drafts.clear(await step.draft(), "target"), "target": callback_data.target.value}
        if callback_data.target == Target.CLINIC:
            await step.advance(draft)
            return
        await step.save(draft)
        await ask_specialty(step, draft)

    @private.callback_query(SpecialtyPage.filter(), StateFilter(ReviewForm.target))
    async def specialty_page(query: CallbackQuery, callback_data: SpecialtyPage, state: FSMContext,
                             repo: Repositories, l10n: L10n, user: User | None, now: datetime) -> None:
        await query.answer()
        step = step_of(query, state, repo, l10n, user, now)
        await ask_specialty(step, await step.draft(), max(callback_data.page, 0))

    @private.callback_query(SpecialtyPick.filter(), StateFilter(ReviewForm.target))
    async def specialty_chosen(query: CallbackQuery, callback_data: SpecialtyPick, state: FSMContext,
                               repo: Repositories, l10n: L10n, user: User | None, now: datetime) -> None:
        step = step_of(query, state, repo, l10n, user, now)
        draft = await step.draft()
        specialties = {s.id for s in await repo.directory.specialties_in_clinic(draft.get("clinic_id", -1))}
        if callback_data.specialty_id not in specialties or draft.get("target") not in (Target.DOCTOR, Target.UNKNOWN):
            await query.answer(l10n("errors.stale_button"), show_alert=True)
            return
        await query.answer()
        if draft["target"] == Target.UNKNOWN:
            await step.advance({**draft, "specialty_id": callback_data.specialty_id})
            return
        await show_doctors(step, draft, callback_data.specialty_id, 0)

    async def show_doctors(step: Step, draft: drafts.Draft, specialty_id: int, page: int) -> None:
        doctors = await step.repo.directory.doctors_in_clinic(draft["clinic_id"], specialty_id)
        await step.show(step.l10n("target.doctor_prompt"),
                        keyboards.make_doctors_keyboard(step.l10n, doctors, specialty_id, max(page, 0)))

    @private.callback_query(DoctorPage.filter(), StateFilter(ReviewForm.target))
    async def doctor_page(query: CallbackQuery, callback_data: DoctorPage, state: FSMContext,
                          repo: Repositories, l10n: L10n, user: User | None, now: datetime) -> None:
        await query.answer()
        step = step_of(query, state, repo, l10n, user, now)
        await show_doctors(step, await step.draft(), callback_data.specialty_id, callback_data.page)

    @private.message(StateFilter(ReviewForm.target), HasText())
    async def doctor_typed(message: Message, state: FSMContext, repo: Repositories, l10n: L10n,
                           user: User | None, now: datetime) -> None:
        step = step_of(message, state, repo, l10n, user, now)
        draft = await step.draft()
        doctors = await repo.directory.doctors_in_clinic(draft["clinic_id"])
        specialties = {s.id: s for s in await repo.directory.specialties_in_clinic(draft["clinic_id"])}
        found = search.find_people(message.text, [person_of(d, specialties[d.specialty_id]) for d in doctors])
        if await kept_story(step, message):  # "I am writing for my mother...": the description's start
            draft = await step.draft()
            if not found:
                await ask_target(step.anew(), draft)
                return
        elif not found:
            await message.answer(l10n("target.doctor_not_found"))
            return
        await step.save({**drafts.clear(draft, "target"), "target": Target.DOCTOR.value})
        by_id = {doctor.id: doctor for doctor in doctors}
        buttons = [doctor_button(by_id[person.id], " · " + name_in(specialties[by_id[person.id].specialty_id],
                                                                   l10n.language)) for person, _ in found]
        await message.answer(l10n("target.doctor_matches"), reply_markup=keyboards.make_people_keyboard(l10n, buttons))

    @private.callback_query(DoctorPick.filter(), StateFilter(ReviewForm.target))
    async def doctor_chosen(query: CallbackQuery, callback_data: DoctorPick, state: FSMContext,
                            repo: Repositories, l10n: L10n, user: User | None, now: datetime) -> None:
        step = step_of(query, state, repo, l10n, user, now)
        draft = await step.draft()
        doctor = await repo.directory.doctor(callback_data.doctor_id)
        if doctor is None or not doctor.active or doctor.clinic_id != draft.get("clinic_id"):
            await query.answer(l10n("errors.stale_button"), show_alert=True)
            return
        await query.answer()
        draft = {**draft, "target": Target.DOCTOR.value, "doctor_id": doctor.id, "specialty_id": doctor.specialty_id}
        # Another doctor chosen from the preview keeps the kind: a thank-you is then asked about an earlier one to
        # this doctor, as when the kind is chosen.
        if not await asked_about_previous(step, draft):
            await step.advance(draft)
