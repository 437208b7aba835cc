"""Residents, looked up by Telegram id at most once per transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    User,
)

# session.info key of the people this transaction already looked up by Telegram id (None: not stored).
_PEOPLE = "people_by_telegram_id"


class UserRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def remember(self, telegram_id: int, user: User | None) -> None:
        self.session.info.setdefault(_PEOPLE, {})[telegram_id] = user

    async def by_telegram_id(self, telegram_id: int) -> User | None:
        known = self.session.info.get(_PEOPLE, {})
        if telegram_id in known:  # read with the update's record, or earlier in this transaction
            user = known[telegram_id]
            if user is None or (user.telegram_id == telegram_id and user in self.session):
                return user
        user = await self.session.scalar(select(User).where(User.telegram_id == telegram_id))
        self.remember(telegram_id, user)
        return user

    async def get(self, user_id: int) -> User | None:
        return await self.session.get(User, user_id)

    async def get_or_create(self, telegram_id: int, now: datetime, first_name: str | None = None) -> User:
        user = await self.by_telegram_id(telegram_id)
        if user is None:
            user = User(telegram_id=telegram_id, first_name=first_name, created_at=now)
            self.session.add(user)
            await self.session.flush()
            self.remember(telegram_id, user)
        return user
