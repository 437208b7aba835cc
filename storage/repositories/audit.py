"""The audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    AuditLog,
)


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

    async def count(self, action: str, entity: str, entity_id: int) -> int:
        await self.session.flush()
        query = select(func.count()).select_from(AuditLog).where(
            AuditLog.action == action, AuditLog.entity == entity, AuditLog.entity_id == entity_id)
        return await self.session.scalar(query) or 0
