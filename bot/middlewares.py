"""Update middlewares: one transaction per update with redelivery skipped, then the user's language."""

from __future__ import annotations

import logging
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
                return await handler(event, {**data, "repo": repo, "now": now})
            finally:
                active_session.reset(token)


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
