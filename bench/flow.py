"""The full review conversation through the real dispatcher vs a bare aiogram echo bot, in the same process and run.

    .venv/bin/python bench/flow.py                       # 40 residents per round, 3 rounds, SQLite (+ PostgreSQL)
    .venv/bin/python bench/flow.py --residents 10 --rounds 1
    .venv/bin/python bench/flow.py --profile flow.prof  # cProfile of the flow rounds
    .venv/bin/python bench/flow.py --floor              # also the least any update costs: /help vs echo
    .venv/bin/python bench/flow.py --ceiling            # also echo + the one transaction every update must have

Each resident is a new person who goes /start → language → consent → leave feedback → types "поликлиника 17" (the
one match is taken at once) → a doctor → specialty → the therapist → gratitude → 5 stars → a text → a photo → today →
shows their name → rates the details → skips them → submit → /my: 18 updates, fed through `create_dispatcher(...)`
with the tests' recording session (tests/fakes), exactly as the flow tests do. The echo bot is a bare aiogram
Dispatcher (MemoryStorage, one `@router.message()` handler answering the text) fed the same number of text updates by
the same client and session class. Updates/s count the time inside `Dispatcher.feed_update` (the bot's work); the
same figures with the test client's own time (building updates, finding buttons) and the ratio of CPU times are
printed too. Within a round every resident's conversation follows 18 echo updates, so that both sides meet the same
load from the machine's other users; one round is a warm-up, not counted; the figures are medians of the rounds.
PostgreSQL runs when MEDFEEDBACK_TEST_POSTGRES_URL is set (in a schema of its own, dropped afterwards). The SQL
statements per update are counted on the engine.

The last line is `flow ratio R (sqlite)` or, when PostgreSQL ran, `flow ratio R (postgresql)` after the SQLite one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import itertools
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from aiogram import Dispatcher, Router
from aiogram.types import Message
from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from webhook_echo import one_transaction_per_update  # bench/, the script's own folder

from bot.config import load_settings
from bot.factory import create_bot, create_dispatcher
from bot.ops import heap
from bot.services import directory
from storage.engine import make_engine, make_session_pool
from storage.migrate import upgrade
from storage.repositories import Repositories
from tests.conftest import TEST_TOKEN, App, Clock
from tests.databases import PostgresSchema
from tests.fakes.client import UserClient
from tests.fakes.session import RecordingSession
from tests.fakes.updates import UpdateFactory
from tests.flows import PHOTO_A, RU, T, clinic_17, resident, therapist_of

UPDATES_PER_RESIDENT = 18


class Counted:
    """Counts the updates a dispatcher was fed (the client feeds them one by one) and the time spent inside
    `feed_update`, which leaves out the client's own work (building updates, finding the button to press): wall
    time, and the process's CPU time (all its threads: aiosqlite's included), which other people's load on the
    machine disturbs less."""

    def __init__(self, dp: Dispatcher) -> None:
        self.updates = 0
        self.seconds = 0.0
        self.cpu = 0.0
        feed = dp.feed_update

        async def counted(bot, update, **kwargs):
            self.updates += 1
            started, cpu = time.perf_counter(), time.process_time()
            try:
                return await feed(bot, update, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started
                self.cpu += time.process_time() - cpu

        dp.feed_update = counted  # type: ignore[method-assign]

    def mark(self) -> tuple[int, float, float]:
        return self.updates, self.seconds, self.cpu


async def review(app: App, person: UserClient, therapist: str) -> None:
    """One resident's whole conversation; asserts what they see at the end so a broken flow is not timed."""
    await person.command("start")
    await person.press("Русский")
    await person.press(T["ru"]("consent.accept"))
    await person.press(RU("menu.leave_feedback"))
    reply = await person.send("поликлиника 17")  # the one match is taken at once
    assert "Городская поликлиника №17" in reply.text, reply.text
    await person.press(RU("target.doctor"))
    await person.press("терапевт")
    await person.press(therapist)
    await person.press(RU("kind.gratitude"))
    await person.press("5⭐")
    await person.send("Спасибо доктору, внимательно выслушала и всё объяснила.")
    await person.photo(PHOTO_A)
    await person.press(RU("when.today"))
    await person.press(RU("preview.toggle_name", mark="⬜"))
    await person.press(RU("preview.rate_details"))
    await person.press(RU("criteria.skip_all"))
    reply = await person.press(RU("preview.submit"))
    assert any("AL-" in text for text in reply.texts), reply.texts
    await person.command("my")


def forget(session: RecordingSession) -> None:
    """Between residents: the recording session looks chats up by scanning every message it keeps, a cost of the
    test harness (not of the bot) that would otherwise grow with every resident and weigh on the flow only."""
    session.clear()
    session._messages.clear()
    session._keyboards.clear()
    session.files.clear()


def echo_dispatcher() -> Dispatcher:
    dp = Dispatcher()
    router = Router()

    @router.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "…")

    dp.include_router(router)
    return dp


async def interleaved(label: str, step: Callable[[int], Awaitable[None]], counter: Counted, echo_counter: Counted,
                      echo_person: UserClient, echo_session: RecordingSession, rounds: int, updates: int) -> float:
    """`step(n)`, one update of the measured side, then one echo update, `updates` times a round, so that both meet
    the same load; the first round warms up. Prints each round's milliseconds an update (time inside feed_update)
    and the ratio; returns the median ratio (echo's time / the measured side's)."""
    ratios = []
    for number in range(rounds + 1):
        before, echo_before = counter.mark(), echo_counter.mark()
        for n in range(updates):
            await step(n)
            await echo_person.send(f"сообщение {n}")
            forget(echo_session)
        measured = 1000 * (counter.mark()[1] - before[1]) / updates
        bare = 1000 * (echo_counter.mark()[1] - echo_before[1]) / updates
        if number:
            ratios.append(bare / measured)
            print(f"{label} round {number}: {measured:.2f} ms an update, echo {bare:.2f} ms, ratio "
                  f"{bare / measured:.3f}", flush=True)
    return statistics.median(ratios)


async def measure_floor(app: App, flow_counter: Counted, echo_counter: Counted, echo: Dispatcher, echo_bot,
                        echo_session: RecordingSession, rounds: int, updates: int = 300) -> None:
    """What any update of the bot costs at the least: an onboarded person's /help (the update record and nothing
    else in one transaction, one reply, no state to write), against as many echo updates, interleaved one by one."""
    person = await resident(app, 99_999)
    echo_person = UserClient(echo, echo_bot, echo_session, user_id=99_998, factory=UpdateFactory())

    async def help_asked(_n: int) -> None:
        reply = await person.command("help")
        assert "/start" in reply.text, reply.text
        forget(app.session)

    ratio = await interleaved("floor (/help)", help_asked, flow_counter, echo_counter, echo_person, echo_session,
                              rounds, updates)
    print(f"floor median ratio {ratio:.3f}: no update of the bot costs less than this")


def transactional_echo_dispatcher(pool, clock: Clock) -> Dispatcher:
    """The echo bot plus the least that issue #12's design asks of every update and nothing else: one transaction
    on the bot's own engine that records the update, reading the person and their conversation in the same
    statement as the bot does, and commits before the echo is sent. Neither exists (no User object is built, no
    state written): a little less than the bot's own least. No routers but the echo's, no middlewares but this one."""
    dp = echo_dispatcher()
    one_transaction_per_update(dp, pool, clock)
    return dp


async def measure_ceiling(backend: Backend, clock: Clock, settings, echo_counter: Counted, echo: Dispatcher,
                          echo_bot, echo_session: RecordingSession, rounds: int, updates: int = 300) -> None:
    """What the bot could reach at the most if its handlers, routers and middlewares cost nothing: echo with the
    update's one transaction against bare echo, interleaved one by one (issue #12's goals are ratios to bare echo)."""
    session = RecordingSession()
    bot = create_bot(settings, session=session)
    dp = transactional_echo_dispatcher(backend.pool, clock)
    counter = Counted(dp)
    factory = UpdateFactory()
    factory.update_ids = itertools.count(10**9)  # beside the flow's update ids in processed_updates
    person = UserClient(dp, bot, session, user_id=99_997, factory=factory)
    echo_person = UserClient(echo, echo_bot, echo_session, user_id=99_996, factory=UpdateFactory())

    async def echoed(n: int) -> None:
        reply = await person.send(f"сообщение {n}")
        assert reply.text == f"сообщение {n}", reply.text
        forget(session)

    ratio = await interleaved("ceiling (echo with the update's transaction)", echoed, counter, echo_counter,
                              echo_person, echo_session, rounds, updates)
    await bot.session.close()
    print(f"ceiling median ratio {ratio:.3f}: no bot that stores each update in its own "
          f"transaction on this engine reaches more than this")


class Backend:
    def __init__(self, name: str, url: str, folder: Path) -> None:
        self.name, self.url, self.folder = name, url, folder
        self._cleanup = contextlib.AsyncExitStack()

    async def __aenter__(self):
        try:
            return await self._open()
        except BaseException:
            await self._cleanup.aclose()  # the schema dropped even when the set-up failed
            raise

    async def _open(self):
        if self.name == "sqlite":
            self.engine = make_engine(self.url)
        else:
            self.engine = (await self._cleanup.enter_async_context(PostgresSchema(self.url, "bench"))).engine()
        self._cleanup.push_async_callback(self.engine.dispose)
        await upgrade(self.engine)
        self.pool = make_session_pool(self.engine)
        async with self.pool() as session, session.begin():
            report = await directory.import_rows(Repositories(session), directory.read_rows(directory.DEMO_DIRECTORY))
        assert report.ok
        self.statements = 0

        @event.listens_for(self.engine.sync_engine, "before_cursor_execute")
        def _count(*_args) -> None:
            self.statements += 1

        return self

    async def __aexit__(self, *exc) -> None:
        await self._cleanup.aclose()


async def run_backend(name: str, url: str, residents: int, rounds: int, profile: str | None,
                      floor: bool = False, ceiling: bool = False, settle: bool = True) -> float:
    folder = Path(tempfile.mkdtemp(prefix="bench-flow-"))
    if name == "sqlite":
        url = f"sqlite+aiosqlite:///{folder / 'bench.db'}"
    (folder / "empty.toml").write_text("")
    async with Backend(name, url, folder) as backend:
        settings = load_settings(folder / "empty.toml", telegram={"token": TEST_TOKEN},
                                 database={"url": backend.engine.url.render_as_string(hide_password=False)},
                                 media={"dir": str(folder / "media")}, prosecutor={"chat_id": -1001234567890},
                                 flood={"max_updates": 100000})
        clock = Clock(datetime(2026, 11, 26, 5, 0, tzinfo=UTC))
        session = RecordingSession()
        bot = create_bot(settings, session=session)
        dp = create_dispatcher(settings, session_pool=backend.pool, clock=clock)
        app = App(settings, backend.pool, bot, dp, session, UpdateFactory(), clock)
        therapist = (await therapist_of(app, await clinic_17(app))).full_name
        flow_counter = Counted(dp)
        if settle:
            heap.settle()  # as the process does before its first update (bot/app.py); both bots share this heap
        echo_session = RecordingSession()
        echo_bot = create_bot(settings, session=echo_session)
        echo = echo_dispatcher()
        echo_counter = Counted(echo)
        profiler = cProfile.Profile() if profile else None
        next_user = 100_000

        async def resident() -> None:
            nonlocal next_user
            next_user += 1
            await review(app, app.user(next_user, language_code="ru"), therapist)
            forget(session)

        async def echo_person() -> None:
            nonlocal next_user
            next_user += 1
            person = UserClient(echo, echo_bot, echo_session, user_id=next_user, factory=UpdateFactory())
            for step in range(UPDATES_PER_RESIDENT):
                await person.send(f"сообщение {step}")
            forget(echo_session)

        async def one_round() -> dict[str, float]:
            """Each resident's conversation right after as many echo updates: both sides meet the same load from
            the machine's other users, which changes within seconds."""
            flow_before, echo_before, statements_before = flow_counter.mark(), echo_counter.mark(), backend.statements
            flow_wall = echo_wall = 0.0
            for _ in range(residents):
                started = time.perf_counter()
                await echo_person()
                echo_wall += time.perf_counter() - started
                if profiler:
                    profiler.enable()
                started = time.perf_counter()
                await resident()
                flow_wall += time.perf_counter() - started
                if profiler:
                    profiler.disable()
            flow = [now - before for now, before in zip(flow_counter.mark(), flow_before, strict=True)]
            echo = [now - before for now, before in zip(echo_counter.mark(), echo_before, strict=True)]
            assert flow[0] == echo[0] == residents * UPDATES_PER_RESIDENT, (flow[0], echo[0])
            return {"updates": flow[0], "flow": flow[0] / flow[1], "echo": echo[0] / echo[1],
                    "flow_cpu": flow[0] / flow[2], "echo_cpu": echo[0] / echo[2],
                    "wall_ratio": (flow[0] / flow_wall) / (echo[0] / echo_wall),
                    "flow_wall": flow[0] / flow_wall, "echo_wall": echo[0] / echo_wall,
                    "statements": (backend.statements - statements_before) / flow[0]}

        # Warm-up: imports, compiled statements, the search index, the first connections.
        profiling, profiler = profiler, None
        await one_round()
        profiler = profiling
        results = []
        for number in range(1, rounds + 1):
            gc.collect()
            r = await one_round()
            results.append(r)
            print(f"{name} round {number}: flow {r['flow']:.1f} updates/s ({r['updates']} updates, "
                  f"{r['statements']:.2f} SQL statements per update), echo {r['echo']:.1f} updates/s, ratio "
                  f"{r['flow'] / r['echo']:.3f}; CPU time ratio {r['flow_cpu'] / r['echo_cpu']:.3f}; with the "
                  f"client's own time: flow {r['flow_wall']:.1f}, echo {r['echo_wall']:.1f} updates/s, ratio "
                  f"{r['wall_ratio']:.3f}", flush=True)
        if floor:
            await measure_floor(app, flow_counter, echo_counter, echo, echo_bot, echo_session, rounds)
        if ceiling:
            await measure_ceiling(backend, clock, settings, echo_counter, echo, echo_bot, echo_session, rounds)
        await bot.session.close()
        await echo_bot.session.close()
    if profiler:
        profiler.dump_stats(profile if name == "sqlite" else f"{profile}.{name}")
    ratios = [r["flow"] / r["echo"] for r in results]
    print(f"{name}: flow median {statistics.median(r['flow'] for r in results):.1f} updates/s, echo median "
          f"{statistics.median(r['echo'] for r in results):.1f} updates/s, "
          f"{statistics.median(r['statements'] for r in results):.2f} SQL statements per update; CPU time ratio "
          f"{statistics.median(r['flow_cpu'] / r['echo_cpu'] for r in results):.3f}; ratio with the client's own "
          f"time {statistics.median(r['wall_ratio'] for r in results):.3f}")
    return statistics.median(ratios)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=40, help="residents per round (18 updates each)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", help="write a cProfile of the flow rounds to this file")
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--floor", action="store_true",
                        help="also measure the least any update costs (an onboarded person's /help) against echo")
    parser.add_argument("--ceiling", action="store_true",
                        help="also measure echo with the one transaction each update needs, against bare echo")
    parser.add_argument("--no-settle", dest="settle", action="store_false",
                        help="leave start-up's objects in the collector's passes (the process freezes them)")
    args = parser.parse_args()
    results = [("sqlite", asyncio.run(run_backend("sqlite", "", args.residents, args.rounds, args.profile,
                                                  args.floor, args.ceiling, args.settle)))]
    postgres = os.environ.get("MEDFEEDBACK_TEST_POSTGRES_URL")
    if postgres and not args.sqlite_only:
        results.append(("postgresql", asyncio.run(run_backend("postgresql", postgres, args.residents, args.rounds,
                                                              args.profile, args.floor, args.ceiling,
                                                              args.settle))))
    for name, ratio in results:
        print(f"flow ratio {ratio:.3f} ({name})")


if __name__ == "__main__":
    main()
