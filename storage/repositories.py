"""Repositories named by intent, and the Repositories facade injected into handlers. All SQL lives here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Interval, and_, bindparam, case, delete, exists, func, insert, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, make_transient_to_detached, selectinload

from storage.models import (
    CRITERIA,
    AuditLog,
    Base,
    Case,
    Clinic,
    ClinicChat,
    ClinicStats,
    CountedReview,
    DigestRun,
    DirectoryVersion,
    District,
    Doctor,
    DoctorStats,
    FsmRecord,
    LinkCode,
    OfficePerson,
    OutboxMessage,
    OutboxStatus,
    ProcessedUpdate,
    PublicStatus,
    RatingPrior,
    ReferenceCounter,
    Response,
    Review,
    ReviewMedia,
    ReviewStatus,
    Role,
    Specialty,
    StaffRole,
    UrgencyDecision,
    User,
)


def _insert_ignoring_duplicates(session: AsyncSession, model: type[Base], values: dict[str, Any]) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING in the current dialect (atomic, unlike select-then-insert)."""
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    return dialect.insert(model).values(**values).on_conflict_do_nothing()


@cache
def _record_update(dialect: str, with_conversation: bool, with_person: bool) -> Any:
    # Built once per shape: building this statement on every update cost more Python time than running it. On the
    # tables, not the ORM classes: an ORM-enabled INSERT goes through the ORM's bulk-insert machinery and builds a
    # new statement (and its cache key) on every execution.
    insert_for = postgresql.insert if dialect == "postgresql" else sqlite.insert
    updates, records, users = ProcessedUpdate.__table__, FsmRecord.__table__, User.__table__
    statement = insert_for(updates).values(
        update_id=bindparam("update_id"), processed_at=bindparam("processed_at")).on_conflict_do_nothing()
    columns: list[Any] = []
    if with_conversation:
        key = bindparam("conversation", type_=records.c.key.type)
        columns += [select(records.c[name]).where(records.c.key == key).scalar_subquery().label(f"fsm_{name}")
                    for name in ("key", "state", "data")]
    if with_person:
        person = bindparam("person", type_=users.c.telegram_id.type)
        columns += [select(column).where(users.c.telegram_id == person).scalar_subquery().label(f"user_{column.key}")
                    for column in users.columns]
    return statement.returning(updates.c.update_id, *columns)


class UpdateRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def mark_processed(self, update_id: int, now: datetime, conversation: str | None = None,
                             person: int | None = None) -> bool:
        """Record the update; False when it was already handled (a redelivery).

        The same statement reads what every update needs next: the conversation's state (`conversation`, an
        fsm_records key) and the stored person (`person`, a Telegram id), so the start of an update costs one round
        trip. SQLite and PostgreSQL both allow subqueries in RETURNING."""
        statement = _record_update(self.session.bind.dialect.name, conversation is not None, person is not None)
        params = {"update_id": update_id, "processed_at": now, "conversation": conversation, "person": person}
        # On the session's connection: a Core statement needs none of the ORM's execution (nothing to autoflush yet).
        row = (await (await self.session.connection()).execute(statement, params)).first()
        if row is None:
            return False
        if conversation is not None:
            stored = row.fsm_key is not None
            FsmRepo(self.session).remember(conversation, _Prefixed(row, "fsm_") if stored else None)
        if person is not None:
            user = None
            if row.user_id is not None:
                user = User(**{column.key: getattr(row, f"user_{column.key}") for column in User.__table__.columns})
                make_transient_to_detached(user)  # as if just loaded: no SELECT, and nothing to flush
                self.session.add(user)
            UserRepo(self.session).remember(person, user)
        return True

    async def forget_older_than(self, moment: datetime) -> int:
        result = await self.session.execute(delete(ProcessedUpdate).where(ProcessedUpdate.processed_at < moment))
        return result.rowcount


class _Prefixed:
    """The columns of a row whose labels start with `prefix`, under their names without it."""

    def __init__(self, row: Any, prefix: str) -> None:
        self._row, self._prefix = row, prefix

    def __getattr__(self, name: str) -> Any:
        return getattr(self._row, self._prefix + name)


# session.info key of the people this transaction already looked up by Telegram id (None: not stored).
_PEOPLE = "people_by_telegram_id"


class UserRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def remember(self, telegram_id: int, user: User | None) -> None:
        self.session.info.setdefault(_PEOPLE, {})[telegram_id] = user

    async def by_telegram_id(self, telegram_id: int) -> User | None:
        known = self.session.info.get(_PEOPLE, {})
        if telegram_id in known:  # read with the update's record, or earlier in this transaction
            user = known[telegram_id]
            if user is None or (user.telegram_id == telegram_id and user in self.session):
                return user
        user = await self.session.scalar(select(User).where(User.telegram_id == telegram_id))
        self.remember(telegram_id, user)
        return user

    async def get(self, user_id: int) -> User | None:
        return await self.session.get(User, user_id)

    async def get_or_create(self, telegram_id: int, now: datetime, first_name: str | None = None) -> User:
        user = await self.by_telegram_id(telegram_id)
        if user is None:
            user = User(telegram_id=telegram_id, first_name=first_name, created_at=now)
            self.session.add(user)
            await self.session.flush()
            self.remember(telegram_id, user)
        return user


class StaffRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def roles_of(self, telegram_id: int) -> Sequence[StaffRole]:
        return (await self.session.scalars(select(StaffRole).where(StaffRole.telegram_id == telegram_id))).all()

    async def has_role(self, telegram_id: int, role: Role, clinic_id: int | None = None) -> bool:
        query = select(StaffRole.id).where(StaffRole.telegram_id == telegram_id, StaffRole.role == role)
        if clinic_id is not None:
            query = query.where(StaffRole.clinic_id == clinic_id)
        return (await self.session.scalar(query.limit(1))) is not None

    async def grant(
        self, telegram_id: int, role: Role, now: datetime, clinic_id: int | None = None, by: int | None = None
    ) -> None:
        if not await self.has_role(telegram_id, role, clinic_id):
            self.session.add(
                StaffRole(telegram_id=telegram_id, role=role, clinic_id=clinic_id, granted_by=by, granted_at=now)
            )
            await self.session.flush()

    async def revoke(self, telegram_id: int, role: Role, clinic_id: int | None = None) -> bool:
        """False when the person did not hold that role (for that clinic)."""
        scope = StaffRole.clinic_id == clinic_id if clinic_id is not None else StaffRole.clinic_id.is_(None)
        result = await self.session.execute(
            delete(StaffRole).where(StaffRole.telegram_id == telegram_id, StaffRole.role == role, scope)
            .execution_options(synchronize_session=False))
        return result.rowcount > 0


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


DIRECTORY_MODELS: dict[str, type[District | Specialty | Clinic | Doctor]] = {
    "district": District,
    "specialty": Specialty,
    "clinic": Clinic,
    "doctor": Doctor,
}


class DirectoryRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_external_ids(self, kind: str, columns: Sequence[str]) -> dict[str, tuple[int, dict[str, Any]]]:
        """external_id -> (id, the named columns' values) of every row of one kind, as plain values."""
        model = DIRECTORY_MODELS[kind]
        query = select(model.external_id, model.id, *(getattr(model, name) for name in columns))
        return {row[0]: (row[1], dict(zip(columns, row[2:], strict=True)))
                for row in await self.session.execute(query)}

    async def ids_by_external_id(self, kind: str) -> dict[str, int]:
        model = DIRECTORY_MODELS[kind]
        rows = await self.session.execute(select(model.external_id, model.id))
        return {external_id: row_id for external_id, row_id in rows}

    async def insert_many(self, kind: str, rows: Sequence[dict[str, Any]]) -> None:
        """One multi-row INSERT (batched by the driver) for rows of one kind."""
        if rows:
            await self.session.execute(insert(DIRECTORY_MODELS[kind]), list(rows))

    async def update_many(self, kind: str, rows: Sequence[dict[str, Any]]) -> None:
        """UPDATE by primary key for rows of one kind, each a dict with `id` and the columns to set."""
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row in rows:  # one executemany per set of changed columns
            by_columns.setdefault(tuple(sorted(row)), []).append(row)
        for batch in by_columns.values():
            await self.session.execute(update(DIRECTORY_MODELS[kind]), batch)

    async def version(self) -> int:
        """The directory's version: any process that built a search index of an older one builds it again."""
        return await self.session.scalar(select(DirectoryVersion.version).where(DirectoryVersion.id == 1)) or 0

    async def bump_version(self, now: datetime) -> None:
        dialect = postgresql if self.session.bind.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(DirectoryVersion).values(id=1, version=1, changed_at=now)
        await self.session.execute(statement.on_conflict_do_update(
            index_elements=[DirectoryVersion.id],
            set_={"version": DirectoryVersion.version + 1, "changed_at": statement.excluded.changed_at}))

    async def search_rows(self) -> dict[str, list[Any]]:
        """What the search index needs of the active directory, as plain rows (no ORM objects)."""
        specialties = (await self.session.execute(
            select(Specialty.id, Specialty.name_kk, Specialty.name_ru, Specialty.name_en))).all()
        clinics = (await self.session.execute(
            select(Clinic.id, Clinic.number, Clinic.name_kk, Clinic.name_ru, Clinic.name_en, Clinic.address,
                   Clinic.latitude, Clinic.longitude, Clinic.district_id)
            .where(Clinic.active.is_(True)).order_by(Clinic.number, Clinic.id))).all()
        doctors = (await self.session.execute(
            select(Doctor.id, Doctor.full_name, Doctor.clinic_id, Doctor.specialty_id)
            .join(Clinic, Clinic.id == Doctor.clinic_id)
            .where(Doctor.active.is_(True), Clinic.active.is_(True)).order_by(Doctor.id))).all()
        return {"specialty": list(specialties), "clinic": list(clinics), "doctor": list(doctors)}

    def add(self, entity: Any) -> None:
        self.session.add(entity)

    async def flush(self) -> None:
        await self.session.flush()

    async def export_rows(self) -> dict[str, Sequence[Any]]:
        """Every directory entity, ordered so that references point to earlier rows."""
        result: dict[str, Sequence[Any]] = {}
        for kind, model in DIRECTORY_MODELS.items():
            result[kind] = (await self.session.scalars(select(model).order_by(model.id))).all()
        return result

    async def districts(self) -> Sequence[District]:
        return (await self.session.scalars(select(District).order_by(District.name_en))).all()

    async def active_clinics(self, district_id: int | None = None) -> Sequence[Clinic]:
        query = select(Clinic).where(Clinic.active.is_(True)).order_by(Clinic.number, Clinic.id)
        if district_id is not None:
            query = query.where(Clinic.district_id == district_id)
        return (await self.session.scalars(query)).all()

    async def clinic(self, clinic_id: int) -> Clinic | None:
        return await self.session.get(Clinic, clinic_id)

    async def district(self, district_id: int) -> District | None:
        return await self.session.get(District, district_id)

    async def specialty(self, specialty_id: int) -> Specialty | None:
        return await self.session.get(Specialty, specialty_id)

    async def doctor(self, doctor_id: int) -> Doctor | None:
        return await self.session.get(Doctor, doctor_id)

    async def specialties_in_clinic(self, clinic_id: int) -> Sequence[Specialty]:
        query = (select(Specialty).join(Doctor, Doctor.specialty_id == Specialty.id)
                 .where(Doctor.clinic_id == clinic_id, Doctor.active.is_(True))
                 .group_by(Specialty.id).order_by(Specialty.id))
        return (await self.session.scalars(query)).all()

    async def all_specialties(self) -> Sequence[Specialty]:
        return (await self.session.scalars(select(Specialty).order_by(Specialty.id))).all()

    async def doctors_in_clinic(self, clinic_id: int, specialty_id: int | None = None) -> Sequence[Doctor]:
        query = (select(Doctor).where(Doctor.clinic_id == clinic_id, Doctor.active.is_(True))
                 .order_by(Doctor.full_name))
        if specialty_id is not None:
            query = query.where(Doctor.specialty_id == specialty_id)
        return (await self.session.scalars(query)).all()


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


# Rows the relay is done with: sent, or sent as part of another row's burst list.
_DONE = (OutboxStatus.SENT, OutboxStatus.GROUPED)
CLAIM_LOCK = 824_001  # pg_advisory_xact_lock key of outbox claims


class OutboxRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, message: OutboxMessage) -> bool:
        """Queue a message once per dedupe key; False when that key was queued before."""
        values = {column.key: getattr(message, column.key) for column in OutboxMessage.__table__.columns
                  if column.key != "id" and getattr(message, column.key) is not None}
        result = await self.session.execute(_insert_ignoring_duplicates(self.session, OutboxMessage, values))
        # Tells the transaction middleware to wake the relay once this transaction has committed.
        self.session.info["outbox_added"] = True
        return result.rowcount == 1

    async def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> Sequence[OutboxMessage]:
        """Lease the oldest due rows so that no other relay sends them until the lease runs out.

        A chat some relay is still sending to is left to it: one relay per chat at a time keeps the chat's order
        and makes its pace countable. A row whose send began under an earlier lease that ran out unreleased may
        have reached Telegram (the relay died mid-send): it is marked, and counted in the pace (`maybe_sent_at`).
        """
        if self.session.bind.dialect.name == "postgresql":
            # Claims of several instances one after another (a transaction-scoped lock, gone at commit), so two
            # relays cannot both see a chat as free. SQLite's single writer already does this.
            await self.session.execute(select(func.pg_advisory_xact_lock(CLAIM_LOCK)))
        busy_chats = select(OutboxMessage.chat_id).where(OutboxMessage.lease_until >= now,
                                                         OutboxMessage.status.not_in(_DONE))
        due = (OutboxMessage.status.not_in(_DONE) & (OutboxMessage.next_attempt_at <= now)
               & (OutboxMessage.lease_until.is_(None) | (OutboxMessage.lease_until < now))
               & OutboxMessage.chat_id.not_in(busy_chats))
        rows = (await self.session.scalars(select(OutboxMessage).where(due).order_by(OutboxMessage.id)
                                           .limit(limit))).all()
        for row in rows:
            if row.lease_until is not None and row.attempted_at is not None:
                # Its send began and was never recorded: a relay died. The repeat's mark names when that send
                # began; the pace counts it as of now, since a request in flight may reach Telegram late.
                row.payload = {**row.payload, "possible_repeat_of": row.attempted_at.isoformat()}
                row.maybe_sent_at = now
            row.lease_until, row.attempted_at = lease_until, None
        await self.session.flush()
        return rows

    async def begin_attempt(self, message_id: int, now: datetime) -> None:
        """Recorded (and committed) before the send itself, so that a relay dying mid-send leaves a trace."""
        await self.session.execute(update(OutboxMessage).where(OutboxMessage.id == message_id)
                                   .values(attempted_at=now).execution_options(synchronize_session=False))

    async def sent_weight_since(self, since: datetime, *, chat_id: int | None = None) -> tuple[int, datetime | None]:
        """Messages sent after `since` (to one chat, or in all) and the oldest such send: the pace so far. A send
        exactly a window ago has left the window, as Telegram counts it."""
        used, oldest = 0, None
        # A send whose outcome is unknown may have reached Telegram: it counts as well (twice, if sent again).
        for moment in (OutboxMessage.sent_at, OutboxMessage.maybe_sent_at):
            query = select(func.coalesce(func.sum(OutboxMessage.weight), 0), func.min(moment)).where(
                moment > since, OutboxMessage.weight > 0)
            if chat_id is not None:
                query = query.where(OutboxMessage.chat_id == chat_id)
            weight, first = (await self.session.execute(query)).one()
            used += int(weight or 0)
            oldest = first if oldest is None or (first is not None and first < oldest) else oldest
        return used, oldest

    async def get(self, message_id: int) -> OutboxMessage | None:
        return await self.session.get(OutboxMessage, message_id)

    async def postpone_chat(self, chat_id: int, until: datetime) -> None:
        """Hold back every unsent row for a chat, so that its messages keep their order."""
        await self.session.execute(
            update(OutboxMessage).where(OutboxMessage.chat_id == chat_id, OutboxMessage.status.not_in(_DONE),
                                        OutboxMessage.next_attempt_at < until)
            .values(next_attempt_at=until).execution_options(synchronize_session=False))

    async def card_of(self, review_id: int, chat_id: int) -> OutboxMessage | None:
        """The latest alert card of a review in a chat (its sent_message_id is what replies and edits refer to):
        a case reopened by the resident gets a new card, which then is the one."""
        query = select(OutboxMessage).where(OutboxMessage.review_id == review_id, OutboxMessage.chat_id == chat_id,
                                            OutboxMessage.kind == "alert")
        return await self.session.scalar(query.order_by(OutboxMessage.id.desc()).limit(1))

    async def point_card_to(self, review_id: int, chat_id: int, message_id: int) -> None:
        """A card posted again (from a burst list) becomes the one that replies and edits refer to."""
        card = await self.card_of(review_id, chat_id)
        if card is not None:
            card.sent_message_id = message_id

    async def record_card(self, review_id: int, case_id: int, chat_id: int, message_id: int, reference: str,
                          now: datetime) -> None:
        """A card posted in the chat directly (an ordinary case opened from a list) becomes the case's card, so that
        replies and the resident's additions find it; kept as a sent row, so the relay never sends it."""
        self.session.add(OutboxMessage(
            dedupe_key=f"alert:{reference}:{chat_id}:opened:{message_id}", chat_id=chat_id, kind="alert",
            payload={"text": None, "reference": reference, "case_id": case_id}, review_id=review_id,
            status=OutboxStatus.SENT, attempts=0, next_attempt_at=now, created_at=now, sent_at=now,
            sent_message_id=message_id))
        await self.session.flush()

    async def by_sent_message(self, chat_id: int, message_id: int) -> OutboxMessage | None:
        query = select(OutboxMessage).where(OutboxMessage.chat_id == chat_id,
                                            OutboxMessage.sent_message_id == message_id)
        return await self.session.scalar(query.limit(1))

    async def status_counts(self) -> dict[str, int]:
        rows = await self.session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))
        return {status: count for status, count in rows.all()}

    async def next_attempt(self) -> datetime | None:
        return await self.session.scalar(select(func.min(OutboxMessage.next_attempt_at))
                                         .where(OutboxMessage.status.not_in(_DONE)))

    async def oldest_unsent(self) -> datetime | None:
        return await self.session.scalar(select(func.min(OutboxMessage.created_at))
                                         .where(OutboxMessage.status.not_in(_DONE)))


@dataclass
class Conversation:
    """One conversation state as the update's transaction sees it; `changed` until written back."""

    state: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    stored: bool = False  # a row exists in fsm_records
    changed: bool = False


@cache
def _save_conversation(dialect: str) -> Any:
    # On the table, not the ORM class (see _record_update): built once, executed as it is.
    insert_for = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert_for(FsmRecord.__table__)
    return statement.on_conflict_do_update(
        index_elements=[FsmRecord.__table__.c.key],
        set_={"state": statement.excluded.state, "data": statement.excluded.data,
              "updated_at": statement.excluded.updated_at})


_FORGET_CONVERSATION = FsmRecord.__table__.delete().where(FsmRecord.__table__.c.key == bindparam("key"))


# session.info key of the conversations read or changed in the session's transaction.
_CONVERSATIONS = "conversations"


class FsmRepo:
    """Conversation states, read at most once and written at most once per key and transaction: reads and
    changes go to a copy kept in the session's info, and `write_changes` (before the commit) stores each changed
    one with a single upsert, or a delete when it was cleared."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _cached(self) -> dict[str, Conversation]:
        return self.session.info.setdefault(_CONVERSATIONS, {})

    def remember(self, key: str, row: Any | None) -> Conversation:
        """Keep what a query read (a row with `state` and `data`, or None when there is none) as `key`'s state."""
        conversation = Conversation(row.state, dict(row.data or {}), True) if row is not None else Conversation()
        self._cached()[key] = conversation
        return conversation

    async def load(self, key: str) -> Conversation:
        conversation = self._cached().get(key)
        if conversation is None:
            row = (await self.session.execute(
                select(FsmRecord.state, FsmRecord.data).where(FsmRecord.key == key))).first()
            conversation = self.remember(key, row)
        return conversation

    async def change(self, key: str, **fields: Any) -> None:
        conversation = await self.load(key)
        for name, value in fields.items():
            setattr(conversation, name, value)
        conversation.changed = True

    def forget(self, keys: Sequence[str]) -> None:
        """The rows of `keys` were deleted: what this transaction read or changed of them is void."""
        cached = self._cached()
        for key in keys:
            cached[key] = Conversation()

    async def write_changes(self, now: datetime) -> int:
        """Store every changed conversation (one statement each); returns how many statements were run."""
        written = 0
        for key, conversation in self._cached().items():
            if not conversation.changed:
                continue
            conversation.changed = False
            if conversation.state is None and not conversation.data:
                if conversation.stored:  # a finished conversation leaves no row behind
                    await self.session.execute(_FORGET_CONVERSATION, {"key": key})
                    conversation.stored, written = False, written + 1
                continue
            # The session's connection, as in mark_processed; ORM changes still pending are flushed at the commit.
            await (await self.session.connection()).execute(
                _save_conversation(self.session.bind.dialect.name),
                {"key": key, "state": conversation.state, "data": conversation.data, "updated_at": now})
            conversation.stored, written = True, written + 1
        return written


def _supersedes(later: Any, earlier: Any, window_days: float, dialect: str) -> Any:
    """`later` replaces `earlier`: the same person's update of it, or their later review of the same doctor within
    the window (one review per person per doctor per window counts, however the second one was started)."""
    updated = later.supersedes_id == earlier.id
    if window_days <= 0:
        return and_(later.user_id == earlier.user_id, updated)
    after = or_(later.created_at > earlier.created_at,
                and_(later.created_at == earlier.created_at, later.id > earlier.id))
    within = _within(later.created_at, earlier.created_at, window_days, dialect)
    same_doctor = and_(later.doctor_id == earlier.doctor_id, later.id != earlier.id, after, within)
    return and_(later.user_id == earlier.user_id, or_(updated, same_doctor))


def _within(later: Any, earlier: Any, window_days: float, dialect: str) -> Any:
    if dialect == "postgresql":
        return later <= earlier + literal(timedelta(days=window_days), Interval())
    # SQLite keeps datetimes as text: compare them as Julian day numbers.
    return func.julianday(later) <= func.julianday(earlier) + window_days


# The statements of every review's rating update, built once per shape (building them, aliases and upserts over
# many columns, took longer than running them) and executed with the values as parameters.

@cache
def _is_superseded(window_days: float, dialect: str) -> Any:
    later = aliased(Review)
    return select(exists().where(_supersedes(later, Review, window_days, dialect))).where(
        Review.id == bindparam("review_id"))


@cache
def _superseded_by(window_days: float, dialect: str) -> Any:
    later = aliased(Review)
    return (select(Review).join(later, _supersedes(later, Review, window_days, dialect))
            .where(later.id == bindparam("review_id")).order_by(Review.id))


@cache
def _add_to_stats(dialect: str, model: Any, key: tuple[str, ...], delta: tuple[str, ...],
                  fixed: tuple[str, ...]) -> Any:
    """INSERT of the key, the fixed columns and the deltas; on conflict the deltas are added and the fixed set."""
    table = model.__table__
    statement = (postgresql if dialect == "postgresql" else sqlite).insert(table).values(
        {name: bindparam(name) for name in (*key, *fixed, *delta)})
    changes = {name: table.c[name] + statement.excluded[name] for name in delta}
    changes.update({name: statement.excluded[name] for name in fixed})
    return statement.on_conflict_do_update(index_elements=[table.c[name] for name in key], set_=changes).returning(
        table.c.review_count, table.c.rating_sum, table.c.weight_sum)


RATINGS_LOCK = 0x6D66_7261_7465  # an arbitrary key of the PostgreSQL advisory lock on rating changes


class RatingRepo:
    """Stats rows kept in step with the reviews that count, the ranked reads, and the rebuild from raw reviews."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def _dialect(self) -> str:
        return self.session.bind.dialect.name

    def _insert(self, model: type[Base]) -> Any:
        return (postgresql if self._dialect == "postgresql" else sqlite).insert(model)

    async def take_turn(self) -> None:
        """Rating changes go one transaction at a time, until commit: each updates shared means and rescores a whole
        specialty, rows that concurrent transactions would otherwise lock in different orders (a deadlock on
        PostgreSQL). SQLite needs nothing: its writers take turns already (BEGIN IMMEDIATE)."""
        if self._dialect == "postgresql":
            await self.session.execute(select(func.pg_advisory_xact_lock(RATINGS_LOCK)))

    # -- Which reviews count ---------------------------------------------------------------------------------

    async def is_superseded(self, review_id: int, window_days: float) -> bool:
        statement = _is_superseded(window_days, self._dialect)
        return bool(await self.session.scalar(statement, {"review_id": review_id}))

    async def superseded_by(self, review_id: int, window_days: float) -> Sequence[Review]:
        """The earlier reviews that this one replaces."""
        return (await self.session.scalars(_superseded_by(window_days, self._dialect), {"review_id": review_id})).all()

    async def mark_counted(self, review_id: int, weight: float) -> bool:
        """False when it was counted already, so that a repeated call changes nothing."""
        statement = self._insert(CountedReview).values(review_id=review_id, weight=weight).on_conflict_do_nothing()
        return (await self.session.execute(statement)).rowcount == 1

    async def unmark_counted(self, review_id: int) -> float | None:
        """The weight it was counted with (to take away exactly that), or None when it was not counted."""
        statement = delete(CountedReview).where(CountedReview.review_id == review_id).returning(CountedReview.weight)
        return await self.session.scalar(statement.execution_options(synchronize_session=False))

    # -- Keeping the stats in step: atomic increments, so concurrent reviews of one doctor never lose an update --

    async def _add(self, model: Any, key: dict[str, Any], delta: dict[str, float], **fixed: Any) -> Any:
        statement = _add_to_stats(self._dialect, model, tuple(key), tuple(delta), tuple(fixed))
        count, rating_sum, weight_sum = (await self.session.execute(statement, {**key, **fixed, **delta})).one()
        if count <= 0:  # its last counting review went away: as if it had never been added
            where = [getattr(model, name) == value for name, value in key.items()]
            await self.session.execute(delete(model).where(*where).execution_options(synchronize_session=False))
        return count, rating_sum, weight_sum

    async def add_to_doctor(self, doctor_id: int, specialty_id: int, delta: dict[str, float]) -> None:
        await self._add(DoctorStats, {"doctor_id": doctor_id}, delta, specialty_id=specialty_id)

    async def add_to_clinic(self, clinic_id: int, delta: dict[str, float]) -> None:
        await self._add(ClinicStats, {"clinic_id": clinic_id}, delta)

    async def add_to_prior(self, scope: str, scope_id: int, delta: dict[str, float]) -> tuple[int, float, float]:
        """The prior's review count, rating sum and weight sum after the change."""
        return await self._add(RatingPrior, {"scope": scope, "scope_id": scope_id}, delta)

    async def doctor_totals(self, doctor_id: int) -> Any:
        """The doctor's specialty as the stats know it and the sums it holds (to move them to another specialty)."""
        query = select(DoctorStats.specialty_id, DoctorStats.review_count, DoctorStats.weight_sum,
                       DoctorStats.rating_sum).where(DoctorStats.doctor_id == doctor_id)
        return (await self.session.execute(query)).one_or_none()

    async def rescore_specialty(self, specialty_id: int, mean: float, prior_weight: float, factor: float) -> None:
        await self.session.execute(
            update(DoctorStats).where(DoctorStats.specialty_id == specialty_id)
            .values(score=_bayesian(DoctorStats, mean, prior_weight, factor))
            .execution_options(synchronize_session=False))

    async def rescore_clinics(self, mean: float, prior_weight: float, factor: float) -> None:
        await self.session.execute(update(ClinicStats).values(score=_bayesian(ClinicStats, mean, prior_weight, factor))
                                   .execution_options(synchronize_session=False))

    async def priors(self) -> Sequence[RatingPrior]:
        query = select(RatingPrior).order_by(RatingPrior.scope, RatingPrior.scope_id)
        return (await self.session.scalars(query.execution_options(populate_existing=True))).all()

    # -- Reading: rankings and pages ---------------------------------------------------------------------------

    async def of_doctor(self, doctor_id: int) -> DoctorStats | None:
        query = select(DoctorStats).where(DoctorStats.doctor_id == doctor_id)
        return await self.session.scalar(query.execution_options(populate_existing=True))

    async def of_clinic(self, clinic_id: int) -> ClinicStats | None:
        query = select(ClinicStats).where(ClinicStats.clinic_id == clinic_id)
        return await self.session.scalar(query.execution_options(populate_existing=True))

    async def of_clinics(self, clinic_ids: Sequence[int]) -> dict[int, ClinicStats]:
        query = select(ClinicStats).where(ClinicStats.clinic_id.in_(clinic_ids))
        return {row.clinic_id: row for row in await self.session.scalars(query)}

    async def of_doctors(self, doctor_ids: Sequence[int]) -> dict[int, DoctorStats]:
        query = select(DoctorStats).where(DoctorStats.doctor_id.in_(doctor_ids))
        return {row.doctor_id: row for row in await self.session.scalars(query)}

    @staticmethod
    def _in_scope(query: Any, district_id: int | None, clinic_id: int | None) -> Any:
        if clinic_id is not None:
            query = query.where(Doctor.clinic_id == clinic_id)
        if district_id is not None:
            query = query.where(Clinic.district_id == district_id)
        return query

    async def top_doctors(self, specialty_id: int, *, min_reviews: int, district_id: int | None = None,
                          clinic_id: int | None = None, offset: int = 0, limit: int = 10) -> Sequence[Any]:
        """Rows (doctor_id, full_name, score, review_count, clinic_id, clinic_kk/ru/en) of the best-scored active
        doctors with enough reviews, best first."""
        scope = "clinic" if clinic_id is not None else "district" if district_id is not None else "city"
        values = {"specialty_id": specialty_id, "min_reviews": min_reviews, "offset": offset, "limit": limit}
        values |= {"clinic_id": clinic_id} if scope == "clinic" else {"district_id": district_id} if district_id else {}
        return (await self.session.execute(_top_doctors_query(scope), values)).all()

    async def count_ranked(self, specialty_id: int, *, min_reviews: int, district_id: int | None = None,
                           clinic_id: int | None = None) -> int:
        query = (select(func.count()).select_from(DoctorStats).join(Doctor, Doctor.id == DoctorStats.doctor_id)
                 .join(Clinic, Clinic.id == Doctor.clinic_id)
                 .where(DoctorStats.specialty_id == specialty_id, DoctorStats.review_count >= min_reviews,
                        Doctor.active.is_(True)))
        return await self.session.scalar(self._in_scope(query, district_id, clinic_id)) or 0

    def _unranked(self, columns: Sequence[Any], specialty_id: int, min_reviews: int) -> Any:
        return (select(*columns).select_from(Doctor).join(Clinic, Clinic.id == Doctor.clinic_id)
                .outerjoin(DoctorStats, DoctorStats.doctor_id == Doctor.id)
                .where(Doctor.specialty_id == specialty_id, Doctor.active.is_(True),
                       # A doctor nobody has reviewed is not "not enough reviews yet": not listed at all.
                       func.coalesce(DoctorStats.review_count, 0) >= 1,
                       func.coalesce(DoctorStats.review_count, 0) < min_reviews))

    async def unranked_doctors(self, specialty_id: int, *, min_reviews: int, district_id: int | None = None,
                               clinic_id: int | None = None, offset: int = 0, limit: int = 10) -> Sequence[Any]:
        """(Doctor, Clinic, review count) of the doctors with too few reviews to rank, most reviewed first."""
        count = func.coalesce(DoctorStats.review_count, 0)
        query = (self._unranked([Doctor, Clinic, count], specialty_id, min_reviews)
                 .order_by(count.desc(), Doctor.full_name, Doctor.id).offset(offset).limit(limit))
        return (await self.session.execute(self._in_scope(query, district_id, clinic_id))).all()

    async def count_unranked(self, specialty_id: int, *, min_reviews: int, district_id: int | None = None,
                             clinic_id: int | None = None) -> int:
        query = self._unranked([func.count()], specialty_id, min_reviews)
        return await self.session.scalar(self._in_scope(query, district_id, clinic_id)) or 0

    async def best_doctors(self, *, min_reviews: int, limit: int) -> Sequence[Any]:
        """(DoctorStats, Doctor, Clinic, Specialty) of the city's best-scored doctors."""
        query = (select(DoctorStats, Doctor, Clinic, Specialty).join(Doctor, Doctor.id == DoctorStats.doctor_id)
                 .join(Clinic, Clinic.id == Doctor.clinic_id).join(Specialty, Specialty.id == Doctor.specialty_id)
                 .where(DoctorStats.review_count >= min_reviews, Doctor.active.is_(True))
                 .order_by(DoctorStats.score.desc(), DoctorStats.review_count.desc(), DoctorStats.doctor_id)
                 .limit(limit))
        return (await self.session.execute(query)).all()

    async def best_clinics(self, *, min_reviews: int, limit: int) -> Sequence[Any]:
        """(ClinicStats, Clinic) of the city's best-scored polyclinics."""
        query = (select(ClinicStats, Clinic).join(Clinic, Clinic.id == ClinicStats.clinic_id)
                 .where(ClinicStats.review_count >= min_reviews, Clinic.active.is_(True))
                 .order_by(ClinicStats.score.desc(), ClinicStats.review_count.desc(), ClinicStats.clinic_id)
                 .limit(limit))
        return (await self.session.execute(query)).all()

    async def doctors_of_clinic(self, clinic_id: int, *, min_reviews: int, offset: int,
                                limit: int) -> tuple[Sequence[Any], int]:
        """(Doctor, Specialty, DoctorStats or None): the ranked ones by score, then the others; and how many."""
        count = func.coalesce(DoctorStats.review_count, 0)
        where = (Doctor.clinic_id == clinic_id, Doctor.active.is_(True))
        query = (select(Doctor, Specialty, DoctorStats).join(Specialty, Specialty.id == Doctor.specialty_id)
                 .outerjoin(DoctorStats, DoctorStats.doctor_id == Doctor.id).where(*where)
                 .order_by(case((count >= min_reviews, 0), else_=1), func.coalesce(DoctorStats.score, 0).desc(),
                           count.desc(), Doctor.full_name, Doctor.id)
                 .offset(offset).limit(limit))
        total = await self.session.scalar(select(func.count()).select_from(Doctor).where(*where))
        return (await self.session.execute(query)).all(), total or 0

    async def public_reviews(self, *, kinds: Sequence[str], doctor_id: int | None = None,
                             clinic_id: int | None = None, offset: int, limit: int,
                             count_up_to: int | None = None) -> tuple[Sequence[Any], int]:
        """(Review, Doctor or None) of the published reviews that count, newest first; and how many there are, or
        `count_up_to` when there are at least that many (counting tens of thousands costs more than a page)."""
        # A review waiting for a moderator may count (with the queue off) but its words are not shown yet.
        where = [Review.kind.in_(kinds), Review.public_status == PublicStatus.PUBLISHED]
        if doctor_id is not None:
            where.append(Review.doctor_id == doctor_id)
        if clinic_id is not None:
            where.append(Review.clinic_id == clinic_id)
        counted = select(Review.id).join(CountedReview, CountedReview.review_id == Review.id).where(*where)
        counting = counted if count_up_to is None else counted.limit(count_up_to)
        total = await self.session.scalar(select(func.count()).select_from(counting.subquery())) or 0
        exact = count_up_to is None or total < count_up_to
        if limit <= 0 or (exact and offset >= total):
            return [], total
        newest_first = (Review.created_at.desc(), Review.id.desc())
        if not exact or offset <= total // 2:
            page = counted.order_by(*newest_first).offset(offset).limit(limit)
        else:  # the older half: counted from the oldest end, which is nearer
            page = (counted.order_by(Review.created_at, Review.id).offset(max(total - offset - limit, 0))
                    .limit(min(limit, total - offset)))
        # The page's ids first, from the index alone; then only those rows: far down a long list, skipping rows
        # would otherwise read every skipped review and its doctor.
        query = (select(Review, Doctor).outerjoin(Doctor, Doctor.id == Review.doctor_id)
                 .where(Review.id.in_(page.scalar_subquery())).order_by(*newest_first))
        return (await self.session.execute(query)).all(), total

    async def published_answers(self, clinic_id: int, *, role: str, kinds: Sequence[str], offset: int,
                                limit: int) -> tuple[Sequence[Any], int]:
        """(Response, Review) of the clinic's published answers to its reviews that are shown, newest first."""
        where = (Review.clinic_id == clinic_id, Review.kind.in_(kinds), *_published_answer(role))
        base = (select(Response, Review).join(Review, Review.id == Response.review_id)
                .join(CountedReview, CountedReview.review_id == Review.id).where(*where))
        total = await self.session.scalar(select(func.count()).select_from(base.subquery()))
        query = base.order_by(Response.created_at.desc(), Response.id.desc()).offset(offset).limit(limit)
        return (await self.session.execute(query)).all(), total or 0

    async def doctor_counts_by_specialty(self) -> dict[int, int]:
        """How many active doctors each specialty has: the common ones are offered first."""
        query = (select(Doctor.specialty_id, func.count()).where(Doctor.active.is_(True))
                 .group_by(Doctor.specialty_id))
        return {specialty_id: count for specialty_id, count in (await self.session.execute(query)).all()}

    async def published_answers_to(self, review_ids: Sequence[int], *, role: str) -> dict[int, list[Response]]:
        """Review id -> the published answers to it by `role`, oldest first (for reviews already shown)."""
        if not review_ids:
            return {}
        query = (select(Response).join(Review, Review.id == Response.review_id)
                 .where(Response.review_id.in_(review_ids), *_published_answer(role))
                 .order_by(Response.created_at, Response.id))
        answers: dict[int, list[Response]] = {}
        for response in await self.session.scalars(query):
            answers.setdefault(response.review_id, []).append(response)
        return answers

    async def specialties_with_doctors(self) -> Sequence[Specialty]:
        query = (select(Specialty).where(exists().where(Doctor.specialty_id == Specialty.id, Doctor.active.is_(True)))
                 .order_by(Specialty.id))
        return (await self.session.scalars(query)).all()

    async def districts_with_specialty(self, specialty_id: int) -> Sequence[District]:
        query = (select(District).where(exists().where(
            Clinic.district_id == District.id, Clinic.active.is_(True), Doctor.clinic_id == Clinic.id,
            Doctor.specialty_id == specialty_id, Doctor.active.is_(True))).order_by(District.name_en))
        return (await self.session.scalars(query)).all()

    async def clinics_with_specialty(self, specialty_id: int) -> Sequence[Clinic]:
        query = (select(Clinic).where(Clinic.active.is_(True), exists().where(
            Doctor.clinic_id == Clinic.id, Doctor.specialty_id == specialty_id, Doctor.active.is_(True)))
                 .order_by(Clinic.number, Clinic.id))
        return (await self.session.scalars(query)).all()

    # -- Rebuilding everything from the raw reviews --------------------------------------------------------------

    async def clear(self) -> None:
        for model in (DoctorStats, ClinicStats, RatingPrior, CountedReview):
            await self.session.execute(delete(model).execution_options(synchronize_session=False))

    async def count_eligible(self, *, excluded_statuses: Sequence[str], window_days: float,
                             published_only: bool = False) -> int:
        """Mark every review that counts, each with weight 1 (`published_only`: only those a moderator let through);
        how many that is."""
        later, earlier = aliased(Review), aliased(Review)
        # A set built once: few reviews are updates, and a correlated check per review lets SQLite pick the wrong index.
        updated = (select(later.supersedes_id).join(earlier, earlier.id == later.supersedes_id)
                   .where(later.user_id == earlier.user_id))
        eligible = (select(Review.id, literal(1.0))
                    .where(Review.status.not_in(excluded_statuses), Review.public_status != PublicStatus.HIDDEN,
                           Review.fraud_flag.is_(False), Review.id.not_in(updated)))
        if published_only:
            eligible = eligible.where(Review.public_status == PublicStatus.PUBLISHED)
        if window_days > 0:
            # The same rule as _supersedes in one pass: a later review of the same doctor by the same person within
            # the window exists exactly when the next one does (sorted as _supersedes orders them).
            next_at = func.lead(Review.created_at).over(partition_by=(Review.user_id, Review.doctor_id),
                                                        order_by=(Review.created_at, Review.id))
            pairs = (select(Review.id, Review.created_at, next_at.label("next_at"))
                     .where(Review.doctor_id.is_not(None)).subquery())
            soon = _within(pairs.c.next_at, pairs.c.created_at, window_days, self._dialect)
            replaced = select(pairs.c.id).where(pairs.c.next_at.is_not(None), soon)
            eligible = eligible.where(Review.id.not_in(replaced))
        await self.session.execute(insert(CountedReview).from_select(["review_id", "weight"], eligible))
        return await self.session.scalar(select(func.count()).select_from(CountedReview)) or 0

    async def counted_dates(self) -> Sequence[Any]:
        """(review id, created_at) of every counted review, for weighting by age."""
        query = select(CountedReview.review_id, Review.created_at).join(Review, Review.id == CountedReview.review_id)
        return (await self.session.execute(query)).all()

    async def set_weights(self, weights: Sequence[tuple[int, float]]) -> None:
        table = CountedReview.__table__
        statement = update(table).where(table.c.review_id == bindparam("rid")).values(weight=bindparam("w"))
        for start in range(0, len(weights), 10_000):
            chunk = [{"rid": review_id, "w": weight} for review_id, weight in weights[start:start + 10_000]]
            await self.session.execute(statement, chunk)

    async def aggregate(self) -> tuple[int, int]:
        """Fill the stats and priors from the counted reviews, in SQL; how many doctor and clinic rows that made."""
        sums = _aggregates()
        doctors = (select(Doctor.id, Doctor.specialty_id, *sums.values())
                   .select_from(CountedReview).join(Review, Review.id == CountedReview.review_id)
                   .join(Doctor, Doctor.id == Review.doctor_id).group_by(Doctor.id, Doctor.specialty_id))
        await self.session.execute(insert(DoctorStats).from_select(["doctor_id", "specialty_id", *sums], doctors))
        clinics = (select(Review.clinic_id, *sums.values()).select_from(CountedReview)
                   .join(Review, Review.id == CountedReview.review_id).group_by(Review.clinic_id))
        await self.session.execute(insert(ClinicStats).from_select(["clinic_id", *sums], clinics))
        prior = ["review_count", "weight_sum", "rating_sum"]
        specialties = (select(literal("specialty"), DoctorStats.specialty_id,
                              *(func.sum(getattr(DoctorStats, name)) for name in prior))
                       .group_by(DoctorStats.specialty_id))
        await self.session.execute(insert(RatingPrior).from_select(["scope", "scope_id", *prior], specialties))
        city = (await self.session.execute(select(*(func.sum(getattr(ClinicStats, name)) for name in prior)))).one()
        if city[0]:  # no row at all when nothing counts, as the incremental path leaves it
            self.session.add(RatingPrior(scope="city", scope_id=0, **dict(zip(prior, city, strict=True))))
            await self.session.flush()
        doctor_rows = await self.session.scalar(select(func.count()).select_from(DoctorStats))
        return doctor_rows or 0, await self.session.scalar(select(func.count()).select_from(ClinicStats)) or 0


@cache
def _top_doctors_query(scope: str) -> Any:
    # Built once: on the hottest read, building the statement and loading ORM objects cost more than the query.
    query = (select(DoctorStats.doctor_id, Doctor.full_name, DoctorStats.score, DoctorStats.review_count,
                    Doctor.clinic_id, Clinic.name_kk.label("clinic_kk"), Clinic.name_ru.label("clinic_ru"),
                    Clinic.name_en.label("clinic_en"))
             .join(Doctor, Doctor.id == DoctorStats.doctor_id).join(Clinic, Clinic.id == Doctor.clinic_id)
             .where(DoctorStats.specialty_id == bindparam("specialty_id"),
                    DoctorStats.review_count >= bindparam("min_reviews"), Doctor.active.is_(True))
             .order_by(DoctorStats.score.desc(), DoctorStats.review_count.desc(), DoctorStats.doctor_id)
             .offset(bindparam("offset")).limit(bindparam("limit")))
    if scope == "clinic":
        query = query.where(Doctor.clinic_id == bindparam("clinic_id"))
    elif scope == "district":
        query = query.where(Clinic.district_id == bindparam("district_id"))
    return query


def _published_answer(role: str) -> tuple[Any, ...]:
    """An answer the public may read: by `role`, published, to a review that is published."""
    return (Response.author_role == role, Response.public_status == PublicStatus.PUBLISHED,
            Review.public_status == PublicStatus.PUBLISHED)


def _bayesian(model: Any, mean: float, prior_weight: float, factor: float) -> Any:
    # (m*C + sum of weighted stars) / (m + sum of weights); `factor` turns epoch-relative weights into age weights.
    return ((literal(prior_weight * mean) + model.rating_sum * literal(factor))
            / (literal(prior_weight) + model.weight_sum * literal(factor)))


def _aggregates() -> dict[str, Any]:
    """What each stats column adds up, as SQL over counted reviews joined with reviews."""
    sums: dict[str, Any] = {
        "review_count": func.count(),
        "weight_sum": func.sum(CountedReview.weight),
        "rating_sum": func.sum(CountedReview.weight * Review.rating),
    }
    for stars in range(1, 6):
        sums[f"stars_{stars}"] = func.sum(case((Review.rating == stars, 1), else_=0))
    for name in CRITERIA:
        value = Review.criteria[name].as_integer()
        sums[f"{name}_sum"] = func.coalesce(func.sum(value), 0)
        sums[f"{name}_count"] = func.count(value)
    return sums


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
    def _posted(action: str) -> Any:
        """(review_id, first time it was posted to its clinic), from the audit entries `action`."""
        return (select(AuditLog.entity_id.label("review_id"), func.min(AuditLog.at).label("posted_at"))
                .where(AuditLog.action == action, AuditLog.entity == "review").group_by(AuditLog.entity_id)
                .subquery())

    async def posted_at(self, review_id: int, action: str) -> datetime | None:
        await self.session.flush()
        query = select(func.min(AuditLog.at)).where(AuditLog.action == action, AuditLog.entity == "review",
                                                    AuditLog.entity_id == review_id)
        return await self.session.scalar(query)

    @staticmethod
    def _answered_by_clinic(review_id: Any) -> Any:
        # An answer waiting for a moderator is an answer given; one the moderator rejected is not.
        return exists().where(Response.review_id == review_id, Response.author_role == Role.CLINIC_STAFF,
                              Response.public_status != PublicStatus.HIDDEN)

    async def unanswered_posted_cases(self, action: str, *, statuses: Sequence[str],
                                      kinds: Sequence[str]) -> Sequence[Any]:
        """(Case, posted_at) of open, not yet escalated cases of these kinds that were posted to their clinic
        (audit `action`) and that the clinic has not answered."""
        posted = self._posted(action)
        query = (select(Case, posted.c.posted_at).join(Review, Review.id == Case.review_id)
                 .join(posted, posted.c.review_id == Case.review_id)
                 .where(Case.escalated_at.is_(None), Case.status.in_(statuses), Review.kind.in_(kinds),
                        ~self._answered_by_clinic(Case.review_id))
                 .order_by(Case.id))
        return (await self.session.execute(query)).all()

    async def posted_reviews(self, clinic_ids: Sequence[int], action: str, *, limit: int) -> Sequence[Any]:
        """(Review, answered by the clinic) of the reviews posted to these clinics, the latest posted first."""
        posted = self._posted(action)
        answered = self._answered_by_clinic(Review.id)
        query = (select(Review, answered).join(posted, posted.c.review_id == Review.id)
                 .where(Review.clinic_id.in_(clinic_ids))
                 .order_by(posted.c.posted_at.desc(), Review.id.desc()).limit(limit))
        return (await self.session.execute(query)).all()


class ModerationRepo:
    """The moderator's queue: reviews and clinic answers whose public text waits for a decision."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def waiting(self) -> list[tuple[datetime, str, int]]:
        """(created_at, "review" or "answer", id) of everything waiting, oldest first (ids only: the queue may be
        long, a moderator sees one item at a time)."""
        reviews = await self.session.execute(
            select(Review.created_at, Review.id).where(Review.public_status == PublicStatus.PENDING,
                                                       Review.status != ReviewStatus.WITHDRAWN))
        answers = await self.session.execute(
            select(Response.created_at, Response.id).where(Response.public_status == PublicStatus.PENDING,
                                                           Response.author_role == Role.CLINIC_STAFF))
        items = [(at, "review", item_id) for at, item_id in reviews.all()]
        items += [(at, "answer", item_id) for at, item_id in answers.all()]
        return sorted(items)

    async def response(self, response_id: int) -> Response | None:
        return await self.session.get(Response, response_id)


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

    async def alert_cards_of(self, review_ids: Sequence[int]) -> Sequence[OutboxMessage]:
        query = select(OutboxMessage).where(OutboxMessage.review_id.in_(review_ids), OutboxMessage.kind == "alert")
        return (await self.session.scalars(query.order_by(OutboxMessage.id))).all()

    async def drop_actor(self, telegram_id: int) -> int:
        """The audit log keeps what happened and when, no longer who (the person's Telegram id)."""
        result = await self.session.execute(update(AuditLog).where(AuditLog.actor_telegram_id == telegram_id)
                                            .values(actor_telegram_id=None)
                                            .execution_options(synchronize_session=False))
        return result.rowcount


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
            "escalated": and_(still_open, Case.escalated_at.is_not(None), Case.escalated_at < end),
        }
        query = (select(*(func.coalesce(func.sum(case((condition, 1), else_=0)), 0) for condition in figures.values()))
                 .select_from(Case).join(Review, Review.id == Case.review_id)
                 .outerjoin(answers, answers.c.review_id == Case.review_id))
        if clinic_id is not None:
            query = query.where(Review.clinic_id == clinic_id, Review.id.in_(self._posted_to_clinic()))
        values = (await self.session.execute(query)).one()
        return {name: int(value) for name, value in zip(figures, values, strict=True)}

    async def escalated_open(self, end: datetime, *, open_statuses: Sequence[str], limit: int) -> Sequence[Any]:
        """(Case, Review, Clinic) of the cases escalated before `end` and open then, earliest escalation first."""
        query = (select(Case, Review, Clinic).join(Review, Review.id == Case.review_id)
                 .join(Clinic, Clinic.id == Review.clinic_id)
                 .where(self._open_at(end, open_statuses), Case.escalated_at.is_not(None), Case.escalated_at < end)
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
        """(Review, Case or None, Clinic, Doctor or None, Specialty or None, first answer time, evidence files) of
        the reviews registered in [start, end), in the order they were registered."""
        answers = self._first_answers()
        evidence = (select(ReviewMedia.review_id, func.count().label("files"))
                    .group_by(ReviewMedia.review_id).subquery())
        query = (select(Review, Case, Clinic, Doctor, Specialty, answers.c.at, func.coalesce(evidence.c.files, 0))
                 .join(Clinic, Clinic.id == Review.clinic_id)
                 .outerjoin(Case, Case.review_id == Review.id)
                 .outerjoin(Doctor, Doctor.id == Review.doctor_id)
                 .outerjoin(Specialty, Specialty.id == Review.specialty_id)
                 .outerjoin(answers, answers.c.review_id == Review.id)
                 .outerjoin(evidence, evidence.c.review_id == Review.id)
                 .order_by(Review.created_at, Review.id))
        return (await self.session.execute(self._registered(query, start, end, None))).all()


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

    async def unlisted_ordinary(self, statuses: Sequence[str]) -> Sequence[Case]:
        """Open ordinary (not urgent) cases that no daily "new appeals" message has listed yet, oldest first."""
        query = (select(Case).where(Case.urgency == "normal", Case.listed_at.is_(None), Case.status.in_(statuses))
                 .order_by(Case.created_at, Case.id))
        return (await self.session.scalars(query)).all()

    async def provisional_open(self, statuses: Sequence[str]) -> Sequence[Case]:
        query = select(Case).where(Case.due_provisional.is_(True), Case.status.in_(statuses))
        return (await self.session.scalars(query)).all()

    async def search(self, *, statuses: Sequence[str] | None = None, urgency: str | None = None,
                     clinic_id: int | None = None, district_id: int | None = None, category: str | None = None,
                     assignee: int | None = None, overdue_before: date | None = None, escalated: bool = False,
                     words: str | None = None, name_ids: Sequence[int] = (), reference: str | None = None,
                     offset: int = 0, limit: int = 10) -> tuple[Sequence[Case], int]:
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
            query = query.where(Case.escalated_at.is_not(None))
        if reference:
            query = query.where(Review.reference == reference)
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


class Repositories:
    """Everything a handler may touch in the database, bound to the update's one transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.updates = UpdateRepo(session)
        self.users = UserRepo(session)
        self.staff = StaffRepo(session)
        self.audit = AuditRepo(session)
        self.directory = DirectoryRepo(session)
        self.fsm = FsmRepo(session)
        self.reviews = ReviewRepo(session)
        self.outbox = OutboxRepo(session)
        self.ratings = RatingRepo(session)
        self.privacy = PrivacyRepo(session)
        self.clinics = ClinicRepo(session)
        self.moderation = ModerationRepo(session)
        self.reports = ReportRepo(session)
        self.caseload = CaseloadRepo(session)

        self.urgency_decisions = UrgencyDecisionRepo(session)


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
