"""End to end: the real `medfeedback run` process over HTTP against the fake Telegram Bot API on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.l10n import Translator
from bot.services.directory import DEMO_DIRECTORY
from bot.services.people import CONSENT_VERSION
from tests.fakes.fake_api import Call, FakeTelegramAPI
from tests.fakes.process import BotProcess, free_port

TOKEN = "123456:TEST-token"
CHAT = -100200300
PROSECUTOR = 8001
SECRET = "e2e-secret_123"
RU = Translator()["ru"]
USER = 5551


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramAPI]:
    async with FakeTelegramAPI(TOKEN) as api:
        yield api


def environment(api: FakeTelegramAPI, workdir: Path, **extra: str) -> dict[str, str]:
    return {
        "MEDFEEDBACK_TELEGRAM__TOKEN": TOKEN,
        "MEDFEEDBACK_TELEGRAM__API_SERVER": api.base_url,
        "MEDFEEDBACK_DATABASE__URL": f"sqlite+aiosqlite:///{workdir / 'bot.db'}",
        "MEDFEEDBACK_MEDIA__DIR": str(workdir / "media"),
        "MEDFEEDBACK_PROSECUTOR__CHAT_ID": str(CHAT),
        # Most of these processes never classify a text: the 2 s of CPU of training at start-up would only slow
        # the suite (a test below turns it on and checks it).
        "MEDFEEDBACK_FEEDBACK__PREPARE_URGENCY_AT_START": "false",
        **extra,
    }


async def running(api: FakeTelegramAPI, workdir: Path, **extra: str) -> BotProcess:
    bot = await BotProcess(workdir, environment(api, workdir, **extra)).start()
    try:
        await api.wait_for("setMyCommands", timeout=90, count=4, since=0)
    except AssertionError:
        await bot.stop()
        raise AssertionError(f"the bot did not start:\n{bot.output()}") from None
    return bot


async def latest(api: FakeTelegramAPI, chat_id: int = USER) -> dict:
    await api.wait_for(lambda call: call.method in ("sendMessage", "editMessageText")
                       and str(call.params.get("chat_id")) == str(chat_id))
    return api.bot_messages(chat_id)[-1]


async def onboard_over_http(api: FakeTelegramAPI) -> None:
    api.add_user(USER, "Айгуль", "ru")
    api.send_text(USER, "/start")
    prompt = await latest(api)
    # Language and consent on one screen, the language Telegram reports preselected.
    assert prompt["text"].startswith(RU("language.prompt_all")) and CONSENT_VERSION in prompt["text"]
    api.press(USER, prompt, RU("consent.accept"))
    menu = await api.wait_for(lambda c: c.method == "sendMessage" and c.params.get("text") == RU("menu.title"))
    assert RU("menu.leave_feedback") in json.dumps(menu.params["reply_markup"], ensure_ascii=False)


def stored(workdir: Path, query: str) -> list[tuple]:
    with sqlite3.connect(workdir / "bot.db") as connection:
        return connection.execute(query).fetchall()


async def eventually_stored(workdir: Path, query: str, expected: list[tuple]) -> None:
    """The bot commits on its own schedule: wait for it with a bound generous enough for a busy machine (2 min)."""
    for _ in range(2400):
        if stored(workdir, query) == expected:
            return
        await asyncio.sleep(0.05)
    assert stored(workdir, query) == expected


async def test_onboarding_over_http_in_polling_mode(api: FakeTelegramAPI, tmp_path: Path) -> None:
    bot = await running(api, tmp_path)
    try:
        await onboard_over_http(api)
        await eventually_stored(tmp_path, "SELECT language, consent_version FROM users", [("ru", CONSENT_VERSION)])
    finally:
        assert await bot.stop() == 0, bot.output()
    output = bot.output()
    assert "mode=polling" in output and "bot.db" in output and api.base_url in output
    assert TOKEN not in output and TOKEN.split(":")[1] not in output
    assert stored(tmp_path, "SELECT language, consent_version FROM users") == [("ru", CONSENT_VERSION)]


async def test_onboarding_over_http_in_webhook_mode(api: FakeTelegramAPI, tmp_path: Path) -> None:
    port = free_port()
    bot = await running(api, tmp_path, MEDFEEDBACK_TELEGRAM__MODE="webhook",
                        MEDFEEDBACK_TELEGRAM__WEBHOOK__URL=f"http://127.0.0.1:{port}/hook",
                        MEDFEEDBACK_TELEGRAM__WEBHOOK__PATH="/hook",
                        MEDFEEDBACK_TELEGRAM__WEBHOOK__LISTEN_PORT=str(port),
                        MEDFEEDBACK_TELEGRAM__WEBHOOK__SECRET_TOKEN=SECRET)
    try:
        await api.wait_for("setWebhook", since=0)
        assert api.webhook_secret == SECRET
        for _ in range(50):  # the listener may start a moment after setWebhook
            if await api.deliver_raw({"update_id": 1}, secret="wrong") != 0:
                break
            await asyncio.sleep(0.1)
        assert await api.deliver_raw({"update_id": 2}, secret="wrong") == 401
        assert await api.deliver_raw({"update_id": 3}, secret=None) == 401
        refused = len(api.webhook_deliveries)
        await onboard_over_http(api)
        await eventually_stored(tmp_path, "SELECT language, consent_version FROM users", [("ru", CONSENT_VERSION)])
        # The answer's commit comes before the HTTP reply reaches the fake: wait for the reply, not only the row.
        await api.wait_webhook_idle(timeout=60)
        delivered = api.webhook_deliveries[refused:]
        # /start and "I agree": language and consent are one screen now.
        assert len(delivered) == 2 and all(status == 200 for _, status in delivered), delivered
        # The newcomer's screen and the answer to the press came in the answers to Telegram's requests: Telegram made
        # those calls, the bot none of its own.
        assert [call.in_webhook_answer for call in api.calls_of("sendMessage")
                if call.params["text"].startswith(RU("language.prompt_all"))] == [True]
        assert [call.in_webhook_answer for call in api.calls_of("answerCallbackQuery")] == [True]
    finally:
        assert await bot.stop() == 0, bot.output()
    assert "mode=webhook" in bot.output()
    assert stored(tmp_path, "SELECT language, consent_version FROM users") == [("ru", CONSENT_VERSION)]


def load_directory(api: FakeTelegramAPI, workdir: Path) -> None:
    """The operator's command, before the bot starts."""
    loaded = subprocess.run([sys.executable, "-m", "bot", "directory", "import", str(DEMO_DIRECTORY)],
                            cwd=workdir, env={**environment(api, workdir), "PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, timeout=120)
    assert loaded.returncode == 0, loaded.stderr


PHOTOS = [b"\xff\xd8\xff\xe0" + b"first" * 999, b"\xff\xd8\xff\xe0" + b"second" * 777]
VOICE = b"OggS" + b"spoken" * 1234


async def complain_over_http(api: FakeTelegramAPI, user: int = USER) -> str:
    """A resident's complaint about extortion with a voice message and a two-photo album; its reference."""

    def shown_to_user(call: Call) -> bool:
        return call.method in ("sendMessage", "editMessageText") and str(call.params.get("chat_id")) == str(user)

    async def press(text: str) -> dict:
        mark = len(api.calls)
        api.press(user, api.bot_messages(user)[-1], text)
        await api.wait_for(shown_to_user, since=mark)
        return api.bot_messages(user)[-1]

    async def say(action) -> dict:
        mark = len(api.calls)
        action()
        await api.wait_for(shown_to_user, since=mark)
        return api.bot_messages(user)[-1]

    await press(RU("menu.leave_feedback"))
    await say(lambda: api.send_text(user, "17"))  # the one match is taken at once
    await press(RU("target.clinic"))
    await press(RU("kind.complaint_about", category=RU("category.extortion")))
    await press("1⭐")
    saved = await say(lambda: api.send_voice(user, VOICE))
    assert RU("description.received", length=0, files=1, limit=10) in saved["text"]
    await say(lambda: api.send_text(user, "В регистратуре требовали деньги за талон к врачу."))
    mark = len(api.calls)
    api.send_album(user, PHOTOS)
    await api.wait_for(lambda c: c.method == "editMessageText" and shown_to_user(c), since=mark)
    assert RU("description.received", length=49, files=3, limit=10) in api.bot_messages(user)[-1]["text"]
    mark = len(api.calls)
    api.press(user, api.bot_messages(user)[-1], RU("when.today"))
    await api.wait_for(shown_to_user, since=mark, count=2)  # the phone keyboard, then the preview
    preview = api.bot_messages(user)[-1]
    assert "Городская поликлиника №17" in preview["text"]
    mark = len(api.calls)
    api.press(user, preview, RU("preview.submit"))
    # The first submission trains the urgency model (seconds on a loaded machine): a generous bound.
    receipt = await api.wait_for(lambda c: shown_to_user(c) and "AL-20" in c.params.get("text", ""), since=mark,
                                 timeout=60)
    return re.search(r"AL-\d{4}-\d{6}", receipt.params["text"]).group()


async def test_a_complaint_with_album_and_voice_over_http(api: FakeTelegramAPI, tmp_path: Path) -> None:
    load_directory(api, tmp_path)
    bot = await running(api, tmp_path)
    try:
        await onboard_over_http(api)
        reference = await complain_over_http(api)
        await eventually_stored(tmp_path, "SELECT count(*) FROM review_media", [(3,)])
    finally:
        assert await bot.stop() == 0, bot.output()
    [(review_id, kind, text)] = stored(tmp_path, "SELECT id, kind, text FROM reviews")
    assert kind == "complaint" and "деньги за талон" in text
    assert stored(tmp_path, f"SELECT reference FROM reviews WHERE id = {review_id}") == [(reference,)]
    media = stored(tmp_path, "SELECT kind, sha256, stored_path FROM review_media ORDER BY position")
    files = [VOICE, *PHOTOS]
    assert [(k, s) for k, s, _ in media] == [("voice", hashlib.sha256(VOICE).hexdigest())] + [
        ("photo", hashlib.sha256(p).hexdigest()) for p in PHOTOS]
    for (_, sha, path), data in zip(media, files, strict=True):
        assert (tmp_path / "media" / path).read_bytes() == data and hashlib.sha256(data).hexdigest() == sha


def alert_sent(reference: str):
    return lambda c: (c.method == "sendMessage" and str(c.params.get("chat_id")) == str(CHAT)
                      and reference in c.params.get("text", ""))


async def test_the_alert_card_album_and_buttons_over_http(api: FakeTelegramAPI, tmp_path: Path) -> None:
    load_directory(api, tmp_path)
    bot = await running(api, tmp_path)
    try:
        await onboard_over_http(api)
        reference = await complain_over_http(api)
        card_call = await api.wait_for(alert_sent(reference), since=0, timeout=10)
        assert RU("urgency.critical") in card_call.params["text"]
        album = await api.wait_for(lambda c: c.method == "sendMediaGroup", since=0, timeout=10)
        assert str(album.params["chat_id"]) == str(CHAT) and len(album.params["media"]) == 2
        voice = await api.wait_for(lambda c: c.method == "sendVoice", since=0, timeout=10)
        assert str(voice.params["chat_id"]) == str(CHAT)
        card = next(m for m in api.bot_messages(CHAT) if reference in (m.get("text") or ""))
        api.add_user(PROSECUTOR, "Прокурор", "ru")
        mark = len(api.calls)
        api.press(PROSECUTOR, card, RU("alert.button_take"))
        await api.wait_for(lambda c: c.method == "editMessageText" and str(c.params.get("chat_id")) == str(CHAT),
                           since=mark)
        assert RU("case_status.taken") in api.bot_messages(CHAT)[0]["text"]
        told = await api.wait_for(lambda c: c.method == "sendMessage" and str(c.params.get("chat_id")) == str(USER)
                                  and RU("status.in_progress") in c.params.get("text", ""), since=mark, timeout=10)
        assert reference in told.params["text"]
    finally:
        assert await bot.stop() == 0, bot.output()


async def crash_while_sending_the_alert(api: FakeTelegramAPI, workdir: Path) -> tuple[str, asyncio.Event]:
    """Submit a complaint, hold its alert in flight at the Bot API, and kill -9 the bot at that moment."""
    load_directory(api, workdir)
    # A short lease, so that the next process may take over the row the dead one had claimed.
    bot = await running(api, workdir, MEDFEEDBACK_OUTBOX__LEASE_SECONDS="2")
    try:
        await onboard_over_http(api)
        held = api.hold("sendMessage", CHAT)
        reference = await complain_over_http(api)
        await api.wait_for(alert_sent(reference), since=0, timeout=10, answered=False)
    finally:
        await bot.kill()
    assert stored(workdir, "SELECT status FROM outbox_messages WHERE kind = 'alert'") == [("pending",)]
    return reference, held


def cards_with(api: FakeTelegramAPI, reference: str) -> list[dict]:
    return [m for m in api.bot_messages(CHAT) if reference in (m.get("text") or "")]


async def test_killed_between_commit_and_send_the_alert_is_delivered_after_restart(
        api: FakeTelegramAPI, tmp_path: Path) -> None:
    reference, held = await crash_while_sending_the_alert(api, tmp_path)
    api.fail_next("sendMessage", error_code=502, description="Bad Gateway")  # the held send never arrives
    held.set()
    await api.wait_for(alert_sent(reference), since=0, timeout=60)  # the held call, now answered with 502
    assert cards_with(api, reference) == []
    restarted = await running(api, tmp_path)
    try:
        await eventually_stored(tmp_path, "SELECT status FROM outbox_messages WHERE kind = 'alert'", [("sent",)])
    finally:
        assert await restarted.stop() == 0, restarted.output()
    assert len(cards_with(api, reference)) == 1


async def test_killed_mid_send_the_alert_is_delivered_at_least_once(api: FakeTelegramAPI, tmp_path: Path) -> None:
    reference, held = await crash_while_sending_the_alert(api, tmp_path)
    held.set()  # Telegram did deliver it, but the dead process never heard back
    restarted = await running(api, tmp_path)
    try:
        await eventually_stored(tmp_path, "SELECT status FROM outbox_messages WHERE kind = 'alert'", [("sent",)])
    finally:
        assert await restarted.stop() == 0, restarted.output()
    # At-least-once: a duplicate is possible, and marked as a possible repeat; a loss is not.
    cards = cards_with(api, reference)
    assert len(cards) == 2 and cards[1]["text"].startswith("⚠️") and not cards[0]["text"].startswith("⚠️")
