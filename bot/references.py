"""A review's reference number (`AL-2026-000123`), as stored and as people type it: the resident's receipt, /my,
and the office's /case and /cases read it the same way."""

from __future__ import annotations

import re


def reference_of(year: int, number: int) -> str:
    return f"AL-{year}-{number:06d}"


# How people type the reference a receipt gave them: Cyrillic letters that look like A and L, or the letters under
# A and L on a keyboard left in Russian (ф, д); any dash, a dot or a slash between the parts, spaces, a "№" before.
_LOOK_ALIKE = str.maketrans({"А": "A", "Л": "L", "Ф": "A", "Д": "L", "–": "-", "—": "-", "−": "-", "‑": "-",
                             ".": "-", "/": "-", "_": "-"})
_TYPED_REFERENCE = re.compile(r"(?:№|#|NO)?\s*AL\s*-?\s*(20[0-9]{2})\s*-?\s*([0-9]{1,6})", re.ASCII)


def typed_reference(text: str) -> str | None:
    """The reference a message consists of (`al 2026 1`, `№ АЛ-2026-000001`), written as stored; None for anything
    else, a story that mentions one included."""
    match = _TYPED_REFERENCE.fullmatch(text.strip().upper().translate(_LOOK_ALIKE))
    if match is None or int(match.group(2)) == 0:
        return None
    return reference_of(int(match.group(1)), int(match.group(2)))


_NUMBER_SIGN = re.compile(r"(?:№|#)\s*([0-9]{1,6})", re.ASCII)


def number_after_sign(text: str) -> int | None:
    """The number of a message that is "№ 123" or "#123" alone: how a resident may remember her reference (or a
    polyclinic's number: the caller decides which it is)."""
    match = _NUMBER_SIGN.fullmatch(text.strip())
    return int(match.group(1)) if match is not None and int(match.group(1)) > 0 else None


# The reference without its letters, as read off a paper copy: the year and all six digits of the number (2026000123,
# "2026 000123"). Ten digits beginning with 20 are never a phone number of +7 (Kazakhstan's ten national digits
# begin with 7, the rest of +7's with 3 to 9; eleven carry an 8 or a 7 before them), so the two are not confused.
_BARE_REFERENCE = re.compile(r"(20[0-9]{2})[\s-]?([0-9]{6})", re.ASCII)


def bare_reference(text: str) -> str | None:
    """The reference a message of its digits alone names (`2026000123`), written as stored; None for anything else."""
    match = _BARE_REFERENCE.fullmatch(text.strip().translate(_LOOK_ALIKE))
    if match is None or int(match.group(2)) == 0:
        return None
    return reference_of(int(match.group(1)), int(match.group(2)))


def office_reference(words: str, year: int) -> str | None:
    """What the office types after /case or /cases: a reference in any form a resident would type it, its digits
    alone (`2026000123`), or just its number (`123`, taken as this year's)."""
    word = words.strip()
    if word.isascii() and word.isdigit() and len(word) <= 6 and int(word) > 0:
        return reference_of(year, int(word))
    return bare_reference(word) or typed_reference(word)
