"""aiogram FSM storage kept in the database, so a conversation survives a restart of the bot.

Inside an update's transaction (bot/unit_of_work.py) a conversation is read once (together with the update's
record) and written once, before the commit, however often the handlers read or change it; see `FsmRepo`.
Outside one (a test, a scheduled job) each call is a short transaction of its own.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, KeyBuilder, StateType, StorageKey
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.engine import active_session
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

    def record_key(self, key: StorageKey) -> str:
        """The fsm_records key of an aiogram storage key."""
        return self.key_builder.build(key)

    @asynccontextmanager
    async def _records(self) -> AsyncIterator[FsmRepo]:
        session = active_session.get()
        if session is not None:
            yield FsmRepo(session)  # the unit of work writes the changes before it commits
            return
        async with self.pool() as session, session.begin():
            records = FsmRepo(session)
            yield records
            await records.write_changes(self.clock())

    async def chat_moved(self, old_chat_id: int, new_chat_id: int) -> int:
        """The conversations held in a chat go on under its new id (Telegram upgraded a group to a supergroup), in
        the update's transaction when there is one; returns how many moved."""
        async with self._records() as records:
            return await records.move(self._chat_prefix(old_chat_id), self._chat_prefix(new_chat_id))

    def _chat_prefix(self, chat_id: int) -> str:
        """How every key of the chat's conversations begins: DefaultKeyBuilder puts the chat's id first after its
        prefix, unless the key names the bot or a business connection first (this storage's keys do not)."""
        builder = self.key_builder
        if not isinstance(builder, DefaultKeyBuilder) or builder.with_bot_id or builder.with_business_connection_id:
            raise NotImplementedError("conversations can be moved to a chat's new id only with DefaultKeyBuilder "
                                      "keys that begin with the chat")
        return f"{builder.prefix}{builder.separator}{chat_id}{builder.separator}"

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        async with self._records() as records:
            await records.change(self.record_key(key), state=value)

    async def get_state(self, key: StorageKey) -> str | None:
        async with self._records() as records:
            return (await records.load(self.record_key(key))).state

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        async with self._records() as records:
            await records.change(self.record_key(key), data=copy.deepcopy(dict(data)))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        async with self._records() as records:
            return copy.deepcopy((await records.load(self.record_key(key))).data)

    async def close(self) -> None:
        """The pool belongs to the application, which disposes of it."""


async def move_chat_conversations(storage: BaseStorage, bot_id: int, old_chat_id: int, new_chat_id: int) -> int:
    """The conversations held in a chat go on under its new id (a group upgraded to a supergroup), whichever
    storage keeps them; returns how many keys moved.

    In Redis (several instances) the move is not part of the update's transaction: it is done at once, and doing it
    again (the update retried) finds nothing left to move. A conversation already begun under the new id is kept."""
    if isinstance(storage, DatabaseStorage):
        return await storage.chat_moved(old_chat_id, new_chat_id)
    from aiogram.fsm.storage.redis import RedisStorage  # only when Redis is configured: it needs the redis package

    if not isinstance(storage, RedisStorage):
        return 0
    builder = storage.key_builder
    if not isinstance(builder, DefaultKeyBuilder) or builder.with_business_connection_id:
        raise NotImplementedError("conversations can be moved to a chat's new id only with DefaultKeyBuilder keys")
    head = [builder.prefix, *([str(bot_id)] if builder.with_bot_id else [])]
    old_prefix = builder.separator.join([*head, str(old_chat_id)]) + builder.separator
    new_prefix = builder.separator.join([*head, str(new_chat_id)]) + builder.separator
    moved = 0
    async for key in storage.redis.scan_iter(match=old_prefix + "*"):  # ids are digits and "-": nothing to escape
        name = key.decode() if isinstance(key, bytes) else key
        if name.endswith(builder.separator + "lock"):
            continue  # RedisEventIsolation's lock, held by this very update: moving it would lose it
        moved += bool(await storage.redis.renamenx(name, new_prefix + name[len(old_prefix):]))
    return moved
