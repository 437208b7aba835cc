"""Reviews: limits, submission (review, evidence and case in one transaction), and the resident's receipt."""

from __future__ import annotations

import asyncio
import html
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from bot.cases import cards as alerts
from bot.cases.deadlines import due_and_provisional, work_calendar
from bot.config import Settings
from bot.l10n import L10n
from bot.ops.logs import bind_reference
from bot.references import reference_of
from bot.services import drafts, moderation_queue, ratings
from bot.services.urgency import CATEGORIES, UrgencyRules, findings_to_json
from bot.services.urgency_text import known_russian_word
from storage.models import Case, MediaKind, PublicStatus, Review, ReviewKind, ReviewMedia, Urgency, User
from storage.repositories import Repositories


@lru_cache(maxsize=1)
def urgency_rules() -> UrgencyRules:
    return UrgencyRules.load()


def prepare_urgency() -> None:
    """Loads the rules' data and trains the learned model now (blocking: call it in a worker thread at start-up).
    Otherwise the first complaint after a start pays for it, a second or more on a busy machine, inside its
    update's transaction."""
    rules = urgency_rules()
    if rules.model is not None:
        rules.model.get()
    known_russian_word("врач")  # the Russian dictionary, which also tells the language of an appeal's text


@dataclass
class Submitted:
    review: Review
    case: Case | None

    @property
    def due_date(self) -> date | None:
        return self.case.due_date if self.case else None


class SubjectGone(Exception):
    """The draft's doctor or polyclinic ("doctor" or "clinic", in `kind`) left the directory while the draft waited:
    nothing was stored, and the resident chooses whom the review is about again."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def start_of_local_day(now: datetime, zone: ZoneInfo) -> datetime:
    return datetime.combine(now.astimezone(zone).date(), time(), tzinfo=zone)


async def submitted_today(repo: Repositories, user: User | None, now: datetime, zone: ZoneInfo) -> int:
    if user is None:
        return 0
    return await repo.reviews.count_by_user_since(user.id, start_of_local_day(now, zone))


async def previous_of_doctor(repo: Repositories, user: User | None, doctor_id: int, now: datetime,
                             days: int, kinds: tuple[str, ...] | None = None) -> Review | None:
    if user is None or days <= 0:
        return None
    return await repo.reviews.latest_for_doctor(user.id, doctor_id, now - timedelta(days=days), kinds)


def link_number(text: str) -> int | None:
    """An id in a deep link: digits that fit the database's 64-bit ids (a forged "99999999999999999999" overflowed
    SQLite and reached the person as "something went wrong")."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None  # not "²", which int refuses


def link_gone(payload: str) -> str | None:
    """"doctor" or "clinic" for a review link naming one by a well-formed id, asked about when it leads nowhere: the
    doctor or polyclinic is no longer in the directory, and the person is told so."""
    kind, _, text = payload.partition("-")
    return kind if kind in ("doctor", "clinic") and link_number(text) is not None else None


async def preset_from_link(repo: Repositories, payload: str) -> drafts.Draft | None:
    """The draft a deep link starts with: `review`, `clinic-<id>` or `doctor-<id>`; None for anything else."""
    if payload == "review":
        return {}
    kind, _, text = payload.partition("-")
    number = link_number(text)
    if number is None:
        return None
    if kind == "clinic":
        clinic = await repo.directory.clinic(number)
        return {"clinic_id": clinic.id} if clinic and clinic.active else None
    if kind == "doctor":
        doctor = await repo.directory.doctor(number)
        if doctor and doctor.active:
            return {"clinic_id": doctor.clinic_id, "target": "doctor", "doctor_id": doctor.id,
                    "specialty_id": doctor.specialty_id}
    return None


async def remember_phone(repo: Repositories, user: User, phone: str, now: datetime) -> None:
    user.phone = phone
    await repo.audit.record(now, user.telegram_id, "user.phone_shared", "user", user.id)


async def submit(repo: Repositories, user: User, draft: drafts.Draft, *, now: datetime, settings: Settings,
                 language: str) -> Submitted:
    """Store the review, its evidence and its case; the caller's transaction commits them together. Raises
    SubjectGone, storing nothing, when its doctor or polyclinic is no longer in the directory (a draft left for a
    week): a receipt would promise a rating no page shows."""
    clinic = await repo.directory.clinic(draft["clinic_id"])
    if clinic is None or not clinic.active:
        raise SubjectGone("clinic")
    doctor = await repo.directory.doctor(draft["doctor_id"]) if draft.get("doctor_id") else None
    if draft.get("doctor_id") and (doctor is None or not doctor.active):
        raise SubjectGone("doctor")
    zone = settings.zone
    year = now.astimezone(zone).year
    number = await repo.reviews.next_reference_number(year)
    kind = ReviewKind(draft["kind"])
    text = draft.get("text") or ""
    formal_kind = kind in (ReviewKind.COMPLAINT, ReviewKind.VIOLATION)
    # "show my first name publicly" is its own choice; drafts of the older form said "anonymous" instead.
    show_name = bool(draft["show_name"]) if "show_name" in draft else draft.get("anonymous") is False
    review = Review(
        reference=reference_of(year, number), user_id=user.id, clinic_id=draft["clinic_id"],
        doctor_id=doctor.id if doctor else None,
        specialty_id=doctor.specialty_id if doctor else draft.get("specialty_id"),
        kind=kind, category=draft.get("category"), rating=draft.get("rating"),
        criteria={name: stars for name, stars in draft.get("criteria", {}).items() if stars},
        text=text, text_forwarded=bool(draft.get("text_forwarded")), language=language, anonymous=not show_name,
        author_name=user.first_name if show_name else None,
        phone_shared=bool(draft.get("phone_shared")), supersedes_id=draft.get("supersedes_id"),
        created_at=now, updated_at=now,
        incident_when=draft.get("incident_when"),
        incident_date=date.fromisoformat(draft["incident_date"]) if draft.get("incident_date") else None,
        on_behalf=draft.get("on_behalf", "self") if formal_kind else None,
        outcome_wanted=draft.get("outcome") if formal_kind else None,
        appellant_name=draft.get("appellant_name") if formal_kind else None,
    )
    # Screened before it is counted: with the moderator queue on, a review counts only once approved.
    public = await moderation_queue.prepare_review(review, settings)
    if settings.moderation.hold_named_complaints and kind == ReviewKind.COMPLAINT and review.doctor_id is not None:
        # A complaint naming a person is checked by a moderator before the public sees it.
        review.public_status = PublicStatus.PENDING
    repo.reviews.add(review)
    await repo.reviews.flush()
    await ratings.review_added(repo, review, now=now, settings=settings)
    evidence = ([draft["voice"]] if draft.get("voice") else []) + list(draft.get("media", []))
    for position, item in enumerate(evidence):
        repo.reviews.add(ReviewMedia(
            review_id=review.id, position=position, kind=MediaKind(item["kind"]), file_id=item["file_id"],
            file_unique_id=item["file_unique_id"], size=item.get("size"), mime=item.get("mime"),
            sha256=item.get("sha256"), stored_path=item.get("stored_path"), created_at=now,
            caption=item.get("caption"),
        ))
    # Reading the data files takes a few hundred milliseconds the first time: not on the event loop either.
    rules = await asyncio.to_thread(urgency_rules)
    # The review was flushed above, so a complaint counts itself, as the spike rule expects.
    recent = await repo.reviews.count_recent_complaints(draft["clinic_id"], review.doctor_id,
                                                        now - timedelta(days=rules.spike.window_days))
    # An operator's own category (feedback.categories) is unknown to the rules: judged by words and rating.
    category = review.category if review.category in CATEGORIES else None
    # About 15 ms of CPU (more for a long text, and the dictionaries load on first use): in a worker thread, so
    # other chats are not held up meanwhile.
    verdict = await asyncio.to_thread(rules.classify, text, category=category, rating=review.rating,
                                      language=language, kind=kind.value, recent_complaints=recent)
    case = None
    # A formal appeal, with the legal deadline, names its appellant: anonymous appeals are not considered, except
    # reports of crimes (a violation report). Without a name a complaint is still a case, without that deadline.
    formal = kind == ReviewKind.VIOLATION or (kind == ReviewKind.COMPLAINT and bool(review.appellant_name))
    if formal_kind or verdict.urgency != Urgency.NORMAL:
        calendar = work_calendar()
        # Beyond the published table the calendar counts by the law's rules: the due date is then provisional
        # (recomputed when the ministry's table is added), and a submission never fails for want of a table.
        due, provisional = (due_and_provisional(now, zone, calendar, settings.feedback.appeal_working_days)
                            if formal else (None, False))
        case = Case(review_id=review.id, urgency=Urgency(verdict.urgency), reasons=list(verdict.reasons),
                    urgency_findings=findings_to_json(verdict), formal_appeal=formal, due_date=due,
                    due_provisional=provisional, created_at=now)
        repo.reviews.add(case)
        await repo.reviews.flush()
        if case.urgency != Urgency.NORMAL:
            # Critical and high reach the prosecutor's chat at once (ordinary ones in the daily "new appeals" list),
            # queued in this same transaction so that the alert exists exactly when the review does.
            await alerts.enqueue(repo, await alerts.load(repo, case), settings, now)
    bind_reference(review.reference)
    await repo.audit.record(now, user.telegram_id, "review.submitted", "review", review.id,
                            reference=review.reference, evidence=len(evidence))
    await moderation_queue.review_submitted(repo, review, public, now=now, settings=settings)
    await repo.reviews.flush()
    return Submitted(review, case)


def receipt(result: Submitted, l10n: L10n, settings: Settings) -> str:
    """What the resident is told on submission: the number to quote, when, who handles it and by when."""
    review, case = result.review, result.case
    zone = settings.zone
    appeal = review.kind in (ReviewKind.COMPLAINT, ReviewKind.VIOLATION)
    lines = [l10n("submitted.title_appeal" if appeal else "submitted.title"),
             l10n("submitted.reference", reference=html.escape(review.reference)),
             l10n("submitted.when", when=review.created_at.astimezone(zone).strftime("%d.%m.%Y %H:%M"))]
    urgent = case is not None and case.urgency != Urgency.NORMAL
    if review.kind == ReviewKind.GRATITUDE:
        lines.append(l10n("submitted.next_gratitude"))
        if urgent:
            lines.append(l10n("submitted.next_urgent"))
    elif review.kind == ReviewKind.VIOLATION:
        lines.append(l10n("submitted.next_urgent" if urgent else "submitted.next_violation"))
    else:
        if urgent:
            lines.append(l10n("submitted.next_urgent"))
        lines.append(l10n("submitted.next_complaint",
                          days=l10n.count("working_days", settings.clinics.answer_working_days)))
    if result.due_date is not None:
        lines.append(l10n("submitted.next_formal", due=result.due_date.strftime("%d.%m.%Y"),
                          days=l10n.count("within_working_days", settings.feedback.appeal_working_days)))
        if case is not None and case.due_provisional:
            lines.append(l10n("case_notify.due_provisional"))
    elif review.kind == ReviewKind.COMPLAINT:
        lines.append(l10n("submitted.not_formal"))
    if review.public_status == PublicStatus.PENDING and review.kind != ReviewKind.VIOLATION:
        lines.append(l10n("moderation_receipt.held"))  # violation reports are never public anyway
    lines.append(l10n("submitted.follow"))
    return "\n".join(lines)
