"""The prosecutor's handling of a case: actions with their audit and the resident's notice, deadlines, lists."""

from __future__ import annotations

import html
import logging
import tomllib
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.callbacks import AlertAction, AlertActionV1, CaseListV1
from bot.cases import cards as alerts
from bot.cases import notices
from bot.cases.cards import OPEN_STATUSES, URGENCY_MARK, CaseView
from bot.cases.deadlines import WorkCalendar, appeal_due_date, local_date, max_extension_date
from bot.config import Settings
from bot.keyboards import name_in
from bot.l10n import L10n, translator
from bot.ops.logs import bind_reference
from bot.services import clinics, outbox, ratings
from storage.models import AuditLog, Case, CaseStatus, Response, Review, ReviewMedia, ReviewStatus, Role, User
from storage.repositories import Repositories

log = logging.getLogger(__name__)

URGENCY_ORDER = {"critical": 0, "high": 1, "normal": 2}
TEMPLATES_PATH = Path(__file__).resolve().parents[1] / "data" / "answer_templates.toml"
FORWARD_WORKING_DAYS = 3  # APPK art. 76: an appeal outside the body's competence is forwarded within 3 working days
TEXT_LIMIT = 3800  # of one message to the chat (Telegram takes 4096; the rest is headroom for markup)
LIST_PAGE = 10
MORNING_SECTIONS = ("today", "soon", "overdue", "escalated", "forward")  # in the morning message, in this order
OPEN_BUTTONS = 30  # Open buttons under one morning or "new appeals" message
CLOSED_STATUSES = (CaseStatus.CLOSED, CaseStatus.REJECTED, CaseStatus.TRANSFERRED, CaseStatus.WITHDRAWN)
# Audit actions only the office sees: never in the resident's copy of their data (privacy keeps the same set).
INTERNAL_ACTIONS = frozenset({"case.note"})
# What a history line shows of an entry's details, by action (the substance, not codes).
HISTORY_DETAIL = {"case.asked": "question", "case.closed": "answer", "case.rejected": "reason",
                  "case.extended": "reason", "case.resident_added": "text", "case.note": "text",
                  "case.reopened": "reason", "case.withdrawn": "reason"}


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


async def _audit(repo: Repositories, view: CaseView, actor: int | None, action: str, now: datetime,
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
        await _audit(repo, view, actor, "case.taken", now)
    else:
        await _audit(repo, view, actor, "case.taken_over", now, previous_assignee=previous)
    await notices.status_changed(repo, view.review, view.author, now)
    return await alerts.load(repo, view.case)


def forward_by(view: CaseView, settings: Settings, calendar: WorkCalendar) -> date:
    """The last day to forward an appeal outside the office's competence: 3 working days after registration."""
    return calendar.add_working_days(local_date(view.review.created_at, settings.zone), FORWARD_WORKING_DAYS)


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
    await _audit(repo, view, actor, "case.forwarded", now, destination=destination,
                 delivered_another_way=destination == "clinic" and not reachable)
    resident_l10n = translator()[view.review.language]
    where = (html.escape(name_in(view.clinic, resident_l10n.language)) if destination == "clinic"
             else alerts.destination_name(destination, resident_l10n))
    await notices.forwarded(repo, view.review, view.author, where,
                            now.astimezone(settings.zone).strftime("%d.%m.%Y"), now)
    if reachable:
        await clinics.forwarded(repo, view.review, now, settings)
    return await alerts.load(repo, view.case)


async def ask(repo: Repositories, case_id: int, actor: int, question: str, now: datetime) -> CaseView:
    view = await _open_view(repo, case_id)
    view.case.status = CaseStatus.WAITING_RESIDENT
    view.case.assignee_telegram_id = view.case.assignee_telegram_id or actor
    view.review.status, view.review.updated_at = ReviewStatus.NEEDS_INFO, now
    await _audit(repo, view, actor, "case.asked", now, question=question)
    asked_before = await repo.audit.count("case.asked", "review", view.review.id)
    await notices.asked_for_more(repo, view.review, view.author, view.case.id, question, asked_before, now)
    return await alerts.load(repo, view.case)


async def answers_given(repo: Repositories, review_id: int) -> int:
    return await repo.audit.count("case.closed", "review", review_id)


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
    await _audit(repo, view, actor, "case.closed", now, answer=answer,
                 attachment=attachment["kind"] if attachment else None)
    await notices.answered(repo, view.review, view.author, answer, now, case_id=view.case.id, number=number,
                           attachment=attachment)
    return await alerts.load(repo, view.case)


async def reject(repo: Repositories, case_id: int, actor: int, reason: str, now: datetime) -> CaseView:
    view = await _open_view(repo, case_id)
    view.case.status, view.case.closed_at = CaseStatus.REJECTED, now
    view.case.assignee_telegram_id = view.case.assignee_telegram_id or actor
    view.review.status, view.review.updated_at = ReviewStatus.REJECTED, now
    await _audit(repo, view, actor, "case.rejected", now, reason=reason)
    await notices.rejected(repo, view.review, view.author, reason, now)
    return await alerts.load(repo, view.case)


async def extend(repo: Repositories, case_id: int, actor: int, reason: str, now: datetime,
                 settings: Settings) -> CaseView:
    """Once, to at most two months from registration; the resident is told the same day."""
    view = await _open_view(repo, case_id)
    if not view.case.formal_appeal or view.case.extended:
        raise CaseActionRefused("cases.cannot_extend")
    view.case.due_date = max_extension_date(view.review.created_at, settings.zone)
    view.case.extended, view.case.extension_reason = True, reason
    view.case.due_provisional = False  # two calendar months: no working days are counted
    await _audit(repo, view, actor, "case.extended", now, reason=reason, due=view.case.due_date.isoformat())
    await notices.extended(repo, view.review, view.author, view.case.due_date.strftime("%d.%m.%Y"), reason, now)
    return view


async def note(repo: Repositories, case_id: int, actor: int, text: str, now: datetime) -> CaseView:
    """An internal note: in the case's history for the office, never shown to the resident."""
    case = await repo.reviews.case(case_id)
    if case is None:
        raise CaseActionRefused("cases.unknown")
    view = await alerts.load(repo, case)
    await _audit(repo, view, actor, "case.note", now, text=text)
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
    due = max_extension_date(review.created_at, settings.zone).strftime("%d.%m.%Y")
    return notices.resident_text(review, "notify.extended", due=due, reason=html.escape(words))


# --- The resident's side ----------------------------------------------------------------------------------


async def _own_case(repo: Repositories, case_id: int, user_id: int) -> CaseView | None:
    case = await repo.reviews.case(case_id)
    if case is None:
        return None
    view = await alerts.load(repo, case)
    return view if view.review.user_id == user_id else None


async def _office_card_reply_to(repo: Repositories, view: CaseView, settings: Settings) -> int | None:
    chat_id = settings.prosecutor.chat_id
    card = await repo.outbox.card_of(view.review.id, chat_id) if chat_id is not None else None
    return card.sent_message_id if card is not None else None


async def resident_added(repo: Repositories, case_id: int, user_id: int, now: datetime, settings: Settings,
                         text: str | None = None, media: list[dict] | None = None, *,
                         asked: bool = True) -> CaseView | None:
    """More information from the resident joins the case and reaches the chat, under the card: asked for by the
    office (`asked`), or added on their own from My reviews to any open case."""
    case = await repo.reviews.case(case_id)
    if case is None or (case.status != CaseStatus.WAITING_RESIDENT if asked else case.status not in OPEN_STATUSES):
        return None
    view = await alerts.load(repo, case)
    if view.review.user_id != user_id:
        return None
    bind_reference(view.review.reference)
    chat_id = settings.prosecutor.chat_id
    reply_to = await _office_card_reply_to(repo, view, settings)
    l10n = alerts.chat_l10n(settings)
    number = await repo.audit.count("case.resident_added", "review", view.review.id) + 1
    key = f"resident:{view.review.reference}:{number}"
    await repo.audit.record(now, view.author.telegram_id, "case.resident_added", "review", view.review.id,
                            text=text or "", files=len(media or []), asked=asked)
    if chat_id is not None and text:
        await outbox.enqueue(repo, chat_id=chat_id, kind="resident_reply", now=now, dedupe_key=f"{key}:text",
                             review_id=view.review.id, reply_to_message_id=reply_to,
                             text=l10n("alert.resident_added" if asked else "case_office.resident_added_unasked",
                                       reference=view.review.reference, text=html.escape(text)))
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


async def verdict_applies(repo: Repositories, case_id: int, user_id: int, answer: int) -> CaseView | None:
    """The resident's button is about the latest answer of a case still closed with it, and it is theirs."""
    view = await _own_case(repo, case_id, user_id)
    if view is None or view.case.status != CaseStatus.CLOSED:
        return None
    return view if await answers_given(repo, view.review.id) == answer else None


async def settled(repo: Repositories, case_id: int, user_id: int, answer: int, now: datetime) -> CaseView | None:
    view = await verdict_applies(repo, case_id, user_id, answer)
    if view is None:
        return None
    if await repo.audit.count("case.settled", "review", view.review.id) < answer:
        await _audit(repo, view, view.author.telegram_id, "case.settled", now, answer=answer)
    return view


async def reopen(repo: Repositories, case_id: int, user_id: int, answer: int, reason: str, now: datetime,
                 settings: Settings) -> CaseView | None:
    """The resident disagrees with the answer: the case is open again, and the office's chat gets a new card,
    marked as reopened, with the reason and the history so far."""
    view = await verdict_applies(repo, case_id, user_id, answer)
    if view is None:
        return None
    case = view.case
    case.status = CaseStatus.TAKEN if case.assignee_telegram_id else CaseStatus.OPEN
    case.closed_at, case.reopened_at, case.reopened_count = None, now, (case.reopened_count or 0) + 1
    view.review.status, view.review.updated_at = ReviewStatus.IN_PROGRESS, now
    await _audit(repo, view, view.author.telegram_id, "case.reopened", now, reason=reason, answer=answer)
    view = await alerts.load(repo, case)
    chat_id = settings.prosecutor.chat_id
    if chat_id is not None:
        l10n = alerts.chat_l10n(settings)
        lines = [l10n("case_office.disagreement", reason=html.escape(reason)), "", l10n("cases.history"),
                 *await history_lines(repo, view, l10n, settings)]
        text = _bounded(alerts.card_text(view, l10n, settings.zone), ["", *lines], l10n)
        await outbox.enqueue(repo, chat_id=chat_id, kind="alert", now=now, text=text,
                             reply_markup=alerts.card_keyboard(view, l10n), review_id=view.review.id,
                             case_id=case.id, reference=view.review.reference,
                             summary=alerts.summary_line(view, l10n),
                             dedupe_key=f"alert:{view.review.reference}:{chat_id}:reopened:{case.reopened_count}")
    return view


async def withdraw(repo: Repositories, review: Review, user: User, now: datetime, settings: Settings) -> bool:
    """The resident withdraws an open appeal: recorded, the rating no longer counts it, the office is told."""
    case = await repo.reviews.case_of(review.id)
    if review.user_id != user.id or review.status == ReviewStatus.WITHDRAWN:
        return False
    if case is not None and case.status not in OPEN_STATUSES:
        return False
    review.status, review.updated_at = ReviewStatus.WITHDRAWN, now
    await repo.audit.record(now, user.telegram_id, "case.withdrawn", "review", review.id, reference=review.reference)
    await ratings.review_status_changed(repo, review, now=now, settings=settings)
    if case is None:
        return True
    case.status, case.closed_at = CaseStatus.WITHDRAWN, now
    chat_id = settings.prosecutor.chat_id
    if chat_id is not None:
        view = await alerts.load(repo, case)
        l10n = alerts.chat_l10n(settings)
        await outbox.enqueue(repo, chat_id=chat_id, kind="resident_reply", now=now, review_id=review.id,
                             reply_to_message_id=await _office_card_reply_to(repo, view, settings),
                             dedupe_key=f"withdrawn:{review.reference}:{chat_id}",
                             text=l10n("case_office.withdrawn", reference=review.reference))
    return True


# --- Deadlines, the morning, the calendar -----------------------------------------------------------------


async def open_views(repo: Repositories) -> list[CaseView]:
    views = [await alerts.load(repo, case) for case in await repo.reviews.open_cases(OPEN_STATUSES)]
    return sorted(views, key=lambda v: (URGENCY_ORDER[v.case.urgency], v.case.due_date or date.max, v.case.id))


def open_button(view: CaseView, l10n: L10n) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=l10n("alert.button_open", reference=view.review.reference),
                                callback_data=AlertActionV1(case_id=view.case.id, action=AlertAction.OPEN).pack())


def _open_keyboard(views: list[CaseView], l10n: L10n) -> InlineKeyboardMarkup | None:
    seen: dict[int, CaseView] = {}
    for view in views:
        seen.setdefault(view.case.id, view)
    buttons = [[open_button(view, l10n)] for view in list(seen.values())[:OPEN_BUTTONS]]
    return InlineKeyboardMarkup(inline_keyboard=buttons) if buttons else None


async def remind(repo: Repositories, settings: Settings, calendar: WorkCalendar, now: datetime) -> int:
    """The working-morning message: one per chat and day, with sections (due today, due in N working days,
    overdue, escalated because the polyclinic left it unanswered, last day to forward) and an Open button for each
    case. Idempotent per day (the dedupe key names the date)."""
    chat_id = settings.prosecutor.chat_id
    today = local_date(now, settings.zone)
    if chat_id is None or not calendar.is_working_day(today):
        return 0
    l10n = alerts.chat_l10n(settings)
    days = settings.prosecutor.remind_days_before
    soon_day = calendar.add_working_days(today, days)
    sections: dict[str, list[CaseView]] = {name: [] for name in MORNING_SECTIONS}
    for view in await open_views(repo):
        due = view.case.due_date
        # Nobody has touched it yet and today is the last day to forward it, should it be outside the office's
        # competence (APPK art. 76: 3 working days after registration).
        if view.case.status == CaseStatus.OPEN and view.case.formal_appeal \
                and forward_by(view, settings, calendar) == today:
            sections["forward"].append(view)
        # Escalated (bot.services.clinics.escalate) and the polyclinic still silent: the office's to chase.
        if view.case.escalated_at is not None and view.clinic_answered_at is None:
            sections["escalated"].append(view)
        if due is None:
            continue
        if due < today:
            sections["overdue"].append(view)
        elif due == today:
            sections["today"].append(view)
        elif due == soon_day:
            sections["soon"].append(view)
    if not any(sections.values()):
        return 0
    titles = {"today": l10n("reminders.section_today", due=today.strftime("%d.%m.%Y")),
              "soon": l10n("reminders.section_soon", days=days, due=soon_day.strftime("%d.%m.%Y")),
              "overdue": l10n("reminders.overdue", count=len(sections["overdue"])),
              "escalated": l10n("clinic_escalation.title", count=len(sections["escalated"]),
                                days=settings.clinics.answer_working_days),
              "forward": l10n("reminders.section_forward", day=today.strftime("%d.%m.%Y"))}
    lines: list[str] = []
    for name in MORNING_SECTIONS:
        if sections[name]:
            lines += ["", titles[name], *(case_line(view, l10n) for view in sections[name])]
    text = _bounded(l10n("reminders.title", day=today.strftime("%d.%m.%Y")), lines, l10n)
    ordered = [view for name in MORNING_SECTIONS for view in sections[name]]
    return int(await outbox.enqueue(repo, chat_id=chat_id, kind="reminder", now=now, dedupe_key=f"morning:{today}",
                                    text=text, reply_markup=_open_keyboard(ordered, l10n)))


async def list_new_appeals(repo: Repositories, settings: Settings, calendar: WorkCalendar, now: datetime) -> int:
    """Ordinary (not urgent) appeals arrive once, in one daily "new appeals" message with an Open button each
    (urgent ones came as cards at once). Each case is listed once (Case.listed_at)."""
    chat_id = settings.prosecutor.chat_id
    today = local_date(now, settings.zone)
    if chat_id is None or not calendar.is_working_day(today):
        return 0
    cases = await repo.caseload.unlisted_ordinary(OPEN_STATUSES)
    if not cases:
        return 0
    l10n = alerts.chat_l10n(settings)
    views = [await alerts.load(repo, case) for case in cases]
    for case in cases:
        case.listed_at = now
    # Grouped by polyclinic (by its name in the chat's language), each group oldest first: who handles which
    # polyclinic, or visits it, takes its appeals together.
    by_clinic: dict[int, list[CaseView]] = {}
    for view in views:
        by_clinic.setdefault(view.clinic.id, []).append(view)
    groups = sorted(by_clinic.values(), key=lambda group: name_in(group[0].clinic, l10n.language))
    lines: list[str] = []
    for group in groups:
        lines += ["", l10n("case_office.clinic_heading", clinic=html.escape(name_in(group[0].clinic, l10n.language)),
                           count=len(group)), *(appeal_line(view, l10n) for view in group)]
    ordered = [view for group in groups for view in group]
    text = _bounded(l10n("case_office.new_appeals", count=len(views)), lines, l10n)
    if len(views) > OPEN_BUTTONS:
        text += "\n" + l10n("case_office.more_in_cases", count=len(views) - OPEN_BUTTONS)
    return int(await outbox.enqueue(repo, chat_id=chat_id, kind="reminder", now=now,
                                    dedupe_key=f"new-appeals:{today}:{cases[0].id}", text=text,
                                    reply_markup=_open_keyboard(ordered, l10n)))


def appeal_line(view: CaseView, l10n: L10n) -> str:
    """One appeal under its polyclinic's heading: what it is about and when it is due."""
    review = view.review
    about = l10n(f"category.{review.category}") if review.category else l10n(f"kind.{review.kind}")
    due = view.case.due_date.strftime("%d.%m.%Y") if view.case.due_date else "—"
    if view.case.due_provisional:
        due += l10n("case_card.provisional_short")
    return l10n("case_office.appeal_line", mark=URGENCY_MARK[view.case.urgency], reference=review.reference,
                about=about, due=due)


async def check_calendar(repo: Repositories, settings: Settings, calendar: WorkCalendar, now: datetime) -> bool:
    """From 60 days before the published table ends: a warning in the log, and once a week in the office's chat.
    Due dates counted over an unpublished year are still given (by the law's rules) and marked provisional."""
    today = local_date(now, settings.zone)
    left = (calendar.table_ends - today).days
    if left > 60:
        return False
    log.warning("the work calendar %s ends on %s (%s days): add the ministry's table for %s; due dates after it "
                "are provisional", calendar.source, calendar.table_ends, left, calendar.table_ends.year + 1)
    chat_id = settings.prosecutor.chat_id
    if chat_id is None:
        return True
    l10n = alerts.chat_l10n(settings)
    year, week, _ = today.isocalendar()
    await outbox.enqueue(repo, chat_id=chat_id, kind="reminder", now=now, dedupe_key=f"calendar-ends:{year}-{week}",
                         text=l10n("case_office.calendar_ends", day=calendar.table_ends.strftime("%d.%m.%Y"),
                                   year=calendar.table_ends.year + 1, days=max(left, 0)))
    return True


def due_of(registered_at: datetime, settings: Settings, calendar: WorkCalendar) -> tuple[date, bool]:
    """The appeal's due date and whether it is provisional (counted over a year the table does not cover)."""
    due = appeal_due_date(registered_at, settings.zone, calendar, settings.feedback.appeal_working_days)
    return due, calendar.provisional(local_date(registered_at, settings.zone), due)


async def recompute_provisional(repo: Repositories, settings: Settings, calendar: WorkCalendar,
                                now: datetime) -> int:
    """Once the ministry's table for a year is added, provisional due dates are counted again on it."""
    changed = 0
    for case in await repo.caseload.provisional_open(OPEN_STATUSES):
        if case.extended:
            case.due_provisional = False
            continue
        review = await repo.reviews.get(case.review_id)
        due, provisional = due_of(review.created_at, settings, calendar)
        if (due, provisional) == (case.due_date, True):
            continue
        before = case.due_date
        case.due_date, case.due_provisional = due, provisional
        await repo.audit.record(now, None, "case.due_recomputed", "review", review.id, reference=review.reference,
                                before=before.isoformat() if before else None, due=due.isoformat(),
                                provisional=provisional)
        if due != before:  # the receipt promised to say so
            author = await repo.users.get(review.user_id)
            await notices.to_resident(repo, review, author, f"due:{due.isoformat()}", now,
                                      key="case_notify.due_changed", due=due.strftime("%d.%m.%Y"))
        await _show_due_on_card(repo, settings, case, now)
        changed += 1
    return changed


async def _show_due_on_card(repo: Repositories, settings: Settings, case: Case, now: datetime) -> None:
    """The card already in the office's chat shows the recounted due date, no longer provisional (the edit goes
    through the outbox: no button was pressed, so nobody else edits it)."""
    chat_id = settings.prosecutor.chat_id
    if chat_id is None or await repo.outbox.card_of(case.review_id, chat_id) is None:
        return  # an ordinary case never opened in the chat has no card to correct
    view = await alerts.load(repo, case)
    l10n = alerts.chat_l10n(settings)
    await outbox.edit_card(repo, chat_id=chat_id, review_id=case.review_id, now=now,
                           dedupe_key=f"card-due:{view.review.reference}:{chat_id}:{case.due_date.isoformat()}:"
                                      f"{int(bool(case.due_provisional))}",
                           text=alerts.card_text(view, l10n, settings.zone),
                           reply_markup=alerts.card_keyboard(view, l10n))


# --- What the office reads: lines, lists, one case with its history ----------------------------------------


def case_line(view: CaseView, l10n: L10n) -> str:
    clinic = getattr(view.clinic, f"name_{l10n.language}")
    due = view.case.due_date.strftime("%d.%m.%Y") if view.case.due_date else "—"
    if view.case.due_provisional:
        due += l10n("case_card.provisional_short")
    line = l10n("cases.line", mark=URGENCY_MARK[view.case.urgency], reference=view.review.reference,
                clinic=html.escape(clinic), due=due, status=l10n(f"case_status.{view.case.status}"))
    if view.assignee_name:
        line += l10n("case_office.line_assignee", name=html.escape(view.assignee_name))
    if view.case.reopened_count:
        line += l10n("case_office.line_reopened")
    if view.clinic_answered_at is not None and view.case.status in OPEN_STATUSES:
        line += l10n("case_office.line_clinic_answered")
    # Escalated: the polyclinic left it unanswered past clinics.answer_working_days (bot.services.clinics.escalate).
    return line + l10n("clinic_escalation.mark") if view.case.escalated_at is not None else line


def _bounded(title: str, lines: list[str], l10n: L10n, limit: int = TEXT_LIMIT) -> str:
    """A title and as many lines as fit in one message, then how many were left out."""
    text = title
    for shown, line in enumerate(lines):
        if len(text) + len(line) + 1 > limit:
            return text + "\n" + l10n("cases.more", count=len(lines) - shown)
        text += "\n" + line
    return text


@dataclass
class CaseQuery:
    """The filters of /cases, read from its words (see the usage text, cases.usage_list)."""

    statuses: tuple[str, ...] = OPEN_STATUSES
    urgency: str | None = None
    clinic_number: int | None = None
    district: str | None = None
    category: str | None = None
    mine: bool = False
    overdue: bool = False
    escalated: bool = False
    words: str | None = None


STATUS_WORDS = {"open": OPEN_STATUSES, "closed": (CaseStatus.CLOSED,), "rejected": (CaseStatus.REJECTED,),
                "forwarded": (CaseStatus.FORWARDED, CaseStatus.TRANSFERRED), "withdrawn": (CaseStatus.WITHDRAWN,),
                "waiting": (CaseStatus.WAITING_RESIDENT,), "all": ()}


def parse_query(args: str | None) -> CaseQuery:
    """`/cases [open|closed|rejected|forwarded|withdrawn|waiting|all] [critical|high|normal] [mine] [overdue]
    [escalated] [clinic:17] [district:almaly] [category:extortion] [words to search]`."""
    query = CaseQuery()
    words = []
    for word in (args or "").split():
        low = word.lower()
        if low in STATUS_WORDS:
            query.statuses = STATUS_WORDS[low]
        elif low in URGENCY_ORDER:
            query.urgency = low
        elif low == "mine":
            query.mine = True
        elif low == "overdue":
            query.overdue = True
        elif low == "escalated":
            query.escalated = True
        elif low.startswith("clinic:") and low[7:].isdigit():
            query.clinic_number = int(low[7:])
        elif low.startswith("district:") and low[9:]:
            query.district = low[9:]
        elif low.startswith("category:") and low[9:]:
            query.category = low[9:]
        else:
            words.append(word)
    query.words = " ".join(words) or None
    return query


async def list_page(repo: Repositories, settings: Settings, args: str | None, page: int, actor: int,
                    today: date) -> tuple[str, InlineKeyboardMarkup | None]:
    """One page of /cases: the filtered cases with an Open button each, and pages."""
    l10n = alerts.chat_l10n(settings)
    query = parse_query(args)
    clinic_id = district_id = None
    if query.clinic_number is not None:
        clinic = await repo.clinics.find(str(query.clinic_number))
        clinic_id = clinic.id if clinic else -1
    if query.district is not None:
        match = [d for d in await repo.directory.districts()
                 if query.district in (d.external_id.lower(), d.name_en.lower(), d.name_ru.lower(), d.name_kk.lower())
                 or d.external_id.lower().endswith(":" + query.district)]
        district_id = match[0].id if match else -1
    reference = None
    if query.words and (found := _reference_of(query.words, today.year)):
        reference, query.words = found, None
    name_ids = await repo.caseload.people_named(query.words) if query.words else []
    cases, total = await repo.caseload.search(
        statuses=query.statuses, urgency=query.urgency, clinic_id=clinic_id, district_id=district_id,
        category=query.category, assignee=actor if query.mine else None,
        overdue_before=today if query.overdue else None, escalated=query.escalated, words=query.words,
        name_ids=name_ids, reference=reference, offset=page * LIST_PAGE, limit=LIST_PAGE)
    if total == 0:
        return l10n("cases.none_found"), None
    views = [await alerts.load(repo, case) for case in cases]
    pages = (total + LIST_PAGE - 1) // LIST_PAGE
    title = l10n("cases.title_found", count=total, page=page + 1, pages=pages)
    text = _bounded(title, [case_line(view, l10n) for view in views], l10n)
    rows = [[open_button(view, l10n)] for view in views]
    packed = (args or "").replace(":", "=")  # ":" separates the fields of callback data
    turns = []
    try:
        if page > 0:
            turns.append(InlineKeyboardButton(text=l10n("cases.previous"),
                                              callback_data=CaseListV1(page=page - 1, query=packed).pack()))
        if page + 1 < pages:
            turns.append(InlineKeyboardButton(text=l10n("cases.next"),
                                              callback_data=CaseListV1(page=page + 1, query=packed).pack()))
    except ValueError:  # the filters do not fit in a button's 64 bytes: no pages, but the way to narrow it
        turns = []
        text += "\n" + l10n("cases.narrow")
    if turns:
        rows.append(turns)
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


def _reference_of(words: str, year: int) -> str | None:
    """`AL-2026-000123`, or just its number (`123`, taken as this year's)."""
    word = words.strip().upper()
    if word.startswith("AL-") and len(word.split("-")) == 3:
        return word
    if word.isdigit() and len(word) <= 6:
        return f"AL-{year}-{int(word):06d}"
    return None


async def find_case(repo: Repositories, words: str, year: int) -> Case | None:
    reference = _reference_of(words, year)
    review = await repo.reviews.by_reference(reference) if reference else None
    return await repo.reviews.case_of(review.id) if review else None


async def who(repo: Repositories, entry: AuditLog, view: CaseView, l10n: L10n) -> str:
    """The person by name, the resident (never their Telegram id), or the bot."""
    actor = entry.actor_telegram_id
    if actor is None:
        return l10n("case_history.system")
    if view.author.telegram_id is not None and actor == view.author.telegram_id:
        return l10n("case_history.resident")
    return await name_of(repo, actor, l10n)


async def history_lines(repo: Repositories, view: CaseView, l10n: L10n, settings: Settings) -> list[str]:
    """Who did what, with the substance: the question, the addition, the extension's reason, the destination,
    the answer's text, the reopening."""
    lines = []
    for entry in await repo.reviews.history(view.review.id):
        details = entry.details or {}
        action = l10n(f"case_history.{entry.action}") if l10n.has(f"case_history.{entry.action}") \
            else html.escape(entry.action)
        detail = details.get(HISTORY_DETAIL.get(entry.action, ""))
        if entry.action == "case.forwarded" and details.get("destination"):
            destination = details["destination"]
            detail = (html.escape(name_in(view.clinic, l10n.language)) if destination == "clinic"
                      else alerts.destination_name(destination, l10n))
        elif entry.action == "case.taken_over" and details.get("previous_assignee"):
            detail = l10n("case_history.from", name=await name_of(repo, details["previous_assignee"], l10n))
        elif entry.action == "case.extended" and details.get("due"):
            detail = l10n("case_history.extended_to", due=date.fromisoformat(details["due"]).strftime("%d.%m.%Y"),
                          reason=html.escape(str(details.get("reason") or "")))
        elif detail:
            detail = html.escape(str(detail))
            detail = detail if len(detail) <= 500 else detail[:500] + "…"
        line = l10n("cases.history_line", when=entry.at.astimezone(settings.zone).strftime("%d.%m.%Y %H:%M"),
                    action=action, who=await who(repo, entry, view, l10n))
        lines.append(line + (f": {detail}" if detail else ""))
    return lines


async def one_case(repo: Repositories, settings: Settings, words: str,
                   today: date) -> tuple[str, InlineKeyboardMarkup | None]:
    """/case REF (or its number): the card with its history, and the actions its state allows."""
    l10n = alerts.chat_l10n(settings)
    case = await find_case(repo, words, today.year)
    if case is None:
        return l10n("cases.not_found", reference=html.escape(words)), None
    view = await alerts.load(repo, case)
    bind_reference(view.review.reference)
    lines = ["", l10n("cases.history"), *await history_lines(repo, view, l10n, settings)]
    return _bounded(alerts.card_text(view, l10n, settings.zone), lines, l10n), alerts.card_keyboard(view, l10n)


# --- Response templates -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    id: str
    titles: dict[str, str]
    texts: dict[str, str]


@lru_cache(maxsize=1)
def answer_templates(path: Path = TEMPLATES_PATH) -> tuple[Template, ...]:
    """The office's answer templates (bot/data/answer_templates.toml), each in kk, ru and en."""
    with path.open("rb") as file:
        data = tomllib.load(file)
    return tuple(Template(key, {lang: body[lang]["title"] for lang in ("kk", "ru", "en")},
                          {lang: body[lang]["text"] for lang in ("kk", "ru", "en")})
                 for key, body in data["templates"].items())


def template(template_id: str) -> Template | None:
    return next((t for t in answer_templates() if t.id == template_id), None)
