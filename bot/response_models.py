"""Keeps aiogram's parametrised `Response[T]` models alive for the life of the process.

Every Bot API answer is parsed with `Response[method.__returning__]`. pydantic caches parametrised generics in a
weak dictionary, so once the garbage collector frees one (any busy process produces the garbage that triggers a
collection) the next call builds the whole class again: about 3 ms of schema building, 19% of the review flow's
time before this existed. There are only some forty distinct return types, built once here in about 30 ms.
"""

from __future__ import annotations

from typing import Any

import aiogram.methods
from aiogram.methods.base import Response, TelegramMethod

# Process-wide on purpose: the point is a strong reference that outlives every Bot and Dispatcher.
_KEPT: dict[Any, type[Response[Any]]] = {}


def returning_types() -> set[Any]:
    """The `__returning__` type of every Bot API method aiogram knows."""
    types = set()
    for name in dir(aiogram.methods):
        method = getattr(aiogram.methods, name)
        if isinstance(method, type) and issubclass(method, TelegramMethod) and method is not TelegramMethod:
            types.add(method.__returning__)
    return types


def keep_response_models() -> int:
    """Build (once) and hold `Response[T]` for every method's return type; returns how many are held."""
    if not _KEPT:
        for returning in returning_types():
            _KEPT[returning] = Response[returning]
    return len(_KEPT)
