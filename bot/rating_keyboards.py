"""Inline keyboards of top lists, doctor and clinic pages, the nearest polyclinics and inline-mode cards."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

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
from bot.keyboards import PAGE_SIZE, name_in, page_of
from bot.l10n import L10n
from bot.services.pages import Listing

Rows = list[list[InlineKeyboardButton]]


def _button(text: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def _pager(l10n: L10n, page: int, pages: int, make: Callable[[int], CallbackData], *,
           previous: str = "pages.previous", following: str = "pages.next") -> Rows:
    row = []
    if page > 0:
        row.append(_button(l10n(previous), make(page - 1)))
    if page + 1 < pages:
        row.append(_button(l10n(following), make(page + 1)))
    return [row] if row else []


def home_row(l10n: L10n) -> list[InlineKeyboardButton]:
    """Every screen has a way back to the main menu."""
    return [_button(l10n("menu.home"), MenuChoice(action=MenuAction.HOME))]


def _pages(total: int) -> int:
    return max(1, -(-total // PAGE_SIZE))


def make_top_specialties_keyboard(l10n: L10n, specialties: Sequence[Any], page: int) -> InlineKeyboardMarkup:
    rows = [[_button(name_in(specialty, l10n.language), TopList(specialty_id=specialty.id))]
            for specialty in page_of(specialties, page)]
    rows += _pager(l10n, page, _pages(len(specialties)), lambda p: TopSpecialtyPage(page=p))
    rows.append(home_row(l10n))
    return InlineKeyboardMarkup(inline_keyboard=rows)


def make_top_list_keyboard(l10n: L10n, listing: Listing, current: TopList) -> InlineKeyboardMarkup:
    rows = [[_button(label, DoctorPageView(doctor_id=doctor_id))] for label, doctor_id in listing.links]
    rows += _pager(l10n, listing.page, listing.pages, lambda p: current.model_copy(update={"page": p}))
    scope = [_button(l10n("top.by_district"), TopScopePick(specialty_id=current.specialty_id, scope=TopScope.DISTRICT)),
             _button(l10n("top.by_clinic"), TopScopePick(specialty_id=current.specialty_id, scope=TopScope.CLINIC))]
    rows.append(scope)
    if current.district_id or current.clinic_id:
        rows.append([_button(l10n("top.whole_city_button"), TopList(specialty_id=current.specialty_id))])
    rows.append([_button(l10n("top.other_specialty"), TopSpecialtyPage(page=0))])
    rows.append(home_row(l10n))
    return InlineKeyboardMarkup(inline_keyboard=rows)


def make_top_scope_keyboard(l10n: L10n, choice: TopScopePick, places: Sequence[Any]) -> InlineKeyboardMarkup:
    """Districts or clinics, PAGE_SIZE per page, each narrowing the specialty's top list."""
    def narrowed(place: Any) -> TopList:
        if choice.scope == TopScope.DISTRICT:
            return TopList(specialty_id=choice.specialty_id, district_id=place.id)
        return TopList(specialty_id=choice.specialty_id, clinic_id=place.id)

    rows = [[_button(name_in(place, l10n.language), narrowed(place))] for place in page_of(places, choice.page)]
    rows += _pager(l10n, choice.page, _pages(len(places)), lambda p: choice.model_copy(update={"page": p}))
    rows.append([_button(l10n("top.back_to_list"), TopList(specialty_id=choice.specialty_id))])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def make_doctor_page_keyboard(l10n: L10n, listing: Listing, doctor: Any, feedback_url: str) -> InlineKeyboardMarkup:
    rows = _pager(l10n, listing.page, listing.pages, lambda p: DoctorPageView(doctor_id=doctor.id, page=p, turn=True),
                  previous="doctor_page.newer", following="doctor_page.older")
    rows.append([InlineKeyboardButton(text=l10n("doctor_page.leave_feedback"), url=feedback_url)])
    rows.append([_button(l10n("doctor_page.clinic_button"), ClinicPageView(clinic_id=doctor.clinic_id))])
    rows.append(home_row(l10n))
    return InlineKeyboardMarkup(inline_keyboard=rows)


def make_clinic_page_keyboard(l10n: L10n, listing: Listing, clinic_id: int, feedback_url: str) -> InlineKeyboardMarkup:
    rows = [[_button(label, DoctorPageView(doctor_id=doctor_id))] for label, doctor_id in listing.links]
    rows += _pager(l10n, listing.page, listing.pages,
                   lambda p: ClinicPageView(clinic_id=clinic_id, section=ClinicSection.DOCTORS, page=p, turn=True))
    rows.append([_button(l10n("clinic_page.reviews_button", count=l10n.number(listing.extra["reviews"], 0)),
                         ClinicPageView(clinic_id=clinic_id, section=ClinicSection.REVIEWS))])
    rows.append([_button(l10n("clinic_page.answers_button", count=l10n.number(listing.extra["answers"], 0)),
                         ClinicPageView(clinic_id=clinic_id, section=ClinicSection.ANSWERS))])
    rows.append([InlineKeyboardButton(text=l10n("clinic_page.leave_feedback"), url=feedback_url)])
    rows.append(home_row(l10n))
    return InlineKeyboardMarkup(inline_keyboard=rows)


def make_clinic_section_keyboard(l10n: L10n, listing: Listing, clinic_id: int,
                                 section: ClinicSection) -> InlineKeyboardMarkup:
    rows = _pager(l10n, listing.page, listing.pages,
                  lambda p: ClinicPageView(clinic_id=clinic_id, section=section, page=p, turn=True))
    back = ClinicPageView(clinic_id=clinic_id, section=ClinicSection.DOCTORS, turn=True)
    rows.append([_button(l10n("clinic_page.back"), back)])
    rows.append(home_row(l10n))
    return InlineKeyboardMarkup(inline_keyboard=rows)


def make_nearest_keyboard(l10n: L10n, listing: Listing) -> InlineKeyboardMarkup:
    # The way back to the menu too: a location sent at the menu must not end in a screen without one.
    return InlineKeyboardMarkup(inline_keyboard=[*([_button(label, ClinicPageView(clinic_id=clinic_id))]
                                                   for label, clinic_id in listing.links), home_row(l10n)])


def make_inline_card_keyboard(l10n: L10n, page_url: str, feedback_url: str) -> InlineKeyboardMarkup:
    # URL buttons: a card posted in any chat opens the bot's private chat at the page or at the feedback form.
    return InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text=l10n("inline.open_page"), url=page_url)],
        [InlineKeyboardButton(text=l10n("inline.leave_feedback"), url=feedback_url)],
    ])
