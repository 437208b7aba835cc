"""The relay's own statements per send, with an empty outbox and with a long history in the chat it sends to.

    .venv/bin/python bench/outbox.py                    # 0 vs 100,000 sent rows, SQLite (+ PostgreSQL)
    .venv/bin/python bench/outbox.py --history 300000 --rounds 5

The outbox keeps every row it ever sent (the office's chat gets every alert, card edit and notice), and every send
renews the lease on its chat (`OutboxRepo.begin_attempt`, under the claim lock). For each backend and size this
queues 20 messages to one group chat, claims them as a relay does (`claim_due`), has a second relay claim while the
chat is held (it must find nothing), and before each send counts its pace (`Pacer.next_slot`) and begins it; then
marks the row sent as `_mark_sent` would. It also looks up the card an officer's reply refers to. The
history is made of sent rows of the same chat a day old. Medians over the rounds; PostgreSQL runs when
MEDFEEDBACK_TEST_POSTGRES_URL is set, in a schema of its own, dropped afterwards. The last line is
`outbox ratio R (history / empty)`, the slower backend's ratio of a send's bookkeeping: near 1 when it does not
grow with the table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, text, update

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.services.outbox import Pacer
from storage.engine import make_engine, make_session_pool
from storage.migrate import upgrade
from storage.models import OutboxMessage, OutboxStatus
from storage.repositories import Repositories
from tests.databases import PostgresSchema

CHAT = -1001234567890
QUEUED = 20
LEASE = timedelta(seconds=60)
PACER = Pacer()


async def fill(engine, history: int, now: datetime) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM outbox_messages"))
        rows = [dict(dedupe_key=f"old:{n}", chat_id=CHAT, kind="alert", payload={"text": "…"}, status="sent",
                     attempts=1, next_attempt_at=now, created_at=now - timedelta(days=1),
                     sent_at=now - timedelta(days=1), weight=1) for n in range(history)]
        for start in range(0, history, 5000):
            await connection.execute(insert(OutboxMessage), rows[start:start + 5000])
        if engine.dialect.name == "postgresql":  # as autovacuum would have by then; the bot never ANALYZEs SQLite
            await connection.execute(text("ANALYZE outbox_messages"))


async def one_round(pool, number: int, now: datetime) -> tuple[float, ...]:
    """Milliseconds: the claim, a second relay's claim of the held chat, finding the card a reply refers to, and
    before each send (medians of the 20) its pace (`Pacer.next_slot`) and its begin (`begin_attempt`)."""
    async with pool() as session, session.begin():
        for n in range(QUEUED):
            session.add(OutboxMessage(dedupe_key=f"new:{number}:{n}", chat_id=CHAT, kind="alert",
                                      payload={"text": "…"}, status=OutboxStatus.PENDING, attempts=0,
                                      next_attempt_at=now, created_at=now, weight=1))
    started = time.perf_counter()
    async with pool() as session, session.begin():
        claimed = [row.id for row in await Repositories(session).outbox.claim_due(now, now + LEASE, 50, "first")]
    claim = time.perf_counter() - started
    assert len(claimed) == QUEUED, len(claimed)
    started = time.perf_counter()
    async with pool() as session, session.begin():
        assert not await Repositories(session).outbox.claim_due(now, now + LEASE, 50, "second")
    busy = time.perf_counter() - started
    paces, begins = [], []
    for index, row_id in enumerate(claimed):
        started = time.perf_counter()
        async with pool() as session:
            await PACER.next_slot(Repositories(session), CHAT, 1, now)
        paces.append(time.perf_counter() - started)
        started = time.perf_counter()
        async with pool() as session, session.begin():
            assert await Repositories(session).outbox.begin_attempt(
                row_id, now, holder="first", lease_until=now + LEASE, renew=claimed[index + 1:]) == "ours"
        begins.append(time.perf_counter() - started)
        async with pool() as session, session.begin():
            await session.execute(update(OutboxMessage).where(OutboxMessage.id == row_id).values(
                status=OutboxStatus.SENT, sent_at=now, lease_until=None))
    started = time.perf_counter()
    async with pool() as session:  # an officer replies to a card: which one is it?
        await Repositories(session).outbox.by_sent_message(CHAT, 10**9)
    lookup = time.perf_counter() - started
    return (1000 * claim, 1000 * busy, 1000 * lookup, 1000 * statistics.median(paces),
            1000 * statistics.median(begins))


async def measure(engine, history: int, rounds: int) -> tuple[float, ...]:
    now = datetime.now(UTC)
    await fill(engine, history, now)
    pool = make_session_pool(engine)
    await one_round(pool, 0, now)  # warm-up: statements compiled, caches filled
    results = [await one_round(pool, number, now) for number in range(1, rounds + 1)]
    return tuple(statistics.median(column) for column in zip(*results, strict=True))  # type: ignore[return-value]


async def run(name: str, url: str, history: int, rounds: int) -> float:
    async with contextlib.AsyncExitStack() as stack:
        if name == "postgresql":
            engine = (await stack.enter_async_context(PostgresSchema(url, "bench"))).engine()
        else:
            engine = make_engine(url)
        stack.push_async_callback(engine.dispose)
        return await measure_both(name, engine, history, rounds)


async def measure_both(name: str, engine, history: int, rounds: int) -> float:
    """Both sizes of history on one engine; returns the ratio of a send's costs (with history / without)."""
    await upgrade(engine)
    figures = {}
    for size in (0, history):
        figures[size] = await measure(engine, size, rounds)
        claim, busy, lookup, pace, begin = figures[size]
        print(f"{name}: {size:>7,} sent rows in the chat: claim of {QUEUED} rows {claim:.2f} ms, a claim of the "
              f"held chat {busy:.2f} ms, the card a reply refers to {lookup:.2f} ms; before each send: its pace "
              f"{pace:.2f} ms, its begin (lease renewed) {begin:.2f} ms", flush=True)
    ratio = sum(figures[history][3:]) / sum(figures[0][3:])
    print(f"{name}: a send's pace and begin with {history:,} rows of history / with none: {ratio:.2f}; a claim: "
          f"{figures[history][0] / figures[0][0]:.2f}")
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, default=100_000, help="sent rows already in the chat")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    ratios = []
    with tempfile.TemporaryDirectory() as folder:
        ratios.append(asyncio.run(run("sqlite", f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}", args.history,
                                      args.rounds)))
    if url := os.environ.get("MEDFEEDBACK_TEST_POSTGRES_URL"):
        ratios.append(asyncio.run(run("postgresql", url, args.history, args.rounds)))
    print(f"outbox ratio {max(ratios):.2f} (history / empty)")


if __name__ == "__main__":
    main()
