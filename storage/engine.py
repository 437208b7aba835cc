"""Engine and session pool for SQLite (WAL, IMMEDIATE writes) and PostgreSQL (asyncpg)."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

import aiosqlite
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

log = logging.getLogger(__name__)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


# A pooled PostgreSQL connection idle for longer than this is pinged before use. pool_pre_ping pinged every
# checkout: one more round trip per update. A connection dropped while in busy use fails one attempt instead, and
# the unit of work retries it on a fresh one (SQLAlchemy then replaces every connection older than the failure).
PING_AFTER_IDLE_SECONDS = 10.0

# A file database's write-ahead log is checkpointed (copied into the database file, with an fsync) by every this
# many-th COMMIT, which then runs on aiosqlite's thread; the others run on the event loop (MostlyInlineConnection).
# SQLite's own auto-checkpoint (every 1,000 pages) would run inside whichever COMMIT crosses its mark, on the loop.
CHECKPOINT_EVERY_COMMITS = 200
# While the log is longer than this many frames (readers kept it from starting again), every COMMIT checkpoints, as
# SQLite's auto-checkpoint does past its 1,000 pages.
LONG_LOG_FRAMES = 1000


def make_engine(url: str, *, ping_after_idle: float = PING_AFTER_IDLE_SECONDS,
                checkpoint_every: int = CHECKPOINT_EVERY_COMMITS, **kwargs: Any) -> AsyncEngine:
    # hide_parameters: an error's message must not carry the values of the statement (residents' texts, ids).
    kwargs.setdefault("hide_parameters", True)
    if not is_sqlite(url):
        engine = create_async_engine(url, pool_recycle=1800, **kwargs)
        _ping_idle_connections(engine, ping_after_idle)
        return engine
    if make_url(url).database not in (None, "", ":memory:"):
        # Every transaction takes SQLite's write lock up front (below), so only one can run at a time anyway. With
        # one pooled connection the others wait in the pool's queue, in order, and start the moment it is free;
        # with more, they wait in SQLite's busy handler, which sleeps and polls (up to 100 ms a try) and made a
        # burst of webhook updates take seconds.
        kwargs = {"pool_size": 1, "max_overflow": 0, "pool_timeout": 10, **kwargs}
    connect_args = {"async_creator_fn": connect_mostly_inline, **kwargs.pop("connect_args", {})}
    engine = create_async_engine(url, connect_args=connect_args, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the sqlite3 module (its legacy mode sends no BEGIN before
        # reads and breaks SAVEPOINTs), so that every transaction starts as we say below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        in_wal = (cursor.fetchone() or ("",))[0] == "wal"  # an in-memory database stays "memory"
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        driver = dbapi_connection.driver_connection
        if in_wal and isinstance(driver, MostlyInlineConnection):
            # SQLite's own checkpoint would run inside a COMMIT on the loop (see MostlyInlineConnection).
            cursor.execute("PRAGMA wal_autocheckpoint=0")
            driver.checkpoint_every(checkpoint_every)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock up front: a read-then-write transaction in WAL mode would
        # otherwise fail with SQLITE_BUSY at once instead of waiting busy_timeout.
        driver = connection.connection.driver_connection
        if isinstance(driver, MostlyInlineConnection) and driver.began_without_waiting():
            return  # the lock was free: no trip through SQLAlchemy's statement machinery for one keyword
        connection.exec_driver_sql("BEGIN IMMEDIATE")  # waits (on aiosqlite's thread); errors come wrapped

    return engine


class MostlyInlineConnection(aiosqlite.Connection):
    """aiosqlite's connection without its thread hops where SQLite will not wait.

    aiosqlite hands every call (cursor, execute, fetch, close: four per statement, and BEGIN, COMMIT and the pool's
    ROLLBACK at check-in) to its thread and back: a wake-up of another thread and of the event loop each time, which
    on a busy machine cost more than running the statements. But in WAL mode only taking the write lock can wait
    (for another process's writer): inside a transaction begun IMMEDIATE (every transaction of make_engine) readers
    never block and the write lock is ours. So the statements of such a transaction run right here, on the loop, for
    the microseconds they take, and so does the pool's ROLLBACK of a connection with no transaction (it does
    nothing). BEGIN is tried here without waiting (busy_timeout 0 for that one statement) and, when another process
    holds the lock, goes to aiosqlite's thread to wait there as before, so the loop never sleeps in SQLite's busy
    handler. COMMIT runs here too when the connection checkpoints on its own schedule (`checkpoint_every`, a file
    database in WAL mode): with synchronous=NORMAL a COMMIT only appends to the log, without an fsync. SQLite's own
    checkpoint, which copies the log into the database file and waits for the disk, would run inside a COMMIT now and
    then; on the loop that held up every request in flight (webhook p95 at 8 concurrent requests went from 2 to 7
    times the echo bot's). So it is turned off, and every `checkpoint_every`-th COMMIT goes to the thread followed
    by a PASSIVE checkpoint there, as SQLite's own did: while the connection is still checked out by that update, so
    no writer of this process runs beside it and the checkpoint reaches the end of the log, which the next writer
    then starts again from the beginning, unless a reader is still in it; while the log stays longer than
    LONG_LOG_FRAMES, every COMMIT checkpoints (a checkpoint on another connection, beside the loop's next commits,
    never caught up: the log grew by 170 MB in 20,000 commits). Without a schedule of its own (an in-memory
    database) COMMIT goes to the thread. Anything else
    (PRAGMAs at connect, statements outside a transaction, closing) goes to the thread too. A statement that takes
    long inside a transaction (a rebuild from every review) holds the loop as long; with the single pooled
    connection (above) every other update waits for it either way."""

    _CURSOR_CALLS = frozenset({"execute", "executemany", "fetchone", "fetchmany", "fetchall", "close"})
    _checkpoint_every: int | None = None  # None: SQLite's own auto-checkpoint, every COMMIT on the thread
    _commits_since_checkpoint = 0
    checkpoints = 0  # how many this connection ran: for tests and the curious

    def checkpoint_every(self, commits: int) -> None:
        """This connection's auto-checkpoint is off (PRAGMA wal_autocheckpoint=0): commit on the loop, and
        checkpoint on the thread with every `commits`-th COMMIT."""
        self._checkpoint_every = max(1, commits)

    def began_without_waiting(self) -> bool:
        """BEGIN IMMEDIATE if the write lock is free now; False (nothing begun) if it is not, or on any error, for
        the caller to begin the usual way."""
        connection = self._connection
        if connection is None or not self._running or connection.in_transaction:
            return False
        try:
            _without_waiting(connection, connection.execute, "BEGIN IMMEDIATE")
        except sqlite3.Error:
            return False
        return True

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        connection = self._connection
        if connection is not None and self._running:
            owner, name = getattr(fn, "__self__", None), getattr(fn, "__name__", "")
            if owner is connection:
                if name == "cursor" or (name == "rollback" and not connection.in_transaction):
                    return fn(*args, **kwargs)  # an object made; a rollback of nothing
                if name == "commit" and self._checkpoint_every is not None and connection.in_transaction:
                    if self._commits_since_checkpoint + 1 < self._checkpoint_every:
                        fn(*args, **kwargs)  # appends to the log; no checkpoint, no fsync (see the class doc)
                        self._commits_since_checkpoint += 1
                        return None
                    frames = await super()._execute(_commit_and_checkpoint, connection)
                    self.checkpoints += 1
                    # A reader (the website's, on this loop) can keep the log from starting again: while it is long,
                    # the next COMMIT checkpoints too, as SQLite's own auto-checkpoint does at every one.
                    self._commits_since_checkpoint = self._checkpoint_every - 1 if frames > LONG_LOG_FRAMES else 0
                    return None
            elif isinstance(owner, sqlite3.Cursor) and name in self._CURSOR_CALLS:
                if connection.in_transaction:
                    return fn(*args, **kwargs)
                if name == "execute" and args and str(args[0]).lstrip().upper().startswith("BEGIN"):
                    try:
                        return _without_waiting(connection, fn, *args, **kwargs)
                    except sqlite3.OperationalError as error:
                        if error.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                            raise
        return await super()._execute(fn, *args, **kwargs)


def _commit_and_checkpoint(connection: sqlite3.Connection) -> int:
    """On aiosqlite's thread: the COMMIT, then the log copied into the database file as far as readers allow
    (PASSIVE, as SQLite's auto-checkpoint is); returns how long the log still is, in frames (it starts again from
    the beginning only once a writer finds it all copied and no reader in it). The commit stands whatever the
    checkpoint does: its failure only leaves the log longer until the next one."""
    connection.commit()
    try:
        _busy, frames, _copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    except sqlite3.Error:
        log.warning("checkpoint of the write-ahead log failed; the next one will try again", exc_info=True)
        return 0
    return max(0, frames)


def _without_waiting(connection: sqlite3.Connection, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    (timeout,) = connection.execute("PRAGMA busy_timeout").fetchone()
    connection.execute("PRAGMA busy_timeout=0")
    try:
        return fn(*args, **kwargs)
    finally:
        connection.execute(f"PRAGMA busy_timeout={int(timeout)}")


def connect_mostly_inline(database: str, *, iter_chunk_size: int = 64, **kwargs: Any) -> MostlyInlineConnection:
    """aiosqlite.connect, for MostlyInlineConnection: the sqlite3 connection is used from the loop's thread and from
    aiosqlite's, one at a time (the module is built serialized: sqlite3.threadsafety 3)."""
    kwargs["check_same_thread"] = False

    def connector() -> sqlite3.Connection:
        return sqlite3.connect(database, **kwargs)

    connection = MostlyInlineConnection(connector, iter_chunk_size)
    connection._thread.daemon = True  # as SQLAlchemy does for aiosqlite's own connections
    return connection


def _ping_idle_connections(engine: AsyncEngine, after: float) -> None:
    @event.listens_for(engine.sync_engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.pop("idle_since", None)
        if idle_since is None or time.monotonic() - idle_since < after:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:  # the pool discards this connection and checks out another
            raise sa_exc.DisconnectionError(f"an idle connection was dropped: {error!r}") from error


def make_read_engine(url: str, *, busy_timeout_ms: int = 10_000, **kwargs: Any) -> AsyncEngine:
    """An engine for traffic that only reads (the public website, health checks, metrics, `doctor`).

    On SQLite its transactions begin DEFERRED and PRAGMA query_only is on: in WAL mode such readers never wait
    for the bot's writers nor make them wait, as make_engine's BEGIN IMMEDIATE would. On PostgreSQL its
    transactions are READ ONLY."""
    if not is_sqlite(url):
        options = {**kwargs.pop("execution_options", {}), "postgresql_readonly": True}
        return make_engine(url, execution_options=options, **kwargs)
    kwargs.setdefault("hide_parameters", True)
    engine = create_async_engine(url, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # transactions begin as below, not as the sqlite3 module would
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN")

    return engine


def make_session_pool(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=True)


# The session of the transaction handling the current update (set by the unit of work), so that the database
# FSM storage reads and writes inside that same transaction instead of waiting for SQLite's write lock.
active_session: ContextVar[AsyncSession | None] = ContextVar("active_session", default=None)
