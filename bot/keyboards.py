"""Inline keyboards built from locale texts."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from functools import lru_cache
from typing import Any

from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)

from bot.callbacks import (
    BehalfPick,
    CategoryPick,
    ClinicPick,
    ConsentAction,
    ConsentChoice,
    DistrictPick,
    DoctorPage,
    DoctorPick,
    EditPick,
    Flow,
    FlowAction,
    IncidentPick,
    KindPick,
    LanguageChoice,
    MenuAction,
    MenuChoice,
    MyReviewOpen,
    MyReviewsPage,
    OnboardAccept,
    SpecialtyPage,
    SpecialtyPick,
    StarsPick,
    StartWith,
    Target,
    TargetPick,
)
from bot.l10n import LANGUAGES, L10n

PAGE_SIZE = 8

# A keyboard that depends on nothing but the language (and constants) is built once per language and shared: aiogram's
# models are frozen, so the same object can go out with every message. The onboarding keyboard took about 0.1 ms to
# build, a newcomer's whole /start by webhook about 2 ms of the bot's time.
per_language = lru_cache(maxsize=128)


def one_per_row(buttons: Iterable[tuple[str, CallbackData]]) -> InlineKeyboardMarkup:
    """One button a row, from (text, callback data) pairs. Built directly rather than with aiogram's
    InlineKeyboardBuilder, which validates each button twice and deep-copies them all in `as_markup`: the five-item
    main menu took 0.34 ms that way (the review flow's whole update costs about 5 ms), 0.04 ms like this."""
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=text, callback_data=data.pack())]
                                                 for text, data in buttons])


@per_language
def make_language_keyboard(l10n: L10n, preselected: str) -> InlineKeyboardMarkup:
    # The language Telegram reports comes first and is marked, so most people just press the top button.
    return one_per_row((("✓ " if code == preselected else "") + l10n(f"language.{code}"), LanguageChoice(code=code))
                       for code in sorted(LANGUAGES, key=lambda code: code != preselected))


@per_language
def make_consent_keyboard(l10n: L10n, version: str) -> InlineKeyboardMarkup:
    return one_per_row([
        (l10n("consent.accept"), ConsentChoice(action=ConsentAction.ACCEPT, version=version)),
        (l10n("consent.decline"), ConsentChoice(action=ConsentAction.DECLINE, version=version)),
    ])


@per_language
def make_onboarding_keyboard(l10n: L10n, version: str) -> InlineKeyboardMarkup:
    """Language and consent on one screen: the other languages redraw it; Agree records both at once."""
    rows = [[
        InlineKeyboardButton(text=("✓ " if code == l10n.language else "") + l10n(f"language.{code}"),
                             callback_data=LanguageChoice(code=code).pack())
        for code in sorted(LANGUAGES, key=lambda code: code != l10n.language)
    ]]
    for accept, key in ((True, "consent.accept"), (False, "consent.decline")):
        data = OnboardAccept(language=l10n.language, version=version, accept=accept)
        rows.append([InlineKeyboardButton(text=l10n(key), callback_data=data.pack())])
    return InlineKeyboardMarkup(inline_keyboard=rows)


MENU_ITEMS = (
    (MenuAction.FEEDBACK, "menu.leave_feedback"),
    (MenuAction.TOP, "menu.top"),
    (MenuAction.MY_REVIEWS, "menu.my_reviews"),
    (MenuAction.RIGHTS, "menu.rights"),
    (MenuAction.LANGUAGE, "menu.language"),
)


@per_language
def make_main_menu(l10n: L10n) -> InlineKeyboardMarkup:
    # One item per row: large targets for elderly residents on small phones.
    return one_per_row((l10n(key), MenuChoice(action=action)) for action, key in MENU_ITEMS)


# --- Leaving feedback ------------------------------------------------------------------------------------


def name_in(entity: Any, language: str) -> str:
    return getattr(entity, f"name_{language}")


def address_in(clinic: Any, language: str) -> str | None:
    """A clinic's address in the reader's language where the directory has it, else the directory's own (Russian)
    one; None when it has neither."""
    return getattr(clinic, f"address_{language}", None) or clinic.address or None


def _nav_row(l10n: L10n, back: bool = True) -> list[InlineKeyboardButton]:
    row = [InlineKeyboardButton(text=l10n("flow.cancel"), callback_data=Flow(action=FlowAction.CANCEL).pack())]
    if back:
        row.insert(0, InlineKeyboardButton(text=l10n("flow.back"), callback_data=Flow(action=FlowAction.BACK).pack()))
    return row


def _column(
    buttons: Sequence[InlineKeyboardButton],
    l10n: L10n,
    *,
    back: bool = True,
    extra_rows: Sequence[Sequence[InlineKeyboardButton]] = (),
) -> InlineKeyboardMarkup:
    rows = [[button] for button in buttons]
    rows += [list(row) for row in extra_rows]
    rows.append(_nav_row(l10n, back))
    return InlineKeyboardMarkup(inline_keyboard=rows)


def _pager(l10n: L10n, page: int, total: int, make: Any) -> list[InlineKeyboardButton]:
    row = []
    if page > 0:
        row.append(InlineKeyboardButton(text=l10n("flow.previous_page"), callback_data=make(page - 1).pack()))
    if (page + 1) * PAGE_SIZE < total:
        row.append(InlineKeyboardButton(text=l10n("flow.next_page"), callback_data=make(page + 1).pack()))
    return row


def page_of(items: Sequence[Any], page: int) -> Sequence[Any]:
    return items[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]


def make_districts_keyboard(l10n: L10n, districts: Sequence[Any]) -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(text=name_in(d, l10n.language), callback_data=DistrictPick(district_id=d.id).pack())
        for d in districts
    ]
    return _column(buttons, l10n, back=False)


def clinic_button(clinic: Any, language: str, suffix: str = "") -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text=name_in(clinic, language) + suffix, callback_data=ClinicPick(clinic_id=clinic.id).pack()
    )


def make_clinics_keyboard(l10n: L10n, clinics: Sequence[Any], district_id: int, page: int) -> InlineKeyboardMarkup:
    buttons = [clinic_button(clinic, l10n.language) for clinic in page_of(clinics, page)]
    pager = _pager(l10n, page, len(clinics), lambda p: DistrictPick(district_id=district_id, page=p))
    districts = [
        InlineKeyboardButton(text=l10n("flow.all_districts"), callback_data=Flow(action=FlowAction.DISTRICTS).pack())
    ]
    return _column(buttons, l10n, back=False, extra_rows=[row for row in (pager, districts) if row])


def make_matches_keyboard(l10n: L10n, buttons: Sequence[InlineKeyboardButton]) -> InlineKeyboardMarkup:
    districts = [
        InlineKeyboardButton(text=l10n("flow.all_districts"), callback_data=Flow(action=FlowAction.DISTRICTS).pack())
    ]
    return _column(buttons, l10n, back=False, extra_rows=[districts])


@per_language
def make_target_keyboard(l10n: L10n) -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(text=l10n(f"target.{target.value}"), callback_data=TargetPick(target=target).pack())
        for target in (Target.DOCTOR, Target.CLINIC, Target.UNKNOWN)
    ]
    # A clinic found from a typed number is taken at once: this is the way to choose another.
    change = [_flow_button(l10n, "target.change_clinic", FlowAction.CHANGE_CLINIC)]
    return _column(buttons, l10n, back=False, extra_rows=[change])


def _flow_button(l10n: L10n, key: str, action: FlowAction, **values: Any) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=l10n(key, **values), callback_data=Flow(action=action).pack())


def make_specialties_keyboard(l10n: L10n, specialties: Sequence[Any], page: int) -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(text=name_in(s, l10n.language), callback_data=SpecialtyPick(specialty_id=s.id).pack())
        for s in page_of(specialties, page)
    ]
    pager = _pager(l10n, page, len(specialties), lambda p: SpecialtyPage(page=p))
    return _column(buttons, l10n, extra_rows=[pager] if pager else [])


def doctor_button(doctor: Any, suffix: str = "") -> InlineKeyboardButton:
    return InlineKeyboardButton(text=doctor.full_name + suffix, callback_data=DoctorPick(doctor_id=doctor.id).pack())


def make_doctors_keyboard(l10n: L10n, doctors: Sequence[Any], specialty_id: int, page: int) -> InlineKeyboardMarkup:
    buttons = [doctor_button(doctor) for doctor in page_of(doctors, page)]
    pager = _pager(l10n, page, len(doctors), lambda p: DoctorPage(specialty_id=specialty_id, page=p))
    return _column(buttons, l10n, extra_rows=[pager] if pager else [])


def make_people_keyboard(l10n: L10n, buttons: Sequence[InlineKeyboardButton]) -> InlineKeyboardMarkup:
    return _column(buttons, l10n)


def make_previous_review_keyboard(l10n: L10n) -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(
            text=l10n("previous.update"), callback_data=Flow(action=FlowAction.UPDATE_PREVIOUS).pack()
        ),
        InlineKeyboardButton(text=l10n("previous.other"), callback_data=Flow(action=FlowAction.OTHER_DOCTOR).pack()),
    ]
    return _column(buttons, l10n, back=False)


def make_kind_keyboard(l10n: L10n, categories: Sequence[str]) -> InlineKeyboardMarkup:
    """Kind and category on one screen: gratitude, a complaint by what happened, or a violation report."""
    rows = [[InlineKeyboardButton(text=l10n("kind.gratitude"), callback_data=KindPick(kind="gratitude",
                                                                                       category="").pack())]]
    rows += [
        [InlineKeyboardButton(text=l10n("kind.complaint_about", category=l10n(f"category.{category}")),
                              callback_data=KindPick(kind="complaint", category=category).pack())]
        for category in categories
    ]
    rows.append([InlineKeyboardButton(text=l10n("kind.violation"),
                                      callback_data=KindPick(kind="violation", category="").pack())])
    rows.append(_nav_row(l10n))
    return InlineKeyboardMarkup(inline_keyboard=rows)


def make_category_keyboard(l10n: L10n, categories: Sequence[str]) -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(text=l10n(f"category.{category}"), callback_data=CategoryPick(category=category).pack())
        for category in categories
    ]
    return _column(buttons, l10n)


def make_stars_keyboard(l10n: L10n, criterion: str, *, skippable: bool) -> InlineKeyboardMarkup:
    stars = [
        InlineKeyboardButton(text=l10n("flow.stars", n=n), callback_data=StarsPick(criterion=criterion, stars=n).pack())
        for n in range(1, 6)
    ]
    rows = [stars]
    if skippable:
        rows.append(
            [
                InlineKeyboardButton(
                    text=l10n("flow.skip"), callback_data=StarsPick(criterion=criterion, stars=0).pack()
                ),
                InlineKeyboardButton(text=l10n("criteria.skip_all"), callback_data=Flow(action=FlowAction.SKIP).pack()),
            ]
        )
    rows.append(_nav_row(l10n))
    return InlineKeyboardMarkup(inline_keyboard=rows)


@per_language
def make_back_cancel_keyboard(l10n: L10n) -> InlineKeyboardMarkup:
    return _column([], l10n)


def make_link_keyboard(text: str, url: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=text, url=url)]])


@per_language
def make_continue_keyboard(l10n: L10n, label_key: str = "flow.continue") -> InlineKeyboardMarkup:
    button = InlineKeyboardButton(text=l10n(label_key), callback_data=Flow(action=FlowAction.CONTINUE).pack())
    return _column([button], l10n)


@per_language
def make_description_keyboard(l10n: L10n, *, reopened: bool) -> InlineKeyboardMarkup:
    """Saying when it happened closes the description (text, voice and files may come first, in any order)."""
    when = [
        InlineKeyboardButton(text=l10n(f"when.{when}"), callback_data=IncidentPick(when=when).pack())
        for when in ("today", "yesterday", "date", "unknown")
    ]
    rows = [when[:2], when[2:]]
    if reopened:
        rows.append([_flow_button(l10n, "description.clear", FlowAction.CLEAR_TEXT)])
    rows.append(_nav_row(l10n))
    return InlineKeyboardMarkup(inline_keyboard=rows)


@per_language
def make_add_text_keyboard(l10n: L10n) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[
        _flow_button(l10n, "description.add", FlowAction.ADD_TEXT),
        _flow_button(l10n, "description.leave_out", FlowAction.DROP_TEXT),
    ]])


@per_language
def make_name_or_text_keyboard(l10n: L10n) -> InlineKeyboardMarkup:
    """Under a text at the preview that may be the appellant's full name: it is, or it goes to the description."""
    return InlineKeyboardMarkup(inline_keyboard=[
        [_flow_button(l10n, "preview.take_name", FlowAction.TAKE_NAME)],
        [_flow_button(l10n, "description.add", FlowAction.ADD_TEXT),
         _flow_button(l10n, "description.leave_out", FlowAction.DROP_TEXT)],
    ])


@per_language
def make_return_keyboard(l10n: L10n) -> InlineKeyboardMarkup:
    """Under a question asked from the preview: back to the preview, or cancel."""
    return InlineKeyboardMarkup(inline_keyboard=[[
        _flow_button(l10n, "flow.back", FlowAction.KEEP), _flow_button(l10n, "flow.cancel", FlowAction.CANCEL)]])


@per_language
def make_behalf_keyboard(l10n: L10n) -> InlineKeyboardMarkup:
    rows = [[InlineKeyboardButton(text=l10n(f"behalf.{who}"), callback_data=BehalfPick(who=who).pack())]
            for who in ("self", "child", "parent", "other")]
    rows += make_return_keyboard(l10n).inline_keyboard
    return InlineKeyboardMarkup(inline_keyboard=rows)


@per_language
def make_phone_keyboard(l10n: L10n) -> ReplyKeyboardMarkup:
    # Back and Cancel here too: a reply keyboard must never be a step without a way out.
    return ReplyKeyboardMarkup(
        keyboard=[
            [KeyboardButton(text=l10n("phone.share"), request_contact=True)],
            [KeyboardButton(text=l10n("flow.back")), KeyboardButton(text=l10n("flow.cancel"))],
        ],
        resize_keyboard=True,
        one_time_keyboard=True,
        is_persistent=False,
    )


EDITABLE = ("clinic", "target", "kind", "rating", "description")


def make_preview_keyboard(l10n: L10n, draft: dict[str, Any]) -> InlineKeyboardMarkup:
    formal = draft.get("kind") in ("complaint", "violation")
    rows = [[InlineKeyboardButton(text=l10n("preview.submit"), callback_data=Flow(action=FlowAction.SUBMIT).pack())]]
    mark = "☑️" if draft.get("show_name") else "⬜"
    rows.append([_flow_button(l10n, "preview.toggle_name", FlowAction.SHOW_NAME, mark=mark)])
    if formal:
        name_key = "preview.change_name" if draft.get("appellant_name") else "preview.enter_name"
        row = [_flow_button(l10n, name_key, FlowAction.NAME)]
        if draft.get("appellant_name"):
            row.append(_flow_button(l10n, "preview.clear_name", FlowAction.CLEAR_NAME))
        rows.append(row)
        rows.append([_flow_button(l10n, "preview.edit_behalf", FlowAction.BEHALF),
                     _flow_button(l10n, "preview.edit_outcome", FlowAction.OUTCOME)])
    starred = draft.get("kind") != "violation"  # a violation report asks for no stars
    if starred and not draft.get("criteria_done"):
        rows.append([_flow_button(l10n, "preview.rate_details", FlowAction.CRITERIA)])
    edits = [
        InlineKeyboardButton(text=l10n(f"preview.edit_{step}"), callback_data=EditPick(step=step).pack())
        for step in EDITABLE if starred or step != "rating"
    ]
    rows += [edits[i : i + 3] for i in range(0, len(edits), 3)]
    rows.append([InlineKeyboardButton(text=l10n("flow.cancel"), callback_data=Flow(action=FlowAction.CANCEL).pack())])
    return InlineKeyboardMarkup(inline_keyboard=rows)


@per_language
def make_unfinished_keyboard(l10n: L10n) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[
        [_flow_button(l10n, "unfinished.resume", FlowAction.RESUME)],
        [_flow_button(l10n, "unfinished.start_over", FlowAction.START_OVER)],
    ])


@per_language
def make_discard_keyboard(l10n: L10n) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[
        [_flow_button(l10n, "cancel.keep", FlowAction.KEEP)],
        [_flow_button(l10n, "cancel.discard", FlowAction.DISCARD)],
    ])


@per_language
def make_start_with_keyboard(l10n: L10n) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text=l10n("menu_offer.start"), callback_data=StartWith(start=True).pack())],
        [InlineKeyboardButton(text=l10n("menu_offer.menu"), callback_data=StartWith(start=False).pack())],
    ])


def make_my_reviews_keyboard(l10n: L10n, reviews: Sequence[Any], page: int, total: int,
                             answered: Collection[int] = ()) -> InlineKeyboardMarkup:
    """A button for each review, marked when its polyclinic's answer reached the resident (`answered`: their ids)."""
    rows = [
        [
            InlineKeyboardButton(
                text=l10n("my.list_item_answered" if review.id in answered else "my.list_item",
                          reference=review.reference, status=l10n(f"status.{review.status}")),
                callback_data=MyReviewOpen(review_id=review.id, page=page).pack(),
            )
        ]
        for review in reviews
    ]
    pager = _pager(l10n, page, total, lambda p: MyReviewsPage(page=p))
    if pager:
        rows.append(pager)
    rows.append(make_home_row(l10n))
    return InlineKeyboardMarkup(inline_keyboard=rows)


def make_home_row(l10n: L10n) -> list[InlineKeyboardButton]:
    """Every screen has a way back to the main menu."""
    return [InlineKeyboardButton(text=l10n("menu.home"), callback_data=MenuChoice(action=MenuAction.HOME).pack())]


@per_language
def make_home_keyboard(l10n: L10n) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[make_home_row(l10n)])


def make_back_to_list_keyboard(l10n: L10n, page: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=l10n("my.back_to_list"), callback_data=MyReviewsPage(page=page).pack())],
            make_home_row(l10n),
        ]
    )
