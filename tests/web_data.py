"""A database for the website's tests: the demo directory, reviews through the bot's own services, and personal
data in every place the public must never see it."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from sqlalchemy import select, update

from bot.services import directory, moderation_queue, ratings, reviews
from storage.models import Clinic, Doctor, PublicStatus, Response, Review, Role, Specialty
from storage.repositories import Repositories
from tests.conftest import App

USERNAME = "medfeedback_test_bot"
PEOPLE = itertools.count(880_000_000_001)

# What must never reach a public page.
SECRET_PHONE = "+77015550123"
SECRET_PHONE_WRITTEN = "+7 701 555 01 23"
SECRET_EMAIL = "aigerim.secret@example.com"
SECRET_ANONYMOUS_NAME = "Секретбаева"
VIOLATION_TEXT = "Врач потребовал взятку пять тысяч тенге за справку"
PENDING_TEXT = "Этот отзыв ждёт модератора"
HIDDEN_TEXT = "Этот отзыв скрыт модератором"
DRAFT_ANSWER = "Черновик ответа поликлиники"
OFFICE_ANSWER = "Ответ прокуратуры заявителю"

# What must be there.
NAMED_AUTHOR = "Айгерим"
GRATITUDE_TEXT = "Очень внимательный врач, всё объяснила"
COMPLAINT_TEXT = f"Долго ждала в очереди. Звоните мне: {SECRET_PHONE_WRITTEN}, пишите {SECRET_EMAIL}"
ANSWER_TEXT = "Спасибо, мы изменили расписание приёма"
NEWEST_TEXT = "Самый новый отзыв о поликлинике"


@dataclass
class Seeded:
    clinic: Clinic
    doctor: Doctor
    unrated_doctor: Doctor
    specialty: Specialty
    other_clinic: Clinic
    telegram_ids: list[int] = field(default_factory=list)
    references: list[str] = field(default_factory=list)


async def load_directory(app: App) -> None:
    async with app.pool() as session, session.begin():
        report = await directory.import_rows(Repositories(session), directory.read_rows(directory.DEMO_DIRECTORY))
    assert report.ok


async def submit(app: App, seeded: Seeded, *, doctor: Doctor | None, clinic: Clinic, kind: str, rating: int,
                 text: str, first_name: str, anonymous: bool, phone: str | None = SECRET_PHONE,
                 criteria: dict[str, int] | None = None) -> Review:
    """A review as the conversation submits it: the feedback service, in a transaction of its own."""
    async with app.pool() as session, session.begin():
        repo = Repositories(session)
        telegram_id = next(PEOPLE)
        user = await repo.users.get_or_create(telegram_id, app.clock.now, first_name)
        user.phone = phone
        draft = {"clinic_id": clinic.id, "kind": kind, "rating": rating, "text": text, "anonymous": anonymous,
                 "criteria": criteria or {}, "target": "doctor" if doctor else "clinic", "phone_shared": bool(phone)}
        if doctor is not None:
            draft |= {"doctor_id": doctor.id, "specialty_id": doctor.specialty_id}
        if kind != "gratitude":
            draft["category"] = "waiting" if kind == "complaint" else "extortion"
        review = (await reviews.submit(repo, user, draft, now=app.clock.now, settings=app.settings,
                                       language="ru")).review
    seeded.telegram_ids.append(telegram_id)
    seeded.references.append(review.reference)
    app.clock.advance(minutes=10)
    return review


async def seed(app: App) -> Seeded:
    await load_directory(app)
    async with app.pool() as session:
        clinic = await session.scalar(select(Clinic).where(Clinic.number == 17))
        other = await session.scalar(select(Clinic).where(Clinic.number == 3))
        doctors = (await session.scalars(select(Doctor).where(Doctor.clinic_id == clinic.id)
                                         .order_by(Doctor.id))).all()
        doctor, unrated = doctors[0], doctors[1]
        specialty = await session.get(Specialty, doctor.specialty_id)
    seeded = Seeded(clinic, doctor, unrated, specialty, other)
    # The doctor: enough reviews for a score, one by a resident who chose to show her name.
    await submit(app, seeded, doctor=doctor, clinic=clinic, kind="gratitude", rating=5, text=GRATITUDE_TEXT,
                 first_name=NAMED_AUTHOR, anonymous=False, criteria={"attentiveness": 5, "waiting": 4})
    for stars in (4, 5, 4):
        await submit(app, seeded, doctor=doctor, clinic=clinic, kind="gratitude", rating=stars,
                     text="Хороший приём", first_name=SECRET_ANONYMOUS_NAME, anonymous=True)
    # A complaint with the resident's phone and e-mail in the text: published masked, then answered.
    complaint = await submit(app, seeded, doctor=None, clinic=clinic, kind="complaint", rating=2,
                             text=COMPLAINT_TEXT, first_name=SECRET_ANONYMOUS_NAME, anonymous=True)
    async with app.pool() as session, session.begin():
        repo = Repositories(session)
        review = await repo.reviews.get(complaint.id)
        await moderation_queue.answer_given(repo, review, 555_000_111, ANSWER_TEXT, now=app.clock.now,
                                            settings=app.settings)
        session.add_all([
            Response(review_id=complaint.id, author_telegram_id=555_000_112, author_role=Role.CLINIC_STAFF,
                     text=DRAFT_ANSWER, public_text=DRAFT_ANSWER, public_status=PublicStatus.PENDING,
                     created_at=app.clock.now),
            Response(review_id=complaint.id, author_telegram_id=555_000_113, author_role=Role.PROSECUTOR,
                     text=OFFICE_ANSWER, public_text=OFFICE_ANSWER, public_status=PublicStatus.PUBLISHED,
                     created_at=app.clock.now),
        ])
    # Never public: a report of a violation, one waiting for a moderator, one hidden by a moderator.
    await submit(app, seeded, doctor=doctor, clinic=clinic, kind="violation", rating=1, text=VIOLATION_TEXT,
                 first_name=SECRET_ANONYMOUS_NAME, anonymous=False)
    pending = await submit(app, seeded, doctor=doctor, clinic=clinic, kind="complaint", rating=1, text=PENDING_TEXT,
                           first_name=SECRET_ANONYMOUS_NAME, anonymous=False)
    hidden = await submit(app, seeded, doctor=doctor, clinic=clinic, kind="gratitude", rating=5, text=HIDDEN_TEXT,
                          first_name=SECRET_ANONYMOUS_NAME, anonymous=False)
    # Stored before texts were screened: no public version, a phone in the words.
    legacy = await submit(app, seeded, doctor=unrated, clinic=clinic, kind="gratitude", rating=4, text="x",
                          first_name=SECRET_ANONYMOUS_NAME, anonymous=True)
    async with app.pool() as session, session.begin():
        repo = Repositories(session)
        for review_id, status in ((pending.id, PublicStatus.PENDING), (hidden.id, PublicStatus.HIDDEN)):
            review = await repo.reviews.get(review_id)
            review.public_status = status
            await ratings.review_status_changed(repo, review, now=app.clock.now, settings=app.settings)
        await session.execute(update(Review).where(Review.id == legacy.id).values(
            text=f"Спасибо! Мой номер {SECRET_PHONE_WRITTEN}", public_text=None))
    await submit(app, seeded, doctor=None, clinic=clinic, kind="gratitude", rating=4, text=NEWEST_TEXT,
                 first_name=SECRET_ANONYMOUS_NAME, anonymous=True)
    return seeded
