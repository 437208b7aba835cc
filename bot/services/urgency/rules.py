"""The scoring rules: a review's category, rating, kind, complaint spike and words into a Verdict with reasons."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.services import urgency_model, urgency_text
from bot.services.urgency.common import (
    CATEGORIES,
    DEFAULT_DIRECTORY,
    KINDS,
    LANGUAGES,
    LEVELS,
    Finding,
    RulesError,
    Verdict,
)
from bot.services.urgency.lexicon import (
    NO_NEGATION,
    Group,
    Hit,
    Lexicon,
    Present,
    check_groups_agree,
    load_lexicon,
    read_toml,
    toml_int,
    toml_level,
    toml_table,
    toml_words,
)
from bot.services.urgency.matching import occurrences, occurrences_or_denied, outermost
from bot.services.urgency.policy import ModelPolicy, combine, read_model_policy
from bot.services.urgency.reasons import group_reason
from bot.services.urgency.scope import IGNORED_BECAUSE, Scope
from bot.services.urgency.tokens import Token, detect_language, question_sentences, tokenize
from storage.models import ReviewKind

# Frames whose words carry their own negation, or are about a denial: a "не" near them changes nothing.
_FRAMES_WITHOUT_NEGATION = frozenset({"rumour", "refused_gift", "offered", "declined", "denied_mention", "denial",
                                      "denied_after", "compulsion", "approved", "gift"})
_FRAME_BLOCKED_BEFORE = frozenset({"без", "without", "no", "not", "не", "нет"})
# "чек жоқ", "чек не дали", "чек бермеді", "касса жабық": a receipt denied or a cash desk closed is the opposite of
# official too, and in a Kazakh-Russian text the Russian lexicon's negators do not know the Kazakh ones.
_FRAME_BLOCKED_AFTER = frozenset({"жоқ", "жок", "joq", "jok", "не", "нет", "бермеді", "бермеди", "бермей", "берілмеді",
                                  "берилмеди", "never", "not"})
_CLOSED = frozenset({"жабық", "жабык", "закрыта", "закрыт", "closed"})  # "касса закрыта", "the cash desk was closed"


@dataclass(frozen=True)
class Spike:
    window_days: int
    min_complaints: int



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
        data = read_toml(directory / name)

        raw_categories = toml_table(data, "categories", name)
        missing = [category for category in CATEGORIES if category not in raw_categories]
        if missing:
            raise RulesError(f"{name}: categories.{missing[0]}: missing (every category needs a base level)")
        unknown = sorted(set(raw_categories) - set(CATEGORIES))
        if unknown:
            raise RulesError(f"{name}: categories.{unknown[0]}: unknown category (expected {', '.join(CATEGORIES)})")
        categories = {key: toml_level(value, f"{name}: categories.{key}") for key, value in raw_categories.items()}

        rating = toml_table(data, "rating", name)
        rating_points = {}
        for stars, points in toml_table(rating, "points", f"{name}: rating").items():
            if stars not in {"1", "2", "3", "4", "5"}:
                raise RulesError(f"{name}: rating.points.{stars}: stars must be 1 to 5")
            rating_points[int(stars)] = toml_int({"points": points}, "points", f"{name}: rating.{stars}")
        kind_points = {}
        for kind, points in toml_table(toml_table(data, "kinds", name), "points", f"{name}: kinds").items():
            if kind not in KINDS:
                raise RulesError(f"{name}: kinds.points.{kind}: unknown kind (expected {', '.join(KINDS)})")
            kind_points[kind] = toml_int({"points": points}, "points", f"{name}: kinds.{kind}")

        escalation = toml_table(data, "escalation", name)
        spike = toml_table(data, "spike", name)
        gratitude = toml_table(data, "gratitude", name)
        matching = toml_table(data, "matching", name)

        lexicon_paths = sorted(directory.glob("lexicon_*.toml"))
        if not lexicon_paths:
            raise RulesError(f"{directory}: no lexicon_*.toml files")
        lexicons = [load_lexicon(path) for path in lexicon_paths]
        check_groups_agree(lexicons)
        known_groups = {group.name for lexicon in lexicons for group in lexicon.groups}
        report_groups = toml_words(gratitude.get("report_groups", []), f"{name}: gratitude.report_groups")
        for group_name in report_groups:
            if group_name not in known_groups:
                raise RulesError(f"{name}: gratitude.report_groups: no lexicon has a group {group_name!r}")

        policy = read_model_policy(data.get("model", {}), f"{name}: model")
        corpus = directory / "corpus"
        has_corpus = bool(urgency_model.corpus_paths(corpus))
        model = urgency_model.LazyModel(corpus, tokenize) if policy.enabled and has_corpus else None

        return cls(
            categories=categories,
            rating_points=rating_points,
            kind_points=kind_points,
            points_to_high=toml_int(escalation, "points_to_high", f"{name}: escalation", minimum=1),
            spike=Spike(
                window_days=toml_int(spike, "window_days", f"{name}: spike", minimum=1),
                min_complaints=toml_int(spike, "min_complaints", f"{name}: spike", minimum=1),
            ),
            gratitude_report_groups=frozenset(report_groups),
            gratitude_report_level=toml_level(gratitude.get("level", "high"), f"{name}: gratitude.level"),
            phrase_gap=toml_int(matching, "phrase_gap", f"{name}: matching", default=3),
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
            reasons = ["kind: gratitude, but it reports a crime", *(group_reason(g, w) for g, w in crimes)]
            findings[:0] = [Finding("gratitude_crime"), *(Finding("group", g.name, tuple(w)) for g, w in crimes)]
            return Verdict(LEVELS[self.gratitude_report_level], reasons, tuple(findings))

        strong: list[tuple[int, str, Finding]] = []
        weak: list[tuple[int, str, Finding]] = []
        if category is not None and self.categories[category] > 0:
            strong.append((self.categories[category], f"category: {category}", Finding("category", category)))
        for group, words in found:
            finding = Finding("group", group.name, tuple(words))
            if group.level > 0:
                strong.append((group.level, group_reason(group, words), finding))
            elif group.points:
                weak.append((group.points, group_reason(group, words), finding))
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
        denied: dict[str, list[Hit]] = {}
        groups: dict[str, Group] = {}
        frames: dict[str, list[tuple[int, int]]] = {}
        verb_final: set[int] = set()  # frame words from a Kazakh lexicon: they may follow what they frame
        for lexicon in ordered:
            keys = [lexicon.key(token) for token in tokens]
            lemmas = [lexicon.lemma(token) for token in tokens]
            present = Present.of(keys, lemmas)
            for group in lexicon.groups:
                for term in group.terms:
                    counted, negated = occurrences_or_denied(term, lexicon.negation, keys, tokens, self.phrase_gap,
                                                             lemmas, present)
                    if counted:
                        groups.setdefault(group.name, group)
                        hits_by_group.setdefault(group.name, []).extend(Hit(group, spans) for spans in counted)
                    elif negated is not None and group.level > 0:
                        # Found only when its negator is ignored: kept as set aside ("денег не просили"), so that
                        # the learned model needs more to overrule it than a text with no alarming word at all.
                        groups.setdefault(group.name, group)
                        denied.setdefault(group.name, []).append(Hit(group, negated))
            for frame, terms in lexicon.frames.items():
                for term in terms:
                    negation = NO_NEGATION if frame in _FRAMES_WITHOUT_NEGATION else lexicon.negation
                    for spans in occurrences(term, negation, keys, tokens, self.phrase_gap, lemmas, present):
                        first, last = spans[0][0], max(end for _, end in spans)
                        if frame == "official_payment" and _denied_official(keys, tokens, first, last):
                            continue
                        frames.setdefault(frame, []).append((first, last))
                        if lexicon.fold:
                            verb_final.add(first)
        for position, token in enumerate(tokens):
            # Kazakh says "if" and "apparently" with endings: "сұраса" (if they ask), "алыпты" (took, it seems).
            mood = urgency_text.kazakh_mood(token.norm)
            concessive = position + 1 < len(tokens) and tokens[position + 1].norm in ("да", "де", "та", "те")
            if mood is not None and not concessive:  # "жатса да" is "even though", not "if"
                frames.setdefault(mood, []).append((position, position))
        asked = question_sentences(text, tokens)
        context = Scope(tokens, frames, asked, frozenset(hits_by_group), frozenset(verb_final))
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
                _show(text, tokens, same, words if why is None else ignored.setdefault((why, group_name), []))
            if words:
                found.append((groups[group_name], words))
        for group_name, hits in denied.items():
            if group_name not in hits_by_group:  # else the same words are judged above
                _show(text, tokens, hits, ignored.setdefault(("negated", group_name), []))
        found.sort(key=lambda item: (-item[0].level, -item[0].points))
        set_aside = [(why, groups[name], words) for (why, name), words in ignored.items()]
        set_aside.sort(key=lambda item: (IGNORED_BECAUSE.index(item[0]), -item[1].level))
        return found, set_aside


def _denied_official(keys: list[str], tokens: list[Token], first: int, last: int) -> bool:
    """"без чека", "чек жоқ", "чек не дали", "касса закрыта": the words of an official payment, denied."""
    clause = tokens[last].clause
    return (
        (first > 0 and keys[first - 1] in _FRAME_BLOCKED_BEFORE)
        or any(tokens[at].norm in _FRAME_BLOCKED_AFTER for at in range(first + 1, last + 1))
        or (last + 1 < len(tokens) and tokens[last + 1].norm in _FRAME_BLOCKED_AFTER
            and tokens[last + 1].clause == clause)
        or any(token.norm in _CLOSED and token.clause == clause for token in tokens[last + 1:last + 3])
    )


def _show(text: str, tokens: list[Token], hits: list[Hit], shown: list[str]) -> None:
    """Add the hits' words, as the resident wrote them, to `shown`, in text order and without repeats."""
    for hit in sorted(outermost(hits), key=lambda hit: hit.first):
        words = f"«{' … '.join(text[tokens[first].start:tokens[last].end] for first, last in hit.spans)}»"
        if words not in shown:
            shown.append(words)


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
