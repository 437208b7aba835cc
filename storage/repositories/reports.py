"""Reports and digests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, case, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    AuditLog,
    Case,
    Clinic,
    ClinicChat,
    ClinicStats,
    CountedReview,
    DigestRun,
    Doctor,
    OutboxMessage,
    Response,
    Review,
    ReviewMedia,
    Specialty,
)
from storage.repositories._shared import _insert_ignoring_duplicates, escalated_in_present_term


class ReportRepo:
    """What digests, /stats and exports read: reviews of a period, cases as they stood at its end, the rows of a
    spreadsheet; and which digest periods were queued for which chat."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @staticmethod
    def _posted_to_clinic() -> Any:
        """Reviews the bot posted to their polyclinic (issue 10: a clinic's own figures count only what it was given;
        a violation report reaches it only when the office forwards it)."""
        return select(AuditLog.entity_id).where(AuditLog.action == "clinic.review_posted", AuditLog.entity == "review")

    @classmethod
    def _registered(cls, query: Any, start: datetime, end: datetime, clinic_id: int | None) -> Any:
        query = query.where(Review.created_at >= start, Review.created_at < end)
        if clinic_id is None:
            return query
        return query.where(Review.clinic_id == clinic_id, Review.id.in_(cls._posted_to_clinic()))

    async def review_counts(self, start: datetime, end: datetime, *, clinic_id: int | None = None) -> Sequence[Any]:
        """(clinic_id, kind, category, count) of the reviews registered in [start, end)."""
        query = (select(Review.clinic_id, Review.kind, Review.category, func.count())
                 .group_by(Review.clinic_id, Review.kind, Review.category))
        return (await self.session.execute(self._registered(query, start, end, clinic_id))).all()

    async def average_ratings(self, start: datetime, end: datetime, *,
                              clinic_id: int | None = None) -> dict[int, tuple[int, float]]:
        """Per clinic: how many of the reviews registered in [start, end) count in the ratings now (the same rules:
        not rejected, hidden, flagged, replaced or waiting for a moderator), and the mean of their stars."""
        query = (select(Review.clinic_id, func.count(), func.avg(Review.rating))
                 .join(CountedReview, CountedReview.review_id == Review.id).group_by(Review.clinic_id))
        rows = await self.session.execute(self._registered(query, start, end, clinic_id))
        return {clinic: (count, float(mean)) for clinic, count, mean in rows.all()}

    async def registered_times(self, start: datetime, end: datetime, *, kinds: Sequence[str],
                               clinic_id: int | None = None) -> Sequence[Any]:
        """(clinic_id, created_at) of the reviews of these kinds registered in [start, end)."""
        query = select(Review.clinic_id, Review.created_at).where(Review.kind.in_(kinds))
        return (await self.session.execute(self._registered(query, start, end, clinic_id))).all()

    @staticmethod
    def _first_answers() -> Any:
        return (select(Response.review_id, func.min(Response.created_at).label("at"))
                .group_by(Response.review_id).subquery())

    @staticmethod
    def _escalated_by(moment: datetime) -> Any:
        """Escalated before the moment, in the term the case was in then (storage's clinic_silent rule): a repeated
        appeal's figures do not count the first term's escalation; a case reopened only after the moment still
        stood escalated in its first term then."""
        return and_(Case.escalated_at < moment, or_(escalated_in_present_term(), Case.reopened_at >= moment))

    @staticmethod
    def _open_at(moment: datetime, open_statuses: Sequence[str]) -> Any:
        """Registered before the moment and not closed by then (closing sets closed_at)."""
        return and_(Case.created_at < moment,
                    or_(and_(Case.closed_at.is_(None), Case.status.in_(open_statuses)), Case.closed_at >= moment))

    async def case_figures(self, start: datetime, end: datetime, last_day: date, *, open_statuses: Sequence[str],
                           clinic_id: int | None = None) -> dict[str, int]:
        """Cases as they stood at `end`: registered in the period, open, open without any answer, answered (first
        answer) in the period, open past their due date (`last_day` is the period's last local day), and escalated
        for want of the clinic's answer and still open."""
        answers = self._first_answers()
        still_open = self._open_at(end, open_statuses)
        figures = {
            "registered": and_(Case.created_at >= start, Case.created_at < end),
            "open": still_open,
            "unanswered": and_(still_open, or_(answers.c.at.is_(None), answers.c.at >= end)),
            "answered": and_(answers.c.at >= start, answers.c.at < end),
            "overdue": and_(still_open, Case.due_date.is_not(None), Case.due_date <= last_day),
            "escalated": and_(still_open, self._escalated_by(end)),
        }
        query = (select(*(func.coalesce(func.sum(case((condition, 1), else_=0)), 0) for condition in figures.values()))
                 .select_from(Case).join(Review, Review.id == Case.review_id)
                 .outerjoin(answers, answers.c.review_id == Case.review_id))
        if clinic_id is not None:
            query = query.where(Review.clinic_id == clinic_id, Review.id.in_(self._posted_to_clinic()))
        values = (await self.session.execute(query)).one()
        return {name: int(value) for name, value in zip(figures, values, strict=True)}

    async def escalated_open(self, end: datetime, *, open_statuses: Sequence[str], limit: int) -> Sequence[Any]:
        """(Case, Review, Clinic) of the cases escalated before `end` (in their term then) and open then, earliest
        escalation first."""
        query = (select(Case, Review, Clinic).join(Review, Review.id == Case.review_id)
                 .join(Clinic, Clinic.id == Review.clinic_id)
                 .where(self._open_at(end, open_statuses), self._escalated_by(end))
                 .order_by(Case.escalated_at, Case.id).limit(limit))
        return (await self.session.execute(query)).all()

    async def clinics_by_score(self, *, min_reviews: int, limit: int, best: bool) -> Sequence[Any]:
        """(ClinicStats, Clinic) of the active polyclinics with enough reviews to rank: the best or the worst first."""
        score = ClinicStats.score.desc() if best else ClinicStats.score.asc()
        query = (select(ClinicStats, Clinic).join(Clinic, Clinic.id == ClinicStats.clinic_id)
                 .where(ClinicStats.review_count >= min_reviews, Clinic.active.is_(True))
                 .order_by(score, ClinicStats.review_count.desc(), ClinicStats.clinic_id).limit(limit))
        return (await self.session.execute(query)).all()

    async def clinics(self, clinic_ids: Sequence[int]) -> dict[int, Clinic]:
        return {clinic.id: clinic for clinic in await self.session.scalars(select(Clinic).where(
            Clinic.id.in_(clinic_ids)))}

    async def active_clinic_chats(self) -> Sequence[ClinicChat]:
        query = select(ClinicChat).where(ClinicChat.active.is_(True)).order_by(ClinicChat.id)
        return (await self.session.scalars(query)).all()

    async def first_message_to(self, chat_id: int) -> datetime | None:
        """When the bot first queued anything for this chat."""
        return await self.session.scalar(select(func.min(OutboxMessage.created_at))
                                         .where(OutboxMessage.chat_id == chat_id))

    async def last_digest(self, chat_id: int) -> DigestRun | None:
        query = select(DigestRun).where(DigestRun.chat_id == chat_id).order_by(DigestRun.period_start.desc())
        return await self.session.scalar(query.limit(1))

    async def digest_queued(self, chat_id: int, period_start: date) -> bool:
        query = select(exists().where(DigestRun.chat_id == chat_id, DigestRun.period_start == period_start))
        return bool(await self.session.scalar(query))

    async def record_digest(self, *, audience: str, chat_id: int, period_start: date, period_end: date,
                            now: datetime) -> bool:
        """False when this chat's period was recorded already (by an earlier run, or another instance just now)."""
        values = {"audience": audience, "chat_id": chat_id, "period_start": period_start, "period_end": period_end,
                  "queued_at": now}
        result = await self.session.execute(_insert_ignoring_duplicates(self.session, DigestRun, values))
        return result.rowcount == 1

    async def export_rows(self, start: datetime, end: datetime) -> Sequence[Any]:
        """(Review, Case or None, Clinic, Doctor or None, Specialty or None, first answer time, evidence files,
        extended before its present term) of the reviews registered in [start, end), in the order they were
        registered. Reopening resets Case.extended for the repeated appeal's own term: an earlier extension is read
        from the audit."""
        answers = self._first_answers()
        evidence = (select(ReviewMedia.review_id, func.count().label("files"))
                    .group_by(ReviewMedia.review_id).subquery())
        extended_before = exists().where(AuditLog.action == "case.extended", AuditLog.entity == "review",
                                         AuditLog.entity_id == Review.id, AuditLog.at < Case.reopened_at)
        query = (select(Review, Case, Clinic, Doctor, Specialty, answers.c.at, func.coalesce(evidence.c.files, 0),
                        extended_before)
                 .join(Clinic, Clinic.id == Review.clinic_id)
                 .outerjoin(Case, Case.review_id == Review.id)
                 .outerjoin(Doctor, Doctor.id == Review.doctor_id)
                 .outerjoin(Specialty, Specialty.id == Review.specialty_id)
                 .outerjoin(answers, answers.c.review_id == Review.id)
                 .outerjoin(evidence, evidence.c.review_id == Review.id)
                 .order_by(Review.created_at, Review.id))
        return (await self.session.execute(self._registered(query, start, end, None))).all()
