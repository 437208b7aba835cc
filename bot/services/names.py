"""A resident's full name as they type it at the preview: whether a text is shaped as one, and how it is written."""

from __future__ import annotations

import re

# A full name as people write it: two to four words of letters (hyphens and apostrophes inside), initials
# ("Иванова А.С.", "Иванова А. С.", "А.С. Иванова") and a patronymic's separate "кызы"/"оглы"/"ұлы"
# ("Мамедова Севиль Ахмед кызы").
_WORD = re.compile(r"[^\W\d_]+(?:[-'’][^\W\d_]+)*")
_INITIALS = re.compile(r"[^\W\d_]\.(?:[^\W\d_]\.?)?")
_PARTICLES = frozenset({"кызы", "қызы", "оглы", "ұлы", "улы", "kyzy", "qyzy", "ogly", "uly"})


def _name_tokens(text: str) -> list[str] | None:
    """The words of a text shaped as a full name, or None; "А. С." counts as one set of initials."""
    text = re.sub(r"(?<=\.)\s+(?=[^\W\d_]\.)", "", " ".join(text.split()))
    tokens = text.split()
    names = [token for token in tokens if token.lower() not in _PARTICLES]
    if len(text) > 120 or not 2 <= len(names) <= 4 or tokens[0].lower() in _PARTICLES:
        return None
    words = [token for token in names if _WORD.fullmatch(token.rstrip("."))]
    if not words or not all(token in words or _INITIALS.fullmatch(token) for token in names):
        return None  # a surname at least, beside initials ("А.С. Иванова", "Иванова А.С")
    return tokens


def is_name_shaped(text: str) -> bool:
    """Two to four words (or a surname and initials) that can be a full name, however capitalised."""
    return _name_tokens(text) is not None


def looks_like_full_name(text: str) -> bool:
    """A full name written as one: "Иванова Айгуль Сериковна", "Иванова А.С.", not "очень плохо" or "Очень плохо"."""
    tokens = _name_tokens(text)
    return tokens is not None and all(token[0].isupper() for token in tokens if token.lower() not in _PARTICLES)


def may_be_full_name(text: str) -> bool:
    """Shaped as a full name but not capitalised as one ("иванова айгуль сериковна"): a name typed in a hurry, or
    two words of a story; the resident is asked which."""
    tokens = _name_tokens(text)
    return tokens is not None and all(token == token.lower() for token in tokens)


def as_full_name(text: str) -> str:
    """A full name as it is written: each word capitalised (parts after a hyphen or apostrophe too), initials in
    capitals, "кызы" and its kind as they are."""
    def capitalised(token: str) -> str:
        if token.lower() in _PARTICLES:
            return token.lower()
        return re.sub(r"(^|[-'’.])([^\W\d_])", lambda match: match[1] + match[2].upper(), token)

    return " ".join(capitalised(token) for token in _name_tokens(text) or text.split())
