"""Polyclinics' chats, their answers and what they are shown."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    AuditLog,
    Base,
    Case,
    Clinic,
    ClinicChat,
    LinkCode,
    Response,
    Review,
    Role,
    StaffRole,
)
from storage.repositories._shared import answered_by_clinic, escalated_in_present_term, term_started


class ClinicRepo:
    """Polyclinics' chats and one-time link codes, what was posted to a clinic, and whether it answered."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def find(self, reference: str) -> Clinic | None:
        """A polyclinic by its number ("17") or its external id ("clinic:gp-17")."""
        reference = reference.strip()
        if reference.isdigit():
            query = select(Clinic).where(Clinic.number == int(reference)).order_by(Clinic.active.desc(), Clinic.id)
            if (found := await self.session.scalar(query.limit(1))) is not None:
                return found
        return await self.session.scalar(select(Clinic).where(Clinic.external_id == reference))

    def add(self, *entities: Base) -> None:
        self.session.add_all(entities)

    async def flush(self) -> None:
        await self.session.flush()

    async def code(self, code: str) -> LinkCode | None:
        return await self.session.get(LinkCode, code)

    async def claim_code(self, code: str, chat_id: int, now: datetime) -> int | None:
        """Use an unused, unexpired code in this chat in one statement (two groups cannot both use it); the
        clinic it links, or None when there is no such usable code."""
        statement = (update(LinkCode)
                     .where(LinkCode.code == code, LinkCode.used_at.is_(None), LinkCode.expires_at > now)
                     .values(used_at=now, used_in_chat=chat_id).returning(LinkCode.clinic_id)
                     .execution_options(synchronize_session=False))
        return await self.session.scalar(statement)

    async def chat(self, chat_id: int) -> ClinicChat | None:
        return await self.session.scalar(select(ClinicChat).where(ClinicChat.chat_id == chat_id))

    async def link(self, clinic_id: int, chat_id: int, by: int | None, now: datetime) -> ClinicChat:
        """The chat now belongs to this clinic (a chat linked before, to it or another, is relinked)."""
        linked = await self.chat(chat_id)
        if linked is None:
            linked = ClinicChat(clinic_id=clinic_id, chat_id=chat_id, linked_by=by, linked_at=now, active=True)
            self.session.add(linked)
        else:
            linked.clinic_id, linked.linked_by, linked.linked_at, linked.active = clinic_id, by, now, True
        await self.session.flush()
        return linked

    async def chat_moved(self, old_chat_id: int, new_chat_id: int) -> ClinicChat | None:
        """Telegram made the group a supergroup, with a new id: the link follows it (None when the old id was not
        linked, or the new one already is, e.g. the other of the two service messages came first)."""
        linked = await self.chat(old_chat_id)
        if linked is None or await self.chat(new_chat_id) is not None:
            return None
        linked.chat_id = new_chat_id
        await self.session.flush()
        return linked

    async def active_chats(self, clinic_id: int) -> Sequence[ClinicChat]:
        query = (select(ClinicChat).where(ClinicChat.clinic_id == clinic_id, ClinicChat.active.is_(True))
                 .order_by(ClinicChat.id))
        return (await self.session.scalars(query)).all()

    async def staff_of(self, clinic_id: int) -> list[int]:
        """Telegram ids of the clinic's staff (the clinic-staff role scoped to it)."""
        query = (select(StaffRole.telegram_id).where(StaffRole.role == Role.CLINIC_STAFF,
                                                     StaffRole.clinic_id == clinic_id)
                 .order_by(StaffRole.telegram_id))
        return list(dict.fromkeys((await self.session.scalars(query)).all()))

    async def clinics_of_staff(self, telegram_id: int) -> list[int]:
        query = (select(StaffRole.clinic_id).where(StaffRole.telegram_id == telegram_id,
                                                   StaffRole.role == Role.CLINIC_STAFF,
                                                   StaffRole.clinic_id.is_not(None))
                 .order_by(StaffRole.clinic_id))
        return list(dict.fromkeys((await self.session.scalars(query)).all()))

    @staticmethod
    def _latest_posts(action: str) -> Any:
        """(review_id, the latest time it was posted to its clinic), from the audit entries `action`: a repeated
        appeal's post, not the first term's."""
        return (select(AuditLog.entity_id.label("review_id"), func.max(AuditLog.at).label("posted_at"))
                .where(AuditLog.action == action, AuditLog.entity == "review").group_by(AuditLog.entity_id)
                .subquery())

    async def posted_at(self, review_id: int, action: str, since: datetime | None = None) -> datetime | None:
        """The first time the review was posted to its clinic (audit `action`), or the first since `since`."""
        await self.session.flush()
        query = select(func.min(AuditLog.at)).where(AuditLog.action == action, AuditLog.entity == "review",
                                                    AuditLog.entity_id == review_id)
        if since is not None:
            query = query.where(AuditLog.at >= since)
        return await self.session.scalar(query)

    async def unanswered_posted_cases(self, action: str, *, statuses: Sequence[str],
                                      kinds: Sequence[str]) -> Sequence[Any]:
        """(Case, posted_at) of open cases of these kinds posted to their clinic (audit `action`) in their present
        term and not answered by it since that term began, nor escalated in it; posted_at is the term's first post.
        A repeated appeal counts from its own post: the clinic's answer to the first term, or the escalation of it,
        is not one to the resident's disagreement."""
        started = term_started()
        posted_at = func.min(AuditLog.at).label("posted_at")
        answered = answered_by_clinic(Case.review_id).where(Response.created_at >= started)
        query = (select(Case, posted_at).join(Review, Review.id == Case.review_id)
                 .join(AuditLog, (AuditLog.entity_id == Case.review_id) & (AuditLog.entity == "review")
                       & (AuditLog.action == action) & (AuditLog.at >= started))
                 .where(~escalated_in_present_term(), Case.status.in_(statuses),
                        Review.kind.in_(kinds), ~answered)
                 .group_by(Case.id).order_by(Case.id))
        return (await self.session.execute(query)).all()

    async def posted_reviews(self, clinic_ids: Sequence[int], action: str, *, limit: int) -> Sequence[Any]:
        """(Review, answered by the clinic) of the reviews posted to these clinics, the latest posted first (by its
        latest post: a repeated appeal posted again weeks later waits for an answer now, and is listed first).
        Answered in the term the clinic was last given: a repeated appeal posted again (the resident disagreed) is
        not answered by the clinic's answer to the first term; one reopened but not posted again keeps its answer."""
        posted = self._latest_posts(action)
        # Correlated by name: nested in the answer's EXISTS, it would otherwise take reviews and cases of its own.
        reposted = (exists().where(AuditLog.action == action, AuditLog.entity == "review",
                                   AuditLog.entity_id == Review.id, AuditLog.at >= Case.reopened_at)
                    .correlate(Review, Case))
        given_since = case((reposted, Case.reopened_at), else_=Review.created_at)
        answered = answered_by_clinic(Review.id).where(Response.created_at >= given_since)
        query = (select(Review, answered).join(posted, posted.c.review_id == Review.id)
                 .outerjoin(Case, Case.review_id == Review.id)
                 .where(Review.clinic_id.in_(clinic_ids))
                 .order_by(posted.c.posted_at.desc(), Review.id.desc()).limit(limit))
        return (await self.session.execute(query)).all()
