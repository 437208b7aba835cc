"""The record of handled updates (a redelivered update is skipped), read together with what every update needs."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached

from storage.models import (
    FsmRecord,
    ProcessedUpdate,
    User,
)
from storage.repositories.conversations import FsmRepo
from storage.repositories.users import UserRepo


@cache
def _record_update(dialect: str, with_conversation: bool, with_person: bool) -> Any:
    # Built once per shape: building this statement on every update cost more Python time than running it. On the
    # tables, not the ORM classes: an ORM-enabled INSERT goes through the ORM's bulk-insert machinery and builds a
    # new statement (and its cache key) on every execution.
    insert_for = postgresql.insert if dialect == "postgresql" else sqlite.insert
    updates, records, users = ProcessedUpdate.__table__, FsmRecord.__table__, User.__table__
    statement = insert_for(updates).values(
        update_id=bindparam("update_id"), processed_at=bindparam("processed_at")).on_conflict_do_nothing()
    columns: list[Any] = []
    if with_conversation:
        key = bindparam("conversation", type_=records.c.key.type)
        columns += [select(records.c[name]).where(records.c.key == key).scalar_subquery().label(f"fsm_{name}")
                    for name in ("key", "state", "data")]
    if with_person:
        person = bindparam("person", type_=users.c.telegram_id.type)
        columns += [select(column).where(users.c.telegram_id == person).scalar_subquery().label(f"user_{column.key}")
                    for column in users.columns]
    return statement.returning(updates.c.update_id, *columns)


class UpdateRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def mark_processed(self, update_id: int, now: datetime, conversation: str | None = None,
                             person: int | None = None) -> bool:
        """Record the update; False when it was already handled (a redelivery).

        The same statement reads what every update needs next: the conversation's state (`conversation`, an
        fsm_records key) and the stored person (`person`, a Telegram id), so the start of an update costs one round
        trip. SQLite and PostgreSQL both allow subqueries in RETURNING."""
        statement = _record_update(self.session.bind.dialect.name, conversation is not None, person is not None)
        params = {"update_id": update_id, "processed_at": now, "conversation": conversation, "person": person}
        # On the session's connection: a Core statement needs none of the ORM's execution (nothing to autoflush yet).
        row = (await (await self.session.connection()).execute(statement, params)).first()
        if row is None:
            return False
        if conversation is not None:
            stored = row.fsm_key is not None
            FsmRepo(self.session).remember(conversation, _Prefixed(row, "fsm_") if stored else None)
        if person is not None:
            user = None
            if row.user_id is not None:
                user = User(**{column.key: getattr(row, f"user_{column.key}") for column in User.__table__.columns})
                make_transient_to_detached(user)  # as if just loaded: no SELECT, and nothing to flush
                self.session.add(user)
            UserRepo(self.session).remember(person, user)
        return True

    async def forget_older_than(self, moment: datetime) -> int:
        result = await self.session.execute(delete(ProcessedUpdate).where(ProcessedUpdate.processed_at < moment))
        return result.rowcount


class _Prefixed:
    """The columns of a row whose labels start with `prefix`, under their names without it."""

    def __init__(self, row: Any, prefix: str) -> None:
        self._row, self._prefix = row, prefix

    def __getattr__(self, name: str) -> Any:
        return getattr(self._row, self._prefix + name)
