"""The prosecutor's handling of a case: actions with their audit and the resident's notice, deadlines, lists."""

from __future__ import annotations

import html
from datetime import date, datetime

from bot.config import Settings
from bot.l10n import L10n
from bot.services import alerts, clinics, notices, outbox
from bot.services.alerts import OPEN_STATUSES, URGENCY_MARK, CaseView
from bot.services.deadlines import WorkCalendar, local_date, max_extension_date
from storage.models import CaseStatus, Response, ReviewMedia, ReviewStatus, Role
from storage.repositories import Repositories

URGENCY_ORDER = {"critical": 0, "high": 1, "normal": 2}


class CaseActionRefused(Exception):
    """The action does not fit the case's state; `key` names the explanation in the locale files."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


async def _open_view(repo: Repositories, case_id: int) -> CaseView:
    case = await repo.reviews.case(case_id)
    if case is None:
        raise CaseActionRefused("cases.unknown")
    view = await alerts.load(repo, case)
    if case.status not in OPEN_STATUSES:
        raise CaseActionRefused("cases.already_closed")
    return view


async def _audit(repo: Repositories, view: CaseView, actor: int, action: str, now: datetime, **details: str) -> None:
    await repo.audit.record(now, actor, action, "review", view.review.id, reference=view.review.reference, **details)


async def take(repo: Repositories, case_id: int, actor: int, now: datetime) -> CaseView:
    view = await _open_view(repo, case_id)
    view.case.status, view.case.assignee_telegram_id = CaseStatus.TAKEN, actor
    view.review.status, view.review.updated_at = ReviewStatus.IN_PROGRESS, now
    await _audit(repo, view, actor, "case.taken", now)
    await notices.status_changed(repo, view.review, view.author, now)
    return view


async def forward(repo: Repositories, case_id: int, actor: int, now: datetime, settings: Settings) -> CaseView:
    """The case goes to the polyclinic: its chats get the review (public text, no identity) with an Answer button."""
    view = await _open_view(repo, case_id)
    view.case.status = CaseStatus.FORWARDED
    view.case.assignee_telegram_id = view.case.assignee_telegram_id or actor
    view.review.status, view.review.updated_at = ReviewStatus.FORWARDED, now
    await _audit(repo, view, actor, "case.forwarded", now)
    await notices.status_changed(repo, view.review, view.author, now)
    await clinics.forwarded(repo, view.review, now, settings)
    return view


async def ask(repo: Repositories, case_id: int, actor: int, question: str, now: datetime) -> CaseView:
    view = await _open_view(repo, case_id)
    view.case.status = CaseStatus.WAITING_RESIDENT
    view.case.assignee_telegram_id = view.case.assignee_telegram_id or actor
    view.review.status, view.review.updated_at = ReviewStatus.NEEDS_INFO, now
    await _audit(repo, view, actor, "case.asked", now, question=question)
    asked_before = await repo.audit.count("case.asked", "review", view.review.id)
    await notices.asked_for_more(repo, view.review, view.author, view.case.id, question, asked_before, now)
    return view


async def close(repo: Repositories, case_id: int, actor: int, answer: str, now: datetime) -> CaseView:
    view = await _open_view(repo, case_id)
    view.case.status, view.case.closed_at = CaseStatus.CLOSED, now
    view.case.assignee_telegram_id = view.case.assignee_telegram_id or actor
    view.review.status, view.review.updated_at = ReviewStatus.ANSWERED, now
    repo.reviews.add(Response(review_id=view.review.id, author_telegram_id=actor, author_role=Role.PROSECUTOR,
                              text=answer, created_at=now))
    await _audit(repo, view, actor, "case.closed", now)
    await notices.answered(repo, view.review, view.author, answer, now)
    return view


async def reject(repo: Repositories, case_id: int, actor: int, reason: str, now: datetime) -> CaseView:
    view = await _open_view(repo, case_id)
    view.case.status, view.case.closed_at = CaseStatus.REJECTED, now
    view.case.assignee_telegram_id = view.case.assignee_telegram_id or actor
    view.review.status, view.review.updated_at = ReviewStatus.REJECTED, now
    await _audit(repo, view, actor, "case.rejected", now, reason=reason)
    await notices.rejected(repo, view.review, view.author, reason, now)
    return view


async def extend(repo: Repositories, case_id: int, actor: int, reason: str, now: datetime,
                 settings: Settings) -> CaseView:
    """Once, to at most two months from registration; the resident is told the same day."""
    view = await _open_view(repo, case_id)
    if not view.case.formal_appeal or view.case.extended:
        raise CaseActionRefused("cases.cannot_extend")
    view.case.due_date = max_extension_date(view.review.created_at, settings.zone)
    view.case.extended, view.case.extension_reason = True, reason
    await _audit(repo, view, actor, "case.extended", now, reason=reason, due=view.case.due_date.isoformat())
    await notices.extended(repo, view.review, view.author, view.case.due_date.strftime("%d.%m.%Y"), reason, now)
    return view


async def resident_added(repo: Repositories, case_id: int, user_id: int, now: datetime, settings: Settings,
                         text: str | None = None, media: list[dict] | None = None) -> CaseView | None:
    """More information from the resident joins the case and reaches the chat, under the card."""
    case = await repo.reviews.case(case_id)
    if case is None or case.status != CaseStatus.WAITING_RESIDENT:
        return None
    view = await alerts.load(repo, case)
    if view.review.user_id != user_id:
        return None
    chat_id = settings.prosecutor.chat_id
    card = await repo.outbox.card_of(view.review.id, chat_id) if chat_id is not None else None
    reply_to = card.sent_message_id if card is not None else None
    l10n = alerts.chat_l10n(settings)
    number = await repo.audit.count("case.resident_added", "review", view.review.id) + 1
    key = f"resident:{view.review.reference}:{number}"
    await repo.audit.record(now, view.author.telegram_id, "case.resident_added", "review", view.review.id,
                            text=text or "", files=len(media or []))
    if chat_id is not None and text:
        await outbox.enqueue(repo, chat_id=chat_id, kind="resident_reply", now=now, dedupe_key=f"{key}:text",
                             review_id=view.review.id, reply_to_message_id=reply_to,
                             text=l10n("alert.resident_added", reference=view.review.reference,
                                       text=html.escape(text)))
    # The files join the case whether or not a prosecutor's chat is configured; the chat gets them when it is.
    rows = [_media_row(view.review.id, len(view.media) + index, item, now) for index, item in enumerate(media or [])]
    repo.reviews.add(*rows)
    if chat_id is not None and rows:
        caption = l10n("alert.resident_added_files", reference=view.review.reference)
        for batch_number, batch in enumerate(alerts.evidence_batches(rows, caption)):
            await outbox.enqueue(repo, chat_id=chat_id, kind="resident_reply", now=now, media=batch,
                                 dedupe_key=f"{key}:media:{batch_number}", review_id=view.review.id,
                                 reply_to_message_id=reply_to)
    return view


def _media_row(review_id: int, position: int, item: dict, now: datetime) -> ReviewMedia:
    return ReviewMedia(review_id=review_id, position=position, kind=item["kind"], file_id=item["file_id"],
                       file_unique_id=item["file_unique_id"], size=item.get("size"), mime=item.get("mime"),
                       sha256=item.get("sha256"), stored_path=item.get("stored_path"), created_at=now)


async def resident_finished(repo: Repositories, case_id: int, now: datetime) -> None:
    case = await repo.reviews.case(case_id)
    if case is not None and case.status == CaseStatus.WAITING_RESIDENT:
        case.status = CaseStatus.TAKEN if case.assignee_telegram_id else CaseStatus.OPEN
        review = await repo.reviews.get(case.review_id)
        review.status, review.updated_at = ReviewStatus.IN_PROGRESS, now


# --- Deadlines and lists ---------------------------------------------------------------------------------


async def remind(repo: Repositories, settings: Settings, calendar: WorkCalendar, now: datetime) -> int:
    """The working-morning job: reminders before and on due dates, and the overdue list. Idempotent per day."""
    chat_id = settings.prosecutor.chat_id
    today = local_date(now, settings.zone)
    if chat_id is None or not calendar.is_working_day(today):
        return 0
    l10n = alerts.chat_l10n(settings)
    queued = 0
    overdue: list[str] = []
    for view in await open_views(repo):
        due = view.case.due_date
        if due is None:
            continue
        line = case_line(view, l10n)
        if due < today:
            overdue.append(line)
        elif due == today or calendar.subtract_working_days(due, settings.prosecutor.remind_days_before) == today:
            key = "reminders.due_today" if due == today else "reminders.due_soon"
            queued += await outbox.enqueue(repo, chat_id=chat_id, kind="reminder", now=now,
                                           dedupe_key=f"remind:{view.review.reference}:{today}",
                                           text=l10n(key, line=line, due=due.strftime("%d.%m.%Y"),
                                                     days=settings.prosecutor.remind_days_before),
                                           review_id=view.review.id)
    if overdue:
        queued += await outbox.enqueue(repo, chat_id=chat_id, kind="reminder", now=now,
                                       dedupe_key=f"overdue:{today}",
                                       text=_bounded(l10n("reminders.overdue", count=len(overdue)), overdue, l10n))
    return queued


async def open_views(repo: Repositories) -> list[CaseView]:
    views = [await alerts.load(repo, case) for case in await repo.reviews.open_cases(OPEN_STATUSES)]
    return sorted(views, key=lambda v: (URGENCY_ORDER[v.case.urgency], v.case.due_date or date.max, v.case.id))


def case_line(view: CaseView, l10n: L10n) -> str:
    clinic = getattr(view.clinic, f"name_{l10n.language}")
    due = view.case.due_date.strftime("%d.%m.%Y") if view.case.due_date else "—"
    line = l10n("cases.line", mark=URGENCY_MARK[view.case.urgency], reference=view.review.reference,
                clinic=html.escape(clinic), due=due, status=l10n(f"case_status.{view.case.status}"))
    # Escalated: the polyclinic left it unanswered past clinics.answer_working_days (bot.services.clinics.escalate).
    return line + l10n("clinic_escalation.mark") if view.case.escalated_at is not None else line


def _bounded(title: str, lines: list[str], l10n: L10n, limit: int = 3800) -> str:
    """A title and as many lines as fit in one message, then how many were left out."""
    text = title
    for shown, line in enumerate(lines):
        if len(text) + len(line) + 1 > limit:
            return text + "\n" + l10n("cases.more", count=len(lines) - shown)
        text += "\n" + line
    return text


async def list_text(repo: Repositories, settings: Settings) -> str:
    l10n = alerts.chat_l10n(settings)
    views = await open_views(repo)
    if not views:
        return l10n("cases.none")
    return _bounded(l10n("cases.title", count=len(views)), [case_line(v, l10n) for v in views], l10n)


async def one_text(repo: Repositories, settings: Settings, reference: str) -> str:
    l10n = alerts.chat_l10n(settings)
    review = await repo.reviews.by_reference(reference.strip().upper())
    case = await repo.reviews.case_of(review.id) if review else None
    if case is None:
        return l10n("cases.not_found", reference=html.escape(reference))
    view = await alerts.load(repo, case)
    lines = [alerts.card_text(view, l10n, settings.zone), "", l10n("cases.history")]
    for entry in await repo.reviews.history(review.id):
        who = entry.actor_telegram_id or "—"
        lines.append(l10n("cases.history_line", when=entry.at.astimezone(settings.zone).strftime("%d.%m.%Y %H:%M"),
                          action=html.escape(entry.action), who=who))
    return _bounded(lines[0], lines[1:], l10n)
