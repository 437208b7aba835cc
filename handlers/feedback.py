"""Leaving feedback: the resident's conversation from polyclinic to a stored review with its evidence."""

from __future__ import annotations

import html
import logging
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from aiogram import Bot, F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.filters import Command, CommandObject, CommandStart, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message, ReplyKeyboardRemove
from aiogram.utils.deep_linking import create_start_link

from bot.callbacks import (
    CategoryPick,
    ClinicPick,
    DistrictPick,
    DoctorPage,
    DoctorPick,
    EditPick,
    Flow,
    FlowAction,
    KindPick,
    MenuAction,
    MenuChoice,
    SpecialtyPage,
    SpecialtyPick,
    StarsPick,
    Target,
    TargetPick,
)
from bot.config import Settings
from bot.filters import GroupChat, HasContact, HasEvidence, HasLocation, HasText, HasVoice, PrivateChat
from bot.keyboards import (
    EDITABLE,
    clinic_button,
    doctor_button,
    make_back_cancel_keyboard,
    make_category_keyboard,
    make_clinics_keyboard,
    make_continue_keyboard,
    make_districts_keyboard,
    make_doctors_keyboard,
    make_kind_keyboard,
    make_link_keyboard,
    make_matches_keyboard,
    make_people_keyboard,
    make_phone_keyboard,
    make_preview_keyboard,
    make_previous_review_keyboard,
    make_specialties_keyboard,
    make_stars_keyboard,
    make_target_keyboard,
    make_visibility_keyboard,
    name_in,
)
from bot.l10n import L10n
from bot.services import drafts, media, people, reviews, search
from bot.services.directory_index import DirectoryIndex
from bot.states import ReviewForm, state_of
from bot.unit_of_work import AfterCommit
from handlers.start import show_consent, show_menu
from storage.models import Clinic, Doctor, Specialty, User
from storage.repositories import Repositories

log = logging.getLogger(__name__)

PREVIEW_TEXT_CHARS = 1500  # the preview shows the start of a long text; the whole text is kept


class Step:
    """What a step handler needs to talk to the resident and move the draft on."""

    def __init__(self, event: Message | CallbackQuery, state: FSMContext, repo: Repositories, l10n: L10n,
                 settings: Settings, user: User | None) -> None:
        self.event, self.state, self.repo, self.l10n, self.settings, self.user = (
            event, state, repo, l10n, settings, user)

    @property
    def message(self) -> Message:
        return self.event.message if isinstance(self.event, CallbackQuery) else self.event

    async def show(self, text: str, markup: Any = None) -> None:
        """Edit the message whose button was pressed (one tidy message per step), else send a new one."""
        if isinstance(self.event, CallbackQuery) and (markup is None or isinstance(markup, InlineKeyboardMarkup)):
            try:
                await self.event.message.edit_text(text, reply_markup=markup)
                return
            except TelegramBadRequest as error:
                if "not modified" in str(error):
                    return
                # Too old to edit, or a media message: fall through to a new message.
        await self.message.answer(text, reply_markup=markup)

    async def draft(self) -> drafts.Draft:
        return (await self.state.get_data()).get("draft", {})

    async def save(self, draft: drafts.Draft) -> None:
        await self.state.update_data(draft=draft)

    async def advance(self, draft: drafts.Draft) -> None:
        """Save the draft and ask the first step it still lacks."""
        await self.save(draft)
        step = drafts.next_step(draft)
        await self.state.set_state(state_of(step))
        await ASK[step](self, draft)


# --- Asking each step ------------------------------------------------------------------------------------


async def ask_clinic(step: Step, draft: drafts.Draft) -> None:
    districts = await step.repo.directory.districts()
    await step.show(step.l10n("clinic.prompt"), make_districts_keyboard(step.l10n, districts))


async def clinic_label(step: Step, draft: drafts.Draft) -> str:
    clinic = await step.repo.directory.clinic(draft["clinic_id"])
    return html.escape(name_in(clinic, step.l10n.language))


async def ask_target(step: Step, draft: drafts.Draft) -> None:
    text = step.l10n("target.prompt", clinic=await clinic_label(step, draft))
    await step.show(text, make_target_keyboard(step.l10n))


async def ask_specialty(step: Step, draft: drafts.Draft, page: int = 0) -> None:
    specialties = await step.repo.directory.specialties_in_clinic(draft["clinic_id"])
    key = "target.specialty_unknown_doctor" if draft.get("target") == Target.UNKNOWN else "target.specialty_prompt"
    await step.show(step.l10n(key), make_specialties_keyboard(step.l10n, specialties, page))


async def ask_kind(step: Step, draft: drafts.Draft) -> None:
    await step.show(step.l10n("kind.prompt"), make_kind_keyboard(step.l10n))


async def ask_category(step: Step, draft: drafts.Draft) -> None:
    await step.show(step.l10n("category.prompt"), make_category_keyboard(step.l10n, step.settings.feedback.categories))


async def ask_rating(step: Step, draft: drafts.Draft) -> None:
    await step.show(step.l10n("rating.prompt"), make_stars_keyboard(step.l10n, "overall", skippable=False))


async def ask_criteria(step: Step, draft: drafts.Draft) -> None:
    answered = draft.get("criteria", {})
    criterion = next(name for name in drafts.CRITERIA if name not in answered)
    text = step.l10n("criteria.prompt", criterion=step.l10n(f"criteria.{criterion}"),
                     number=drafts.CRITERIA.index(criterion) + 1, total=len(drafts.CRITERIA))
    await step.show(text, make_stars_keyboard(step.l10n, criterion, skippable=True))


async def ask_description(step: Step, draft: drafts.Draft) -> None:
    text = step.l10n("description.prompt", limit=step.settings.feedback.max_text_chars)
    if draft.get("text") or draft.get("voice"):
        # Reopened by Back or Edit: show what is kept, so nothing has to be typed twice.
        text += "\n\n" + step.l10n("description.current", text=_excerpt(draft.get("text") or "—"),
                                   voice=step.l10n("common.yes" if draft.get("voice") else "common.no"))
        await step.show(text, make_continue_keyboard(step.l10n, "description.keep"))
    else:
        await step.show(text, make_back_cancel_keyboard(step.l10n))


async def ask_evidence(step: Step, draft: drafts.Draft) -> None:
    count = len(draft.get("media", []))
    text = step.l10n("evidence.prompt", limit=step.settings.feedback.max_media)
    if count:
        text += "\n\n" + step.l10n("evidence.count", count=count)
    await step.show(text, make_continue_keyboard(step.l10n, "evidence.done" if count else "evidence.none"))


async def ask_visibility(step: Step, draft: drafts.Draft) -> None:
    first_name = html.escape(step.event.from_user.first_name or "")
    await step.show(step.l10n("visibility.prompt"), make_visibility_keyboard(step.l10n, first_name))


async def ask_phone(step: Step, draft: drafts.Draft) -> None:
    # A contact button lives only on a reply keyboard, so this step is always a new message.
    await step.message.answer(step.l10n("phone.prompt"), reply_markup=make_phone_keyboard(step.l10n))


async def ask_preview(step: Step, draft: drafts.Draft) -> None:
    await step.show(await preview_text(step, draft), make_preview_keyboard(step.l10n))


ASK = {
    "clinic": ask_clinic, "target": ask_target, "kind": ask_kind, "category": ask_category, "rating": ask_rating,
    "criteria": ask_criteria, "description": ask_description, "evidence": ask_evidence,
    "visibility": ask_visibility, "phone": ask_phone, "preview": ask_preview,
}


def _excerpt(text: str, limit: int = PREVIEW_TEXT_CHARS) -> str:
    short = text if len(text) <= limit else text[:limit].rstrip() + "…"
    return html.escape(short)


async def preview_text(step: Step, draft: drafts.Draft) -> str:
    l10n, directory = step.l10n, step.repo.directory
    lines = [l10n("preview.title"), "", l10n("preview.clinic", value=await clinic_label(step, draft))]
    if draft.get("doctor_id"):
        doctor = await directory.doctor(draft["doctor_id"])
        lines.append(l10n("preview.doctor", value=html.escape(doctor.full_name)))
    elif draft.get("specialty_id"):
        specialty = await directory.specialty(draft["specialty_id"])
        lines.append(l10n("preview.specialty", value=name_in(specialty, l10n.language)))
    else:
        lines.append(l10n("preview.doctor", value=l10n("target.clinic")))
    kind = l10n(f"kind.{draft['kind']}")
    if draft.get("category"):
        kind += " · " + l10n(f"category.{draft['category']}")
    lines.append(l10n("preview.kind", value=kind))
    lines.append(l10n("preview.rating", value=l10n("flow.stars", n=draft["rating"])))
    for name, stars in draft.get("criteria", {}).items():
        if stars:
            lines.append(l10n("preview.criterion", name=l10n(f"criteria.{name}"), value=l10n("flow.stars", n=stars)))
    lines.append(l10n("preview.text", value=_excerpt(draft.get("text") or "—")))
    if draft.get("voice"):
        lines.append(l10n("preview.voice"))
    lines.append(l10n("preview.evidence", count=len(draft.get("media", []))))
    visibility = l10n("visibility.anonymous") if draft.get("anonymous") else l10n(
        "visibility.named", name=html.escape(step.event.from_user.first_name or ""))
    lines.append(l10n("preview.visibility", value=visibility))
    if drafts.is_formal_appeal(draft):
        lines.append(l10n("preview.phone_shared" if draft.get("phone_shared") else "preview.phone_not_shared"))
    return "\n".join(lines)


def place_of(clinic: Clinic) -> search.Place:
    return search.Place(clinic.id, clinic.number, (clinic.name_kk, clinic.name_ru, clinic.name_en), clinic.address,
                        clinic.latitude, clinic.longitude)


def person_of(doctor: Doctor, specialty: Specialty) -> search.Person:
    # Searching within one clinic: its number is not part of what people type here.
    return search.Person(doctor.id, doctor.full_name, (specialty.name_kk, specialty.name_ru, specialty.name_en),
                         None, doctor.clinic_id)


# --- The router ------------------------------------------------------------------------------------------


def make_router(settings: Settings) -> Router:
    router = Router(name="feedback")
    private = Router(name="feedback-private")
    private.message.filter(PrivateChat())
    private.callback_query.filter(PrivateChat())
    router.include_router(private)
    in_flow = StateFilter(ReviewForm)

    def step_of(event: Message | CallbackQuery, state: FSMContext, repo: Repositories, l10n: L10n,
                user: User | None) -> Step:
        return Step(event, state, repo, l10n, settings, user)

    async def begin(step: Step, now: datetime, preset: drafts.Draft | None = None) -> None:
        """Start (or restart) a review, after checking consent and the daily limit."""
        if people.needs_consent(step.user):
            await step.message.answer(step.l10n("consent.required"))
            await show_consent(step.message, step.l10n)
            return
        limit = settings.feedback.daily_limit
        if await reviews.submitted_today(step.repo, step.user, now, settings.zone) >= limit:
            await step.message.answer(step.l10n("limits.daily", limit=limit))
            return
        await step.state.set_data({})
        preset = dict(preset or {})
        if preset.get("doctor_id"):
            # A link to a doctor gets the same "update your earlier review?" offer as choosing them.
            await with_doctor(step, {"clinic_id": preset["clinic_id"]}, preset["doctor_id"], now)
        else:
            await step.advance(preset)

    async def with_doctor(step: Step, draft: drafts.Draft, doctor_id: int, now: datetime) -> None:
        """Put the doctor in the draft; one review per doctor per window, so an earlier one is offered for update."""
        doctor = await step.repo.directory.doctor(doctor_id)
        draft = {**draft, "target": Target.DOCTOR.value, "doctor_id": doctor.id, "specialty_id": doctor.specialty_id}
        previous = await reviews.previous_of_doctor(step.repo, step.user, doctor.id, now,
                                                    settings.feedback.same_doctor_days)
        if previous is None:
            await step.advance(draft)
            return
        await step.save({**draft, "pending_previous": previous.id})
        await step.state.set_state(ReviewForm.target)
        l10n = step.l10n
        await step.show(l10n("previous.found", reference=previous.reference,
                             date=previous.created_at.astimezone(settings.zone).strftime("%d.%m.%Y"),
                             days=settings.feedback.same_doctor_days),
                        make_previous_review_keyboard(l10n))

    # Entry points: the menu button, /review, and deep links from groups, inline results and doctor pages.
    @private.callback_query(MenuChoice.filter(F.action == MenuAction.FEEDBACK))
    async def from_menu(query: CallbackQuery, state: FSMContext, repo: Repositories, l10n: L10n,
                        user: User | None, now: datetime) -> None:
        await query.answer()
        await begin(step_of(query, state, repo, l10n, user), now)

    @private.message(Command("review"))
    async def review_command(message: Message, state: FSMContext, repo: Repositories, l10n: L10n,
                             user: User | None, now: datetime) -> None:
        await begin(step_of(message, state, repo, l10n, user), now)

    @private.message(CommandStart(deep_link=True))
    async def deep_link(message: Message, command: CommandObject, state: FSMContext, repo: Repositories,
                        l10n: L10n, user: User | None, now: datetime) -> None:
        preset = await reviews.preset_from_link(repo, command.args or "")
        if preset is None or user is None or user.language is None:
            # Unknown payload, or a newcomer who must choose a language first: plain /start handles it.
            raise SkipHandler
        await begin(step_of(message, state, repo, l10n, user), now, preset)

    @router.message(Command("review"), GroupChat())
    async def review_in_group(message: Message, bot: Bot, l10n: L10n) -> None:
        # Nothing personal is collected in a group: the button opens the private chat.
        link = await create_start_link(bot, "review")
        await message.answer(l10n("group.review_prompt"), reply_markup=make_link_keyboard(l10n("group.open_private"),
                                                                                          link))

    # Navigation inside the flow.
    @private.callback_query(Flow.filter(F.action == FlowAction.CANCEL), in_flow)
    async def cancel(query: CallbackQuery, state: FSMContext, l10n: L10n) -> None:
        await state.clear()
        await query.answer()
        await query.message.edit_text(l10n("cancel.done"))
        await show_menu(query.message, l10n)

    @private.callback_query(Flow.filter(F.action == FlowAction.BACK), in_flow)
    async def back(query: CallbackQuery, state: FSMContext, repo: Repositories, l10n: L10n,
                   user: User | None) -> None:
        await query.answer()
        step = step_of(query, state, repo, l10n, user)
        draft = await step.draft()
        current = (await state.get_state() or "").split(":")[-1]
        previous = drafts.previous_step(draft, current) if current in drafts.STEPS else None
        await step.advance(drafts.clear(draft, previous) if previous else draft)

    @private.callback_query(EditPick.filter(F.step.in_(EDITABLE)), StateFilter(ReviewForm.preview))
    async def edit_part(query: CallbackQuery, callback_data: EditPick, state: FSMContext, repo: Repositories,
                        l10n: L10n, user: User | None) -> None:
        await query.answer()
        step = step_of(query, state, repo, l10n, user)
        await step.advance(drafts.clear(await step.draft(), callback_data.step))

    # Step 1: the polyclinic.
    @private.callback_query(Flow.filter(F.action == FlowAction.DISTRICTS),
                            StateFilter(ReviewForm.clinic))
    async def districts_again(query: CallbackQuery, state: FSMContext, repo: Repositories, l10n: L10n,
                              user: User | None) -> None:
        await query.answer()
        await ask_clinic(step_of(query, state, repo, l10n, user), {})

    @private.callback_query(DistrictPick.filter(), StateFilter(ReviewForm.clinic))
    async def district_chosen(query: CallbackQuery, callback_data: DistrictPick, state: FSMContext,
                              repo: Repositories, l10n: L10n, user: User | None) -> None:
        district = await repo.directory.district(callback_data.district_id)
        clinics = await repo.directory.active_clinics(callback_data.district_id)
        if district is None or not clinics:
            await query.answer(l10n("errors.stale_button"), show_alert=True)
            return
        await query.answer()
        step = step_of(query, state, repo, l10n, user)
        await step.show(l10n("clinic.in_district", district=name_in(district, l10n.language)),
                        make_clinics_keyboard(l10n, clinics, district.id, callback_data.page))

    @private.message(StateFilter(ReviewForm.clinic), HasText())
    async def clinic_typed(message: Message, state: FSMContext, repo: Repositories, l10n: L10n,
                           user: User | None, directory_index: DirectoryIndex) -> None:
        directory = await directory_index.current(repo)
        matches = directory.index.places(message.text)
        if not matches:
            await message.answer(l10n("clinic.not_found"))
            return
        buttons = [clinic_button(directory.clinics[place.id], l10n.language) for place, _ in matches]
        await message.answer(l10n("clinic.matches"), reply_markup=make_matches_keyboard(l10n, buttons))

    @private.message(StateFilter(ReviewForm.clinic), HasLocation())
    async def clinic_near(message: Message, state: FSMContext, repo: Repositories, l10n: L10n) -> None:
        clinics = await repo.directory.active_clinics()
        nearest = search.nearest([place_of(clinic) for clinic in clinics],
                                 message.location.latitude, message.location.longitude, limit=5)
        by_id = {clinic.id: clinic for clinic in clinics}
        buttons = [clinic_button(by_id[place.id], l10n.language, l10n("clinic.distance", km=f"{km:.1f}"))
                   for place, km in nearest]
        await message.answer(l10n("clinic.nearest"), reply_markup=make_matches_keyboard(l10n, buttons))

    @private.callback_query(ClinicPick.filter(), StateFilter(ReviewForm.clinic))
    async def clinic_chosen(query: CallbackQuery, callback_data: ClinicPick, state: FSMContext,
                            repo: Repositories, l10n: L10n, user: User | None) -> None:
        clinic = await repo.directory.clinic(callback_data.clinic_id)
        if clinic is None or not clinic.active:
            await query.answer(l10n("errors.stale_button"), show_alert=True)
            return
        await query.answer()
        step = step_of(query, state, repo, l10n, user)
        await step.advance({**await step.draft(), "clinic_id": clinic.id})

    # Step 2: whom it concerns.
    @private.callback_query(TargetPick.filter(), StateFilter(ReviewForm.target))
    async def target_chosen(query: CallbackQuery, callback_data: TargetPick, state: FSMContext,
                            repo: Repositories, l10n: L10n, user: User | None) -> None:
        await query.answer()
        step = step_of(query, state, repo, l10n, user)
        draft = {**drafts.clear(await step.draft(), "target"), "target": callback_data.target.value}
        if callback_data.target == Target.CLINIC:
            await step.advance(draft)
            return
        await step.save(draft)
        await ask_specialty(step, draft)

    @private.callback_query(SpecialtyPage.filter(), StateFilter(ReviewForm.target))
    async def specialty_page(query: CallbackQuery, callback_data: SpecialtyPage, state: FSMContext,
                             repo: Repositories, l10n: L10n, user: User | None) -> None:
        await query.answer()
        step = step_of(query, state, repo, l10n, user)
        await ask_specialty(step, await step.draft(), max(callback_data.page, 0))

    @private.callback_query(SpecialtyPick.filter(), StateFilter(ReviewForm.target))
    async def specialty_chosen(query: CallbackQuery, callback_data: SpecialtyPick, state: FSMContext,
                               repo: Repositories, l10n: L10n, user: User | None) -> None:
        step = step_of(query, state, repo, l10n, user)
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
                        make_doctors_keyboard(step.l10n, doctors, specialty_id, max(page, 0)))

    @private.callback_query(DoctorPage.filter(), StateFilter(ReviewForm.target))
    async def doctor_page(query: CallbackQuery, callback_data: DoctorPage, state: FSMContext,
                          repo: Repositories, l10n: L10n, user: User | None) -> None:
        await query.answer()
        step = step_of(query, state, repo, l10n, user)
        await show_doctors(step, await step.draft(), callback_data.specialty_id, callback_data.page)

    @private.message(StateFilter(ReviewForm.target), HasText())
    async def doctor_typed(message: Message, state: FSMContext, repo: Repositories, l10n: L10n,
                           user: User | None) -> None:
        step = step_of(message, state, repo, l10n, user)
        draft = await step.draft()
        doctors = await repo.directory.doctors_in_clinic(draft["clinic_id"])
        specialties = {s.id: s for s in await repo.directory.specialties_in_clinic(draft["clinic_id"])}
        found = search.find_people(message.text, [person_of(d, specialties[d.specialty_id]) for d in doctors])
        if not found:
            await message.answer(l10n("target.doctor_not_found"))
            return
        await step.save({**drafts.clear(draft, "target"), "target": Target.DOCTOR.value})
        by_id = {doctor.id: doctor for doctor in doctors}
        buttons = [doctor_button(by_id[person.id], " · " + name_in(specialties[by_id[person.id].specialty_id],
                                                                   l10n.language)) for person, _ in found]
        await message.answer(l10n("target.doctor_matches"), reply_markup=make_people_keyboard(l10n, buttons))

    @private.callback_query(DoctorPick.filter(), StateFilter(ReviewForm.target))
    async def doctor_chosen(query: CallbackQuery, callback_data: DoctorPick, state: FSMContext,
                            repo: Repositories, l10n: L10n, user: User | None, now: datetime) -> None:
        step = step_of(query, state, repo, l10n, user)
        draft = await step.draft()
        doctor = await repo.directory.doctor(callback_data.doctor_id)
        if doctor is None or not doctor.active or doctor.clinic_id != draft.get("clinic_id"):
            await query.answer(l10n("errors.stale_button"), show_alert=True)
            return
        await query.answer()
        await with_doctor(step, draft, doctor.id, now)

    @private.callback_query(Flow.filter(F.action.in_({FlowAction.UPDATE_PREVIOUS, FlowAction.OTHER_DOCTOR})),
                            StateFilter(ReviewForm.target))
    async def previous_decided(query: CallbackQuery, callback_data: Flow, state: FSMContext, repo: Repositories,
                               l10n: L10n, user: User | None) -> None:
        step = step_of(query, state, repo, l10n, user)
        draft = await step.draft()
        previous_id = draft.pop("pending_previous", None)
        if previous_id is None:
            await query.answer(l10n("errors.stale_button"), show_alert=True)
            return
        await query.answer()
        if callback_data.action == FlowAction.UPDATE_PREVIOUS:
            await step.advance({**draft, "supersedes_id": previous_id})
        else:
            await step.advance(drafts.clear(draft, "target"))

    # Step 3: kind and category.
    @private.callback_query(KindPick.filter(F.kind.in_(drafts.KINDS)), StateFilter(ReviewForm.kind))
    async def kind_chosen(query: CallbackQuery, callback_data: KindPick, state: FSMContext, repo: Repositories,
                          l10n: L10n, user: User | None) -> None:
        await query.answer()
        step = step_of(query, state, repo, l10n, user)
        await step.advance({**drafts.clear(await step.draft(), "kind"), "kind": callback_data.kind})

    @private.callback_query(CategoryPick.filter(F.category.in_(settings.feedback.categories)),
                            StateFilter(ReviewForm.category))
    async def category_chosen(query: CallbackQuery, callback_data: CategoryPick, state: FSMContext,
                              repo: Repositories, l10n: L10n, user: User | None) -> None:
        await query.answer()
        step = step_of(query, state, repo, l10n, user)
        await step.advance({**await step.draft(), "category": callback_data.category})

    # Step 4: stars, overall then the optional criteria.
    @private.callback_query(StarsPick.filter((F.criterion == "overall") & F.stars.in_(range(1, 6))),
                            StateFilter(ReviewForm.rating))
    async def rating_chosen(query: CallbackQuery, callback_data: StarsPick, state: FSMContext, repo: Repositories,
                            l10n: L10n, user: User | None) -> None:
        await query.answer()
        step = step_of(query, state, repo, l10n, user)
        await step.advance({**await step.draft(), "rating": callback_data.stars})

    @private.message(StateFilter(ReviewForm.rating), HasText())
    async def rating_typed(message: Message, state: FSMContext, repo: Repositories, l10n: L10n,
                           user: User | None) -> None:
        step = step_of(message, state, repo, l10n, user)
        digits = message.text.strip().rstrip("⭐*")
        if digits in {"1", "2", "3", "4", "5"}:
            await step.advance({**await step.draft(), "rating": int(digits)})
        else:
            await hint(step)

    @private.callback_query(StarsPick.filter(F.criterion.in_(drafts.CRITERIA) & F.stars.in_(range(6))),
                            StateFilter(ReviewForm.criteria))
    async def criterion_chosen(query: CallbackQuery, callback_data: StarsPick, state: FSMContext,
                               repo: Repositories, l10n: L10n, user: User | None) -> None:
        step = step_of(query, state, repo, l10n, user)
        draft = await step.draft()
        answered = dict(draft.get("criteria", {}))
        expected = next((name for name in drafts.CRITERIA if name not in answered), None)
        if callback_data.criterion != expected:
            await query.answer(l10n("errors.stale_button"), show_alert=True)
            return
        await query.answer()
        answered[expected] = callback_data.stars or None
        done = len(answered) == len(drafts.CRITERIA)
        await step.advance({**draft, "criteria": answered, "criteria_done": done})

    @private.callback_query(Flow.filter(F.action == FlowAction.SKIP), StateFilter(ReviewForm.criteria))
    async def criteria_skipped(query: CallbackQuery, state: FSMContext, repo: Repositories, l10n: L10n,
                               user: User | None) -> None:
        await query.answer()
        step = step_of(query, state, repo, l10n, user)
        await step.advance({**await step.draft(), "criteria_done": True})

    # Step 5: the description, as text or voice.
    @private.message(StateFilter(ReviewForm.description), HasText())
    async def description_typed(message: Message, state: FSMContext, repo: Repositories, l10n: L10n,
                                user: User | None) -> None:
        step = step_of(message, state, repo, l10n, user)
        limit = settings.feedback.max_text_chars
        draft = await step.draft()
        if len(message.text) > limit:
            # Kept in the draft and shown back, so the resident shortens it instead of typing it again.
            await step.save({**draft, "too_long_text": message.text})
            await message.answer(l10n("description.too_long", length=len(message.text), limit=limit))
            return
        draft.pop("too_long_text", None)
        await step.advance({**draft, "text": message.text, "description_done": True})

    @private.message(StateFilter(ReviewForm.description), HasVoice())
    async def description_spoken(message: Message, state: FSMContext, repo: Repositories, l10n: L10n,
                                 user: User | None, bot: Bot) -> None:
        step = step_of(message, state, repo, l10n, user)
        evidence = await receive(bot, message, settings, l10n)
        if evidence is None:
            return
        draft = {**await step.draft(), "voice": evidence.as_dict()}
        await step.save(draft)
        await message.answer(l10n("description.voice_saved"), reply_markup=make_continue_keyboard(l10n))

    @private.callback_query(Flow.filter(F.action == FlowAction.CONTINUE),
                            StateFilter(ReviewForm.description))
    async def description_kept(query: CallbackQuery, state: FSMContext, repo: Repositories, l10n: L10n,
                               user: User | None) -> None:
        step = step_of(query, state, repo, l10n, user)
        draft = await step.draft()
        if not (draft.get("text") or draft.get("voice")):
            await query.answer(l10n("description.required"), show_alert=True)
            return
        await query.answer()
        await step.advance({**draft, "description_done": True})

    # Step 6: evidence, one by one or as albums.
    @private.message(StateFilter(ReviewForm.evidence), HasEvidence())
    async def evidence_sent(message: Message, state: FSMContext, repo: Repositories, l10n: L10n,
                            user: User | None, bot: Bot) -> None:
        step = step_of(message, state, repo, l10n, user)
        draft = await step.draft()
        items = list(draft.get("media", []))
        if len(items) >= settings.feedback.max_media:
            if draft.get("album", {}).get("id") != message.media_group_id or not message.media_group_id:
                await message.answer(l10n("evidence.limit", limit=settings.feedback.max_media))
            return
        evidence = await receive(bot, message, settings, l10n)
        if evidence is None:
            return
        items.append(evidence.as_dict())
        draft = {**draft, "media": items}
        album = draft.get("album") or {}
        text = l10n("evidence.received", count=len(items), limit=settings.feedback.max_media)
        markup = make_continue_keyboard(l10n, "evidence.done")
        if message.media_group_id and album.get("id") == message.media_group_id:
            # The same album: update its one acknowledgement instead of answering every item.
            try:
                await message.bot.edit_message_text(text, chat_id=message.chat.id, message_id=album["message_id"],
                                                    reply_markup=markup)
            except TelegramBadRequest:
                log.info("album acknowledgement %s could not be edited", album.get("message_id"))
        else:
            sent = await message.answer(text, reply_markup=markup)
            draft["album"] = {"id": message.media_group_id, "message_id": sent.message_id}
        await step.save(draft)

    @private.callback_query(Flow.filter(F.action == FlowAction.CONTINUE),
                            StateFilter(ReviewForm.evidence))
    async def evidence_done(query: CallbackQuery, state: FSMContext, repo: Repositories, l10n: L10n,
                            user: User | None) -> None:
        await query.answer()
        step = step_of(query, state, repo, l10n, user)
        draft = await step.draft()
        draft.pop("album", None)
        await step.advance({**draft, "evidence_done": True})

    # Step 7: visibility and, for formal appeals, the phone number.
    @private.callback_query(Flow.filter(F.action.in_({FlowAction.NAMED, FlowAction.ANONYMOUS})),
                            StateFilter(ReviewForm.visibility))
    async def visibility_chosen(query: CallbackQuery, callback_data: Flow, state: FSMContext, repo: Repositories,
                                l10n: L10n, user: User | None) -> None:
        await query.answer()
        step = step_of(query, state, repo, l10n, user)
        await step.advance({**await step.draft(), "anonymous": callback_data.action == FlowAction.ANONYMOUS})

    @private.message(StateFilter(ReviewForm.phone), HasContact())
    async def phone_shared(message: Message, state: FSMContext, repo: Repositories, l10n: L10n,
                           user: User | None, now: datetime) -> None:
        if message.contact.user_id != message.from_user.id:
            await message.answer(l10n("phone.not_yours"))
            return
        step = step_of(message, state, repo, l10n, user)
        await reviews.remember_phone(repo, user, message.contact.phone_number, now)
        await message.answer(l10n("phone.thanks"), reply_markup=ReplyKeyboardRemove())
        await step.advance({**await step.draft(), "phone_shared": True, "phone_done": True})

    @private.message(StateFilter(ReviewForm.phone), HasText())
    async def phone_skipped(message: Message, state: FSMContext, repo: Repositories, l10n: L10n,
                            user: User | None) -> None:
        step = step_of(message, state, repo, l10n, user)
        if message.text.strip() != l10n("phone.skip"):
            await hint(step)
            return
        await message.answer(l10n("phone.skipped"), reply_markup=ReplyKeyboardRemove())
        await step.advance({**await step.draft(), "phone_shared": False, "phone_done": True})

    # Step 8: preview and submit.
    @private.callback_query(Flow.filter(F.action == FlowAction.SUBMIT), StateFilter(ReviewForm.preview))
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
        # The reference number is a promise: it goes out only once the review holding it is committed.
        after_commit(partial(query.message.answer, reviews.receipt(result, l10n, settings.zone)))
        after_commit(partial(show_menu, query.message, l10n))

    return router


def make_fallback_router(settings: Settings) -> Router:
    """Tried after the command routers, so /cancel, /help and /start still work in the middle of a review."""
    router = Router(name="feedback-fallback")
    router.message.filter(PrivateChat())
    router.edited_message.filter(PrivateChat())
    in_flow = StateFilter(ReviewForm)

    def step_of(event: Message, state: FSMContext, repo: Repositories, l10n: L10n, user: User | None) -> Step:
        return Step(event, state, repo, l10n, settings, user)

    # Anything else while a review is in progress: a hint, and the step stays where it was.
    @router.message(in_flow)
    async def unexpected(message: Message, state: FSMContext, repo: Repositories, l10n: L10n,
                         user: User | None) -> None:
        await hint(step_of(message, state, repo, l10n, user))

    @router.edited_message(in_flow)
    async def edited(message: Message, state: FSMContext, repo: Repositories, l10n: L10n,
                     user: User | None) -> None:
        await message.answer(l10n("flow.edit_not_applied"))

    return router


async def hint(step: Step) -> None:
    """A short hint for the current step, then the step again, so its buttons are right under the hint."""
    current = (await step.state.get_state() or "").split(":")[-1]
    await step.message.answer(step.l10n(f"hint.{current}"))
    draft = await step.draft()
    if current in ASK and current != "phone":
        await ASK[current](Step(step.message, step.state, step.repo, step.l10n, step.settings, step.user), draft)


async def receive(bot: Bot, message: Message, settings: Settings, l10n: L10n) -> media.Evidence | None:
    """Check the file against the download limit and keep a copy in the media store."""
    evidence = media.evidence_of(message)
    limit_mb = settings.telegram.max_download_mb
    if evidence is None:
        return None
    if evidence.size is not None and evidence.size > limit_mb * 1024 * 1024:
        await message.answer(l10n("evidence.too_big", limit=limit_mb))
        return None
    try:
        await media.store(bot, evidence, Path(settings.media.dir))
    except TelegramBadRequest as error:
        if "too big" in str(error).lower():
            await message.answer(l10n("evidence.too_big", limit=limit_mb))
            return None
        raise
    except (TelegramAPIError, OSError):
        # Kept by file_id; the copy is fetched again before the review is stored.
        log.warning("evidence %s not downloaded yet", evidence.file_unique_id, exc_info=True)
    return evidence


async def fetch_missing_evidence(bot: Bot, draft: drafts.Draft, media_dir: Path) -> None:
    for item in [*draft.get("media", []), *([draft["voice"]] if draft.get("voice") else [])]:
        if item.get("sha256") is None:
            try:
                stored = await media.store(bot, media.Evidence(**item), media_dir)
                item.update(stored.as_dict())
            except (TelegramAPIError, OSError):
                log.warning("evidence %s still not downloaded", item.get("file_unique_id"), exc_info=True)
