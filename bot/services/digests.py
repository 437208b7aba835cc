"""Weekly digests: when each falls due (the digest's weekday and time, in Almaty), catching up after downtime, and
queueing each period once per chat with its chart, through the outbox."""

from __future__ import annotations

import asyncio
import os
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

from bot.config import WEEKDAYS, Settings
from bot.services import outbox
from bot.services.report_chart import render_chart
from bot.services.reports import Chart, Period, Report, city_report, clinic_report, local_today
from storage.repositories import Repositories

CATCH_UP_PERIODS = 4  # after downtime, at most this many missed weekly digests per chat are sent


SCHEDULE_GRACE = timedelta(hours=1)  # as the scheduler's misfire grace time: a run this late is still on time


def digest_time(settings: Settings) -> time:
    hour, minute = (int(part) for part in settings.digest.time.split(":"))
    return time(hour, minute)


def send_moment(day: date, settings: Settings) -> datetime:
    return datetime.combine(day, digest_time(settings), tzinfo=settings.zone)


def latest_send_day(now: datetime, settings: Settings) -> date:
    """The last digest day whose sending time has come by `now`."""
    today = local_today(now, settings.zone)
    day = today - timedelta(days=(today.weekday() - WEEKDAYS.index(settings.digest.weekday)) % 7)
    return day if send_moment(day, settings) <= now else day - timedelta(days=7)


def week_before(send_day: date) -> Period:
    """A digest covers the seven days before the day it is sent."""
    return Period(send_day - timedelta(days=7), send_day - timedelta(days=1))


def due_periods(now: datetime, settings: Settings, *, after: date | None, since: datetime | None = None,
                at_most: int = CATCH_UP_PERIODS) -> list[Period]:
    """The weekly periods whose digest had fallen due by `now`, oldest first, the latest `at_most` of them: those
    after `after` (the first day of the chat's last recorded period); for a chat that never had one, those due since
    `since` (when the chat became known), and none when that is not known either."""
    if after is None and since is None:
        return []
    day = latest_send_day(now, settings)
    periods: list[Period] = []
    while len(periods) < at_most:
        period = week_before(day)
        if period.first <= (after or date.min) or (after is None and send_moment(day, settings) < since):
            break
        periods.append(period)
        day -= timedelta(days=7)
    return periods[::-1]


@dataclass(frozen=True)
class DigestPlan:
    audience: str  # "prosecutor" or "clinic" (as DigestRun.audience)
    chat_id: int
    period: Period
    clinic_id: int | None = None


async def due_digests(repo: Repositories, settings: Settings, now: datetime, *,
                      on_schedule: bool = True) -> list[DigestPlan]:
    """Every chat's digests that had fallen due by `now` and are not recorded yet (missed ones too, a few).

    A chat that never had a digest is known since it was linked (a polyclinic's), or since the bot first wrote to it
    (the prosecutor's: then only the latest week is sent, not a backlog from before digests existed). When the bot
    never wrote to it, only the scheduled run sends, at its time: a start-up is not a reason for a digest."""
    plans: list[DigestPlan] = []
    chat_id = settings.prosecutor.chat_id
    if chat_id is not None:
        last = await repo.reports.last_digest(chat_id)
        if last is not None:
            periods = due_periods(now, settings, after=last.period_start)
        else:
            since = await repo.reports.first_message_to(chat_id) or (now - SCHEDULE_GRACE if on_schedule else None)
            periods = due_periods(now, settings, after=None, since=since, at_most=1)
        plans += [DigestPlan("prosecutor", chat_id, period) for period in periods]
    for link in await repo.reports.active_clinic_chats():
        last = await repo.reports.last_digest(link.chat_id)
        plans += [DigestPlan("clinic", link.chat_id, period, link.clinic_id)
                  for period in due_periods(now, settings, after=last.period_start if last else None,
                                            since=link.linked_at)]
    return plans


async def build_digest(repo: Repositories, settings: Settings, plan: DigestPlan) -> Report | None:
    """The digest's text and chart; None when the period was queued for the chat already."""
    if await repo.reports.digest_queued(plan.chat_id, plan.period.first):
        return None
    if plan.audience == "prosecutor":
        return await city_report(repo, settings, plan.period, title_key="reports.digest_title")
    return await clinic_report(repo, settings, plan.period, plan.clinic_id)


def chart_path(settings: Settings, plan: DigestPlan) -> Path:
    """One file per chat and period, so that two instances making the same digest write the same file."""
    return (settings.media.dir / "digests" / f"{plan.chat_id}-{plan.period.first:%Y-%m-%d}.png").resolve()


async def save_chart(chart: Chart, path: Path) -> Path:
    png = await asyncio.to_thread(render_chart, chart)

    def write() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
        partial.write_bytes(png)
        os.replace(partial, path)  # whole or not at all: the relay never uploads half a file

    await asyncio.to_thread(write)
    return path


async def queue_digest(repo: Repositories, plan: DigestPlan, report: Report, path: Path, now: datetime) -> bool:
    """Record the period and queue the text, then the chart, in the caller's transaction; False when the period
    was recorded meanwhile (another instance, or an overlapping run): then nothing is queued."""
    period = plan.period
    if not await repo.reports.record_digest(audience=plan.audience, chat_id=plan.chat_id, period_start=period.first,
                                            period_end=period.last, now=now):
        return False
    key = f"digest:{plan.chat_id}:{period.first.isoformat()}"
    await outbox.enqueue(repo, chat_id=plan.chat_id, kind="digest", dedupe_key=key, now=now, text=report.text)
    await outbox.enqueue(repo, chat_id=plan.chat_id, kind="digest", dedupe_key=f"{key}:chart", now=now,
                         media=[{"kind": "photo", "path": str(path), "caption": report.chart.caption}])
    return True
