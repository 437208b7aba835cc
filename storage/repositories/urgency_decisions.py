"""The office's urgency verdicts on reviews."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    UrgencyDecision,
)


class UrgencyDecisionRepo:
    """The office's "Urgent" / "Not urgent" verdicts on reviews."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, decision: UrgencyDecision) -> None:
        self.session.add(decision)

    async def latest_for_review(self, review_id: int) -> UrgencyDecision | None:
        query = (select(UrgencyDecision).where(UrgencyDecision.review_id == review_id)
                 .order_by(UrgencyDecision.id.desc()).limit(1))
        return await self.session.scalar(query)

    async def current_verdicts(self) -> Sequence[UrgencyDecision]:
        """The latest decision on each review (an earlier press the office took back does not count), oldest
        first."""
        latest = select(func.max(UrgencyDecision.id)).group_by(UrgencyDecision.review_id)
        query = select(UrgencyDecision).where(UrgencyDecision.id.in_(latest)).order_by(UrgencyDecision.id)
        return (await self.session.scalars(query)).all()
