"""Storage on SQLite and PostgreSQL: migrations match the models, idempotency, time zones, FSM persistence."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from datetime import UTC, datetime, timedelta

import pytest
from aiogram.fsm.storage.base import StorageKey
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from storage import engine as storage_engine
from storage.engine import make_engine, make_session_pool
from storage.fsm import DatabaseStorage
from storage.migrate import upgrade
from storage.models import Base, Clinic, District, Role, User
from storage.repositories import Repositories
from tests.conftest import BACKENDS

both_backends = pytest.mark.parametrize("backend", BACKENDS, indirect=True)
NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)


@both_backends
async def test_migrations_produce_exactly_the_models(engine) -> None:
    def differences(connection):
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)

    async with engine.connect() as connection:
        assert await connection.run_sync(differences) == []


@both_backends
async def test_a_redelivered_update_is_recorded_once(pool) -> None:
    async with pool() as session, session.begin():
        assert await Repositories(session).updates.mark_processed(777, NOW) is True
    async with pool() as session, session.begin():
        assert await Repositories(session).updates.mark_processed(777, NOW) is False
        assert await Repositories(session).updates.mark_processed(778, NOW) is True


@both_backends
async def test_datetimes_come_back_timezone_aware(pool) -> None:
    almaty = NOW.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Almaty"))
    async with pool() as session, session.begin():
        await Repositories(session).users.get_or_create(42, almaty, "Айгерім")
    async with pool() as session, session.begin():
        user = await Repositories(session).users.by_telegram_id(42)
    assert user.created_at == NOW and user.created_at.tzinfo is not None
    assert user.first_name == "Айгерім"


@both_backends
async def test_naive_datetimes_are_refused(pool) -> None:
    with pytest.raises(Exception, match="naive"):
        async with pool() as session, session.begin():
            session.add(User(telegram_id=1, created_at=datetime(2026, 1, 1)))  # noqa: DTZ001


@both_backends
async def test_foreign_keys_are_enforced(pool) -> None:
    with pytest.raises(IntegrityError):
        async with pool() as session, session.begin():
            session.add(Clinic(external_id="c", name_kk="a", name_ru="b", name_en="c", district_id=999))


async def test_sqlite_runs_in_wal_mode(engine) -> None:
    async with engine.connect() as connection:
        assert (await connection.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await connection.execute(text("PRAGMA foreign_keys"))).scalar() == 1


async def test_a_transaction_waits_for_another_process_lock_without_holding_up_the_loop(engine, pool,
                                                                                        tmp_path) -> None:
    """Statements of a transaction run on the loop (storage/engine.py); waiting for the write lock must not."""
    other = sqlite3.connect(tmp_path / "test.db", isolation_level=None, timeout=30)
    other.execute("BEGIN IMMEDIATE")  # another process's writer, as a backup or a CLI import would be

    async def record() -> bool:
        async with pool() as session, session.begin():
            return await Repositories(session).updates.mark_processed(901, NOW)

    waiting = asyncio.create_task(record())
    ticks = 0
    for _ in range(20):  # the loop keeps turning while the transaction waits
        await asyncio.sleep(0.01)
        ticks += 1
    assert ticks == 20 and not waiting.done()
    other.rollback()
    assert await asyncio.wait_for(waiting, 30) is True
    other.close()
    async with pool() as session, session.begin():  # then it was stored, and the next one takes the lock at once
        assert await Repositories(session).updates.mark_processed(901, NOW) is False
        assert (await session.execute(text("PRAGMA busy_timeout"))).scalar() == 10000


async def test_a_commit_runs_on_the_loop_and_never_checkpoints_there(engine, pool) -> None:
    """COMMIT only appends to the write-ahead log, so it runs on the loop (storage/engine.py); the checkpoint, which
    waits for the disk, must then not run inside it."""
    async with engine.connect() as connection:
        assert (await connection.execute(text("PRAGMA wal_autocheckpoint"))).scalar() == 0
        driver = (await connection.get_raw_connection()).driver_connection
    threads: list[tuple[str, int]] = []
    driver._conn.set_trace_callback(lambda statement: threads.append((statement, threading.get_ident())))
    async with pool() as session, session.begin():
        assert await Repositories(session).updates.mark_processed(902, NOW)
    driver._conn.set_trace_callback(None)
    commits = [thread for statement, thread in threads if statement.strip().upper() == "COMMIT"]
    assert commits == [threading.get_ident()], threads


async def _scalar(engine, statement: str):
    async with engine.connect() as connection:
        return (await connection.execute(text(statement))).scalar()


async def test_the_write_ahead_log_stays_short_while_people_write_at_once(tmp_path) -> None:
    """Every 20th COMMIT (here) checkpoints, on aiosqlite's thread, while no other writer of the process can run:
    the log is copied to its end and starts again, however many updates wait their turn (a checkpoint beside them
    on another connection never caught up, and the log grew by about 9 KB a commit)."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'wal.db'}", checkpoint_every=20)
    await upgrade(engine)
    pool = make_session_pool(engine)
    async with engine.connect() as connection:
        driver = (await connection.get_raw_connection()).driver_connection
    before = driver.checkpoints

    async def person(number: int) -> None:
        for update in range(100):
            async with pool() as session, session.begin():
                await Repositories(session).updates.mark_processed(number * 1000 + update, NOW)

    await asyncio.gather(*(person(number) for number in range(8)))  # 800 commits, 8 waiting at any moment
    assert driver.checkpoints - before == 40
    # The file keeps the longest the log ever was: a log never started again would hold 800 commits or more.
    page = (await _scalar(engine, "PRAGMA page_size")) + 24  # a frame: a page and its header
    longest = (tmp_path / "wal.db-wal").stat().st_size // page
    await engine.dispose()
    assert longest < 400, longest  # 111 frames here; 1,691 with the checkpoint on another connection


async def test_while_a_reader_keeps_the_log_from_starting_again_every_commit_checkpoints(
        tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The website's readers share the loop: one in the log when a checkpoint is due keeps the log from starting
    again. The next commits then checkpoint too (as SQLite's own auto-checkpoint would), not only every 20th."""
    monkeypatch.setattr(storage_engine, "LONG_LOG_FRAMES", 100)  # a commit here adds 1 to 3 frames
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'wal.db'}", checkpoint_every=20)
    await upgrade(engine)
    pool = make_session_pool(engine)
    async with engine.connect() as connection:
        driver = (await connection.get_raw_connection()).driver_connection

    async def commits(first: int) -> int:
        before = driver.checkpoints
        for number in range(first, first + 200):
            async with pool() as session, session.begin():
                await Repositories(session).updates.mark_processed(number, NOW)
        return driver.checkpoints - before

    reader = sqlite3.connect(tmp_path / "wal.db", isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM processed_updates").fetchone()  # a snapshot held open: the log stays
    while_held = await commits(20_000)
    reader.execute("ROLLBACK")
    reader.close()
    await commits(30_000)  # the log is copied, and starts again
    afterwards = await commits(40_000)
    await engine.dispose()
    assert while_held > 100, while_held  # 10 with a checkpoint every 20th commit whatever it achieved
    assert afterwards <= 12, afterwards


@both_backends
async def test_a_failed_transaction_leaves_nothing(pool) -> None:
    with pytest.raises(RuntimeError):
        async with pool() as session, session.begin():
            session.add(District(external_id="d", name_kk="a", name_ru="b", name_en="c"))
            await session.flush()
            raise RuntimeError("handler failed")
    async with pool() as session, session.begin():
        assert await session.scalar(select(func.count()).select_from(District)) == 0


@both_backends
async def test_roles_and_audit(pool) -> None:
    async with pool() as session, session.begin():
        repo = Repositories(session)
        await repo.staff.grant(5, Role.PROSECUTOR, NOW, by=1)
        await repo.staff.grant(5, Role.PROSECUTOR, NOW, by=1)
        await repo.audit.record(NOW, 1, "role.granted", "staff_role", None, role="prosecutor")
    async with pool() as session, session.begin():
        repo = Repositories(session)
        assert [role.role for role in await repo.staff.roles_of(5)] == [Role.PROSECUTOR]
        assert await repo.staff.has_role(5, Role.PROSECUTOR)
        assert not await repo.staff.has_role(5, Role.ADMIN)


@both_backends
async def test_database_fsm_survives_a_new_storage(pool) -> None:
    key = StorageKey(bot_id=1, chat_id=10, user_id=10)
    first = DatabaseStorage(pool)
    await first.set_state(key, "ReviewForm:choosing_clinic")
    await first.set_data(key, {"clinic_id": 17, "photos": ["a", "b"]})
    await first.close()
    second = DatabaseStorage(pool)  # what a restarted bot builds
    assert await second.get_state(key) == "ReviewForm:choosing_clinic"
    assert await second.get_data(key) == {"clinic_id": 17, "photos": ["a", "b"]}
    await second.set_state(key, None)
    assert await second.get_state(key) is None
    assert await second.get_data(StorageKey(bot_id=1, chat_id=11, user_id=11)) == {}


@both_backends
async def test_a_chats_conversations_move_to_its_new_id_and_one_begun_there_is_kept(pool) -> None:
    storage = DatabaseStorage(pool)
    old, new, neighbour = -5000017, -1005000017, -50000170  # the neighbour's id begins with the old one's digits
    await storage.set_state(StorageKey(bot_id=1, chat_id=old, user_id=7), "ClinicAnswer:writing")
    await storage.set_data(StorageKey(bot_id=1, chat_id=old, user_id=7), {"review_id": 3})
    await storage.set_state(StorageKey(bot_id=1, chat_id=old, user_id=8, thread_id=5), "ClinicAnswer:writing")
    await storage.set_state(StorageKey(bot_id=1, chat_id=old, user_id=9), "ClinicAnswer:writing")
    await storage.set_state(StorageKey(bot_id=1, chat_id=new, user_id=9), "ClinicAnswer:editing")  # begun since
    await storage.set_state(StorageKey(bot_id=1, chat_id=neighbour, user_id=7), "ClinicAnswer:writing")
    assert await storage.chat_moved(old, new) == 2
    assert await storage.get_state(StorageKey(bot_id=1, chat_id=new, user_id=7)) == "ClinicAnswer:writing"
    assert await storage.get_data(StorageKey(bot_id=1, chat_id=new, user_id=7)) == {"review_id": 3}
    assert await storage.get_state(StorageKey(bot_id=1, chat_id=new, user_id=8, thread_id=5)) == "ClinicAnswer:writing"
    assert await storage.get_state(StorageKey(bot_id=1, chat_id=new, user_id=9)) == "ClinicAnswer:editing"
    assert [await storage.get_state(StorageKey(bot_id=1, chat_id=old, user_id=user)) for user in (7, 9)] == [None] * 2
    assert await storage.get_state(StorageKey(bot_id=1, chat_id=neighbour, user_id=7)) == "ClinicAnswer:writing"
    assert await storage.chat_moved(old, new) == 0  # the other of Telegram's two service messages


@both_backends
async def test_old_processed_updates_can_be_forgotten(pool) -> None:
    async with pool() as session, session.begin():
        repo = Repositories(session)
        await repo.updates.mark_processed(1, NOW - timedelta(days=3))
        await repo.updates.mark_processed(2, NOW)
        assert await repo.updates.forget_older_than(NOW - timedelta(days=1)) == 1
