"""End to end, operations: the real process's /healthz, /readyz and /metrics over HTTP, its logs, and an outage."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.e2e_support import TcpProxy, database, proxied
from tests.fakes.fake_api import FakeTelegramAPI
from tests.fakes.process import BotProcess, free_port
from tests.test_e2e import (
    TOKEN,
    USER,
    complain_over_http,
    environment,
    load_directory,
    onboard_over_http,
)


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramAPI]:
    async with FakeTelegramAPI(TOKEN) as api:
        yield api


async def get(url: str) -> tuple[int, str]:
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as client, \
                client.get(url) as response:
            return response.status, await response.text()
    except (aiohttp.ClientError, OSError, TimeoutError):
        return 0, ""


async def until(url: str, status: int, seconds: float = 30.0) -> str:
    """Poll `url` until it answers `status`; the last answer on failure."""
    last: tuple[int, str] = (0, "")
    for _ in range(int(seconds / 0.1)):
        last = await get(url)
        if last[0] == status:
            return last[1]
        await asyncio.sleep(0.1)
    raise AssertionError(f"{url} answered {last[0]} {last[1]!r}, not {status}, within {seconds} s")


def metric(page: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus text page (0 when absent)."""
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))  # the client sorts them
    pattern = re.escape(name) + (r"\{" + re.escape(wanted) + r"\}" if labels else "") + r" ([0-9.e+-]+)$"
    found = re.search(pattern, page, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def start(api: FakeTelegramAPI, workdir: Path, **extra: str) -> tuple[BotProcess, str]:
    port = free_port()
    settings = {"MEDFEEDBACK_OPS__LISTEN": f"127.0.0.1:{port}", "MEDFEEDBACK_ADMINS": "[9001]", **extra}
    bot = await BotProcess(workdir, environment(api, workdir, **settings)).start()
    return bot, f"http://127.0.0.1:{port}"


async def test_health_readiness_and_metrics_of_the_polling_process(api: FakeTelegramAPI, tmp_path: Path) -> None:
    load_directory(api, tmp_path)
    bot, base = await start(api, tmp_path)
    try:
        assert await until(f"{base}/healthz", 200) == "ok\n"
        assert await until(f"{base}/readyz", 200) == "ready\n"
        before = (await get(f"{base}/metrics"))[1]
        assert metric(before, "medfeedback_reviews_registered", kind="complaint") == 0
        assert metric(before, "medfeedback_database_up") == 1
        await onboard_over_http(api)
        reference = await complain_over_http(api)
        await api.wait_for(lambda c: c.method == "sendMessage" and reference in c.params.get("text", "")
                           and str(c.params.get("chat_id")).startswith("-100"), since=0, timeout=15)
        for _ in range(100):  # the relay marks the alert sent right after Telegram answered
            after = (await get(f"{base}/metrics"))[1]
            if metric(after, "medfeedback_sends_total", kind="alert", result="sent") >= 1:
                break
            await asyncio.sleep(0.1)
    finally:
        assert await bot.stop() == 0, bot.output()
    assert metric(after, "medfeedback_reviews_registered", kind="complaint") == 1
    assert metric(after, "medfeedback_open_cases", urgency="critical") == 1
    assert metric(after, "medfeedback_sends_total", kind="alert", result="sent") >= 1
    assert metric(after, "medfeedback_sends_total", kind="reply", result="sent") > metric(
        before, "medfeedback_sends_total", kind="reply", result="sent")
    handled = metric(after, "medfeedback_updates_total", type="message", outcome="handled")
    assert handled > metric(before, "medfeedback_updates_total", type="message", outcome="handled")
    assert metric(after, "medfeedback_updates_total", type="callback_query", outcome="handled") >= 5
    assert metric(after, "medfeedback_update_seconds_count", type="callback_query") >= 5
    assert "medfeedback_outbox_oldest_unsent_seconds" in after
    # What the process logged names no resident: not their name, phone, words or Telegram id.
    output = bot.output()
    for secret in ("Айгуль", "деньги за талон", str(USER)):
        assert secret not in output, secret


@pytest.mark.postgres
async def test_readyz_is_503_while_the_database_is_down_and_200_after(api: FakeTelegramAPI, tmp_path: Path) -> None:
    from sqlalchemy.engine import make_url

    async with database("postgresql", tmp_path) as db:
        url = make_url(db.url)
        proxy = await TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
        bot, base = await start(api, tmp_path, MEDFEEDBACK_DATABASE__URL=proxied(db.url, proxy))
        try:
            assert await until(f"{base}/readyz", 200, 60) == "ready\n"
            proxy.cut()
            down = await until(f"{base}/readyz", 503)
            assert down.startswith("not ready: database")
            assert (await get(f"{base}/healthz"))[0] == 200  # alive all the same: no restart for an outage
            page = (await get(f"{base}/metrics"))[1]
            assert metric(page, "medfeedback_database_up") == 0
            proxy.restore()
            assert await until(f"{base}/readyz", 200, 60) == "ready\n"
            assert metric((await get(f"{base}/metrics"))[1], "medfeedback_database_up") == 1
        finally:
            code = await bot.stop()
            await proxy.stop()
    assert code == 0, bot.output()


async def test_the_webhook_server_serves_health_and_metrics_too(api: FakeTelegramAPI, tmp_path: Path) -> None:
    port = free_port()
    bot, _ = await start(api, tmp_path, MEDFEEDBACK_OPS__LISTEN="", MEDFEEDBACK_TELEGRAM__MODE="webhook",
                         MEDFEEDBACK_TELEGRAM__WEBHOOK__URL=f"http://127.0.0.1:{port}/hook",
                         MEDFEEDBACK_TELEGRAM__WEBHOOK__PATH="/hook",
                         MEDFEEDBACK_TELEGRAM__WEBHOOK__LISTEN_PORT=str(port),
                         MEDFEEDBACK_TELEGRAM__WEBHOOK__SECRET_TOKEN="e2e-secret_123",
                         MEDFEEDBACK_LOG__FORMAT="json")
    base = f"http://127.0.0.1:{port}"
    try:
        assert await until(f"{base}/healthz", 200) == "ok\n"
        assert await until(f"{base}/readyz", 200) == "ready\n"
        page = (await get(f"{base}/metrics"))[1]
        assert "medfeedback_updates_total" in page and metric(page, "medfeedback_database_up") == 1
        # Telegram delivers one update twice: the second is skipped, and the line saying so names the update.
        api.add_user(USER, "Айгуль", "ru")
        update = {"update_id": 9001, "message": {
            "message_id": 1, "date": 0, "chat": {"id": USER, "type": "private", "first_name": "Айгуль"},
            "from": {"id": USER, "is_bot": False, "first_name": "Айгуль", "language_code": "ru"}, "text": "/help",
            "entities": [{"type": "bot_command", "offset": 0, "length": 5}]}}
        assert await api.deliver_raw(update, secret="e2e-secret_123") == 200
        assert await api.deliver_raw(update, secret="e2e-secret_123") == 200
        page = (await get(f"{base}/metrics"))[1]
        assert metric(page, "medfeedback_updates_total", type="message", outcome="handled") == 2
    finally:
        assert await bot.stop() == 0, bot.output()
    output = bot.output()
    entries = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert entries and all({"time", "level", "logger", "message"} <= set(entry) for entry in entries)
    [skipped] = [entry for entry in entries if "already handled" in entry["message"]]
    assert skipped["update_id"] == 9001 and skipped["level"] == "INFO"
    assert "Айгуль" not in output and str(USER) not in output


async def test_a_stopping_process_is_not_ready_while_it_finishes_its_update(api: FakeTelegramAPI,
                                                                            tmp_path: Path) -> None:
    import signal

    bot, base = await start(api, tmp_path)
    try:
        assert await until(f"{base}/readyz", 200) == "ready\n"
        api.add_user(USER, "Айгуль", "ru")
        held = api.hold("sendMessage", USER)
        api.send_text(USER, "/start")
        await api.wait_for("sendMessage", timeout=15, answered=False)  # the update is in flight
        bot.process.send_signal(signal.SIGTERM)
        assert (await until(f"{base}/readyz", 503)).startswith("not ready: stopping")
        assert (await get(f"{base}/healthz"))[0] == 200  # still alive: finishing, not dead
        held.set()
        assert await asyncio.wait_for(bot.process.wait(), 30) == 0
    finally:
        await bot.stop()
    # The update in flight was finished before the process exited: the person got the answer.
    assert api.bot_messages(USER), bot.output()
