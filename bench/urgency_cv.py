"""Cross-validated figures of the urgency rules alone and combined with the learned model, per language.

The corpus (bot/data/urgency/corpus/*.jsonl: the development sets and the texts written from the label policy)
is split into k stratified folds; each fold is read by a model trained on the others, and the [model] policy of
rules.toml combines it with the rules (text only: category, rating and kind left out). With --tune, every
threshold combination is tried on the out-of-fold readings and the best by `objective` are printed.
Never run it on the held-out set: it is not in the corpus, and must not be.

    .venv/bin/python bench/urgency_cv.py [--folds 5] [--tune]
"""

from __future__ import annotations

import argparse
import itertools
import random
import time

from bot.services import urgency_model
from bot.services.urgency import LANGUAGES, ModelPolicy, UrgencyRules, combine, detect_language, score, tokenize


def out_of_fold(examples: list[urgency_model.Example], folds: int, seed: int = 0) -> list[urgency_model.Reading]:
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    # Stratified by (language, label): each fold gets its share of every kind.
    strata: dict[tuple[str, bool], list[int]] = {}
    for index in order:
        example = examples[index]
        strata.setdefault((example.language or detect_language(example.text), example.alert), []).append(index)
    fold_of = {}
    for members in strata.values():
        for position, index in enumerate(members):
            fold_of[index] = position % folds
    readings: list[urgency_model.Reading | None] = [None] * len(examples)
    for fold in range(folds):
        model = urgency_model.UrgencyModel([e for i, e in enumerate(examples) if fold_of[i] != fold], tokenize)
        for index, example in enumerate(examples):
            if fold_of[index] == fold:
                readings[index] = model.read(example.text)
    return [reading for reading in readings if reading is not None]


# The parts of the corpus: texts written from the label policy ("new") and the precision set of hard non-alerts
# ("pdev", written after the rules and before they were changed for it); the rest are the development sets.
_PART = {
    "urgency_train_extra": "new", "urgency_train_more": "new", "urgency_recall_dev": "new",
    "urgency_fresh_check": "new", "urgency_train_hard_normal": "new", "urgency_fresh_precision": "new",
    "precision_dev": "pdev", "precision_fresh": "pdev",
}


def figures(examples, verdicts) -> dict[str, dict]:
    pairs: dict[str, list[tuple[str, str]]] = {"all": []}
    for example, verdict in zip(examples, verdicts, strict=True):
        expected = "high" if example.alert else "normal"
        language = example.language or detect_language(example.text)
        for key in ("all", language, f"{language}/{_PART.get(example.source, 'dev')}"):
            pairs.setdefault(key, []).append((expected, verdict.urgency))
    return {key: score(value) for key, value in pairs.items()}


def show(title: str, result: dict[str, dict]) -> None:
    print(title)
    parts = ("dev", "new", "pdev")
    for key in ["all", *LANGUAGES, *(f"{language}/{part}" for language in LANGUAGES for part in parts)]:
        if key in result:
            r = result[key]
            print(f"  {key:<8} n={r['examples']:<4} precision {r['precision']:.3f} recall {r['recall']:.3f} "
                  f"(false alarms {r['false_positives']}, missed {r['false_negatives']})")


def objective(result: dict[str, dict]) -> float:
    """The worst of precision and recall over the languages of the "new" and "pdev" parts (the texts written
    apart from the rules), as long as every language of the development part keeps precision and recall of at
    least 0.95; else below zero. Precision and recall weigh alike: a false alarm costs the office's trust, a
    miss costs a resident."""
    dev = [result[f"{language}/dev"] for language in LANGUAGES]
    if min(min(r["precision"], r["recall"]) for r in dev) < 0.95:
        return -1.0
    parts = [result[key] for language in LANGUAGES for key in (f"{language}/new", f"{language}/pdev") if key in result]
    return min(min(r["precision"], r["recall"]) for r in parts)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--tune", action="store_true")
    args = parser.parse_args()
    rules = UrgencyRules.load()
    examples = urgency_model.read_corpus(urgency_model.corpus_paths())
    by_rules = [rules.classify_by_rules(e.text, language=e.language or None) for e in examples]
    started = time.perf_counter()
    readings = out_of_fold(examples, args.folds)
    print(f"{args.folds}-fold cross-validation over {len(examples)} texts ({time.perf_counter() - started:.1f} s)")
    show("rules alone:", figures(examples, by_rules))
    policy = rules.model_policy
    combined = [combine(v, r, policy) for v, r in zip(by_rules, readings, strict=True)]
    show(f"rules + model, {policy}:", figures(examples, combined))
    alone = [combine(v, r, ModelPolicy(veto_below=0.5, catch_above=0.5, catch_alone_above=0.5))
             for v, r in zip(by_rules, readings, strict=True)]
    show("model alone (probability 0.5):", figures(examples, alone))
    if args.tune:
        grid = [0.0, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35]
        catches = [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.01]
        best = []
        for veto, critical, catch, aside, alone_at in itertools.product(grid, [0.0, 0.05, 0.1, 0.15], catches,
                                                                         catches, catches):
            if alone_at < catch or critical > veto:
                continue
            candidate = ModelPolicy(veto_below=veto, veto_critical_below=critical, catch_above=catch,
                                    catch_set_aside_above=aside, catch_alone_above=alone_at)
            result = figures(examples, [combine(v, r, candidate) for v, r in zip(by_rules, readings, strict=True)])
            apart = [result[key] for key in result if key.endswith(("/new", "/pdev"))]
            errors = sum(r["false_positives"] + r["false_negatives"] for r in apart)
            false_alarms = sum(r["false_positives"] for r in result.values() if r is not result["all"])
            best.append((objective(result), -errors, -false_alarms, candidate))
        # Ties (the parts are small) go to fewer errors apart from the rules, then to fewer false alarms.
        best.sort(key=lambda item: item[:3], reverse=True)
        for value, errors, _, candidate in best[:8]:
            print(f"  worst precision or recall over kk/ru/en new and pdev {value:.3f}, {-errors} errors there: "
                  f"{candidate}")


if __name__ == "__main__":
    main()
