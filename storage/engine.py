"""Engine and session pool for SQLite (WAL, IMMEDIATE writes) and PostgreSQL (asyncpg)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if not is_sqlite(url):
        return create_async_engine(url, pool_pre_ping=True, **kwargs)
    engine = create_async_engine(url, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the sqlite3 module (its legacy mode sends no BEGIN before
        # reads and breaks SAVEPOINTs), so that every transaction starts as we say below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock up front: a read-then-write transaction in WAL mode would
        # otherwise fail with SQLITE_BUSY at once instead of waiting busy_timeout.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def make_session_pool(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=True)


# The session of the transaction handling the current update (set by the transaction middleware), so that
# the database FSM storage writes inside that same transaction instead of waiting for SQLite's write lock.
active_session: ContextVar[AsyncSession | None] = ContextVar("active_session", default=None)


@asynccontextmanager
async def transaction(pool: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """Join the update's transaction when there is one, else run a short transaction of our own."""
    session = active_session.get()
    if session is not None:
        yield session
        return
    async with pool() as session, session.begin():
        yield session


def make_reader_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An engine for read-only traffic (the public website). On SQLite its transactions begin DEFERRED and
    PRAGMA query_only is on: in WAL mode readers then never wait for the bot's writers, nor make them wait, as
    make_engine's BEGIN IMMEDIATE would."""
    if not is_sqlite(url):
        return create_async_engine(url, pool_pre_ping=True,
                                   execution_options={"postgresql_readonly": True}, **kwargs)
    engine = create_async_engine(url, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN")

    return engine
