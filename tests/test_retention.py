"""Retention: what outlived the promised periods loses its content, audited; open cases are kept; /mydata says so."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.ops import retention
from bot.services import privacy
from storage.models import (
    AuditLog,
    Case,
    FsmRecord,
    OutboxMessage,
    Response,
    Review,
    ReviewMedia,
    UrgencyDecision,
    User,
)
from tests.conftest import BACKENDS, App
from tests.flows import clinic_17, one

pytestmark = pytest.mark.usefixtures("demo_directory")
NOW = datetime(2026, 12, 1, 22, 0, tzinfo=UTC)  # 03:00 on 2 December in Almaty
LONG_AGO = datetime(2021, 11, 1, 8, 0, tzinfo=UTC)
RECENTLY = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


async def stored_review(app: App, user: User, reference: str, *, kind: str = "complaint", created: datetime,
                        case_status: str | None = None, closed: datetime | None = None,
                        evidence: bytes | None = None) -> Review:
    clinic = await clinic_17(app)
    async with app.pool() as session, session.begin():
        review = Review(reference=reference, user_id=user.id, clinic_id=clinic.id, kind=kind, rating=2,
                        text=f"Текст жалобы {reference}", public_text=f"Публичный {reference}", language="ru",
                        anonymous=False, author_name="Айгуль С.", phone_shared=True, created_at=created,
                        updated_at=created, appellant_name="Серикова Айгуль Маратовна",
                        outcome_wanted="Вернуть деньги за приём")
        session.add(review)
        await session.flush()
        if case_status is not None:
            session.add(Case(review_id=review.id, urgency="high", status=case_status, created_at=created,
                             closed_at=closed, extension_reason="проверка продлена", due_date=date(2021, 11, 22)))
            session.add(Response(review_id=review.id, author_role="prosecutor", text="Ответ прокуратуры",
                                 public_text="Ответ", public_status="published", created_at=created))
        if evidence is not None:
            sha256 = hashlib.sha256(evidence).hexdigest()
            path = app.settings.media.dir / sha256[:2] / f"{sha256}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(evidence)
            session.add(ReviewMedia(review_id=review.id, position=0, kind="photo", file_id=f"f-{reference}",
                                    file_unique_id=f"u-{reference}", sha256=sha256,
                                    stored_path=f"{sha256[:2]}/{sha256}.jpg", created_at=created))
        session.add(AuditLog(at=created, actor_telegram_id=None, action="moderation.edited", entity="review",
                             entity_id=review.id, details={"before": "старый текст", "reference": reference}))
        session.add(UrgencyDecision(review_id=review.id, urgent=True, decided_by=7001, decided_at=created,
                                    text=f"Текст жалобы {reference}", language="ru", classified_as="high"))
        session.add(OutboxMessage(dedupe_key=f"alert:{reference}", chat_id=-100123, kind="alert",
                                  payload={"text": f"Карточка {reference}: Айгуль"}, review_id=review.id,
                                  status="sent", next_attempt_at=created, created_at=created, sent_at=created))
    return review


async def person(app: App) -> User:
    async with app.pool() as session, session.begin():
        user = User(telegram_id=555000, language="ru", first_name="Айгуль", phone="+77011234567",
                    consent_version="1", consent_at=LONG_AGO, created_at=LONG_AGO)
        session.add(user)
    return user


async def test_expired_content_goes_open_and_recent_cases_stay(app: App) -> None:
    user = await person(app)
    shared = b"\xff\xd8 the same photo in two reviews"
    closed_old = await stored_review(app, user, "AL-2021-000001", created=LONG_AGO, case_status="closed",
                                     closed=LONG_AGO + timedelta(days=10), evidence=shared)
    gratitude_old = await stored_review(app, user, "AL-2021-000002", kind="gratitude", created=LONG_AGO,
                                        evidence=b"\xff\xd8 a thank-you photo")
    open_old = await stored_review(app, user, "AL-2021-000003", created=LONG_AGO, case_status="taken")
    closed_recently = await stored_review(app, user, "AL-2025-000004", created=RECENTLY, case_status="closed",
                                          closed=RECENTLY, evidence=shared)
    done = await retention.run(app.pool, app.settings, lambda: NOW)
    assert (done.reviews, done.files) == (2, 1)  # the shared photo stays: a recent review still names it

    reviews = {review.reference: review for review in await one(app, select(Review))}
    for reference in (closed_old.reference, gratitude_old.reference):
        review = reviews[reference]
        assert (review.text, review.public_text, review.author_name, review.phone_shared) == ("", None, None, False)
        assert (review.appellant_name, review.outcome_wanted) == (None, None)
        assert review.content_removed_at == NOW and review.rating == 2 and review.kind in ("complaint", "gratitude")
    for reference in (open_old.reference, closed_recently.reference):
        assert reviews[reference].text == f"Текст жалобы {reference}" and reviews[reference].content_removed_at is None
        assert reviews[reference].appellant_name == "Серикова Айгуль Маратовна"
    media = await one(app, select(ReviewMedia.review_id))
    assert media == [closed_recently.id]
    assert (app.settings.media.dir / (stored := (await one(app, select(ReviewMedia.stored_path)))[0])).is_file()
    assert len(list(app.settings.media.dir.rglob("*.jpg"))) == 1 and stored
    answers = {r.review_id: r.text for r in await one(app, select(Response))}
    assert answers[closed_old.id] == "" and answers[open_old.id] == "Ответ прокуратуры"
    verdicts = {row.review_id: row.text for row in await one(app, select(UrgencyDecision))}
    assert verdicts[closed_old.id] == "" and verdicts[open_old.id] == f"Текст жалобы {open_old.reference}"
    cards = {row.review_id: row.payload for row in await one(app, select(OutboxMessage))}
    assert cards[closed_old.id] == {"removed": "retention"}
    assert "Айгуль" in cards[open_old.id]["text"]  # 5 years old but its case is open: the law keeps it
    audit = await one(app, select(AuditLog).where(AuditLog.action == retention.CONTENT_REMOVED))
    assert sorted(entry.entity_id for entry in audit) == sorted([closed_old.id, gratitude_old.id])
    assert audit[0].details["years"] == 5 and audit[0].actor_telegram_id is None
    edited = {e.entity_id: e.details for e in await one(app, select(AuditLog).where(
        AuditLog.action == "moderation.edited"))}
    assert edited[closed_old.id] == {"reference": closed_old.reference}  # the old text is gone from the audit too
    assert edited[open_old.id]["before"] == "старый текст"
    # A second run finds nothing more to do.
    assert (await retention.run(app.pool, app.settings, lambda: NOW)).reviews == 0


async def test_mydata_shows_what_is_kept_until_when_and_what_was_removed(app: App) -> None:
    user = await person(app)
    await stored_review(app, user, "AL-2021-000001", created=LONG_AGO, case_status="closed",
                        closed=LONG_AGO + timedelta(days=10))
    await stored_review(app, user, "AL-2021-000003", created=LONG_AGO, case_status="taken")
    await stored_review(app, user, "AL-2025-000004", kind="gratitude", created=RECENTLY)
    await retention.run(app.pool, app.settings, lambda: NOW)
    async with app.pool() as session:
        from storage.repositories import Repositories

        repo = Repositories(session)
        data = await privacy.export(repo, await repo.users.get(user.id), now=NOW, settings=app.settings)
    items = {item["reference"]: item for item in data["reviews"]}
    removed = items["AL-2021-000001"]
    assert removed["kept_until"] == "2026-11-11" and removed["content_removed_at"].startswith("2026-12-02T03:00")
    assert removed["text"] == "" and any(h["action"] == retention.CONTENT_REMOVED for h in removed["history"])
    assert items["AL-2021-000003"]["kept_until"] is None and items["AL-2021-000003"]["content_removed_at"] is None
    assert items["AL-2025-000004"]["kept_until"] == "2030-06-01"


async def test_stale_drafts_and_old_delivered_texts_go(app: App) -> None:
    async with app.pool() as session, session.begin():
        session.add_all([
            FsmRecord(key="fsm:1:1:default", state="ReviewForm:describing", data={"text": "черновик"},
                      updated_at=NOW - timedelta(days=31)),
            FsmRecord(key="fsm:2:2:default", state="ReviewForm:describing", data={},
                      updated_at=NOW - timedelta(days=1)),
            OutboxMessage(dedupe_key="notice:old", chat_id=555000, kind="notice", payload={"text": "Ваш ответ"},
                          status="sent", next_attempt_at=NOW, created_at=NOW - timedelta(days=100),
                          sent_at=NOW - timedelta(days=100)),
            OutboxMessage(dedupe_key="notice:new", chat_id=555000, kind="notice", payload={"text": "Новый"},
                          status="sent", next_attempt_at=NOW, created_at=NOW, sent_at=NOW - timedelta(days=2)),
            OutboxMessage(dedupe_key="notice:pending", chat_id=555000, kind="notice", payload={"text": "Ждёт"},
                          status="pending", next_attempt_at=NOW, created_at=NOW - timedelta(days=200))])
    done = await retention.run(app.pool, app.settings, lambda: NOW)
    assert (done.drafts, done.messages) == (1, 1)
    assert [key for key in await one(app, select(FsmRecord.key))] == ["fsm:2:2:default"]
    payloads = {row.dedupe_key: row.payload for row in await one(app, select(OutboxMessage))}
    assert payloads == {"notice:old": {"removed": "retention"}, "notice:new": {"text": "Новый"},
                        "notice:pending": {"text": "Ждёт"}}
    assert (await retention.run(app.pool, app.settings, lambda: NOW)).messages == 0


def test_the_daily_job_is_scheduled_at_the_configured_time(app: App) -> None:
    from bot.ops.health import Health
    from bot.scheduler import make_scheduler
    from bot.services.relay import Relay

    relay = Relay(app.bot, app.pool, app.clock, [])
    scheduler = make_scheduler(app.settings, app.pool, relay, app.clock, health=Health())
    job = scheduler.get_job("retention")
    assert str(job.trigger) == "cron[hour='3', minute='0']"
    assert scheduler.get_job("ops-heartbeat") is not None


async def test_two_instances_at_once_remove_and_audit_each_review_once(app: App) -> None:
    import asyncio

    user = await person(app)
    for number in range(1, 13):
        await stored_review(app, user, f"AL-2021-{number:06d}", created=LONG_AGO, case_status="closed",
                            closed=LONG_AGO)
    runs = await asyncio.gather(*(retention.run(app.pool, app.settings, lambda: NOW) for _ in range(2)))
    assert sum(run.reviews for run in runs) == 12
    audit = await one(app, select(AuditLog.entity_id).where(AuditLog.action == retention.CONTENT_REMOVED))
    assert len(audit) == len(set(audit)) == 12
