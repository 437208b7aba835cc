"""Figures for health, metrics and doctor, and retention."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, delete, exists, func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    AuditLog,
    Case,
    Clinic,
    ClinicChat,
    FsmRecord,
    OutboxMessage,
    OutboxStatus,
    Response,
    Review,
    ReviewMedia,
    UrgencyDecision,
)
from storage.repositories.outbox import OutboxRepo


@dataclass
class OpsFigures:
    """What an operator watches, read in one go at scrape time."""

    outbox: dict[str, int]
    oldest_unsent: datetime | None
    open_cases: dict[str, int]
    overdue: int
    reviews: dict[str, int]


# Details of the audit log that stay after a review's content is removed: they name no person and hold no text.
_AUDIT_KEEPS = frozenset({"reference", "item", "reason", "kind", "category", "urgency", "status", "due", "version",
                          "response", "files", "answers", "extended"})


class OpsRepo:
    """Queries for operating the bot: metrics figures, health, the self-check, retention."""

    CLOSED = ("closed", "rejected")

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def ping(self) -> None:
        await self.session.execute(select(literal(1)))

    async def figures(self, now: datetime, today: date) -> OpsFigures:
        outbox = await OutboxRepo(self.session).status_counts()
        oldest = await OutboxRepo(self.session).oldest_unsent()
        open_rows = await self.session.execute(select(Case.urgency, func.count()).where(
            Case.status.not_in(self.CLOSED)).group_by(Case.urgency))
        overdue = await self.session.scalar(select(func.count()).select_from(Case).where(
            Case.status.not_in(self.CLOSED), Case.due_date < today))
        kinds = await self.session.execute(select(Review.kind, func.count()).group_by(Review.kind))
        return OpsFigures(outbox, oldest, {urgency: count for urgency, count in open_rows.all()}, overdue or 0,
                          {kind: count for kind, count in kinds.all()})

    async def linked_clinic_chats(self) -> Sequence[ClinicChat]:
        return (await self.session.scalars(select(ClinicChat).where(ClinicChat.active.is_(True))
                                           .order_by(ClinicChat.id))).all()

    async def clinic_numbers_held_twice(self) -> dict[int, list[str]]:
        """number -> the external ids of the active clinics that share it (stored before imports refused that)."""
        shared = (select(Clinic.number).where(Clinic.active.is_(True), Clinic.number.is_not(None))
                  .group_by(Clinic.number).having(func.count() > 1))
        rows = await self.session.execute(select(Clinic.number, Clinic.external_id)
                                          .where(Clinic.active.is_(True), Clinic.number.in_(shared))
                                          .order_by(Clinic.number, Clinic.external_id))
        held: dict[int, list[str]] = {}
        for number, external_id in rows:
            held.setdefault(number, []).append(external_id)
        return held

    async def expired_reviews(self, cutoff: datetime, limit: int) -> Sequence[Review]:
        """Reviews kept long enough: their case closed (or rejected) before `cutoff`, or, without a case,
        submitted before it. A review whose case is still open is never among them."""
        closed_long_ago = exists().where(Case.review_id == Review.id, Case.status.in_(self.CLOSED),
                                         Case.closed_at < cutoff)
        no_case = ~exists().where(Case.review_id == Review.id)
        query = (select(Review).where(Review.content_removed_at.is_(None),
                                      or_(closed_long_ago, and_(no_case, Review.created_at < cutoff)))
                 .order_by(Review.id).limit(limit)
                 # Two instances running the daily job at once take different reviews (PostgreSQL; SQLite has one
                 # writer anyway), so none is removed, and audited, twice.
                 .with_for_update(of=Review, skip_locked=True))
        return (await self.session.scalars(query)).all()

    async def remove_content(self, review: Review, now: datetime) -> tuple[list[str], int]:
        """Clear a review's texts and names, its answers' texts and its evidence rows, in the caller's transaction;
        returns the stored paths no other review still uses (for the caller to delete) and the answers cleared."""
        review.text, review.public_text, review.author_name, review.phone_shared = "", None, None, False
        # A formal appeal's details name the appellant and say what they asked for (migration 0007).
        review.appellant_name = review.outcome_wanted = None
        review.content_removed_at = now
        answers = await self.session.execute(update(Response).where(Response.review_id == review.id)
                                             .values(text="", public_text=None)
                                             .execution_options(synchronize_session=False))
        await self.session.execute(update(Case).where(Case.review_id == review.id).values(extension_reason=None)
                                   .execution_options(synchronize_session=False))
        # The office's urgency verdicts keep a copy of the text (to measure the classifier on): it goes too.
        await self.session.execute(update(UrgencyDecision).where(UrgencyDecision.review_id == review.id)
                                   .values(text="").execution_options(synchronize_session=False))
        paths = list(await self.session.scalars(select(ReviewMedia.stored_path).where(
            ReviewMedia.review_id == review.id, ReviewMedia.stored_path.is_not(None))))
        await self.session.execute(delete(ReviewMedia).where(ReviewMedia.review_id == review.id)
                                   .execution_options(synchronize_session=False))
        still_used = set(await self.session.scalars(select(ReviewMedia.stored_path).where(
            ReviewMedia.stored_path.in_(paths)))) if paths else set()
        await self.session.execute(delete(OutboxMessage).where(OutboxMessage.review_id == review.id,
                                                               OutboxMessage.status != OutboxStatus.SENT)
                                   .execution_options(synchronize_session=False))
        await self.session.execute(update(OutboxMessage).where(OutboxMessage.review_id == review.id)
                                   .values(payload={"removed": "retention"})
                                   .execution_options(synchronize_session=False))
        entries = await self.session.scalars(select(AuditLog).where(AuditLog.entity == "review",
                                                                    AuditLog.entity_id == review.id))
        for entry in entries:
            details = entry.details or {}
            kept = {key: value for key, value in details.items() if key in _AUDIT_KEEPS or not isinstance(value, str)}
            if kept != details:
                entry.details = kept
        return sorted({path for path in paths if path not in still_used}), answers.rowcount

    async def answered_in_stale(self, before: datetime, answering_state: str) -> list[tuple[int, object]]:
        """The cases whose resident answered the office in a conversation last touched before `before` and never
        pressed Done, each with the conversation's `answered` (which question): dropping the conversation must
        not leave them waiting for an answer given."""
        rows = await self.session.scalars(select(FsmRecord.data).where(FsmRecord.updated_at < before,
                                                                      FsmRecord.state == answering_state))
        return [(data["case_id"], data["answered"]) for data in rows if data.get("answered") and data.get("case_id")]

    async def drop_stale_drafts(self, before: datetime) -> int:
        result = await self.session.execute(delete(FsmRecord).where(FsmRecord.updated_at < before)
                                            .execution_options(synchronize_session=False))
        return result.rowcount

    async def clear_delivered(self, before: datetime) -> int:
        """The texts of messages delivered before `before`; the rows (who got what, when) stay, and so does every
        message about a case still open (its record is kept whole while the appeal is considered)."""
        open_case = exists().where(Case.review_id == OutboxMessage.review_id, Case.status.not_in(self.CLOSED))
        result = await self.session.execute(
            update(OutboxMessage).where(OutboxMessage.status == OutboxStatus.SENT, OutboxMessage.sent_at < before,
                                        OutboxMessage.payload["removed"].as_string().is_(None), ~open_case)
            .values(payload={"removed": "retention"})
            .execution_options(synchronize_session=False))
        return result.rowcount
