"""Update middlewares: one transaction per update with redelivery skipped, the user's language, a flood guard."""

from __future__ import annotations

import logging
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiogram import BaseMiddleware
from aiogram.dispatcher.middlewares.user_context import EVENT_FROM_USER_KEY
from aiogram.types import TelegramObject, Update, User
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.l10n import Translator
from storage.engine import active_session
from storage.repositories import Repositories

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class TransactionMiddleware(BaseMiddleware):
    """Opens the update's one transaction, injects `repo` and `now`; commits on return, rolls back on error."""

    def __init__(self, pool: async_sessionmaker[AsyncSession], clock: Callable[[], datetime]) -> None:
        self.pool = pool
        self.clock = clock

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        now = self.clock()
        async with self.pool() as session, session.begin():
            repo = Repositories(session)
            if not await repo.updates.mark_processed(event.update_id, now):
                log.info("update %s was already handled: skipped", event.update_id)
                return None
            token = active_session.set(session)
            try:
                result = await handler(event, {**data, "repo": repo, "now": now})
            finally:
                active_session.reset(token)
        if session.info.get("outbox_added") and (relay := data.get("relay")) is not None:
            relay.wake()  # only now, after the commit, can the relay see the new rows
        return result


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
    """More than `limit` updates from one person within `window` seconds: told once, the rest ignored until calm.

    An album of ten photos is ten updates at once, so the limit is well above what a person does by hand.
    """

    def __init__(self, limit: int = 30, window: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._recent: dict[int, deque[float]] = defaultdict(deque)
        self._warned: set[int] = set()

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        person: User | None = data.get(EVENT_FROM_USER_KEY)
        if person is None:
            return await handler(event, data)
        now = self.clock()
        recent = self._recent[person.id]
        while recent and recent[0] <= now - self.window:
            recent.popleft()
        if len(recent) < self.limit:
            recent.append(now)
            self._warned.discard(person.id)
            return await handler(event, data)
        if person.id not in self._warned:
            self._warned.add(person.id)
            await _tell(event, data["l10n"]("errors.flood"))
        log.info("flood from user %s: update %s ignored", person.id, getattr(event, "update_id", None))
        return None


async def _tell(update: TelegramObject, text: str) -> None:
    if isinstance(update, Update) and update.callback_query is not None:
        await update.callback_query.answer(text, show_alert=True)
    elif isinstance(update, Update) and update.message is not None:
        await update.message.answer(text)
