"""What the office does with a case (take, forward, ask, answer, reject, extend, note), each with its audit entry
and the resident's notice, and the preview of what the resident will read."""

from __future__ import annotations

import html
from datetime import date, datetime

from bot.callbacks import AlertAction
from bot.cases import cards as alerts
from bot.cases import notices
from bot.cases.cards import OPEN_STATUSES, CaseView
from bot.cases.deadlines import WorkCalendar, local_date, max_extension_date, term_started, work_calendar
from bot.config import Settings
from bot.keyboards import name_in
from bot.l10n import L10n, translator
from bot.ops.logs import bind_reference
from bot.services import clinics
from storage.models import CaseStatus, Response, ReviewStatus, Role
from storage.repositories import Repositories

FORWARD_WORKING_DAYS = 3  # APPK art. 76: an appeal outside the body's competence is forwarded within 3 working days


class CaseActionRefused(Exception):
    """The action does not fit the case's state; `key` names the explanation in the locale files."""

    def __init__(self, key: str, **values: str) -> None:
        super().__init__(key)
        self.key, self.values = key, values


class TakeOverNeeded(CaseActionRefused):
    """Someone else holds the case: taking it over is asked first."""

    def __init__(self, previous: int, name: str) -> None:
        super().__init__("case_actions.take_over_question", name=name)
        self.previous, self.name = previous, name


class DeliveryUnconfirmed(CaseActionRefused):
    """The clinic has no linked chat or staff here: the office must say it delivered the appeal another way."""

    def __init__(self) -> None:
        super().__init__("case_actions.confirm_delivery")


async def remember_person(repo: Repositories, telegram_id: int, full_name: str, username: str | None,
                          now: datetime) -> None:
    """Who acted in the office's chat, so that cards and history can name them."""
    await repo.caseload.remember_person(telegram_id, full_name[:300], username, now)


async def name_of(repo: Repositories, telegram_id: int | None, l10n: L10n) -> str:
    if telegram_id is None:
        return "—"
    people = await repo.caseload.people([telegram_id])
    return html.escape(alerts.person_name(people[telegram_id])) if telegram_id in people else l10n("case_history.staff")


async def _open_view(repo: Repositories, case_id: int) -> CaseView:
    case = await repo.reviews.case(case_id)
    if case is None:
        raise CaseActionRefused("cases.unknown")
    view = await alerts.load(repo, case)
    bind_reference(view.review.reference)  # every later log line of this update names the case's reference
    if case.status not in OPEN_STATUSES:
        raise CaseActionRefused("cases.already_closed")
    return view


async def audit_case(repo: Repositories, view: CaseView, actor: int | None, action: str, now: datetime,
                 **details: object) -> None:
    await repo.audit.record(now, actor, action, "review", view.review.id, reference=view.review.reference, **details)


async def take(repo: Repositories, case_id: int, actor: int, now: datetime, *,
               take_over_from: int | None = None) -> CaseView:
    """The officer becomes the assignee; a case someone else holds is taken over only when that was confirmed."""
    view = await _open_view(repo, case_id)
    previous = view.case.assignee_telegram_id
    if previous == actor:
        raise CaseActionRefused("case_actions.already_yours")
    if previous is not None and previous != take_over_from:
        raise TakeOverNeeded(previous, view.assignee_name or "—")
    view.case.assignee_telegram_id = actor
    if view.case.status == CaseStatus.OPEN:
        view.case.status = CaseStatus.TAKEN
    view.review.status, view.review.updated_at = ReviewStatus.IN_PROGRESS, now
    if previous is None:
        await audit_case(repo, view, actor, "case.taken", now)
    else:
        await audit_case(repo, view, actor, "case.taken_over", now, previous_assignee=previous)
    await notices.status_changed(repo, view.review, view.author, now)
    return await alerts.load(repo, view.case)


def forward_by(view: CaseView, settings: Settings, calendar: WorkCalendar) -> date:
    """The last day to forward an appeal outside the office's competence: 3 working days after registration, or
    after the resident's disagreement, which is a repeated appeal of its own (deadlines.term_started)."""
    started = term_started(view.review.created_at, view.case.reopened_at)
    return calendar.add_working_days(local_date(started, settings.zone), FORWARD_WORKING_DAYS)


async def forward(repo: Repositories, case_id: int, actor: int, now: datetime, settings: Settings,
                  destination: str = "clinic", *, delivered: bool = False) -> CaseView:
    """To the polyclinic (its chats get the review: public text, no identity; the case stays open for its answer),
    or to another body from prosecutor.forward_bodies (the office's handling ends). The resident is told where.
    A polyclinic with no linked chat or staff here must first be confirmed reached another way (`delivered`)."""
    view = await _open_view(repo, case_id)
    if destination != "clinic" and destination not in settings.prosecutor.forward_bodies:
        raise CaseActionRefused("case_actions.unknown_body")
    reachable = bool(await clinics.recipients(repo, view.review.clinic_id)) if destination == "clinic" else False
    if destination == "clinic" and not reachable and not delivered:
        raise DeliveryUnconfirmed()
    view.case.assignee_telegram_id = view.case.assignee_telegram_id or actor
    view.case.forwarded_to, view.case.forwarded_at = destination, now
    if destination == "clinic":
        view.case.status = CaseStatus.FORWARDED
    else:
        view.case.status, view.case.closed_at = CaseStatus.TRANSFERRED, now
    view.review.status, view.review.updated_at = ReviewStatus.FORWARDED, now
    # Working days past the last day to forward (APPK art. 76: 3 working days): the office's record of a delay.
    calendar = work_calendar()
    late = max(0, calendar.working_days_between(forward_by(view, settings, calendar), local_date(now, settings.zone)))
    await audit_case(repo, view, actor, "case.forwarded", now, destination=destination,
                 delivered_another_way=destination == "clinic" and not reachable, late_working_days=late)
    resident_l10n = translator()[view.review.language]
    where = (html.escape(name_in(view.clinic, resident_l10n.language)) if destination == "clinic"
             else alerts.destination_name(destination, resident_l10n))
    await notices.forwarded(repo, view.review, view.author, where,
                            now.astimezone(settings.zone).strftime("%d.%m.%Y"), now, body=destination,
                            term=view.case.reopened_count or 0)
    if reachable:
        await clinics.forwarded(repo, view.review, now, settings)
    return await alerts.load(repo, view.case)


async def ask(repo: Repositories, case_id: int, actor: int, question: str, now: datetime) -> CaseView:
    view = await _open_view(repo, case_id)
    # Forgotten (/forget): nobody to ask, and the office must not wait for them.
    if getattr(view.author, "telegram_id", None) is None:
        raise CaseActionRefused("cases.cannot_ask")
    view.case.status = CaseStatus.WAITING_RESIDENT
    view.case.assignee_telegram_id = view.case.assignee_telegram_id or actor
    view.review.status, view.review.updated_at = ReviewStatus.NEEDS_INFO, now
    await audit_case(repo, view, actor, "case.asked", now, question=question)
    asked_before = await questions_asked(repo, view.review.id)
    await notices.asked_for_more(repo, view.review, view.author, view.case.id, question, asked_before, now)
    return await alerts.load(repo, view.case)


async def answers_given(repo: Repositories, review_id: int) -> int:
    return await repo.audit.count("case.closed", "review", review_id)


async def questions_asked(repo: Repositories, review_id: int) -> int:
    """How many questions the office asked in the case: the number of the latest, the one an answer now is to."""
    return await repo.audit.count("case.asked", "review", review_id)


async def close(repo: Repositories, case_id: int, actor: int, answer: str, now: datetime, *,
                attachment: dict | None = None) -> CaseView:
    """The office's answer: stored, in the history with its text, and queued for the resident with "That settles
    it / I disagree" (and the attached document or photo, if any)."""
    view = await _open_view(repo, case_id)
    view.case.status, view.case.closed_at = CaseStatus.CLOSED, now
    view.case.assignee_telegram_id = view.case.assignee_telegram_id or actor
    view.review.status, view.review.updated_at = ReviewStatus.ANSWERED, now
    repo.reviews.add(Response(review_id=view.review.id, author_telegram_id=actor, author_role=Role.PROSECUTOR,
                              text=answer, created_at=now))
    number = await answers_given(repo, view.review.id) + 1
    # The file's id is kept with the answer, so that My appeals can give the document again a week later.
    await audit_case(repo, view, actor, "case.closed", now, answer=answer,
                 attachment=attachment["kind"] if attachment else None,
                 attachment_file_id=attachment["file_id"] if attachment else None)
    await notices.answered(repo, view.review, view.author, answer, now, case_id=view.case.id, number=number,
                           attachment=attachment)
    return await alerts.load(repo, view.case)


async def reject(repo: Repositories, case_id: int, actor: int, reason: str, now: datetime) -> CaseView:
    view = await _open_view(repo, case_id)
    view.case.status, view.case.closed_at = CaseStatus.REJECTED, now
    view.case.assignee_telegram_id = view.case.assignee_telegram_id or actor
    view.review.status, view.review.updated_at = ReviewStatus.REJECTED, now
    await audit_case(repo, view, actor, "case.rejected", now, reason=reason)
    await notices.rejected(repo, view.review, view.author, reason, now)
    return await alerts.load(repo, view.case)


def extension_refused(view: CaseView, now: datetime, settings: Settings) -> CaseActionRefused | None:
    """Why this case's term cannot be extended today, or None. Said at the press (before the reason is typed) and
    again at Send, in the same words.

    An extension is decided while the term runs: pressed after the due date, it would move an overdue appeal out
    of the morning's overdue list and tell the resident of a new deadline after the old one had been missed. Past
    two months from registration the "new" due date would itself be gone."""
    case, today = view.case, now.astimezone(settings.zone).date()
    if not case.formal_appeal or case.extended:
        return CaseActionRefused("cases.cannot_extend")
    last = max_extension_date(term_started(view.review.created_at, case.reopened_at), settings.zone)
    if last < today:
        return CaseActionRefused("cases.too_late_to_extend", date=last.strftime("%d.%m.%Y"))
    if case.due_date is not None and case.due_date < today:
        return CaseActionRefused("cases.term_ended", date=case.due_date.strftime("%d.%m.%Y"))
    return None


async def extend(repo: Repositories, case_id: int, actor: int, reason: str, now: datetime,
                 settings: Settings) -> CaseView:
    """Once, to at most two months from registration; the resident is told the same day."""
    view = await _open_view(repo, case_id)
    if (refusal := extension_refused(view, now, settings)) is not None:
        raise refusal
    view.case.due_date = max_extension_date(term_started(view.review.created_at, view.case.reopened_at), settings.zone)
    view.case.extended, view.case.extension_reason = True, reason
    view.case.due_provisional = False  # two calendar months: no working days are counted
    await audit_case(repo, view, actor, "case.extended", now, reason=reason, due=view.case.due_date.isoformat())
    await notices.extended(repo, view.review, view.author, view.case.due_date.strftime("%d.%m.%Y"), reason, now,
                           term=view.case.reopened_count or 0)
    return view


async def note(repo: Repositories, case_id: int, actor: int, text: str, now: datetime) -> CaseView:
    """An internal note: in the case's history for the office, never shown to the resident."""
    case = await repo.reviews.case(case_id)
    if case is None:
        raise CaseActionRefused("cases.unknown")
    view = await alerts.load(repo, case)
    await audit_case(repo, view, actor, "case.note", now, text=text)
    return view


def resident_preview(view: CaseView, action: str, words: str, settings: Settings) -> str:
    """What the resident will read when the office sends this (the same texts the notices queue)."""
    review = view.review
    if action == AlertAction.CLOSE:
        return notices.resident_text(review, "notify.answer", answer=html.escape(words))
    if action == AlertAction.ASK:
        return notices.resident_text(review, "notify.ask", question=html.escape(words))
    if action == AlertAction.REJECT:
        return notices.resident_text(review, "notify.rejected", reason=html.escape(words))
    due = max_extension_date(term_started(review.created_at, view.case.reopened_at), settings.zone).strftime("%d.%m.%Y")
    return notices.resident_text(review, "notify.extended", due=due, reason=html.escape(words))
