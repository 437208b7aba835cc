"""Telegram's limits on a message, and one way to measure against them, shared by whatever makes or sends one."""

from __future__ import annotations

TEXT_LIMIT = 4096  # of a message's text
CAPTION_LIMIT = 1024  # of a file's caption


def telegram_length(text: str) -> int:
    """The length of `text` as Telegram may count it against its limits: in UTF-16 code units (an emoji is two) of
    the text as sent, markup included. Telegram counts no more than that, so a part measured so is never refused,
    and the part a page splits and the room the relay looks for when it marks a repeat are measured alike."""
    return len(text.encode("utf-16-le")) // 2
