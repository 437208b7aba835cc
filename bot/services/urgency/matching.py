"""Where a lexicon term occurs in a text, and whether a negator right next to it cancels it."""

from __future__ import annotations

from collections.abc import Iterable

from bot.services.urgency.lexicon import Hit, Negation, Phrase, Present, Term, Word
from bot.services.urgency.tokens import Token


def occurrences(
    term: Term, negation: Negation, keys: list[str], tokens: list[Token], gap: int, lemmas: list[str] | None = None,
    present: Present | None = None,
) -> Iterable[tuple[tuple[int, int], ...]]:
    """Token spans, one per part, of each place the term occurs and is not negated."""
    return occurrences_or_denied(term, negation, keys, tokens, gap, lemmas, present)[0]


def occurrences_or_denied(
    term: Term, negation: Negation, keys: list[str], tokens: list[Token], gap: int, lemmas: list[str] | None = None,
    present: Present | None = None,
) -> tuple[list[tuple[tuple[int, int], ...]], tuple[tuple[int, int], ...] | None]:
    """The places the term occurs and is not negated, and, when there are none, the first place it would occur
    if its negators were ignored ("денег никто не просил"), or None: one pass over the text for both."""
    if present is not None and not all(word.may_occur(present) for part in term.parts for word in part.words):
        return [], None
    # A term that states a negative itself ("памперс & не меня") is about something not done: its other parts
    # are not negated by that same "не" ("памперсы не меняли").
    negative_term = any(part.negates_itself for part in term.parts)
    everywhere = [list(_phrase_spans(part, keys, tokens, gap, lemmas, present)) for part in term.parts]
    kept = everywhere if negative_term else [
        [span for span in spans
         if not (negated(negation, keys, tokens, *span) or _negative_ending(negation, part, keys, span))]
        for part, spans in zip(term.parts, everywhere, strict=True)
    ]
    counted = list(_places(kept, tokens))
    if counted or kept == everywhere:
        return counted, None
    return [], next(_places(everywhere, tokens), None)


def _places(found: list[list[tuple[int, int]]], tokens: list[Token]) -> Iterable[tuple[tuple[int, int], ...]]:
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


def _negative_ending(negation: Negation, phrase: Phrase, keys: list[str], span: tuple[int, int]) -> bool:
    if negation.negative_ending is None:
        return False
    return bool(negation.negative_ending.match(phrase.words[-1].rest(keys[span[1]])))


def _phrase_spans(
    phrase: Phrase, keys: list[str], tokens: list[Token], gap: int, lemmas: list[str] | None = None,
    present: Present | None = None,
) -> Iterable[tuple[int, int]]:
    """(first, last) token positions where the phrase's words appear in order, in one sentence, close together.

    With `lemmas` (Russian), a word also matches by its dictionary form: "возьмут деньги" matches "взять деньг".
    """

    def matches(word: Word, at: int) -> bool:
        return word.matches(keys[at]) or (lemmas is not None and lemmas[at] != keys[at] and word.matches(lemmas[at]))

    def together(at: int, start: int) -> bool:
        if phrase.one_clause:
            return tokens[at].clause == tokens[start].clause
        return tokens[at].sentence == tokens[start].sentence

    first_word, *other_words = phrase.words
    starts = first_word.positions(present) if present is not None else range(len(keys))
    for start in starts:
        if not matches(first_word, start):
            continue
        position = start
        for word in other_words:
            following = range(position + 1, min(position + 2 + gap, len(keys)))
            position = next((at for at in following if together(at, start) and matches(word, at)), -1)
            if position < 0:
                break
        if position >= 0:
            yield start, position


_WITHOUT = frozenset({"без", "without"})
_ANY = frozenset({"всяких", "всякого", "всякой", "всякую", "всякие", "any"})


def negated(negation: Negation, keys: list[str], tokens: list[Token], first: int, last: int) -> bool:
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

    def denies(position: int) -> bool:  # "без всяких конвертов", "without any envelope": a denial, not a condition
        return tokens[position].norm in _WITHOUT and position + 1 < len(keys) and tokens[position + 1].norm in _ANY

    # Read on the words themselves, not the lexicon's keys: the Kazakh lexicon also finds "конверт" in Russian.
    if any(denies(position) for position in before[:3]):
        return True
    if any(keys[position] in negation.cancel for position in [*range(first, last + 1), *before]):
        return False
    if any(keys[position] in negation.before for position in before[: negation.window_before]):
        return True
    # The match's own last word counts too: Kazakh negates inside the verb ("ақша сұрамады").
    after = near(range(last, last + 1 + negation.window_after), tokens[last].clause)
    return any(negator.matches(keys[position]) for position in after for negator in negation.after)


def outermost(hits: list[Hit]) -> list[Hit]:
    """Drop a match inside a longer match of the same group (the phrase already shows those words)."""

    def inside(hit: Hit, other: Hit) -> bool:
        longer = (other.first, other.last) != (hit.first, hit.last)
        return longer and other.first <= hit.first and hit.last <= other.last

    return [hit for hit in hits if not any(inside(hit, other) for other in hits)]
