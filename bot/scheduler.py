"""APScheduler jobs: the outbox sweep, the working-morning deadline reminders, the weekly digests (state lives in our
tables)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cases import morning
from bot.cases.deadlines import local_date
from bot.config import Settings
from bot.ops.health import Health
from bot.services import clinics, digests, ratings
from bot.services.relay import Relay
from bot.services.reviews import work_calendar
from bot.unit_of_work import is_infrastructure
from storage.repositories import Repositories

log = logging.getLogger(__name__)

Result = TypeVar("Result")

# A job that the database (or Telegram) failed is tried again after 0.5 s, 1, 2, 4 … and then every 5 minutes: a lock
# held for a moment costs a second; APScheduler alone would wait for the job's next run, a day later for a daily one.
JOB_RETRY_PAUSE = (0.5, 300.0)


async def tried_until_done_that_day(job: Callable[[], Awaitable[Result]], what: str, settings: Settings,
                                    clock: Callable[[], datetime]) -> Result:
    """`job` again after each failure nobody caused (bot.unit_of_work.is_infrastructure), for as long as it is
    still the day it ran for: a morning's message is still worth having at noon, and the next day has its own run.
    The job must be safe to repeat (its transaction rolled back, or its dedupe keys). A bug fails at once, as
    before: APScheduler logs it."""
    first, most = JOB_RETRY_PAUSE
    day, failures = local_date(clock(), settings.zone), 0
    while True:
        try:
            return await job()
        except Exception as error:
            if not is_infrastructure(error) or local_date(clock(), settings.zone) != day:
                raise
            pause = min(first * 2 ** failures, most)
            failures += 1
            # The error's type only: its text may hold a failed statement's values.
            log.warning("%s failed (%s); trying again in %s s", what, type(error).__name__, pause)
            await asyncio.sleep(pause)


async def morning_reminders(pool: async_sessionmaker[AsyncSession], settings: Settings,
                            clock: Callable[[], datetime], relay: Relay | None = None) -> int:
    """The office's morning: provisional due dates counted again (a table may have been added), the calendar's
    end warned of, cases the polyclinic left unanswered escalated, the day's "new appeals" and the one morning
    message (escalations are a section of it). Idempotent for the day (dedupe keys name the date, a listed or
    escalated case is marked, the new appeals are those registered before the morning's time), so a late or
    repeated run sends nothing twice, and a run the database failed is tried again (tried_until_done_that_day)."""
    queued = await tried_until_done_that_day(lambda: _morning(pool, settings, clock), "the office's morning",
                                             settings, clock)
    if queued and relay is not None:
        relay.wake()
    return queued


async def missed_morning(pool: async_sessionmaker[AsyncSession], settings: Settings,
                         clock: Callable[[], datetime], relay: Relay | None = None) -> int:
    """Once, at start-up: the office's morning, if today's time for it has passed and it did not run (the process
    was down then). A morning that ran and found nothing due is not run again: it would send the office a morning
    list in the afternoon, of what became due since (that is the next morning's)."""
    now = clock()
    if now < morning.this_morning(settings, now):
        return 0  # today's run is still to come
    async with pool() as session:
        if await morning.morning_ran(Repositories(session), settings, now):
            return 0
    return await morning_reminders(pool, settings, clock, relay)


async def _morning(pool: async_sessionmaker[AsyncSession], settings: Settings, clock: Callable[[], datetime]) -> int:
    calendar, now = work_calendar(), clock()
    async with pool() as session, session.begin():
        repo = Repositories(session)
        await morning.recount_due_dates(repo, settings, calendar, now)
        await clinics.escalate(repo, settings, calendar, now)  # before the message, so that it lists them
        await morning.check_calendar(repo, settings, calendar, now)
        queued = await morning.list_new_appeals(repo, settings, calendar, now)
        queued += await morning.remind(repo, settings, calendar, now)
        await morning.record_morning_ran(repo, settings, now)
    return queued


async def calendar_at_start(pool: async_sessionmaker[AsyncSession], settings: Settings,
                            clock: Callable[[], datetime]) -> int:
    """At start-up: due dates counted provisionally are counted again on a table added since, and the log warns
    when the table ends within 60 days."""
    calendar, now = work_calendar(), clock()
    async with pool() as session, session.begin():
        repo = Repositories(session)
        changed = await morning.recount_due_dates(repo, settings, calendar, now)
        await morning.check_calendar(repo, settings, calendar, now)
    return changed


async def escalate_unanswered(pool: async_sessionmaker[AsyncSession], settings: Settings,
                              clock: Callable[[], datetime]) -> int:
    """Escalation alone (the morning job does it before its message); it queues nothing. Idempotent: an escalated
    case is never escalated again, so a late or repeated run adds nothing."""
    async with pool() as session, session.begin():
        return len(await clinics.escalate(Repositories(session), settings, work_calendar(), clock()))


async def forget_old_updates(pool: async_sessionmaker[AsyncSession], clock: Callable[[], datetime]) -> int:
    """Telegram keeps an update for at most a day, so a week of ids is plenty to recognise redeliveries."""
    async with pool() as session, session.begin():
        return await Repositories(session).updates.forget_older_than(clock() - timedelta(days=7))


async def refresh_scores(pool: async_sessionmaker[AsyncSession], settings: Settings,
                         clock: Callable[[], datetime]) -> None:
    async with pool() as session, session.begin():
        await ratings.refresh_scores(Repositories(session), now=clock(), settings=settings)


async def weekly_digests(pool: async_sessionmaker[AsyncSession], settings: Settings,
                         clock: Callable[[], datetime], relay: Relay | None = None, *, on_schedule: bool = True) -> int:
    """Queue every chat's digests that have fallen due and are not recorded yet, missed ones included (a few):
    safe to run late, twice, or on two instances at once (each period is recorded with its messages, once a chat)."""
    now = clock()
    async with pool() as session, session.begin():
        plans = await digests.due_digests(Repositories(session), settings, now, on_schedule=on_schedule)
    queued = 0
    for plan in plans:
        try:
            # Read, then draw outside any transaction (SQLite's write lock is not held while matplotlib works),
            # then record and queue in one transaction.
            async with pool() as session, session.begin():
                report = await digests.build_digest(Repositories(session), settings, plan)
            if report is None:
                continue
            path = await digests.save_chart(report.chart, digests.chart_path(settings, plan))
            async with pool() as session, session.begin():
                queued += await digests.queue_digest(Repositories(session), plan, report, path, now)
        except Exception:  # one chat's failure must not cost the others their digest; the next run retries it
            log.exception("digest for chat %s, %s, not queued", plan.chat_id, plan.period.label())
    if queued and relay is not None:
        relay.wake()
    return queued


async def apply_retention(pool: async_sessionmaker[AsyncSession], settings: Settings,
                          clock: Callable[[], datetime]) -> None:
    from bot.cases import resident
    from bot.ops import retention

    now = clock()
    async with pool() as session, session.begin():
        await resident.answers_left_count_as_given(Repositories(session),
                                                   now - timedelta(days=settings.retention.draft_days), now)
    await retention.run(pool, settings, clock)


def make_scheduler(settings: Settings, pool: async_sessionmaker[AsyncSession], relay: Relay,
                   clock: Callable[[], datetime], health: Health | None = None) -> AsyncIOScheduler:
    # coalesce + max_instances=1: a backlog of missed runs becomes one run, never two at once. The grace
    # time is long because a late run is still useful (and our jobs are idempotent); 1 s would drop it.
    scheduler = AsyncIOScheduler(timezone=settings.zone, job_defaults={
        "coalesce": True, "max_instances": 1, "misfire_grace_time": 3600})
    sweep = settings.outbox.sweep_seconds
    scheduler.add_job(relay.run_once, IntervalTrigger(seconds=sweep), id="outbox-sweep", misfire_grace_time=sweep)
    morning_at = morning.morning_time(settings)
    # Every day: the job itself skips days off, and so also runs on a Saturday made a working day. It also escalates
    # what the polyclinics left unanswered past clinics.answer_working_days, and lists those in its one message.
    scheduler.add_job(morning_reminders, CronTrigger(hour=morning_at.hour, minute=morning_at.minute,
                                                     timezone=settings.zone),
                      args=(pool, settings, clock, relay), id="deadline-reminders")
    scheduler.add_job(forget_old_updates, CronTrigger(hour=3, minute=30, timezone=settings.zone), args=(pool, clock),
                      id="forget-updates")
    if settings.ratings.half_life_days:
        # With a half-life, old reviews weigh less every day, not only when a new review arrives.
        scheduler.add_job(refresh_scores, CronTrigger(hour=4, minute=0, timezone=settings.zone),
                          args=(pool, settings, clock),
                          id="refresh-scores")
    # A trigger made by hand keeps its own zone (the machine's by default), not the scheduler's: name it.
    digest_at = digests.digest_time(settings)
    scheduler.add_job(weekly_digests, CronTrigger(day_of_week=settings.digest.weekday, hour=digest_at.hour,
                                                  minute=digest_at.minute, timezone=settings.zone),
                      args=(pool, settings, clock, relay), id="weekly-digests")
    scheduler.add_job(calendar_at_start, args=(pool, settings, clock), id="calendar-at-start")
    # Daily: what outlived the periods the consent text promises (retention.*) is removed, and audited.
    retention_hour, retention_minute = (int(part) for part in settings.retention.time.split(":"))
    scheduler.add_job(apply_retention, CronTrigger(hour=retention_hour, minute=retention_minute,
                                                   timezone=settings.zone), args=(pool, settings, clock),
                      id="retention")
    if health is not None:
        # /readyz reads this heartbeat: a scheduler that stopped running jobs makes the process not ready.
        scheduler.add_job(health.beat, IntervalTrigger(seconds=max(1, int(health.heartbeat_stale) // 4)),
                          args=("scheduler",), id="ops-heartbeat", next_run_time=datetime.now(settings.zone))
    # Once, at start-up: the digests that fell due while the bot was down (the job queues only what is missing).
    scheduler.add_job(weekly_digests, args=(pool, settings, clock, relay), kwargs={"on_schedule": False},
                      id="missed-digests")
    # And today's morning, if the bot was down at its time: a due date's last reminder is that morning's message.
    scheduler.add_job(missed_morning, args=(pool, settings, clock, relay), id="missed-morning")
    return scheduler
