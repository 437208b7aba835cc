"""The office's morning, run by the scheduler: the one message with its sections (due today, due soon, overdue,
escalated, last day to forward), the daily "new appeals" grouped by polyclinic, the calendar's end warned of, and
provisional due dates counted again when the ministry's table is added."""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, time

from aiogram.types import InlineKeyboardMarkup

from bot.cases import cards as alerts
from bot.cases import notices
from bot.cases.actions import forward_by
from bot.cases.cards import OPEN_STATUSES, URGENCY_MARK, CaseView
from bot.cases.deadlines import WorkCalendar, due_and_provisional, local_date, term_started
from bot.cases.lists import TEXT_LIMIT, URGENCY_ORDER, case_line, open_button, show_on_card
from bot.config import Settings
from bot.keyboards import name_in
from bot.l10n import L10n
from bot.services import outbox
from storage.models import CaseStatus
from storage.repositories import Repositories

log = logging.getLogger(__name__)

MORNING_RAN = "office.morning_ran"  # audited once a day the morning ran, whatever it found (see morning_ran)
MORNING_SECTIONS = ("today", "soon", "overdue", "escalated", "forward")  # in the morning message, in this order
# Under a morning message (the reminders, the new appeals): one for each case line that fits in it (about fifty),
# within Telegram's 100.
MORNING_BUTTONS = 60


def morning_time(settings: Settings) -> time:
    hour, minute = (int(part) for part in settings.prosecutor.morning_time.split(":"))
    return time(hour, minute)


def this_morning(settings: Settings, now: datetime) -> datetime:
    """When the office's morning falls on the day of `now` (prosecutor.morning_time in the city's zone)."""
    return datetime.combine(local_date(now, settings.zone), morning_time(settings), tzinfo=settings.zone)


def _day_number(now: datetime, settings: Settings) -> int:
    return int(local_date(now, settings.zone).strftime("%Y%m%d"))  # the audit entry's id: 20270127


async def record_morning_ran(repo: Repositories, settings: Settings, now: datetime) -> None:
    """The morning of `now`'s day ran (in its transaction: a run that failed is not recorded). Its messages alone
    cannot say so: a morning that found nothing due queued none."""
    if not await morning_ran(repo, settings, now):
        await repo.audit.record(now, None, MORNING_RAN, "morning", _day_number(now, settings))


async def morning_ran(repo: Repositories, settings: Settings, now: datetime) -> bool:
    """Whether the morning of `now`'s day has run already (the start-up's catch-up then has nothing to do)."""
    return await repo.audit.count(MORNING_RAN, "morning", _day_number(now, settings)) > 0


async def open_views(repo: Repositories) -> list[CaseView]:
    views = [await alerts.load(repo, case) for case in await repo.reviews.open_cases(OPEN_STATUSES)]
    return sorted(views, key=lambda v: (URGENCY_ORDER[v.case.urgency], v.case.due_date or date.max, v.case.id))


def _open_keyboard(views: list[CaseView], l10n: L10n) -> InlineKeyboardMarkup | None:
    seen: dict[int, CaseView] = {}
    for view in views:
        seen.setdefault(view.case.id, view)
    buttons = [[open_button(view, l10n)] for view in seen.values()]
    return InlineKeyboardMarkup(inline_keyboard=buttons) if buttons else None


def _headed(sections: list[tuple[str, list[CaseView]]],
            line_of: Callable[[CaseView], str]) -> list[tuple[str, CaseView]]:
    """One entry for each case's line; a section's heading (after a blank line) goes with its first case, so that
    it never stands alone at the end of a message cut short."""
    return [("\n".join(["", heading, line_of(view)] if index == 0 else [line_of(view)]), view)
            for heading, views in sections for index, view in enumerate(views)]


def _fitted(title: str, entries: list[tuple[str, CaseView]], l10n: L10n) -> tuple[str, InlineKeyboardMarkup | None]:
    """The title and as many entries as fit in one message, each case shown with its Open button, then how many
    cases are left out and where they are: after a long holiday (the New Year's) the cases pile up, and a line
    without a button, or "…and 21 more" saying nothing of where, is of no use to the office."""
    everyone = {view.case.id for _, view in entries}
    room = TEXT_LIMIT - len(l10n("case_office.more_in_cases", count=len(everyone)))
    text, shown = title, []
    for line, view in entries:
        if len(text) + len(line) + 1 > room or len(shown) >= MORNING_BUTTONS:
            break
        text += "\n" + line
        shown.append(view)
    left_out = len(everyone - {view.case.id for view in shown})
    if left_out:
        text += "\n" + l10n("case_office.more_in_cases", count=left_out)
    return text, _open_keyboard(shown, l10n)


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
        if alerts.clinic_silent(view):
            sections["escalated"].append(view)
        if due is None:
            continue
        # An extended appeal is due two calendar months after registration, which may be a Saturday or a holiday:
        # no morning falls on it, so it is reminded on the working days before it as if due on the last of them.
        reminded_on = due if calendar.is_working_day(due) else calendar.subtract_working_days(due, 1)
        if due < today:
            sections["overdue"].append(view)
        elif reminded_on <= today:
            sections["today"].append(view)
        elif reminded_on == soon_day:
            sections["soon"].append(view)
    if not any(sections.values()):
        return 0
    titles = {"today": l10n("reminders.section_today", due=today.strftime("%d.%m.%Y")),
              "soon": l10n("reminders.section_soon", days=l10n.count("working_days", days),
                           due=soon_day.strftime("%d.%m.%Y")),
              "overdue": l10n("reminders.overdue", count=len(sections["overdue"])),
              "escalated": l10n("clinic_escalation.title", count=len(sections["escalated"]),
                                days=l10n.count("working_days", settings.clinics.answer_working_days)),
              "forward": l10n("reminders.section_forward", day=today.strftime("%d.%m.%Y"))}
    entries = _headed([(titles[name], sections[name]) for name in MORNING_SECTIONS],
                      lambda view: case_line(view, l10n))
    text, markup = _fitted(l10n("reminders.title", day=today.strftime("%d.%m.%Y")), entries, l10n)
    return int(await outbox.enqueue(repo, chat_id=chat_id, kind="reminder", now=now, dedupe_key=f"morning:{today}",
                                    text=text, reply_markup=markup))


async def list_new_appeals(repo: Repositories, settings: Settings, calendar: WorkCalendar, now: datetime) -> int:
    """Ordinary (not urgent) appeals arrive once, in one daily "new appeals" message with an Open button each
    (urgent ones came as cards at once). Each case is listed once (Case.listed_at).

    The list is of the appeals registered before the morning's time, whenever the job runs: a run tried again
    later, or repeated at start-up, finds them listed and lists nothing (those registered since wait for the
    next morning, as they would have at 09:00), so the office gets one list a day."""
    chat_id = settings.prosecutor.chat_id
    today = local_date(now, settings.zone)
    if chat_id is None or not calendar.is_working_day(today):
        return 0
    cases = await repo.caseload.unlisted_ordinary(OPEN_STATUSES,
                                                  registered_before=this_morning(settings, now).astimezone(UTC))
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
    entries = _headed([(l10n("case_office.clinic_heading", clinic=html.escape(name_in(group[0].clinic, l10n.language)),
                             count=len(group)), group) for group in groups], lambda view: appeal_line(view, l10n))
    # Like the morning message: every case line shown has its button, the rest are pointed to /cases.
    text, markup = _fitted(l10n("case_office.new_appeals", count=len(views)), entries, l10n)
    return int(await outbox.enqueue(repo, chat_id=chat_id, kind="reminder", now=now,
                                    dedupe_key=f"new-appeals:{today}:{cases[0].id}", text=text, reply_markup=markup))


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
    """From 60 days before the published table ends: a warning in the log, and once a week in the office's chat, on
    a working day from the morning's time.
    Due dates counted over an unpublished year are still given (by the law's rules) and marked provisional."""
    today = local_date(now, settings.zone)
    left = (calendar.table_ends - today).days
    if left > 60:
        return False
    log.warning("the work calendar %s ends on %s (%s days): add the ministry's table for %s; due dates after it "
                "are provisional", calendar.source, calendar.table_ends, left, calendar.table_ends.year + 1)
    chat_id = settings.prosecutor.chat_id
    # The office hears it in its working hours: a restart at night or a weekend's run warns in the log only.
    if chat_id is None or not calendar.is_working_day(today) or now < this_morning(settings, now):
        return True
    l10n = alerts.chat_l10n(settings)
    year, week, _ = today.isocalendar()
    await outbox.enqueue(repo, chat_id=chat_id, kind="reminder", now=now, dedupe_key=f"calendar-ends:{year}-{week}",
                         text=l10n("case_office.calendar_ends", day=calendar.table_ends.strftime("%d.%m.%Y"),
                                   year=calendar.table_ends.year + 1, days=l10n.count("days", max(left, 0))))
    return True


async def recount_due_dates(repo: Repositories, settings: Settings, calendar: WorkCalendar, now: datetime) -> int:
    """Open appeals' due dates counted again on the calendar as it is now: provisional ones once the ministry's
    table for their year is added, and any other once a table already there is corrected (the year's transfer
    order, the announced date of Kurban Ait), which moves the law's last day, sooner as well as later."""
    changed = 0
    for case in await repo.caseload.open_with_counted_due(OPEN_STATUSES):
        if case.extended:
            case.due_provisional = False  # two calendar months: no working days are counted
            continue
        review = await repo.reviews.get(case.review_id)
        due, provisional = due_and_provisional(term_started(review.created_at, case.reopened_at), settings.zone,
                                               calendar, settings.feedback.appeal_working_days)
        if (due, provisional) == (case.due_date, bool(case.due_provisional)):
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
        # The card already in the chat shows the recounted date, no longer provisional.
        await show_on_card(repo, settings, case, now, "due",
                           f"{case.due_date.isoformat()}:{int(bool(case.due_provisional))}")
        changed += 1
    return changed
