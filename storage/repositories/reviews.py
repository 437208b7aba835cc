"""Reviews, their media, reference numbers and cases."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from storage.models import (
    AuditLog,
    Base,
    Case,
    ReferenceCounter,
    Response,
    Review,
    ReviewMedia,
)


class ReviewRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def next_reference_number(self, year: int) -> int:
        """The next number of the year; the counter row is locked until commit, so numbers are never reused."""
        dialect = postgresql if self.session.bind.dialect.name == "postgresql" else sqlite
        statement = (
            dialect.insert(ReferenceCounter).values(year=year, last_number=1)
            .on_conflict_do_update(index_elements=["year"],
                                   set_={"last_number": ReferenceCounter.last_number + 1})
            .returning(ReferenceCounter.last_number)
        )
        return (await self.session.execute(statement)).scalar_one()

    def add(self, *entities: Base) -> None:
        self.session.add_all(entities)

    async def get(self, review_id: int) -> Review | None:
        return await self.session.get(Review, review_id)

    async def by_reference(self, reference: str) -> Review | None:
        return await self.session.scalar(select(Review).where(Review.reference == reference))

    async def media_of(self, review_id: int) -> Sequence[ReviewMedia]:
        query = select(ReviewMedia).where(ReviewMedia.review_id == review_id).order_by(ReviewMedia.position)
        return (await self.session.scalars(query)).all()

    async def case(self, case_id: int) -> Case | None:
        return await self.session.get(Case, case_id)

    async def open_cases(self, statuses: Sequence[str]) -> Sequence[Case]:
        query = select(Case).where(Case.status.in_(statuses))
        return (await self.session.scalars(query)).all()

    async def references(self, review_ids: Sequence[int]) -> dict[int, str]:
        rows = await self.session.execute(select(Review.id, Review.reference).where(Review.id.in_(review_ids)))
        return dict(rows.all())

    async def flush(self) -> None:
        await self.session.flush()

    async def count_by_user_since(self, user_id: int, since: datetime) -> int:
        query = select(func.count()).select_from(Review).where(Review.user_id == user_id, Review.created_at >= since)
        return await self.session.scalar(query) or 0

    async def latest_for_doctor(self, user_id: int, doctor_id: int, since: datetime,
                                kinds: Sequence[str] | None = None) -> Review | None:
        query = (select(Review).where(Review.user_id == user_id, Review.doctor_id == doctor_id,
                                      Review.created_at >= since, *([Review.kind.in_(kinds)] if kinds else []))
                 .order_by(Review.created_at.desc()).limit(1))
        return await self.session.scalar(query)

    async def count_recent_complaints(self, clinic_id: int, doctor_id: int | None, since: datetime) -> int:
        """Complaints and violations about this doctor (or, without one, this clinic) since a moment."""
        query = select(func.count()).select_from(Review).where(
            Review.kind.in_(("complaint", "violation")), Review.created_at >= since,
            Review.doctor_id == doctor_id if doctor_id is not None else Review.clinic_id == clinic_id)
        return await self.session.scalar(query) or 0

    async def page_of_user(self, user_id: int, offset: int, limit: int) -> tuple[Sequence[Review], int]:
        total = await self.session.scalar(select(func.count()).select_from(Review).where(Review.user_id == user_id))
        query = (select(Review).where(Review.user_id == user_id).order_by(Review.created_at.desc(), Review.id.desc())
                 .offset(offset).limit(limit))
        return (await self.session.scalars(query)).all(), total or 0

    async def of_user(self, review_id: int, user_id: int) -> Review | None:
        """The review only if it belongs to this person (buttons carry ids that must not be trusted)."""
        query = select(Review).where(Review.id == review_id, Review.user_id == user_id)
        return await self.session.scalar(query.options(selectinload(Review.media)))

    async def case_of(self, review_id: int) -> Case | None:
        return await self.session.scalar(select(Case).where(Case.review_id == review_id))

    async def responses_to(self, review_id: int) -> Sequence[Response]:
        query = select(Response).where(Response.review_id == review_id).order_by(Response.created_at)
        return (await self.session.scalars(query)).all()

    async def history(self, review_id: int) -> Sequence[AuditLog]:
        query = (select(AuditLog).where(AuditLog.entity == "review", AuditLog.entity_id == review_id)
                 .order_by(AuditLog.at, AuditLog.id))
        return (await self.session.scalars(query)).all()
