"""A resident's data: export and erasure."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from storage.models import (
    AuditLog,
    Case,
    FsmRecord,
    OutboxMessage,
    OutboxStatus,
    Response,
    Review,
    StaffRole,
)
from storage.repositories.conversations import _CONVERSATIONS, FsmRepo


class PrivacyRepo:
    """What is stored about one resident (their copy, /mydata) and removing their identity from it (/forget)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def reviews_of(self, user_id: int) -> Sequence[Review]:
        query = (select(Review).where(Review.user_id == user_id).options(selectinload(Review.media))
                 .order_by(Review.created_at, Review.id))
        return (await self.session.scalars(query)).all()

    async def cases_of(self, review_ids: Sequence[int]) -> dict[int, Case]:
        query = select(Case).where(Case.review_id.in_(review_ids))
        return {case.review_id: case for case in await self.session.scalars(query)}

    async def responses_to(self, review_ids: Sequence[int]) -> Sequence[Response]:
        query = (select(Response).where(Response.review_id.in_(review_ids))
                 .order_by(Response.created_at, Response.id))
        return (await self.session.scalars(query)).all()

    async def audit_about(self, user_id: int, review_ids: Sequence[int]) -> Sequence[AuditLog]:
        """What happened to the person's account and to their reviews, oldest first."""
        query = (select(AuditLog)
                 .where(or_(and_(AuditLog.entity == "user", AuditLog.entity_id == user_id),
                            and_(AuditLog.entity == "review", AuditLog.entity_id.in_(review_ids))))
                 .order_by(AuditLog.at, AuditLog.id))
        return (await self.session.scalars(query)).all()

    async def roles_of_people(self, telegram_ids: Sequence[int]) -> dict[int, list[str]]:
        rows = await self.session.execute(select(StaffRole.telegram_id, StaffRole.role)
                                          .where(StaffRole.telegram_id.in_(telegram_ids)))
        roles: dict[int, list[str]] = {}
        for telegram_id, role in rows.all():
            roles.setdefault(telegram_id, []).append(role)
        return roles

    async def anonymise_reviews(self, user_id: int) -> int:
        result = await self.session.execute(update(Review).where(Review.user_id == user_id)
                                            .values(anonymous=True, author_name=None, appellant_name=None))
        return result.rowcount

    async def drop_conversations(self, telegram_id: int) -> int:
        """Delete the person's conversation states (keys `fsm:<chat>[:<thread>]:<user>:<destiny>`) in any chat."""
        candidates = await self.session.scalars(select(FsmRecord.key).where(FsmRecord.key.like(f"%:{telegram_id}:%")))
        keys = [key for key in candidates if key.split(":")[-2] == str(telegram_id)]
        if keys:
            await self.session.execute(delete(FsmRecord).where(FsmRecord.key.in_(keys)))
        # Conversations this transaction read or changed are gone too (keys of the same person in the cache).
        cached = self.session.info.get(_CONVERSATIONS, {})
        FsmRepo(self.session).forget([*keys, *(key for key in cached if key.split(":")[-2] == str(telegram_id))])
        return len(keys)

    async def drop_messages_to(self, chat_id: int, now: datetime) -> int:
        """Delete every outbox row addressed to this chat, except one the relay is sending right now (its lease
        runs): the relay marks that row sent afterwards and expects to find it."""
        result = await self.session.execute(
            delete(OutboxMessage).where(OutboxMessage.chat_id == chat_id,
                                        OutboxMessage.lease_until.is_(None) | (OutboxMessage.lease_until < now))
            .execution_options(synchronize_session=False))
        return result.rowcount

    async def notices_waiting_for(self, chat_id: int, now: datetime) -> Sequence[tuple[OutboxMessage, Review]]:
        """The notices about reviews still queued for this chat, but one the relay is sending right now."""
        query = (select(OutboxMessage, Review).join(Review, Review.id == OutboxMessage.review_id)
                 .where(OutboxMessage.chat_id == chat_id, OutboxMessage.kind == "notify",
                        OutboxMessage.status == OutboxStatus.PENDING,
                        OutboxMessage.lease_until.is_(None) | (OutboxMessage.lease_until < now)))
        return [(message, review) for message, review in (await self.session.execute(query)).all()]

    async def drop_messages(self, messages: Sequence[OutboxMessage]) -> None:
        for message in messages:
            await self.session.delete(message)

    async def alert_cards_of(self, review_ids: Sequence[int]) -> Sequence[OutboxMessage]:
        query = select(OutboxMessage).where(OutboxMessage.review_id.in_(review_ids), OutboxMessage.kind == "alert")
        return (await self.session.scalars(query.order_by(OutboxMessage.id))).all()

    async def drop_actor(self, telegram_id: int) -> int:
        """The audit log keeps what happened and when, no longer who (the person's Telegram id)."""
        result = await self.session.execute(update(AuditLog).where(AuditLog.actor_telegram_id == telegram_id)
                                            .values(actor_telegram_id=None)
                                            .execution_options(synchronize_session=False))
        return result.rowcount
