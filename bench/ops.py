"""What operating the bot costs at a city's scale: a /metrics scrape, a /readyz probe, a backup and a restore.

    .venv/bin/python bench/ops.py                    # 200,000 reviews (a few years of a city office), 2,000 media files
    .venv/bin/python bench/ops.py --reviews 20000    # a quick run

Generates reviews, cases and outbox rows with sqlite3 `executemany` into a fresh SQLite file migrated like the
bot's, then times, through the same code the running bot uses, the scrape's database figures (20 rounds), the
readiness probe (20 rounds), `medfeedback backup` and `medfeedback restore` (which verifies every SHA-256).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bot.config import load_settings
from bot.ops import backup
from bot.ops.health import Health
from bot.ops.metrics import Metrics
from storage.engine import make_engine, make_read_engine, make_session_pool
from storage.migrate import upgrade


def fill(path: Path, media: Path, reviews: int, files: int) -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    rng = random.Random(13)
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO districts (id, external_id, name_kk, name_ru, name_en) VALUES (1, 'd', 'd', 'd', 'd')")
        db.execute("INSERT INTO clinics (id, external_id, name_kk, name_ru, name_en, district_id, active, approximate)"
                   " VALUES (1, 'c', 'c', 'c', 'c', 1, 1, 0)")
        db.execute("INSERT INTO users (id, telegram_id, created_at) VALUES (1, 1, ?)", (now.isoformat(),))
        kinds = ("gratitude", "complaint", "violation")
        db.executemany(
            "INSERT INTO reviews (id, reference, user_id, clinic_id, kind, rating, criteria, text, language, anonymous,"
            " phone_shared, status, public_status, fraud_flag, created_at, updated_at) VALUES"
            " (?, ?, 1, 1, ?, ?, '{}', 'текст', 'ru', 1, 0, 'submitted', 'published', 0, ?, ?)",
            [(i, f"AL-{i:09d}", kinds[i % 3], rng.randint(1, 5), (now - timedelta(minutes=i)).isoformat(),
              now.isoformat()) for i in range(1, reviews + 1)])
        db.executemany(
            "INSERT INTO cases (review_id, urgency, reasons, formal_appeal, status, due_date, extended, created_at)"
            " VALUES (?, ?, '[]', 1, ?, ?, 0, ?)",
            [(i, ("critical", "high", "normal")[i % 3], "closed" if i % 10 else "open",
              (date(2026, 12, 1) + timedelta(days=rng.randint(-20, 20))).isoformat(), now.isoformat())
             for i in range(1, reviews + 1) if i % 3])
        db.executemany(
            "INSERT INTO outbox_messages (dedupe_key, chat_id, kind, payload, status, attempts, next_attempt_at,"
            " created_at) VALUES (?, -100, 'alert', '{}', ?, 0, ?, ?)",
            [(f"k{i}", "sent" if i % 50 else "pending", now.isoformat(), (now - timedelta(seconds=i)).isoformat())
             for i in range(reviews)])
        for i in range(files):
            data = rng.randbytes(50_000)
            sha = hashlib.sha256(data).hexdigest()
            (media / sha[:2]).mkdir(parents=True, exist_ok=True)
            (media / sha[:2] / f"{sha}.jpg").write_bytes(data)
            db.execute("INSERT INTO review_media (review_id, position, kind, file_id, file_unique_id, sha256,"
                       " stored_path, size, created_at) VALUES (?, 0, 'photo', ?, ?, ?, ?, 50000, ?)",
                       (i + 1, f"f{i}", f"u{i}", sha, f"{sha[:2]}/{sha}.jpg", now.isoformat()))
    # The bulk load went into the write-ahead log; the bot's own small commits keep it short (auto-checkpoints).
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


async def timed(rounds: int, work) -> list[float]:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        await work()
        times.append((time.perf_counter() - start) * 1000)
    return times


def show(name: str, times: list[float]) -> None:
    ordered = sorted(times)
    print(f"{name}: p50 {statistics.median(ordered):.1f} ms, p95 {ordered[int(len(ordered) * 0.95) - 1]:.1f} ms")


async def main(reviews: int, files: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="medfeedback-ops-bench-"))
    url = f"sqlite+aiosqlite:///{root / 'bot.db'}"
    engine = make_engine(url)
    await upgrade(engine)
    await engine.dispose()
    fill(root / "bot.db", root / "media", reviews, files)
    print(f"{reviews} reviews, {files} media files of 50 kB, database {(root / 'bot.db').stat().st_size >> 20} MB")
    read = make_read_engine(url)
    pool = make_session_pool(read)
    metrics = Metrics()
    now = datetime(2026, 12, 1, 6, tzinfo=UTC)
    show("/metrics database figures", await timed(20, lambda: metrics.refresh(pool, now, UTC)))
    health = Health(read, required=())
    health.telegram_answered()
    show("/readyz probe", await timed(20, health.problems))
    await read.dispose()
    empty = root / "empty.toml"
    empty.write_text("")
    settings = load_settings(empty, database={"url": url}, media={"dir": str(root / "media")})
    start = time.perf_counter()
    done = backup.backup(settings, root / "backup", now)
    print(f"backup: {time.perf_counter() - start:.2f} s ({done.files} files, {done.bytes >> 20} MB of media)")
    target = settings.model_copy(update={
        "database": settings.database.model_copy(update={"url": f"sqlite+aiosqlite:///{root / 'r' / 'bot.db'}"}),
        "media": settings.media.model_copy(update={"dir": root / "r" / "media"})})
    start = time.perf_counter()
    backup.restore(target, root / "backup")
    print(f"restore with every SHA-256 verified: {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reviews", type=int, default=200_000)
    parser.add_argument("--files", type=int, default=2_000)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.reviews, arguments.files))
