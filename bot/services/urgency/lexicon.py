"""The editable data files (rules.toml, lexicon_*.toml): their words, terms, groups and frames, checked on load."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.services.urgency.common import LEVELS, RulesError
from bot.services.urgency.tokens import Token, fold_kazakh_deep, normalise

# Context that changes what alarming words mean, found by the [frames] terms of each lexicon (see lexicon_ru.toml).
FRAMES = (
    "question_generic", "hypothetical", "fear", "rumour", "elsewhere", "resolved", "joke", "figurative",
    "official_payment", "gratitude", "peaceful", "blame", "refused_gift", "without", "reported_speech",
    "first_person", "offered", "declined", "denied_mention", "told_by_staff", "denial", "distant_past", "now_fine",
    "saved", "denied_after", "compulsion", "approved", "own_choice", "not_covered", "other_place", "about_others",
    "put_right", "counterfactual", "not_care", "natural_death", "not_happened", "paid_to_staff", "factive_question",
    "own_refusal", "gift",
)
# A negation particle among one word's alternatives ("не выда|не дают") is a phrase written by mistake.
_NEGATION_PARTICLES = frozenset({"не", "ни", "not", "no", "never"})


@dataclass(frozen=True)
class Word:
    """One word of a term: stems (prefixes), or exact words when written with a trailing "!" or when two letters
    or fewer ("в", "на", "не", "no"); alternatives are separated by "|" ("скорая|скорую|скорой")."""

    alternatives: tuple[tuple[str, bool], ...]

    @classmethod
    def parse(cls, written: str, fold: bool) -> Word:
        alternatives = []
        for alternative in written.split("|"):
            text = normalise(alternative.rstrip("!"))
            text = fold_kazakh_deep(text) if fold else text
            if not text:
                raise ValueError(f"{written!r} has an empty word")
            alternatives.append((text, alternative.endswith("!") or len(text) <= 2))
        return cls(tuple(alternatives))

    def matches(self, key: str) -> bool:
        return any(key == text if exact else key.startswith(text) for text, exact in self.alternatives)

    def rest(self, key: str) -> str:
        """What follows the longest alternative that `key` starts with (a stem's ending: "қалдыр" + "мады")."""
        return min((key[len(text):] for text, exact in self.alternatives if not exact and key.startswith(text)),
                   key=len, default="")

    def may_occur(self, present: Present) -> bool:
        """Whether some word of the text could match (a quick test before scanning the text)."""
        return any(text in (present.words if exact else present.prefixes) for text, exact in self.alternatives)

    def positions(self, present: Present) -> list[int]:
        """The token positions this word may match at, by the index (each is still checked with `matches`)."""
        found: set[int] = set()
        for text, exact in self.alternatives:
            found.update((present.words if exact else present.prefixes).get(text, ()))
        return sorted(found)


@dataclass(frozen=True)
class Present:
    """Where the words of one text (as one lexicon reads them, and their lemmas) and all their beginnings stand,
    so that a term is looked for only where its first word can be."""

    words: dict[str, tuple[int, ...]]
    prefixes: dict[str, tuple[int, ...]]

    @classmethod
    def of(cls, *word_lists: list[str]) -> Present:
        words: dict[str, set[int]] = {}
        prefixes: dict[str, set[int]] = {}
        for word_list in word_lists:
            for position, word in enumerate(word_list):
                words.setdefault(word, set()).add(position)
                for end in range(1, len(word) + 1):
                    prefixes.setdefault(word[:end], set()).add(position)
        return cls({w: tuple(p) for w, p in words.items()}, {w: tuple(p) for w, p in prefixes.items()})


@dataclass(frozen=True)
class Phrase:
    """Words that must appear in this order, in one sentence, close together; one word is a phrase too."""

    words: tuple[Word, ...]
    negates_itself: bool
    # A word of it is a negator and nothing else ("не приех"): then the phrase keeps to one clause, so that
    # "не отказала, приехала" is not read as "не приехала".
    one_clause: bool = False


@dataclass(frozen=True)
class Term:
    """A lexicon entry: phrases joined by "&" must all appear in one sentence, in any order."""

    written: str
    parts: tuple[Phrase, ...]


@dataclass(frozen=True)
class Group:
    name: str
    level: int
    points: int
    terms: tuple[Term, ...]


@dataclass(frozen=True)
class Negation:
    before: frozenset[str]
    after: tuple[Word, ...]
    cancel: frozenset[str]
    stop: frozenset[str]
    window_before: int
    window_after: int
    # Kazakh negates inside the verb: a stem matched with this ending after it ("жалғыз қалдыр" in "жалғыз
    # қалдырмады", not left alone) is negated.
    negative_ending: re.Pattern[str] | None = None


@dataclass(frozen=True)
class Lexicon:
    language: str
    fold: bool
    negation: Negation
    groups: tuple[Group, ...]

    frames: dict[str, tuple[Term, ...]] = field(default_factory=dict)

    def key(self, token: Token) -> str:
        return fold_kazakh_deep(token.norm) if self.fold else token.norm

    def lemma(self, token: Token) -> str:
        return fold_kazakh_deep(token.lemma) if self.fold else token.lemma



@dataclass(frozen=True)
class Hit:
    group: Group
    spans: tuple[tuple[int, int], ...]

    @property
    def first(self) -> int:
        return self.spans[0][0]

    @property
    def last(self) -> int:
        return max(last for _, last in self.spans)


def read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RulesError(f"{path}: file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RulesError(f"{path.name}: not valid TOML: {exc}") from None


def toml_table(data: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise RulesError(f"{where}: [{key}] must be a table")
    return value


def toml_int(data: dict[str, Any], key: str, where: str, *, default: int | None = None, minimum: int = 0) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise RulesError(f"{where}.{key}: must be a whole number >= {minimum}, got {value!r}")
    return value


def toml_level(value: Any, where: str) -> int:
    if value not in LEVELS:
        raise RulesError(f"{where}: {value!r} is not one of {', '.join(LEVELS)}")
    return LEVELS.index(value)


def toml_words(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise RulesError(f"{where}: must be a list of non-empty strings")
    return value


def _parse_term(written: str, negation: Negation, fold: bool, where: str) -> Term:
    parts = []
    for part in written.split("&"):
        try:
            words = tuple(Word.parse(word, fold) for word in part.split())
        except ValueError as exc:
            raise RulesError(f"{where}: {exc}") from None
        if not words:
            raise RulesError(f"{where}: {written!r} has an empty part around '&'")
        for word in words[:-1]:
            negators = [text in _NEGATION_PARTICLES for text, _ in word.alternatives]
            if any(negators) and not all(negators):
                # "не выда|не дают" reads as the words "не", "выда|не", "дают": alternatives are single words
                raise RulesError(f"{where}: {written!r}: a negation among the alternatives of one word "
                                 "(alternatives are single words: write such phrases as separate terms)")
        def negator(text: str) -> bool:
            return text in negation.before or any(negator.matches(text) for negator in negation.after)

        negates_itself = any(negator(text) for word in words for text, _ in word.alternatives)
        one_clause = len(words) > 1 and any(all(negator(text) for text, _ in word.alternatives) for word in words)
        parts.append(Phrase(words, negates_itself, one_clause))
    return Term(written, tuple(parts))


def _pattern(value: Any, where: str, norm: Any) -> re.Pattern[str] | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise RulesError(f"{where}: must be a regular expression in a string")
    try:
        return re.compile(norm(value))
    except re.error as exc:
        raise RulesError(f"{where}: not a valid regular expression: {exc}") from None


def _negator(written: str, fold: bool, where: str) -> Word:
    try:
        return Word.parse(written, fold)
    except ValueError as exc:
        raise RulesError(f"{where}: {exc}") from None


def load_lexicon(path: Path) -> Lexicon:
    data = read_toml(path)
    name = path.name
    language = path.stem.removeprefix("lexicon_")
    matching = toml_table(data, "matching", name)
    fold = matching.get("fold_kazakh_letters", False)
    if not isinstance(fold, bool):
        raise RulesError(f"{name}: matching.fold_kazakh_letters: must be true or false")

    def norm(word: str) -> str:
        return fold_kazakh_deep(normalise(word)) if fold else normalise(word)

    raw = toml_table(data, "negation", name)
    where = f"{name}: negation"
    negation = Negation(
        before=frozenset(norm(word) for word in toml_words(raw.get("before", []), f"{where}.before")),
        after=tuple(
            _negator(word, fold, f"{where}.after") for word in toml_words(raw.get("after", []), f"{where}.after")
        ),
        cancel=frozenset(norm(word) for word in toml_words(raw.get("cancel", []), f"{where}.cancel")),
        stop=frozenset(norm(word) for word in toml_words(raw.get("stop", []), f"{where}.stop")),
        window_before=toml_int(raw, "window_before", where, default=0),
        window_after=toml_int(raw, "window_after", where, default=0),
        negative_ending=_pattern(raw.get("negative_ending"), f"{where}.negative_ending", norm),
    )
    groups = []
    for group_name, body in toml_table(data, "groups", name).items():
        where = f"{name}: groups.{group_name}"
        if not isinstance(body, dict):
            raise RulesError(f"{where}: must be a table")
        unknown = set(body) - {"level", "points", "terms"}
        if unknown:
            raise RulesError(f"{where}: unknown key {sorted(unknown)[0]!r} (expected level, points, terms)")
        level = toml_level(body.get("level", "normal"), f"{where}.level")
        points = toml_int(body, "points", where, default=0)
        if level == 0 and points == 0:
            raise RulesError(f"{where}: a group at level normal needs points, or it can never matter")
        written = toml_words(body.get("terms"), f"{where}.terms")
        terms = tuple(_parse_term(term, negation, fold, f"{where}.terms") for term in written)
        groups.append(Group(group_name, level, points, terms))
    frames = {}
    for frame_name, terms in toml_table(data, "frames", name).items():
        where = f"{name}: frames.{frame_name}"
        if frame_name not in FRAMES:
            raise RulesError(f"{where}: unknown frame (expected one of {', '.join(FRAMES)})")
        frames[frame_name] = tuple(_parse_term(term, negation, fold, where) for term in toml_words(terms, where))
    return Lexicon(language, fold, negation, tuple(groups), frames)



def check_groups_agree(lexicons: list[Lexicon]) -> None:
    """A group means the same in every language, so its level and points must be the same everywhere."""
    seen: dict[str, tuple[str, Group]] = {}
    for lexicon in lexicons:
        for group in lexicon.groups:
            if group.name not in seen:
                seen[group.name] = (lexicon.language, group)
                continue
            language, other = seen[group.name]
            if (group.level, group.points) != (other.level, other.points):
                raise RulesError(
                    f"lexicon_{lexicon.language}.toml: groups.{group.name}: level {LEVELS[group.level]} "
                    f"points {group.points} differ from lexicon_{language}.toml "
                    f"(level {LEVELS[other.level]} points {other.points})"
                )



NO_NEGATION = Negation(frozenset(), (), frozenset(), frozenset(), 0, 0)
