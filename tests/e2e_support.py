"""Helpers for end-to-end tests of the real process: a database of its own per test (SQLite file or a fresh
PostgreSQL database), a TCP proxy that can cut the database off, and the resident's steps over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.l10n import Translator
from bot.services.directory import DEMO_DIRECTORY
from storage.engine import make_engine
from tests.conftest import POSTGRES_URL
from tests.fakes.fake_api import Call, FakeTelegramAPI
from tests.fakes.process import BotProcess, free_port

TOKEN = "123456:TEST-token"
CHAT = -100200300
SECRET = "e2e-secret_123"
RU = Translator()["ru"]


@dataclass
class Database:
    """Where one test's bot keeps its data, and a way to read it synchronously from the test."""

    url: str

    async def rows(self, query: str) -> list[tuple]:
        engine = make_engine(self.url)
        try:
            async with engine.connect() as connection:
                return [tuple(row) for row in (await connection.execute(text(query))).all()]
        finally:
            await engine.dispose()

    async def eventually(self, query: str, check, seconds: float = 120.0,
                         every: float = 0.25) -> list[tuple]:
        """Poll until `check(rows)` holds: the bot commits on its own schedule."""
        rows: list[tuple] = []
        for _ in range(int(seconds / every)):
            with contextlib.suppress(Exception):  # the database may be cut off on purpose right now
                rows = await self.rows(query)
                if check(rows):
                    return rows
            await asyncio.sleep(every)
        raise AssertionError(f"{query!r} never matched; last rows: {rows}")


@contextlib.asynccontextmanager
async def database(backend: str, workdir: Path) -> AsyncIterator[Database]:
    if backend == "sqlite":
        yield Database(f"sqlite+aiosqlite:///{workdir / 'bot.db'}")
        return
    assert POSTGRES_URL, "MEDFEEDBACK_TEST_POSTGRES_URL is required for the PostgreSQL variant"
    name = f"e2e_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield Database(make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False))
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


class TcpProxy:
    """127.0.0.1:port → the database server; `cut()` drops every connection and refuses new ones until
    `restore()`: what a network partition or a restarting database server looks like to the bot."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.up = True
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.close()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, upstream_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            with contextlib.suppress(Exception):
                sink.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))
        self._writers -= {writer, upstream_writer}

    def cut(self) -> None:
        self.up = False
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self._writers.clear()

    def restore(self) -> None:
        self.up = True

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


def proxied(url: str, proxy: TcpProxy) -> str:
    return make_url(url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)


def environment(api: FakeTelegramAPI, workdir: Path, db: Database, **extra: str) -> dict[str, str]:
    return {
        "MEDFEEDBACK_TELEGRAM__TOKEN": TOKEN,
        "MEDFEEDBACK_TELEGRAM__API_SERVER": api.base_url,
        "MEDFEEDBACK_DATABASE__URL": db.url,
        "MEDFEEDBACK_MEDIA__DIR": str(workdir / "media"),
        "MEDFEEDBACK_PROSECUTOR__CHAT_ID": str(CHAT),
        # Most of these processes never classify a text: the 2 s of CPU of training at start-up would only slow
        # the suite (a test below turns it on and checks it).
        "MEDFEEDBACK_FEEDBACK__PREPARE_URGENCY_AT_START": "false",
        **extra,
    }


def webhook_settings(port: int) -> dict[str, str]:
    return {"MEDFEEDBACK_TELEGRAM__MODE": "webhook",
            "MEDFEEDBACK_TELEGRAM__WEBHOOK__URL": f"http://127.0.0.1:{port}/hook",
            "MEDFEEDBACK_TELEGRAM__WEBHOOK__PATH": "/hook",
            "MEDFEEDBACK_TELEGRAM__WEBHOOK__LISTEN_PORT": str(port),
            "MEDFEEDBACK_TELEGRAM__WEBHOOK__SECRET_TOKEN": SECRET}


async def start_bot(api: FakeTelegramAPI, workdir: Path, db: Database, name: str = "bot", **extra: str) -> BotProcess:
    """The real process, started and ready (its command menu registered), in a folder of its own."""
    mark = len(api.calls_of("setMyCommands"))
    bot = await BotProcess(workdir / name, environment(api, workdir, db, **extra)).start()
    try:
        await api.wait_for("setMyCommands", timeout=60, count=mark + 4, since=0)
        if extra.get("MEDFEEDBACK_TELEGRAM__MODE") == "webhook":
            await wait_listening(int(extra["MEDFEEDBACK_TELEGRAM__WEBHOOK__LISTEN_PORT"]))
    except (AssertionError, TimeoutError):
        await bot.stop()
        raise AssertionError(f"the bot did not start:\n{bot.output()}") from None
    return bot


async def wait_listening(port: int) -> None:
    for _ in range(600):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise AssertionError(f"nothing listens on {port}")


def load_directory(api: FakeTelegramAPI, workdir: Path, db: Database) -> None:
    loaded = subprocess.run([sys.executable, "-m", "bot", "directory", "import", str(DEMO_DIRECTORY)],
                            cwd=workdir, env={**environment(api, workdir, db), "PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, timeout=300)
    assert loaded.returncode == 0, loaded.stderr


def shown_to(user: int):
    return lambda call: (call.method in ("sendMessage", "editMessageText")
                         and str(call.params.get("chat_id")) == str(user))


async def press(api: FakeTelegramAPI, user: int, text: str, timeout: float = 60) -> dict:  # noqa: ASYNC109
    mark = len(api.calls)
    api.press(user, api.bot_messages(user)[-1], text)
    await api.wait_for(shown_to(user), since=mark, timeout=timeout)
    return api.bot_messages(user)[-1]


async def say(api: FakeTelegramAPI, user: int, text: str, count: int = 1) -> dict:
    mark = len(api.calls)
    api.send_text(user, text)
    await api.wait_for(shown_to(user), since=mark, timeout=60, count=count)
    return api.bot_messages(user)[-1]


async def onboard(api: FakeTelegramAPI, user: int, name: str = "Айгуль") -> None:
    """/start, then language and consent on one screen (Telegram's language preselected): the menu."""
    api.add_user(user, name, "ru")
    await say(api, user, "/start")
    mark = len(api.calls)
    api.press(user, api.bot_messages(user)[-1], RU("consent.accept"))
    await api.wait_for(lambda c: c.method == "sendMessage" and c.params.get("chat_id") == user
                       and c.params.get("text") == RU("menu.title"), since=mark, timeout=60)


async def to_evidence_step(api: FakeTelegramAPI, user: int, text: str = "Регистратор накричал на мою маму.") -> None:
    """An ordinary complaint about polyclinic No. 17, described; the bot now takes files or the incident's date."""
    await press(api, user, RU("menu.leave_feedback"))
    await say(api, user, "17")  # the one match is taken at once
    await press(api, user, RU("target.clinic"))
    await press(api, user, RU("kind.complaint_about", category=RU("category.rudeness")))
    await press(api, user, "2⭐")
    await say(api, user, text)


async def to_preview(api: FakeTelegramAPI, user: int, text: str = "Регистратор накричал на мою маму.") -> dict:
    """The same complaint up to the preview with its Submit button."""
    await to_evidence_step(api, user, text)
    mark = len(api.calls)
    api.press(user, api.bot_messages(user)[-1], RU("when.today"))
    await api.wait_for(lambda c: c.method == "sendMessage" and c.params.get("chat_id") == user
                       and RU("preview.submit") in json.dumps(c.params.get("reply_markup"), ensure_ascii=False),
                       since=mark, timeout=60)
    preview = api.bot_messages(user)[-1]
    assert RU("preview.submit") in json.dumps(preview.get("reply_markup"), ensure_ascii=False)
    return preview


def reference_in(call: Call) -> str:
    return re.search(r"AL-\d{4}-\d{6}", call.params["text"]).group()


def lock_sqlite(path: Path) -> sqlite3.Connection:
    """Hold SQLite's write lock from outside the bot, as a long backup or a stuck process would."""
    connection = sqlite3.connect(path, isolation_level=None, timeout=30)
    connection.execute("BEGIN EXCLUSIVE")
    return connection
