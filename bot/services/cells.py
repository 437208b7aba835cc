"""Spreadsheet cells that are text, never formulas: what residents and operators wrote must not run in Excel."""

from __future__ import annotations

from typing import Any

# A cell starting with one of these is a formula to Excel and LibreOffice (OWASP: CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def escaped(value: Any) -> Any:
    """A CSV cell: text that would start a formula gets a leading apostrophe, which spreadsheets hide."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def unescaped(value: Any) -> Any:
    """The inverse of `escaped`, for files the project wrote and an operator imports again."""
    if isinstance(value, str) and value.startswith("'") and value[1:].startswith(FORMULA_START):
        return value[1:]
    return value
