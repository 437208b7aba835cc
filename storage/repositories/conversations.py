"""Conversation (FSM) states, read at most once and written at most once per transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    FsmRecord,
)


@dataclass
class Conversation:
    """One conversation state as the update's transaction sees it; `changed` until written back."""

    state: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    stored: bool = False  # a row exists in fsm_records
    changed: bool = False


@cache
def _save_conversation(dialect: str) -> Any:
    # On the table, not the ORM class (see _record_update): built once, executed as it is.
    insert_for = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert_for(FsmRecord.__table__)
    return statement.on_conflict_do_update(
        index_elements=[FsmRecord.__table__.c.key],
        set_={"state": statement.excluded.state, "data": statement.excluded.data,
              "updated_at": statement.excluded.updated_at})


_FORGET_CONVERSATION = FsmRecord.__table__.delete().where(FsmRecord.__table__.c.key == bindparam("key"))


# session.info key of the conversations read or changed in the session's transaction.
_CONVERSATIONS = "conversations"


class FsmRepo:
    """Conversation states, read at most once and written at most once per key and transaction: reads and
    changes go to a copy kept in the session's info, and `write_changes` (before the commit) stores each changed
    one with a single upsert, or a delete when it was cleared."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _cached(self) -> dict[str, Conversation]:
        return self.session.info.setdefault(_CONVERSATIONS, {})

    def remember(self, key: str, row: Any | None) -> Conversation:
        """Keep what a query read (a row with `state` and `data`, or None when there is none) as `key`'s state."""
        conversation = Conversation(row.state, dict(row.data or {}), True) if row is not None else Conversation()
        self._cached()[key] = conversation
        return conversation

    async def load(self, key: str) -> Conversation:
        conversation = self._cached().get(key)
        if conversation is None:
            row = (await self.session.execute(
                select(FsmRecord.state, FsmRecord.data).where(FsmRecord.key == key))).first()
            conversation = self.remember(key, row)
        return conversation

    async def change(self, key: str, **fields: Any) -> None:
        conversation = await self.load(key)
        for name, value in fields.items():
            setattr(conversation, name, value)
        conversation.changed = True

    def forget(self, keys: Sequence[str]) -> None:
        """The rows of `keys` were deleted: what this transaction read or changed of them is void."""
        cached = self._cached()
        for key in keys:
            cached[key] = Conversation()

    async def move(self, old_prefix: str, new_prefix: str) -> int:
        """Every conversation whose key starts with `old_prefix` goes on under `new_prefix` instead (a chat's new
        id), at once, in this transaction; one already under the new key (begun there since) is the one kept.
        Returns how many were moved."""
        old_keys = list(await self.session.scalars(
            select(FsmRecord.key).where(FsmRecord.key.startswith(old_prefix, autoescape=True))))
        renamed = {key: new_prefix + key[len(old_prefix):] for key in old_keys}
        cached = self._cached()
        taken = set(await self.session.scalars(select(FsmRecord.key).where(FsmRecord.key.in_(renamed.values()))))
        taken |= {key for key in renamed.values() if key in cached and cached[key].changed}
        moved = 0
        for old_key, new_key in renamed.items():
            if new_key in taken:
                await self.session.execute(delete(FsmRecord).where(FsmRecord.key == old_key)
                                           .execution_options(synchronize_session=False))
            else:
                await self.session.execute(update(FsmRecord).where(FsmRecord.key == old_key).values(key=new_key)
                                           .execution_options(synchronize_session=False))
                cached.pop(new_key, None)  # read as absent earlier in this transaction: read again when asked
                moved += 1
            cached.pop(old_key, None)
        return moved

    async def write_changes(self, now: datetime) -> int:
        """Store every changed conversation (one statement each); returns how many statements were run."""
        written = 0
        for key, conversation in self._cached().items():
            if not conversation.changed:
                continue
            conversation.changed = False
            if conversation.state is None and not conversation.data:
                if conversation.stored:  # a finished conversation leaves no row behind
                    await self.session.execute(_FORGET_CONVERSATION, {"key": key})
                    conversation.stored, written = False, written + 1
                continue
            # The session's connection, as in mark_processed; ORM changes still pending are flushed at the commit.
            await (await self.session.connection()).execute(
                _save_conversation(self.session.bind.dialect.name),
                {"key": key, "state": conversation.state, "data": conversation.data, "updated_at": now})
            conversation.stored, written = True, written + 1
        return written
