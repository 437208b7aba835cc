"""Health, readiness, metrics and logs of one process: what /readyz says and why, what is counted, what is logged."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiogram.methods import SendMessage
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from aiohttp.web import Application
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.cases import cards as alerts
from bot.factory import create_dispatcher
from bot.ops.health import Health
from bot.ops.logs import JsonFormatter, UpdateContext, bind_reference, current_update, setup_logging
from bot.ops.metrics import Metrics, TelegramWatch
from bot.ops.server import OpsRoutes
from bot.services.relay import Relay
from storage.engine import make_engine
from tests.conftest import App
from tests.flows import PHOTO_A, PHOTO_B, RU, choose_clinic_17, resident

CHAT = -1001234567890
RESIDENT, OFFICER = 987654321, 7001
NAME, PHONE = "Сауле", "+77015550123"
WORDS = "Главврач потребовал двадцать тысяч за направление на МРТ"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Every INFO line of the process, as the text format writes it (the handler the bot installs)."""
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = setup_logging("text", "INFO", stream)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


async def serve(routes: OpsRoutes) -> AsyncIterator[str]:
    app = Application()
    routes.register(app)
    server = TestServer(app)
    await server.start_server()
    try:
        yield str(server.make_url(""))
    finally:
        await server.close()


async def fetch(base: str, path: str) -> tuple[int, str]:
    async with ClientSession() as client, client.get(base + path) as response:
        return response.status, await response.text()


async def test_readyz_names_each_reason_and_turns_ready_when_all_is_well(engine: AsyncEngine) -> None:
    clock = FakeClock()
    health = Health(engine, telegram_stale=300, heartbeat_stale=120, clock=clock)
    async for base in serve(OpsRoutes(health)):
        assert await fetch(base, "/healthz") == (200, "ok\n")
        assert await fetch(base, "/readyz") == (503, "not ready: relay: no pass yet; scheduler: no pass yet; "
                                                     "telegram: no answer yet\n")
        health.beat("relay")
        health.beat("scheduler")
        health.telegram_answered()
        assert await fetch(base, "/readyz") == (200, "ready\n")
        clock.now += 121
        health.beat("scheduler")
        assert await fetch(base, "/readyz") == (503, "not ready: relay: no pass for 121 s\n")
        health.telegram_answered()
        clock.now += 301
        health.beat("relay")
        health.beat("scheduler")
        assert await fetch(base, "/readyz") == (503, "not ready: telegram: no answer for 301 s\n")
        health.telegram_answered()
        health.stopping = True
        assert await fetch(base, "/readyz") == (503, "not ready: stopping\n")
        assert (await fetch(base, "/healthz"))[0] == 200


async def test_readyz_fails_on_an_unmigrated_or_unreachable_database(tmp_path: Path) -> None:
    fresh = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")
    gone = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'no' / 'such' / 'folder.db'}")
    try:
        for engine, reason in ((fresh, r"database: \d+ migration\(s\) not applied \(0001, "),
                               (gone, r"database: OperationalError")):
            health = Health(engine, required=())
            health.telegram_answered()
            async for base in serve(OpsRoutes(health)):
                status, body = await fetch(base, "/readyz")
                assert status == 503 and re.match("not ready: " + reason, body), body
    finally:
        await fresh.dispose()
        await gone.dispose()


async def test_a_scrape_while_the_database_is_down_still_answers(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from storage.engine import make_session_pool

    gone = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'no' / 'folder.db'}")
    metrics = Metrics()
    routes = OpsRoutes(Health(gone), metrics, make_session_pool(gone), lambda: datetime.now(UTC), UTC)
    try:
        async for base in serve(routes):
            status, page = await fetch(base, "/metrics")
    finally:
        await gone.dispose()
    assert status == 200 and "medfeedback_database_up 0.0" in page


async def full_review_flow(app: App, metrics: Metrics) -> str:
    """A named complaint with a phone, photos and words; the alert; the office takes it and answers; the resident
    hears back. Returns the reference."""
    dp = create_dispatcher(app.settings, session_pool=app.pool, clock=app.clock, metrics=metrics)
    app = App(app.settings, app.pool, app.bot, dp, app.session, app.updates, app.clock)
    person = await resident(app, RESIDENT, first_name=NAME)
    await person.press(RU("menu.leave_feedback"))
    await choose_clinic_17(person)
    await person.press(RU("target.clinic"))
    await person.press(RU("kind.violation"))
    await person.press(RU("category.extortion"))
    await person.send(WORDS)
    await person.album([PHOTO_A, PHOTO_B])
    await person.press(RU("when.today"))
    await person.contact(PHONE)
    reply = await person.press(RU("preview.submit"))
    reference = re.search(r"AL-\d{4}-\d{6}", " ".join(reply.texts)).group()
    app.bot.session.middleware(TelegramWatch(metrics))
    relay = Relay(app.bot, app.pool, app.clock, app.settings.admins, group_alerts=alerts.group_alerts_for(app.settings))
    from bot.ops.metrics import instrument_relay

    instrument_relay(relay)
    await relay.run_once()
    card = [m for m in app.session.history(CHAT) if m.text and reference in m.text and m.reply_markup][-1]
    officer = app.user(OFFICER, chat_id=CHAT, first_name="Прокурор")
    await officer.press(RU("alert.button_take"), message=card.message_id)
    await officer.press(RU("alert.button_close"), message=card.message_id)
    await officer.send("Проверка проведена, нарушение подтверждено.")
    await officer.press(RU("case_draft.button_send"))
    app.clock.advance(seconds=5)
    await relay.run_once()
    assert any(isinstance(c, SendMessage) and reference in c.text for c in app.session.sent_messages(RESIDENT))
    await person.command("mydata")
    # A redelivered update: the unit of work logs that it skipped it.
    update = app.updates.text("/my", user=person.user, chat=person.chat)
    await app.dp.feed_update(app.bot, update)
    await app.dp.feed_update(app.bot, update)
    return reference


@pytest.mark.usefixtures("demo_directory")
async def test_the_logs_of_a_full_flow_name_no_resident(app: App, captured: io.StringIO) -> None:
    metrics = Metrics()
    reference = await full_review_flow(app, metrics)
    output = captured.getvalue()
    assert output, "the flow logged nothing: the scan below would prove nothing"
    for secret in (NAME, PHONE, PHONE.lstrip("+"), WORDS, WORDS[:20], str(RESIDENT)):
        assert secret not in output, f"{secret!r} is in the logs:\n{output}"
    skipped = [line for line in output.splitlines() if "was already handled" in line]
    assert skipped and all(re.search(r" update=\d+ ", line) for line in skipped), output
    # The flow was counted, and nothing in any label names the person.
    page = metrics.render().decode()
    assert 'medfeedback_updates_total{outcome="handled",type="callback_query"}' in page
    assert re.search(r'medfeedback_sends_total\{kind="alert",result="sent"\} [1-9]', page), page
    assert re.search(r'medfeedback_sends_total\{kind="notice[^"]*",result="sent"\} [1-9]', page) or \
        re.search(r'medfeedback_sends_total\{kind="[a-z_]+",result="sent"\} [1-9]', page)
    for secret in (NAME, PHONE, str(RESIDENT), reference):
        assert secret not in page


async def test_a_failed_delivery_to_a_resident_does_not_log_their_telegram_id(app: App, captured: io.StringIO) -> None:
    from datetime import UTC, datetime

    from bot.services.outbox import enqueue
    from storage.repositories import Repositories

    async with app.pool() as session, session.begin():
        await enqueue(Repositories(session), chat_id=RESIDENT, kind="notice", dedupe_key="notice:1",
                      now=datetime.now(UTC), text="Ваше обращение принято в работу")
    app.session.fail_next(SendMessage, error_code=403, description="Forbidden: bot was blocked by the user")
    await Relay(app.bot, app.pool, lambda: datetime.now(UTC), []).run_once()
    output = captured.getvalue()
    assert "not sent" in output
    assert str(RESIDENT) not in output


async def test_a_line_inside_an_update_carries_its_update_id_and_reference() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(UpdateContext())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.ops.context")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        token = current_update.set(42)
        bind_reference("AL-2026-000007")
        logger.info("case %s taken", 3)
        current_update.reset(token)
        logger.info("outside any update")
    finally:
        logger.removeHandler(handler)
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert inside["update_id"] == 42 and inside["reference"] == "AL-2026-000007"
    assert inside["message"] == "case 3 taken" and inside["level"] == "INFO" and inside["logger"] == "tests.ops.context"
    assert "update_id" not in outside


async def test_sends_are_counted_by_result_and_telegram_answers_are_seen(app: App) -> None:
    from aiogram.exceptions import TelegramForbiddenError, TelegramRetryAfter

    metrics = Metrics()
    clock = FakeClock()
    health = Health(clock=clock)
    app.bot.session.middleware(TelegramWatch(metrics, health.telegram_answered))
    await app.bot.send_message(CHAT, "hello")
    assert health.telegram_age() == 0
    app.session.fail_next(SendMessage, error_code=429, description="Too Many Requests: retry after 3",
                          retry_after=3)
    with pytest.raises(TelegramRetryAfter):
        await app.bot.send_message(CHAT, "again")
    app.session.fail_next(SendMessage, error_code=403, description="Forbidden: bot was blocked by the user")
    with pytest.raises(TelegramForbiddenError):
        await app.bot.send_message(CHAT, "blocked")
    page = metrics.render().decode()
    for result, count in (("sent", 1), ("429", 1), ("blocked", 1)):
        assert f'medfeedback_sends_total{{kind="reply",result="{result}"}} {count}.0' in page
    assert 'medfeedback_infrastructure_retries_total{where="telegram"} 1.0' in page


def test_ops_log_and_retention_settings_are_checked_and_documented(tmp_path: Path) -> None:
    from bot.config import ConfigError, load_settings

    example = (Path(__file__).parents[1] / "config.example.toml").read_text(encoding="utf-8")
    for key in ("listen", "telegram_stale_seconds", "heartbeat_stale_seconds", "min_free_mb", "format", "level",
                "closed_case_years", "draft_days", "delivered_days"):
        assert f"\n{key} =" in example, key
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    assert load_settings(empty, ops={"listen": ""}).ops.listen == ""
    assert load_settings(empty, ops={"listen": "[::1]:9100"}).ops.listen == "[::1]:9100"
    with pytest.raises(ConfigError, match=r'^setting ops.listen must be "host:port" such as "127.0.0.1:9090", or ""'):
        load_settings(empty, ops={"listen": "9090"})
    with pytest.raises(ConfigError, match=r"^setting log.format Input should be 'text' or 'json'"):
        load_settings(empty, log={"format": "xml"})
    with pytest.raises(ConfigError, match=r"^setting retention.closed_case_years "):
        load_settings(empty, retention={"closed_case_years": 0})


async def test_a_listen_address_in_use_is_reported_and_the_bot_runs_on(caplog: pytest.LogCaptureFixture) -> None:
    from bot.ops.server import OpsListener

    first = OpsListener(OpsRoutes(Health()), "127.0.0.1:0")
    assert await first.start()
    try:
        port = first._runner.addresses[0][1]
        second = OpsListener(OpsRoutes(Health()), f"127.0.0.1:{port}")
        with caplog.at_level(logging.ERROR, logger="bot.ops.server"):
            assert await second.start() is False
        # Only the error: the first listener's INFO line may be captured too, depending on earlier tests' logging.
        [line] = [record.getMessage() for record in caplog.records
                  if record.name == "bot.ops.server" and record.levelno >= logging.ERROR]
        assert line.startswith(f"ops.listen: cannot listen on 127.0.0.1:{port} (")
        assert "/healthz, /readyz and /metrics are not served" in line
        await second.stop()  # nothing to stop: no error
    finally:
        await first.stop()


@pytest.mark.expect_errors
@pytest.mark.usefixtures("demo_directory")
async def test_flood_and_failure_lines_name_the_update_not_the_person(app: App, captured: io.StringIO,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.services import privacy

    settings = app.settings.model_copy(update={"flood": app.settings.flood.model_copy(update={"max_updates": 5})})
    dp = create_dispatcher(settings, session_pool=app.pool, clock=app.clock, metrics=Metrics())
    person = App(settings, app.pool, app.bot, dp, app.session, app.updates, app.clock).user(
        RESIDENT, language_code="ru", first_name=NAME)
    await person.command("start")
    await person.press("Русский")
    await person.press(RU("consent.accept"))

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the export broke")

    monkeypatch.setattr(privacy, "export", broken)
    await person.command("mydata")  # fails: the errors router apologises and logs it
    for _ in range(8):  # more than the flood guard allows
        await person.send(WORDS)
    output = captured.getvalue()
    assert re.search(r"ERROR handlers\.errors: update=\d+ update \d+ failed", output), output
    assert re.search(r"INFO bot\.middlewares: update=\d+ flood: update \d+ ignored", output), output
    for secret in (NAME, WORDS, str(RESIDENT)):
        assert secret not in output, f"{secret!r} is in the logs:\n{output}"


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
                         indirect=True)
@pytest.mark.usefixtures("demo_directory")
async def test_scrape_time_figures_come_from_the_database(app: App) -> None:
    from datetime import UTC, date, datetime, timedelta

    from storage.models import Case, OutboxMessage, Review, User
    from tests.flows import clinic_17

    now = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
    clinic = await clinic_17(app)
    async with app.pool() as session, session.begin():
        user = User(telegram_id=1, created_at=now)
        session.add(user)
        await session.flush()
        for number, (kind, status, due) in enumerate([("complaint", "open", date(2026, 11, 30)),
                                                      ("violation", "taken", date(2026, 12, 20)),
                                                      ("complaint", "closed", date(2026, 11, 1)),
                                                      ("gratitude", None, None)]):
            review = Review(reference=f"AL-2026-{number:06d}", user_id=user.id, clinic_id=clinic.id, kind=kind,
                            rating=3, language="ru", created_at=now, updated_at=now)
            session.add(review)
            await session.flush()
            if status is not None:
                session.add(Case(review_id=review.id, urgency="critical" if kind == "violation" else "normal",
                                 status=status, due_date=due, created_at=now))
        session.add(OutboxMessage(dedupe_key="a", chat_id=-1, kind="alert", payload={}, status="pending",
                                  next_attempt_at=now, created_at=now - timedelta(minutes=7)))
        session.add(OutboxMessage(dedupe_key="b", chat_id=-1, kind="alert", payload={}, status="blocked",
                                  next_attempt_at=now, created_at=now - timedelta(minutes=2)))
    metrics = Metrics()
    await metrics.refresh(app.pool, now, app.settings.zone)
    page = metrics.render().decode()
    for sample in ('medfeedback_reviews_registered{kind="complaint"} 2.0',
                   'medfeedback_reviews_registered{kind="violation"} 1.0',
                   'medfeedback_reviews_registered{kind="gratitude"} 1.0',
                   'medfeedback_open_cases{urgency="normal"} 1.0', 'medfeedback_open_cases{urgency="critical"} 1.0',
                   "medfeedback_overdue_cases 1.0", 'medfeedback_outbox_pending{status="pending"} 1.0',
                   'medfeedback_outbox_pending{status="blocked"} 1.0',
                   "medfeedback_outbox_oldest_unsent_seconds 420.0", "medfeedback_database_up 1.0"):
        assert sample in page, sample


async def test_probes_and_scrapes_do_not_wait_for_an_updates_write_lock(app: App) -> None:
    """On SQLite every transaction of the bot takes the write lock at once; a probe must not queue behind one."""
    import asyncio
    from datetime import UTC, datetime

    from sqlalchemy import text

    from bot.ops.runtime import Operations

    ops = Operations(app.settings, lambda: datetime.now(UTC))
    ops.health.beat("relay")
    ops.health.beat("scheduler")
    ops.health.telegram_answered()
    try:
        async with app.pool() as session, session.begin():  # BEGIN IMMEDIATE: the write lock, held
            await session.execute(text("UPDATE reference_counters SET last_number = last_number"))
            assert await asyncio.wait_for(ops.health.problems(), 1.0) == []
            await asyncio.wait_for(ops.metrics.refresh(ops.routes.pool, datetime.now(UTC), UTC), 1.0)
        assert "medfeedback_database_up 1.0" in ops.metrics.render().decode()
    finally:
        await ops.read_engine.dispose()
