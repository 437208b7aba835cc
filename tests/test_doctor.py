"""`medfeedback doctor` against the fake Bot API: every check, and a clear failing line for each misconfiguration."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.cases.deadlines import WorkCalendar
from bot.config import Settings, load_settings
from bot.factory import create_bot
from bot.ops import doctor
from storage.engine import make_engine
from storage.models import Clinic, ClinicChat
from tests.conftest import TEST_TOKEN, App
from tests.fakes.fake_api import FakeTelegramAPI
from tests.flows import clinic_17

OFFICE = -1001234567890
TODAY = date(2026, 12, 1)


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramAPI]:
    async with FakeTelegramAPI(TEST_TOKEN) as api:
        yield api


def settings_for(api: FakeTelegramAPI, engine: AsyncEngine, tmp_path: Path, **overrides: object) -> Settings:
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    values: dict[str, object] = {
        "telegram": {"token": TEST_TOKEN, "api_server": api.base_url},
        "database": {"url": engine.url.render_as_string(hide_password=False)},
        "media": {"dir": str(tmp_path / "media")}, "prosecutor": {"chat_id": OFFICE}, "admins": [9001],
        "ops": {"min_free_mb": 1},
    }
    values.update(overrides)
    return load_settings(empty, **values)


async def checks_of(settings: Settings, engine: AsyncEngine, today: date = TODAY,
                    calendar: WorkCalendar | None = None) -> list[doctor.Check]:
    bot = create_bot(settings)
    try:
        return await doctor.run_checks(settings, engine=engine, bot=bot, today=today, calendar=calendar)
    finally:
        await bot.session.close()


def failed(checks: list[doctor.Check]) -> list[str]:
    return [check.line for check in checks if not check.ok]


async def test_a_correct_setup_passes_every_check(api: FakeTelegramAPI, engine: AsyncEngine, tmp_path: Path) -> None:
    checks = await checks_of(settings_for(api, engine, tmp_path), engine)
    assert failed(checks) == []
    lines = [check.line for check in checks]
    assert lines[0].startswith("configuration is valid")
    assert any("is reachable" in line for line in lines) and "database migrations are current" in lines
    assert any(line.startswith("media folder") and "writable" in line for line in lines)
    assert f"Telegram accepts the token: the bot is @{api.bot_user['username']}" in lines
    assert f"the office's chat {OFFICE}: the bot is a member and can post" in lines
    assert any(line.startswith("working-day calendar covers the next 60 days") for line in lines)
    assert "1 admin(s) set" in lines
    assert "retention keeps closed cases 5 years, as the consent text promises" in lines


async def test_a_retention_period_the_consent_text_does_not_promise_fails(api: FakeTelegramAPI, engine: AsyncEngine,
                                                                          tmp_path: Path) -> None:
    checks = await checks_of(settings_for(api, engine, tmp_path, retention={"closed_case_years": 3}), engine)
    assert failed(checks) == ["retention.closed_case_years = 3, but the consent text (kk, ru, en) promises another "
                              "period: make them agree (bot/locales/*/messages.toml, [consent] text)"]


async def test_a_wrong_office_chat_id_fails_with_telegrams_words(api: FakeTelegramAPI, engine: AsyncEngine,
                                                                  tmp_path: Path) -> None:
    checks = await checks_of(settings_for(api, engine, tmp_path, prosecutor={"chat_id": 424242}), engine)
    assert failed(checks) == ["the office's chat 424242: Telegram says: Bad Request: chat not found"]
    api.missing_chats.add(-1009999)  # a group id with a typo
    checks = await checks_of(settings_for(api, engine, tmp_path, prosecutor={"chat_id": -1009999}), engine)
    assert failed(checks) == ["the office's chat -1009999: Telegram says: Bad Request: chat not found"]


async def test_a_bot_removed_from_the_office_chat_fails(api: FakeTelegramAPI, engine: AsyncEngine,
                                                        tmp_path: Path) -> None:
    api.set_member_status(OFFICE, api.bot_user["id"], "left")
    checks = await checks_of(settings_for(api, engine, tmp_path), engine)
    assert failed(checks) == [f"the office's chat {OFFICE}: the bot is not a member (status left): add it"]


async def test_a_calendar_that_ends_within_60_days_fails(api: FakeTelegramAPI, engine: AsyncEngine,
                                                         tmp_path: Path) -> None:
    settings = settings_for(api, engine, tmp_path)
    # The shipped calendar ends with 2027: on 15 November 2027 only 46 days are left.
    checks = await checks_of(settings, engine, today=date(2027, 11, 15))
    [line] = failed(checks)
    assert line.startswith("working-day calendar ends on 2027-12-31, within 60 days (needed to 2028-01-14): "
                           "add [years.2028] to ")
    # The day before the 60 days reach into 2028 still passes; a year missing in between fails too.
    assert failed(await checks_of(settings, engine, today=date(2027, 11, 1))) == []
    gap = WorkCalendar.from_mapping({"years": {"2026": {"holidays": ["2026-12-16"]},
                                               "2028": {"holidays": ["2028-01-01"]}}})
    assert failed(await checks_of(settings, engine, today=date(2026, 12, 1), calendar=gap)) == [
        f"working-day calendar ends on 2026-12-31, within 60 days (needed to 2027-01-30): add [years.2027] to "
        f"{gap.source}"]


async def test_no_admins_an_unmigrated_database_and_a_wrong_webhook_fail(api: FakeTelegramAPI, tmp_path: Path) -> None:
    fresh = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")
    try:
        settings = settings_for(api, fresh, tmp_path, admins=[], telegram={
            "token": TEST_TOKEN, "api_server": api.base_url, "mode": "webhook",
            "webhook": {"url": "https://bot.example.kz/hook", "secret_token": "s3cret"}})
        lines = failed(await checks_of(settings, fresh))
    finally:
        await fresh.dispose()
    assert lines[0].startswith("database is not migrated: ") and "run `medfeedback db upgrade`" in lines[0]
    assert lines[1] == ("webhook is set to 'nothing', not 'https://bot.example.kz/hook': start the bot "
                        "(`medfeedback run` sets it) or check telegram.webhook.url")
    assert lines[2].startswith("admins is empty")
    assert len(lines) == 3


async def test_an_unreachable_database_and_a_refused_token_fail(api: FakeTelegramAPI, tmp_path: Path) -> None:
    missing = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}")
    try:
        settings = settings_for(api, missing, tmp_path, telegram={"token": "999:WRONG", "api_server": api.base_url})
        lines = failed(await checks_of(settings, missing))
    finally:
        await missing.dispose()
    assert lines[0].startswith("database sqlite+aiosqlite:///") and "is not reachable: OperationalError" in lines[0]
    assert lines[1] == "Telegram refuses the token or cannot be reached: Unauthorized"


@pytest.mark.usefixtures("demo_directory")
async def test_a_linked_clinic_chat_the_bot_left_fails(app: App, api: FakeTelegramAPI, engine: AsyncEngine,
                                                       tmp_path: Path) -> None:
    clinic = await clinic_17(app)
    async with app.pool() as session, session.begin():
        session.add(ClinicChat(clinic_id=clinic.id, chat_id=-100777, linked_at=datetime.now(UTC), active=True))
    api.set_member_status(-100777, api.bot_user["id"], "kicked")
    checks = await checks_of(settings_for(api, engine, tmp_path), engine)
    assert failed(checks) == [f"clinic {clinic.id}'s chat -100777: the bot is not a member (status kicked): add it"]


async def test_the_command_prints_the_checklist_and_exits_1_on_a_failure(api: FakeTelegramAPI, engine: AsyncEngine,
                                                                         tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'admins = [9001]\n[telegram]\ntoken = "{TEST_TOKEN}"\napi_server = "{api.base_url}"\n'
                      f'[database]\nurl = "{engine.url.render_as_string(hide_password=False)}"\n'
                      f'[media]\ndir = "{tmp_path / "media"}"\n[ops]\nmin_free_mb = 1\n'
                      f'[prosecutor]\nchat_id = 31337\n', encoding="utf-8")
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "--config", str(config), "doctor",
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                                   env={"PATH": "/usr/bin:/bin"})
    out, err = await asyncio.wait_for(process.communicate(), 120)
    text = out.decode()
    assert process.returncode == 1, (text, err.decode())
    assert "✗ the office's chat 31337: Telegram says: Bad Request: chat not found" in text.splitlines()
    assert "✓ database migrations are current" in text.splitlines()
    assert text.splitlines()[-1].endswith("checks passed, 1 failed")


def test_an_invalid_configuration_is_the_checklists_failed_first_line(tmp_path: Path) -> None:
    import subprocess

    config = tmp_path / "config.toml"
    config.write_text('[ops]\nlisten = "9090"\n', encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "bot", "--config", str(config), "doctor"], capture_output=True,
                          text=True, timeout=120, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 1
    first = done.stdout.splitlines()[0]
    assert first.startswith('✗ configuration is not valid: setting ops.listen must be "host:port"'), first


async def test_a_webhook_set_where_configured_passes(api: FakeTelegramAPI, engine: AsyncEngine, tmp_path: Path) -> None:
    hook = "http://127.0.0.1:8443/telegram/webhook"
    settings = settings_for(api, engine, tmp_path, telegram={
        "token": TEST_TOKEN, "api_server": api.base_url, "mode": "webhook",
        "webhook": {"url": hook, "secret_token": "s3cret"}})
    bot = create_bot(settings)
    try:
        await bot.set_webhook(hook, secret_token="s3cret")
    finally:
        await bot.session.close()
    checks = await checks_of(settings, engine)
    assert failed(checks) == [] and f"webhook is set to {hook}" in [check.line for check in checks]


@pytest.mark.redis
async def test_the_redis_of_the_conversations_must_answer(api: FakeTelegramAPI, engine: AsyncEngine,
                                                          tmp_path: Path) -> None:
    from tests.conftest import REDIS_URL
    from tests.fakes.process import free_port

    lines = [check.line for check in await checks_of(settings_for(api, engine, tmp_path, fsm={"storage": REDIS_URL}),
                                                     engine)]
    assert f"fsm.storage {REDIS_URL} answers" in lines
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    checks = await checks_of(settings_for(api, engine, tmp_path, fsm={"storage": nowhere}), engine)
    [line] = failed(checks)
    assert line.startswith(f"fsm.storage {nowhere} does not answer: ConnectionError")


@pytest.mark.usefixtures("demo_directory")
async def test_two_active_clinics_stored_with_one_number_fail(app: App, api: FakeTelegramAPI, engine: AsyncEngine,
                                                              tmp_path: Path) -> None:
    # A directory imported before imports refused a second No. 17 (a registry that renamed its ids) still holds
    # both: residents' reviews and ratings are split between them, and /linkclinic 17 acts on either.
    clinic = await clinic_17(app)
    async with app.pool() as session, session.begin():
        session.add(Clinic(external_id="renamed-17", number=17, name_kk="17", name_ru="17", name_en="17"))
        session.add(Clinic(external_id="closed-17", number=17, name_kk="17", name_ru="17", name_en="17",
                           active=False))  # an inactive one may keep the number
    checks = await checks_of(settings_for(api, engine, tmp_path), engine)
    assert failed(checks) == [f"active clinics share a number (No. 17: {clinic.external_id!r}, 'renamed-17'): "
                              "keep one active (import it with active = false on the others)"]


def test_the_time_zone_is_checked_against_kazakhstans_utc_plus_five() -> None:
    from datetime import timedelta, timezone
    from zoneinfo import ZoneInfo

    ok = doctor.check_time_zone("Asia/Almaty", ZoneInfo("Asia/Almaty"), TODAY)
    assert ok == doctor.Check(True, "time zone Asia/Almaty is UTC+05:00, as Kazakhstan's since 1 March 2024")
    # A server whose tzdata predates 2024 still puts Almaty at UTC+6: every deadline and reminder an hour off.
    stale = doctor.check_time_zone("Asia/Almaty", timezone(timedelta(hours=6)), TODAY)
    assert not stale.ok and "UTC+06:00" in stale.line and "tzdata" in stale.line
    # Another zone is the operator's choice: reported, not judged.
    assert doctor.check_time_zone("Europe/Berlin", ZoneInfo("Europe/Berlin"), TODAY).ok


async def test_the_checklist_has_the_time_zone_line(api: FakeTelegramAPI, engine: AsyncEngine, tmp_path: Path) -> None:
    lines = [check.line for check in await checks_of(settings_for(api, engine, tmp_path), engine)]
    assert "time zone Asia/Almaty is UTC+05:00, as Kazakhstan's since 1 March 2024" in lines
