"""Urgency of a review (critical, high, normal) from its category, rating and words, with reasons a person can read."""

from __future__ import annotations

import json
import re
import sys
import tomllib
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from bot.services import urgency_model, urgency_text
from storage.models import ReviewKind, Urgency

# Lowest first: a level's index is its strength.
LEVELS = (Urgency.NORMAL.value, Urgency.HIGH.value, Urgency.CRITICAL.value)
CATEGORIES = (
    "extortion", "refusal", "harm", "rudeness", "payment_for_free", "medicine_not_provided", "waiting", "sanitary",
    "other",
)
KINDS = tuple(kind.value for kind in ReviewKind)
LANGUAGES = ("kk", "ru", "en")
DEFAULT_DIRECTORY = Path(__file__).resolve().parents[1] / "data" / "urgency"
POSITIVE = frozenset({Urgency.CRITICAL.value, Urgency.HIGH.value})
# Context that changes what alarming words mean, found by the [frames] terms of each lexicon (see lexicon_ru.toml).
FRAMES = (
    "question_generic", "hypothetical", "fear", "rumour", "elsewhere", "resolved", "joke", "figurative",
    "official_payment", "gratitude", "peaceful", "blame", "refused_gift", "without", "reported_speech",
    "first_person", "offered", "declined", "denied_mention", "told_by_staff", "denial", "distant_past", "now_fine",
    "saved", "denied_after", "compulsion", "approved", "own_choice", "not_covered", "other_place", "about_others",
)
# Frames whose words carry their own negation, or are about a denial: a "не" near them changes nothing.
_FRAMES_WITHOUT_NEGATION = frozenset({"rumour", "refused_gift", "offered", "declined", "denied_mention", "denial",
                                      "denied_after", "compulsion", "approved"})
# A payment that is only mentioned ("оплатила анализы", "paid for a cleaning") is no alert: it takes a demand, or a
# service that should have been free, for payment to be one.
_PAID_GROUPS = frozenset({"payment_demand", "amount_demand"})
_REFUSAL_GROUPS = frozenset({"refusal", "medicine_not_provided"})
# Why a found word was set aside, in the order they are checked; each has a plain-words text in the locales.
IGNORED_BECAUSE = (
    "negated", "figurative", "joke", "refused_gift", "question", "hypothetical", "fear", "rumour", "elsewhere",
    "resolved", "official_payment", "paid_service", "justified", "peaceful", "saved", "model_veto",
)
_PAYMENT_GROUPS = frozenset({"payment_demand", "money", "amount_demand"})
_GIFT_GROUPS = frozenset({"bribe", "amount_demand", "money", "payment_demand"})
_HARM_GROUPS = frozenset({"death", "life_threat", "harm", "worsened", "severe_symptoms"})
_DEATH_GROUPS = frozenset({"death", "life_threat", "severe_symptoms"})
_CONDITION_NEGATED = re.compile(r"^(не|not|don|dont|doesn|didn|won|no|без|without)$|(ма|ме|ба|бе|па|пе)(са|се)")
_COUNTERFACTUAL = frozenset({"бы", "would", "б"})
# A negation particle among one word's alternatives ("не выда|не дают") is a phrase written by mistake.
_NEGATION_PARTICLES = frozenset({"не", "ни", "not", "no", "never"})
_FRAME_BLOCKED_BEFORE = frozenset({"без", "without", "no", "not", "не", "нет"})

KAZAKH_LETTERS = frozenset("әіңғүұқөһ")
# People without a Kazakh keyboard type the nearest Russian letter; lexicons that ask for it match through this fold.
_KAZAKH_FOLD = str.maketrans("әіңғүұқөһ", "аингуукох")
# Latin letters that look Cyrillic, typed by mistake inside a Cyrillic word ("взяткa" with a Latin "a").
_LATIN_LOOKALIKES = str.maketrans("aeopcxyki", "аеорсхукі")
# Matching Kazakh goes one step further than `fold_kazakh`: people also type ы for і and the reverse.
_KAZAKH_DEEP_FOLD = str.maketrans("әіңғүұқөһы", "аингуукохи")
# Words, and the punctuation that ends a sentence or a clause (a hyphen only counts as a dash between spaces).
_TOKEN = re.compile(r"\w+|[.!?;:,()\n—–«»\"]|\s-+\s")
_SENTENCE_END = frozenset(".!?\n")
_SHOWN_WORDS = 5


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


# --- Text -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    norm: str
    folded: str
    start: int
    end: int
    sentence: int
    clause: int
    # The dictionary form (Russian, by pymorphy3) and whether the word reports something that happened.
    lemma: str = ""
    past: bool = False
    finite: bool = False
    addressed: bool = False
    # Counts contrast words too ("но", "but", "бірақ"): a fear or a rumour does not reach past them.
    segment: int = 0


def normalise(word: str) -> str:
    word = unicodedata.normalize("NFC", word.lower()).replace("ё", "е")
    if any("а" <= char <= "я" or char in KAZAKH_LETTERS for char in word):
        word = word.translate(_LATIN_LOOKALIKES)
    return word


def fold_kazakh(word: str) -> str:
    return word.translate(_KAZAKH_FOLD)


def fold_kazakh_deep(word: str) -> str:
    return word.translate(_KAZAKH_DEEP_FOLD)


_CONTRAST = frozenset({"но", "однако", "зато", "but", "however", "although", "though", "бірақ", "бирак", "алайда",
                       "дегенмен", "biraq", "birak"})
_MONEY_SIGNS = frozenset("₸$")


def tokenize(text: str, *, kazakh_latin: bool | None = None) -> list[Token]:
    """Words with their place in the text; punctuation only moves the sentence and clause counters.

    Kazakh written in Latin letters is read as Cyrillic (the words shown stay as written); a number with a unit
    of money becomes the word `amount#` that lexicons can use ("amount# & попрос").
    """
    if kazakh_latin is None:
        kazakh_latin = urgency_text.is_kazakh_in_latin(text)
    pieces = list(_TOKEN.finditer(text))
    tokens: list[Token] = []
    sentence = clause = segment = 0
    for index, found in enumerate(pieces):
        piece = found.group()
        if not (piece[0].isalnum() or piece[0] == "_"):
            clause += 1
            if piece in _SENTENCE_END:
                sentence += 1
                segment += 1
            continue
        norm = normalise(piece)
        if (kazakh_latin and norm.isascii() and norm.isalpha()) or any(char in "äöüūığşçñ" for char in norm):
            norm = urgency_text.latin_to_cyrillic(norm)
        if norm.isdigit() or norm[:1].isdigit() or norm in urgency_text.NUMBER_WORDS:
            following = pieces[index + 1].group().lower() if index + 1 < len(pieces) else None
            glued = text[found.end():found.end() + 1] in _MONEY_SIGNS or text[found.start() - 1:found.start()] == "$"
            if glued or urgency_text.is_amount(norm, following):
                norm = urgency_text.AMOUNT
        if norm in _CONTRAST:
            clause += 1
            segment += 1
        reading = urgency_text.read_word(norm)
        tokens.append(Token(norm, fold_kazakh(norm), found.start(), found.end(), sentence, clause, reading.lemma,
                            reading.past, reading.finite, reading.addressed, segment))
    return tokens


def question_sentences(text: str) -> frozenset[int]:
    """The sentences (numbered as `tokenize` numbers them) that end with a question mark."""
    asked = set()
    sentence = 0
    for found in _TOKEN.finditer(text):
        piece = found.group()
        if piece in _SENTENCE_END:
            if piece == "?":
                asked.add(sentence)
            sentence += 1
    return frozenset(asked)


def detect_language(text: str) -> str:
    """Roughly: Kazakh-only letters mean kk, other Cyrillic means ru, anything else en."""
    lowered = text.lower()
    if any(char in KAZAKH_LETTERS for char in lowered):
        return "kk"
    if any("а" <= char <= "я" or char == "ё" for char in lowered):
        return "ru"
    return "en"


# --- Data files -------------------------------------------------------------------------------------------------


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
class Spike:
    window_days: int
    min_complaints: int


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


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RulesError(f"{path}: file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RulesError(f"{path.name}: not valid TOML: {exc}") from None


def _table(data: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise RulesError(f"{where}: [{key}] must be a table")
    return value


def _int(data: dict[str, Any], key: str, where: str, *, default: int | None = None, minimum: int = 0) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise RulesError(f"{where}.{key}: must be a whole number >= {minimum}, got {value!r}")
    return value


def _level(value: Any, where: str) -> int:
    if value not in LEVELS:
        raise RulesError(f"{where}: {value!r} is not one of {', '.join(LEVELS)}")
    return LEVELS.index(value)


def _words(value: Any, where: str) -> list[str]:
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
        negates_itself = any(
            text in negation.before or any(negator.matches(text) for negator in negation.after)
            for word in words
            for text, _ in word.alternatives
        )
        parts.append(Phrase(words, negates_itself))
    return Term(written, tuple(parts))


def _negator(written: str, fold: bool, where: str) -> Word:
    try:
        return Word.parse(written, fold)
    except ValueError as exc:
        raise RulesError(f"{where}: {exc}") from None


def _load_lexicon(path: Path) -> Lexicon:
    data = _read_toml(path)
    name = path.name
    language = path.stem.removeprefix("lexicon_")
    matching = _table(data, "matching", name)
    fold = matching.get("fold_kazakh_letters", False)
    if not isinstance(fold, bool):
        raise RulesError(f"{name}: matching.fold_kazakh_letters: must be true or false")

    def norm(word: str) -> str:
        return fold_kazakh_deep(normalise(word)) if fold else normalise(word)

    raw = _table(data, "negation", name)
    where = f"{name}: negation"
    negation = Negation(
        before=frozenset(norm(word) for word in _words(raw.get("before", []), f"{where}.before")),
        after=tuple(_negator(word, fold, f"{where}.after") for word in _words(raw.get("after", []), f"{where}.after")),
        cancel=frozenset(norm(word) for word in _words(raw.get("cancel", []), f"{where}.cancel")),
        stop=frozenset(norm(word) for word in _words(raw.get("stop", []), f"{where}.stop")),
        window_before=_int(raw, "window_before", where, default=0),
        window_after=_int(raw, "window_after", where, default=0),
    )
    groups = []
    for group_name, body in _table(data, "groups", name).items():
        where = f"{name}: groups.{group_name}"
        if not isinstance(body, dict):
            raise RulesError(f"{where}: must be a table")
        unknown = set(body) - {"level", "points", "terms"}
        if unknown:
            raise RulesError(f"{where}: unknown key {sorted(unknown)[0]!r} (expected level, points, terms)")
        level = _level(body.get("level", "normal"), f"{where}.level")
        points = _int(body, "points", where, default=0)
        if level == 0 and points == 0:
            raise RulesError(f"{where}: a group at level normal needs points, or it can never matter")
        terms = tuple(
            _parse_term(term, negation, fold, f"{where}.terms") for term in _words(body.get("terms"), f"{where}.terms")
        )
        groups.append(Group(group_name, level, points, terms))
    frames = {}
    for frame_name, terms in _table(data, "frames", name).items():
        where = f"{name}: frames.{frame_name}"
        if frame_name not in FRAMES:
            raise RulesError(f"{where}: unknown frame (expected one of {', '.join(FRAMES)})")
        frames[frame_name] = tuple(_parse_term(term, negation, fold, where) for term in _words(terms, where))
    return Lexicon(language, fold, negation, tuple(groups), frames)


# --- Rules ------------------------------------------------------------------------------------------------------


class UrgencyRules:
    """The scoring rules and lexicons from one data directory; `classify` turns a review into a Verdict."""

    def __init__(
        self,
        *,
        categories: dict[str, int],
        rating_points: dict[int, int],
        kind_points: dict[str, int],
        points_to_high: int,
        spike: Spike,
        gratitude_report_groups: frozenset[str],
        gratitude_report_level: int,
        phrase_gap: int,
        lexicons: list[Lexicon],
        model: urgency_model.LazyModel | None = None,
        model_policy: ModelPolicy | None = None,
    ) -> None:
        self.categories = categories
        self.rating_points = rating_points
        self.kind_points = kind_points
        self.points_to_high = points_to_high
        self.spike = spike
        self.gratitude_report_groups = gratitude_report_groups
        self.gratitude_report_level = gratitude_report_level
        self.phrase_gap = phrase_gap
        self.lexicons = lexicons
        self.model = model
        self.model_policy = model_policy or ModelPolicy()

    @classmethod
    def load(cls, directory: Path | str | None = None) -> UrgencyRules:
        directory = Path(directory) if directory is not None else DEFAULT_DIRECTORY
        name = "rules.toml"
        data = _read_toml(directory / name)

        raw_categories = _table(data, "categories", name)
        missing = [category for category in CATEGORIES if category not in raw_categories]
        if missing:
            raise RulesError(f"{name}: categories.{missing[0]}: missing (every category needs a base level)")
        unknown = sorted(set(raw_categories) - set(CATEGORIES))
        if unknown:
            raise RulesError(f"{name}: categories.{unknown[0]}: unknown category (expected {', '.join(CATEGORIES)})")
        categories = {key: _level(value, f"{name}: categories.{key}") for key, value in raw_categories.items()}

        rating = _table(data, "rating", name)
        rating_points = {}
        for stars, points in _table(rating, "points", f"{name}: rating").items():
            if stars not in {"1", "2", "3", "4", "5"}:
                raise RulesError(f"{name}: rating.points.{stars}: stars must be 1 to 5")
            rating_points[int(stars)] = _int({"points": points}, "points", f"{name}: rating.{stars}")
        kind_points = {}
        for kind, points in _table(_table(data, "kinds", name), "points", f"{name}: kinds").items():
            if kind not in KINDS:
                raise RulesError(f"{name}: kinds.points.{kind}: unknown kind (expected {', '.join(KINDS)})")
            kind_points[kind] = _int({"points": points}, "points", f"{name}: kinds.{kind}")

        escalation = _table(data, "escalation", name)
        spike = _table(data, "spike", name)
        gratitude = _table(data, "gratitude", name)
        matching = _table(data, "matching", name)

        lexicon_paths = sorted(directory.glob("lexicon_*.toml"))
        if not lexicon_paths:
            raise RulesError(f"{directory}: no lexicon_*.toml files")
        lexicons = [_load_lexicon(path) for path in lexicon_paths]
        _check_groups_agree(lexicons)
        known_groups = {group.name for lexicon in lexicons for group in lexicon.groups}
        report_groups = _words(gratitude.get("report_groups", []), f"{name}: gratitude.report_groups")
        for group_name in report_groups:
            if group_name not in known_groups:
                raise RulesError(f"{name}: gratitude.report_groups: no lexicon has a group {group_name!r}")

        policy = _model_policy(data.get("model", {}), f"{name}: model")
        corpus = directory / "corpus"
        has_corpus = bool(urgency_model.corpus_paths(corpus))
        model = urgency_model.LazyModel(corpus, tokenize) if policy.enabled and has_corpus else None

        return cls(
            categories=categories,
            rating_points=rating_points,
            kind_points=kind_points,
            points_to_high=_int(escalation, "points_to_high", f"{name}: escalation", minimum=1),
            spike=Spike(
                window_days=_int(spike, "window_days", f"{name}: spike", minimum=1),
                min_complaints=_int(spike, "min_complaints", f"{name}: spike", minimum=1),
            ),
            gratitude_report_groups=frozenset(report_groups),
            gratitude_report_level=_level(gratitude.get("level", "high"), f"{name}: gratitude.level"),
            phrase_gap=_int(matching, "phrase_gap", f"{name}: matching", default=3),
            lexicons=lexicons,
            model=model,
            model_policy=policy,
        )

    # --- Classification -----------------------------------------------------------------------------------------

    def classify(
        self,
        text: str,
        category: str | None = None,
        rating: int | None = None,
        language: str | None = None,
        kind: str | None = None,
        recent_complaints: int = 0,
        *,
        use_model: bool = True,
    ) -> Verdict:
        """Classify one review; `recent_complaints` counts complaints about the same doctor or clinic within the
        spike window, this one included (the caller counts them).

        The rules decide first; the learned model (when the data directory has a corpus) may then veto an alert
        the rules found in the words alone, or raise one the rules missed, as `combine` says.
        """
        verdict = self.classify_by_rules(text, category, rating, language, kind, recent_complaints)
        if not use_model or self.model is None or kind == ReviewKind.GRATITUDE:
            return verdict
        return combine(verdict, self.model.get().read(text), self.model_policy)

    def classify_by_rules(
        self,
        text: str,
        category: str | None = None,
        rating: int | None = None,
        language: str | None = None,
        kind: str | None = None,
        recent_complaints: int = 0,
    ) -> Verdict:
        """The verdict of the readable rules alone (see rules.toml)."""
        _check_input(text, category, rating, language, kind, recent_complaints)
        language = language or detect_language(text)
        found, ignored = self._find(text, tokenize(text), language)
        findings: list[Finding] = [Finding("ignored", why, tuple(words), group.name) for why, group, words in ignored]

        if kind == ReviewKind.GRATITUDE:
            # Thanks are never urgent, but a crime told as thanks ("we gave her an envelope") is still a crime.
            crimes = [(group, words) for group, words in found if group.name in self.gratitude_report_groups]
            if not crimes:
                return Verdict(LEVELS[0], [], tuple(findings))
            reasons = ["kind: gratitude, but it reports a crime", *(_group_reason(g, w) for g, w in crimes)]
            findings[:0] = [Finding("gratitude_crime"), *(Finding("group", g.name, tuple(w)) for g, w in crimes)]
            return Verdict(LEVELS[self.gratitude_report_level], reasons, tuple(findings))

        strong: list[tuple[int, str, Finding]] = []
        weak: list[tuple[int, str, Finding]] = []
        if category is not None and self.categories[category] > 0:
            strong.append((self.categories[category], f"category: {category}", Finding("category", category)))
        for group, words in found:
            finding = Finding("group", group.name, tuple(words))
            if group.level > 0:
                strong.append((group.level, _group_reason(group, words), finding))
            elif group.points:
                weak.append((group.points, _group_reason(group, words), finding))
        if rating is not None and self.rating_points.get(rating):
            weak.append((self.rating_points[rating], f"rating {rating}", Finding("rating", value=rating)))
        if kind is not None and self.kind_points.get(kind):
            weak.append((self.kind_points[kind], f"kind: {kind}", Finding("kind", kind)))

        level = max((strength for strength, _, _ in strong), default=0)
        ordered = sorted(strong, key=lambda item: -item[0])
        reasons = [reason for _, reason, _ in ordered]
        counted = [finding for _, _, finding in ordered]
        weak_total = sum(points for points, _, _ in weak)
        if level == 0 and weak_total >= self.points_to_high:
            level = 1
            reasons.append(f"signals together: {weak_total} points (high from {self.points_to_high})")
            counted.append(Finding("points", value=weak_total))
        if level > 0:
            reasons.extend(reason for _, reason, _ in weak)
            counted.extend(finding for _, _, finding in weak)
        if recent_complaints >= self.spike.min_complaints:
            if level == 0:
                level = 1
            reasons.append(f"spike: {recent_complaints} complaints in {self.spike.window_days} days")
            counted.append(Finding("spike", value=recent_complaints))
        if level == 0:
            # Weak words too few to count, kept as a sign for the learned model (`combine`); explain skips them.
            counted.extend(Finding("weak", f.name, f.words) for _, _, f in weak if f.kind == "group")
        return Verdict(LEVELS[level], reasons, (*counted, *findings))

    def _find(
        self, text: str, tokens: list[Token], language: str
    ) -> tuple[list[tuple[Group, list[str]]], list[tuple[str, Group, list[str]]]]:
        """Matched groups, strongest first, each with the matched words as the resident wrote them; and the
        matches set aside by their context (a question, a fear, a rumour ...), each with why.

        Every lexicon is checked, whatever the language (residents mix Kazakh and Russian); the review's own
        language only goes first.
        """
        ordered = sorted(self.lexicons, key=lambda lexicon: lexicon.language != language)
        hits_by_group: dict[str, list[Hit]] = {}
        groups: dict[str, Group] = {}
        frames: dict[str, list[tuple[int, int]]] = {}
        verb_final: set[int] = set()  # frame words from a Kazakh lexicon: they may follow what they frame
        for lexicon in ordered:
            keys = [lexicon.key(token) for token in tokens]
            lemmas = [lexicon.lemma(token) for token in tokens]
            present = Present.of(keys, lemmas)
            for group in lexicon.groups:
                for term in group.terms:
                    for spans in _occurrences(term, lexicon.negation, keys, tokens, self.phrase_gap, lemmas, present):
                        groups.setdefault(group.name, group)
                        hits_by_group.setdefault(group.name, []).append(Hit(group, spans))
            for frame, terms in lexicon.frames.items():
                for term in terms:
                    negation = _NO_NEGATION if frame in _FRAMES_WITHOUT_NEGATION else lexicon.negation
                    for spans in _occurrences(term, negation, keys, tokens, self.phrase_gap, lemmas, present):
                        first, last = spans[0][0], max(end for _, end in spans)
                        if frame == "official_payment" and first > 0 and keys[first - 1] in _FRAME_BLOCKED_BEFORE:
                            continue  # "без чека": the opposite of official
                        frames.setdefault(frame, []).append((first, last))
                        if lexicon.fold:
                            verb_final.add(first)
        for position, token in enumerate(tokens):
            # Kazakh says "if" and "apparently" with endings: "сұраса" (if they ask), "алыпты" (took, it seems).
            mood = urgency_text.kazakh_mood(token.norm)
            concessive = position + 1 < len(tokens) and tokens[position + 1].norm in ("да", "де", "та", "те")
            if mood is not None and not concessive:  # "жатса да" is "even though", not "if"
                frames.setdefault(mood, []).append((position, position))
        context = _Context(tokens, frames, question_sentences(text), frozenset(hits_by_group), frozenset(verb_final))
        found = []
        ignored: dict[tuple[str, str], list[str]] = {}
        for group_name, hits in hits_by_group.items():
            words: list[str] = []
            # Judged one by one, then shown without repeats: a long match that is set aside ("попросят … 50")
            # must not hide a shorter one inside it that counts ("потребовал … 50").
            judged: dict[str | None, list[Hit]] = {}
            for hit in hits:
                judged.setdefault(context.why_ignored(hit), []).append(hit)
            for why, same in judged.items():
                target = words if why is None else ignored.setdefault((why, group_name), [])
                for hit in sorted(_outermost(same), key=lambda hit: hit.first):
                    pieces = (text[tokens[first].start : tokens[last].end] for first, last in hit.spans)
                    shown = f"«{' … '.join(pieces)}»"
                    if shown not in target:
                        target.append(shown)
            if words:
                found.append((groups[group_name], words))
        found.sort(key=lambda item: (-item[0].level, -item[0].points))
        set_aside = [(why, groups[name], words) for (why, name), words in ignored.items()]
        set_aside.sort(key=lambda item: (IGNORED_BECAUSE.index(item[0]), -item[1].level))
        return found, set_aside


@dataclass(frozen=True)
class ModelPolicy:
    """When the learned model may overrule the rules ([model] in rules.toml; chosen by cross-validation).

    veto_below: a high alert the rules found in the words alone becomes normal when the model's probability of an
    alert is below this; veto_critical_below: the same for a critical one. catch_above: a normal verdict becomes
    high when the probability reaches this and the rules found a weak sign (words of a group with points: money,
    a free service, a child ...); catch_set_aside_above: the same when the rules only found alarming words they
    set aside by their context; catch_alone_above: the same without any sign. The model reads only the text: an
    alert that rests on the rating, the kind, the category or a complaint spike is never vetoed.
    """

    enabled: bool = True
    veto_below: float = 0.0
    veto_critical_below: float = 0.0
    catch_above: float = 1.01
    catch_set_aside_above: float = 1.01
    catch_alone_above: float = 1.01


_POLICY_PROBABILITIES = ("veto_below", "veto_critical_below", "catch_above", "catch_set_aside_above",
                         "catch_alone_above")


def _model_policy(data: Any, where: str) -> ModelPolicy:
    if not isinstance(data, dict):
        raise RulesError(f"{where}: must be a table")
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key == "enabled":
            if not isinstance(value, bool):
                raise RulesError(f"{where}.enabled: must be true or false")
        elif key in _POLICY_PROBABILITIES:
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1.01:
                raise RulesError(f"{where}.{key}: must be a probability from 0 to 1 (above 1 turns it off)")
            value = float(value)
        else:
            raise RulesError(f"{where}.{key}: unknown key")
        values[key] = value
    return ModelPolicy(**values)


def combine(verdict: Verdict, reading: urgency_model.Reading, policy: ModelPolicy) -> Verdict:
    """The rules' verdict, vetoed or raised by the model's reading when the policy allows it.

    Only words can be vetoed: a category, a complaint spike or a gratitude that reports a crime stand.
    """
    percent = round(reading.probability * 100)
    counted = [finding for finding in verdict.findings if finding.kind != "ignored"]
    level = LEVELS.index(verdict.urgency)
    if level > 0:
        from_words = all(finding.kind in ("group", "points") for finding in counted)
        veto_below = policy.veto_critical_below if level == len(LEVELS) - 1 else policy.veto_below
        if not from_words or reading.probability >= veto_below:
            return verdict
        words = reading.against_alert
        set_aside = tuple(Finding("ignored", "model_veto", finding.words, finding.name)
                          for finding in counted if finding.kind == "group")
        rest = tuple(finding for finding in verdict.findings if finding.kind == "ignored")
        reason = f"model: no alert ({percent}% likely), read from {', '.join(words) or 'the whole text'}"
        return Verdict(LEVELS[0], [reason], (Finding("model", "veto", words, value=percent), *set_aside, *rest))
    if any(finding.kind == "weak" for finding in verdict.findings):
        threshold = policy.catch_above
    elif verdict.findings:
        threshold = policy.catch_set_aside_above
    else:
        threshold = policy.catch_alone_above
    if reading.probability < threshold:
        return verdict
    words = reading.for_alert
    reason = f"model: alert ({percent}% likely), read from {', '.join(words) or 'the whole text'}"
    return Verdict(LEVELS[1], [reason, *verdict.reasons],
                   (Finding("model", "catch", words, value=percent), *verdict.findings))


_NO_NEGATION = Negation(frozenset(), (), frozenset(), frozenset(), 0, 0)


class _Context:
    """Clause-level scope: whether a match reports something that happened here and now, or only mentions it."""

    def __init__(self, tokens: list[Token], frames: dict[str, list[tuple[int, int]]], asked: frozenset[int],
                 groups_found: frozenset[str], verb_final: frozenset[int]) -> None:
        self.verb_final = verb_final
        self.tokens = tokens
        self.frames = frames
        self.asked = asked
        self.groups_found = groups_found

    def _in_sentence(self, frame: str, sentence: int) -> list[tuple[int, int]]:
        return [span for span in self.frames.get(frame, []) if self.tokens[span[0]].sentence == sentence]

    def _clause(self, clause: int) -> list[Token]:
        return [token for token in self.tokens if token.clause == clause]

    def _clause_has(self, frame: str, clause: int) -> bool:
        return any(self.tokens[first].clause == clause for first, _ in self.frames.get(frame, []))

    def why_ignored(self, hit: Hit) -> str | None:
        tokens = self.tokens
        at = tokens[hit.first]
        sentence, clause, group = at.sentence, at.clause, hit.group.name
        if self._in_sentence("denied_mention", sentence):
            return "negated"  # "про взятки я здесь не слышала ни разу": the whole sentence denies it
        if any(tokens[first].segment > at.segment for first, _ in self._in_sentence("denial", sentence)):
            return "negated"  # "ждали, что попросят денег, но никто ничего не взял": the expectation is denied
        if any(first > hit.last and tokens[first].sentence in (sentence, sentence + 1)
               for first, _ in self.frames.get("denied_after", [])):
            return "negated"  # "... ask for bribes; here it has never happened to us"
        if any(first <= hit.last and hit.first <= last for first, last in self.frames.get("figurative", [])):
            return "figurative"  # "чуть не умерла со скуки"
        if self._in_sentence("joke", sentence) or self._in_sentence("joke", sentence + 1):
            return "joke"
        if group in _GIFT_GROUPS | {"refusal"} and not self._in_sentence("without", sentence) and (
            (self._in_sentence("offered", sentence)
             and (self._in_sentence("declined", sentence) or self._in_sentence("refused_gift", sentence)))
            or (group != "refusal" and self._clause_has("refused_gift", clause))
        ):
            # "хотели дать конверт, но врач отказалась"; "врач отказался от подарка"; but "отказался принимать без
            # конверта" counts, and so does a refusal of care next to a demand.
            return "refused_gift"
        in_sentence = [token for token in tokens if token.sentence == sentence]
        if sentence in self.asked and not any(token.past for token in in_sentence) and (
            self._in_sentence("question_generic", sentence) or self._in_sentence("hypothetical", sentence)
        ):
            return "question"  # "что делать, если врач просит взятку?"; but "почему с нас взяли 5000?" counts
        for first, _ in self._in_sentence("hypothetical", sentence):
            marker_clause = tokens[first].clause
            if not (clause == marker_clause or (clause == marker_clause + 1 and first < hit.first)):
                continue
            if any(_CONDITION_NEGATED.search(token.norm) for token in self._clause(marker_clause)) or (
                self._in_sentence("reported_speech", sentence)
            ):
                continue  # "если не заплатите, не примут", "сказал: если ..." is a demand, not a supposition
            own = self._clause(clause)
            if clause != marker_clause and any(t.past for t in own) and not any(t.norm in _COUNTERFACTUAL for t in own):
                continue  # "если честно, врач взял деньги"
            return "hypothetical"
        for first, _ in self._in_sentence("fear", sentence):
            marker = tokens[first]
            if clause == marker.clause:
                return "fear"  # "I was afraid they would ask for money", "ақша сұрайды деп қорқамын"
            if marker.segment == at.segment and first < hit.first and not any(
                token.past for token in self._clause(clause)
            ):
                return "fear"  # "боюсь, что в роддоме потребуют деньги"; "боялась, ... и потребовали" counts
        addressed = any(token.addressed for token in in_sentence)
        if self._in_sentence("other_place", sentence) and self._in_sentence("about_others", sentence):
            return "elsewhere"  # "соседке в другой больнице отказали": someone else's case, elsewhere
        for frame in ("rumour", "elsewhere"):
            for first, _ in self._in_sentence(frame, sentence):
                if tokens[first].segment != at.segment or (first > hit.first and first not in self.verb_final):
                    continue  # "вымогают деньги, говорят: иначе ждите год" is what staff say, not hearsay
                if frame == "rumour" and (addressed or self._in_sentence("told_by_staff", sentence)):
                    continue  # "говорят: сделайте платно", "в поликлинике говорят, что их нет" are the staff's words
                told_first_hand = any(
                    tokens[start].clause == clause and start > first for start, _ in self.frames.get("first_person", [])
                )
                if not told_first_hand:
                    return frame  # "говорят, там берут взятки"; but "говорят ..., и у нас взяли 5000" counts
        if group not in _HARM_GROUPS and (
            self._in_sentence("resolved", sentence) or self._in_sentence("resolved", sentence + 1)
            or (self._in_sentence("distant_past", sentence) and self.frames.get("now_fine"))
        ):
            return "resolved"  # "её уволили"; "два года назад отказали, но сейчас всё работает отлично"
        if group in _PAYMENT_GROUPS and self.frames.get("official_payment") and "free_service" not in self.groups_found:
            return "official_payment"
        if group in _PAYMENT_GROUPS and self._in_sentence("not_covered", sentence):
            return "official_payment"  # "анализ платный и не входит в ГОБМП": not a free service
        if group in _PAYMENT_GROUPS | {"medicine_not_provided"} and self._in_sentence("own_choice", sentence):
            return "official_payment"  # "сами купили импортную вакцину вместо бесплатной": a free choice
        if group in _PAID_GROUPS and "free_service" not in self.groups_found and not (
            self._in_sentence("compulsion", sentence) or self._in_sentence("reported_speech", sentence)
            or "bribe" in self.groups_found
        ):
            return "paid_service"  # "оплатила анализы в лаборатории"; but "заставили заплатить" counts
        if group in _REFUSAL_GROUPS and self._in_sentence("approved", sentence):
            return "justified"  # "отказалась ставить капельницу без назначения, и правильно сделала"
        if group in _DEATH_GROUPS and self.frames.get("gratitude") and not self.frames.get("blame"):
            if self.frames.get("saved"):
                return "saved"  # "спасибо реаниматологам, спасли мужа"
            return "peaceful"  # "спасибо хоспису, мама ушла спокойно": a death told with thanks and no fault
        return None


def _check_input(text: Any, category: Any, rating: Any, language: Any, kind: Any, recent_complaints: Any) -> None:
    if not isinstance(text, str):
        raise ValueError("text must be a string")
    if category is not None and category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r} (expected one of {', '.join(CATEGORIES)})")
    if rating is not None and (isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5):
        raise ValueError(f"rating must be a whole number from 1 to 5, got {rating!r}")
    if language is not None and language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r} (expected one of {', '.join(LANGUAGES)})")
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r} (expected one of {', '.join(KINDS)})")
    if isinstance(recent_complaints, bool) or not isinstance(recent_complaints, int) or recent_complaints < 0:
        raise ValueError(f"recent_complaints must be a whole number >= 0, got {recent_complaints!r}")


def _check_groups_agree(lexicons: list[Lexicon]) -> None:
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


def _occurrences(
    term: Term, negation: Negation, keys: list[str], tokens: list[Token], gap: int, lemmas: list[str] | None = None,
    present: Present | None = None,
) -> Iterable[tuple[tuple[int, int], ...]]:
    """Token spans, one per part, of each place the term occurs and is not negated."""
    if present is not None and not all(word.may_occur(present) for part in term.parts for word in part.words):
        return
    # A term that states a negative itself ("памперс & не меня") is about something not done: its other parts
    # are not negated by that same "не" ("памперсы не меняли").
    negative_term = any(part.negates_itself for part in term.parts)
    found = [
        [
            span
            for span in _phrase_spans(part, keys, tokens, gap, lemmas, present)
            if negative_term or not _negated(negation, keys, tokens, *span)
        ]
        for part in term.parts
    ]
    if len(found) == 1:
        for span in found[0]:
            yield (span,)
        return
    # "a & b": within a sentence where all of them appear, the first place of each part, and the last (so that
    # "боялась, что попросят деньги, и хирург потребовал 50 тысяч" is also seen at its reported demand).
    for sentence in sorted({tokens[first].sentence for first, _ in found[0]}):
        in_sentence = [[s for s in part if tokens[s[0]].sentence == sentence] for part in found]
        if all(in_sentence):
            first = tuple(sorted(part[0] for part in in_sentence))
            yield first
            last = tuple(sorted(part[-1] for part in in_sentence))
            if last != first:
                yield last


def _phrase_spans(
    phrase: Phrase, keys: list[str], tokens: list[Token], gap: int, lemmas: list[str] | None = None,
    present: Present | None = None,
) -> Iterable[tuple[int, int]]:
    """(first, last) token positions where the phrase's words appear in order, in one sentence, close together.

    With `lemmas` (Russian), a word also matches by its dictionary form: "возьмут деньги" matches "взять деньг".
    """

    def matches(word: Word, at: int) -> bool:
        return word.matches(keys[at]) or (lemmas is not None and lemmas[at] != keys[at] and word.matches(lemmas[at]))

    first_word, *other_words = phrase.words
    starts = first_word.positions(present) if present is not None else range(len(keys))
    for start in starts:
        if not matches(first_word, start):
            continue
        position = start
        for word in other_words:
            following = range(position + 1, min(position + 2 + gap, len(keys)))
            position = next(
                (at for at in following if tokens[at].sentence == tokens[start].sentence and matches(word, at)),
                -1,
            )
            if position < 0:
                break
        if position >= 0:
            yield start, position


def _negated(negation: Negation, keys: list[str], tokens: list[Token], first: int, last: int) -> bool:
    """Simple and local on purpose: a negator right before or after the match, in the same clause.

    A clause ends at punctuation and at a `stop` word ("и", "but"). A `cancel` word in or just before the
    match ("если не заплатите", "без денег не примут") keeps it positive: there a negation makes a condition,
    not a denial.
    """

    def near(positions: range, clause: int) -> Iterable[int]:
        for position in positions:
            if not 0 <= position < len(keys) or tokens[position].clause != clause or keys[position] in negation.stop:
                return
            yield position

    before = list(near(range(first - 1, first - 1 - negation.window_before - 2, -1), tokens[first].clause))
    if any(keys[position] in negation.cancel for position in [*range(first, last + 1), *before]):
        return False
    if any(keys[position] in negation.before for position in before[: negation.window_before]):
        return True
    # The match's own last word counts too: Kazakh negates inside the verb ("ақша сұрамады").
    after = near(range(last, last + 1 + negation.window_after), tokens[last].clause)
    return any(negator.matches(keys[position]) for position in after for negator in negation.after)


def _outermost(hits: list[Hit]) -> list[Hit]:
    """Drop a match inside a longer match of the same group (the phrase already shows those words)."""

    def inside(hit: Hit, other: Hit) -> bool:
        longer = (other.first, other.last) != (hit.first, hit.last)
        return longer and other.first <= hit.first and hit.last <= other.last

    return [hit for hit in hits if not any(inside(hit, other) for other in hits)]


def _group_reason(group: Group, words: list[str]) -> str:
    shown = ", ".join(words[:_SHOWN_WORDS]) + (", …" if len(words) > _SHOWN_WORDS else "")
    return f"{group.name.replace('_', ' ')} words: {shown}"


# --- Reasons in plain words ----------------------------------------------------------------------------------------


def explain(result: Verdict | Iterable[Finding | dict[str, Any]] | None, l10n: Any) -> list[str]:
    """The decisive facts of a verdict as lines in the reader's language, strongest first, then the alarming
    words that were set aside and why ("not counted: «взятку» — only asked as a question").

    Takes a Verdict, or its findings as stored (`findings_to_json`), and an L10n of the reader's language.
    """
    if result is None:  # a case made before findings were kept
        return []
    findings = result.findings if isinstance(result, Verdict) else tuple(
        item if isinstance(item, Finding) else finding_from_json(item) for item in result
    )
    lines = []
    for finding in findings:
        words = ", ".join(finding.words[:_SHOWN_WORDS]) + (", …" if len(finding.words) > _SHOWN_WORDS else "")
        if finding.kind == "group":
            key = f"urgency_reason.group.{finding.name}"
            lines.append(l10n(key, words=words) if l10n.has(key) else f"{finding.name.replace('_', ' ')}: {words}")
        elif finding.kind == "category":
            lines.append(l10n("urgency_reason.category", category=l10n(f"category.{finding.name}")))
        elif finding.kind == "kind":
            lines.append(l10n("urgency_reason.kind", kind=l10n(f"kind.{finding.name}")))
        elif finding.kind == "rating":
            lines.append(l10n("urgency_reason.rating", stars=finding.value))
        elif finding.kind == "points":
            lines.append(l10n("urgency_reason.points", points=finding.value))
        elif finding.kind == "spike":
            lines.append(l10n("urgency_reason.spike", count=finding.value))
        elif finding.kind == "gratitude_crime":
            lines.append(l10n("urgency_reason.gratitude_crime"))
        elif finding.kind == "model":
            key = f"urgency_reason.model_{finding.name}"
            lines.append(l10n(key, percent=finding.value, words=words or l10n("urgency_reason.model_whole_text")))
        elif finding.kind == "ignored":
            lines.append(l10n("urgency_reason.ignored", words=words, why=l10n(f"urgency_reason.why.{finding.name}")))
    return lines


def findings_to_json(verdict: Verdict) -> list[dict[str, Any]]:
    """The findings as JSON-safe dicts, to store beside a case and explain later in any language."""
    return [
        {key: value for key, value in (("kind", f.kind), ("name", f.name), ("words", list(f.words)),
                                       ("group", f.group), ("value", f.value)) if value}
        for f in verdict.findings
    ]


def finding_from_json(data: dict[str, Any]) -> Finding:
    return Finding(str(data["kind"]), str(data.get("name", "")), tuple(data.get("words", ())),
                   str(data.get("group", "")), int(data.get("value", 0)))


# --- Evaluation ---------------------------------------------------------------------------------------------------


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
