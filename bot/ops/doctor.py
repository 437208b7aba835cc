"""`medfeedback doctor`: a checklist of the whole set-up, one line per check, before the first resident arrives."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import TextIO

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.cases.deadlines import WorkCalendar
from bot.config import Settings
from storage.engine import make_session_pool
from storage.migrate import pending_migrations
from storage.repositories import OpsRepo

CALENDAR_DAYS = 60
OK, FAILED = "✓", "✗"


@dataclass
class Check:
    ok: bool
    line: str


def calendar_end(calendar: WorkCalendar, today: date) -> date | None:
    """The last day of the run of years, from today's, that the calendar has data for (None: not even today's)."""
    year = today.year
    if year not in calendar.years:
        return None
    while year + 1 in calendar.years:
        year += 1
    return date(year, 12, 31)


def check_calendar(calendar: WorkCalendar, today: date) -> Check:
    end = calendar_end(calendar, today)
    needed = today + timedelta(days=CALENDAR_DAYS)
    if end is None:
        return Check(False, f"working-day calendar has no data for {today.year}: add [years.{today.year}] to "
                            f"{calendar.source}")
    if end < needed:
        return Check(False, f"working-day calendar ends on {end.isoformat()}, within {CALENDAR_DAYS} days (needed "
                            f"to {needed.isoformat()}): add [years.{end.year + 1}] to {calendar.source}")
    return Check(True, f"working-day calendar covers the next {CALENDAR_DAYS} days (to {end.isoformat()})")


# Kazakhstan's zones and their offset since 1 March 2024, when the country moved to a single UTC+5 (tzdata 2024a).
KAZAKHSTAN_ZONES = {"Asia/Almaty": timedelta(hours=5), "Asia/Qostanay": timedelta(hours=5)}


def _offset(delta: timedelta) -> str:
    sign, minutes = ("+" if delta >= timedelta(0) else "-"), abs(int(delta.total_seconds())) // 60
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def check_time_zone(name: str, zone: tzinfo, today: date) -> Check:
    """Deadlines, reminders and reference years are counted in `timezone`: a system tzdata older than 2024a still
    puts Almaty at UTC+6, and every registration near midnight, every morning message would be an hour off."""
    offset = datetime.combine(today, time(12), tzinfo=zone).utcoffset() or timedelta(0)
    wanted = KAZAKHSTAN_ZONES.get(name)
    if wanted is not None and offset != wanted:
        return Check(False, f"time zone {name} is {_offset(offset)} on this machine, but Kazakhstan has been on "
                            f"{_offset(wanted)} since 1 March 2024: the system's tzdata is out of date (update the "
                            f"tzdata package); deadlines and reminders would be an hour off")
    if wanted is not None:
        return Check(True, f"time zone {name} is {_offset(offset)}, as Kazakhstan's since 1 March 2024")
    return Check(True, f"time zone {name} is {_offset(offset)}")


def check_media(media_dir: Path, min_free_mb: int) -> Check:
    try:
        media_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=media_dir, prefix=".doctor-") as probe:
            probe.write(b"x")
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as error:
        return Check(False, f"media folder {media_dir} is not writable: {error.strerror or error}")
    free_mb = shutil.disk_usage(media_dir).free // (1024 * 1024)
    if free_mb < min_free_mb:
        return Check(False, f"media folder {media_dir} has {free_mb} MB free, less than ops.min_free_mb = "
                            f"{min_free_mb}")
    return Check(True, f"media folder {media_dir} is writable, {free_mb} MB free")


YEARS_WORDS = r"(жыл|лет|год|year)"


def check_consent_text(years: int) -> Check:
    """The consent text promises the retention period in words; the setting must say the same."""
    from bot.l10n import LANGUAGES, Translator

    translator = Translator()
    wrong = [language for language in LANGUAGES
             if not re.search(rf"(?<!\d){years}\s+{YEARS_WORDS}", translator[language]("consent.text", version=""))]
    if wrong:
        return Check(False, f"retention.closed_case_years = {years}, but the consent text ({', '.join(wrong)}) "
                            f"promises another period: make them agree (bot/locales/*/messages.toml, [consent] text)")
    return Check(True, f"retention keeps closed cases {years} years, as the consent text promises")


async def check_database(engine: AsyncEngine, url: str) -> list[Check]:
    shown = make_url(url).render_as_string(hide_password=True)
    try:
        async with engine.connect() as connection:
            await connection.exec_driver_sql("SELECT 1")
        pending = await pending_migrations(engine)
    except Exception as error:
        return [Check(False, f"database {shown} is not reachable: {type(error).__name__}: {error}"[:300])]
    reached = Check(True, f"database {shown} is reachable")
    if pending:
        return [reached, Check(False, f"database is not migrated: {len(pending)} migration(s) pending "
                                      f"({', '.join(pending)}): run `medfeedback db upgrade`")]
    return [reached, Check(True, "database migrations are current")]


async def check_clinic_numbers(engine: AsyncEngine) -> Check:
    """Residents, /linkclinic and /grant find a clinic by its number: two active clinics with one number split its
    reviews and ratings. Imports refuse that now; a directory stored before may still hold such a pair."""
    async with make_session_pool(engine)() as session:
        held = await OpsRepo(session).clinic_numbers_held_twice()
    if held:
        pairs = "; ".join(f"No. {number}: {', '.join(repr(external_id) for external_id in ids)}"
                          for number, ids in held.items())
        return Check(False, f"active clinics share a number ({pairs})"[:300] +
                     ": keep one active (import it with active = false on the others)")
    return Check(True, "every active clinic has a number of its own")


async def check_redis(url: str) -> Check:
    """Several instances keep conversations and per-chat locks there: it must answer."""
    from redis.asyncio import Redis

    shown = make_url(url).render_as_string(hide_password=True) if "://" in url else url
    client = Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        await client.ping()
    except Exception as error:
        return Check(False, f"fsm.storage {shown} does not answer: {type(error).__name__}: {error}"[:300])
    finally:
        await client.aclose()
    return Check(True, f"fsm.storage {shown} answers")


async def check_chat(bot: Bot, chat_id: int, what: str) -> Check:
    try:
        member = await bot.get_chat_member(chat_id, bot.id)
    except TelegramAPIError as error:
        return Check(False, f"{what} {chat_id}: Telegram says: {error.message}")
    if member.status in ("left", "kicked"):
        return Check(False, f"{what} {chat_id}: the bot is not a member (status {member.status}): add it")
    if member.status == "restricted" and not getattr(member, "can_send_messages", True):
        return Check(False, f"{what} {chat_id}: the bot may not send messages there: lift the restriction")
    if getattr(member, "can_post_messages", None) is False:
        return Check(False, f"{what} {chat_id}: the bot may not post in this channel: give it the right to post")
    return Check(True, f"{what} {chat_id}: the bot is a {member.status} and can post")


async def run_checks(settings: Settings, *, engine: AsyncEngine, bot: Bot | None, today: date,
                     calendar: WorkCalendar | None = None,
                     on_check: Callable[[Check], None] | None = None) -> list[Check]:
    checks: list[Check] = []

    def add(check: Check) -> None:
        checks.append(check)
        if on_check is not None:
            on_check(check)

    add(Check(True, f"configuration is valid (mode {settings.telegram.mode})"))
    database = await check_database(engine, settings.database.url)
    for check in database:
        add(check)
    if all(check.ok for check in database):
        add(await check_clinic_numbers(engine))
    if settings.fsm.storage != "database":
        add(await check_redis(settings.fsm.storage))
    add(check_media(settings.media.dir, settings.ops.min_free_mb))
    if bot is None:
        add(Check(False, "telegram.token is not set: set it in the config file or MEDFEEDBACK_TELEGRAM__TOKEN"))
    else:
        try:
            me = await bot.me()
            add(Check(True, f"Telegram accepts the token: the bot is @{me.username}"))
        except TelegramAPIError as error:
            add(Check(False, f"Telegram refuses the token or cannot be reached: {error.message}"))
            bot = None
        except Exception as error:
            add(Check(False, f"Telegram cannot be reached at {settings.telegram.api_server}: "
                             f"{type(error).__name__}"))
            bot = None
    if bot is not None:
        if settings.prosecutor.chat_id is None:
            add(Check(False, "prosecutor.chat_id is not set: urgent alerts have nowhere to go"))
        else:
            add(await check_chat(bot, settings.prosecutor.chat_id, "the office's chat"))
        if all(check.ok for check in database):
            async with make_session_pool(engine)() as session:
                chats = await OpsRepo(session).linked_clinic_chats()
            for chat in chats:
                add(await check_chat(bot, chat.chat_id, f"clinic {chat.clinic_id}'s chat"))
        if settings.telegram.mode == "webhook":
            wanted = settings.telegram.webhook.url
            try:
                info = await bot.get_webhook_info()
            except TelegramAPIError as error:
                add(Check(False, f"webhook: Telegram did not say where it is set: {error.message}"))
            else:
                add(_webhook_check(info.url, wanted))
    add(check_time_zone(settings.timezone, settings.zone, today))
    add(check_calendar(calendar or WorkCalendar.load(), today))
    add(check_consent_text(settings.retention.closed_case_years))
    if settings.admins:
        add(Check(True, f"{len(settings.admins)} admin(s) set"))
    else:
        add(Check(False, "admins is empty: nobody is told about delivery problems; set admins = [<Telegram id>]"))
    return checks


def _webhook_check(url: str, wanted: str | None) -> Check:
    if url != wanted:
        return Check(False, f"webhook is set to {url or 'nothing'!r}, not {wanted!r}: start the bot "
                            f"(`medfeedback run` sets it) or check telegram.webhook.url")
    return Check(True, f"webhook is set to {wanted}")


def print_check(check: Check, out: TextIO) -> None:
    print(f"{OK if check.ok else FAILED} {check.line}", file=out, flush=True)
