"""Counts past 999 as people of the language write them (Babel): "1 234" in ru and kk, "1,234" in en, in /stats,
/cases, a doctor's and a polyclinic's page in the bot and on the website. A city's year of reviews is thousands."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import insert, select

from bot.l10n import Translator
from bot.services import ratings
from bot.web import make_web_app
from storage.models import Case, CaseStatus, PublicStatus, Review, ReviewStatus, Urgency, User
from storage.repositories import Repositories
from tests.conftest import App
from tests.flows import clinic_17, resident, therapist_of
from tests.test_alerts import prosecutor
from tests.test_web import get

pytestmark = pytest.mark.usefixtures("demo_directory")
T = Translator()
RU, EN, KK = T["ru"], T["en"], T["kk"]
GRATITUDES, COMPLAINTS = 1234, 1100  # of the therapist of No. 17, and of No. 17 itself
SPACE = "\N{NO-BREAK SPACE}"  # Babel's group separator in ru and kk: the figure never breaks across two lines


def visible(text: str) -> str:
    return re.sub(r"</?[bi]>", "", text)


@pytest.fixture
async def busy_clinic(app: App):
    """Thousands of reviews of No. 17 in the last days, each by another resident (one person's reviews of a doctor
    count once), published, the complaints open cases; the ratings rebuilt from them."""
    clinic = await clinic_17(app)
    doctor = await therapist_of(app, clinic)
    now, total = app.clock.now, GRATITUDES + COMPLAINTS
    async with app.pool() as session, session.begin():
        await session.execute(insert(User), [{"telegram_id": 800_000 + n, "first_name": "Житель", "language": "ru",
                                              "created_at": now} for n in range(total)])
        users = (await session.scalars(select(User.id).where(User.telegram_id >= 800_000).order_by(User.id))).all()
        when = now - timedelta(days=1)
        common = {"clinic_id": clinic.id, "language": "ru", "public_status": PublicStatus.PUBLISHED,
                  "status": ReviewStatus.SUBMITTED, "created_at": when, "updated_at": when, "criteria": {}}
        await session.execute(insert(Review), [
            {**common, "reference": f"AL-2026-{900_000 + n}", "user_id": users[n], "kind": "gratitude", "rating": 5,
             "doctor_id": doctor.id, "specialty_id": doctor.specialty_id, "text": "Спасибо!", "public_text": "Спасибо!"}
            if n < GRATITUDES else
            {**common, "reference": f"AL-2026-{900_000 + n}", "user_id": users[n], "kind": "complaint", "rating": 2,
             "category": "waiting", "text": "Долго ждали.", "public_text": "Долго ждали.",
             "appellant_name": "Житель Алматы"}
            for n in range(total)])
        complaints = (await session.scalars(select(Review.id).where(Review.kind == "complaint"))).all()
        await session.execute(insert(Case), [{"review_id": review_id, "urgency": Urgency.NORMAL, "reasons": [],
                                              "formal_appeal": True, "status": CaseStatus.OPEN, "created_at": when}
                                             for review_id in complaints])
        await ratings.rebuild(Repositories(session), now=now, settings=app.settings)
    return clinic, doctor


async def test_stats_write_thousands_as_russian_does(app: App, busy_clinic) -> None:
    reply = await prosecutor(app).command("stats", "7d")
    text = visible(reply.texts[0])
    for line in (RU("reports.reviews_total", count=f"2{SPACE}334", previous=0),
                 RU("reports.by_kind", gratitude=f"1{SPACE}234", complaint=f"1{SPACE}100", violation=0),
                 RU("reports.category_line", category=RU("category.waiting"), count=f"1{SPACE}100"),
                 RU("reports.clinic_line", clinic="Городская поликлиника №17", count=f"2{SPACE}334",
                    complaints=f"1{SPACE}100"),
                 RU("reports.cases_registered", count=f"1{SPACE}100"),
                 RU("reports.cases_open", count=f"1{SPACE}100", unanswered=f"1{SPACE}100")):
        assert visible(line) in text, (line, text)
    assert f"(отзывов: 2{SPACE}334)" in text  # No. 17's place in the ranking


async def test_cases_title_writes_thousands_as_russian_does(app: App, busy_clinic) -> None:
    reply = await prosecutor(app).command("cases")
    assert visible(reply.texts[0]).startswith(f"Дел: 1{SPACE}100 "), reply.texts[0][:80]


@pytest.mark.parametrize(("language", "button", "reviews"), [
    ("ru", "Русский", f"1{SPACE}234 отзыва"), ("kk", "Қазақша", f"1{SPACE}234 пікір"),
    ("en", "English", "1,234 reviews")])
async def test_a_doctors_page_in_the_bot_writes_thousands_in_its_language(
        app: App, busy_clinic, language: str, button: str, reviews: str) -> None:
    _clinic, doctor = busy_clinic
    l10n = T[language]
    person = await resident(app, 3301, language, button)
    page = (await person.command("start", f"page-doctor-{doctor.id}")).text
    assert visible(l10n("score.rated", score=l10n.number(5, 2), reviews=reviews)) in page, page[:300]
    big = "1,234" if language == "en" else f"1{SPACE}234"
    assert f"5⭐ ██████████ {big}" in page
    assert visible(l10n("doctor_page.reviews_title", first=1, last=5, total=big)) in page


async def test_a_polyclinics_page_in_the_bot_counts_its_reviews_in_thousands(app: App, busy_clinic) -> None:
    clinic, _doctor = busy_clinic
    person = await resident(app, 3302)
    reply = await person.command("start", f"page-clinic-{clinic.id}")
    assert [RU("clinic_page.reviews_button", count=f"2{SPACE}334")] in reply.buttons, reply.buttons
    assert f"2{SPACE}334 отзыва" in reply.text


async def test_the_website_writes_thousands_in_the_pages_language(app: App, busy_clinic) -> None:
    clinic, doctor = busy_clinic
    web_app = make_web_app(app.settings, app.pool, "medfeedback_bot", clock=app.clock)
    async with TestClient(TestServer(web_app)) as client:
        ru = (await get(client, f"/ru/doctor/{doctor.id}")).text
        en = (await get(client, f"/en/doctor/{doctor.id}")).text
        kk_clinic = (await get(client, f"/kk/clinic/{clinic.id}")).text
    assert f"1{SPACE}234 отзыва" in ru and "1,234 reviews" in en
    assert RU("web.reviews_range", first=1, last=20, total=f"1{SPACE}234") in ru
    assert EN("web.reviews_range", first=1, last=20, total="1,234") in en
    assert "5⭐ 1,234" in en  # the five-star row of the breakdown
    # Past 2,000 the website stops counting a polyclinic's reviews exactly: "more than 2 000".
    assert KK("web.reviews_range_many", first=1, last=20, total=f"2{SPACE}000") in kk_clinic
