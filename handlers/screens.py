"""Screens several features show: the main menu, the consent request, and the question before a review is dropped.

Here rather than in handlers/start.py, which begins reviews (handlers/feedback) and so cannot be imported by them."""

from __future__ import annotations

from aiogram.methods import SendMessage
from aiogram.types import Message

from bot.keyboards import make_consent_keyboard, make_main_menu
from bot.l10n import L10n
from bot.services import people


async def show_consent(message: Message, l10n: L10n) -> None:
    await message.answer(
        l10n("consent.text", version=people.CONSENT_VERSION),
        reply_markup=make_consent_keyboard(l10n, people.CONSENT_VERSION),
    )


def show_menu(message: Message, l10n: L10n) -> SendMessage:
    return message.answer(l10n("menu.title"), reply_markup=make_main_menu(l10n))


def cancel_question(l10n: L10n, draft: dict) -> str:
    """Asked before an unfinished review is thrown away: what exactly would be lost (the words, the files, both)."""
    files = len(draft.get("media", [])) + (1 if draft.get("voice") else 0)
    if not files:
        return l10n("cancel.confirm_text")
    key = "cancel.confirm_both" if draft.get("text") else "cancel.confirm_files"
    return l10n(key, files=l10n.count("files", files))
