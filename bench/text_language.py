"""How well the appeal's language is told from its text, on sets written from the policy alone.

    .venv/bin/python bench/text_language.py                           # both sets in tests/data
    .venv/bin/python bench/text_language.py --show                    # and every miss
    .venv/bin/python bench/text_language.py --set 2                   # the second pair, never tuned on

`tests/data/appeal_language_eval.tsv` (screens, text, expected): `written_in(text, screens)`, the language the
appeal is answered in. `tests/data/answer_language_eval.tsv` (appeal, text, expected): the language the office's
answer is written in, as `written_in(text, appeal)` tells it (the appeal's language when unsure) for the
preview's warning. Both sets were written by a helper who saw only the policy, never the rules. No timing: the
figures do not depend on the machine.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.services.text_language import written_in

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


def evaluate(name: str, items: list[dict[str, str]], given: str, tell, show: bool) -> None:
    right, by_expected, misses = 0, Counter(), []
    confusion: Counter[tuple[str, str]] = Counter()
    for item in items:
        found = tell(item["text"], item[given])
        confusion[item["expected"], found] += 1
        by_expected[item["expected"]] += 1
        if found == item["expected"]:
            right += 1
        else:
            misses.append((item[given], item["expected"], found, item["text"]))
    print(f"{name}: {right}/{len(items)} right ({100 * right / len(items):.0f} %)")
    for expected in sorted(by_expected):
        hit = confusion[expected, expected]
        wrong = ", ".join(f"{found} {count}" for (want, found), count in sorted(confusion.items())
                          if want == expected and found != expected)
        print(f"  expected {expected}: {hit}/{by_expected[expected]}" + (f" (taken for: {wrong})" if wrong else ""))
    if show:
        for given_language, expected, found, text in misses:
            print(f"    [{given}={given_language}] expected {expected}, found {found}: {text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--show", action="store_true", help="print every miss")
    parser.add_argument("--set", type=int, default=1, choices=(1, 2), help="which pair: tests/data/*_eval[_2].tsv")
    args = parser.parse_args()
    suffix = "" if args.set == 1 else f"_{args.set}"
    evaluate("appeal language (written_in)", rows(DATA / f"appeal_language_eval{suffix}.tsv"), "screens", written_in,
             args.show)
    answers = rows(DATA / f"answer_language_eval{suffix}.tsv")
    evaluate("answer language (written_in)", answers, "appeal", written_in, args.show)
    # What the preview does with it: warn when the answer is not in the appeal's language.
    warned = [written_in(item["text"], item["appeal"]) != item["appeal"] for item in answers]
    wrong = [item["expected"] != item["appeal"] for item in answers]
    caught = sum(w and x for w, x in zip(warned, wrong, strict=True))
    false = sum(w and not x for w, x in zip(warned, wrong, strict=True))
    print(f"preview warning: {caught}/{sum(wrong)} answers in another language warned of, "
          f"{false}/{len(answers) - sum(wrong)} answers in the appeal's language warned of wrongly")


if __name__ == "__main__":
    main()
