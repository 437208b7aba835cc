"""Fair ratings: hand-computed Bayesian scores, which reviews count, and incremental stats equal to a rebuild."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.__main__ import main
from bot.config import Settings
from bot.services import drafts, ratings, reviews
from storage.engine import make_engine, make_session_pool
from storage.migrate import upgrade
from storage.models import (
    CRITERIA,
    Clinic,
    ClinicStats,
    CountedReview,
    District,
    Doctor,
    DoctorStats,
    PublicStatus,
    RatingPrior,
    Review,
    ReviewStatus,
    Specialty,
    User,
)
from storage.repositories import Repositories
from tests.conftest import BACKENDS

NOW = datetime(2026, 11, 26, 5, 0, tzinfo=UTC)
both_backends = pytest.mark.parametrize("backend", BACKENDS, indirect=True)


@dataclass
class World:
    """A small directory: two districts, two specialties, two clinics, doctors by name, and residents on demand."""

    pool: object
    settings: Settings
    doctors: dict[str, Doctor] = field(default_factory=dict)
    clinics: list[Clinic] = field(default_factory=list)
    specialties: list[Specialty] = field(default_factory=list)
    districts: list[District] = field(default_factory=list)
    next_user: int = 50_000

    async def resident(self, repo: Repositories, first_name: str | None = None) -> User:
        self.next_user += 1
        return await repo.users.get_or_create(self.next_user, NOW, first_name)

    async def review(self, repo: Repositories, doctor: str | None, rating: int, *, user: User | None = None,
                     now: datetime = NOW, clinic: Clinic | None = None, **draft: object) -> Review:
        """A review submitted through the feedback service, as the conversation's last step does."""
        user = user or await self.resident(repo)
        target = self.doctors[doctor] if doctor else None
        base = {"clinic_id": target.clinic_id if target else (clinic or self.clinics[0]).id,
                "target": "doctor" if target else "clinic", "kind": "gratitude", "rating": rating,
                "text": "Текст отзыва", "anonymous": True}
        if target:
            base |= {"doctor_id": target.id, "specialty_id": target.specialty_id}
        result = await reviews.submit(repo, user, {**base, **draft}, now=now, settings=self.settings, language="ru")
        return result.review


async def build_world(pool, settings: Settings, layout: dict[str, tuple[int, int]] | None = None,
                      tag: str = "") -> World:
    """`layout`: doctor name -> (specialty index, clinic index); `tag` keeps external ids apart in a second world."""
    layout = layout or {"Ahmetova A.": (0, 0), "Bekova B.": (0, 0), "Serikov S.": (0, 1), "Dauletov D.": (1, 1)}
    world = World(pool, settings)
    async with pool() as session, session.begin():
        world.districts = [District(external_id=f"{tag}d{i}", name_kk=f"Аудан {i}", name_ru=f"Район {i}",
                                    name_en=f"District {i}") for i in (1, 2)]
        world.specialties = [Specialty(external_id=f"{tag}s{i}", name_kk=f"Маман {i}", name_ru=f"Специалист {i}",
                                       name_en=f"Specialist {i}") for i in (1, 2)]
        session.add_all([*world.districts, *world.specialties])
        await session.flush()
        world.clinics = [Clinic(external_id=f"{tag}c{i}", number=i, name_kk=f"№{i} емхана", name_ru=f"Поликлиника №{i}",
                                name_en=f"Polyclinic No. {i}", district_id=world.districts[i - 1].id,
                                latitude=43.2 + i / 100, longitude=76.9) for i in (1, 2)]
        session.add_all(world.clinics)
        await session.flush()
        for index, (name, (specialty, clinic)) in enumerate(layout.items()):
            doctor = Doctor(external_id=f"{tag}doc{index}", clinic_id=world.clinics[clinic].id,
                            specialty_id=world.specialties[specialty].id, full_name=name)
            session.add(doctor)
            world.doctors[name] = doctor
        await session.flush()
    return world


@pytest.fixture
async def world(pool, settings: Settings) -> World:
    settings.ratings.prior_weight = 10
    settings.ratings.min_reviews = 3
    return await build_world(pool, settings)


async def stats_of(pool, doctor: Doctor) -> DoctorStats | None:
    async with pool() as session:
        return await Repositories(session).ratings.of_doctor(doctor.id)


async def many(world: World, doctor: str, ratings_: list[int]) -> None:
    async with world.pool() as session, session.begin():
        repo = Repositories(session)
        for rating in ratings_:
            await world.review(repo, doctor, rating)


# --- Hand-computed scores --------------------------------------------------------------------------------


async def test_one_five_star_review_does_not_beat_two_hundred_averaging_4_7(world: World) -> None:
    await many(world, "Ahmetova A.", [5])
    await many(world, "Bekova B.", [5] * 140 + [4] * 60)  # 940 / 200 = 4.7
    await many(world, "Serikov S.", [4] * 50 + [3] * 50)  # 350 / 100 = 3.5
    # Specialty mean C = (5 + 940 + 350) / 301 = 1295/301; with m = 10:
    # Ahmetova: (10·1295/301 + 5) / 11 = 14455/3311 = 4.36575...
    # Bekova: (10·1295/301 + 940) / 210 = 295890/63210 = 4.68106...
    # Serikov: (10·1295/301 + 350) / 110 = 118300/33110 = 3.57294...
    a, b, s = [await stats_of(world.pool, world.doctors[name]) for name in ("Ahmetova A.", "Bekova B.", "Serikov S.")]
    assert a.score == pytest.approx(14455 / 3311, abs=1e-12)
    assert b.score == pytest.approx(295890 / 63210, abs=1e-12)
    assert s.score == pytest.approx(118300 / 33110, abs=1e-12)
    assert (a.review_count, b.review_count, s.review_count) == (1, 200, 100)
    assert (b.stars_5, b.stars_4, b.stars_3) == (140, 60, 0)
    async with world.pool() as session:
        repo = Repositories(session)
        specialty = world.specialties[0].id
        # Even when a single review were enough to be ranked, two hundred at 4.7 come first.
        ranked = await repo.ratings.top_doctors(specialty, min_reviews=1)
        assert [row.full_name for row in ranked] == ["Bekova B.", "Ahmetova A.", "Serikov S."]
        ranked = await repo.ratings.top_doctors(specialty, min_reviews=3)
        assert [row.full_name for row in ranked] == ["Bekova B.", "Serikov S."]
        unranked = await repo.ratings.unranked_doctors(specialty, min_reviews=3)
        assert [(doctor.full_name, count) for doctor, _, count in unranked] == [("Ahmetova A.", 1)]
        # The clinic shrinks toward the city's mean: clinic 1 has Ahmetova and Bekova, clinic 2 Serikov.
        clinic = await repo.ratings.of_clinic(world.clinics[0].id)
        assert clinic.review_count == 201
        assert clinic.score == pytest.approx((10 * 1295 / 301 + 945) / 211, abs=1e-12)


async def test_ties_go_to_more_reviews_then_to_the_earlier_doctor(pool, settings: Settings) -> None:
    settings.ratings.prior_weight = 10
    layout = {"Ahmetova A.": (0, 0), "Bekova B.": (0, 0), "Serikov S.": (0, 1), "Zhanova Z.": (0, 1)}
    world = await build_world(pool, settings, layout)
    await many(world, "Ahmetova A.", [5, 3])  # 8 / 2
    await many(world, "Bekova B.", [4, 4])  # 8 / 2: the same score and count as Ahmetova
    await many(world, "Serikov S.", [4] * 6)  # the mean exactly, with more reviews
    await many(world, "Zhanova Z.", [4, 4, 4, 5])
    # C = (8 + 8 + 24 + 17) / 14 = 57/14. Zhanova: (570/14 + 17) / 14 = 808/196 = 4.1224...
    # Serikov: (570/14 + 24) / 16 = 906/224 = 4.0446...; Ahmetova = Bekova: (570/14 + 8) / 12 = 682/168 = 4.0595...
    async with pool() as session:
        ranked = await Repositories(session).ratings.top_doctors(world.specialties[0].id, min_reviews=1)
    assert [(row.full_name, round(row.score, 4)) for row in ranked] == [
        ("Zhanova Z.", 4.1224), ("Ahmetova A.", 4.0595), ("Bekova B.", 4.0595), ("Serikov S.", 4.0446)]
    assert ranked[1].score == ranked[2].score

    # A tie on score alone goes to the doctor with more reviews: both exactly at the mean 4.
    world = await build_world(pool, settings, {"Ivanova I.": (1, 0), "Petrova P.": (1, 1)}, tag="second-")
    await many(world, "Ivanova I.", [4] * 3)
    await many(world, "Petrova P.", [4] * 7)
    async with pool() as session:
        ranked = await Repositories(session).ratings.top_doctors(world.specialties[1].id, min_reviews=1)
    assert [(row.full_name, row.score, row.review_count) for row in ranked] == [
        ("Petrova P.", 4.0, 7), ("Ivanova I.", 4.0, 3)]


async def set_status(world: World, review_id: int, **changes: object) -> None:
    async with world.pool() as session, session.begin():
        repo = Repositories(session)
        review = await session.get(Review, review_id)
        for name, value in changes.items():
            setattr(review, name, value)
        await ratings.review_status_changed(repo, review, now=NOW, settings=world.settings)


@both_backends
async def test_rejected_fraud_flagged_and_hidden_reviews_do_not_count(world: World) -> None:
    async with world.pool() as session, session.begin():
        repo = Repositories(session)
        fives = [await world.review(repo, "Ahmetova A.", 5, criteria={"attentiveness": 4}) for _ in range(3)]
        one = await world.review(repo, "Ahmetova A.", 1, criteria={"attentiveness": 1, "waiting": 2})
        for _ in range(2):
            await world.review(repo, "Bekova B.", 3)
    ahmetova = world.doctors["Ahmetova A."]
    before = await stats_of(world.pool, ahmetova)
    assert (before.review_count, before.rating_sum, before.stars_1, before.attentiveness_count) == (4, 16, 1, 4)

    await set_status(world, one.id, status=ReviewStatus.REJECTED)
    await set_status(world, one.id, status=ReviewStatus.REJECTED)  # twice: changes nothing more
    stats = await stats_of(world.pool, ahmetova)
    assert (stats.review_count, stats.rating_sum, stats.stars_1) == (3, 15, 0)
    assert (stats.attentiveness_sum, stats.attentiveness_count, stats.waiting_count) == (12, 3, 0)
    # C = (15 + 6) / 5 = 4.2; Ahmetova: (42 + 15) / 13 = 57/13.
    assert stats.score == pytest.approx(57 / 13, abs=1e-12)

    await set_status(world, fives[0].id, fraud_flag=True)
    await set_status(world, fives[1].id, public_status=PublicStatus.HIDDEN)
    stats = await stats_of(world.pool, ahmetova)
    assert (stats.review_count, stats.rating_sum) == (1, 5)
    # C = (5 + 6) / 3; Ahmetova: (10·11/3 + 5) / 11 = 125/33.
    assert stats.score == pytest.approx(125 / 33, abs=1e-12)
    async with world.pool() as session:
        repo = Repositories(session)
        assert await repo.ratings.top_doctors(world.specialties[0].id, min_reviews=3) == []
        shown, total = await repo.ratings.public_reviews(kinds=["gratitude"], doctor_id=ahmetova.id, offset=0,
                                                         limit=10)
        assert total == 1 and [review.id for review, _ in shown] == [fives[2].id]

    # Moderation changes its mind: the review counts again.
    await set_status(world, one.id, status=ReviewStatus.ANSWERED)
    await set_status(world, fives[0].id, fraud_flag=False)
    stats = await stats_of(world.pool, ahmetova)
    assert (stats.review_count, stats.rating_sum, stats.stars_1) == (3, 11, 1)
    # The last counting review withdrawn: no row at all, as if there had never been one.
    for review in (one, fives[0], fives[2]):
        await set_status(world, review.id, status=ReviewStatus.WITHDRAWN)
    assert await stats_of(world.pool, ahmetova) is None
    await assert_incremental_equals_rebuilt(world.pool, world.settings)


async def test_a_second_review_within_30_days_replaces_the_first(world: World) -> None:
    ahmetova = world.doctors["Ahmetova A."]
    async with world.pool() as session, session.begin():
        repo = Repositories(session)
        person = await world.resident(repo)
        first = await world.review(repo, "Ahmetova A.", 1, user=person)
        for _ in range(2):
            await world.review(repo, "Ahmetova A.", 4)  # other people's reviews stay
    assert (await stats_of(world.pool, ahmetova)).rating_sum == 9

    # Day 3: the conversation offered an update of the first review, and the person took it.
    async with world.pool() as session, session.begin():
        repo = Repositories(session)
        update = await world.review(repo, "Ahmetova A.", 5, user=await session.get(User, person.id),
                                    now=NOW + timedelta(days=3), supersedes_id=first.id)
    stats = await stats_of(world.pool, ahmetova)
    assert (stats.review_count, stats.rating_sum, stats.stars_1, stats.stars_5) == (3, 13, 0, 1)

    async with world.pool() as session, session.begin():
        repo = Repositories(session)
        person = await session.get(User, person.id)
        # Day 40, more than 30 days after the update: a new review of its own, both count.
        await world.review(repo, "Ahmetova A.", 2, user=person, now=NOW + timedelta(days=40))
        assert (await repo.ratings.of_doctor(ahmetova.id)).rating_sum == 15
        # Day 45, started from a link that skipped the update offer: still one review per 30 days counts.
        latest = await world.review(repo, "Ahmetova A.", 3, user=person, now=NOW + timedelta(days=45))
        stats = await repo.ratings.of_doctor(ahmetova.id)
        assert (stats.review_count, stats.rating_sum, stats.stars_2) == (4, 16, 0)
        # Another doctor is another matter.
        await world.review(repo, "Bekova B.", 4, user=person, now=NOW + timedelta(days=46))
        assert (await repo.ratings.of_doctor(ahmetova.id)).review_count == 4
        assert not await repo.ratings.is_superseded(latest.id, 30)
        assert await repo.ratings.is_superseded(update.id, 30) is False  # 37 days before the day-40 review
        assert await repo.ratings.is_superseded(first.id, 30)

    # An update that moderation rejects does not bring the replaced review back: the person changed their mind.
    await set_status(world, update.id, status=ReviewStatus.REJECTED)
    async with world.pool() as session:
        counted = set((await session.scalars(select(CountedReview.review_id))).all())
    assert first.id not in counted and update.id not in counted
    await assert_incremental_equals_rebuilt(world.pool, world.settings)


async def test_recent_reviews_weigh_more_with_a_half_life(world: World) -> None:
    world.settings.ratings.half_life_days = 60
    world.settings.ratings.prior_weight = 0
    now = NOW + timedelta(days=60)
    async with world.pool() as session, session.begin():
        repo = Repositories(session)
        await world.review(repo, "Ahmetova A.", 1, now=NOW)  # 60 days old at `now`: weighs 1/2
        await world.review(repo, "Ahmetova A.", 5, now=now)
    # (1·½ + 5·1) / (½ + 1) = 11/3
    assert (await stats_of(world.pool, world.doctors["Ahmetova A."])).score == pytest.approx(11 / 3, abs=1e-9)
    await assert_incremental_equals_rebuilt(world.pool, world.settings, now=now)


async def test_a_doctor_moved_to_another_specialty_takes_their_sums_along(world: World) -> None:
    await many(world, "Ahmetova A.", [5, 5])
    await many(world, "Bekova B.", [3, 3])
    async with world.pool() as session, session.begin():
        doctor = await session.get(Doctor, world.doctors["Ahmetova A."].id)
        doctor.specialty_id = world.specialties[1].id  # a directory import changed it
    await many(world, "Ahmetova A.", [4])
    await many(world, "Bekova B.", [3])
    async with world.pool() as session:
        priors = {(p.scope, p.scope_id): (p.review_count, p.rating_sum)
                  for p in await Repositories(session).ratings.priors()}
    assert priors[("specialty", world.specialties[0].id)] == (3, 9)
    assert priors[("specialty", world.specialties[1].id)] == (3, 14)
    await assert_incremental_equals_rebuilt(world.pool, world.settings)


def test_the_stored_criteria_are_the_ones_the_conversation_asks() -> None:
    assert CRITERIA == drafts.CRITERIA


# --- Incremental stats equal a rebuild from the raw reviews ------------------------------------------------


async def snapshot(pool) -> dict[str, list[tuple]]:
    tables = {"doctor_stats": DoctorStats, "clinic_stats": ClinicStats, "rating_priors": RatingPrior,
              "counted_reviews": CountedReview}
    result = {}
    async with pool() as session:
        for name, model in tables.items():
            columns = [column.key for column in model.__table__.columns]
            rows = (await session.execute(select(*model.__table__.columns))).all()
            result[name] = sorted(tuple(zip(columns, row, strict=True)) for row in rows)
    return result


async def assert_incremental_equals_rebuilt(pool, settings: Settings, now: datetime = NOW) -> None:
    if settings.ratings.half_life_days:
        # With weights by age, a score depends on when it was computed: score everything at the same moment.
        async with pool() as session, session.begin():
            await ratings.refresh_scores(Repositories(session), now=now, settings=settings)
    incremental = await snapshot(pool)
    async with pool() as session, session.begin():
        await ratings.rebuild(Repositories(session), now=now, settings=settings)
    rebuilt = await snapshot(pool)
    if not settings.ratings.half_life_days:
        assert incremental == rebuilt  # weights of 1: every sum is a whole number, so equal to the last bit
        return
    # Fractional weights summed in another order may differ in the last bits, never more.
    assert incremental.keys() == rebuilt.keys()
    for name in incremental:
        assert len(incremental[name]) == len(rebuilt[name]), name
        for left, right in zip(incremental[name], rebuilt[name], strict=True):
            for (column, value), (_, expected) in zip(left, right, strict=True):
                close = isinstance(value, float) and value == pytest.approx(expected, rel=1e-9)
                assert close or value == expected, (name, column)


async def random_history(world: World, seed: int, steps: int = 160) -> None:
    """Submissions (some as updates), rejections, fraud flags, hiding, withdrawals and their reversals."""
    rng = random.Random(seed)
    names = list(world.doctors)
    people: list[int] = []
    async with world.pool() as session, session.begin():
        repo = Repositories(session)
        for _ in range(7):
            people.append((await world.resident(repo)).id)
    now = NOW
    submitted: list[int] = []
    for _ in range(steps):
        now += timedelta(hours=rng.choice([0, 1, 30, 24 * 3]))
        async with world.pool() as session, session.begin():
            repo = Repositories(session)
            action = rng.random()
            if action < 0.55 or not submitted:
                user = await session.get(User, rng.choice(people))
                doctor = rng.choice([*names, None])
                draft: dict[str, object] = {"criteria": {name: rng.randint(1, 5) for name in CRITERIA
                                                         if rng.random() < 0.4}}
                if doctor is not None and rng.random() < 0.6:
                    # What the conversation does when it finds an earlier review within the window.
                    previous = await reviews.previous_of_doctor(repo, user, world.doctors[doctor].id, now, 30)
                    if previous is not None:
                        draft["supersedes_id"] = previous.id
                clinic = rng.choice(world.clinics)
                review = await world.review(repo, doctor, rng.randint(1, 5), user=user, now=now, clinic=clinic,
                                            kind=rng.choice(["gratitude", "gratitude", "complaint"]), **draft)
                submitted.append(review.id)
                continue
            review = await session.get(Review, rng.choice(submitted))
            change = rng.choice(["status", "fraud", "public"])
            if change == "status":
                review.status = rng.choice(list(ReviewStatus))
            elif change == "fraud":
                review.fraud_flag = not review.fraud_flag
            else:
                review.public_status = rng.choice(list(PublicStatus))
            await ratings.review_status_changed(repo, review, now=now, settings=world.settings)
    return now


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
async def test_incremental_stats_equal_a_rebuild_after_a_random_history(world: World, seed: int) -> None:
    now = await random_history(world, seed)
    before = await snapshot(world.pool)
    assert before["counted_reviews"], "the history should leave some reviews counting"
    await assert_incremental_equals_rebuilt(world.pool, world.settings, now)


@both_backends
@pytest.mark.parametrize("seed", [7])
async def test_incremental_equals_rebuilt_on_every_backend(world: World, seed: int) -> None:
    now = await random_history(world, seed, steps=80)
    await assert_incremental_equals_rebuilt(world.pool, world.settings, now)


@pytest.mark.parametrize("seed", [8, 9])
async def test_incremental_equals_rebuilt_with_a_half_life(world: World, seed: int) -> None:
    world.settings.ratings.half_life_days = 90
    now = await random_history(world, seed)
    await assert_incremental_equals_rebuilt(world.pool, world.settings, now)


def test_stats_rebuild_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("MEDFEEDBACK_CONFIG", "MEDFEEDBACK_DATABASE__URL"):
        monkeypatch.delenv(name, raising=False)
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{url}"\n')

    async def seed_then_lose_the_stats() -> None:
        engine = make_engine(url)
        await upgrade(engine)
        pool = make_session_pool(engine)
        settings = Settings()
        world = await build_world(pool, settings)
        await many(world, "Ahmetova A.", [5, 4, 4])
        await many(world, "Bekova B.", [2])
        async with pool() as session, session.begin():
            await Repositories(session).ratings.clear()
        await engine.dispose()

    async def ahmetova_stats() -> tuple[int, float]:
        engine = make_engine(url)
        async with engine.connect() as connection:
            row = (await connection.execute(select(DoctorStats.review_count, DoctorStats.rating_sum)
                                            .join(Doctor, Doctor.id == DoctorStats.doctor_id)
                                            .where(Doctor.full_name == "Ahmetova A."))).one()
        await engine.dispose()
        return tuple(row)

    asyncio.run(seed_then_lose_the_stats())
    assert main(["--config", str(config), "stats", "rebuild"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == (
        "rebuilt ratings from 4 counting reviews: 2 doctors, 1 clinics")
    assert asyncio.run(ahmetova_stats()) == (3, 13.0)
