"""The moderation queue."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    PublicStatus,
    Response,
    Review,
    ReviewStatus,
    Role,
)


class ModerationRepo:
    """The moderator's queue: reviews and clinic answers whose public text waits for a decision."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def waiting(self, review_kinds: Sequence[str]) -> list[tuple[datetime, str, int]]:
        """(created_at, "review" or "answer", id) of everything waiting, oldest first (ids only: the queue may be
        long, a moderator sees one item at a time); reviews only of `review_kinds`, the ones the public may see; neither
        a withdrawn review nor an answer to one."""
        reviews = await self.session.execute(
            select(Review.created_at, Review.id).where(Review.public_status == PublicStatus.PENDING,
                                                       Review.status != ReviewStatus.WITHDRAWN,
                                                       Review.kind.in_(review_kinds)))
        # An answer to a review its author withdrew leaves the queue with the review: it is never to be published.
        answers = await self.session.execute(
            select(Response.created_at, Response.id).join(Review, Review.id == Response.review_id)
            .where(Response.public_status == PublicStatus.PENDING, Response.author_role == Role.CLINIC_STAFF,
                   Review.status != ReviewStatus.WITHDRAWN))
        items = [(at, "review", item_id) for at, item_id in reviews.all()]
        items += [(at, "answer", item_id) for at, item_id in answers.all()]
        return sorted(items)

    async def response(self, response_id: int) -> Response | None:
        return await self.session.get(Response, response_id)
