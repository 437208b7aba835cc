"""Shared fixtures: settings, a migrated database (SQLite always, PostgreSQL when configured), the bot app."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiogram import Bot, Dispatcher
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import Settings, load_settings
from bot.factory import create_bot, create_dispatcher
from storage.engine import make_engine, make_session_pool
from storage.migrate import upgrade
from tests.databases import PostgresSchema
from tests.fakes.client import UserClient
from tests.fakes.session import RecordingSession
from tests.fakes.updates import UpdateFactory

TEST_TOKEN = "123456:TEST-token"
POSTGRES_URL = os.environ.get("MEDFEEDBACK_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("MEDFEEDBACK_TEST_REDIS_URL")

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_pg = pytest.mark.skip(reason="MEDFEEDBACK_TEST_POSTGRES_URL is not set (.ci/run sets it)")
    skip_redis = pytest.mark.skip(reason="MEDFEEDBACK_TEST_REDIS_URL is not set (.ci/run sets it)")
    for item in items:
        if "postgres" in item.keywords and not POSTGRES_URL:
            item.add_marker(skip_pg)
        if "redis" in item.keywords and not REDIS_URL:
            item.add_marker(skip_redis)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres: needs the PostgreSQL server named by MEDFEEDBACK_TEST_POSTGRES_URL")
    config.addinivalue_line("markers", "redis: needs the Redis server named by MEDFEEDBACK_TEST_REDIS_URL")
    config.addinivalue_line("markers", "expect_errors: the test provokes an unexpected error in a handler on purpose")


@pytest.fixture(autouse=True)
def no_hidden_handler_errors(request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture):
    """A handler that failed is a bug even when the person got a polite apology: fail the test that caused it."""
    yield
    if "expect_errors" in request.keywords:
        return
    failures = [record for record in caplog.get_records("call")
                if record.name == "handlers.errors" and record.levelno >= logging.ERROR]
    assert not failures, "a handler failed: " + "; ".join(
        f"{record.getMessage()}: {record.exc_info[1]!r}" if record.exc_info else record.getMessage()
        for record in failures)


class Clock:
    """A controllable clock: services take `now` from it, so tests decide what time it is."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        from datetime import timedelta

        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 26, 5, 0, tzinfo=UTC))


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """Overridden with BACKENDS by tests that must also run on PostgreSQL."""
    return request.param


@pytest.fixture
async def engine(backend: str, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    if backend == "sqlite":
        engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")
        await upgrade(engine)
        yield engine
        await engine.dispose()
        return
    # Each test gets its own PostgreSQL schema, dropped afterwards, so tests never see each other's rows.
    async with PostgresSchema(POSTGRES_URL) as schema:
        engine = schema.engine()
        try:
            await upgrade(engine)
            yield engine
        finally:
            await engine.dispose()


@pytest.fixture
def pool(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_session_pool(engine)


@pytest.fixture
def settings(tmp_path: Path, engine: AsyncEngine) -> Settings:
    # An empty file of our own, so that a developer's config.toml never leaks into the tests.
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    return load_settings(
        empty,
        telegram={"token": TEST_TOKEN},
        database={"url": engine.url.render_as_string(hide_password=False)},
        media={"dir": str(tmp_path / "media")},
        prosecutor={"chat_id": -1001234567890},
        admins=[9001],
        # Tests talk faster than any person; the flood guard has a test of its own.
        flood={"max_updates": 100000},
    )


@dataclass
class App:
    """One bot as tests see it: a real dispatcher over a recording session, and people who talk to it."""

    settings: Settings
    pool: async_sessionmaker[AsyncSession]
    bot: Bot
    dp: Dispatcher
    session: RecordingSession
    updates: UpdateFactory
    clock: Clock

    def user(self, user_id: int = 1001, **kwargs: object) -> UserClient:
        return UserClient(self.dp, self.bot, self.session, user_id=user_id, factory=self.updates, **kwargs)

    def rebuilt(self) -> App:
        """The same storage under a freshly built dispatcher: what a restart of the bot looks like."""
        dp = create_dispatcher(self.settings, session_pool=self.pool, clock=self.clock)
        return App(self.settings, self.pool, self.bot, dp, self.session, self.updates, self.clock)


@pytest.fixture
async def app(settings: Settings, pool: async_sessionmaker[AsyncSession], clock: Clock) -> AsyncIterator[App]:
    session = RecordingSession()
    bot = create_bot(settings, session=session)
    dp = create_dispatcher(settings, session_pool=pool, clock=clock)
    yield App(settings, pool, bot, dp, session, UpdateFactory(), clock)
    await bot.session.close()


@pytest.fixture
async def demo_directory(app: App) -> None:
    """The demo directory of Almaty loaded into the app's database (use with pytest.mark.usefixtures)."""
    from bot.services import directory
    from storage.repositories import Repositories

    async with app.pool() as session, session.begin():
        report = await directory.import_rows(Repositories(session), directory.read_rows(directory.DEMO_DIRECTORY))
    assert report.ok
