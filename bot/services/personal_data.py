"""Personal data in a resident's text (phones, IINs, e-mail addresses, payment cards), hidden behind a placeholder.

What the public and a polyclinic read is screened here first, then for profanity (bot/services/profanity.py); the
two together make the public version (bot/services/moderation.py)."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass

PERSONAL_DATA_KINDS = ("phone", "iin", "email", "card")
DEFAULT_PLACEHOLDERS: Mapping[str, str] = {
    "phone": "[phone hidden]",
    "iin": "[IIN hidden]",
    "email": "[e-mail hidden]",
    "card": "[card hidden]",
}


@dataclass(frozen=True)
class Masked:
    text: str
    # Kinds of personal data found, each once, in order of first appearance.
    found: tuple[str, ...]


_EMAIL = re.compile(
    r"(?<![\w.+-])[\w.+-]+(?:@|[ \t]?[\[(][ \t]?(?:at|собака)[ \t]?[\])][ \t]?)"
    r"(?:[\w-]+(?:\.|[ \t]?[\[(][ \t]?dot[ \t]?[\])][ \t]?))+[^\W\d_]{2,}(?![\w@])",
    re.IGNORECASE,
)
# Digit groups joined by a space, a dash or brackets: "+7 (701) 123-45-67", "4400 4301 2345 6789", "30 000".
# A dot never joins: dates, decimals.
_NUMBER_RUN = re.compile(
    r"(?<![0-9+_])(?P<plus>\+[ \t\u00a0]?)?\(?[0-9]+\)?"
    r"(?:(?:[ \t\u00a0]*-[ \t\u00a0]*|[ \t\u00a0]{1,2}|(?<=\))|(?=\())\(?[0-9]+\)?)*"
)
_DIGIT_GROUP = re.compile(r"\(?[0-9]+\)?")
_LONGEST_NUMBER = 19


def _digits_key(number: str) -> str:
    """A phone as its last ten digits: "+7 727 000 00 17", "8 (727) 000-00-17" and "7270000017" are one number."""
    return "".join(char for char in number if char.isdigit())[-10:]


def mask_personal_data(text: str, placeholders: Mapping[str, str] | None = None, *,
                       keep_phones: Collection[str] = ()) -> Masked:
    """Hide phone numbers, IINs, e-mail addresses and payment card numbers behind a readable placeholder each.

    `placeholders` maps a kind ("phone", "iin", "email", "card") to its text, usually from the locale; kinds
    left out keep the English default. Ordinary numbers stay: dates, times, amounts, clinic and room numbers,
    references. How a number is judged (see `_number_kind`):
      * "+" and 10 to 15 digits: a phone (any country).
      * 11 digits starting with 8 or 7 (8 701 ..., 7 727 ...), 10 digits starting with 7 (701 123 45 67) or
        with the area code in brackets, 7 digits written 123-45-67: a phone. Amounts written in thousands
        ("7 000 000 000") are not phones.
      * 12 digits, unbroken or 6+6: an IIN/ЖСН. Every such number is hidden, checksum or not: a mistyped IIN
        is still one, and a business BIN (same form) loses nothing by being hidden.
      * 16 digits unbroken or in fours: a card, always. Other 13 to 19 digit numbers written like a card
        (unbroken, in fours, or 4-6-5 / 4-6-4) only when the Luhn check passes, so that other long numbers stay.
    """
    chosen = _placeholders(placeholders)
    # A polyclinic's own published numbers (from the directory) stay in its answers: they are no one's secret.
    kept = {_digits_key(phone) for phone in keep_phones if _digits_key(phone)}
    spans: list[tuple[int, int, str]] = [(found.start(), found.end(), "email") for found in _EMAIL.finditer(text)]
    for run in _NUMBER_RUN.finditer(text):
        if any(start < run.end() and run.start() < end for start, end, _ in spans):
            continue  # digits inside an e-mail address
        spans.extend(span for span in _number_spans(run)
                     if not (span[2] == "phone" and _digits_key(text[span[0]:span[1]]) in kept))
    spans.sort()
    pieces: list[str] = []
    found: list[str] = []
    position = 0
    for start, end, kind in spans:
        pieces.append(text[position:start])
        pieces.append(chosen[kind])
        position = end
        if kind not in found:
            found.append(kind)
    pieces.append(text[position:])
    return Masked("".join(pieces), tuple(found))


def _placeholders(placeholders: Mapping[str, str] | None) -> dict[str, str]:
    chosen = dict(DEFAULT_PLACEHOLDERS)
    for kind, placeholder in (placeholders or {}).items():
        if kind not in PERSONAL_DATA_KINDS:
            raise ValueError(f"unknown personal data kind {kind!r} (expected {', '.join(PERSONAL_DATA_KINDS)})")
        chosen[kind] = placeholder
    return chosen


def _number_spans(run: re.Match[str]) -> Iterator[tuple[int, int, str]]:
    """Phones, IINs and cards in one run of digit groups. The run may also hold ordinary numbers next to them
    ("кабинет 204 87011234567"): from the left, the longest stretch of whole groups that is one of them wins."""
    groups = [
        (run.start() + group.start(), run.start() + group.end(), group.group())
        for group in _DIGIT_GROUP.finditer(run.group(), run.end("plus") - run.start() if run.group("plus") else 0)
    ]
    start = 0
    while start < len(groups):
        plus = start == 0 and run.group("plus") is not None
        for length in range(min(len(groups) - start, _LONGEST_NUMBER), 0, -1):
            chosen = groups[start : start + length]
            kind = _number_kind([text for _, _, text in chosen], plus)
            if kind is not None:
                begin = run.start() if plus else chosen[0][0]
                yield (*_without_outer_brackets(run.string, begin, chosen[-1][1]), kind)
                start += length
                break
        else:
            start += 1


def _without_outer_brackets(text: str, begin: int, end: int) -> tuple[int, int]:
    """Leave a bracket around the number to the text: "(тел. 87011234567)", "(87011234567)"."""
    piece = text[begin:end]
    if piece.endswith(")") and (piece.count(")") > piece.count("(") or piece.find(")") == len(piece) - 1):
        end -= 1
        piece = piece[:-1]
    if piece.startswith("(") and piece.count("(") > piece.count(")"):
        begin += 1
    return begin, end


def _number_kind(groups: Sequence[str], plus: bool) -> str | None:
    """What a number written as these digit groups is ("(701)" keeps its brackets), or None for an ordinary one."""
    digits = "".join(group.strip("()") for group in groups)
    sizes = [len(group.strip("()")) for group in groups]
    count = len(digits)
    if count > _LONGEST_NUMBER:
        return None
    if plus:
        # +7 numbers have 11 digits; then stop, or "+7 701 123 45 67 2 раза" would take the 2.
        return "phone" if (count == 11 if digits[0] == "7" else 10 <= count <= 15) else None
    if 13 <= count <= 19 and _written_like_card(sizes):
        if (count == 16 and all(size in (4, 16) for size in sizes)) or _luhn_valid(digits):
            return "card"
    if count == 12 and (len(sizes) == 1 or sizes == [6, 6]):
        return "iin"
    in_thousands = len(sizes) > 1 and sizes[0] <= 3 and all(size == 3 for size in sizes[1:])
    if in_thousands:
        return None
    if count == 11 and digits[0] in "78" and digits[1] in "34789":
        return "phone"
    if count == 10 and (digits[0] == "7" or groups[0].startswith("(")):
        return "phone"
    if sizes == [3, 2, 2]:
        return "phone"
    return None


def _written_like_card(sizes: Sequence[int]) -> bool:
    in_fours = all(size == 4 for size in sizes[:-1]) and sizes[-1] >= 3
    return len(sizes) == 1 or in_fours or sizes in ([4, 6, 5], [4, 6, 4])


def _luhn_valid(digits: str) -> bool:
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0
