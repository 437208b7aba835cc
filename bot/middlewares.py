"""Update middlewares inside the unit of work (bot/unit_of_work.py): the person's language, a flood guard."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.dispatcher.middlewares.user_context import EVENT_FROM_USER_KEY
from aiogram.types import TelegramObject, Update, User

from bot.l10n import Translator

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class LanguageMiddleware(BaseMiddleware):
    """Injects `user` (the stored User or None) and `l10n` in the person's chosen or Telegram language."""

    def __init__(self, translator: Translator) -> None:
        self.translator = translator

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        telegram_user: User | None = data.get(EVENT_FROM_USER_KEY)
        user = None
        language = self.translator.default
        if telegram_user is not None:
            user = await data["repo"].users.by_telegram_id(telegram_user.id)
            language = (user.language if user else None) or self.translator.pick(telegram_user.language_code)
        return await handler(event, {**data, "user": user, "l10n": self.translator[language]})


class FloodGuard(BaseMiddleware):
    """More than `limit` updates from one person within `window` seconds: the rest are ignored until calm, and
    the person is told so at most once a window (a hint per ignored update would itself be a flood).

    An album of ten photos is ten updates at once, so the limit is well above what a person does by hand.
    Memory is bounded: a person quiet for a whole window is forgotten (swept every `window` seconds).
    """

    def __init__(self, limit: int = 30, window: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._recent: dict[int, deque[float]] = {}
        self._hinted: dict[int, float] = {}
        self._swept = clock()

    def __len__(self) -> int:
        return len(self._recent) + len(self._hinted)

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        person: User | None = data.get(EVENT_FROM_USER_KEY)
        if person is None:
            return await handler(event, data)
        now = self.clock()
        self._sweep(now)
        recent = self._recent.setdefault(person.id, deque())
        while recent and recent[0] <= now - self.window:
            recent.popleft()
        if len(recent) < self.limit:
            recent.append(now)
            return await handler(event, data)
        if now - self._hinted.get(person.id, float("-inf")) >= self.window:
            self._hinted[person.id] = now
            await _tell(event, data["l10n"]("errors.flood"))
        log.info("flood: update %s ignored", getattr(event, "update_id", None))  # no Telegram id in logs
        return None

    def _sweep(self, now: float) -> None:
        if now - self._swept < self.window:
            return
        self._swept = now
        since = now - self.window
        self._recent = {person: moments for person, moments in self._recent.items() if moments and moments[-1] > since}
        self._hinted = {person: moment for person, moment in self._hinted.items() if moment > since}


async def _tell(update: TelegramObject, text: str) -> None:
    if isinstance(update, Update) and update.callback_query is not None:
        await update.callback_query.answer(text, show_alert=True)
    elif isinstance(update, Update) and update.message is not None:
        await update.message.answer(text)
