"""The alert card the prosecutor's chat receives for an urgent review, its buttons, and its evidence."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.callbacks import AlertAction, AlertActionV1
from bot.cases.deadlines import term_started
from bot.config import Settings
from bot.l10n import L10n, translator
from bot.services import outbox, urgency_decisions
from bot.telegram_limits import CAPTION_LIMIT, telegram_length
from storage.models import Case, CaseStatus, Clinic, Doctor, OutboxMessage, Review, ReviewMedia, Specialty, User
from storage.repositories import Repositories

CARD_TEXT_CHARS = 2000  # what of the resident's text the card shows; "Full text" sends the rest
URGENCY_MARK = {"critical": "🔴", "high": "🟠", "normal": "🟢"}
OPEN_STATUSES = (CaseStatus.OPEN, CaseStatus.TAKEN, CaseStatus.FORWARDED, CaseStatus.WAITING_RESIDENT)
_REASON_PATTERNS = (
    ("category", re.compile(r"^category: (?P<category>\w+)$")),
    ("gratitude_crime", re.compile(r"^kind: gratitude, but it reports a crime$")),
    ("kind", re.compile(r"^kind: (?P<kind>\w+)$")),
    ("rating", re.compile(r"^rating (?P<n>\d)$")),
    ("points", re.compile(r"^signals together: (?P<points>\d+) points \(high from (?P<threshold>\d+)\)$")),
    ("spike", re.compile(r"^spike: (?P<count>\d+) complaints in (?P<days>\d+) days$")),
    ("words", re.compile(r"^(?P<group>[a-z ]+) words: (?P<words>.*)$")),
)


@dataclass
class CaseView:
    """Everything a card shows, loaded once."""

    case: Case
    review: Review
    clinic: Clinic
    doctor: Doctor | None
    specialty: Specialty | None
    author: User
    media: Sequence[ReviewMedia]
    assignee_name: str | None = None  # by name, never by Telegram id
    clinic_answered_at: datetime | None = None  # the polyclinic's first published answer in the present term


async def load(repo: Repositories, case: Case) -> CaseView:
    review = await repo.reviews.get(case.review_id)
    directory = repo.directory
    assignee = case.assignee_telegram_id
    people = await repo.caseload.people([assignee]) if assignee is not None else {}
    # In the present term: a repeated appeal (the resident's disagreement) is not answered by the clinic's answer to
    # the first, and the office is not told it was (nor left out of the morning's "polyclinic did not answer").
    started = term_started(review.created_at, case.reopened_at)
    clinic_answers = [response.created_at for response in await repo.reviews.responses_to(review.id)
                      if response.author_role == "clinic_staff" and response.public_status == "published"
                      and response.created_at >= started]
    return CaseView(
        case=case, review=review, clinic=await directory.clinic(review.clinic_id),
        doctor=await directory.doctor(review.doctor_id) if review.doctor_id else None,
        specialty=await directory.specialty(review.specialty_id) if review.specialty_id else None,
        author=await repo.users.get(review.user_id), media=await repo.reviews.media_of(review.id),
        assignee_name=person_name(people[assignee]) if assignee in people else None,
        clinic_answered_at=min(clinic_answers) if clinic_answers else None)


def clinic_silent(view: CaseView) -> bool:
    """Escalated in the present term (bot.services.clinics.escalate) and the polyclinic still without an answer in
    it: what the office chases. Its answer ends that, and so does the resident's disagreement, until the repeated
    appeal's own post is left unanswered past its days (the first term's escalation is not of the second)."""
    escalated = view.case.escalated_at
    return (escalated is not None and escalated >= term_started(view.review.created_at, view.case.reopened_at)
            and view.clinic_answered_at is None)


def person_name(person) -> str:
    """How the office names one of its people: the name Telegram shows, and the @username when there is one."""
    return person.full_name + (f" (@{person.username})" if person.username else "")


def plain_reasons(reasons: Sequence[str], l10n: L10n) -> str:
    """The classifier's stored reasons in the chat's language ("words about a bribe: «конверт»"); a reason of a
    shape this does not know is shown as it was stored rather than dropped."""
    shown = []
    for reason in reasons:
        for name, pattern in _REASON_PATTERNS:
            found = pattern.match(reason)
            if found is None:
                continue
            values = found.groupdict()
            if name == "category" and l10n.has(f"category.{values['category']}"):
                shown.append(l10n("case_reason.category", category=l10n(f"category.{values['category']}")))
            elif name == "kind" and l10n.has(f"kind.{values['kind']}"):
                shown.append(l10n("case_reason.kind", kind=l10n(f"kind.{values['kind']}")))
            elif name == "words":
                key = f"case_reason.group_{values['group'].replace(' ', '_')}"
                shown.append(l10n(key if l10n.has(key) else "case_reason.words", words=values["words"],
                                  group=values["group"]))
            elif name == "spike":
                shown.append(l10n("case_reason.spike", count=l10n.count("complaints", int(values["count"])),
                                  days=l10n.count("days", int(values["days"]))))
            elif name in ("gratitude_crime", "rating", "points"):
                shown.append(l10n(f"case_reason.{name}", **values))
            else:
                continue
            break
        else:
            shown.append(reason)
    return "; ".join(shown)


def chat_l10n(settings: Settings) -> L10n:
    return translator(settings.locale.default)[settings.prosecutor.language]


def _date(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%d.%m.%Y %H:%M")


def card_text(view: CaseView, l10n: L10n, zone: ZoneInfo) -> str:
    case, review = view.case, view.review
    language = l10n.language
    lines = [
        l10n("alert.title", mark=URGENCY_MARK[case.urgency], reference=review.reference,
             urgency=l10n(f"urgency.{case.urgency}"))
        + (l10n("case_card.reopened", count=case.reopened_count) if case.reopened_count else ""),
        l10n("alert.reasons", reasons=html.escape(plain_reasons(case.reasons, l10n) or "—")),
        l10n("alert.clinic", value=html.escape(getattr(view.clinic, f"name_{language}"))),
    ]
    if view.doctor is not None:
        lines.append(l10n("alert.doctor", value=html.escape(view.doctor.full_name)))
    elif view.specialty is not None:
        lines.append(l10n("alert.specialty", value=html.escape(getattr(view.specialty, f"name_{language}"))))
    kind = l10n(f"kind.{review.kind}") + (f" · {l10n(f'category.{review.category}')}" if review.category else "")
    stars = l10n("flow.stars", n=review.rating) if review.rating else "—"  # a violation report has none
    lines += [l10n("alert.kind", value=kind), l10n("alert.rating", value=stars),
              l10n("alert.date", value=_date(review.created_at, zone))]
    author = view.author
    name = html.escape(author.first_name or "—") if author.telegram_id is not None else l10n("alert.forgotten")
    phone = html.escape(author.phone) if review.phone_shared and author.phone else l10n("alert.no_phone")
    lines.append(l10n("alert.resident", name=name, phone=phone))
    # What a formal appeal states: seen by the office only, never by the polyclinic or the public.
    if review.appellant_name:
        lines.append(l10n("office.appellant", name=html.escape(review.appellant_name)))
    if review.incident_when:
        when = review.incident_date.strftime("%d.%m.%Y") if review.incident_date else l10n("when.unknown")
        lines.append(l10n("office.when", value=when))
    if review.on_behalf and review.on_behalf != "self":
        lines.append(l10n("office.behalf", value=l10n(f"behalf.{review.on_behalf}")))
    if review.outcome_wanted:
        lines.append(l10n("office.outcome", value=html.escape(review.outcome_wanted)))
    # The law wants the answer in the appeal's language: the card says which it is.
    lines.append(l10n("case_card.language", language=l10n(f"case_language.{review.language}")))
    if case.due_date is not None:
        due_key = "alert.due_extended" if case.extended else "alert.due"
        lines.append(l10n(due_key, due=case.due_date.strftime("%d.%m.%Y"))
                     + (l10n("case_card.provisional") if case.due_provisional else ""))
    if case.forwarded_to is not None and case.forwarded_at is not None:
        lines.append(l10n("case_card.forwarded_to", destination=destination_name(case.forwarded_to, l10n),
                          day=_date(case.forwarded_at, zone)[:10]))
    if view.clinic_answered_at is not None and case.status in OPEN_STATUSES:
        # The resident has the clinic's answer; the office still owes its own decision on the appeal.
        lines.append(l10n("case_card.clinic_answered", day=_date(view.clinic_answered_at, zone)[:10]))
    lines.append(l10n("alert.status", status=l10n(f"case_status.{case.status}"),
                      assignee=html.escape(view.assignee_name or "—")))
    lines.append(l10n("alert.evidence", count=len(view.media)))
    if review.text_forwarded:
        lines.append(l10n("office.text_forwarded"))
    text = review.text or "—"
    shown = text if len(text) <= CARD_TEXT_CHARS else text[:CARD_TEXT_CHARS].rstrip() + "…"
    lines += ["", html.escape(shown)]
    return "\n".join(lines)


def destination_name(destination: str, l10n: L10n) -> str:
    """The clinic, or one of the bodies of prosecutor.forward_bodies, in that language."""
    key = f"forward_body.{destination}"
    return l10n(key) if l10n.has(key) else html.escape(destination)


def card_keyboard(view: CaseView, l10n: L10n) -> InlineKeyboardMarkup:
    case = view.case

    def button(action: AlertAction) -> InlineKeyboardButton:
        return InlineKeyboardButton(text=l10n(f"alert.button_{action.value}"),
                                    callback_data=AlertActionV1(case_id=case.id, action=action).pack())

    rows: list[list[InlineKeyboardButton]] = []
    if case.status in OPEN_STATUSES:
        rows += [[button(AlertAction.TAKE), button(AlertAction.FORWARD)],
                 [button(AlertAction.ASK), button(AlertAction.CLOSE)],
                 [button(AlertAction.REJECT)]]
        if case.formal_appeal and not case.extended:
            rows[-1].append(button(AlertAction.EXTEND))
    if len(view.review.text or "") > CARD_TEXT_CHARS:
        rows.append([button(AlertAction.FULL_TEXT)])
    rows.append(urgency_decisions.buttons(case.id, l10n))  # the office's own verdict teaches the classifier
    return InlineKeyboardMarkup(inline_keyboard=rows)


# The kinds of evidence the outbox relay sends to the office (every kind a resident may attach).
RELAYED_KINDS = ("photo", "video", "document", "voice", "audio", "video_note", "animation")


GROUPED_KINDS = ("photo", "video", "document")  # the kinds Telegram sends together as an album


def _fits_under_file(m: ReviewMedia) -> bool:
    """The file's own caption, as sent (escaped), goes under it within Telegram's limit."""
    return telegram_length(html.escape(getattr(m, "caption", None) or "")) <= CAPTION_LIMIT


def evidence_batches(media: Sequence[ReviewMedia], caption: str) -> list[list[dict[str, Any]]]:
    """Send units Telegram accepts: photos and videos together, documents together (2-10 a group), the rest alone.

    Each file keeps the resident's own caption ("the receipt for 5000 tenge"); the first also names the review.
    A round video message takes no caption at all, and a caption may be longer than Telegram puts under a file: the
    relay sends such words just before the file, as a message of their own (outbox.words_alone). That is done for a
    send's first file only, so a file whose own caption is too long (1,024 characters of emoji are 2,048 as
    Telegram counts) is sent alone, where it is the first: under a later file of an album it would be refused."""
    grouped = [m for m in media if _fits_under_file(m)]
    visual = [m for m in grouped if m.kind in ("photo", "video")]
    documents = [m for m in grouped if m.kind == "document"]
    batches = [visual[i:i + 10] for i in range(0, len(visual), 10)]
    batches += [documents[i:i + 10] for i in range(0, len(documents), 10)]
    batches += [[m] for m in media if m.kind in RELAYED_KINDS and not (m in grouped and m.kind in GROUPED_KINDS)]
    result = []
    for batch in batches:
        items = []
        for m in batch:
            item: dict[str, Any] = {"kind": m.kind, "file_id": m.file_id}
            if getattr(m, "caption", None):
                item["caption"] = html.escape(m.caption)
            items.append(item)
        first = items[0]
        first["caption"] = caption + ("\n" + first["caption"] if first.get("caption") else "")
        result.append(items)
    return result


async def enqueue(repo: Repositories, view: CaseView, settings: Settings, now: datetime) -> None:
    """The card, then its evidence, queued for the prosecutor's chat in the review's transaction."""
    chat_id = settings.prosecutor.chat_id
    if chat_id is None:
        return
    l10n = chat_l10n(settings)
    reference = view.review.reference
    await outbox.enqueue(repo, chat_id=chat_id, kind="alert", dedupe_key=f"alert:{reference}:{chat_id}", now=now,
                         text=card_text(view, l10n, settings.zone), reply_markup=card_keyboard(view, l10n),
                         review_id=view.review.id, case_id=view.case.id, reference=reference,
                         summary=summary_line(view, l10n))
    caption = l10n("alert.evidence_caption", reference=reference)
    for number, batch in enumerate(evidence_batches(view.media, caption)):
        await outbox.enqueue(repo, chat_id=chat_id, kind="alert_media", now=now, media=batch,
                             dedupe_key=f"alert-media:{reference}:{chat_id}:{number}", review_id=view.review.id)


def summary_line(view: CaseView, l10n: L10n) -> str:
    clinic = getattr(view.clinic, f"name_{l10n.language}")
    return l10n("alert.summary", mark=URGENCY_MARK[view.case.urgency], reference=view.review.reference,
                clinic=html.escape(clinic), category=l10n(f"category.{view.review.category}")
                if view.review.category else l10n(f"kind.{view.review.kind}"))


def group_alerts_for(settings: Settings):
    """What the relay sends instead of many cards in a burst: one list, each alert with an Open button."""

    def group(rows: list[OutboxMessage]) -> dict[str, Any]:
        l10n = chat_l10n(settings)
        lines = [l10n("alert.burst_title", count=len(rows)), ""] + [row.payload["summary"] for row in rows]
        buttons = [[InlineKeyboardButton(
            text=l10n("alert.button_open", reference=row.payload["reference"]),
            callback_data=AlertActionV1(case_id=row.payload["case_id"], action=AlertAction.OPEN).pack())]
            for row in rows]
        markup = InlineKeyboardMarkup(inline_keyboard=buttons)
        return {"text": "\n".join(lines), "reply_markup": markup.model_dump(mode="json", exclude_none=True)}

    return group
