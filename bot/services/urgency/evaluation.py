"""Evaluation against labelled JSON lines (precision and recall of alerting, per language) and the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import IO, Any

from bot.services.urgency.common import LEVELS, POSITIVE, RulesError
from bot.services.urgency.rules import UrgencyRules
from bot.services.urgency.tokens import detect_language
from storage.models import Urgency


class EvaluationFileError(Exception):
    """The evaluation file cannot be read or has a bad line (the message names the line)."""


def evaluate(rules: UrgencyRules, path: Path | str, *, text_only: bool = False) -> dict[str, Any]:
    """Precision and recall of "critical or high" against "normal", overall and per language (the line's
    "language", else as detected), exact-level accuracy and the confusion counts.

    With `text_only`, a line's category, rating, kind and complaint count are left out: the words alone decide.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise EvaluationFileError(f"{path}: cannot be read: {exc}") from None
    examples = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            example = _parse_line(line)
            expected = example.pop("expected", None)
            if expected not in LEVELS:
                raise ValueError(f"expected must be one of {', '.join(LEVELS)}, got {expected!r}")
            if text_only:
                example = {key: value for key, value in example.items() if key in ("text", "language")}
            verdict = rules.classify(**example)
        except ValueError as exc:
            raise EvaluationFileError(f"{path}: line {number}: {exc}") from None
        examples.append((number, example, expected, verdict))
    result = score([(expected, verdict.urgency) for _, _, expected, verdict in examples])
    by_language: dict[str, list[tuple[str, str]]] = {}
    for _, example, expected, verdict in examples:
        language = example.get("language") or detect_language(example["text"])
        by_language.setdefault(language, []).append((expected, verdict.urgency))
    result["languages"] = {language: score(pairs) for language, pairs in sorted(by_language.items())}
    result["mistakes"] = [
        {"line": number, "expected": expected, "urgency": verdict.urgency, "reasons": verdict.reasons,
         "set_aside": [f"{finding.name}: {finding.group} {', '.join(finding.words)}"
                       for finding in verdict.findings if finding.kind == "ignored"],
         "text": example["text"]}
        for number, example, expected, verdict in examples
        if verdict.urgency != expected
    ]
    return result


def score(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Figures for (expected level, level given) pairs; alerting means critical or high."""
    confusion = {expected: dict.fromkeys(reversed(LEVELS), 0) for expected in reversed(LEVELS)}
    for expected, got in pairs:
        confusion[expected][got] += 1
    examples = len(pairs)
    tp = sum(confusion[e][g] for e in POSITIVE for g in POSITIVE)
    fn = sum(confusion[e][Urgency.NORMAL.value] for e in POSITIVE)
    fp = sum(confusion[Urgency.NORMAL.value][g] for g in POSITIVE)
    tn = confusion[Urgency.NORMAL.value][Urgency.NORMAL.value]
    return {
        "examples": examples,
        "precision": tp / (tp + fp) if tp + fp else float(tp + fn == 0),
        "recall": tp / (tp + fn) if tp + fn else 1.0,
        "accuracy": sum(confusion[level][level] for level in LEVELS) / examples if examples else 0.0,
        "true_positives": tp,
        "false_positives": fp,
        "false_negatives": fn,
        "true_negatives": tn,
        "confusion": confusion,
    }


_FIELDS = ("text", "category", "rating", "language", "kind", "recent_complaints")


def _parse_line(line: str) -> dict[str, Any]:
    """One JSON object with a string "text"; the other fields are checked by `classify`."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    if not isinstance(data.get("text"), str):
        raise ValueError('"text" is missing or not a string')
    example = {field: data[field] for field in _FIELDS if data.get(field) is not None}
    if "expected" in data:
        example["expected"] = data["expected"]
    return example


# --- Command line -------------------------------------------------------------------------------------------------


def main_classify(
    stdin: IO[str], stdout: IO[str], *, rules: UrgencyRules | None = None, stderr: IO[str] | None = None
) -> int:
    """JSON lines in, one JSON line out per input line: a verdict, or {"error": "line N: ..."}; blank lines skipped.

    Returns the exit code: 0, or 2 when the data files are unusable (one line on stderr, nothing classified).
    """
    try:
        rules = rules or UrgencyRules.load()
    except RulesError as exc:
        print(f"medfeedback: {exc}", file=stderr or sys.stderr)
        return 2
    for number, line in enumerate(stdin, start=1):
        if not line.strip():
            continue
        try:
            example = _parse_line(line)
            example.pop("expected", None)
            verdict = rules.classify(**example)
            answer: dict[str, Any] = {"urgency": verdict.urgency, "reasons": verdict.reasons}
        except ValueError as exc:
            answer = {"error": f"line {number}: {exc}"}
        stdout.write(json.dumps(answer, ensure_ascii=False) + "\n")
        stdout.flush()
    return 0


def main_evaluate(
    path: Path | str,
    stdout: IO[str],
    *,
    rules: UrgencyRules | None = None,
    show_mistakes: bool = False,
    text_only: bool = False,
    stderr: IO[str] | None = None,
) -> int:
    """Print the evaluation figures (a summary line, one per language, then the confusion table) and, if asked,
    each mistake with the words that decided it and those set aside.

    Returns the exit code: 0, 1 when the evaluation file is bad, 2 when the data files are unusable.
    """
    stderr = stderr or sys.stderr
    try:
        result = evaluate(rules or UrgencyRules.load(), path, text_only=text_only)
    except RulesError as exc:
        print(f"medfeedback: {exc}", file=stderr)
        return 2
    except EvaluationFileError as exc:
        print(f"medfeedback: {exc}", file=stderr)
        return 1
    print(format_evaluation(result), file=stdout)
    if show_mistakes:
        for mistake in result["mistakes"]:
            reasons = "; ".join(mistake["reasons"]) or "no signals"
            aside = f" [set aside: {'; '.join(mistake['set_aside'])}]" if mistake["set_aside"] else ""
            print(
                f"line {mistake['line']}: expected {mistake['expected']}, got {mistake['urgency']} ({reasons}){aside}: "
                f"{mistake['text']}",
                file=stdout,
            )
    return 0


def format_evaluation(result: dict[str, Any]) -> str:
    levels = list(reversed(LEVELS))
    corner = "expected \\ got"
    lines = [
        f"examples {result['examples']} | critical+high precision {result['precision']:.2f} "
        f"recall {result['recall']:.2f} | exact level accuracy {result['accuracy']:.2f}",
    ]
    for language, figures in result.get("languages", {}).items():
        lines.append(
            f"  {language}: examples {figures['examples']} | precision {figures['precision']:.2f} "
            f"recall {figures['recall']:.2f} | false alarms {figures['false_positives']}, "
            f"missed {figures['false_negatives']}"
        )
    lines.append(f"{corner:<16}" + "".join(f"{level:>10}" for level in levels))
    for expected in levels:
        lines.append(f"{expected:<16}" + "".join(f"{result['confusion'][expected][got]:>10}" for got in levels))
    return "\n".join(lines)
