"""The public website at 1,000,000 reviews on SQLite: p50 and p95 per page type, over HTTP, target p95 < 50 ms.

    .venv/bin/python bench/web.py                    # 1,000,000 reviews, 5,000 doctors, 120 polyclinics
    .venv/bin/python bench/web.py --reviews 100000   # a quick run
    .venv/bin/python bench/web.py --db /tmp/web.db          # keep the file; add --reuse to time it again

The data is bench/top_specialists.py's (skewed popularity: a few doctors have tens of thousands of reviews), with
texts, named and anonymous authors and published answers added; the stats are built by `ratings.rebuild`. The site
is the real one (`make_web_app` on the read-only engine) behind aiohttp's test server on 127.0.0.1; every request
is timed from the client, one at a time, after a warm-up. Nothing is cached: every page is rendered from the
database, as a reverse proxy's miss would be. The machine's load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

sys.path.insert(0, str(Path(__file__).parent))
from top_specialists import generate, percentile

from bot.config import Settings
from bot.services import ratings
from bot.web import make_web_app
from storage.engine import make_engine, make_read_engine, make_session_pool
from storage.migrate import upgrade
from storage.repositories import Repositories

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
TARGET_MS = 50.0


def add_words(path: Path) -> None:
    """Texts on every review (a tenth of them long), a name on a third, an answer to a tenth of the complaints."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA synchronous=OFF")
    db.execute("""UPDATE reviews SET
        text = 'Отзыв ' || id || '. Приняли вовремя, врач всё объяснил и ответил на вопросы. '
               || CASE WHEN id % 10 = 0 THEN replace(hex(zeroblob(40)), '00', 'Очень подробно. ') ELSE '' END,
        anonymous = (id % 3 != 0), author_name = CASE WHEN id % 3 = 0 THEN 'Айгерим' END""")
    db.execute("UPDATE reviews SET public_text = text")
    db.execute("""INSERT INTO responses (review_id, author_telegram_id, author_role, text, public_text, public_status,
                                         created_at)
        SELECT id, 1, 'clinic_staff', 'Спасибо за отзыв, мы разобрались.', 'Спасибо за отзыв, мы разобрались.',
               'published', created_at FROM reviews WHERE kind = 'complaint' AND id % 10 = 1""")
    db.commit()
    db.execute("ANALYZE")
    db.close()


def targets(path: Path, rng: random.Random) -> dict[str, list[str]]:
    """The addresses timed for each page type: the busiest entries and random ones."""
    db = sqlite3.connect(path)
    busiest_doctors = [row[0] for row in db.execute(
        "SELECT doctor_id FROM doctor_stats ORDER BY review_count DESC LIMIT 10")]
    some_doctors = [row[0] for row in db.execute("SELECT id FROM doctors ORDER BY random() LIMIT 20")]
    busiest_clinics, clinic_reviews = zip(*db.execute(
        "SELECT clinic_id, review_count FROM clinic_stats ORDER BY review_count DESC LIMIT 10"), strict=True)
    busiest_clinics = list(busiest_clinics)
    doctor_reviews = [row[0] for row in db.execute(
        "SELECT review_count FROM doctor_stats ORDER BY review_count DESC LIMIT 10")]
    some_clinics = [row[0] for row in db.execute("SELECT id FROM clinics ORDER BY random() LIMIT 20")]
    specialties = [row[0] for row in db.execute("SELECT id FROM specialties")]
    districts = [row[0] for row in db.execute("SELECT id FROM districts")]
    db.close()
    lang = lambda: rng.choice(("kk", "ru", "en"))  # noqa: E731
    return {
        "home": [f"/{lang}/" for lang in ("kk", "ru", "en")],
        "search: number": [f"/{lang()}/?q=поликлиника+{number}" for number in rng.sample(range(1, 121), 20)],
        "search: name, typo": [f"/{lang()}/?q=Doctr+{number}" for number in rng.sample(range(1, 5000), 20)],
        "district": [f"/{lang()}/district/{district}" for district in districts],
        "clinic, first page": [f"/{lang()}/clinic/{clinic}" for clinic in busiest_clinics + some_clinics],
        # Published reviews are fewer than the counted ones (violation reports, hidden ones): stay within the pages.
        "clinic, page 100": [f"/{lang()}/clinic/{clinic}?page={min(100, count // 25)}"
                             for clinic, count in zip(busiest_clinics, clinic_reviews, strict=True)],
        "clinic, near the last page": [f"/{lang()}/clinic/{busiest_clinics[0]}?page={clinic_reviews[0] // 25}"],
        "doctor, busiest": [f"/{lang()}/doctor/{doctor}" for doctor in busiest_doctors],
        "doctor, any": [f"/{lang()}/doctor/{doctor}" for doctor in some_doctors],
        "doctor, page 50": [f"/{lang()}/doctor/{doctor}?page={max(1, min(50, count // 25))}"
                            for doctor, count in zip(busiest_doctors, doctor_reviews, strict=True)],
        "top specialists": [f"/{lang()}/top/"],
        "top list, city": [f"/{lang()}/top/{specialty}" for specialty in specialties],
        "top list, city, page 2": [f"/{lang()}/top/{specialty}?page=2" for specialty in specialties[:10]],
        "top list, district": [f"/{lang()}/top/{specialty}?district={rng.choice(districts)}"
                               for specialty in specialties],
    }


async def measure(path: Path, rounds: int, seed: int) -> None:
    writer = make_engine(f"sqlite+aiosqlite:///{path}")
    await upgrade(writer)  # a reused file gets the indexes of later migrations
    await writer.dispose()
    settings = Settings()
    engine = make_read_engine(f"sqlite+aiosqlite:///{path}")
    app = make_web_app(settings, make_session_pool(engine), "medfeedback_bench_bot", clock=lambda: NOW)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    base = f"http://127.0.0.1:{server.port}"
    pages = targets(path, random.Random(seed))
    results: dict[str, list[float]] = {}
    async with ClientSession() as client:

        async def fetch(address: str) -> tuple[float, float]:
            started, cpu = time.perf_counter(), time.process_time()
            async with client.get(base + address) as response:
                await response.read()
                elapsed, used = time.perf_counter() - started, time.process_time() - cpu
                if response.status != 200:
                    raise SystemExit(f"{address}: HTTP {response.status}")
            return elapsed, used

        for addresses in pages.values():  # warm-up: the search index, caches, compiled statements
            for address in addresses[:3]:
                await fetch(address)
        gc.collect()
        for _ in range(rounds):
            for name, addresses in pages.items():
                for address in addresses:
                    results.setdefault(name, []).append(await fetch(address))
        sitemap_ms = (await fetch("/sitemap.xml"))[0] * 1000
    await server.close()
    await engine.dispose()
    width = max(len(name) for name in results)
    # CPU time (this process: server, its database threads and the client) is what a page costs; wall time also
    # holds the waits for a CPU on a machine shared with other work.
    print(f"{'page':<{width}}  {'p50 ms':>8}  {'p95 ms':>8}  {'p95 CPU ms':>10}  requests")
    worst = ("", 0.0)
    for name, samples in results.items():
        wall = [elapsed for elapsed, _ in samples]
        p50, p95 = percentile(wall, 0.5) * 1000, percentile(wall, 0.95) * 1000
        cpu95 = percentile([used for _, used in samples], 0.95) * 1000
        worst = max(worst, (name, p95), key=lambda item: item[1])
        print(f"{name:<{width}}  {p50:>8.1f}  {p95:>8.1f}  {cpu95:>10.1f}  {len(samples)}")
    print(f"sitemap.xml (every page of the site, once): {sitemap_ms:.0f} ms")
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"load average (1, 5, 15 min) at the end, on {os.cpu_count()} CPUs: {load}")
    verdict = "met" if worst[1] < TARGET_MS else "MISSED"
    print(f"target (p95 under {TARGET_MS:.0f} ms for every page type): {verdict}; slowest p95 {worst[1]:.1f} ms "
          f"({worst[0]})")


async def prepare(path: Path, args: argparse.Namespace) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    await upgrade(engine)
    await engine.dispose()
    started = time.perf_counter()
    generate(path, args.reviews, args.doctors, args.specialties, args.seed)
    add_words(path)
    size = await asyncio.to_thread(os.path.getsize, path)
    print(f"generated {args.reviews:,} reviews in {time.perf_counter() - started:.1f} s "
          f"({size / 1e6:.0f} MB, SQLite {sqlite3.sqlite_version})")
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    async with make_session_pool(engine)() as session, session.begin():
        rebuilt = await ratings.rebuild(Repositories(session), now=NOW, settings=Settings())
    await engine.dispose()
    print(f"stats rebuilt from {rebuilt.counted:,} counting reviews")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reviews", type=int, default=1_000_000)
    parser.add_argument("--doctors", type=int, default=5_000)
    parser.add_argument("--specialties", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=5, help="times every address is requested")
    parser.add_argument("--db", type=Path, help="SQLite file to create (default: a temporary one)")
    parser.add_argument("--reuse", action="store_true", help="with --db: time an existing file, generate nothing")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    folder = tempfile.TemporaryDirectory() if args.db is None else None
    path = args.db or Path(folder.name) / "bench.db"
    if not (args.reuse and path.exists()):
        path.unlink(missing_ok=True)
        asyncio.run(prepare(path, args))
    asyncio.run(measure(path, args.rounds, args.seed))
    if folder is not None:
        folder.cleanup()


if __name__ == "__main__":
    main()
