"""Forgiving search over clinics and doctors: numbers, typos, Kazakh/Russian/Latin spellings, and distance."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache


@dataclass(frozen=True)
class Place:
    id: int
    number: int | None
    names: tuple[str, ...]  # kk, ru, en
    address: str | None  # the directory's own (Russian)
    latitude: float | None
    longitude: float | None
    address_kk: str | None = None
    address_en: str | None = None


@dataclass(frozen=True)
class Person:
    id: int
    full_name: str
    specialty_names: tuple[str, ...]  # kk, ru, en
    clinic_number: int | None
    clinic_id: int


# A whole result must reach MIN_SCORE, and stay within RELATIVE_CUT of the best one, so that a clear hit is not
# followed by a tail of accidental look-alikes.
MIN_SCORE = 0.75
RELATIVE_CUT = 0.2
# Per-word similarities below this count as no match: they are noise, and would otherwise lift the average of a
# query where one word matches well and another matches nothing.
WORD_FLOOR = 0.6
# A clinic whose number is in the query ranks above every clinic that matches only by words; only a street named
# in the query together with its house number ("Басенова 2") can beat it.
NUMBER_MATCH_SCORE = 0.9
# A number in the query that is neither the clinic's nor its house number (a misremembered house, or the number
# of another clinic) lowers a match by words, but does not hide it.
UNMATCHED_NUMBER_FACTOR = 0.85
# Query words whose matches in an index's vocabulary are remembered (a bounded cache per index).
MATCHES_KEPT = 4096
# A pasted paragraph should not cost seconds: words beyond this are ignored.
MAX_QUERY_WORDS = 8
EARTH_RADIUS_KM = 6371.0088

_CYRILLIC_TO_LATIN = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z", "и": "i",
    "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t",
    "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ы": "y", "ь": "",
    "э": "e", "ю": "yu", "я": "ya",
    # Kazakh letters as in Kazakhstan passports: the diacritic is dropped.
    "ә": "a", "ғ": "g", "қ": "k", "ң": "n", "ө": "o", "ұ": "u", "ү": "u", "һ": "h", "і": "i",
}
# Letters of the Kazakh Latin alphabets (2017-2021) that do not simply lose a diacritic.
_LATIN_LETTERS = {"ş": "sh", "ç": "ch", "ı": "i", "ß": "ss"}
# One spelling per sound, so that kh/h/x, y/i, zh/j, ts/c, w/v, q/k compare equal. Upper-case letters are private
# symbols for sounds written with two Latin letters (ш, ч, ж).
_SOUNDS = {
    "shch": "S", "sch": "S", "sh": "S", "ch": "C", "zh": "J", "j": "J", "kh": "h", "x": "h", "ts": "c",
    "th": "t", "ph": "f", "y": "i", "w": "v", "q": "k",
}
_SOUND_PATTERN = re.compile("|".join(sorted(_SOUNDS, key=len, reverse=True)))
_DOUBLED = re.compile(r"(.)\1+")
_NOT_WORD = re.compile(r"[\W_]+")
_DIGITS_AND_LETTERS = re.compile(r"(?<=\d)(?=[^\W\d_])|(?<=[^\W\d_])(?=\d)")

# Words that say what kind of thing is meant, not which one. They are spelled as people type them; the comparison
# runs on skeletons, so each is written once per script at most.
_PLACE_WORDS = (
    "городская", "городской", "город", "гор", "поликлиника", "поликлиники", "поликлинику", "клиника",
    "горполиклиника", "гп", "гкп", "кгп", "пхв", "на", "емхана", "емханасы", "қалалық", "қала", "city",
    "polyclinic", "policlinic", "poliklinika", "clinic", "hospital", "no", "nr", "num", "number", "номер",
    "нөмір", "ул", "улица", "көшесі", "көше", "street", "st", "str", "мкр", "микрорайон", "ықшамаудан", "шағын",
    "аудан", "microdistrict", "пр", "проспект", "даңғылы", "ave", "avenue", "prospect", "дом", "үй", "house", "район",
    "ауданы", "district", "я", "ая", "ой", "ый", "ий", "го", "ші", "шы", "th", "nd", "rd", "в", "из", "по", "для", "от",
    "the", "of", "in", "at",
)
_PERSON_WORDS = (*_PLACE_WORDS, "врач", "врачи", "доктор", "доктора", "doctor", "doctors", "dr", "др", "дәрігер",
                 "дәрігері", "дәрігерлер", "специалист", "маман")


def normalise(text: str) -> str:
    """Lower case, ё as е, no punctuation or "№", digits apart from letters ("ГП№17" -> "гп 17"), single spaces."""
    text = unicodedata.normalize("NFC", text).casefold().replace("ё", "е")
    text = _NOT_WORD.sub(" ", text)
    text = _DIGITS_AND_LETTERS.sub(" ", text)
    return " ".join(text.split())


def transliterate(text: str) -> str:
    """Cyrillic (Russian and Kazakh) to Latin letters, passport style: "Әуезов" -> "Auezov", "Щукин" -> "Shchukin"."""
    out = []
    for char in text:
        latin = _CYRILLIC_TO_LATIN.get(char.lower())
        if latin is None:
            out.append(char)
        else:
            out.append(latin.capitalize() if char.isupper() else latin)
    return "".join(out)


@lru_cache(maxsize=65536)
def _skeleton(word: str) -> str:
    """The comparison key of one normalised word: "Ахметова", "Akhmetova" and "Axmetova" all give "ahmetova"."""
    latin = transliterate(word)
    latin = "".join(_LATIN_LETTERS.get(char, char) for char in latin)
    latin = "".join(char for char in unicodedata.normalize("NFKD", latin) if not unicodedata.combining(char))
    latin = _SOUND_PATTERN.sub(lambda match: _SOUNDS[match.group()], latin)
    return _DOUBLED.sub(r"\1", latin)


def _similarity(word: str, token: str, matcher: SequenceMatcher) -> float:
    """How close a query word is to a record word (both skeletons); `matcher` already holds `word` as seq2."""
    if word == token:
        return 1.0
    if len(word) < 3:
        return 0.0  # two letters are too few to guess a typo from: "ли" must not find "ло" or "лиза"
    if token.startswith(word):
        return 0.7 + 0.3 * len(word) / len(token)  # typed only the start: "басен", "кардио"
    # difflib's ratio forgives scrambles ("ываоыва" ~ "иванова": 0.86); a typo changes a letter or two, no more.
    allowed = _allowed_edits(word)
    if abs(len(word) - len(token)) > allowed:
        return 0.0
    matcher.set_seq1(token)
    if matcher.quick_ratio() < WORD_FLOOR:
        return 0.0
    ratio = matcher.ratio()
    if ratio < WORD_FLOOR or _edits(word, token, allowed) > allowed:
        return 0.0
    return ratio


def _bigrams(word: str) -> set[str]:
    return {word[i:i + 2] for i in range(len(word) - 1)}


def _allowed_edits(word: str) -> int:
    return max(1, len(word) // 4)


def _edits(a: str, b: str, bound: int) -> int:
    """Optimal string alignment distance (a swap of neighbours is one edit), or bound + 1 once it exceeds bound."""
    if abs(len(a) - len(b)) > bound:
        return bound + 1
    before, previous = None, list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, char_b in enumerate(b, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b))
            if before is not None and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                current[j] = min(current[j], before[j - 2] + 1)
        if min(current) > bound:
            return bound + 1
        before, previous = previous, current
    return previous[-1]


class _Generic:
    """Recognises generic words ("поликлиника", "poliklinka", "врач") in their usual misspellings too."""

    def __init__(self, words: Iterable[str]) -> None:
        self.exact = frozenset(_skeleton(part) for word in words for part in normalise(word).split())
        self.long = tuple(sorted(word for word in self.exact if len(word) >= 5))

    def __contains__(self, skeleton: str) -> bool:
        if skeleton in self.exact:
            return True
        return len(skeleton) >= 5 and _close_to_one_of(skeleton, self.long)


@lru_cache(maxsize=16384)
def _close_to_one_of(skeleton: str, words: tuple[str, ...]) -> bool:
    matcher = SequenceMatcher(None, autojunk=False)
    matcher.set_seq2(skeleton)
    for word in words:
        matcher.set_seq1(word)
        if matcher.real_quick_ratio() >= 0.85 and matcher.quick_ratio() >= 0.85 and matcher.ratio() >= 0.85:
            return True
    return False


_GENERIC_PLACE = _Generic(_PLACE_WORDS)
_GENERIC_PERSON = _Generic(_PERSON_WORDS)


@dataclass(frozen=True)
class _Query:
    numbers: tuple[int, ...]
    words: tuple[str, ...]  # skeletons


def clinic_numbers(query: str) -> tuple[int, ...]:
    """The numbers in a query for doctors, which are clinic numbers ("окулист 17")."""
    return _parse(query, _GENERIC_PERSON).numbers


def _parse(query: str, generic: _Generic) -> _Query:
    numbers: list[int] = []
    words: list[str] = []
    for part in normalise(query).split()[:MAX_QUERY_WORDS]:
        if part.isdecimal():
            if len(part) <= 6 and int(part) not in numbers:
                numbers.append(int(part))
            continue
        skeleton = _skeleton(part)
        if len(skeleton) > 1 and skeleton not in generic and skeleton not in words:
            words.append(skeleton)
    return _Query(tuple(numbers), tuple(words))


def _record_words(texts: Iterable[str | None], generic: _Generic,
                  *, joined: bool = False) -> tuple[list[str], set[int]]:
    """The skeletons and the numbers found in a record's texts, generic words left out; `joined` adds each pair
    of neighbours written together, so that "толеби" finds "Толе би"."""
    words: list[str] = []
    numbers: set[int] = set()
    for text in texts:
        previous = None
        for part in normalise(text or "").split():
            if part.isdecimal():
                numbers.add(int(part))
                previous = None
                continue
            skeleton = _skeleton(part)
            if skeleton in generic:
                previous = None
                continue
            words.append(skeleton)
            if joined and previous is not None:
                words.append(previous + skeleton)
            previous = skeleton
    return words, numbers


class _Vocabulary:
    """Distinct record words, so each query word is compared with each spelling once, not once per record."""

    def __init__(self) -> None:
        self.words: list[str] = []
        self.ids: dict[str, int] = {}
        self.postings: list[list[int]] = []
        self._matches: dict[str, dict[int, float]] = {}
        self._by_bigram: dict[str, list[int]] | None = None  # built on the first search

    def add(self, words: Iterable[str], record: int) -> tuple[int, ...]:
        self._matches.clear()
        self._by_bigram = None
        ids = []
        for word in dict.fromkeys(words):
            word_id = self.ids.get(word)
            if word_id is None:
                word_id = self.ids[word] = len(self.words)
                self.words.append(word)
                self.postings.append([])
            self.postings[word_id].append(record)
            ids.append(word_id)
        return tuple(ids)

    def matches(self, word: str) -> dict[int, float]:
        """Word id -> similarity, for every record word at least WORD_FLOOR close to `word` (remembered for the
        MATCHES_KEPT most recent words: people type the same streets and surnames again and again)."""
        found = self._matches.get(word)
        if found is None:
            found = self._matches[word] = self._compare(word)
            if len(self._matches) > MATCHES_KEPT:
                del self._matches[next(iter(self._matches))]
        return found

    def _candidates(self, word: str) -> Iterable[int]:
        """The record words that can be close enough to `word`: each edit (a swap of neighbours included) removes
        at most three of its letter pairs, so a word within the allowed edits, or starting with `word`, shares at
        least that many fewer than `word` has. Short words have too few pairs to tell: all are compared."""
        pairs = _bigrams(word)
        needed = len(pairs) - 3 * _allowed_edits(word)
        if needed <= 0:
            return range(len(self.words))
        if self._by_bigram is None:
            self._by_bigram = {}
            for word_id, token in enumerate(self.words):
                for pair in _bigrams(token):
                    self._by_bigram.setdefault(pair, []).append(word_id)
        shared: dict[int, int] = {}
        for pair in pairs:
            for word_id in self._by_bigram.get(pair, ()):
                shared[word_id] = shared.get(word_id, 0) + 1
        return sorted(word_id for word_id, count in shared.items() if count >= needed)

    def _compare(self, word: str) -> dict[int, float]:
        matcher = SequenceMatcher(None, autojunk=False)
        matcher.set_seq2(word)
        found = {}
        for word_id in self._candidates(word):
            token = self.words[word_id]
            similarity = _similarity(word, token, matcher)
            if similarity >= WORD_FLOOR:
                found[word_id] = similarity
        if word in self.ids:
            # Spelled exactly as in the directory, so not a typo: "cardiologist" must not also find "radiologist".
            found = {word_id: similarity for word_id, similarity in found.items()
                     if self.words[word_id].startswith(word)}
        return found

    def best_per_record(self, word: str) -> dict[int, float]:
        """Record -> its best similarity to `word`."""
        best: dict[int, float] = {}
        for word_id, similarity in self.matches(word).items():
            for record in self.postings[word_id]:
                if similarity > best.get(record, 0.0):
                    best[record] = similarity
        return best


@dataclass(frozen=True)
class _PlaceEntry:
    place: Place
    numbers: frozenset[int]
    words: tuple[int, ...]
    address_words: frozenset[int]
    address_numbers: frozenset[int]


class SearchIndex:
    """Search keys of clinics and doctors, computed once; build it again when the directory changes."""

    def __init__(self, places: Sequence[Place] = (), people: Sequence[Person] = ()) -> None:
        self._places: list[_PlaceEntry] = []
        self._place_words = _Vocabulary()
        self._places_by_number: dict[int, list[int]] = {}
        for index, place in enumerate(places):
            names, name_numbers = _record_words(place.names, _GENERIC_PLACE)
            # Each language's address: a street typed as a Kazakh or English reader knows it finds the clinic too.
            address, address_numbers = _record_words(dict.fromkeys((place.address, place.address_kk,
                                                                    place.address_en)), _GENERIC_PLACE, joined=True)
            name_ids = self._place_words.add(names, index)
            address_ids = self._place_words.add(address, index)
            # Without a number of its own, a clinic is known by the numbers in its names ("№17 қалалық емхана").
            numbers = {place.number} if place.number is not None else name_numbers
            self._places.append(_PlaceEntry(place, frozenset(numbers), (*name_ids, *address_ids),
                                            frozenset(address_ids), frozenset(address_numbers)))
            for number in numbers:
                self._places_by_number.setdefault(number, []).append(index)
        self._people = list(people)
        self._person_words = _Vocabulary()
        self._people_by_clinic: dict[int, list[int]] = {}
        specialty_words: dict[tuple[str, ...], list[str]] = {}  # a few dozen specialties shared by everyone
        for index, person in enumerate(self._people):
            specialty = specialty_words.get(person.specialty_names)
            if specialty is None:
                specialty = specialty_words[person.specialty_names] = _record_words(
                    person.specialty_names, _GENERIC_PERSON)[0]
            self._person_words.add([*_record_words([person.full_name], _GENERIC_PERSON)[0], *specialty], index)
            if person.clinic_number is not None:
                self._people_by_clinic.setdefault(person.clinic_number, []).append(index)

    def places(self, query: str, limit: int = 5) -> list[tuple[Place, float]]:
        """Clinics by number ("№17", "гп 17", "17 емхана"), street (with typos, in either script) or name words.

        A number alone finds only the clinic with that number. With words, a clinic whose number is in the query
        ranks first, unless the words name a street and the number is a house on it ("Басенова 2")."""
        parsed = _parse(query, _GENERIC_PLACE)
        scores: dict[int, float] = {}
        # Only clinics that share a number or a (near) word with the query can score: the others are never
        # looked at, so a search costs what it finds, not the size of the directory.
        by_number = {index for number in parsed.numbers for index in self._places_by_number.get(number, ())}
        if not parsed.words:
            scores = dict.fromkeys(by_number, 1.0)
        else:
            per_word = [self._place_words.matches(word) for word in parsed.words]
            postings = self._place_words.postings
            candidates = by_number.union(*(postings[word_id] for matches in per_word for word_id in matches))
            for index in candidates:
                score = self._place_score(self._places[index], parsed, per_word)
                if score > 0.0:
                    scores[index] = score
        ranked = _rank(scores, lambda index: _place_order(self._places[index].place))
        return [(self._places[index].place, score) for index, score in ranked[:max(limit, 0)]]

    def _place_score(self, entry: _PlaceEntry, parsed: _Query, per_word: list[dict[int, float]]) -> float:
        best = [max((matches.get(word_id, 0.0) for word_id in entry.words), default=0.0) for matches in per_word]
        street_named = any(
            max((matches.get(word_id, 0.0) for word_id in entry.address_words), default=0.0) >= MIN_SCORE
            for matches in per_word
        )
        numbers_found = sum(
            1 for number in parsed.numbers
            if number in entry.numbers or (street_named and number in entry.address_numbers)
        )
        if not numbers_found:
            return sum(best) / len(best) * (UNMATCHED_NUMBER_FACTOR if parsed.numbers else 1.0)
        score = (sum(best) + numbers_found) / (len(best) + len(parsed.numbers))
        if entry.numbers & set(parsed.numbers):
            score = max(score, NUMBER_MATCH_SCORE)
        return score

    def people(self, query: str, limit: int = 10) -> list[tuple[Person, float]]:
        """Doctors by any part of the name and by specialty (kk, ru, en), with typos and in either script.

        A number is a clinic number and keeps only that clinic's doctors ("кардиолог 17"); alone, it lists them."""
        parsed = _parse(query, _GENERIC_PERSON)
        allowed: set[int] | None = None
        if parsed.numbers:
            allowed = {index for number in parsed.numbers for index in self._people_by_clinic.get(number, ())}
        scores: dict[int, float] = {}
        if not parsed.words:
            scores = dict.fromkeys(allowed or (), 1.0)
        else:
            per_word = [self._person_words.best_per_record(word) for word in parsed.words]
            candidates = set().union(*per_word)
            if allowed is not None:
                candidates &= allowed
            for index in candidates:
                scores[index] = sum(best.get(index, 0.0) for best in per_word) / len(per_word)
        ranked = _rank(scores, lambda index: _person_order(self._people[index]))
        return [(self._people[index], score) for index, score in ranked[:max(limit, 0)]]


def _rank(scores: dict[int, float], order: Callable[[int], tuple[float, int]]) -> list[tuple[int, float]]:
    kept = {index: round(score, 4) for index, score in scores.items() if score >= MIN_SCORE}
    if not kept:
        return []
    cut = max(kept.values()) - RELATIVE_CUT
    return sorted(((index, score) for index, score in kept.items() if score >= cut),
                  key=lambda item: (-item[1], order(item[0])))


def _place_order(place: Place) -> tuple[float, int]:
    return (place.number if place.number is not None else math.inf, place.id)


def _person_order(person: Person) -> tuple[float, int]:
    return (person.clinic_number if person.clinic_number is not None else math.inf, person.id)


def find_places(query: str, places: Sequence[Place], limit: int = 5) -> list[tuple[Place, float]]:
    """Clinics matching `query`, best first, each with a score in 0..1. Build a SearchIndex to search repeatedly."""
    return SearchIndex(places=places).places(query, limit)


def find_people(query: str, people: Sequence[Person], limit: int = 10) -> list[tuple[Person, float]]:
    """Doctors matching `query`, best first, each with a score in 0..1. Build a SearchIndex to search repeatedly."""
    return SearchIndex(people=people).people(query, limit)


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    half_dphi = (phi2 - phi1) / 2
    half_dlambda = math.radians(lon2 - lon1) / 2
    a = math.sin(half_dphi) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(half_dlambda) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def nearest(places: Sequence[Place], latitude: float, longitude: float, limit: int = 5) -> list[tuple[Place, float]]:
    """The closest clinics with known coordinates and their distance in km, nearest first."""
    located = [
        (place, distance_km(latitude, longitude, place.latitude, place.longitude))
        for place in places
        if place.latitude is not None and place.longitude is not None
    ]
    located.sort(key=lambda item: (item[1], *_place_order(item[0])))
    return located[:max(limit, 0)]
