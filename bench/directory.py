"""`directory import` of a big directory, and the clinic search per typed message at two directory sizes.

    .venv/bin/python bench/directory.py                          # 1,250 clinics / 50,000 doctors vs 125 / 5,000
    .venv/bin/python bench/directory.py --clinics 250 --doctors 10000

Writes a generated directory (8 districts, 30 specialties, made-up names and streets) as a JSON file and imports it
with the CLI's own function (`bot.__main__.import_directory`) into a fresh SQLite database (PostgreSQL too when
MEDFEEDBACK_TEST_POSTGRES_URL is set), then imports it again (nothing changes). Then times what the conversation
does with a typed clinic query: `DirectoryIndex.current(repo)` (one read of the directory's version) and
`index.places(query)`, over a mix of numbers, streets with typos and name words, at the big size and at a tenth of it,
in the same run. The last line is `search ratio R (big / small)`: near 1 when the search does not depend on the
directory's size.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.__main__ import import_directory
from bot.config import Settings
from bot.services.directory_index import DirectoryIndex
from storage.engine import make_engine, make_session_pool
from storage.migrate import upgrade
from storage.repositories import Repositories
from tests.databases import PostgresSchema

SURNAMES = ("Ахметов", "Беков", "Жумабаев", "Иванов", "Касымов", "Нуржанов", "Омаров", "Петров", "Сейтов",
            "Тулегенов", "Утебаев", "Шарипов", "Есенов", "Абдрахманов", "Смагулов", "Кенжебаев", "Сулейменов",
            "Мухамеджанов", "Байтурсынов", "Жаксылыков")
FIRST = ("Айгуль", "Галым", "Ильяс", "Мария", "Асель", "Ержан", "Дина", "Нурлан", "Светлана", "Бахыт")
PATRONYMIC = ("Канатович", "Бахытович", "Сериковна", "Александровна", "Нурланович", "Маратовна")
STREETS = ("Бекмаханова", "Абая", "Толе би", "Жандосова", "Сейфуллина", "Розыбакиева", "Тимирязева", "Гагарина",
           "Момышулы", "Рыскулова", "Шаляпина", "Саина", "Жарокова", "Утеген батыра", "Райымбека", "Басенова")
QUERIES = ("17", "поликлиника 17", "№105", "Бекмаханва", "Tole bi", "Жандосова 12", "гп 48", "Розыбакиева",
           "емхана 3", "Сейфулина 7", "Шаляпина 5", "Момышулы")


def generate(clinics: int, doctors: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows: list[dict] = []
    rows += [{"type": "district", "external_id": f"d{i}", "name_kk": f"Аудан {i}", "name_ru": f"Район {i}",
              "name_en": f"District {i}"} for i in range(1, 9)]
    rows += [{"type": "specialty", "external_id": f"s{i}", "name_kk": f"маман {i}", "name_ru": f"специалист {i}",
              "name_en": f"specialist {i}"} for i in range(1, 31)]
    # A bigger city has more streets: the search's vocabulary grows with the directory (one street per 5 clinics).
    syllables = ("ка", "ба", "жан", "сай", "тур", "мыр", "зак", "нур", "бек", "ал", "ма", "ты", "шол", "ер", "ген")
    streets = STREETS + tuple("".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))).capitalize() + "ова"
                              for _ in range(clinics // 5))
    for i in range(1, clinics + 1):
        street = rng.choice(streets)
        rows.append({"type": "clinic", "external_id": f"c{i}", "number": i, "name_kk": f"№{i} қалалық емхана",
                     "name_ru": f"Городская поликлиника №{i}", "name_en": f"City Polyclinic No. {i}",
                     "district": f"d{rng.randint(1, 8)}", "address": f"ул. {street}, {rng.randint(1, 200)}",
                     "latitude": 43.2 + rng.random() / 5, "longitude": 76.8 + rng.random() / 5,
                     "phone": f"+7 727 000 {i:05d}", "active": True, "approximate": True})
    for i in range(1, doctors + 1):
        rows.append({"type": "doctor", "external_id": f"doc{i}", "full_name": f"{rng.choice(SURNAMES)}{i % 97} "
                     f"{rng.choice(FIRST)} {rng.choice(PATRONYMIC)}", "clinic": f"c{rng.randint(1, clinics)}",
                     "specialty": f"s{rng.randint(1, 30)}", "active": True, "demo": True})
    return rows


class Database:
    def __init__(self, backend: str, folder: Path, name: str) -> None:
        self.backend, self.folder, self.name = backend, folder, name
        self._cleanup = contextlib.AsyncExitStack()

    async def __aenter__(self):
        try:
            if self.backend == "sqlite":
                self.engine = make_engine(f"sqlite+aiosqlite:///{self.folder / (self.name + '.db')}")
            else:
                schema = PostgresSchema(os.environ["MEDFEEDBACK_TEST_POSTGRES_URL"], "bench")
                self.engine = (await self._cleanup.enter_async_context(schema)).engine()
            self._cleanup.push_async_callback(self.engine.dispose)
            await upgrade(self.engine)
        except BaseException:
            await self._cleanup.aclose()  # the schema dropped even when the set-up failed
            raise
        self.pool = make_session_pool(self.engine)
        return self

    async def __aexit__(self, *exc) -> None:
        await self._cleanup.aclose()


async def timed_import(pool, path: Path) -> tuple[float, str]:
    output = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(output):
        code = await import_directory(pool, path, Settings())
    elapsed = time.perf_counter() - started
    assert code == 0, output.getvalue()
    return elapsed, output.getvalue().strip().splitlines()[0]


async def search_times(pool, rounds: int) -> tuple[list[float], int]:
    index = DirectoryIndex()
    async with pool() as session:
        repo = Repositories(session)
        started = time.perf_counter()
        await index.current(repo)  # the one build of this version
        built = time.perf_counter() - started
        samples, found = [], 0
        for _ in range(rounds):
            for query in QUERIES:
                started = time.perf_counter()
                directory = await index.current(repo)
                found += bool(directory.index.places(query))
                samples.append(time.perf_counter() - started)
    print(f"  index built once in {built:.2f} s ({len(index.snapshot.clinics):,} clinics, "
          f"{len(index.snapshot.doctors):,} doctors); {index.builds} build(s) for {len(samples)} searches")
    return samples, found


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def run(backend: str, clinics: int, doctors: int, rounds: int, seed: int, folder: Path) -> dict[str, float]:
    results = {}
    for label, (c, d) in (("big", (clinics, doctors)), ("small", (max(1, clinics // 10), max(1, doctors // 10)))):
        path = folder / f"directory-{c}-{d}.json"
        if not path.exists():
            path.write_text(json.dumps(generate(c, d, seed), ensure_ascii=False), encoding="utf-8")
        async with Database(backend, folder, f"{backend}-{label}") as database:
            imported, report = await timed_import(database.pool, path)
            again, report_again = await timed_import(database.pool, path)
            print(f"{backend} {label} ({c:,} clinics, {d:,} doctors): import {imported:.1f} s ({report}); "
                  f"again {again:.1f} s ({report_again})")
            samples, found = await search_times(database.pool, rounds)
            p50, p95 = percentile(samples, 0.5) * 1000, percentile(samples, 0.95) * 1000
            first = samples[:len(QUERIES)]  # each query's first search: none of its words remembered yet
            print(f"  clinic search per typed message: p50 {p50:.2f} ms, p95 {p95:.2f} ms; first time each query: "
                  f"p50 {percentile(first, 0.5) * 1000:.2f} ms, max {max(first) * 1000:.2f} ms "
                  f"({found} of {len(samples)} queries found a clinic)")
            results[label] = p50
            results[f"{label}_import"] = imported
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clinics", type=int, default=1_250)
    parser.add_argument("--doctors", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=30, help="times each of the queries is searched")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    backends = ["sqlite"]
    if os.environ.get("MEDFEEDBACK_TEST_POSTGRES_URL") and not args.sqlite_only:
        backends.append("postgresql")
    with tempfile.TemporaryDirectory(prefix="bench-directory-") as folder:
        results = {backend: asyncio.run(run(backend, args.clinics, args.doctors, args.rounds, args.seed,
                                            Path(folder))) for backend in backends}
    for backend, figures in results.items():
        print(f"{backend}: import of {args.doctors:,} doctors {figures['big_import']:.1f} s; search p50 "
              f"{figures['big']:.2f} ms at {args.doctors:,} doctors, {figures['small']:.2f} ms at "
              f"{args.doctors // 10:,}")
    sqlite = results["sqlite"]
    print(f"search ratio {sqlite['big'] / sqlite['small']:.2f} (big / small)")


if __name__ == "__main__":
    main()
