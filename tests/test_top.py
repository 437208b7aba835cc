"""Top specialists, doctor and clinic pages, inline search and the nearest polyclinics, through the real dispatcher."""

from __future__ import annotations

import html
import itertools
import re

import pytest
from aiogram.methods import AnswerInlineQuery, SendMessage, SendVenue
from sqlalchemy import select

from bot.l10n import Translator
from bot.services import directory, ratings, reviews, search
from storage.models import Clinic, District, Doctor, PublicStatus, Response, Review, ReviewStatus, Role, Specialty
from storage.repositories import Repositories
from tests.conftest import App
from tests.fakes.client import UserClient

T = Translator()
RU, EN = T["ru"], T["en"]
PEOPLE = itertools.count(70_000)
BOT_LINK = "https://t.me/medfeedback_test_bot?start="


@pytest.fixture
async def app(app: App) -> App:
    """The bot with the demo directory of Almaty loaded."""
    async with app.pool() as session, session.begin():
        report = await directory.import_rows(Repositories(session), directory.read_rows(directory.DEMO_DIRECTORY))
    assert report.ok
    return app


def visible(template: str) -> str:
    """A locale text as Telegram shows it: tags become formatting, entities become characters."""
    return html.unescape(re.sub(r"<[^>]+>", "", template))


async def rows(app: App, query) -> list:
    async with app.pool() as session:
        return list((await session.scalars(query)).all())


async def cardiologists(app: App) -> list[Doctor]:
    return await rows(app, select(Doctor).join(Specialty).where(Specialty.external_id == "specialty:cardiologist")
                      .order_by(Doctor.id))


async def seed(app: App, doctor: Doctor | None, stars: list[int], *, clinic: Clinic | None = None,
               kind: str = "gratitude", text: str = "Хороший приём", author: str | None = None,
               criteria: dict[str, int] | None = None) -> list[Review]:
    """Reviews by different residents, each through the feedback service in its own transaction."""
    stored = []
    for rating in stars:
        async with app.pool() as session, session.begin():
            repo = Repositories(session)
            user = await repo.users.get_or_create(next(PEOPLE), app.clock.now, author or "Скрытое Имя")
            draft = {"clinic_id": doctor.clinic_id if doctor else clinic.id, "kind": kind, "rating": rating,
                     "text": text, "anonymous": author is None, "criteria": criteria or {},
                     "target": "doctor" if doctor else "clinic"}
            if doctor is not None:
                draft |= {"doctor_id": doctor.id, "specialty_id": doctor.specialty_id}
            if kind != "gratitude":
                draft["category"] = "rudeness"
            stored.append((await reviews.submit(repo, user, draft, now=app.clock.now, settings=app.settings,
                                                language="ru")).review)
        app.clock.advance(minutes=1)
    return stored


def three_stars_summing_to(total: int) -> list[int]:
    first = min(5, total - 2)
    second = min(5, total - first - 1)
    return [first, second, total - first - second]


async def resident(app: App, user_id: int, language: str = "ru", button: str = "Русский") -> UserClient:
    person = app.user(user_id, language_code=language)
    await person.command("start")
    await person.press(button)
    await person.press(T[language]("consent.accept"))
    return person


async def open_specialty(person: UserClient, name: str) -> None:
    """/top, then the specialties' pages until `name` shows up."""
    reply = await person.command("top")
    assert reply.text == visible(RU("top.choose_specialty"))
    while not any(name == row[0] for row in person.last_buttons()):
        await person.press(RU("pages.next"))
    await person.press(name)


# --- Top specialists ----------------------------------------------------------------------------------------


async def test_top_list_ranks_pages_and_lists_doctors_without_enough_reviews(app: App) -> None:
    doctors = await cardiologists(app)
    for index, doctor in enumerate(doctors[:12]):
        await seed(app, doctor, three_stars_summing_to(15 - index))  # each ranked below the one before
    await seed(app, doctors[12], [5])  # one review: listed, not ranked
    person = await resident(app, 3001)

    await open_specialty(person, "кардиолог")
    first_page = person.last_text
    assert first_page.startswith(visible(RU("top.title", specialty="кардиолог", scope=RU("top.whole_city"))))
    for place, doctor in enumerate(doctors[:10], 1):
        assert f"{place}. {doctor.full_name} — " in first_page
    # 12 ranked + 1 with fewer than 3 reviews = 13 doctors, 10 per page; the two nobody reviewed are not listed.
    assert RU("top.page", page=1, pages=2) in first_page
    assert visible(RU("top.unranked_title", min=3)) not in first_page
    buttons = person.last_buttons()
    assert buttons[0][0].startswith(f"1. {doctors[0].full_name} · ")
    assert len(buttons) == 10 + 4  # ten doctors, the pager, the filters, another specialty, the main menu
    assert buttons[-1] == [RU("menu.home")]
    assert buttons[10] == [RU("pages.next")]
    assert buttons[11] == [RU("top.by_district"), RU("top.by_clinic")]

    reply = await person.press(RU("pages.next"))
    second = reply.text
    assert f"11. {doctors[10].full_name}" in second and f"12. {doctors[11].full_name}" in second
    assert visible(RU("top.unranked_title", min=3)) in second
    # Not ranked: the doctor with one review; the two without any are not in a list of the best at all.
    unranked = second.split(visible(RU("top.unranked_title", min=3)))[1]
    assert f"{doctors[12].full_name} — 1 отзыв" in unranked
    assert doctors[13].full_name not in second and doctors[14].full_name not in second
    assert RU("top.page", page=2, pages=2) in second
    # Every entry opens the doctor's page, the unranked ones too.
    reply = await person.press(f"{doctors[12].full_name} · 1 отзыв")  # a count, labelled as one
    assert reply.texts[0].startswith(visible(RU("doctor_page.title", name=doctors[12].full_name)))
    assert visible(RU("score.too_few", reviews="1 отзыв")) in reply.texts[0]


async def test_top_list_by_district_and_by_clinic(app: App) -> None:
    doctors = await cardiologists(app)
    for index, doctor in enumerate(doctors[:12]):
        await seed(app, doctor, three_stars_summing_to(15 - index))
    clinics = {clinic.id: clinic for clinic in await rows(app, select(Clinic))}
    districts = {district.id: district for district in await rows(app, select(District))}
    district = districts[clinics[doctors[1].clinic_id].district_id]
    person = await resident(app, 3002)
    await open_specialty(person, "кардиолог")

    reply = await person.press(RU("top.by_district"))
    assert reply.text == RU("top.choose_district")
    reply = await person.press(district.name_ru)
    expected = [d for d in doctors if clinics[d.clinic_id].district_id == district.id]
    assert reply.text.startswith(visible(RU("top.title", specialty="кардиолог", scope=district.name_ru)))
    ranked_here = [d for d in expected if d in doctors[:12]]
    for place, doctor in enumerate(ranked_here, 1):
        assert f"{place}. {doctor.full_name} — " in reply.text
    for doctor in set(doctors) - set(expected):
        assert doctor.full_name not in reply.text
    assert [RU("top.whole_city_button")] in reply.buttons

    clinic = clinics[doctors[2].clinic_id]
    await person.press(RU("top.by_clinic"))
    while not any(row == [clinic.name_ru] for row in person.last_buttons()):
        await person.press(RU("pages.next"))
    reply = await person.press(clinic.name_ru)
    assert reply.text.startswith(visible(RU("top.title", specialty="кардиолог", scope=clinic.name_ru)))
    assert f"1. {doctors[2].full_name} — " in reply.text
    assert all(d.full_name not in reply.text for d in doctors if d.clinic_id != clinic.id)

    reply = await person.press(RU("top.whole_city_button"))
    assert f"1. {doctors[0].full_name} — " in reply.text


async def test_menu_item_opens_the_specialties(app: App) -> None:
    person = await resident(app, 3003, "en", "English")
    reply = await person.press(EN("menu.top"))
    assert reply.text == visible(EN("top.choose_specialty"))
    names = [row[0] for row in reply.buttons[:-2]]
    # The six specialties with most doctors first, then the rest in alphabetical order.
    assert len(names) == 8 and names[6:] == sorted(names[6:], key=str.casefold)
    assert names[0] == "General practitioner" and reply.buttons[-2:] == [[EN("pages.next")], [EN("menu.home")]]
    # A typed name (with a typo) finds the specialty instead of five pages of buttons.
    reply = await person.send("cardiolgist")
    assert reply.text == EN("top_search.found") and reply.buttons[0] == ["Cardiologist"]
    assert (await person.send("astronaut")).text == EN("top_search.not_found")


# --- Doctor page ----------------------------------------------------------------------------------------------


async def test_doctor_page_shows_score_breakdown_and_public_reviews_as_their_authors_chose(app: App) -> None:
    # The operator switched off the pre-moderation of complaints naming a doctor, so the complaint shows at once.
    app.settings.moderation.hold_named_complaints = False
    doctor = (await cardiologists(app))[0]
    named = await seed(app, doctor, [5], author="Дана", text="Спасибо за внимательность!",
                       criteria={"attentiveness": 5, "professionalism": 4})
    anonymous = await seed(app, doctor, [2], kind="complaint", text="Долго ждали приёма.",
                           criteria={"attentiveness": 3})
    rejected = await seed(app, doctor, [1], text="Отклонённый модерацией текст")
    hidden = await seed(app, doctor, [1], text="Скрытый текст")
    violation = await seed(app, doctor, [4], kind="violation", text="Сообщение о нарушении")
    async with app.pool() as session, session.begin():
        repo = Repositories(session)
        for review, change in ((rejected[0], {"status": ReviewStatus.REJECTED}),
                               (hidden[0], {"public_status": PublicStatus.HIDDEN})):
            review = await session.get(Review, review.id)
            for name, value in change.items():
                setattr(review, name, value)
            await ratings.review_status_changed(repo, review, now=app.clock.now, settings=app.settings)
    person = await resident(app, 3004)
    reply = await person.command("start", f"page-doctor-{doctor.id}")
    page = reply.text
    clinic = (await rows(app, select(Clinic).where(Clinic.id == doctor.clinic_id)))[0]
    assert page.startswith(visible(RU("doctor_page.title", name=doctor.full_name)))
    assert RU("doctor_page.about", specialty="кардиолог", clinic=clinic.name_ru) in page
    # Counting: 5, 2 and the violation's 4 (its text is not published); C = 11/3 for the only reviews in the
    # specialty, so the score is the mean itself: (10·11/3 + 11) / 13 = 11/3.
    assert visible(RU("score.rated", score="3,67", reviews="3 отзыва")) in page
    assert "5⭐ ██████████ 1" in page and "4⭐ ██████████ 1" in page and "1⭐ · 0" in page
    assert "Внимательность: 4,0 (2)" in page and "Профессионализм: 4,0 (1)" in page
    assert visible(RU("doctor_page.reviews_title", first=1, last=2, total=2)) in page
    assert "Спасибо за внимательность!" in page and "Долго ждали приёма." in page
    assert RU("pages.review_header", kind=RU("kind.gratitude"), stars="5⭐", date="26.11.2026",
              author="Дана") in page
    assert RU("pages.review_header", kind=RU("kind.complaint"), stars="2⭐", date="26.11.2026",
              author=RU("pages.anonymous")) in page
    for secret in ("Скрытое Имя", "Отклонённый", "Скрытый текст", "Сообщение о нарушении"):
        assert secret not in page
    assert page.index("Долго ждали") < page.index("Спасибо за")  # newest first
    markup = reply.messages[-1].reply_markup.inline_keyboard
    assert markup[0][0].text == RU("doctor_page.leave_feedback")
    assert markup[0][0].url == f"{BOT_LINK}doctor-{doctor.id}"
    # The link opens the feedback form with this doctor already chosen.
    form = await person.command("start", f"doctor-{doctor.id}")
    assert doctor.full_name in form.text and RU("kind.gratitude") in str(form.buttons)
    await person.command("cancel")
    reply = await person.press(RU("doctor_page.clinic_button"), reply.messages[-1])
    assert any(isinstance(call, SendVenue) for call in reply.calls)
    assert named and anonymous and violation


async def test_a_long_doctor_page_is_paged_and_never_cuts_a_review(app: App) -> None:
    doctor = (await cardiologists(app))[1]
    texts = [f"Отзыв {n}: " + " ".join([f"слово{n}"] * 380) + f" конец{n}." for n in range(6)]
    for text in texts:
        await seed(app, doctor, [4], text=text)  # each about 3,000 characters
    person = await resident(app, 3005)
    reply = await person.command("start", f"page-doctor-{doctor.id}")
    parts = [call.text for call in reply.calls if isinstance(call, SendMessage)]
    assert len(parts) >= 4 and all(len(visible(part)) <= 4096 for part in parts)
    # The five newest on the first page, each whole in one message; the oldest on the next page.
    for text in texts[1:]:
        assert sum(text in part for part in reply.texts) == 1
    assert all(texts[0] not in part for part in reply.texts)
    assert [RU("doctor_page.older")] in reply.buttons
    reply = await person.press(RU("doctor_page.older"))
    assert texts[0] in reply.text
    assert reply.text.startswith(visible(RU("doctor_page.more_reviews_title", name=doctor.full_name, first=6,
                                            last=6, total=6)))
    reply = await person.press(RU("doctor_page.newer"))
    assert texts[5] in " ".join(reply.texts)


# --- Clinic page ----------------------------------------------------------------------------------------------


async def test_clinic_page_pin_doctors_reviews_and_answers(app: App) -> None:
    clinic = (await rows(app, select(Clinic).where(Clinic.number == 17)))[0]
    doctors = await rows(app, select(Doctor).where(Doctor.clinic_id == clinic.id).order_by(Doctor.id))
    await seed(app, doctors[1], [5, 5, 4])
    await seed(app, doctors[0], [3, 3, 3])
    about_clinic = await seed(app, None, [4, 2], clinic=clinic, kind="complaint", text="Грязно в коридоре.")
    newest = await seed(app, doctors[2], [5], text="Самый новый отзыв")
    async with app.pool() as session, session.begin():
        session.add_all([
            Response(review_id=about_clinic[1].id, author_role=Role.CLINIC_STAFF, text="Коридор убрали, спасибо.",
                     public_status=PublicStatus.PUBLISHED, created_at=app.clock.now),
            Response(review_id=about_clinic[0].id, author_role=Role.CLINIC_STAFF, text="Черновик ответа",
                     public_status=PublicStatus.PENDING, created_at=app.clock.now),
        ])
    person = await resident(app, 3006)

    reply = await person.command("start", f"page-clinic-{clinic.id}")
    [venue] = [call for call in reply.calls if isinstance(call, SendVenue)]
    assert (venue.latitude, venue.longitude, venue.title, venue.address) == (
        clinic.latitude, clinic.longitude, clinic.name_ru, clinic.address)
    page = reply.text
    assert page.startswith(RU("clinic_page.title", name=clinic.name_ru))
    assert RU("clinic_page.address", address=clinic.address) in page and clinic.phone in page
    assert visible(RU("score.rated", score="3,78", reviews="9 отзывов")) in page  # (10·34/9 + 34) / 19
    lines = page.splitlines()
    doctor_lines = [line for line in lines if re.match(r"\d+\. ", line)]
    assert doctor_lines[0].startswith(f"1. {doctors[1].full_name} — ")
    assert doctor_lines[1].startswith(f"2. {doctors[0].full_name} — ")
    # One review: listed after the ranked doctors, without a score.
    assert doctor_lines[2] == RU("clinic_page.doctor_entry", place=3, name=doctors[2].full_name,
                                 specialty=await specialty_name(app, doctors[2]), rating=RU("score.short_none"))
    assert reply.buttons[0] == [RU("clinic_page.doctor_button", name=doctors[1].full_name,
                                   specialty=await specialty_name(app, doctors[1]))]
    assert [RU("clinic_page.reviews_button", count=9)] in reply.buttons
    assert [RU("clinic_page.answers_button", count=1)] in reply.buttons
    link = reply.messages[-1].reply_markup.inline_keyboard[-2][0]
    assert link.url == f"{BOT_LINK}clinic-{clinic.id}"

    reply = await person.press(RU("clinic_page.reviews_button", count=9))
    assert reply.text.startswith(visible(RU("clinic_page.reviews_title", name=clinic.name_ru, first=1, last=5,
                                            total=9)))
    assert reply.text.index("Самый новый отзыв") < reply.text.index("Грязно в коридоре.")
    assert RU("pages.about_doctor", doctor=doctors[2].full_name) in reply.text
    reply = await person.press(RU("pages.next"))
    assert reply.text.startswith(visible(RU("clinic_page.reviews_title", name=clinic.name_ru, first=6, last=9,
                                            total=9)))
    assert "Хороший приём" in reply.text  # the oldest ones, about its doctors
    await person.press(RU("clinic_page.back"))
    reply = await person.press(RU("clinic_page.answers_button", count=1))
    assert "Коридор убрали, спасибо." in reply.text and "Черновик ответа" not in reply.text
    assert RU("clinic_page.answer_to", date="26.11.2026", review_date="26.11.2026", kind=RU("kind.complaint"),
              stars="2⭐") in reply.text
    assert newest


async def test_texts_stored_before_screening_are_screened_on_the_bots_pages(app: App) -> None:
    """Rows from before texts were screened at submission have no public version: the pages screen them as shown,
    never falling back to the resident's or the clinic's original words."""
    clinic = (await rows(app, select(Clinic).where(Clinic.number == 17)))[0]
    doctor = (await rows(app, select(Doctor).where(Doctor.clinic_id == clinic.id).order_by(Doctor.id)))[0]
    [review] = await seed(app, doctor, [5], text="x")
    async with app.pool() as session, session.begin():
        stored = await session.get(Review, review.id)
        stored.text, stored.public_text = "Спасибо! Звоните мне: +7 701 555 01 23, aigerim.secret@mail.kz", None
        session.add(Response(review_id=review.id, author_role=Role.CLINIC_STAFF, public_text=None,
                             text="Ждём вас, пишите на почту aigerim.secret@mail.kz",
                             public_status=PublicStatus.PUBLISHED, created_at=app.clock.now))
    person = await resident(app, 3007)

    page = (await person.command("start", f"page-doctor-{doctor.id}")).text
    assert "Спасибо! Звоните мне:" in page and RU("masking.phone") in page and RU("masking.email") in page
    assert "555 01 23" not in page and "aigerim.secret" not in page
    await person.command("start", f"page-clinic-{clinic.id}")
    answers_page = (await person.press(RU("clinic_page.answers_button", count=1))).text
    assert "Ждём вас, пишите на почту" in answers_page and RU("masking.email") in answers_page
    assert "aigerim.secret" not in answers_page


async def specialty_name(app: App, doctor: Doctor) -> str:
    return (await rows(app, select(Specialty.name_ru).where(Specialty.id == doctor.specialty_id)))[0]


# --- Inline mode ------------------------------------------------------------------------------------------------


def answers(app: App) -> list[AnswerInlineQuery]:
    return app.session.calls_of(AnswerInlineQuery)


async def test_inline_empty_query_shows_the_best_and_pages_with_next_offset(app: App) -> None:
    person = app.user(3007, language_code="ru")
    # Nobody has enough reviews yet: the city's polyclinics in their order.
    await person.inline("")
    first = answers(app)[-1]
    assert len(first.results) == 20 and first.next_offset == "20" and first.is_personal and first.cache_time == 30
    assert first.results[0].title == "Городская поликлиника №1"
    await person.inline("", offset="20")
    second = answers(app)[-1]
    assert len(second.results) == 16 and second.next_offset == ""
    assert second.results[-1].title == "Городская поликлиника №36"

    doctors = await cardiologists(app)
    await seed(app, doctors[3], [5, 5, 5, 5])
    await seed(app, doctors[4], [4, 4, 4])
    app.clock.advance(seconds=31)  # past the hits' cache
    await person.inline("")
    best = answers(app)[-1]
    titles = [result.title for result in best.results]
    clinic_of = {c.id: c.name_ru for c in await rows(app, select(Clinic))}
    assert titles[:2] == [clinic_of[doctors[3].clinic_id], clinic_of[doctors[4].clinic_id]] or (
        doctors[3].clinic_id == doctors[4].clinic_id)
    assert titles.index(doctors[3].full_name) < titles.index(doctors[4].full_name)
    card = best.results[titles.index(doctors[3].full_name)]
    assert card.description == RU("inline.doctor_description", specialty="кардиолог",
                                  clinic=clinic_of[doctors[3].clinic_id], rating=RU("score.short", score="4,69",
                                                                                    count=4))
    buttons = card.reply_markup.inline_keyboard
    assert (buttons[0][0].text, buttons[0][0].url) == (RU("inline.open_page"), f"{BOT_LINK}page-doctor-{doctors[3].id}")
    assert (buttons[1][0].text, buttons[1][0].url) == (RU("inline.leave_feedback"), f"{BOT_LINK}doctor-{doctors[3].id}")
    assert doctors[3].full_name in card.input_message_content.message_text
    # The card's first button, pressed in another chat, opens this page in the bot.
    resident_ = await resident(app, 3008)
    reply = await resident_.command("start", f"page-doctor-{doctors[3].id}")
    assert reply.text.startswith(visible(RU("doctor_page.title", name=doctors[3].full_name)))


async def test_inline_search_forgives_typos_and_latin_spelling(app: App) -> None:
    doctor = next(d for d in await cardiologists(app) if len(d.full_name.split()[0]) >= 8)
    surname = doctor.full_name.split()[0]
    person = app.user(3009, language_code="en")
    typo = surname[:3] + surname[4] + surname[3] + surname[5:]  # two letters swapped
    await person.inline(typo)
    titles = [result.title for result in answers(app)[-1].results]
    assert doctor.full_name in titles
    await person.inline(search.transliterate(surname) + " cardiologist")
    result = answers(app)[-1].results[0]
    assert result.title == doctor.full_name
    assert result.description.startswith("Cardiologist · ")
    await person.inline("poliklinika 17")
    assert answers(app)[-1].results[0].title == "City Polyclinic No. 17"


async def test_inline_index_follows_the_directory(app: App) -> None:
    person = app.user(3010, language_code="ru")
    await person.inline("Жаңабергенова")
    assert answers(app)[-1].results == []
    doctor = {"type": "doctor", "external_id": "doctor:new", "full_name": "Жаңабергенова Әсем Нұрланқызы",
              "clinic": "clinic:gp-5", "specialty": "specialty:cardiologist"}
    async with app.pool() as session, session.begin():
        report = await directory.import_rows(Repositories(session), [directory.Row(2, doctor)])
    assert report.created == 1
    # The import bumped the directory's version: the very next query searches the new index, cached hits or not.
    await person.inline("Жаңабергенова")
    assert [result.title for result in answers(app)[-1].results] == ["Жаңабергенова Әсем Нұрланқызы"]
    async with app.pool() as session, session.begin():
        report = await directory.import_rows(Repositories(session), [directory.Row(2, {**doctor, "active": False})])
    assert report.updated == 1
    await person.inline("Жаңабергенова")
    assert answers(app)[-1].results == []


async def test_one_index_per_directory_version_serves_the_conversation_and_inline_mode(app: App) -> None:
    index = app.dp["directory_index"]
    person = await resident(app, 3012)
    await person.press(RU("menu.leave_feedback"))
    assert "Городская поликлиника №17" in (await person.send("поликлиника 17")).text  # the one match, taken
    await person.inline("кардиолог 17")
    await person.inline("поликлиника 5")
    await person.command("cancel")
    await person.press(RU("menu.leave_feedback"))
    assert "Городская поликлиника №1" in (await person.send("поликлиника 1")).text
    assert index.builds == 1
    # Entries are plain rows: the index keeps no ORM object (nor its session) alive.
    snapshot = index.snapshot
    assert not any(isinstance(entry, Clinic | Doctor | Specialty)
                   for entries in (snapshot.clinics, snapshot.doctors, snapshot.specialties)
                   for entry in entries.values())
    async with app.pool() as session, session.begin():
        unchanged = await directory.import_rows(Repositories(session), directory.read_rows(directory.DEMO_DIRECTORY))
    assert unchanged.created == unchanged.updated == 0
    await person.inline("кардиолог")
    assert index.builds == 1  # an import that changed nothing keeps the version


# --- Nearest polyclinic ---------------------------------------------------------------------------------------


async def test_a_location_outside_the_form_finds_the_nearest_polyclinics(app: App) -> None:
    clinic = (await rows(app, select(Clinic).where(Clinic.number == 17)))[0]
    await seed(app, (await rows(app, select(Doctor).where(Doctor.clinic_id == clinic.id)))[0], [5, 4, 4])
    person = await resident(app, 3011)
    reply = await person.location(clinic.latitude, clinic.longitude)
    assert reply.text.startswith(visible(RU("nearest.title")))
    lines = reply.text.splitlines()
    assert lines[2] == RU("nearest.entry", place=1, name=clinic.name_ru, km="0,0", rating="").split("\n")[0]
    assert visible(RU("score.rated", score="4,33", reviews="3 отзыва")) in lines[3]
    assert len(reply.buttons) == 6 and reply.buttons[0] == [RU("nearest.button", place=1, name=clinic.name_ru,
                                                                km="0,0")]
    assert reply.buttons[-1] == [RU("menu.home")]  # not a dead end
    first = reply.buttons[0][0]
    assert (await person.press(RU("menu.home"))).text == RU("menu.title")
    await person.location(clinic.latitude, clinic.longitude)
    reply = await person.press(first)
    assert any(isinstance(call, SendVenue) for call in reply.calls)
    assert reply.text.startswith(RU("clinic_page.title", name=clinic.name_ru))

    # Inside the feedback form the location chooses the polyclinic, as before.
    await person.press(RU("menu.leave_feedback"), await _menu(person))
    reply = await person.location(clinic.latitude, clinic.longitude)
    assert reply.text == RU("clinic.nearest")
    await person.command("cancel")
    # Free text at the menu is offered as the start of a review (not a dead end).
    assert (await person.send("привет")).text == RU("menu_offer.prompt")


async def _menu(person: UserClient) -> int:
    await person.command("start")
    return person.last_message.message_id


async def test_inline_matches_are_ordered_by_score_with_the_unranked_after(app: App) -> None:
    doctors = await cardiologists(app)
    await seed(app, doctors[5], [1])  # one review: not ranked, whatever its stars
    await seed(app, doctors[4], [4, 4, 4])
    await seed(app, doctors[3], [5, 5, 5, 5])
    person = app.user(3012, language_code="ru")
    await person.inline("кардиолог")
    titles = [result.title for result in answers(app)[-1].results]
    assert titles[:2] == [doctors[3].full_name, doctors[4].full_name]
    assert titles.index(doctors[5].full_name) > 1



async def active_doctors_of(app: App, specialty: str) -> set[str]:
    return set(await rows(app, select(Doctor.full_name).join(Specialty).where(Specialty.external_id == specialty,
                                                                              Doctor.active)))


@pytest.mark.parametrize(("typed", "specialty"), [
    ("көз дәрігері", "specialty:ophthalmologist"),  # "eye doctor": found Kozlova, a therapist, instead
    ("окулист", "specialty:ophthalmologist"),
    ("тіс дәрігері", "specialty:dentist"),
    ("жүрек дәрігері", "specialty:cardiologist"),
])
async def test_inline_everyday_names_of_specialties_find_those_doctors(app: App, typed: str, specialty: str) -> None:
    """In the family chat a grandmother types "@bot көз дәрігері" (eye doctor) to share a good one. Inline mode
    offered therapists named Козлова ("көз" read as a surname), or nothing for "окулист", "тіс дәрігері", "жүрек
    дәрігері", while /top in the bot understands every one of these words: the doctors of that specialty."""
    person = app.user(3107, language_code="kk")
    await person.inline(typed)
    titles = [result.title for result in answers(app)[-1].results]
    assert titles and set(titles) <= await active_doctors_of(app, specialty), titles[:5]


async def test_inline_everyday_name_of_a_specialty_lists_its_best_first(app: App) -> None:
    doctors = await cardiologists(app)
    await seed(app, doctors[4], [4, 4, 4])
    await seed(app, doctors[3], [5, 5, 5, 5])
    person = app.user(3108, language_code="kk")
    await person.inline("жүрек дәрігері")
    titles = [result.title for result in answers(app)[-1].results]
    assert titles[:2] == [doctors[3].full_name, doctors[4].full_name], titles[:3]

async def test_clinic_card_and_inline_results_give_the_address_in_the_readers_language(app: App) -> None:
    clinic = (await rows(app, select(Clinic).where(Clinic.number == 17)))[0]
    person = await resident(app, 3020, "kk", "Қазақша")
    reply = await person.command("start", f"page-clinic-{clinic.id}")
    [venue] = [call for call in reply.calls if isinstance(call, SendVenue)]
    assert venue.address == "Басенов көшесі, 2"
    assert T["kk"]("clinic_page.address", address="Басенов көшесі, 2") in reply.text
    reader = app.user(3021, language_code="en")
    await reader.inline("poliklinika 17")
    result = answers(app)[-1].results[0]
    assert result.title == "City Polyclinic No. 17" and result.description.startswith("2 Basenov St · ")
    assert T["en"]("clinic_page.address", address="2 Basenov St") in result.input_message_content.message_text
    # Without a translation (here removed by an import, which also rebuilds the search index), the directory's own.
    row = next(row for row in directory.read_rows(directory.DEMO_DIRECTORY)
               if row.values["external_id"] == "clinic:gp-17")
    async with app.pool() as session, session.begin():
        report = await directory.import_rows(Repositories(session), [
            directory.Row(2, {**row.values, "address_en": None})])
    assert report.updated == 1
    await reader.inline("poliklinika 17")
    assert answers(app)[-1].results[0].description.startswith("ул. Басенова, 2 · ")


@pytest.mark.parametrize(("typed", "specialty"), [("болит колено", "травматолог-ортопед"),
                                                  ("kidney stones", "уролог")])
async def test_inline_a_complaint_lists_its_specialists_not_the_first_steps_therapists(app: App, typed: str,
                                                                                      specialty: str) -> None:
    """The therapist /top offers as a first-step button of its own is not mixed into inline mode's list, where the
    city's many therapists filled it (15 of 20 for "болит колено") and came first (a second reading found it)."""
    person = app.user(81_006, language_code="ru")
    await person.inline(typed)
    shown = [result.description.split(" · ")[0] for result in answers(app)[-1].results]
    assert shown and shown[0] == specialty and "терапевт" not in shown, shown
