"""Top 10 doctors of a specialty at 1,000,000 reviews: the precomputed ranking vs a GROUP BY over raw reviews.

    .venv/bin/python bench/top_specialists.py                  # 1,000,000 reviews, 5,000 doctors, 30 specialties
    .venv/bin/python bench/top_specialists.py --reviews 50000  # a quick run

SQLite always; PostgreSQL too when MEDFEEDBACK_TEST_POSTGRES_URL is set (the same rows, loaded with COPY into a schema
of its own that is dropped afterwards). The last lines are `top ratio R (sqlite)` / `(postgresql)`: how many times the
precomputed read's p95 beats the fastest GROUP BY's p95, measured in the same run.

Generates the data with sqlite3 `executemany` into a fresh SQLite file (migrated like the bot's), builds the stats
with `bot.services.ratings.rebuild`, then times, through the bot's own async engine and repository
(`repo.ratings.top_doctors`), the top 10 of every specialty in turn, against on-the-fly GROUP BY queries over the
raw reviews in the same run. The GROUP BY with the same counting rules must return the same ten doctors.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ too, not only the installed packages

from bot.config import Settings
from bot.services import ratings
from storage.engine import make_engine, make_session_pool
from storage.migrate import upgrade
from storage.repositories import Repositories
from tests.databases import PostgresSchema

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
CRITERIA = ("attentiveness", "professionalism", "waiting", "conditions")

# The same rules as the stats, computed from raw reviews on every request.
NAIVE_SAME_RULES = """
WITH counted AS (
    SELECT r.doctor_id, r.rating FROM reviews r JOIN doctors d ON d.id = r.doctor_id
    WHERE d.specialty_id = :specialty AND d.active AND r.status NOT IN ('rejected', 'withdrawn')
      AND r.public_status != 'hidden' AND NOT r.fraud_flag
      AND NOT EXISTS (SELECT 1 FROM reviews s WHERE s.user_id = r.user_id AND (s.supersedes_id = r.id OR (
          s.doctor_id = r.doctor_id AND s.id != r.id
          AND (s.created_at > r.created_at OR (s.created_at = r.created_at AND s.id > r.id))
          AND julianday(s.created_at) <= julianday(r.created_at) + :window)))
), prior AS (SELECT AVG(rating) AS mean FROM counted)
SELECT doctor_id, (:m * prior.mean + SUM(rating)) / (:m + COUNT(*)) AS score, COUNT(*) AS n
FROM counted, prior GROUP BY doctor_id HAVING COUNT(*) >= :minimum
ORDER BY score DESC, n DESC, doctor_id LIMIT 10
"""
# The least a GROUP BY must do: the status filters only, no check for updated reviews.
NAIVE_FILTERS_ONLY = """
WITH counted AS (
    SELECT r.doctor_id, r.rating FROM reviews r JOIN doctors d ON d.id = r.doctor_id
    WHERE d.specialty_id = :specialty AND d.active AND r.status NOT IN ('rejected', 'withdrawn')
      AND r.public_status != 'hidden' AND NOT r.fraud_flag
), prior AS (SELECT AVG(rating) AS mean FROM counted)
SELECT doctor_id, (:m * prior.mean + SUM(rating)) / (:m + COUNT(*)) AS score, COUNT(*) AS n
FROM counted, prior GROUP BY doctor_id HAVING COUNT(*) >= :minimum
ORDER BY score DESC, n DESC, doctor_id LIMIT 10
"""


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")  # as SQLAlchemy stores it in SQLite


def generate(reviews: int, doctors: int, specialties: int, seed: int):
    """Directory, residents and reviews: skewed popularity, a few rejected, hidden, fraudulent and updated ones.
    Yields (table, columns, rows) batches in an order that satisfies the foreign keys; times are datetimes."""
    rng = random.Random(seed)
    yield ("districts", ("id", "external_id", "name_kk", "name_ru", "name_en"),
           [(i, f"d{i}", f"Аудан {i}", f"Район {i}", f"District {i}") for i in range(1, 9)])
    yield ("specialties", ("id", "external_id", "name_kk", "name_ru", "name_en"),
           [(i, f"s{i}", f"Маман {i}", f"Специалист {i}", f"Specialist {i}") for i in range(1, specialties + 1)])
    clinics = 120
    yield ("clinics", ("id", "external_id", "number", "name_kk", "name_ru", "name_en", "district_id", "active",
                       "approximate"),
           [(i, f"c{i}", i, f"№{i} емхана", f"Поликлиника №{i}", f"Polyclinic No. {i}", rng.randint(1, 8), True, False)
            for i in range(1, clinics + 1)])
    # Some specialties are far bigger than others (therapists vs nephrologists).
    specialty_weights = [1 / (rank ** 0.8) for rank in range(1, specialties + 1)]
    doctor_rows, quality, popularity = [], {}, []
    for i in range(1, doctors + 1):
        specialty = rng.choices(range(1, specialties + 1), specialty_weights)[0]
        doctor_rows.append((i, f"doc{i}", rng.randint(1, clinics), specialty, f"Doctor {i}", True, True))
        quality[i] = min(4.9, max(2.0, rng.gauss(4.0, 0.5)))
        popularity.append(rng.paretovariate(1.2))  # a few doctors get most of the reviews
    yield ("doctors", ("id", "external_id", "clinic_id", "specialty_id", "full_name", "active", "demo"), doctor_rows)
    people = max(1000, reviews // 5)
    yield ("users", ("id", "telegram_id", "created_at"), [(i, 10_000_000 + i, NOW) for i in range(1, people + 1)])
    clinic_of = {row[0]: row[2] for row in doctor_rows}
    specialty_of = {row[0]: row[3] for row in doctor_rows}
    cumulative = list(_accumulate(popularity))
    columns = ("id", "reference", "user_id", "clinic_id", "doctor_id", "specialty_id", "kind", "rating", "criteria",
               "text", "language", "anonymous", "phone_shared", "status", "public_status", "fraud_flag",
               "supersedes_id", "created_at", "updated_at")
    last_of_doctor: dict[int, tuple[int, int, datetime]] = {}  # doctor -> (review, person, when)
    batch = []
    for review_id in range(1, reviews + 1):
        doctor = rng.choices(range(1, doctors + 1), cum_weights=cumulative)[0]
        user = rng.randint(1, people)
        rating = min(5, max(1, round(rng.gauss(quality[doctor], 1.0))))
        moment = NOW - timedelta(days=730) + timedelta(seconds=review_id * 730 * 86400 / reviews)
        supersedes = None
        previous = last_of_doctor.get(doctor)
        if previous is not None and rng.random() < 0.01:
            # The last reviewer of this doctor comes back: within 30 days the conversation makes it an update.
            user = previous[1]
            if moment - previous[2] <= timedelta(days=30):
                supersedes = previous[0]
        last_of_doctor[doctor] = (review_id, user, moment)
        roll = rng.random()
        status = "rejected" if roll < 0.02 else "answered" if roll < 0.3 else "submitted"
        public = "hidden" if rng.random() < 0.01 else "published"
        criteria = {name: min(5, max(1, rating + rng.randint(-1, 1))) for name in CRITERIA if rng.random() < 0.3}
        kind = "gratitude" if rating >= 4 else "complaint"
        batch.append((review_id, f"AL-B-{review_id:08d}", user, clinic_of[doctor], doctor, specialty_of[doctor], kind,
                      rating, json.dumps(criteria), "", "ru", True, False, status, public, rng.random() < 0.01,
                      supersedes, moment, moment))
        if len(batch) == 50_000:
            yield "reviews", columns, batch
            batch = []
    yield "reviews", columns, batch


def load_sqlite(path: Path, reviews: int, doctors: int, specialties: int, seed: int) -> None:
    db = sqlite3.connect(path)
    db.execute("PRAGMA synchronous=OFF")
    for table, columns, rows in generate(reviews, doctors, specialties, seed):
        rows = [tuple(stamp(value) if isinstance(value, datetime) else value for value in row) for row in rows]
        db.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", rows)
    db.commit()
    db.execute("ANALYZE")
    db.close()


async def load_postgresql(engine, reviews: int, doctors: int, specialties: int, seed: int) -> None:
    """The same rows through asyncpg's COPY, in the engine's schema."""
    async with engine.connect() as connection:
        raw = (await connection.get_raw_connection()).driver_connection
        schema = await raw.fetchval("SELECT current_schema()")
        for table, columns, rows in generate(reviews, doctors, specialties, seed):
            await raw.copy_records_to_table(table, records=rows, columns=columns, schema_name=schema)
        await raw.execute("ANALYZE")


def _accumulate(values: list[float]):
    total = 0.0
    for value in values:
        total += value
        yield total


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def time_precomputed(pool, ids: list[int], minimum: int, rounds: int) -> tuple[list[float], dict]:
    """The bot's own read: `repo.ratings.top_doctors` over the async engine, every specialty `rounds` times."""
    async with pool() as session:
        repo = Repositories(session)
        for specialty in ids * 3:  # warm-up: caches, compiled statements
            await repo.ratings.top_doctors(specialty, min_reviews=minimum, limit=10)
        samples, tops = [], {}
        gc.collect()
        gc.disable()  # as timeit does: a collection pause belongs to no query in particular
        try:
            for _ in range(rounds):
                for specialty in ids:
                    started = time.perf_counter()
                    top = await repo.ratings.top_doctors(specialty, min_reviews=minimum, limit=10)
                    samples.append(time.perf_counter() - started)
                    tops[specialty] = [row.doctor_id for row in top]
        finally:
            gc.enable()
    return samples, tops


async def time_naive(pool, sql: str, ids: list[int], params: dict) -> tuple[list[float], dict]:
    """A GROUP BY over the raw reviews through the same engine, once per specialty (after a short warm-up)."""
    async with pool() as session:
        for specialty in ids[:3]:
            await session.execute(text(sql), {**params, "specialty": specialty})
        samples, tops = [], {}
        for specialty in ids:
            started = time.perf_counter()
            rows = (await session.execute(text(sql), {**params, "specialty": specialty})).all()
            samples.append(time.perf_counter() - started)
            tops[specialty] = [row.doctor_id for row in rows]
    return samples, tops


def naive_for(sql: str, backend: str) -> str:
    if backend == "postgresql":  # SQLite keeps times as text and compares them as Julian days
        return (sql.replace("julianday(s.created_at) <= julianday(r.created_at) + :window",
                            "s.created_at <= r.created_at + make_interval(days => :window)")
                .replace(":m * prior.mean", ":m * MAX(prior.mean)"))  # PostgreSQL wants it aggregated
    return sql


async def measure(open_engine, backend: str, settings: Settings, specialties: int, rounds: int) -> list[float]:
    """Times both ways on one backend; returns the p95 ratios (GROUP BY / precomputed)."""
    engine = open_engine()
    pool = make_session_pool(engine)
    started = time.perf_counter()
    async with pool() as session, session.begin():
        rebuilt = await ratings.rebuild(Repositories(session), now=NOW, settings=settings)
    print(f"{backend}: stats rebuilt from {rebuilt.counted:,} counting reviews in "
          f"{time.perf_counter() - started:.1f} s ({rebuilt.doctors:,} doctors, {rebuilt.clinics:,} clinics)")
    minimum, ids = settings.ratings.min_reviews, list(range(1, specialties + 1))
    params = {"m": settings.ratings.prior_weight, "minimum": minimum, "window": settings.feedback.same_doctor_days}
    precomputed, tops = await time_precomputed(pool, ids, minimum, rounds)
    naive = {}
    naive["same rules as the stats"], same = await time_naive(pool, naive_for(NAIVE_SAME_RULES, backend), ids, params)
    naive["status filters only"], _ = await time_naive(pool, naive_for(NAIVE_FILTERS_ONLY, backend), ids, params)
    # The best a GROUP BY can hope for: an index covering everything it reads (the bot does not have it).
    async with engine.begin() as connection:
        await connection.execute(text(
            "CREATE INDEX bench_covering ON reviews (doctor_id, status, public_status, fraud_flag, rating)"))
        if backend == "postgresql":
            await connection.execute(text("ANALYZE reviews"))
    naive["status filters only, covering index"], _ = await time_naive(
        make_session_pool(engine), naive_for(NAIVE_FILTERS_ONLY, backend), ids, params)
    await engine.dispose()

    p50, p95 = percentile(precomputed, 0.5) * 1000, percentile(precomputed, 0.95) * 1000
    print(f"{backend}: precomputed (repo.ratings.top_doctors, index (specialty_id, score DESC)): p50 {p50:.3f} ms, "
          f"p95 {p95:.3f} ms over {len(precomputed)} queries")
    ratios = []
    for name, samples in naive.items():
        n50, n95 = percentile(samples, 0.5) * 1000, percentile(samples, 0.95) * 1000
        ratios.append(n95 / p95)
        print(f"{backend}: GROUP BY over raw reviews, {name}: p50 {n50:.2f} ms, p95 {n95:.2f} ms over {len(samples)} "
              f"queries  ->  precomputed {n50 / p50:.0f}x faster at p50, {n95 / p95:.0f}x at p95")
    differ = [specialty for specialty in ids if same[specialty] != tops[specialty]]
    print(f"{backend}: the same ten doctors from the stats and from the raw reviews: "
          + (f"yes, in all {len(ids)} specialties" if not differ else f"NO, specialties {differ} differ"))
    return ratios


async def run_postgresql(url: str, args, settings: Settings) -> list[float]:
    async with PostgresSchema(url, "bench") as schema:
        engine = schema.engine()
        try:
            await upgrade(engine)
            started = time.perf_counter()
            await load_postgresql(engine, args.reviews, args.doctors, args.specialties, args.seed)
        finally:
            await engine.dispose()
        print(f"postgresql: loaded {args.reviews:,} reviews with COPY in {time.perf_counter() - started:.1f} s")
        return await measure(schema.engine, "postgresql", settings, args.specialties, args.rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reviews", type=int, default=1_000_000)
    parser.add_argument("--doctors", type=int, default=5_000)
    parser.add_argument("--specialties", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=20, help="times every specialty's top 10 is read")
    parser.add_argument("--db", type=Path, help="SQLite file to create (default: a temporary one)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    folder = tempfile.TemporaryDirectory() if args.db is None else None
    path = args.db or Path(folder.name) / "bench.db"
    path.unlink(missing_ok=True)
    settings = Settings()

    async def migrate() -> None:
        engine = make_engine(f"sqlite+aiosqlite:///{path}")
        await upgrade(engine)
        await engine.dispose()

    asyncio.run(migrate())
    started = time.perf_counter()
    load_sqlite(path, args.reviews, args.doctors, args.specialties, args.seed)
    size = path.stat().st_size / 1e6
    print(f"generated {args.reviews:,} reviews of {args.doctors:,} doctors in {args.specialties} specialties "
          f"in {time.perf_counter() - started:.1f} s ({size:.0f} MB, SQLite {sqlite3.sqlite_version})")
    results = {"sqlite": asyncio.run(measure(lambda: make_engine(f"sqlite+aiosqlite:///{path}"), "sqlite", settings,
                                             args.specialties, args.rounds))}
    if folder is not None:
        folder.cleanup()
    postgres = os.environ.get("MEDFEEDBACK_TEST_POSTGRES_URL")
    if postgres and not args.sqlite_only:
        results["postgresql"] = asyncio.run(run_postgresql(postgres, args, settings))
    for backend, ratios in results.items():
        print(f"top ratio {min(ratios):.0f} ({backend}: the fastest GROUP BY's p95 / the precomputed p95)")


if __name__ == "__main__":
    main()
