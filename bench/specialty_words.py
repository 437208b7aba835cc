"""How well a typed specialty is found, on queries written by someone who had not seen bot/data/specialty_words.toml.

    .venv/bin/python bench/specialty_words.py                          # tests/data/specialty_eval.tsv
    .venv/bin/python bench/specialty_words.py --file other.tsv --show  # and list the misses

Each line of the file is `query<TAB>language<TAB>expected`: a specialty's external id, or `none` for a query that
names none. The specialties are the demo directory's (storage/data/almaty_directory.json). A query counts as
found when the expected specialty is among the buttons offered (at most 3), and as exact when it is the only one;
a `none` query counts as right when nothing is offered. Prints the figures per language and in all, and as the
last line `specialty words found R (exact E)`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.services import specialty_words  # noqa: E402

OFFERED_AT_MOST = 3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--file", default=str(ROOT / "tests" / "data" / "specialty_eval.tsv"))
    parser.add_argument("--show", action="store_true")
    args = parser.parse_args()
    rows = json.loads((ROOT / "storage" / "data" / "almaty_directory.json").read_text(encoding="utf-8"))
    specialties = [SimpleNamespace(**{key: row[key] for key in ("external_id", "name_kk", "name_ru", "name_en")})
                   for row in rows if row["type"] == "specialty"]
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # queries, found, exact
    misses = []
    for line in Path(args.file).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        query, language, expected = line.split("\t")[:3]
        offered = [specialty.external_id for specialty in specialty_words.find(query, specialties)]
        if expected == "none":
            found = exact = not offered
        else:
            found = expected in offered and len(offered) <= OFFERED_AT_MOST
            exact = offered == [expected]
        for key in (language, "all"):
            counts[key][0] += 1
            counts[key][1] += found
            counts[key][2] += exact
        if not found:
            misses.append(f"{language}\t{query!r}: expected {expected}, offered {offered}")
    for key in sorted(counts, key=lambda name: name == "all"):
        queries, found, exact = counts[key]
        print(f"{key}: {queries} queries, found {found / queries:.2f}, exact {exact / queries:.2f}")
    if args.show:
        print("\n".join(misses))
    queries, found, exact = counts["all"]
    print(f"specialty words found {found / queries:.2f} (exact {exact / queries:.2f})")


if __name__ == "__main__":
    main()
