"""The public website: every page type in kk, ru and en, what it shows (the bot's own public texts, scores and
rankings), what it never shows (personal data), and how it is found and cached."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote_plus

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select
from sqlalchemy import text as sql

from bot.l10n import LANGUAGES, Translator
from bot.services import moderation_queue, pages
from bot.services.search import transliterate
from bot.web import make_web_app
from storage.engine import make_read_engine, make_session_pool
from storage.models import Clinic, Doctor, PublicStatus, Review
from storage.repositories import Repositories
from tests import web_data
from tests.conftest import BACKENDS, App
from tests.web_data import Seeded

VOID = {"meta", "link", "br", "img", "input", "hr", "source", "wbr"}
T = Translator()
RU, EN = T["ru"], T["en"]


@pytest.fixture
async def seeded(app: App) -> Seeded:
    return await web_data.seed(app)


@pytest.fixture
async def client(app: App, seeded: Seeded) -> AsyncIterator[TestClient]:
    web_app = make_web_app(app.settings, app.pool, web_data.USERNAME, clock=app.clock)
    async with TestClient(TestServer(web_app)) as client:
        yield client


class Page(HTMLParser):
    """What a person (or a crawler) gets from a page: its visible text, links, headings and JSON-LD."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.html, self.texts, self.links, self.headings, self.jsonld = html, [], [], [], []
        self.lang, self._in, self._script = None, [], None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "html":
            self.lang = values.get("lang")
        if tag == "a":
            self.links.append(values.get("href"))
        if tag == "script":
            self._script = values.get("type")
        if tag not in VOID:
            self._in.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._in:
            del self._in[len(self._in) - 1 - self._in[::-1].index(tag):]
        if tag == "script":
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self.jsonld.append(json.loads(data))
            return
        if "head" in self._in and "title" not in self._in:
            return
        if data.strip():
            self.texts.append(data.strip())
            if self._in and self._in[-1] in ("h1", "h2", "h3"):
                self.headings.append((self._in[-1], data.strip()))

    @property
    def text(self) -> str:
        return " ".join(self.texts)


async def get(client: TestClient, path: str, status: int = 200) -> Page:
    response = await client.get(path)
    body = await response.text()
    assert response.status == status, (path, response.status, body[:500])
    return Page(body)


def visible(template: str) -> str:
    """A locale text as a browser shows it: tags dropped, entities as characters."""
    return unescape(re.sub(r"<[^>]+>", "", template))


async def read(app: App, work):
    async with app.pool() as session:
        return await work(Repositories(session))


def all_paths(seeded: Seeded) -> list[str]:
    """One page of every type (and a second page of reviews), without the language."""
    return ["/", "/?q=17", "/?q=Kasymova", f"/district/{seeded.clinic.district_id}", f"/clinic/{seeded.clinic.id}",
            f"/doctor/{seeded.doctor.id}", f"/doctor/{seeded.unrated_doctor.id}", "/top/",
            f"/top/{seeded.specialty.id}", f"/top/{seeded.specialty.id}?district={seeded.clinic.district_id}"]


# --- What the pages show ------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_clinic_page_shows_card_rating_reviews_answers_and_doctors(app: App, client: TestClient,
                                                                        seeded: Seeded) -> None:
    clinic = seeded.clinic
    page = await get(client, f"/ru/clinic/{clinic.id}")
    stats = await read(app, lambda repo: repo.ratings.of_clinic(clinic.id))
    assert page.lang == "ru"
    assert ("h1", clinic.name_ru) in page.headings
    for shown in (clinic.name_kk, clinic.name_en, clinic.address, clinic.phone, RU("web.map_link")):
        assert shown in page.text
    assert f"https://www.openstreetmap.org/?mlat={clinic.latitude:.6f}" in page.html
    # The bot's own rating line: the same Bayesian score and number of counted reviews.
    assert visible(pages.rating_line(RU, stats, app.settings.ratings.min_reviews)) in page.text
    assert visible(RU("score.rated", score=pages.score_text(stats.score, RU),
                      reviews=RU.count("reviews", stats.review_count))) in page.text
    assert "Внимательность 5,0 из 5 (1)" in page.text  # the decimal comma of Russian
    # Published reviews, newest first, each as its author chose to appear, the answer under its review.
    text = page.text
    assert text.index(web_data.NEWEST_TEXT) < text.index("Долго ждала в очереди") < text.index(web_data.GRATITUDE_TEXT)
    assert f"{RU('kind.gratitude')} · 5⭐ · 26.11.2026 · {web_data.NAMED_AUTHOR}" in text
    assert text.index("Долго ждала в очереди") < text.index(web_data.ANSWER_TEXT) < text.index("Хороший приём")
    assert RU("web.answer_title", date="26.11.2026") in text
    # Its doctors, with links to their pages; the Telegram links open the right step.
    assert f"/ru/doctor/{seeded.doctor.id}" in page.links
    assert f"https://t.me/{web_data.USERNAME}?start=clinic-{clinic.id}" in page.links
    assert f"https://t.me/{web_data.USERNAME}?start=page-clinic-{clinic.id}" in page.links
    [data] = page.jsonld
    assert data["@type"] == "MedicalClinic" and data["name"] == clinic.name_ru
    assert data["aggregateRating"] == {"@type": "AggregateRating", "ratingValue": round(stats.score, 2),
                                       "reviewCount": stats.review_count, "bestRating": 5, "worstRating": 1}
    assert data["url"].endswith(f"/ru/clinic/{clinic.id}")


async def test_addresses_are_in_the_pages_language_or_the_directorys_own(app: App, client: TestClient,
                                                                          seeded: Seeded) -> None:
    clinic, doctor = seeded.clinic, seeded.doctor
    for language, address in (("kk", "Басенов көшесі, 2"), ("en", "2 Basenov St"), ("ru", "ул. Басенова, 2")):
        others = {"ул. Басенова, 2", "Басенов көшесі, 2", "2 Basenov St"} - {address}
        for path in (f"/clinic/{clinic.id}", f"/doctor/{doctor.id}", f"/district/{clinic.district_id}", "/?q=17"):
            page = await get(client, f"/{language}{path}")
            assert address in page.text, (language, path)
            assert not any(other in page.text for other in others), (language, path)
        [data] = (await get(client, f"/{language}/clinic/{clinic.id}")).jsonld
        assert data["address"]["streetAddress"] == address
    async with app.pool() as session, session.begin():
        (await session.get(Clinic, clinic.id)).address_en = None
    assert "ул. Басенова, 2" in (await get(client, f"/en/clinic/{clinic.id}")).text


async def test_doctor_pages_with_and_without_enough_reviews(app: App, client: TestClient, seeded: Seeded) -> None:
    doctor = seeded.doctor
    page = await get(client, f"/en/doctor/{doctor.id}")
    stats = await read(app, lambda repo: repo.ratings.of_doctor(doctor.id))
    assert ("h1", doctor.full_name) in page.headings
    assert seeded.specialty.name_en in page.text and seeded.clinic.name_en in page.text
    assert visible(pages.rating_line(EN, stats, app.settings.ratings.min_reviews)) in page.text
    assert web_data.GRATITUDE_TEXT in page.text and web_data.NAMED_AUTHOR in page.text
    assert f"https://t.me/{web_data.USERNAME}?start=doctor-{doctor.id}" in page.links
    assert f"https://t.me/{web_data.USERNAME}?start=page-doctor-{doctor.id}" in page.links
    [data] = page.jsonld
    assert data["@type"] == "Physician" and data["medicalSpecialty"] == seeded.specialty.name_en
    assert data["aggregateRating"]["reviewCount"] == stats.review_count

    # One review: the bot says "not enough reviews yet", and so does the page; no aggregateRating then.
    page = await get(client, f"/en/doctor/{seeded.unrated_doctor.id}")
    assert visible(EN("score.too_few", reviews=EN.count("reviews", 1))) in page.text
    [data] = page.jsonld
    assert "aggregateRating" not in data
    # A polyclinic nobody reviewed yet: "no reviews yet", as the bot says, and no rating for search engines.
    page = await get(client, f"/en/clinic/{seeded.other_clinic.id}")
    assert visible(EN("score.none")) in page.text and EN("web.no_reviews") in page.text
    [data] = page.jsonld
    assert data["@type"] == "MedicalClinic" and "aggregateRating" not in data


async def test_reviews_are_paged_newest_first_with_canonical_pages(app: App, client: TestClient,
                                                                   seeded: Seeded) -> None:
    for number in range(25):
        await web_data.submit(app, seeded, doctor=None, clinic=seeded.other_clinic, kind="gratitude", rating=5,
                              text=f"Отзыв номер {number:02d}", first_name="Имя", anonymous=True)
    first = await get(client, f"/ru/clinic/{seeded.other_clinic.id}")
    shown = re.findall(r"Отзыв номер (\d\d)", first.text)
    assert shown == [f"{number:02d}" for number in range(24, 4, -1)]
    assert RU("web.reviews_range", first=1, last=20, total=25) in first.text
    assert f"/ru/clinic/{seeded.other_clinic.id}?page=2" in first.links
    second = await get(client, f"/ru/clinic/{seeded.other_clinic.id}?page=2")
    assert re.findall(r"Отзыв номер (\d\d)", second.text) == ["04", "03", "02", "01", "00"]
    canonical = f"http://{client.host}:{client.port}/ru/clinic/{seeded.other_clinic.id}?page=2"
    assert f'<link rel="canonical" href="{canonical}">' in second.html
    assert f"/ru/clinic/{seeded.other_clinic.id}" in second.links  # back to the first page
    await get(client, f"/ru/clinic/{seeded.other_clinic.id}?page=3", status=404)
    # A page number that is not one is the first page.
    junk = await get(client, f"/ru/clinic/{seeded.other_clinic.id}?page=abc")
    assert re.findall(r"Отзыв номер (\d\d)", junk.text)[0] == "24"


async def test_a_list_too_long_to_count_pages_on_without_a_last_page(app: App, client: TestClient, seeded: Seeded,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.web import content

    monkeypatch.setattr(content, "COUNT_UP_TO", 10)
    for number in range(25):
        await web_data.submit(app, seeded, doctor=None, clinic=seeded.other_clinic, kind="gratitude", rating=5,
                              text=f"Отзыв номер {number:02d}", first_name="Имя", anonymous=True)
    path = f"/en/clinic/{seeded.other_clinic.id}"
    first = await get(client, path)
    assert EN("web.reviews_range_many", first=1, last=20, total=10) in first.text
    assert EN("web.page_n", page=1) in first.text and f"{path}?page=2" in first.links
    second = await get(client, f"{path}?page=2")
    assert re.findall(r"Отзыв номер (\d\d)", second.text) == ["04", "03", "02", "01", "00"]
    assert f"{path}?page=3" not in second.links and path in second.links
    await get(client, f"{path}?page=3", status=404)


async def seed_ranking(app: App, seeded: Seeded) -> None:
    """Doctors of one specialty across the city with different scores; one with too few reviews."""
    async with app.pool() as session:
        colleagues = (await session.scalars(select(Doctor).where(Doctor.specialty_id == seeded.specialty.id,
                                                                 Doctor.id != seeded.doctor.id)
                                            .order_by(Doctor.id))).all()
    for index, doctor in enumerate(colleagues[:6]):
        clinic = await read(app, lambda repo, doctor=doctor: repo.directory.clinic(doctor.clinic_id))
        stars = [5, 5, 5] if index % 3 == 0 else [4, 3, 4] if index % 3 == 1 else [2, 3, 2]
        for rating in stars[: 1 if index == 5 else 3]:
            await web_data.submit(app, seeded, doctor=doctor, clinic=clinic, kind="gratitude", rating=rating,
                                  text="Приём", first_name="Имя", anonymous=True)


async def test_top_list_ranks_exactly_as_the_bot(app: App, client: TestClient, seeded: Seeded) -> None:
    await seed_ranking(app, seeded)
    specialty = seeded.specialty
    for district in (None, seeded.clinic.district_id):
        path = f"/kk/top/{specialty.id}" + (f"?district={district}" if district else "")
        page = await get(client, path)

        async def bot_rows(repo: Repositories, district=district) -> pages.TopRows:
            scope = await repo.directory.district(district) if district else None
            return await pages.top_rows(repo, app.settings, specialty, district=scope)

        rows = await read(app, bot_rows)
        ranked = [f"/kk/doctor/{row.doctor_id}" for row in rows.ranked]
        unranked = [f"/kk/doctor/{doctor.id}" for doctor, _, _ in rows.unranked]
        doctor_links = [link for link in page.links if link.startswith("/kk/doctor/")]
        assert doctor_links == ranked + unranked
        assert ranked, "the seed ranks some doctors"
        for row in rows.ranked:
            assert visible(pages.rating_line(T["kk"], row, app.settings.ratings.min_reviews)) in page.text
        if unranked:
            assert T["kk"]("web.unranked_title", min=app.settings.ratings.min_reviews) in page.text
    index = await get(client, "/kk/top/")
    assert f"/kk/top/{specialty.id}" in index.links


async def test_search_is_the_bots_forgiving_search(client: TestClient, seeded: Seeded) -> None:
    page = await get(client, "/ru/?q=%E2%84%9617")  # №17
    results = [link for link in page.links if link.startswith(("/ru/clinic/", "/ru/doctor/"))]
    assert results[0] == f"/ru/clinic/{seeded.clinic.id}"
    page = await get(client, "/en/?q=poliklinika+17")
    assert next(link for link in page.links if link.startswith("/en/clinic/")) == f"/en/clinic/{seeded.clinic.id}"
    # A surname typed in Latin letters, with a typo, finds the doctor.
    surname = seeded.doctor.full_name.split()[0]
    typo = transliterate(surname)[:-2] + transliterate(surname)[-1]
    page = await get(client, f"/kk/?q={typo}")
    assert f"/kk/doctor/{seeded.doctor.id}" in page.links
    assert T["kk"]("web.search_results_title", query=typo) in page.text
    assert '<meta name="robots" content="noindex, follow">' in page.html
    page = await get(client, "/ru/?q=zzzzqqq")
    assert RU("web.search_nothing") in page.text
    home = await get(client, "/ru/")
    assert RU("web.search_results_title", query="") not in home.text
    assert f"/ru/district/{seeded.clinic.district_id}" in home.links
    district = await get(client, f"/ru/district/{seeded.clinic.district_id}")
    assert f"/ru/clinic/{seeded.clinic.id}" in district.links


# --- Every page, every language --------------------------------------------------------------------------


async def test_every_page_in_every_language_is_plain_accessible_and_switchable(client: TestClient,
                                                                             seeded: Seeded) -> None:
    for path in all_paths(seeded):
        for lang in LANGUAGES:
            url = f"/{lang}{path}"
            response = await client.get(url)
            html = await response.text()
            assert response.status == 200, url
            page = Page(html)
            assert page.lang == lang, url
            assert response.headers["Content-Language"] == lang
            # Landmarks and one main heading for screen readers.
            for landmark in ("<header", "<nav", '<main id="main">', "<footer"):
                assert landmark in html, (url, landmark)
            assert len([level for level, _ in page.headings if level == "h1"]) == 1, url
            # The language switch leads to the same page in each language.
            bare = path.split("?")[0]
            for other in LANGUAGES:
                assert any(link.split("?")[0] == f"/{other}{bare}" for link in page.links), (url, other)
            # No scripts (only JSON-LD data), nothing loaded from another host.
            assert re.findall(r"<script(?![^>]*application/ld\+json)", html) == [], url
            for tag in re.findall(r"<link [^>]*>", html):
                assert 'rel="canonical"' in tag or 'rel="alternate"' in tag or 'href="/' in tag, (url, tag)
            assert 'src="' not in html, url
            assert T[lang]("web.leave_review") in page.text and T[lang]("web.open_in_bot") in page.text, url
            assert any(link.startswith(f"https://t.me/{web_data.USERNAME}") for link in page.links), url


async def test_no_personal_data_on_any_page(client: TestClient, seeded: Seeded) -> None:
    forbidden = [web_data.SECRET_PHONE, web_data.SECRET_PHONE_WRITTEN, "7015550123", "555 01 23",
                 web_data.SECRET_EMAIL, "aigerim.secret", web_data.SECRET_ANONYMOUS_NAME, web_data.VIOLATION_TEXT,
                 "взятку", web_data.PENDING_TEXT, web_data.HIDDEN_TEXT, web_data.DRAFT_ANSWER, web_data.OFFICE_ANSWER,
                 *(str(telegram_id) for telegram_id in seeded.telegram_ids), "555000111", *seeded.references, "AL-"]
    paths = [f"/{lang}{path}" for lang in LANGUAGES for path in all_paths(seeded)]
    paths += [f"/ru/?q={web_data.SECRET_ANONYMOUS_NAME}", "/ru/?q=%2B77015550123", "/sitemap.xml", "/robots.txt",
              "/ru/clinic/999999"]
    scanned = 0
    for path in paths:
        response = await client.get(path)
        body = unescape(await response.text())
        if "?q=" in path:  # the query itself is echoed back as typed; nothing else may match
            typed = path.split("?q=")[1]
            body = body.replace(unquote_plus(typed), "").replace(typed, "")
        for secret in forbidden:
            assert secret not in body, (path, secret)
        scanned += 1
    assert scanned == len(paths) >= 30
    # The page did show what was published: the scan is not passing on empty pages.
    page = await get(client, f"/ru/clinic/{seeded.clinic.id}")
    assert web_data.GRATITUDE_TEXT in page.text and web_data.NAMED_AUTHOR in page.text
    assert RU("masking.phone") in page.text and RU("masking.email") in page.text


# --- Found and cached --------------------------------------------------------------------------------------


async def test_cache_headers_etag_and_security_headers(client: TestClient, seeded: Seeded) -> None:
    response = await client.get(f"/ru/clinic/{seeded.clinic.id}")
    assert response.headers["Cache-Control"] == "public, max-age=60"
    etag = response.headers["ETag"]
    assert "script-src" not in response.headers["Content-Security-Policy"]  # default-src 'none': no script at all
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    again = await client.get(f"/ru/clinic/{seeded.clinic.id}", headers={"If-None-Match": etag})
    assert again.status == 304 and await again.read() == b""
    other = await client.get(f"/kk/clinic/{seeded.clinic.id}", headers={"If-None-Match": etag})
    assert other.status == 200
    css = await client.get(Page(await response.text()).html.split('rel="stylesheet" href="')[1].split('"')[0])
    assert css.status == 200 and "max-age=31536000" in css.headers["Cache-Control"]
    assert css.headers["Content-Type"].startswith("text/css")


async def test_sitemap_robots_and_canonical_base_url(app: App, seeded: Seeded) -> None:
    settings = app.settings.model_copy(update={"web": app.settings.web.model_copy(
        update={"base_url": "https://medfeedback.example.kz"})})
    web_app = make_web_app(settings, app.pool, web_data.USERNAME, clock=app.clock)
    async with TestClient(TestServer(web_app)) as client:
        response = await client.get("/sitemap.xml")
        assert response.headers["Content-Type"].startswith("application/xml")
        sitemap = await response.text()
        for lang in LANGUAGES:
            assert f"<loc>https://medfeedback.example.kz/{lang}/clinic/{seeded.clinic.id}</loc>" in sitemap
            assert f"<loc>https://medfeedback.example.kz/{lang}/doctor/{seeded.doctor.id}</loc>" in sitemap
            assert f"<loc>https://medfeedback.example.kz/{lang}/top/{seeded.specialty.id}</loc>" in sitemap
        assert 'hreflang="kk" href="https://medfeedback.example.kz/kk/clinic/' in sitemap
        async def counts(repo):
            clinics = await repo.directory.active_clinics()
            doctors = [d for c in clinics for d in await repo.directory.doctors_in_clinic(c.id)]
            return {"clinic": len(clinics), "doctor": len(doctors)}

        count = await read(app, counts)
        assert sitemap.count("kz/ru/clinic/") == 4 * count["clinic"]  # its own entry, and an alternate in 3
        assert sitemap.count("<loc>https://medfeedback.example.kz/ru/doctor/") == count["doctor"]
        robots = await (await client.get("/robots.txt")).text()
        assert "Sitemap: https://medfeedback.example.kz/sitemap.xml" in robots
        page = await get(client, f"/kk/doctor/{seeded.doctor.id}")
        assert f'<link rel="canonical" href="https://medfeedback.example.kz/kk/doctor/{seeded.doctor.id}">' in page.html
        assert f'hreflang="en" href="https://medfeedback.example.kz/en/doctor/{seeded.doctor.id}"' in page.html


async def test_unknown_gone_and_odd_addresses(app: App, client: TestClient, seeded: Seeded) -> None:
    page = await get(client, "/kk/clinic/999999", status=404)
    assert page.lang == "kk" and T["kk"]("web.not_found_title") in page.text
    await get(client, "/ru/doctor/abc", status=404)
    await get(client, "/ru/top/999999", status=404)
    await get(client, f"/ru/top/{seeded.specialty.id}?district=999999", status=404)
    await get(client, "/ru/district/999999", status=404)
    assert (await client.get("/de/")).status == 404
    root = await client.get("/", allow_redirects=False)
    assert root.status == 302 and root.headers["Location"] == "/ru/"
    root = await client.get("/", allow_redirects=False, headers={"Accept-Language": "de-DE, kk-KZ;q=0.8, ru;q=0.5"})
    assert root.headers["Location"] == "/kk/" and root.headers["Vary"] == "Accept-Language"
    bare = await client.get("/en", allow_redirects=False)
    assert bare.status == 301 and bare.headers["Location"] == "/en/"
    # A polyclinic taken out of the directory is gone from the site too, with its doctors.
    async with app.pool() as session, session.begin():
        clinic = await session.get(type(seeded.clinic), seeded.clinic.id)
        clinic.active = False
    await get(client, f"/ru/clinic/{seeded.clinic.id}", status=404)
    await get(client, f"/ru/doctor/{seeded.doctor.id}", status=404)
    # A query too long to be a search is cut, not refused.
    page = await get(client, "/ru/?q=" + "17 " * 500)
    assert page.lang == "ru"


async def test_pages_follow_the_moderation_rules_of_the_bot(app: App, client: TestClient, seeded: Seeded) -> None:
    """Whatever makes a review public for the bot makes it public here: a moderator's approval shows it."""
    page = await get(client, f"/ru/doctor/{seeded.doctor.id}")
    assert web_data.PENDING_TEXT not in page.text
    async with app.pool() as session, session.begin():
        review = await session.scalar(select(Review).where(Review.text == web_data.PENDING_TEXT))
        assert review.public_status == PublicStatus.PENDING
        await moderation_queue.approve(Repositories(session), "review", review.id, 9001, app.clock.now,
                                       app.settings)
    page = await get(client, f"/ru/doctor/{seeded.doctor.id}")
    assert web_data.PENDING_TEXT in page.text


async def test_the_reader_never_waits_for_the_bots_writes(app: App, seeded: Seeded, tmp_path) -> None:
    """A page is served while the bot holds SQLite's write lock (a long update in progress)."""
    reader = make_read_engine(app.settings.database.url)
    web_app = make_web_app(app.settings, make_session_pool(reader), web_data.USERNAME, clock=app.clock)
    try:
        async with TestClient(TestServer(web_app)) as client, app.pool() as session, session.begin():
            await session.execute(sql("UPDATE clinics SET phone = phone"))
            response = await asyncio.wait_for(client.get(f"/ru/clinic/{seeded.clinic.id}"), timeout=5)
            assert response.status == 200
    finally:
        await reader.dispose()


# --- Texts ----------------------------------------------------------------------------------------------------


def test_templates_ask_only_for_existing_texts_and_hold_no_words_of_their_own() -> None:
    folder = Path(__file__).parents[1] / "bot" / "web" / "templates"
    asked = set()
    for template in folder.glob("*.html"):
        source = template.read_text(encoding="utf-8")
        asked |= set(re.findall(r"""l10n\(\s*["']([\w.]+)["']\s*[,)]""", source))
        # What is left once tags and template code are gone must be punctuation: every word comes from the locales.
        bare = re.sub(r"<[^>]*>", " ", re.sub(r"\{\{.*?\}\}|\{%.*?%\}", " ", source, flags=re.S))
        words = re.findall(r"[^\W\d_]{2,}", bare)
        assert words == [], (template.name, words)
    assert "web.leave_review" in asked
    for lang in LANGUAGES:
        assert {key for key in asked if not T[lang].has(key)} == set(), lang


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_pages_of_published_reviews_from_either_end_are_the_same_list(app: App, seeded: Seeded) -> None:
    """Far pages are read from the oldest end: every page size and offset gives the same slice as the whole list."""
    async def slices(repo: Repositories) -> None:
        whole, total = await repo.ratings.public_reviews(kinds=pages.PUBLIC_KINDS, clinic_id=seeded.clinic.id,
                                                         offset=0, limit=1000)
        ids = [review.id for review, _ in whole]
        assert total == len(ids) >= 7
        for up_to in (None, 1, 3, total, total + 1):
            for size in (1, 2, 3, 5):
                for offset in range(0, total + 2):
                    rows, counted = await repo.ratings.public_reviews(
                        kinds=pages.PUBLIC_KINDS, clinic_id=seeded.clinic.id, offset=offset, limit=size,
                        count_up_to=up_to)
                    assert counted == (total if up_to is None else min(total, up_to))
                    assert [review.id for review, _ in rows] == ids[offset:offset + size], (up_to, size, offset)

    await read(app, slices)


# --- Serving it ------------------------------------------------------------------------------------------------


async def test_mounted_beside_the_webhook_and_under_a_prefix(app: App, seeded: Seeded) -> None:
    from aiohttp import web

    from bot.web import add_web_routes

    async def webhook(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    server_app = web.Application()
    server_app.router.add_post("/telegram/webhook", webhook)
    add_web_routes(server_app, app.settings, app.pool, web_data.USERNAME, clock=app.clock)
    add_web_routes(server_app, app.settings, app.pool, web_data.USERNAME, prefix="/site", clock=app.clock)
    async with TestClient(TestServer(server_app)) as client:
        assert (await client.post("/telegram/webhook", json={})).status == 200
        page = await get(client, f"/en/clinic/{seeded.clinic.id}")
        assert ("h1", seeded.clinic.name_en) in page.headings
        under = await get(client, f"/site/en/clinic/{seeded.clinic.id}")
        assert f"/site/kk/clinic/{seeded.clinic.id}" in under.links and f"/site/en/doctor/{seeded.doctor.id}" in \
            under.links
        assert '<link rel="stylesheet" href="/site/static/site.css?v=' in under.html
        assert (await client.get("/site/static/site.css")).status == 200


async def test_mount_gives_the_site_a_reader_of_its_own(app: App, seeded: Seeded) -> None:
    from aiohttp import web

    from bot.web.server import mount

    settings = app.settings.model_copy(update={"web": app.settings.web.model_copy(
        update={"bot_username": web_data.USERNAME})})
    server_app = web.Application()
    site = await mount(server_app, settings)
    async with TestClient(TestServer(server_app)) as client:
        page = await get(client, f"/kk/doctor/{seeded.doctor.id}")
        assert f"https://t.me/{web_data.USERNAME}?start=doctor-{seeded.doctor.id}" in page.links
    assert site.pool.kw["bind"].url.database == app.settings.database.url.split("///")[1]
    assert len(server_app.on_cleanup) >= 1


def test_web_settings_are_checked(tmp_path: Path) -> None:
    from bot.config import ConfigError, load_settings

    config = tmp_path / "config.toml"
    config.write_text('[web]\nbase_url = "medfeedback.example.kz"\n')
    with pytest.raises(ConfigError, match=r"web\.base_url .*http"):
        load_settings(config)
    config.write_text('[web]\nbase_url = "https://medfeedback.example.kz/"\nbot_username = "@medfeedback_bot"\n')
    settings = load_settings(config)
    assert (settings.web.base_url, settings.web.bot_username) == ("https://medfeedback.example.kz", "medfeedback_bot")
    config.write_text('[web]\nbot_username = "no spaces allowed"\n')
    with pytest.raises(ConfigError, match=r"web\.bot_username"):
        load_settings(config)


def test_web_command_needs_a_bot_username_or_a_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from bot.__main__ import main

    for name in ("MEDFEEDBACK_CONFIG", "MEDFEEDBACK_TELEGRAM__TOKEN", "MEDFEEDBACK_WEB__BOT_USERNAME"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "w.db"}"\n')
    assert main(["--config", str(config), "web"]) == 2
    assert "web.bot_username" in capsys.readouterr().err


async def test_web_command_serves_the_site_until_sigterm(tmp_path: Path) -> None:
    import signal
    import socket
    import sys

    from aiohttp import ClientSession

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    database = tmp_path / "site.db"
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "sqlite+aiosqlite:///{database}"\n'
                      f'[web]\nlisten_port = {port}\nbot_username = "{web_data.USERNAME}"\n')
    root = Path(__file__).parents[1]
    imported = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--config", str(config), "directory", "import",
        str(root / "storage" / "data" / "almaty_directory.json"), cwd=root)
    assert await imported.wait() == 0
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "--config", str(config), "web",
                                                   cwd=root, stderr=asyncio.subprocess.PIPE)
    try:
        async with ClientSession() as client:
            for _ in range(300):  # up to 30 s on a busy machine
                try:
                    async with client.get(f"http://127.0.0.1:{port}/kk/?q=17") as response:
                        body = await response.text()
                        break
                except OSError:
                    await asyncio.sleep(0.1)
            else:
                pytest.fail("medfeedback web did not answer")
        assert response.status == 200 and '<html lang="kk">' in body and "/kk/clinic/" in body
        assert f"https://t.me/{web_data.USERNAME}?start=review" in body
    finally:
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), timeout=30)
    assert code == 0, (await process.stderr.read()).decode()[-2000:]


async def test_open_in_the_bot_from_a_top_list_opens_the_same_list(app: App, client: TestClient,
                                                                   seeded: Seeded) -> None:
    from tests.flows import resident

    district = seeded.clinic.district_id
    page = await get(client, f"/ru/top/{seeded.specialty.id}?district={district}")
    link = f"https://t.me/{web_data.USERNAME}?start=page-top-{seeded.specialty.id}-{district}"
    assert link in page.links
    person = await resident(app, 4242)

    async def bot_list(repo: Repositories) -> str:
        return (await pages.top_list(repo, RU, app.settings, seeded.specialty,
                                     district=await repo.directory.district(district))).parts[0]

    reply = await person.command("start", link.split("start=")[1])
    assert reply.text == visible(await read(app, bot_list))
    assert seeded.doctor.full_name in reply.text
    # A list that is gone (an unknown specialty) falls back to choosing one.
    reply = await person.command("start", "page-top-999999")
    assert reply.text == visible(RU("top.choose_specialty"))


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_the_reader_engine_reads_and_refuses_to_write(engine) -> None:
    from sqlalchemy.exc import DBAPIError

    url = engine.url.render_as_string(hide_password=False)
    options = {} if engine.url.get_backend_name() == "sqlite" else {
        "connect_args": {"server_settings": {"search_path": engine.dialect.default_schema_name or "public"}}}
    reader = make_read_engine(url, **options)
    try:
        async with make_session_pool(reader)() as session, session.begin():
            assert await session.scalar(sql("SELECT count(*) FROM clinics")) == 0
        with pytest.raises(DBAPIError):
            async with make_session_pool(reader)() as session, session.begin():
                await session.execute(sql("CREATE TABLE web_must_not_write (a INTEGER)"))
    finally:
        await reader.dispose()
