"""Finding a specialty by what people call it ("окулист", "көз дәрігері", "eye doctor", "кожник"), beside the
directory's official names: the words in bot/data/specialty_words.toml, each a run of word beginnings."""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Protocol

from bot.services import search

WORDS_FILE = Path(__file__).resolve().parents[1] / "data" / "specialty_words.toml"
WHOLE_WORD_AT_MOST = 3  # "лор", "узи", "көз", "ухо": whole words only ("ухо" must not find "уход")
FUZZY_FROM = 5  # letters a typed word needs to be read as a misspelling ("best" is not "breast")


class Named(Protocol):
    external_id: str
    name_kk: str
    name_ru: str
    name_en: str


@cache
def _data() -> dict:
    return tomllib.loads(WORDS_FILE.read_text(encoding="utf-8"))


@cache
def _entries() -> dict[str, tuple[tuple[str, ...], ...]]:
    """Each specialty's entries as normalised words, in Cyrillic and transliterated."""
    entries: dict[str, tuple[tuple[str, ...], ...]] = {}
    for external_id, texts in _data()["words"].items():
        words = [tuple(search.normalise(text).split()) for text in texts]
        latin = [tuple(search.normalise(search.transliterate(text)).split()) for text in texts]
        entries[external_id] = tuple(dict.fromkeys(words + latin))
    return entries


def _begins_any(words: list[str], beginnings: list[str]) -> bool:
    return any(word.startswith(search.normalise(beginning)) for word in words for beginning in beginnings)


def _matches(entry: tuple[str, ...], words: list[str]) -> bool:
    return all(any(word == part if len(part) <= WHOLE_WORD_AT_MOST else word.startswith(part) for word in words)
               for part in entry)


def find(typed: str, specialties: Sequence[Named]) -> list[Named]:
    """The specialties `typed` names: by an official name (in any of the three languages), else by what people
    call them (the entry of most words wins: "детский хирург" is the pediatric surgeon, not the pediatrician), else
    by a close spelling of either ("афтальмолог", "стамотолог"), Latin letters too ("okulist")."""
    wanted = search.normalise(typed)
    generic = {search.normalise(word) for word in _data()["generic"]}
    if not wanted or set(wanted.split()) <= generic:
        return []
    official = [specialty for specialty in specialties
                if any(wanted in search.normalise(name) or search.normalise(name) in wanted
                       for name in (specialty.name_kk, specialty.name_ru, specialty.name_en))]
    if official:
        return _for_a_child(official, wanted.split(), specialties)
    words = wanted.split()
    best, found = 0, []
    for specialty in specialties:
        size = max((len(entry) for entry in _entries().get(specialty.external_id, ()) if _matches(entry, words)),
                   default=0)
        if size > best:
            best, found = size, [specialty]
        elif size and size == best:
            found.append(specialty)
    if found:
        return _for_a_child(found, words, specialties)
    # A misspelling: each typed word against every name and every word of the entries, as typed and in Latin.
    # A word in the names of several ("врач", "дәрігері", "детский") tells none of them apart, and is left out.
    owners: dict[str, set[str]] = {}
    by_id = {specialty.external_id: specialty for specialty in specialties}
    for specialty in specialties:
        words_of = {word for name in (specialty.name_kk, specialty.name_ru, specialty.name_en)
                    for word in search.normalise(name).split()}
        words_of |= {part for entry in _entries().get(specialty.external_id, ()) for part in entry}
        for word in words_of | {search.transliterate(word).lower() for word in words_of}:
            owners.setdefault(word, set()).add(specialty.external_id)
    spellings = {word: by_id[next(iter(ids))] for word, ids in owners.items()
                 if len(ids) == 1 and len(word) > WHOLE_WORD_AT_MOST}
    close = [spellings[match] for word in words if len(word) >= FUZZY_FROM and word not in generic
             for match in difflib.get_close_matches(word, spellings, n=1, cutoff=0.8)]
    return _for_a_child(list({specialty.external_id: specialty for specialty in close}.values()), words, specialties)


def _for_a_child(found: list[Named], words: list[str], specialties: Sequence[Named]) -> list[Named]:
    """A specialty asked for a child ("хирург для ребенка", "neurologist for my child") is its children's one,
    where the directory has it."""
    if not _begins_any(words, _data()["child"]):
        return found
    children = _data()["for_a_child"]
    by_id = {specialty.external_id: specialty for specialty in specialties}
    swapped = [by_id.get(children.get(specialty.external_id, ""), specialty) for specialty in found]
    return list({specialty.external_id: specialty for specialty in swapped}.values())
