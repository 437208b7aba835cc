"""Top specialists, the pages of doctors and polyclinics, and the polyclinics nearest to a shared location."""

from __future__ import annotations

from datetime import datetime

from aiogram import Bot, F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject, CommandStart, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.deep_linking import create_start_link

from bot.callbacks import (
    ClinicPageView,
    ClinicSection,
    DoctorPageView,
    MenuAction,
    MenuChoice,
    TopList,
    TopScope,
    TopScopePick,
    TopSpecialtyPage,
)
from bot.config import Settings
from bot.filters import HasLocation, HasText, PrivateChat
from bot.keyboards import address_in, name_in
from bot.l10n import L10n
from bot.rating_keyboards import (
    make_clinic_page_keyboard,
    make_clinic_section_keyboard,
    make_doctor_page_keyboard,
    make_nearest_keyboard,
    make_top_list_keyboard,
    make_top_scope_keyboard,
    make_top_specialties_keyboard,
)
from bot.references import number_after_sign, typed_reference
from bot.services import pages, reviews, search, specialty_words
from bot.states import TopSearch
from handlers.feedback.step import place_of
from handlers.my_reviews import card_by_number
from storage.models import Clinic, Doctor, User
from storage.repositories import Repositories

NEAREST = 5
COMMON_SPECIALTIES = 6
SECTIONS = {ClinicSection.REVIEWS: pages.clinic_reviews, ClinicSection.ANSWERS: pages.clinic_answers}


def page_target(payload: str | None) -> tuple[str, int] | None:
    """("doctor" | "clinic", id) of a `page-doctor-<id>` / `page-clinic-<id>` start payload, else None."""
    parts = (payload or "").split("-")
    if len(parts) != 3 or parts[0] != "page" or parts[1] not in ("doctor", "clinic"):
        return None
    number = reviews.link_number(parts[2])
    return (parts[1], number) if number is not None else None


def top_target(payload: str | None) -> tuple[int, int] | None:
    """(specialty id, district id or 0) of a `page-top-<specialty>[-<district>]` start payload (the website's
    "Open in the bot" on a top list), else None."""
    parts = (payload or "").split("-")
    numbers = [reviews.link_number(part) for part in parts[2:]]
    if len(parts) not in (3, 4) or parts[:2] != ["page", "top"] or None in numbers:
        return None
    return numbers[0], numbers[1] if len(numbers) == 2 else 0


async def show(event: Message | CallbackQuery, parts: list[str], markup: InlineKeyboardMarkup | None, *,
               replace: bool = False) -> None:
    """Replace the pressed message when paging a one-message page; otherwise send the parts, buttons on the last."""
    message = event.message if isinstance(event, CallbackQuery) else event
    if replace and len(parts) == 1 and isinstance(message, Message):
        try:
            await message.edit_text(parts[0], reply_markup=markup)
            return
        except TelegramBadRequest as error:
            if "not modified" in str(error):
                return
            # Too old to edit: the page comes as a new message instead.
    for part in parts[:-1]:
        await message.answer(part)
    await message.answer(parts[-1], reply_markup=markup)


async def active_doctor(repo: Repositories, doctor_id: int) -> Doctor | None:
    doctor = await repo.directory.doctor(doctor_id)
    return doctor if doctor is not None and doctor.active else None


async def active_clinic(repo: Repositories, clinic_id: int) -> Clinic | None:
    clinic = await repo.directory.clinic(clinic_id)
    return clinic if clinic is not None and clinic.active else None


def make_router(settings: Settings) -> Router:
    router = Router(name="top")
    router.message.filter(PrivateChat())
    router.callback_query.filter(PrivateChat())

    async def ordered_specialties(repo: Repositories, l10n: L10n) -> list:
        """The most common specialties first (most doctors), then the rest in the language's alphabetical order."""
        specialties = sorted(await repo.ratings.specialties_with_doctors(),
                             key=lambda specialty: l10n.sort_key(name_in(specialty, l10n.language)))
        counts = await repo.ratings.doctor_counts_by_specialty()
        common = sorted(specialties, key=lambda specialty: -counts.get(specialty.id, 0))[:COMMON_SPECIALTIES]
        return [*common, *(specialty for specialty in specialties if specialty not in common)]

    async def show_specialties(event: Message | CallbackQuery, repo: Repositories, l10n: L10n, page: int,
                               replace: bool, state: FSMContext) -> None:
        specialties = await ordered_specialties(repo, l10n)
        if await state.get_state() is None or await state.get_state() == TopSearch.specialty.state:
            await state.set_state(TopSearch.specialty)  # a typed name then searches the specialties
        await show(event, [l10n("top.choose_specialty")], make_top_specialties_keyboard(l10n, specialties, page),
                   replace=replace)

    @router.message(StateFilter(TopSearch.specialty), HasText())
    async def specialty_typed(message: Message, repo: Repositories, l10n: L10n, user: User | None,
                              now: datetime) -> None:
        if typed_reference(message.text):
            raise SkipHandler  # a reference number, typed to follow a review: My appeals opens its card
        number = number_after_sign(message.text)
        if number and await card_by_number(message, number, repo, user, l10n, settings, now):
            return  # "№ 1": her appeal's number, as at the menu (no specialty is written so)
        # By an official name, by what people call it ("окулист", "көз дәрігері"), by a complaint ("болит колено"),
        # or by a close spelling; what may be an emergency is told to call the ambulance before any doctor is shown.
        finding = specialty_words.read(message.text, await ordered_specialties(repo, l10n))
        if finding.emergency:
            await message.answer(l10n("ambulance.call_now"))
        if not finding.specialties:
            if not finding.emergency:
                await message.answer(l10n("top_search.not_found"))
            return
        await message.answer(l10n("top_search.by_complaint" if finding.from_complaint else "top_search.found"),
                             reply_markup=make_top_specialties_keyboard(l10n, finding.specialties, 0))

    async def show_doctor(event: Message | CallbackQuery, repo: Repositories, l10n: L10n, bot: Bot, doctor: Doctor,
                          page: int, replace: bool) -> None:
        listing = await pages.doctor_page(repo, l10n, settings, doctor, page)
        markup = make_doctor_page_keyboard(l10n, listing, doctor, await create_start_link(bot, f"doctor-{doctor.id}"))
        await show(event, listing.parts, markup, replace=replace)

    async def show_clinic(event: Message | CallbackQuery, repo: Repositories, l10n: L10n, bot: Bot, clinic: Clinic,
                          page: int, replace: bool, pin: bool) -> None:
        message = event.message if isinstance(event, CallbackQuery) else event
        if pin and clinic.latitude is not None and clinic.longitude is not None:
            name = name_in(clinic, l10n.language)
            await message.answer_venue(latitude=clinic.latitude, longitude=clinic.longitude, title=name,
                                       address=address_in(clinic, l10n.language) or name)
        listing = await pages.clinic_overview(repo, l10n, settings, clinic, page)
        feedback_url = await create_start_link(bot, f"clinic-{clinic.id}")
        markup = make_clinic_page_keyboard(l10n, listing, clinic.id, feedback_url)
        await show(event, listing.parts, markup, replace=replace)

    # Pages opened from links: inline results, shared cards. Other start payloads belong to other routers.
    @router.message(CommandStart(deep_link=True))
    async def page_link(message: Message, command: CommandObject, repo: Repositories, l10n: L10n, bot: Bot,
                        state: FSMContext) -> None:
        top = top_target(command.args)
        if top is not None:
            specialty = await repo.directory.specialty(top[0])
            district = await repo.directory.district(top[1]) if top[1] else None
            if specialty is None or (top[1] and district is None):
                await show_specialties(message, repo, l10n, 0, replace=False, state=state)
                return
            listing = await pages.top_list(repo, l10n, settings, specialty, district=district)
            current = TopList(specialty_id=specialty.id, district_id=district.id if district else 0)
            await show(message, listing.parts, make_top_list_keyboard(l10n, listing, current))
            return
        target = page_target(command.args)
        if target is None:
            raise SkipHandler
        kind, number = target
        if kind == "doctor":
            doctor = await active_doctor(repo, number)
            if doctor is None:
                await message.answer(l10n("doctor_page.gone"))
                return
            await show_doctor(message, repo, l10n, bot, doctor, 0, replace=False)
            return
        clinic = await active_clinic(repo, number)
        if clinic is None:
            await message.answer(l10n("clinic_page.gone"))
            return
        await show_clinic(message, repo, l10n, bot, clinic, 0, replace=False, pin=True)

    # Top specialists: a specialty, optionally a district or a clinic, then the list.
    @router.message(Command("top"))
    async def top_command(message: Message, repo: Repositories, l10n: L10n, state: FSMContext) -> None:
        await show_specialties(message, repo, l10n, 0, replace=False, state=state)

    @router.callback_query(MenuChoice.filter(F.action == MenuAction.TOP))
    async def from_menu(query: CallbackQuery, repo: Repositories, l10n: L10n, state: FSMContext) -> None:
        await query.answer()
        await show_specialties(query, repo, l10n, 0, replace=False, state=state)

    @router.callback_query(TopSpecialtyPage.filter())
    async def specialties_page(query: CallbackQuery, callback_data: TopSpecialtyPage, repo: Repositories,
                               l10n: L10n, state: FSMContext) -> None:
        await query.answer()
        await show_specialties(query, repo, l10n, max(callback_data.page, 0), replace=True, state=state)

    @router.callback_query(TopList.filter())
    async def top_list(query: CallbackQuery, callback_data: TopList, repo: Repositories, l10n: L10n) -> None:
        specialty = await repo.directory.specialty(callback_data.specialty_id)
        district = await repo.directory.district(callback_data.district_id) if callback_data.district_id else None
        clinic = await active_clinic(repo, callback_data.clinic_id) if callback_data.clinic_id else None
        if specialty is None or (callback_data.district_id and district is None) or (
                callback_data.clinic_id and clinic is None):
            await query.answer(l10n("errors.stale_button"), show_alert=True)
            return
        await query.answer()
        listing = await pages.top_list(repo, l10n, settings, specialty, district=district, clinic=clinic,
                                       page=callback_data.page)
        await show(query, listing.parts, make_top_list_keyboard(l10n, listing, callback_data), replace=True)

    @router.callback_query(TopScopePick.filter())
    async def scope_pick(query: CallbackQuery, callback_data: TopScopePick, repo: Repositories, l10n: L10n) -> None:
        await query.answer()
        specialty_id = callback_data.specialty_id
        if callback_data.scope == TopScope.DISTRICT:
            places, prompt = await repo.ratings.districts_with_specialty(specialty_id), l10n("top.choose_district")
        else:
            places, prompt = await repo.ratings.clinics_with_specialty(specialty_id), l10n("top.choose_clinic")
        await show(query, [prompt], make_top_scope_keyboard(l10n, callback_data, places), replace=True)

    # Doctor and clinic pages.
    @router.callback_query(DoctorPageView.filter())
    async def doctor_page(query: CallbackQuery, callback_data: DoctorPageView, repo: Repositories, l10n: L10n,
                          bot: Bot) -> None:
        doctor = await active_doctor(repo, callback_data.doctor_id)
        if doctor is None:
            await query.answer(l10n("doctor_page.gone"), show_alert=True)
            return
        await query.answer()
        await show_doctor(query, repo, l10n, bot, doctor, callback_data.page, replace=callback_data.turn)

    @router.callback_query(ClinicPageView.filter())
    async def clinic_page(query: CallbackQuery, callback_data: ClinicPageView, repo: Repositories, l10n: L10n,
                          bot: Bot) -> None:
        clinic = await active_clinic(repo, callback_data.clinic_id)
        if clinic is None:
            await query.answer(l10n("clinic_page.gone"), show_alert=True)
            return
        await query.answer()
        section = callback_data.section
        if section in (ClinicSection.OVERVIEW, ClinicSection.DOCTORS):
            await show_clinic(query, repo, l10n, bot, clinic, callback_data.page, replace=callback_data.turn,
                              pin=section == ClinicSection.OVERVIEW)
            return
        listing = await SECTIONS[section](repo, l10n, settings, clinic, callback_data.page)
        await show(query, listing.parts, make_clinic_section_keyboard(l10n, listing, clinic.id, section),
                   replace=callback_data.turn)

    # A location shared outside any conversation (the feedback form handles its own, in its clinic step).
    @router.message(StateFilter(None, TopSearch.specialty), HasLocation())
    async def nearest(message: Message, repo: Repositories, l10n: L10n) -> None:
        clinics = {clinic.id: clinic for clinic in await repo.directory.active_clinics()}
        found = search.nearest([place_of(clinic) for clinic in clinics.values()], message.location.latitude,
                               message.location.longitude, limit=NEAREST)
        if not found:  # no polyclinic is on the map: a location is then input like any other the bot cannot use
            raise SkipHandler
        stats = await repo.ratings.of_clinics([place.id for place, _ in found])
        listing = pages.nearest_text(l10n, settings, [(clinics[place.id], km, stats.get(place.id))
                                                      for place, km in found])
        await message.answer(listing.parts[0], reply_markup=make_nearest_keyboard(l10n, listing))

    return router
