"""Office and clinic staff and their roles."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Role,
    StaffRole,
)


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

    async def revoke(self, telegram_id: int, role: Role, clinic_id: int | None = None) -> bool:
        """False when the person did not hold that role (for that clinic)."""
        scope = StaffRole.clinic_id == clinic_id if clinic_id is not None else StaffRole.clinic_id.is_(None)
        result = await self.session.execute(
            delete(StaffRole).where(StaffRole.telegram_id == telegram_id, StaffRole.role == role, scope)
            .execution_options(synchronize_session=False))
        return result.rowcount > 0
