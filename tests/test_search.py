"""Search over the demo directory: clinic numbers in every form, typos, Cyrillic/Latin names, specialties, distance."""

from __future__ import annotations

import json

import pytest

from bot.services.directory import DEMO_DIRECTORY
from bot.services.search import (
    Person,
    Place,
    SearchIndex,
    distance_km,
    find_people,
    find_places,
    nearest,
    normalise,
    transliterate,
)

ROWS = json.loads(DEMO_DIRECTORY.read_text(encoding="utf-8"))
SPECIALTIES = {row["external_id"]: (row["name_kk"], row["name_ru"], row["name_en"])
               for row in ROWS if row["type"] == "specialty"}
CLINIC_ROWS = [row for row in ROWS if row["type"] == "clinic"]
CLINIC_IDS = {row["external_id"]: index for index, row in enumerate(CLINIC_ROWS, start=1)}
CLINIC_NUMBERS = {row["external_id"]: row["number"] for row in CLINIC_ROWS}
PLACES = [
    Place(CLINIC_IDS[row["external_id"]], row["number"], (row["name_kk"], row["name_ru"], row["name_en"]),
          row["address"], row["latitude"], row["longitude"])
    for row in CLINIC_ROWS
]
PEOPLE = [
    Person(index, row["full_name"], SPECIALTIES[row["specialty"]], CLINIC_NUMBERS[row["clinic"]],
           CLINIC_IDS[row["clinic"]])
    for index, row in enumerate((row for row in ROWS if row["type"] == "doctor"), start=1)
]
INDEX = SearchIndex(PLACES, PEOPLE)
NO_17 = next(place for place in PLACES if place.number == 17)
CARDIOLOGIST = SPECIALTIES["specialty:cardiologist"]
THERAPIST = SPECIALTIES["specialty:therapist"]


def person(full_name: str) -> Person:
    return next(someone for someone in PEOPLE if someone.full_name == full_name)


def numbers(results: list[tuple[Place, float]]) -> list[int | None]:
    return [place.number for place, _ in results]


def test_normalise_and_transliterate() -> None:
    assert normalise("  Городская  поликлиника №17, ул. Басенова! ") == "городская поликлиника 17 ул басенова"
    assert normalise("ГП№17") == "гп 17"
    assert normalise("Ёлкина-Семёнова") == "елкина семенова"
    assert transliterate("Ахметова") == "Akhmetova"
    assert transliterate("Щукин Цой Жанар") == "Shchukin Tsoy Zhanar"
    assert transliterate("әғқңөұүһі") == "agknouuhi"
    assert transliterate("Clinic 17") == "Clinic 17"


NUMBER_FORMS = ["17", "№17", "№ 17", "N17", "No. 17", "#17", "поликлиника 17", "17 поликлиника", "гп 17", "ГП№17",
                "гп17", "17 емхана", "емхана 17", "17-ші емхана", "polyclinic 17", "poliklinika 17",
                "17-я поликлиника", "поликлинника №17", "Городская поликлиника №17", "№17 қалалық емхана",
                "City Polyclinic No. 17"]


@pytest.mark.parametrize("query", NUMBER_FORMS)
def test_every_way_of_writing_the_number_finds_that_clinic_alone(query: str) -> None:
    assert numbers(find_places(query, PLACES)) == [17]


@pytest.mark.parametrize("query", ["Басенва", "басенова 2", "Basenova", "Basenowa", "басен", "ул. Басенова, 2",
                                   "поликлиника на басеновой"])
def test_the_street_with_typos_and_in_latin_finds_the_clinic_on_it(query: str) -> None:
    on_basenova = [place for place in PLACES if "Басенова" in (place.address or "")]
    assert on_basenova == [NO_17]
    results = find_places(query, PLACES)
    assert results[0][0] == NO_17
    assert 0.75 <= results[0][1] <= 1.0


def test_a_bare_number_finds_only_that_clinic_not_those_containing_the_digit() -> None:
    assert numbers(find_places("2", PLACES)) == [2]
    assert numbers(find_places("№ 36", PLACES)) == [36]
    assert find_places("99", PLACES) == []


def test_a_clinic_number_ranks_above_a_street_unless_it_is_the_house_number() -> None:
    on_bekmakhanova = sorted(place.number for place in PLACES if "Бекмаханова" in (place.address or ""))
    assert on_bekmakhanova == [1, 2]
    assert numbers(find_places("бекмаханова", PLACES)) == [1, 2]
    assert numbers(find_places("бекмаханова 17", PLACES)) == [17, 1, 2]
    # "2" is the house number on Басенова here, so the clinic on that street beats clinic No. 2.
    assert numbers(find_places("басенова 2", PLACES)) == [17, 2]


def test_a_street_shared_by_two_clinics_is_told_apart_by_the_house_number() -> None:
    both = numbers(find_places("толе би", PLACES))
    assert sorted(both) == [3, 14]
    assert numbers(find_places("Толе би 138", PLACES))[0] == 3
    assert numbers(find_places("толеби 30", PLACES))[0] == 14


@pytest.mark.parametrize("query", ["ываоыва", "qwerty", "фывапролдж", "zzzz", "!!!", "", "поликлиника", "врач"])
def test_gibberish_and_generic_words_find_nothing(query: str) -> None:
    assert find_places(query, PLACES) == []
    assert find_people(query, PEOPLE) == []


def test_limit_scores_and_order() -> None:
    assert len(find_places("коктем 1", PLACES, limit=1)) == 1
    assert find_places("17", PLACES, limit=0) == []
    results = find_people("кардиолог", PEOPLE, limit=100)
    scores = [score for _, score in results]
    assert scores == sorted(scores, reverse=True) and all(0 < score <= 1 for score in scores)
    tied = [someone.clinic_number for someone, score in results if score == scores[0]]
    assert tied == sorted(tied)
    assert find_people("кардиолог", PEOPLE, limit=3) == results[:3]


@pytest.mark.parametrize("query", ["Ахметова", "ахметова", "ахметва", "ахмтеова", "Akhmetova", "Ahmetova",
                                   "Axmetova", "AHMETOVA", "Aхмeтoвa", "Ахметова Зарина", "ahmetova zarina maratovna"])
def test_surname_with_typos_and_in_latin_finds_the_doctor_first(query: str) -> None:
    results = find_people(query, PEOPLE)
    assert results[0][0] == person("Ахметова Зарина Маратовна")


@pytest.mark.parametrize("query", ["Akhmetova", "Ahmetova", "Axmetova", "AHMETOVA", "Aхмeтoвa", "Ахмэтова"])
def test_other_spellings_of_a_name_are_not_typos(query: str) -> None:
    # The same name written with kh/h/x, Latin look-alike letters or э: an exact match, not a near one.
    assert find_people(query, PEOPLE)[0] == (person("Ахметова Зарина Маратовна"), 1.0)
    assert find_people("Jaksilikova", PEOPLE)[0][1] == 1.0
    assert find_people("Kassymova", PEOPLE)[0] == (person("Касымова Камила Маратовна"), 1.0)


def test_the_masculine_surname_prefers_the_man() -> None:
    assert find_people("Akhmetov", PEOPLE)[0][0] == person("Ахметов Айдар Маратович")


@pytest.mark.parametrize("query", ["Zhaksylykova", "Jaksilikova", "жаксылыкова", "Жаксылыкова"])
def test_kazakh_surnames_in_any_script(query: str) -> None:
    expected = {someone for someone in PEOPLE if someone.full_name.startswith("Жаксылыкова ")}
    assert len(expected) >= 2
    results = find_people(query, PEOPLE)
    assert {someone for someone, _ in results[:len(expected)]} == expected


@pytest.mark.parametrize("query", ["кардиолог", "Кардиолог", "cardiologist", "кардиолг", "kardiolog"])
def test_specialty_in_any_language_with_typos_finds_all_and_only_its_doctors(query: str) -> None:
    cardiologists = {someone for someone in PEOPLE if someone.specialty_names == CARDIOLOGIST}
    assert len(cardiologists) > 10
    assert {someone for someone, _ in find_people(query, PEOPLE, limit=100)} == cardiologists


def test_specialty_and_clinic_number_together() -> None:
    expected = [someone for someone in PEOPLE
                if someone.specialty_names == CARDIOLOGIST and someone.clinic_number == 17]
    assert expected
    assert [someone for someone, _ in find_people("кардиолог 17", PEOPLE)] == expected
    assert [someone for someone, _ in find_people("кардиолог поликлиника №17", PEOPLE)] == expected
    assert find_people("кардиолог 99", PEOPLE) == []


def test_surname_and_specialty_together() -> None:
    results = find_people("Иванов терапевт", PEOPLE, limit=100)
    assert results
    assert all(someone.specialty_names == THERAPIST and "Иванов" in someone.full_name for someone, _ in results)
    assert results[0][0].full_name.startswith("Иванов")
    assert find_people("Касымова терапевт", PEOPLE)[0][0] == person("Касымова Камила Маратовна")


def test_a_clinic_number_alone_lists_its_doctors() -> None:
    staff = {someone for someone in PEOPLE if someone.clinic_number == 17}
    assert len(staff) >= 8
    for query in ("17", "№17", "поликлиника 17 врачи"):
        assert {someone for someone, _ in find_people(query, PEOPLE, limit=100)} == staff
    assert len(find_people("17", PEOPLE)) == 10


def test_index_gives_the_same_answers_as_the_functions() -> None:
    assert INDEX.places("басенва", 5) == find_places("басенва", PLACES)
    assert INDEX.people("ахметва", 10) == find_people("ахметва", PEOPLE)


def test_nearest_clinics_from_a_clinic_start_with_it() -> None:
    unknown = Place(999, 99, ("Без координат",), None, None, None)
    results = nearest([*PLACES, unknown], NO_17.latitude, NO_17.longitude)
    assert results[0][0] == NO_17 and results[0][1] < 0.01
    assert len(results) == 5
    distances = [distance for _, distance in results]
    assert distances == sorted(distances) and distances[1] > 0.1
    everything = nearest([*PLACES, unknown], NO_17.latitude, NO_17.longitude, limit=100)
    assert unknown not in {place for place, _ in everything} and len(everything) == len(PLACES)


def test_haversine_distances() -> None:
    almaty, astana = (43.2389, 76.8897), (51.1694, 71.4491)
    assert distance_km(*almaty, *astana) == pytest.approx(970, abs=30)
    assert distance_km(*almaty, *astana) == pytest.approx(distance_km(*astana, *almaty))
    assert distance_km(*almaty, *almaty) == 0
    assert distance_km(0, 0, 0, 1) == pytest.approx(111.19, abs=0.1)


def test_the_letter_pair_filter_never_drops_a_word_a_full_comparison_finds() -> None:
    """Typos of every kind (a letter changed, added, dropped, two neighbours swapped, a prefix) over the demo
    directory's words: the search compares only words sharing enough letter pairs, and must find the same."""
    import random
    from difflib import SequenceMatcher

    from bot.services.search import WORD_FLOOR, _similarity, _skeleton, _Vocabulary, normalise

    rows = [json.loads(line.rstrip(",")) for line in DEMO_DIRECTORY.read_text(encoding="utf-8").splitlines()
            if line.startswith("{")]
    texts = [row.get(key) or "" for row in rows for key in ("full_name", "address", "name_ru", "name_kk")]
    vocabulary = _Vocabulary()
    vocabulary.add([_skeleton(word) for text in texts for word in normalise(text).split()], 0)
    rng = random.Random(12)
    letters = "abcdefghijklmnoprstuvzSCJ"
    checked = 0
    for _ in range(400):
        word = list(rng.choice(vocabulary.words))
        for _ in range(rng.randint(0, 3)):
            at = rng.randrange(len(word))
            edit = rng.choice(("change", "add", "drop", "swap", "cut"))
            if edit == "change":
                word[at] = rng.choice(letters)
            elif edit == "add":
                word.insert(at, rng.choice(letters))
            elif edit == "drop" and len(word) > 3:
                del word[at]
            elif edit == "swap" and at + 1 < len(word):
                word[at], word[at + 1] = word[at + 1], word[at]
            elif edit == "cut" and len(word) > 4:
                word = word[:-1]
        query = "".join(word)
        matcher = SequenceMatcher(None, autojunk=False)
        matcher.set_seq2(query)
        full = {word_id for word_id, token in enumerate(vocabulary.words)
                if _similarity(query, token, matcher) >= WORD_FLOOR}
        found = set(vocabulary._compare(query)) if query not in vocabulary.ids else full
        assert found == full, query
        checked += bool(full)
    assert checked > 100  # most typos still find their word: the comparison was not vacuous
