"""Finding a specialist by what is wrong ("болит колено", "тізем ауырады", "kidney stones"), and a complaint that
may be an emergency answered with the ambulance's number before any doctor, through the real dispatcher."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from bot.services import specialty_words
from tests.conftest import App
from tests.flows import T
from tests.test_top import resident, visible

RU, KK, EN = T["ru"], T["kk"], T["en"]
DIRECTORY = Path(__file__).resolve().parents[1] / "storage" / "data" / "almaty_directory.json"


pytestmark = pytest.mark.usefixtures("demo_directory")


@pytest.fixture(scope="module")
def specialties() -> list[SimpleNamespace]:
    rows = json.loads(DIRECTORY.read_text(encoding="utf-8"))
    return [SimpleNamespace(**{key: row[key] for key in ("external_id", "name_kk", "name_ru", "name_en")})
            for row in rows if row["type"] == "specialty"]


def offered(typed: str, specialties) -> list[str]:
    return [specialty.external_id.removeprefix("specialty:") for specialty in
            specialty_words.read(typed, specialties).specialties]


async def searching(app: App, user_id: int, language: str = "ru", button: str = "Русский"):
    person = await resident(app, user_id, language, button)
    await person.command("top")
    return person


async def test_a_complaint_offers_the_usual_doctor_and_the_therapist_as_the_first_step(app: App) -> None:
    person = await searching(app, 71_001)
    reply = await person.send("болит колено после падения")
    assert reply.texts == [RU("top_search.by_complaint")], reply.texts
    assert [row[0] for row in reply.buttons[:2]] == ["травматолог-ортопед", "терапевт"], reply.buttons
    # A specialty named is found as before, with no word of complaints or diagnoses.
    assert (await person.send("окулист")).texts == [RU("top_search.found")]


async def test_a_complaint_for_a_child_offers_the_pediatrician_as_the_first_step(app: App) -> None:
    person = await searching(app, 71_002, "kk", "Қазақша")
    reply = await person.send("баламның тісі ауырады")
    assert reply.texts == [KK("top_search.by_complaint")]
    assert [row[0] for row in reply.buttons[:2]] == ["стоматолог", "педиатр"], reply.buttons


async def test_an_emergency_is_told_to_call_the_ambulance_before_any_doctor(app: App) -> None:
    person = await searching(app, 71_003)
    reply = await person.send("папе плохо давит в груди отдает в левую руку")
    assert reply.texts[0] == visible(RU("ambulance.call_now")) and "103" in reply.texts[0], reply.texts
    assert reply.texts[1:] == [RU("top_search.by_complaint")] and ["кардиолог"] in reply.buttons
    # With no doctor to suggest, the ambulance's number alone: never "no such specialty" to a person unconscious.
    reply = await person.send("мама упала и не приходит в себя")
    assert reply.texts[0] == visible(RU("ambulance.call_now")) and RU("top_search.not_found") not in reply.texts


async def test_an_emergency_in_kazakh_typed_on_a_russian_keyboard_and_in_english(app: App) -> None:
    person = await searching(app, 71_004, "kk", "Қазақша")
    reply = await person.send("кеудем кысып тур")  # "кеудем қысып тұр" without the Kazakh keyboard
    assert reply.texts[0] == visible(KK("ambulance.call_now")), reply.texts
    reply = await person.send("әкемнің беті қисайып қалды")
    assert reply.texts[0] == visible(KK("ambulance.call_now")), reply.texts
    person = await searching(app, 71_005, "en", "English")
    reply = await person.send("my husband has crushing chest pain")
    assert reply.texts[0] == visible(EN("ambulance.call_now")), reply.texts


async def test_after_the_event_or_now_and_then_is_no_emergency(app: App) -> None:
    person = await searching(app, 71_006)
    reply = await person.send("восстановление после инсульта")
    assert visible(RU("ambulance.call_now")) not in reply.texts and ["врач-реабилитолог"] in reply.buttons, reply
    reply = await person.send("иногда колет в груди")
    assert visible(RU("ambulance.call_now")) not in reply.texts, reply.texts


async def test_a_specialist_the_polyclinics_do_not_have_finds_none(app: App) -> None:
    person = await searching(app, 71_007)
    # Not the pediatrician for "ребенка", nor the therapist for "therapist".
    assert (await person.send("логопед для ребенка")).texts == [RU("top_search.not_found")]
    person = await searching(app, 71_008, "en", "English")
    assert (await person.send("speech therapist for my kid")).texts == [EN("top_search.not_found")]


def test_kazakh_letters_typed_as_their_russian_look_alikes_or_in_latin(specialties) -> None:
    assert offered("ишим ауырады", specialties)[0] == "gastroenterologist"
    assert offered("kozim auyrady", specialties)[0] == "ophthalmologist"
    assert offered("тізем ауырады, құлап қалдым", specialties)[0] == "traumatologist-orthopedist"
    assert specialty_words.read("кеудем кысып тур", specialties).emergency


def test_the_entry_of_more_words_wins_and_short_child_words_are_whole_words(specialties) -> None:
    assert offered("kidney stones", specialties) == ["urologist", "therapist"]  # not the nephrologist's "kidney"
    assert offered("kidney", specialties) == ["nephrologist"]  # and "kid" does not make it a child's
    # A tie between a name's word and a complaint's goes to the name: no "this is not a diagnosis" for "сахар".
    assert offered("сахар", specialties) == ["endocrinologist"]
    assert not specialty_words.read("сахар", specialties).from_complaint
    assert offered("болит ухо", specialties) == ["otolaryngologist", "therapist"]  # two words of a complaint


def test_no_complaint_words_where_none_is_typed(specialties) -> None:
    for typed in ("привет", "hi", "аптека рядом", "нужен хороший врач", "ветеринар для кошки", "диетолог"):
        finding = specialty_words.read(typed, specialties)
        assert not finding.specialties and not finding.emergency, typed


async def test_a_complaint_of_a_life_in_danger_now_is_told_the_ambulance_once_and_still_taken(app: App) -> None:
    """The office is alerted to such a complaint, but the person beside someone unconscious needs 103 first; the
    second part of the same story does not say it again, and the complaint is taken as written."""
    from tests.flows import kind_button, to_kind_step
    from tests.flows import resident as flow_resident

    person = await flow_resident(app, 71_010)
    await to_kind_step(app, person)
    reply = await person.press(kind_button("complaint", "refusal"))
    text = "Маме плохо, она без сознания, а терапевт отказался прийти на вызов"
    if RU("rating.prompt") in (reply.text or ""):
        await person.press("1⭐")
    reply = await person.send(text)
    assert reply.texts[0] == visible(RU("ambulance.call_now")), reply.texts
    assert RU("description.received", length=len(text), files=0, limit=10).split("\n")[0] in reply.texts[-1]
    reply = await person.send("Скорая едет уже час")
    assert visible(RU("ambulance.call_now")) not in reply.texts, reply.texts
    # An ordinary complaint does not say it.
    other = await flow_resident(app, 71_011)
    await to_kind_step(app, other)
    if RU("rating.prompt") in ((await other.press(kind_button("complaint", "rudeness"))).text or ""):
        await other.press("1⭐")
    reply = await other.send("Терапевт грубил и не смотрел анализы")
    assert visible(RU("ambulance.call_now")) not in reply.texts, reply.texts


@pytest.mark.parametrize(("name", "size"), [("symptom_eval_1.tsv", 180), ("symptom_eval_2.tsv", 190)])
def test_the_mended_sets_emergencies_stay_told_and_their_calm_complaints_untold(specialties, name: str,
                                                                               size: int) -> None:
    """A guard on the sets the rules were mended on (tests/data/symptom_eval_1.tsv, _2.tsv): a change to the words
    that stops telling one of their emergencies to call 103, or starts telling a mild complaint so, is seen here."""
    lines = [line.split("\t") for line in (Path(__file__).parent / "data" / name)
             .read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    wrong = [query for query, _, _, urgent in lines
             if specialty_words.read(query, specialties).emergency != (urgent.strip() == "yes")]
    assert len(lines) == size and wrong == []


def test_a_bare_after_is_not_calm_and_a_childs_emergency_offers_the_pediatrician(specialties) -> None:
    assert specialty_words.read("throat closing up after eating peanuts", specialties).emergency
    assert not specialty_words.read("had a seizure years ago, need a check", specialties).emergency
    assert offered("ребенок подавился не дышит", specialties) == ["pediatrician"]
    assert offered("муж без сознания", specialties) == []  # an adult's: 103 alone


async def test_an_emergency_typed_at_the_menu_or_as_a_caption_is_told_the_ambulance_once(app: App) -> None:
    """The most likely way a frightened person writes: straight into the chat, or under a photo. Both are told 103
    (found by a second reading: only the description step checked); the review that starts from it is not told
    again."""
    from tests.flows import PHOTO_A
    from tests.flows import resident as flow_resident

    person = await flow_resident(app, 71_020)
    reply = await person.send("Маме плохо, она без сознания, а терапевт отказался прийти")
    assert reply.texts[0] == visible(RU("ambulance.call_now")), reply.texts
    assert reply.texts[-1] == RU("menu_offer.prompt"), reply.texts
    reply = await person.press(RU("menu_offer.start"))
    assert visible(RU("ambulance.call_now")) not in reply.texts, reply.texts
    other = await flow_resident(app, 71_021)
    from tests.flows import kind_button, to_kind_step

    await to_kind_step(app, other)
    if RU("rating.prompt") in ((await other.press(kind_button("complaint", "refusal"))).text or ""):
        await other.press("1⭐")
    reply = await other.photo(PHOTO_A, caption="Папа без сознания, врач не пришёл на вызов")
    assert visible(RU("ambulance.call_now")) in reply.texts, reply.texts


async def test_inline_an_emergency_is_told_the_ambulance_before_any_doctor(app: App) -> None:
    """A daughter types "@bot папе плохо давит в груди" in the family chat: inline mode listed cardiologists only,
    with no word of 103, while the bot's own search says it first. Now the first result is the ambulance line, in
    her language, and sending it posts the number into the chat; a calm query shows no such line."""
    person = app.user(71_101, language_code="ru")
    answer = (await person.inline("папе плохо давит в груди отдает в левую руку")).calls[-1]
    first, *doctors = answer.results
    assert first.title == RU("inline.ambulance_title") and "103" in first.title
    assert first.description == RU("inline.ambulance_description")
    assert first.input_message_content.message_text == RU("ambulance.call_now")
    assert first.reply_markup is None
    assert doctors and doctors[0].description.startswith("кардиолог · "), [d.description for d in doctors[:3]]
    # Scrolling on does not repeat it.
    if answer.next_offset:
        more = (await person.inline("папе плохо давит в груди отдает в левую руку", answer.next_offset)).calls[-1]
        assert all(result.title != RU("inline.ambulance_title") for result in more.results)
    # With no specialty to read from it, the ambulance line still comes first.
    results = (await person.inline("мама упала и не приходит в себя")).calls[-1].results
    assert results[0].title == RU("inline.ambulance_title")

    # In the language the person chose in the bot, Kazakh typed on a Russian keyboard too.
    kazakh = await resident(app, 71_102, "kk", "Қазақша")
    first = (await kazakh.inline("кеудем кысып тур")).calls[-1].results[0]
    assert (first.title, first.input_message_content.message_text) == (KK("inline.ambulance_title"),
                                                                       KK("ambulance.call_now"))
    english = app.user(71_103, language_code="en")
    first = (await english.inline("my husband has crushing chest pain")).calls[-1].results[0]
    assert first.title == EN("inline.ambulance_title")


@pytest.mark.parametrize("typed", ["восстановление после инсульта", "иногда колет в груди", "кардиолог", ""])
async def test_inline_a_calm_query_shows_no_ambulance_line(app: App, typed: str) -> None:
    person = app.user(71_104, language_code="ru")
    results = (await person.inline(typed)).calls[-1].results
    assert results and all(result.title != RU("inline.ambulance_title") for result in results), typed
