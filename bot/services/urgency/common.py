"""Levels, categories, languages and the verdict with its findings: what every part of urgency shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from storage.models import ReviewKind, Urgency

# Lowest first: a level's index is its strength.
LEVELS = (Urgency.NORMAL.value, Urgency.HIGH.value, Urgency.CRITICAL.value)
CATEGORIES = (
    "extortion", "refusal", "harm", "rudeness", "payment_for_free", "medicine_not_provided", "waiting", "sanitary",
    "other",
)
KINDS = tuple(kind.value for kind in ReviewKind)
LANGUAGES = ("kk", "ru", "en")
DEFAULT_DIRECTORY = Path(__file__).resolve().parents[2] / "data" / "urgency"
POSITIVE = frozenset({Urgency.CRITICAL.value, Urgency.HIGH.value})

SHOWN_WORDS = 5


class RulesError(Exception):
    """The urgency data files cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Finding:
    """One fact that decided a verdict, or that was weighed and set aside, for `explain` to put into words.

    kind: "category", "group", "rating", "kind", "points", "spike", "gratitude_crime" (counted), "ignored"
    (words found but not counted: `name` says why, `group` which signal they were), "weak" (a group with points
    found in a review that stayed normal: not a reason, only a sign for the model), or "model" (the learned model
    overruled the rules: `name` "catch" or "veto", `words` what weighed most, `value` its percent).
    """

    kind: str
    name: str = ""
    words: tuple[str, ...] = ()
    group: str = ""
    value: int = 0


@dataclass(frozen=True)
class Verdict:
    urgency: str
    reasons: list[str]
    findings: tuple[Finding, ...] = field(default=(), compare=False)
