"""Rating stats kept in step with the reviews that count, ranked reads, and the rebuild from raw reviews."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from functools import cache
from typing import Any

from sqlalchemy import Interval, and_, bindparam, case, delete, exists, func, insert, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.models import (
    CRITERIA,
    Base,
    Clinic,
    ClinicStats,
    CountedReview,
    District,
    Doctor,
    DoctorStats,
    PublicStatus,
    RatingPrior,
    Response,
    Review,
    Specialty,
)


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
        # SQLite: a set built once (few reviews are updates, and a correlated check per review lets SQLite pick the
        # wrong index). PostgreSQL: NOT EXISTS, an anti-join at any size. Its NOT IN over a subquery is a hashed
        # lookup only while the subquery's ids fit in work_mem; past that every review was checked against the whole
        # subquery, and a rebuild at 1,000,000 reviews took 335 s (bench/top_specialists.py), the ratings lock held.
        anti_join = self._dialect == "postgresql"
        if anti_join:
            updated_ones = ~exists().where(later.supersedes_id == Review.id, later.user_id == Review.user_id)
        else:
            updated_ones = Review.id.not_in(select(later.supersedes_id).join(earlier, earlier.id == later.supersedes_id)
                                            .where(later.user_id == earlier.user_id))
        eligible = (select(Review.id, literal(1.0))
                    .where(Review.status.not_in(excluded_statuses), Review.public_status != PublicStatus.HIDDEN,
                           Review.fraud_flag.is_(False), updated_ones))
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
            replaced = and_(pairs.c.next_at.is_not(None), soon)
            if anti_join:
                eligible = eligible.where(~exists().where(pairs.c.id == Review.id, replaced))
            else:
                eligible = eligible.where(Review.id.not_in(select(pairs.c.id).where(replaced)))
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
