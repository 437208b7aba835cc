"""A text as the urgency rules read it: normalised words with their sentence, clause and contrast segment."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from bot.services import urgency_text

KAZAKH_LETTERS = frozenset("әіңғүұқөһ")
# Latin letters that look Cyrillic, typed by mistake inside a Cyrillic word ("взяткa" with a Latin "a").
_LATIN_LOOKALIKES = str.maketrans("aeopcxyki", "аеорсхукі")
# Matching Kazakh goes one step further than `fold_kazakh`: people also type ы for і and the reverse.
_KAZAKH_DEEP_FOLD = str.maketrans("әіңғүұқөһы", "аингуукохи")
# Words, and the punctuation that ends a sentence or a clause (a hyphen only counts as a dash between spaces).
# A sum written with thousands separators ("3,000", "50 000", "10.000") is one number.
_TOKEN = re.compile(r"(?<![\d.,])\d{1,3}(?:[,.\u00a0 ]\d{3})+(?!\d|[,.]\d)|\w+|[.!?;:,()\n—–«»\"]|\s-+\s")
_SEPARATORS = str.maketrans("", "", ",. \u00a0")
_SENTENCE_END = frozenset(".!?\n")


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
    return word.translate(urgency_text.KAZAKH_FOLD)  # lexicons that ask for it match through this fold


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
        norm = normalise(piece) if not piece[0].isdigit() else piece.translate(_SEPARATORS)
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


_KAZAKH_QUESTION_PARTICLES = frozenset({"ма", "ме", "ба", "бе", "па", "пе"})


def question_sentences(text: str, tokens: list[Token] | None = None) -> frozenset[int]:
    """The sentences (numbered as `tokenize` numbers them) that end with a question mark; given the text's
    tokens, also those that end on a Kazakh question particle without one ("тегін бе, ақылы ма")."""
    asked = set()
    sentence = 0
    for found in _TOKEN.finditer(text):
        piece = found.group()
        if piece in _SENTENCE_END:
            if piece == "?":
                asked.add(sentence)
            sentence += 1
    tokens = tokens or []
    for index, token in enumerate(tokens):
        last_in_sentence = index + 1 == len(tokens) or tokens[index + 1].sentence != token.sentence
        if token.folded in _KAZAKH_QUESTION_PARTICLES and last_in_sentence:
            asked.add(token.sentence)
    return frozenset(asked)


def detect_language(text: str) -> str:
    """Roughly: Kazakh-only letters mean kk, other Cyrillic means ru, anything else en."""
    lowered = text.lower()
    if any(char in KAZAKH_LETTERS for char in lowered):
        return "kk"
    if any("а" <= char <= "я" or char == "ё" for char in lowered):
        return "ru"
    return "en"
