"""The office's caseload of open cases."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Case,
    Clinic,
    OfficePerson,
    Response,
    Review,
    User,
)
from storage.repositories._shared import answered_by_clinic, escalated_in_present_term, term_started


def _spellings(words: str) -> list[str]:
    return list(dict.fromkeys((words, words.lower(), words.capitalize(), words.upper())))


class CaseloadRepo:
    """The prosecutor's office's caseload (issue 10): the people who act, lists and filters of cases."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def remember_person(self, telegram_id: int, full_name: str, username: str | None, now: datetime) -> None:
        person = await self.session.get(OfficePerson, telegram_id)
        if person is None:
            self.session.add(OfficePerson(telegram_id=telegram_id, full_name=full_name, username=username,
                                          updated_at=now))
            await self.session.flush()
        elif (person.full_name, person.username) != (full_name, username):
            person.full_name, person.username, person.updated_at = full_name, username, now

    async def people(self, telegram_ids: Sequence[int]) -> dict[int, OfficePerson]:
        if not telegram_ids:
            return {}
        rows = await self.session.scalars(select(OfficePerson).where(OfficePerson.telegram_id.in_(telegram_ids)))
        return {person.telegram_id: person for person in rows}

    async def unlisted_ordinary(self, statuses: Sequence[str], registered_before: datetime) -> Sequence[Case]:
        """Open ordinary (not urgent) cases registered before the moment that no daily "new appeals" message has
        listed yet, oldest first."""
        query = (select(Case).where(Case.urgency == "normal", Case.listed_at.is_(None), Case.status.in_(statuses),
                                    Case.created_at < registered_before)
                 .order_by(Case.created_at, Case.id))
        return (await self.session.scalars(query)).all()

    async def open_with_counted_due(self, statuses: Sequence[str]) -> Sequence[Case]:
        """Open cases whose due date is counted in working days (formal, not extended), and any still provisional."""
        counted = and_(Case.formal_appeal.is_(True), Case.extended.is_(False), Case.due_date.is_not(None))
        query = select(Case).where(or_(Case.due_provisional.is_(True), counted), Case.status.in_(statuses))
        return (await self.session.scalars(query.order_by(Case.id))).all()

    async def search(self, *, statuses: Sequence[str] | None = None, urgency: str | None = None,
                     clinic_id: int | None = None, district_id: int | None = None, category: str | None = None,
                     assignee: int | None = None, overdue_before: date | None = None, escalated: bool = False,
                     words: str | None = None, name_ids: Sequence[int] = (), reference: str | None = None,
                     phone: str | None = None, offset: int = 0, limit: int = 10) -> tuple[Sequence[Case], int]:
        """Cases by the /cases filters, most urgent and earliest due first, one page and the total."""
        query = select(Case).join(Review, Review.id == Case.review_id).join(Clinic, Clinic.id == Review.clinic_id)
        if statuses:
            query = query.where(Case.status.in_(statuses))
        if urgency:
            query = query.where(Case.urgency == urgency)
        if clinic_id is not None:
            query = query.where(Review.clinic_id == clinic_id)
        if district_id is not None:
            query = query.where(Clinic.district_id == district_id)
        if category:
            query = query.where(Review.category == category)
        if assignee is not None:
            query = query.where(Case.assignee_telegram_id == assignee)
        if overdue_before is not None:
            query = query.where(Case.due_date < overdue_before)
        if escalated:
            # What the ⚠️ mark says (bot.cases.cards.clinic_silent): escalated in the present term, and no published
            # answer of the polyclinic given in it; not a case the polyclinic has answered, nor a repeated appeal for
            # the first term's escalation.
            answered = answered_by_clinic(Review.id, published_only=True).where(Response.created_at >= term_started())
            query = query.where(escalated_in_present_term(), ~answered)
        if reference:
            query = query.where(Review.reference == reference)
        if phone:
            # The number's last ten digits, however it was typed or stored; only appeals it was shared with (the
            # card shows it there), never another appeal of the same person's.
            query = query.where(Review.phone_shared.is_(True), Review.user_id.in_(
                select(User.id).where(User.phone.like(f"%{phone}"))))
        if words:
            # SQLite folds only ASCII letters: the usual spellings of the words are tried as they are.
            patterns = [f"%{variant}%" for variant in _spellings(words)]
            matches = [Review.text.like(pattern) for pattern in patterns]
            matches += [Review.reference.like(pattern) for pattern in patterns]
            if name_ids:
                matches.append(Case.assignee_telegram_id.in_(name_ids))
            matches.append(Review.user_id.in_(select(User.id).where(or_(*(User.first_name.like(pattern)
                                                                          for pattern in patterns)))))
            query = query.where(or_(*matches))
        total = await self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        order = case({"critical": 0, "high": 1}, value=Case.urgency, else_=2)
        rows = await self.session.scalars(query.order_by(order, Case.due_date.is_(None), Case.due_date, Case.id)
                                          .offset(offset).limit(limit))
        return rows.all(), total

    async def people_named(self, words: str) -> list[int]:
        """The office's people whose name or @username contains the words, in any letter case."""
        wanted = words.casefold()
        people = await self.session.scalars(select(OfficePerson))  # a handful of officers, not a big table
        return [person.telegram_id for person in people
                if wanted in person.full_name.casefold() or wanted in (person.username or "").casefold()]
