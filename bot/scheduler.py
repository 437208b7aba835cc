"""APScheduler jobs: the outbox sweep and the working-morning deadline reminders (state lives in our tables)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.services import cases
from bot.services.outbox import Relay
from bot.services.reviews import work_calendar
from storage.repositories import Repositories

log = logging.getLogger(__name__)


async def morning_reminders(pool: async_sessionmaker[AsyncSession], settings: Settings,
                            clock: Callable[[], datetime], relay: Relay | None = None) -> int:
    """Idempotent for the day (dedupe keys name the date), so a late or repeated run sends nothing twice."""
    async with pool() as session, session.begin():
        queued = await cases.remind(Repositories(session), settings, work_calendar(), clock())
    if queued and relay is not None:
        relay.wake()
    return queued


async def forget_old_updates(pool: async_sessionmaker[AsyncSession], clock: Callable[[], datetime]) -> int:
    """Telegram keeps an update for at most a day, so a week of ids is plenty to recognise redeliveries."""
    async with pool() as session, session.begin():
        return await Repositories(session).updates.forget_older_than(clock() - timedelta(days=7))


def make_scheduler(settings: Settings, pool: async_sessionmaker[AsyncSession], relay: Relay,
                   clock: Callable[[], datetime]) -> AsyncIOScheduler:
    # coalesce + max_instances=1: a backlog of missed runs becomes one run, never two at once. The grace
    # time is long because a late run is still useful (and our jobs are idempotent); 1 s would drop it.
    scheduler = AsyncIOScheduler(timezone=settings.zone, job_defaults={
        "coalesce": True, "max_instances": 1, "misfire_grace_time": 3600})
    sweep = settings.outbox.sweep_seconds
    scheduler.add_job(relay.run_once, IntervalTrigger(seconds=sweep), id="outbox-sweep", misfire_grace_time=sweep)
    hour, minute = (int(part) for part in settings.prosecutor.morning_time.split(":"))
    # Every day: the job itself skips days off, and so also runs on a Saturday made a working day.
    scheduler.add_job(morning_reminders, CronTrigger(hour=hour, minute=minute),
                      args=(pool, settings, clock, relay), id="deadline-reminders")
    scheduler.add_job(forget_old_updates, CronTrigger(hour=3, minute=30), args=(pool, clock), id="forget-updates")
    return scheduler
