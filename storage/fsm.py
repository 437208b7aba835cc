"""aiogram FSM storage kept in the database, so a conversation survives a restart of the bot."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, KeyBuilder, StateType, StorageKey
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.engine import transaction
from storage.repositories import FsmRepo


def _utcnow() -> datetime:
    return datetime.now(UTC)


class DatabaseStorage(BaseStorage):
    def __init__(
        self,
        pool: async_sessionmaker[AsyncSession],
        key_builder: KeyBuilder | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.pool = pool
        self.key_builder = key_builder or DefaultKeyBuilder(with_destiny=True)
        self.clock = clock

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        async with transaction(self.pool) as session:
            await FsmRepo(session).put(self.key_builder.build(key), self.clock(), state=value)

    async def get_state(self, key: StorageKey) -> str | None:
        async with transaction(self.pool) as session:
            record = await FsmRepo(session).get(self.key_builder.build(key))
            return record.state if record else None

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        async with transaction(self.pool) as session:
            await FsmRepo(session).put(self.key_builder.build(key), self.clock(), data=copy.deepcopy(dict(data)))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        async with transaction(self.pool) as session:
            record = await FsmRepo(session).get(self.key_builder.build(key))
            return copy.deepcopy(record.data) if record else {}

    async def close(self) -> None:
        """The pool belongs to the application, which disposes of it."""
