"""The public version of a resident's text or a clinic's answer: personal data (bot/services/personal_data.py), then
profanity (bot/services/profanity.py) hidden; the original is kept beside it."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from bot.services.personal_data import PERSONAL_DATA_KINDS, mask_personal_data
from bot.services.profanity import ModerationRules, default_rules


@dataclass(frozen=True)
class Public:
    text: str
    personal_data: tuple[str, ...]
    # Offending words as written, each once, in order of first appearance.
    profanity: tuple[str, ...]
    changed: bool

    @property
    def needs_moderator(self) -> bool:
        return bool(self.profanity)


def public_version(
    text: str, placeholders: Mapping[str, str] | None = None, *, rules: ModerationRules | None = None,
    keep_phones: Collection[str] = (),
) -> Public:
    """The text as the public sees it: personal data, then profanity, hidden (a clinic's own published phone
    numbers, `keep_phones`, stay). Hold it for a moderator when `needs_moderator` says so."""
    rules = rules or default_rules()
    masked = mask_personal_data(text, placeholders, keep_phones=keep_phones)
    profanity = rules.find_profanity(masked.text)
    public = rules.mask_profanity(masked.text) if profanity else masked.text
    return Public(public, masked.found, tuple(profanity), public != text)


# --- What the public and the clinics read of a stored text ---------------------------------------------------


def masking_placeholders(l10n: Callable[..., str]) -> dict[str, str]:
    """What stands for hidden personal data in a public text, in that language."""
    return {kind: l10n(f"masking.{kind}") for kind in PERSONAL_DATA_KINDS}


def public_text_of(row: Any, l10n: Callable[..., str]) -> str:
    """What the public and the clinic may read of a resident's words or of a clinic's answer: the public version,
    never the original."""
    if row.public_text is not None:
        return str(row.public_text)
    # Stored before texts were screened: screened now as the public would see it (a clinic's own phone in an old
    # answer is hidden too: the safe side for a text nobody checked).
    return public_version(row.text or "", masking_placeholders(l10n)).text
