"""How well a typed specialty or complaint is found, on queries written by someone who had not seen
bot/data/specialty_words.toml or bot/data/symptom_words.toml.

    .venv/bin/python bench/specialty_words.py                          # tests/data/specialty_eval.tsv
    .venv/bin/python bench/specialty_words.py --file other.tsv --show  # and list the misses

A line is `query<TAB>language<TAB>expected[<TAB>emergency]`: expected is one specialty id or several separated by
"|" (any of them is right; "specialty:" may be left out), or "none"; emergency is "yes" or "no". A query is found
when one of the expected is offered among at most 3 (none offered, for "none"); first right when the first offered
is one of them. Emergencies: how many of the "yes" are told to call 103, and how many of the "no" are told so too.
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


def _expected(field: str) -> set[str]:
    if field == "none":
        return set()
    return {name if name.startswith("specialty:") else f"specialty:{name}" for name in field.split("|")}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--file", default=str(ROOT / "tests" / "data" / "specialty_eval.tsv"))
    parser.add_argument("--show", action="store_true")
    args = parser.parse_args()
    rows = json.loads((ROOT / "storage" / "data" / "almaty_directory.json").read_text(encoding="utf-8"))
    specialties = [SimpleNamespace(**{key: row[key] for key in ("external_id", "name_kk", "name_ru", "name_en")})
                   for row in rows if row["type"] == "specialty"]
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # queries, found, first right
    alarms = [0, 0, 0, 0]  # emergencies, of them told; not emergencies, of them told
    misses = []
    for line in Path(args.file).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        query, language, expected = fields[0], fields[1], _expected(fields[2])
        finding = specialty_words.read(query, specialties)
        offered = [specialty.external_id for specialty in finding.specialties]
        if not expected:
            found = first = not offered
        else:
            found = bool(expected & set(offered)) and len(offered) <= OFFERED_AT_MOST
            first = bool(offered) and offered[0] in expected
        for key in (language, "all"):
            counts[key][0] += 1
            counts[key][1] += found
            counts[key][2] += first
        wrong_alarm = ""
        if len(fields) > 3:
            urgent = fields[3].strip() == "yes"
            alarms[0 if urgent else 2] += 1
            alarms[1 if urgent else 3] += finding.emergency
            if urgent != finding.emergency:
                wrong_alarm = f" [emergency expected {fields[3].strip()}, said {finding.emergency}]"
        if not found or wrong_alarm:
            misses.append(f"{language}\t{query!r}: expected {sorted(expected) or 'none'}, offered {offered}"
                          f"{wrong_alarm}")
    for key in sorted(counts, key=lambda name: name == "all"):
        queries, found, first = counts[key]
        print(f"{key}: {queries} queries, found {found / queries:.2f}, first right {first / queries:.2f}")
    if alarms[0] or alarms[2]:
        print(f"emergencies told to call 103: {alarms[1]} of {alarms[0]}; "
              f"not emergencies told so: {alarms[3]} of {alarms[2]}")
    if args.show:
        print("\n".join(misses))
    queries, found, first = counts["all"]
    print(f"specialty words found {found / queries:.2f} (first right {first / queries:.2f})")


if __name__ == "__main__":
    main()
