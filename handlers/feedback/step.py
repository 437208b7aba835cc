"""What every step of the resident's conversation shares: the draft, asking a step, the preview, hints."""

from __future__ import annotations

import html
import logging
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Filter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message, ReplyKeyboardRemove

from bot import keyboards
from bot.config import Settings
from bot.keyboards import address_in, name_in
from bot.l10n import L10n
from bot.services import drafts, search
from bot.services.names import as_full_name
from bot.states import ReviewForm, state_of
from storage.models import Clinic, Doctor, Specialty, User
from storage.repositories import Repositories

log = logging.getLogger(__name__)

PREVIEW_TEXT_CHARS = 1500  # the preview shows the start of a long text; the whole text is kept
PREVIEW_CAPTION_CHARS = 200
COMMON_SPECIALTIES = 6


# The FSM data key holding the id of the message a review in progress began at.
SINCE_MESSAGE = "since_message"
# The FSM data key holding the day "Today" and "Yesterday" were last shown (ISO): pressed on another day, they are
# asked again rather than taken to mean the day of the press.
WHEN_ASKED_ON = "when_asked_on"


class FromThisReview(Filter):
    """A button of the review in progress, not one left under a message from before it began: last week's review,
    sent, left "Today" and "Cancel" under its messages, which would otherwise date or discard this week's. The
    menu's buttons, and the offer of a text sent at the menu, outlive a review and are let through."""

    async def __call__(self, query: CallbackQuery, state: FSMContext) -> bool:
        if query.message is None or (query.data or "").startswith(("menu:", "fsw:")):
            return True
        if not (await state.get_state() or "").startswith(ReviewForm.__name__):
            return True
        since = (await state.get_data()).get(SINCE_MESSAGE)
        return since is None or query.message.message_id >= since


class Step:
    """What a step handler needs to talk to the resident and move the draft on; `now` is the update's moment."""

    def __init__(self, event: Message | CallbackQuery, state: FSMContext, repo: Repositories, l10n: L10n,
                 settings: Settings, user: User | None, now: datetime) -> None:
        self.event, self.state, self.repo, self.l10n, self.settings, self.user, self.now = (
            event, state, repo, l10n, settings, user, now)

    @property
    def today(self) -> date:
        return self.now.astimezone(self.settings.zone).date()

    def anew(self) -> Step:
        """The same step answering with new messages (after a detour such as a confirmation or a hint)."""
        return Step(self.message, self.state, self.repo, self.l10n, self.settings, self.user, self.now)

    @property
    def message(self) -> Message:
        return self.event.message if isinstance(self.event, CallbackQuery) else self.event

    async def show(self, text: str, markup: Any = None, *, new: bool = False) -> None:
        """Edit the message whose button was pressed (one tidy message per step), else send a new one."""
        if not new and isinstance(self.event, CallbackQuery) and (
                markup is None or isinstance(markup, InlineKeyboardMarkup)):
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

    async def current(self) -> str:
        return (await self.state.get_state() or "").split(":")[-1]

    async def advance(self, draft: drafts.Draft) -> None:
        """Save the draft and ask the first step it still lacks."""
        step = drafts.next_step(draft)
        if step != "preview" and draft.get("reply_keyboard"):
            # The phone keyboard belongs to the preview: it must not linger under another step.
            await close_reply_keyboard(self.message, self.l10n)
            draft = {**draft, "reply_keyboard": False}
        await self.save(draft)
        await self.state.set_state(state_of(step))
        await ASK[step](self, draft)


async def close_reply_keyboard(message: Message, l10n: L10n) -> None:
    """Remove a reply keyboard: only a new message can, so one is sent and deleted at once."""
    sent = await message.answer(l10n("flow.keyboard_closed"), reply_markup=ReplyKeyboardRemove())
    try:
        await sent.delete()
    except TelegramBadRequest:
        log.info("keyboard-closing message %s could not be deleted", sent.message_id)


# --- Asking each step ------------------------------------------------------------------------------------


async def ask_clinic(step: Step, draft: drafts.Draft) -> None:
    districts = sorted(await step.repo.directory.districts(),
                       key=lambda district: step.l10n.sort_key(name_in(district, step.l10n.language)))
    await step.show(step.l10n("clinic.prompt"), keyboards.make_districts_keyboard(step.l10n, districts))


async def clinic_label(step: Step, draft: drafts.Draft, *, with_address: bool = False) -> str:
    clinic = await step.repo.directory.clinic(draft["clinic_id"])
    label = html.escape(name_in(clinic, step.l10n.language))
    if with_address and (address := address_in(clinic, step.l10n.language)):
        label += step.l10n("clinic.address", address=html.escape(address))
    return label


async def subject_label(step: Step, draft: drafts.Draft) -> str:
    """Whom the review is about, as the kind step and a deep link name it."""
    clinic = await clinic_label(step, draft)
    if draft.get("doctor_id"):
        doctor = await step.repo.directory.doctor(draft["doctor_id"])
        return step.l10n("kind.subject_doctor", doctor=html.escape(doctor.full_name), clinic=clinic)
    if draft.get("specialty_id"):
        specialty = await step.repo.directory.specialty(draft["specialty_id"])
        return step.l10n("kind.subject_specialty", specialty=name_in(specialty, step.l10n.language), clinic=clinic)
    return clinic


async def ask_target(step: Step, draft: drafts.Draft) -> None:
    text = step.l10n("target.prompt", clinic=await clinic_label(step, draft, with_address=True))
    await step.show(text, keyboards.make_target_keyboard(step.l10n))


async def ask_specialty(step: Step, draft: drafts.Draft, page: int = 0) -> None:
    # The most common specialties of this clinic first (most doctors), then the rest in alphabetical order.
    specialties = sorted(await step.repo.directory.specialties_in_clinic(draft["clinic_id"]),
                         key=lambda specialty: step.l10n.sort_key(name_in(specialty, step.l10n.language)))
    doctors = Counter(doctor.specialty_id for doctor in await step.repo.directory.doctors_in_clinic(draft["clinic_id"]))
    common = sorted(specialties, key=lambda specialty: -doctors[specialty.id])[:COMMON_SPECIALTIES]
    specialties = [*common, *(specialty for specialty in specialties if specialty not in common)]
    key = "target.specialty_unknown_doctor" if draft.get("target") == "unknown" else "target.specialty_prompt"
    await step.show(step.l10n(key), keyboards.make_specialties_keyboard(step.l10n, specialties, page))


async def ask_kind(step: Step, draft: drafts.Draft) -> None:
    text = step.l10n("kind.prompt_about", subject=await subject_label(step, draft))
    await step.show(text, keyboards.make_kind_keyboard(step.l10n, step.settings.feedback.categories))


async def ask_category(step: Step, draft: drafts.Draft) -> None:
    await step.show(step.l10n("category.prompt"),
                    keyboards.make_category_keyboard(step.l10n, step.settings.feedback.categories))


async def ask_rating(step: Step, draft: drafts.Draft) -> None:
    await step.show(step.l10n("rating.prompt"), keyboards.make_stars_keyboard(step.l10n, "overall", skippable=False))


async def ask_criteria(step: Step, draft: drafts.Draft) -> None:
    answered = draft.get("criteria", {})
    criterion = next(name for name in drafts.CRITERIA if name not in answered)
    text = step.l10n("criteria.prompt", criterion=step.l10n(f"criteria.{criterion}"),
                     number=drafts.CRITERIA.index(criterion) + 1, total=len(drafts.CRITERIA))
    await step.show(text, keyboards.make_stars_keyboard(step.l10n, criterion, skippable=True))


async def ask_description(step: Step, draft: drafts.Draft) -> None:
    l10n = step.l10n
    feedback = step.settings.feedback
    text = l10n("description.prompt", limit=feedback.max_text_chars, files=feedback.max_media)
    if drafts.has_content(draft):
        # Reopened by Back or Edit: show what is kept, so nothing has to be typed twice.
        text += "\n\n" + l10n("description.current", text=excerpt(draft.get("text") or "—"),
                              files=len(draft.get("media", [])))
    await remember_when_asked(step)
    await step.show(text, keyboards.make_description_keyboard(l10n, reopened=drafts.has_content(draft)))


async def remember_when_asked(step: Step) -> None:
    await step.state.update_data({WHEN_ASKED_ON: step.today.isoformat()})


async def ask_when(step: Step, draft: drafts.Draft) -> None:
    await step.show(step.l10n("when.date_prompt"), keyboards.make_back_cancel_keyboard(step.l10n))


async def offer_phone(step: Step, draft: drafts.Draft) -> drafts.Draft | None:
    """Send the phone keyboard before an appeal's preview, unless it is already there in this language; the draft
    saved with it when sent, else None.

    A contact button lives only on a reply keyboard, which needs a message of its own. The draft keeps the language
    the keyboard is in: after /language it is sent again in the new one (a new reply keyboard replaces the old)."""
    if (not drafts.is_formal_kind(draft) or draft.get("phone_shared")
            or draft.get("reply_keyboard") == step.l10n.language):
        return None
    await step.message.answer(step.l10n("phone.prompt"), reply_markup=keyboards.make_phone_keyboard(step.l10n))
    draft = {**draft, "reply_keyboard": step.l10n.language}
    await step.save(draft)
    return draft


async def ask_preview(step: Step, draft: drafts.Draft) -> None:
    sent = await offer_phone(step, draft)
    draft = sent or draft
    await step.show(await preview_text(step, draft), keyboards.make_preview_keyboard(step.l10n, draft),
                    new=sent is not None)
    if draft.get("pending_text") and not draft.get("offer_messages"):
        # Texts left on offer when the resident went to change something (Edit, Back) are asked about again here,
        # where they were sent, rather than dropped or added without a word.
        await ask_about_offer(step, draft)


async def ask_about_offer(step: Step, draft: drafts.Draft, question: str | None = None,
                          markup: InlineKeyboardMarkup | None = None) -> drafts.Draft:
    """The question under the texts on offer (by default: add them to the description?; the name question when a
    full name is among them). The messages asking it are remembered: their buttons
    decide for the offer, and those of an offer already decided, or left behind by Edit or Back, are out of date."""
    pending, name = draft["pending_text"], (draft.get("name_offer") or {}).get("text")
    if question is None and name is not None:  # "Yes, my name" takes it alone; the rest is asked about after
        question = step.l10n("preview.name_or_text", name=as_full_name(name))
        markup = keyboards.make_name_or_text_keyboard(step.l10n)
    sent = await step.message.answer(question or step.l10n("description.offer_add", length=len(pending)),
                                     reply_markup=markup or keyboards.make_add_text_keyboard(step.l10n))
    draft = {**draft, "offer_messages": [*draft.get("offer_messages", []), sent.message_id]}
    await step.save(draft)
    return draft


ASK = {
    "clinic": ask_clinic, "target": ask_target, "kind": ask_kind, "category": ask_category, "rating": ask_rating,
    "criteria": ask_criteria, "description": ask_description, "when": ask_when, "preview": ask_preview,
}


def excerpt(text: str, limit: int = PREVIEW_TEXT_CHARS) -> str:
    short = text if len(text) <= limit else text[:limit].rstrip() + "…"
    return html.escape(short)


def format_day(day: date, l10n: L10n) -> str:
    return day.strftime("%d.%m.%Y")


def when_label(draft: drafts.Draft, l10n: L10n, today: date) -> str:
    """When it happened, as the preview says it on `today`: "Today" and "Yesterday" only while they are true (a
    draft left at the preview for a week would call last week today), the date alone otherwise."""
    when = draft.get("incident_when")
    incident = date.fromisoformat(draft["incident_date"]) if draft.get("incident_date") else None
    if incident is None:
        return l10n(f"when.{when}") if when in drafts.INCIDENT_WHEN else "—"
    relative = {today: "today", today - timedelta(days=1): "yesterday"}.get(incident)
    if when not in ("today", "yesterday") or relative is None:
        return format_day(incident, l10n)
    return l10n("preview.when_day", label=l10n(f"when.{relative}"), day=format_day(incident, l10n))


def files_lines(draft: drafts.Draft, l10n: L10n) -> list[str]:
    lines = []
    for item in draft.get("media", []):
        line = l10n("preview.file", kind=l10n(f"file_kind.{item['kind']}"))
        if item.get("caption"):
            line += l10n("preview.file_caption", caption=excerpt(item["caption"], PREVIEW_CAPTION_CHARS))
        lines.append(line)
    return lines


async def preview_text(step: Step, draft: drafts.Draft) -> str:
    l10n, directory = step.l10n, step.repo.directory
    formal_kind = drafts.is_formal_kind(draft)
    title = "preview.title_appeal" if formal_kind else "preview.title"
    lines = [l10n(title), "", l10n("preview.clinic", value=await clinic_label(step, draft, with_address=True))]
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
    if draft.get("rating"):
        lines.append(l10n("preview.rating", value=l10n("flow.stars", n=draft["rating"])))
    for name, stars in draft.get("criteria", {}).items():
        if stars:
            lines.append(l10n("preview.criterion", name=l10n(f"criteria.{name}"), value=l10n("flow.stars", n=stars)))
    lines.append(l10n("preview.when", value=when_label(draft, l10n, step.today)))
    if formal_kind:
        lines.append(l10n("preview.behalf", value=l10n(f"behalf.{draft.get('on_behalf', 'self')}")))
        if draft.get("outcome"):
            lines.append(l10n("preview.outcome", value=excerpt(draft["outcome"], PREVIEW_CAPTION_CHARS)))
    lines.append(l10n("preview.text", value=excerpt(draft.get("text") or "—")))
    if draft.get("text_forwarded") and draft.get("text"):
        lines.append(l10n("preview.text_forwarded"))
    lines.append(l10n("preview.evidence", count=len(draft.get("media", []))))
    lines += files_lines(draft, l10n)
    # The name stored with the account is the one published (the event may be the bot's own message).
    first_name = html.escape((step.user.first_name if step.user else None) or "")
    lines.append(l10n("preview.name_public", name=first_name) if draft.get("show_name")
                 else l10n("preview.name_hidden"))
    if formal_kind:
        lines.append(l10n("preview.phone_shared" if draft.get("phone_shared") else "preview.phone_not_shared"))
        if draft.get("appellant_name"):
            lines += ["", l10n("preview.appellant", name=html.escape(draft["appellant_name"]),
                               days=l10n.count("within_working_days", step.settings.feedback.appeal_working_days))]
        elif draft.get("kind") == "violation":
            lines += ["", l10n("preview.appellant_optional")]
        else:
            lines += ["", l10n("preview.appellant_missing",
                               days=l10n.count("within_working_days", step.settings.feedback.appeal_working_days))]
        if not draft.get("appellant_name") and drafts.for_someone_else(draft):
            lines.append(l10n("preview.appellant_behalf"))  # the name asked for is the writer's, not the patient's
    return "\n".join(lines)


def place_of(clinic: Clinic) -> search.Place:
    return search.Place(clinic.id, clinic.number, (clinic.name_kk, clinic.name_ru, clinic.name_en), clinic.address,
                        clinic.latitude, clinic.longitude, clinic.address_kk, clinic.address_en)


def person_of(doctor: Doctor, specialty: Specialty) -> search.Person:
    # Searching within one clinic: its number is not part of what people type here.
    return search.Person(doctor.id, doctor.full_name, (specialty.name_kk, specialty.name_ru, specialty.name_en),
                         None, doctor.clinic_id)


async def hint(step: Step) -> None:
    """A short hint for the current step, then the step again, so its buttons are right under the hint."""
    current = await step.current()
    await step.message.answer(step.l10n(f"hint.{current}"))
    draft = await step.draft()
    if current in ASK:
        again = step.anew()
        if current == "preview":
            await again.show(await preview_text(again, draft), keyboards.make_preview_keyboard(step.l10n, draft))
        else:
            await ASK[current](again, draft)


def step_maker(settings: Settings):
    def step_of(event: Message | CallbackQuery, state: FSMContext, repo: Repositories, l10n: L10n,
                user: User | None, now: datetime) -> Step:
        return Step(event, state, repo, l10n, settings, user, now)

    return step_of


IN_FLOW = ReviewForm
