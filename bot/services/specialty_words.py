"""Finding a specialty by what people call it ("окулист", "көз дәрігері", "eye doctor", "кожник") or by what is
wrong ("болит колено", "тізем ауырады", "kidney stones"), beside the directory's official names: the words in
bot/data/specialty_words.toml and bot/data/symptom_words.toml, each a run of word beginnings. A complaint that
may be an emergency is told apart, so the ambulance's number is said before any doctor."""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Protocol

from bot.services import search

DATA = Path(__file__).resolve().parents[1] / "data"
WORDS_FILE = DATA / "specialty_words.toml"
SYMPTOMS_FILE = DATA / "symptom_words.toml"
WHOLE_WORD_AT_MOST = 3  # "лор", "узи", "көз", "ухо": whole words only ("ухо" must not find "уход")
FUZZY_FROM = 5  # letters a typed word needs to be read as a misspelling ("best" is not "breast")
FIRST_STEP = "specialty:therapist"  # a complaint is also offered to the doctor one sees first (a child's: below)
# Kazakh letters typed on a Russian keyboard as their look-alikes ("ишим ауырады" for "ішім ауырады").
_KAZAKH_FOLDED = str.maketrans("іөүұқғңәһ", "иоуукгнах")


class Named(Protocol):
    external_id: str
    name_kk: str
    name_ru: str
    name_en: str


@dataclass
class Finding:
    """What a typed search names: the specialties to offer, whether they were read from a complaint (the reply
    then says these are the usual doctors for it, not a diagnosis), and whether it may be an emergency."""
    specialties: list[Named] = field(default_factory=list)
    from_complaint: bool = False
    emergency: bool = False
    added_first_step: bool = False  # the last of `specialties` is the first step added to a complaint's, not read

    @property
    def read_specialties(self) -> list[Named]:
        """The specialties read from the text, without the first step added (inline mode lists doctors by them)."""
        return self.specialties[:-1] if self.added_first_step and len(self.specialties) > 1 else self.specialties


def _words(text: str) -> tuple[str, ...]:
    return tuple(search.normalise(text).translate(_KAZAKH_FOLDED).split())


def _forms(texts: list[str]) -> tuple[tuple[str, ...], ...]:
    """Each text as normalised words, as written and in Latin letters."""
    return tuple(dict.fromkeys([_words(text) for text in texts] + [_words(search.transliterate(text))
                                                                    for text in texts]))


@cache
def _data() -> dict:
    return tomllib.loads(WORDS_FILE.read_text(encoding="utf-8"))


@cache
def _symptoms() -> dict:
    return tomllib.loads(SYMPTOMS_FILE.read_text(encoding="utf-8"))


@cache
def _entries(section: str) -> dict[str, tuple[tuple[str, ...], ...]]:
    """Each specialty's entries ("words": what it is called; "symptoms": what is wrong) as normalised words."""
    source = _data()["words"] if section == "words" else _symptoms()["symptoms"]
    return {external_id: _forms(texts) for external_id, texts in source.items()}


@cache
def _listed(name: str) -> tuple[tuple[str, ...], ...]:
    """One of symptom_words.toml's lists of entries ("emergency", "calm", "elsewhere") as normalised words."""
    return _forms(_symptoms()[name])


def _begins_any(words: list[str], beginnings: list[str]) -> bool:
    """A word begins with one of `beginnings` (one of three letters or fewer: is it, so "kid" is not "kidney")."""
    return any(_matches(_words(beginning)[:1], words) for beginning in beginnings)


def _matches(entry: tuple[str, ...], words: Sequence[str]) -> bool:
    return all(any(word == part if len(part) <= WHOLE_WORD_AT_MOST else word.startswith(part) for word in words)
               for part in entry)


def is_emergency(typed: str) -> bool:
    """Signs that call for the ambulance now ("давит в груди", "есінен танды"), not taken back by a calm word
    ("после инсульта", "иногда")."""
    words = _words(typed)
    return any(_matches(entry, words) for entry in _listed("emergency")) and \
        not any(_matches(entry, words) for entry in _listed("calm"))


def read(typed: str, specialties: Sequence[Named]) -> Finding:
    """The specialties `typed` names or its complaint suggests (see `find`), with the first step added to a
    complaint's (the therapist, a child's pediatrician), and whether it may be an emergency."""
    finding = Finding(emergency=is_emergency(typed))
    words = list(_words(typed))
    if not words or set(words) <= _generic() or any(_matches(entry, words) for entry in _listed("elsewhere")):
        return finding  # nothing named, or a specialist the directory has not ("логопед")
    named = _named(typed, words, specialties)
    found, from_complaint = named if named is not None else _by_entries(words, specialties)
    if not found:
        found = _misspelt(words, specialties)
    first = next((specialty for specialty in specialties if specialty.external_id == FIRST_STEP), None)
    if not found and finding.emergency and first is not None and _begins_any(words, _data()["child"]):
        found, from_complaint = [first], True  # "ребенок подавился": after 103, the child's own doctor (below)
    if found and from_complaint and first is not None and first not in found:
        found, finding.added_first_step = [*found, first], True
    finding.specialties, finding.from_complaint = _for_a_child(found, words, specialties), from_complaint
    return finding


def find(typed: str, specialties: Sequence[Named]) -> list[Named]:
    """The specialties `typed` names: by an official name (in any of the three languages), else by what people
    call them or by a complaint (the entry of most words wins: "детский хирург" is the pediatric surgeon, not the
    pediatrician; "kidney stones" the urologist, not the nephrologist), else by a close spelling of a name
    ("афтальмолог", "стамотолог"), Latin letters too ("okulist")."""
    return read(typed, specialties).specialties


@cache
def _generic() -> frozenset[str]:
    return frozenset(word for text in _data()["generic"] for word in _words(text))


def _named(typed: str, words: list[str], specialties: Sequence[Named]) -> tuple[list[Named], bool] | None:
    """By an official name, when that name is all or part of what was typed, or what was typed begins a word of it
    ("психиат", "врач общей"; three letters at least: "hi" is in "psychiatrist", and is a greeting)."""
    wanted = " ".join(words)
    official = [specialty for specialty in specialties
                if any(f" {name} " in f" {wanted} "
                       or (len(wanted) >= WHOLE_WORD_AT_MOST and f" {wanted}" in f" {name}")
                       for name in (" ".join(_words(text)) for text in
                                    (specialty.name_kk, specialty.name_ru, specialty.name_en)))]
    return (official, False) if official else None


def _by_entries(words: list[str], specialties: Sequence[Named]) -> tuple[list[Named], bool]:
    """The specialties whose matching entry has the most words; a tie between a name and a complaint goes to the
    name ("болит ухо" is the ENT's by "ухо")."""
    best, found, from_complaint = (0, 0), [], False
    for section in ("words", "symptoms"):
        entries = _entries(section)
        for specialty in specialties:
            size = max((len(entry) for entry in entries.get(specialty.external_id, ()) if _matches(entry, words)),
                       default=0)
            rank = (size, section == "words")
            if size and rank > best:
                best, found, from_complaint = rank, [specialty], section == "symptoms"
            elif size and rank == best and specialty not in found:
                found.append(specialty)
    return found, from_complaint


def _misspelt(words: list[str], specialties: Sequence[Named]) -> list[Named]:
    """A misspelling: each typed word against every name and every word of the entries, as typed and in Latin.
    A word in the names of several ("врач", "дәрігері", "детский") tells none of them apart, and is left out."""
    owners: dict[str, set[str]] = {}
    by_id = {specialty.external_id: specialty for specialty in specialties}
    for specialty in specialties:
        words_of = {word for name in (specialty.name_kk, specialty.name_ru, specialty.name_en)
                    for word in _words(name)}
        words_of |= {part for entry in _entries("words").get(specialty.external_id, ()) for part in entry}
        for word in words_of | {search.transliterate(word).lower() for word in words_of}:
            owners.setdefault(word, set()).add(specialty.external_id)
    spellings = {word: by_id[next(iter(ids))] for word, ids in owners.items()
                 if len(ids) == 1 and len(word) > WHOLE_WORD_AT_MOST}
    generic = _generic()
    close = [spellings[match] for word in words if len(word) >= FUZZY_FROM and word not in generic
             for match in difflib.get_close_matches(word, spellings, n=1, cutoff=0.8)]
    return list({specialty.external_id: specialty for specialty in close}.values())


def _for_a_child(found: list[Named], words: list[str], specialties: Sequence[Named]) -> list[Named]:
    """A specialty asked for a child ("хирург для ребенка", "neurologist for my child") is its children's one,
    where the directory has it (the therapist offered as the first step is then the pediatrician)."""
    if not _begins_any(words, _data()["child"]):
        return found
    children = _data()["for_a_child"]
    by_id = {specialty.external_id: specialty for specialty in specialties}
    swapped = [by_id.get(children.get(specialty.external_id, ""), specialty) for specialty in found]
    return list({specialty.external_id: specialty for specialty in swapped}.values())
