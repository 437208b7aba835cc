"""Inline keyboards built from locale texts."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import ConsentAction, ConsentChoice, LanguageChoice, MenuAction, MenuChoice
from bot.l10n import LANGUAGES, L10n


def make_language_keyboard(l10n: L10n, preselected: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    # The language Telegram reports comes first and is marked, so most people just press the top button.
    for code in sorted(LANGUAGES, key=lambda code: code != preselected):
        mark = "✓ " if code == preselected else ""
        builder.button(text=mark + l10n(f"language.{code}"), callback_data=LanguageChoice(code=code))
    builder.adjust(1)
    return builder.as_markup()


def make_consent_keyboard(l10n: L10n, version: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=l10n("consent.accept"), callback_data=ConsentChoice(action=ConsentAction.ACCEPT,
                                                                            version=version))
    builder.button(text=l10n("consent.decline"), callback_data=ConsentChoice(action=ConsentAction.DECLINE,
                                                                             version=version))
    builder.adjust(1)
    return builder.as_markup()


MENU_ITEMS = (
    (MenuAction.FEEDBACK, "menu.leave_feedback"),
    (MenuAction.TOP, "menu.top"),
    (MenuAction.MY_REVIEWS, "menu.my_reviews"),
    (MenuAction.RIGHTS, "menu.rights"),
    (MenuAction.LANGUAGE, "menu.language"),
)


def make_main_menu(l10n: L10n) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for action, key in MENU_ITEMS:
        builder.button(text=l10n(key), callback_data=MenuChoice(action=action))
    # One item per row: large targets for elderly residents on small phones.
    builder.adjust(1)
    return builder.as_markup()
