"""RSS growth per 100,000 distinct people who send /start and choose a language, extrapolated from thousands.

    .venv/bin/python bench/memory.py                 # 10,000 people (at least 5,000), SQLite
    .venv/bin/python bench/memory.py --people 5000

Feeds the real dispatcher (`create_dispatcher`, the database FSM storage, SQLite in WAL mode) with the tests'
recording session; the session forgets each chat once its person is done, so what stays is the bot's. After a
warm-up of 2,000 people and a full garbage collection, the process's resident set size is read from /proc, then the
people come one by one, then RSS is read again after another collection. A bare aiogram bot (MemoryStorage and
aiogram's SimpleEventIsolation, one handler for each of the two updates) is fed the same updates in the same run,
before the bot, and measured the same way. Prints the bot's and the bare bot's growth per 100,000 people and, as the
last line, `memory ratio R (bot / bare aiogram)`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from aiogram import Dispatcher, Router
from aiogram.filters import CommandStart
from aiogram.types import CallbackQuery, Message

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.flow import forget
from bot.callbacks import LanguageChoice
from bot.config import load_settings
from bot.factory import create_bot, create_dispatcher
from storage.engine import make_engine, make_session_pool
from storage.migrate import upgrade
from tests.conftest import TEST_TOKEN, Clock
from tests.fakes.client import UserClient
from tests.fakes.session import RecordingSession
from tests.fakes.updates import UpdateFactory

PAGE = os.sysconf("SC_PAGE_SIZE")
WARM_UP = 2_000  # people before the first reading: bounded caches (SQLite keeps up to 2 MB of pages) fill up


def rss() -> int:
    gc.collect()
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


def bare_dispatcher() -> Dispatcher:
    dp = Dispatcher()
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer("Choose a language", reply_markup=None)

    @router.callback_query(LanguageChoice.filter())
    async def chosen(query: CallbackQuery) -> None:
        await query.answer("ok")

    dp.include_router(router)
    return dp


async def visit(dp: Dispatcher, bot, session: RecordingSession, factory: UpdateFactory, user_id: int) -> None:
    person = UserClient(dp, bot, session, user_id=user_id, language_code="ru", factory=factory)
    await person.command("start")
    message = person.last_message
    await person.feed(factory.callback_query(LanguageChoice(code="ru").pack(), message=message, user=person.user))
    forget(session)
    session._answered.clear()


async def grow(dp: Dispatcher, bot, session: RecordingSession, people: int, first_id: int) -> tuple[int, int]:
    factory = UpdateFactory()
    for user_id in range(first_id, first_id + WARM_UP):  # fills caches (SQLite pages, compiled statements)
        await visit(dp, bot, session, factory, user_id)
    before = rss()
    for user_id in range(first_id + WARM_UP, first_id + WARM_UP + people):
        await visit(dp, bot, session, factory, user_id)
    return before, rss()


async def main_async(people: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    (folder / "empty.toml").write_text("")
    engine = make_engine(f"sqlite+aiosqlite:///{folder / 'bench.db'}")
    await upgrade(engine)
    pool = make_session_pool(engine)
    settings = load_settings(folder / "empty.toml", telegram={"token": TEST_TOKEN},
                             database={"url": engine.url.render_as_string(hide_password=False)},
                             media={"dir": str(folder / "media")}, flood={"max_updates": 100000})
    figures = {}
    for name in ("bare aiogram", "bot"):
        session = RecordingSession()
        bot = create_bot(settings, session=session)
        if name == "bot":
            dp = create_dispatcher(settings, session_pool=pool, clock=Clock(datetime(2026, 11, 26, 5, tzinfo=UTC)))
        else:
            dp = bare_dispatcher()
        first_id = 1_000_000 if name == "bot" else 5_000_000
        before, after = await grow(dp, bot, session, people, first_id)
        per_100k = (after - before) / people * 100_000 / 1e6
        figures[name] = per_100k
        print(f"{name}: RSS {before / 1e6:.1f} MB → {after / 1e6:.1f} MB after {people:,} people: "
              f"{per_100k:.1f} MB per 100,000 people", flush=True)
        await bot.session.close()
    await engine.dispose()
    ratio = figures["bot"] / figures["bare aiogram"] if figures["bare aiogram"] > 0 else float("inf")
    print(f"memory ratio {ratio:.2f} (bot / bare aiogram)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=10_000)
    args = parser.parse_args()
    if args.people < 5_000:
        parser.error("--people must be at least 5,000 for the extrapolation to mean anything")
    asyncio.run(main_async(args.people))


if __name__ == "__main__":
    main()
