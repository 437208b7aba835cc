"""End to end, the real process over HTTP against the fake Bot API, on SQLite and PostgreSQL, polling and webhook:
nothing is confirmed to Telegram and nothing promised to a person before it is stored, whatever fails meanwhile."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from aiohttp import ClientSession
from sqlalchemy.engine import make_url

from tests.conftest import BACKENDS
from tests.e2e_support import (
    CHAT,
    RU,
    SECRET,
    TcpProxy,
    database,
    load_directory,
    lock_sqlite,
    onboard,
    proxied,
    reference_in,
    start_bot,
    to_evidence_step,
    to_preview,
    webhook_settings,
)
from tests.fakes.fake_api import FakeTelegramAPI
from tests.fakes.process import free_port

ANNA, BOLAT = 5701, 5702
MODES = ["polling", "webhook"]


@pytest.fixture
async def api():
    fake = FakeTelegramAPI("123456:TEST-token")
    fake.webhook_timeout = 60.0  # as Telegram waits for an answer
    async with fake as api:
        api.webhook_attempts, api.webhook_retry_delay = 600, 0.25  # Telegram keeps trying for minutes
        yield api


def mode_settings(mode: str) -> dict[str, str]:
    return webhook_settings(free_port()) if mode == "webhook" else {}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("backend", BACKENDS)
async def test_killed_as_the_receipt_goes_out_every_number_shown_is_the_persons(
        api: FakeTelegramAPI, tmp_path: Path, backend: str, mode: str) -> None:
    async with database(backend, tmp_path) as db:
        load_directory(api, tmp_path, db)
        settings = mode_settings(mode)
        bot = await start_bot(api, tmp_path, db, **settings)
        try:
            for person in (ANNA, BOLAT):
                await onboard(api, person)
                await to_preview(api, person)
            held = api.hold("sendMessage", ANNA)
            api.press(ANNA, api.bot_messages(ANNA)[-1], RU("preview.submit"))
            receipt = await api.wait_for(lambda c: c.method == "sendMessage" and c.params.get("chat_id") == ANNA
                                         and "AL-" in c.params.get("text", ""), since=0, answered=False, timeout=60)
        finally:
            await bot.kill()  # the instant Anna's receipt reached Telegram
        held.set()
        shown_to_anna = reference_in(receipt)
        restarted = await start_bot(api, tmp_path, db, name="bot2", **settings)
        try:
            mark = len(api.calls)
            api.press(BOLAT, api.bot_messages(BOLAT)[-1], RU("preview.submit"))
            bolat = await api.wait_for(lambda c: c.method == "sendMessage" and c.params.get("chat_id") == BOLAT
                                       and "AL-" in c.params.get("text", ""), since=mark, timeout=60)
            # Anna's press is delivered again (polling: never confirmed; webhook: never answered): it was stored.
            await db.eventually("SELECT count(*) FROM processed_updates", lambda rows: rows[0][0] >= 1)
        finally:
            assert await restarted.stop() == 0, restarted.output()
        owners = dict(await db.rows(
            "SELECT r.reference, u.telegram_id FROM reviews r JOIN users u ON u.id = r.user_id"))
    assert owners == {shown_to_anna: ANNA, reference_in(bolat): BOLAT}
    anna_receipts = [c for c in api.calls_of("sendMessage") if c.params.get("chat_id") == ANNA
                     and "AL-" in c.params.get("text", "")]
    assert {reference_in(c) for c in anna_receipts} == {shown_to_anna}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_database_cut_off_for_20_seconds_loses_nothing(
        api: FakeTelegramAPI, tmp_path: Path, backend: str, mode: str) -> None:
    people = list(range(5801, 5811))
    async with database(backend, tmp_path) as db:
        proxy = None
        if backend == "postgresql":
            real = make_url(db.url)
            proxy = await TcpProxy(real.host or "127.0.0.1", real.port or 5432).start()
            db_for_bot = type(db)(proxied(db.url, proxy))
        else:
            db_for_bot = db
        bot = await start_bot(api, tmp_path, db_for_bot, **mode_settings(mode))
        lock = None
        try:
            if proxy is not None:
                proxy.cut()
            else:
                lock = lock_sqlite(tmp_path / "bot.db")
            sent = []
            for person in people:
                api.add_user(person, f"Person {person}", "ru")
                sent.append(api.send_text(person, "/start")["update_id"])
            await asyncio.sleep(20)  # the outage
            if proxy is not None:
                proxy.restore()
            else:
                lock.rollback()
                lock.close()
                lock = None
            for person in people:
                await api.wait_for(lambda c, p=person: c.method == "sendMessage" and c.params.get("chat_id") == p
                                   and c.params.get("text", "").startswith(RU("language.prompt_all")),
                                   since=0, timeout=180)
            stored = await db.eventually("SELECT update_id FROM processed_updates",
                                         lambda rows: set(sent) <= {row[0] for row in rows})
        finally:
            if lock is not None:
                lock.close()
            assert await bot.stop() == 0, bot.output()
            if proxy is not None:
                await proxy.stop()
    assert set(sent) <= {row[0] for row in stored}  # all ten stored: none confirmed and lost
    for person in people:  # told at most once that there is a delay, and then answered
        delays = [c for c in api.calls_of("sendMessage")
                  if c.params.get("chat_id") == person and c.params.get("text") == RU("errors.delayed")]
        assert len(delays) <= 1
    if mode == "webhook":
        assert all(status in (200, 503) for _, status in api.webhook_deliveries)


async def test_sqlite_lock_timeouts_under_webhook_concurrency_32_lose_nothing(
        api: FakeTelegramAPI, tmp_path: Path) -> None:
    async with database("sqlite", tmp_path) as db:
        settings = webhook_settings(free_port())
        bot = await start_bot(api, tmp_path, db, **settings)
        url = settings["MEDFEEDBACK_TELEGRAM__WEBHOOK__URL"]
        updates = [{"update_id": 900_000 + n, "message": {
            "message_id": n + 1, "date": int(time.time()), "text": "/start",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
            "chat": {"id": 6000 + n, "type": "private"},
            "from": {"id": 6000 + n, "is_bot": False, "first_name": f"P{n}", "language_code": "ru"}}}
            for n in range(32)]
        for n in range(32):
            api.add_user(6000 + n, f"P{n}", "ru")
        statuses: dict[int, list[int]] = {u["update_id"]: [] for u in updates}

        async def deliver(client: ClientSession, update: dict) -> None:
            """As Telegram does: again and again until the bot answers 2xx."""
            for _ in range(400):
                try:
                    async with client.post(url, data=json.dumps(update),
                                           headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as response:
                        statuses[update["update_id"]].append(response.status)
                        if response.status == 200:
                            return
                except (TimeoutError, OSError):
                    statuses[update["update_id"]].append(0)
                await asyncio.sleep(0.25)

        lock = lock_sqlite(tmp_path / "bot.db")  # longer than the bot's busy timeout: lock timeouts follow
        try:
            async with ClientSession() as client:
                delivering = asyncio.gather(*(deliver(client, update) for update in updates))
                await asyncio.sleep(30)  # three busy timeouts: beyond what the bot retries in one request
                lock.rollback()
                lock.close()
                await asyncio.wait_for(delivering, 300)
            stored = await db.rows("SELECT update_id FROM processed_updates")
        finally:
            assert await bot.stop() == 0, bot.output()
    assert {u["update_id"] for u in updates} <= {row[0] for row in stored}
    assert all(codes[-1] == 200 for codes in statuses.values())
    assert any(503 in codes for codes in statuses.values())  # the lock did bite: those were not confirmed


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_slow_download_in_one_chat_does_not_hold_up_another(
        api: FakeTelegramAPI, tmp_path: Path, backend: str) -> None:
    async with database(backend, tmp_path) as db:
        load_directory(api, tmp_path, db)
        bot = await start_bot(api, tmp_path, db)
        try:
            for person in (ANNA, BOLAT):
                await onboard(api, person)
            await to_evidence_step(api, ANNA)  # where the bot itself downloads what she sends

            async def answer_time() -> float:
                """Until Bolat sees the answer and his update is stored: handled, not merely replied to."""
                started = time.monotonic()
                update_id = api.send_text(BOLAT, "/help")["update_id"]
                await api.wait_for(lambda c: c.method == "sendMessage" and c.params.get("chat_id") == BOLAT,
                                   timeout=60)
                await db.eventually(f"SELECT 1 FROM processed_updates WHERE update_id = {update_id}", bool,
                                    seconds=60, every=0.01)
                return time.monotonic() - started

            alone = max([await answer_time() for _ in range(3)])
            photo = api.send_photo(ANNA, b"\xff\xd8\xff\xe0" + b"big" * 10_000)
            held = api.hold_download(photo["message"]["photo"][-1]["file_id"])
            await _until(lambda: bool(api.downloads_started))
            beside_a_download = max([await answer_time() for _ in range(3)])
            still_downloading = not held.is_set()
            held.set()
        finally:
            assert await bot.stop() == 0, bot.output()
    assert still_downloading  # Bolat was answered while Anna's file was still on its way
    assert beside_a_download - alone <= 0.5, (alone, beside_a_download)


async def _until(condition, seconds: float = 60.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    assert condition()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_alerts_after_a_kill_and_with_two_instances_arrive_marked_and_within_the_group_limit(
        api: FakeTelegramAPI, tmp_path: Path, backend: str) -> None:
    api.limit_groups(per_minute=20)
    # Telegram answers slowly (as a busy CI machine once made it): a relay's pass over the chat outlasts its 2 s
    # lease, and the other instance must still not send what that relay holds.
    api.latency = 0.5
    async with database(backend, tmp_path) as db:
        first = await start_bot(api, tmp_path, db, name="first", MEDFEEDBACK_OUTBOX__LEASE_SECONDS="2")
        await first.stop()  # migrated; now queue 22 notices and an album of three, as a burst of cases would
        await seed_group_messages(db, texts=22, album=3)
        held = api.hold("sendMessage", CHAT)
        crashed = await start_bot(api, tmp_path, db, name="crashed", MEDFEEDBACK_OUTBOX__LEASE_SECONDS="2")
        try:
            await api.wait_for(lambda c: c.method == "sendMessage" and c.params.get("chat_id") == CHAT,
                               since=0, answered=False, timeout=60)
        finally:
            await crashed.kill()  # right after the send reached Telegram, before it was recorded
        held.set()
        restarted = await start_bot(api, tmp_path, db, name="restarted", MEDFEEDBACK_OUTBOX__LEASE_SECONDS="2")
        second = await start_bot(api, tmp_path, db, name="second", MEDFEEDBACK_OUTBOX__LEASE_SECONDS="2")
        try:
            await db.eventually("SELECT count(*) FROM outbox_messages WHERE status <> 'sent'",
                                lambda rows: rows[0][0] == 0, seconds=240)
        finally:
            assert await restarted.stop() == 0, restarted.output()
            assert await second.stop() == 0, second.output()
    texts = [m.get("text") or m.get("caption") or "" for m in api.sent_to(CHAT)]
    assert sum("Уведомление №0." in text for text in texts) in (1, 2)  # the one in flight at the kill
    for n in range(1, 22):
        assert sum(f"Уведомление №{n}." in text for text in texts) == 1, n  # never sent by both instances
    repeats = [text for text in texts if text.startswith("⚠️")]
    assert len(repeats) == 1 and "Уведомление №0." in repeats[0]
    assert len(api.calls_of("sendMediaGroup")) >= 1
    assert api.too_many_requests == 0  # the bot never broke the group's limit itself


async def seed_group_messages(db, *, texts: int, album: int) -> None:
    from datetime import UTC, datetime

    from bot.services import outbox
    from storage.engine import make_engine, make_session_pool
    from storage.repositories import Repositories

    engine = make_engine(db.url)
    try:
        now = datetime.now(UTC)
        async with make_session_pool(engine)() as session, session.begin():
            repo = Repositories(session)
            for n in range(texts):
                await outbox.enqueue(repo, chat_id=CHAT, kind="notice", dedupe_key=f"seed:{n}", now=now,
                                     text=f"Уведомление №{n}.")
            await outbox.enqueue(repo, chat_id=CHAT, kind="evidence", dedupe_key="seed:album", now=now,
                                 media=[{"kind": "photo", "path": str(_photo(n))} for n in range(album)])
    finally:
        await engine.dispose()


def _photo(n: int) -> Path:
    import tempfile

    path = Path(tempfile.gettempdir()) / f"medfeedback-e2e-photo-{n}.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0" + bytes([n]) * 500)
    return path


async def test_a_token_telegram_rejects_is_one_line_and_exit_2(api: FakeTelegramAPI, tmp_path: Path) -> None:
    from tests.e2e_support import environment
    from tests.fakes.process import BotProcess

    async with database("sqlite", tmp_path) as db:
        env = {**environment(api, tmp_path, db), "MEDFEEDBACK_TELEGRAM__TOKEN": "999999:rejected-token"}
        bot = await BotProcess(tmp_path / "bot", env).start()
        code = await asyncio.wait_for(bot.process.wait(), 120)
    output = bot.output()
    assert code == 2, output
    assert "medfeedback: Telegram rejected the token" in output and "Traceback" not in output
    assert "rejected-token" not in output


async def test_telegram_unreachable_at_start_is_retried_without_a_traceback(tmp_path: Path) -> None:
    from tests.e2e_support import Database, environment
    from tests.fakes.process import BotProcess

    down = FakeTelegramAPI("123456:TEST-token")
    down.base_url = f"http://127.0.0.1:{free_port()}"  # nothing listens there yet
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    bot = await BotProcess(tmp_path / "bot", environment(down, tmp_path, db)).start()
    try:
        for _ in range(600):
            if "Telegram is unreachable" in bot.output() or bot.process.returncode is not None:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(3)  # a few retries later it is still alive and quiet
        assert bot.process.returncode is None, bot.output()
    finally:
        code = await bot.stop()
    output = bot.output()
    assert output.count("Telegram is unreachable") == 1 and "Traceback" not in output, output
    assert code == 0, output  # SIGTERM while waiting for Telegram: a clean exit
