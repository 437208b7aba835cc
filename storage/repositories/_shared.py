"""Helpers shared by several repositories."""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Base,
    Case,
    PublicStatus,
    Response,
    Review,
    Role,
)


def _insert_ignoring_duplicates(session: AsyncSession, model: type[Base], values: dict[str, Any]) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING in the current dialect (atomic, unlike select-then-insert)."""
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    return dialect.insert(model).values(**values).on_conflict_do_nothing()


def term_started() -> Any:
    """bot.cases.deadlines.term_started in SQL (a query joining Case and Review): a repeated appeal (the resident's
    disagreement) is a term of its own."""
    return func.coalesce(Case.reopened_at, Review.created_at)


def escalated_in_present_term() -> Any:
    """The escalation half of bot.cases.cards.clinic_silent in SQL: the case was escalated in its present term; the
    first term's escalation is not one of a repeated appeal (reopening leaves Case.escalated_at as it was)."""
    return Case.escalated_at.is_not(None) & (Case.escalated_at >= term_started())


def answered_by_clinic(review_id: Any, *, published_only: bool = False) -> Any:
    """EXISTS an answer of the review's polyclinic. An answer waiting for a moderator is an answer given, one the
    moderator rejected is not; `published_only`: only what the public and the office read (the ⚠️ mark's rule,
    bot.cases.cards.clinic_silent)."""
    shown = (Response.public_status == PublicStatus.PUBLISHED if published_only
             else Response.public_status != PublicStatus.HIDDEN)
    return exists().where(Response.review_id == review_id, Response.author_role == Role.CLINIC_STAFF, shown)
