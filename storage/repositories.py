"""Repositories named by intent, and the Repositories facade injected into handlers. All SQL lives here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    AuditLog,
    Base,
    Clinic,
    District,
    Doctor,
    FsmRecord,
    ProcessedUpdate,
    Role,
    Specialty,
    StaffRole,
    User,
)


def _insert_ignoring_duplicates(session: AsyncSession, model: type[Base], values: dict[str, Any]) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING in the current dialect (atomic, unlike select-then-insert)."""
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    return dialect.insert(model).values(**values).on_conflict_do_nothing()


class UpdateRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def mark_processed(self, update_id: int, now: datetime) -> bool:
        """Record the update; False when it was already handled (a redelivery)."""
        statement = _insert_ignoring_duplicates(
            self.session, ProcessedUpdate, {"update_id": update_id, "processed_at": now}
        )
        result = await self.session.execute(statement)
        return result.rowcount == 1

    async def forget_older_than(self, moment: datetime) -> int:
        result = await self.session.execute(delete(ProcessedUpdate).where(ProcessedUpdate.processed_at < moment))
        return result.rowcount


class UserRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_telegram_id(self, telegram_id: int) -> User | None:
        return await self.session.scalar(select(User).where(User.telegram_id == telegram_id))

    async def get_or_create(self, telegram_id: int, now: datetime, first_name: str | None = None) -> User:
        user = await self.by_telegram_id(telegram_id)
        if user is None:
            user = User(telegram_id=telegram_id, first_name=first_name, created_at=now)
            self.session.add(user)
            await self.session.flush()
        return user


class StaffRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def roles_of(self, telegram_id: int) -> Sequence[StaffRole]:
        return (await self.session.scalars(select(StaffRole).where(StaffRole.telegram_id == telegram_id))).all()

    async def has_role(self, telegram_id: int, role: Role, clinic_id: int | None = None) -> bool:
        query = select(StaffRole.id).where(StaffRole.telegram_id == telegram_id, StaffRole.role == role)
        if clinic_id is not None:
            query = query.where(StaffRole.clinic_id == clinic_id)
        return (await self.session.scalar(query.limit(1))) is not None

    async def grant(
        self, telegram_id: int, role: Role, now: datetime, clinic_id: int | None = None, by: int | None = None
    ) -> None:
        if not await self.has_role(telegram_id, role, clinic_id):
            self.session.add(
                StaffRole(telegram_id=telegram_id, role=role, clinic_id=clinic_id, granted_by=by, granted_at=now)
            )
            await self.session.flush()


class AuditRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(
        self,
        now: datetime,
        actor: int | None,
        action: str,
        entity: str,
        entity_id: int | None = None,
        **details: Any,
    ) -> None:
        self.session.add(
            AuditLog(at=now, actor_telegram_id=actor, action=action, entity=entity, entity_id=entity_id,
                     details=details)
        )


DIRECTORY_MODELS: dict[str, type[District | Specialty | Clinic | Doctor]] = {
    "district": District,
    "specialty": Specialty,
    "clinic": Clinic,
    "doctor": Doctor,
}


class DirectoryRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_external_ids(self, kind: str) -> dict[str, Any]:
        model = DIRECTORY_MODELS[kind]
        return {row.external_id: row for row in (await self.session.scalars(select(model))).all()}

    def add(self, entity: Any) -> None:
        self.session.add(entity)

    async def flush(self) -> None:
        await self.session.flush()

    async def export_rows(self) -> dict[str, Sequence[Any]]:
        """Every directory entity, ordered so that references point to earlier rows."""
        result: dict[str, Sequence[Any]] = {}
        for kind, model in DIRECTORY_MODELS.items():
            result[kind] = (await self.session.scalars(select(model).order_by(model.id))).all()
        return result

    async def districts(self) -> Sequence[District]:
        return (await self.session.scalars(select(District).order_by(District.name_en))).all()

    async def counts(self) -> dict[str, int]:
        counts = {}
        for kind, model in DIRECTORY_MODELS.items():
            counts[kind] = await self.session.scalar(select(func.count()).select_from(model)) or 0
        return counts


class FsmRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, key: str) -> FsmRecord | None:
        return await self.session.get(FsmRecord, key)

    async def put(self, key: str, now: datetime, **fields: Any) -> None:
        record = await self.session.get(FsmRecord, key)
        if record is None:
            record = FsmRecord(key=key, state=None, data={}, updated_at=now)
            self.session.add(record)
        for name, value in fields.items():
            setattr(record, name, value)
        record.updated_at = now
        await self.session.flush()


class Repositories:
    """Everything a handler may touch in the database, bound to the update's one transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.updates = UpdateRepo(session)
        self.users = UserRepo(session)
        self.staff = StaffRepo(session)
        self.audit = AuditRepo(session)
        self.directory = DirectoryRepo(session)
        self.fsm = FsmRepo(session)
