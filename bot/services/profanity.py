"""Profanity lexicons (bot/data/moderation/profanity_*.toml, editable by the office) and the rules that find and
mask offending words however they are disguised: hidden letters, lookalikes, letters spelled out one by one."""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from bot.services.urgency import fold_kazakh, normalise

DEFAULT_DIRECTORY = Path(__file__).resolve().parents[1] / "data" / "moderation"


class ModerationRulesError(Exception):
    """A profanity data file cannot be used; the message names the file and the entry."""


# Characters that stand for hidden letters inside a word: "б**дь", "х#й".
_HIDING = "*#"
# A word as people obfuscate it: letters, digits and lookalike symbols ("с@ка", "6лядь", "sh1t", "б**дь"); at
# least two letters (`_LETTERS`). urgency.tokenize splits at "*" and "@", so it cannot see these; its
# `normalise` is reused for every word.
_WORD = re.compile(
    r"(?<![\w*#@$\u00ad\u200b-\u200d\u2060\u0300-\u036f])[\w@$][\w*#@$\u00ad\u200b-\u200d\u2060\u0300-\u036f]*"
)
_LETTERS = 2
# A word spelled out letter by letter, one separator throughout: "х.у.й", "б л я т ь", "f-u-c-k".
_SPELLED = re.compile(
    r"(?<![\w*#@$])[^\W\d_](?P<separator>[ .\-_]{1,2})[^\W\d_](?:(?P=separator)[^\W\d_])+(?![\w*#@$])"
)
_LONGEST_SPELLED = 14
_CACHED_WORDS = 20_000
_EMPHASIS = re.compile(r"(.)\1{2,}")
_PREFIX_CHAIN = 3
_SHORTEST_STEM = 3
_SHORTEST_INSIDE = 4


@dataclass(frozen=True)
class Stem:
    """One written alternative of a lexicon entry."""

    text: str
    exact: bool  # "стем!": the whole word (or, with after_prefixes, the rest of it)
    after_prefixes: bool  # "~стем"
    inside: bool  # "*стем"

    @property
    def kind(self) -> str:
        return "after_prefixes" if self.after_prefixes else "inside" if self.inside else "plain"

    @classmethod
    def parse_entry(cls, entry: str, fold: bool) -> list[Stem]:
        entry = entry.strip()
        marker = entry[:1] if entry[:1] in "~*" else ""
        stems = []
        for alternative in entry[len(marker) :].split("|"):
            alternative = alternative.strip()
            exact = alternative.endswith("!")
            text = _key(alternative.rstrip("!"), fold)
            if not text or not all(char.isalpha() for char in text):
                raise ValueError(f"{entry!r}: {alternative!r} must be letters, with an optional '!' at the end")
            if marker == "*" and exact:
                raise ValueError(f"{entry!r}: an anywhere stem ('*') cannot be exact ('!')")
            shortest = _SHORTEST_INSIDE if marker == "*" else _SHORTEST_STEM
            if not exact and len(text) < shortest:
                raise ValueError(
                    f"{entry!r}: {alternative!r} is too short to be a stem (at least {shortest} letters), "
                    "write the exact words with '!'"
                )
            stems.append(cls(text, exact, marker == "~", marker == "*"))
        return stems


@dataclass(frozen=True)
class Lexicon:
    name: str
    fold: bool
    table: dict[int, str]
    lookalikes: frozenset[str]  # characters read as letters of this language
    scripts: frozenset[str]  # the scripts of the letters they are read as: "CYRILLIC", "LATIN"
    prefixes: tuple[str, ...]
    chains: _Trie
    stems: tuple[Stem, ...]
    exact: frozenset[str]
    starts: tuple[str, ...]
    inside: tuple[str, ...]
    after_exact: frozenset[str]
    after_starts: tuple[str, ...]
    ordinary_exact: frozenset[str]
    ordinary_starts: tuple[str, ...]

    def keys(self, word: str) -> list[str]:
        """The word as this lexicon reads it: normalised, with lookalikes read as its letters where the word has
        one of its letters or is written with lookalikes only ("cyka"), and as written too ("xuy"); Kazakh
        letters folded when the lexicon asks."""
        word = "".join(char for char in normalise(word) if not _invisible(char))
        shown = [char for char in word if char not in _HIDING]
        keys = [word]
        if any(_script(char) in self.scripts for char in shown) or all(char in self.lookalikes for char in shown):
            keys.insert(0, word.translate(self.table))
        return list(dict.fromkeys(fold_kazakh(key) if self.fold else key for key in keys))

    def variants(self, word: str) -> list[str]:
        """`keys`, and each with a letter repeated three times or more, for emphasis, reduced to one and to two
        ("сууука", "fuuuck", "asssss"). Doubled letters stay: they are ordinary (Shiite, ebb, muddily)."""
        variants = []
        for key in self.keys(word):
            variants.append(key)
            if _EMPHASIS.search(key):
                variants += [_EMPHASIS.sub(r"\1", key), _EMPHASIS.sub(r"\1\1", key)]
        return list(dict.fromkeys(variants))

    def is_ordinary(self, key: str) -> bool:
        return key in self.ordinary_exact or key.startswith(self.ordinary_starts)

    def is_profane(self, key: str) -> bool:
        if key in self.exact or key.startswith(self.starts) or any(stem in key for stem in self.inside):
            return True
        if not (self.after_exact or self.after_starts):
            return False
        return any(
            rest in self.after_exact or rest.startswith(self.after_starts) for rest in _chain_rests(key, self.prefixes)
        )

    def could_be_profane(self, hidden: str) -> bool:
        """A word with hidden letters ("б**дь") could be a profane word when its letters fit a stem."""
        pattern = _pattern(hidden)
        starts = {
            "plain": frozenset({(0, 0)}),
            "after_prefixes": _after_chains(pattern, self.chains),
            "inside": _anywhere(pattern),
        }
        return any(_fits(pattern, stem, starts[stem.kind]) for stem in self.stems)


def _key(word: str, fold: bool) -> str:
    word = normalise(word)
    return fold_kazakh(word) if fold else word


def _script(char: str) -> str:
    """The script of a letter: "CYRILLIC" for "ж", "LATIN" for "q"; "" for digits and symbols."""
    return unicodedata.name(char, "").split(" ")[0] if char.isalpha() else ""


def _invisible(char: str) -> bool:
    """Stress marks and invisible characters put inside a word, on purpose or not ("ху\u00adй", "хуй\u0301")."""
    return unicodedata.combining(char) > 0 or unicodedata.category(char) == "Cf"


# A hidden run of n characters stands for 1 to n + 2 letters: people rarely count ("п***ц" for пиздец).
_EXTRA_HIDDEN = 2
_LONGEST_HIDDEN = 8
# Letters after the stem in a word with hidden letters: an ending ("бл*ть", "ох*енно", "бляд*на").
_LONGEST_ENDING = 3
# Longer words with hidden letters are not censored words (and would make the search slow).
_LONGEST_HIDDEN_WORD = 40


Pattern = tuple[str | tuple[int, int], ...]


def _pattern(hidden: str) -> Pattern:
    items: list[str | tuple[int, int]] = []
    for found in re.finditer(rf"[{re.escape(_HIDING)}]+|.", hidden):
        piece = found.group()
        items.append((1, min(len(piece) + _EXTRA_HIDDEN, _LONGEST_HIDDEN)) if piece[0] in _HIDING else piece)
    return tuple(items)


def _fits(pattern: Pattern, stem: Stem, starts: frozenset[tuple[int, int]]) -> bool:
    """Whether a word written as `pattern` (letters and hidden runs) can be one that `stem` matches, the stem
    beginning at one of `starts` (a pattern position and the letters used of its hidden run).

    A censor hides letters of the bad word and leaves enough to read it, so:
      * the stem shows at least as many letters as it hides ("х*й", "б**дь"), so two at least;
      * at most `_LONGEST_ENDING` letters follow the stem ("бл*ть": "ть").
    A plain stem starts the word, a "~" stem follows a chain of prefixes, shown or not ("ох*ел", "н*хуй"), a "*"
    stem may follow anything. So "б**отоведение" is not taken for "бля…", "отпаив*ет" for "…ебет", "ар***ах"
    for "apeshit", "За**ев" for "…хуе…". Shown letters can still fit by chance: a name hidden by the writer
    ("Бл***ва") may be taken for a bad word, hidden and held for a moderator.
    """
    text = stem.text

    @cache
    def step(item: int, used: int, at: int, shown: int, hidden: int) -> bool:
        # at: the position in the stem, len(text) + n: n letters after it; shown, hidden: letters of the stem.
        if at > len(text) + _LONGEST_ENDING or (at > len(text) and stem.exact):
            return False
        if item == len(pattern):
            return at >= len(text) and hidden <= shown
        current = pattern[item]
        if isinstance(current, str):
            if at < len(text):
                return current == text[at] and step(item + 1, 0, at + 1, shown + 1, hidden)
            return step(item + 1, 0, at + 1, shown, hidden)
        low, high = current
        if used >= low and step(item + 1, 0, at, shown, hidden):
            return True
        return used < high and step(item, used + 1, at + 1, shown, hidden + (at < len(text)))

    return any(step(item, used, 0, 0, 0) for item, used in starts)


def _after_chains(pattern: Pattern, chains: _Trie) -> frozenset[tuple[int, int]]:
    """Where a "~" stem may begin: after a chain of prefixes (none included), its letters shown or hidden."""
    ends = set()
    seen = set()
    todo = [(0, 0, 0)]
    while todo:
        state = todo.pop()
        if state in seen:
            continue
        seen.add(state)
        item, used, node = state
        if node in chains.complete:
            ends.add((item, used))
        if item == len(pattern):
            continue
        current = pattern[item]
        if isinstance(current, str):
            child = chains.children[node].get(current)
            if child is not None:
                todo.append((item + 1, 0, child))
            continue
        low, high = current
        if used >= low:
            todo.append((item + 1, 0, node))
        if used < high:
            todo.extend((item, used + 1, child) for child in chains.children[node].values())
    return frozenset(ends)


def _anywhere(pattern: Pattern) -> frozenset[tuple[int, int]]:
    """Where a "*" stem may begin: anywhere, inside a hidden run too."""
    starts = {(len(pattern), 0)}
    for item, current in enumerate(pattern):
        starts.update((item, used) for used in range(current[1] + 1 if isinstance(current, tuple) else 1))
    return frozenset(starts)


@dataclass(frozen=True)
class _Trie:
    """Every chain of up to two prefixes ("на", "по", "пона"), letter by letter; node 0 is the empty chain."""

    children: tuple[dict[str, int], ...]
    complete: frozenset[int]

    @classmethod
    def of_chains(cls, prefixes: Sequence[str], depth: int = 2) -> _Trie:
        children: list[dict[str, int]] = [{}]
        complete = {0}
        chains = {""}
        for _ in range(depth):
            chains |= {chain + prefix for chain in chains for prefix in prefixes}
        for chain in chains:
            node = 0
            for char in chain:
                if char not in children[node]:
                    children.append({})
                    children[node][char] = len(children) - 1
                node = children[node][char]
            complete.add(node)
        return cls(tuple(children), frozenset(complete))


def _chain_rests(key: str, prefixes: Sequence[str], depth: int = _PREFIX_CHAIN) -> Iterator[str]:
    """What is left of `key` after each chain of up to `depth` prefixes, the empty chain first."""
    yield key
    if depth:
        for prefix in prefixes:
            if key.startswith(prefix):
                yield from _chain_rests(key[len(prefix) :], prefixes, depth - 1)


class ModerationRules:
    """The profanity lexicons (profanity_*.toml in one directory), loaded once and used for every text."""

    def __init__(self, lexicons: Sequence[Lexicon]) -> None:
        self.lexicons = tuple(lexicons)
        # The same words come back in text after text.
        self._profane = lru_cache(maxsize=_CACHED_WORDS)(self._judge)

    @classmethod
    def load(cls, directory: Path | str | None = None) -> ModerationRules:
        directory = Path(directory) if directory is not None else DEFAULT_DIRECTORY
        paths = sorted(directory.glob("profanity_*.toml"))
        if not paths:
            raise ModerationRulesError(f"{directory}: no profanity_*.toml files")
        return cls([_load_lexicon(path) for path in paths])

    # --- Profanity ----------------------------------------------------------------------------------------------

    def find_profanity(self, text: str) -> list[str]:
        """The offending words as written, each once, in order of first appearance."""
        return list(dict.fromkeys(text[start:end] for start, end in self._profane_spans(text)))

    def mask_profanity(self, text: str, placeholder: str = "***") -> str:
        """Each offending word replaced by its first letter and the placeholder: "б***"."""
        pieces = []
        position = 0
        for start, end in self._profane_spans(text):
            pieces += [text[position:start], text[start], placeholder]
            position = end
        pieces.append(text[position:])
        return "".join(pieces)

    def _profane_spans(self, text: str) -> list[tuple[int, int]]:
        spans = [span for found in _SPELLED.finditer(text) if (span := self._spelled_span(found)) is not None]
        for found in _WORD.finditer(text):
            if sum(char.isalpha() for char in found.group()) < _LETTERS:
                continue
            if any(start < found.end() and found.start() < end for start, end in spans):
                continue
            if self._profane(found.group()):
                spans.append((found.start(), found.end()))
        return sorted(spans)

    def _spelled_span(self, spelled: re.Match[str]) -> tuple[int, int] | None:
        """The profane word in a run of single letters, if any: the first and longest ("я х у й" is "я" and
        "хуй"). A one-letter word right after it, with the same separator, goes with it: "б л я т ь и" cannot
        be told from "п и з д а"."""
        letters = [(spelled.start() + at, char) for at, char in enumerate(spelled.group()) if char.isalpha()]

        def word(first: int, last: int) -> str:
            return "".join(char for _, char in letters[first:last])

        for first in range(len(letters) - 2):
            for last in range(min(len(letters), first + _LONGEST_SPELLED), first + 2, -1):
                if self._profane(word(first, last)):
                    return letters[first][0], letters[last - 1][0] + 1
        return None

    def _judge(self, written: str) -> bool:
        word = written.rstrip(_HIDING)  # a trailing "*" is a footnote or a cut, not a hidden letter
        if any(char in _HIDING for char in word):
            shown = sum(char.isalpha() for char in word)
            return (
                shown >= _LETTERS
                and len(word) <= _LONGEST_HIDDEN_WORD
                and any(lexicon.could_be_profane(key) for lexicon in self.lexicons for key in lexicon.keys(word))
            )
        variants = [(lexicon, lexicon.variants(word)) for lexicon in self.lexicons]
        if any(lexicon.is_ordinary(key) for lexicon, keys in variants for key in keys):
            return False
        return any(lexicon.is_profane(key) for lexicon, keys in variants for key in keys)


def _load_lexicon(path: Path) -> Lexicon:
    name = path.name
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ModerationRulesError(f"{path}: cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ModerationRulesError(f"{name}: not valid TOML: {exc}") from None
    _known_keys(data, {"matching", "words"}, name)
    matching = _table(data, "matching", name)
    words = _table(data, "words", name)
    _known_keys(matching, {"fold_kazakh_letters", "prefixes", "lookalikes"}, f"{name}: [matching]")
    _known_keys(words, {"profane", "ordinary"}, f"{name}: [words]")

    fold = matching.get("fold_kazakh_letters", False)
    if not isinstance(fold, bool):
        raise ModerationRulesError(f"{name}: matching.fold_kazakh_letters: must be true or false")
    lookalikes = _table(matching, "lookalikes", f"{name}: [matching]")
    for char, letter in lookalikes.items():
        if len(char) != 1 or not isinstance(letter, str) or len(letter) != 1 or not letter.isalpha():
            raise ModerationRulesError(
                f"{name}: matching.lookalikes: {char!r} = {letter!r}: must map one character to one letter"
            )
    table = str.maketrans(lookalikes)
    prefixes = tuple(_key(prefix, fold) for prefix in _strings(matching, "prefixes", name, required=False))

    stems: list[Stem] = []
    for entry in _strings(words, "profane", name, required=True):
        try:
            stems.extend(Stem.parse_entry(entry, fold))
        except ValueError as exc:
            raise ModerationRulesError(f"{name}: words.profane: {exc}") from None
    if any(stem.after_prefixes for stem in stems) and not prefixes:
        raise ModerationRulesError(f"{name}: words.profane: '~' stems need matching.prefixes")
    ordinary: list[Stem] = []
    for entry in _strings(words, "ordinary", name, required=False):
        if entry.strip()[:1] in "~*":
            raise ModerationRulesError(f"{name}: words.ordinary: {entry!r}: only stems and exact words ('!') here")
        try:
            ordinary.extend(Stem.parse_entry(entry, fold))
        except ValueError as exc:
            raise ModerationRulesError(f"{name}: words.ordinary: {exc}") from None

    def plain(stem: Stem) -> bool:
        return not (stem.after_prefixes or stem.inside)

    return Lexicon(
        name=name,
        fold=fold,
        table=table,
        lookalikes=frozenset(lookalikes),
        scripts=frozenset(_script(letter) for letter in lookalikes.values()),
        prefixes=prefixes,
        chains=_Trie.of_chains(prefixes),
        stems=tuple(stems),
        exact=frozenset(stem.text for stem in stems if plain(stem) and stem.exact),
        starts=tuple(stem.text for stem in stems if plain(stem) and not stem.exact),
        inside=tuple(stem.text for stem in stems if stem.inside),
        after_exact=frozenset(stem.text for stem in stems if stem.after_prefixes and stem.exact),
        after_starts=tuple(stem.text for stem in stems if stem.after_prefixes and not stem.exact),
        ordinary_exact=frozenset(stem.text for stem in ordinary if stem.exact),
        ordinary_starts=tuple(stem.text for stem in ordinary if not stem.exact),
    )


def _table(data: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ModerationRulesError(f"{where}: [{key}] must be a table")
    return value


def _known_keys(data: dict[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        raise ModerationRulesError(f"{where}: unknown key {unknown[0]!r} (expected {', '.join(sorted(known))})")


def _strings(data: dict[str, Any], key: str, name: str, *, required: bool) -> list[str]:
    value = data.get(key)
    if value is None and not required:
        return []
    if not isinstance(value, list) or (required and not value):
        raise ModerationRulesError(f"{name}: {key}: must be a non-empty list of strings")
    if not all(isinstance(item, str) and item.strip() for item in value):
        raise ModerationRulesError(f"{name}: {key}: every item must be a non-empty string")
    return value


# --- Shortcuts with the shipped lexicons -------------------------------------------------------------------------


@lru_cache(maxsize=1)
def default_rules() -> ModerationRules:
    return ModerationRules.load()


def find_profanity(text: str, *, rules: ModerationRules | None = None) -> list[str]:
    return (rules or default_rules()).find_profanity(text)


def mask_profanity(text: str, placeholder: str = "***", *, rules: ModerationRules | None = None) -> str:
    return (rules or default_rules()).mask_profanity(text, placeholder)

