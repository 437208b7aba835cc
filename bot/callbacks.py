"""Callback data factories: the only way buttons carry data (never trusted: handlers re-check the state)."""

from __future__ import annotations

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData


class MenuAction(StrEnum):
    FEEDBACK = "feedback"
    TOP = "top"
    MY_REVIEWS = "my"
    RIGHTS = "rights"
    LANGUAGE = "language"


class ConsentAction(StrEnum):
    ACCEPT = "accept"
    DECLINE = "decline"


class LanguageChoice(CallbackData, prefix="lang"):
    code: str


class ConsentChoice(CallbackData, prefix="consent"):
    action: ConsentAction
    version: str


class MenuChoice(CallbackData, prefix="menu"):
    action: MenuAction
