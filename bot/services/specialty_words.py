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


class Named(Protocol):
    external_id: str
    name_kk: str
    name_ru: str
    name_en: str


@cache
def _entries() -> dict[str, tuple[tuple[str, ...], ...]]:
    data = tomllib.loads(WORDS_FILE.read_text(encoding="utf-8"))["words"]
    return {external_id: tuple(tuple(search.normalise(entry).split()) for entry in entries)
            for external_id, entries in data.items()}


def _matches(entry: tuple[str, ...], words: list[str]) -> bool:
    return all(any(word == part if len(part) <= WHOLE_WORD_AT_MOST else word.startswith(part) for word in words)
               for part in entry)


def find(typed: str, specialties: Sequence[Named]) -> list[Named]:
    """The specialties `typed` names: by an official name (in any of the three languages), else by what people
    call them (the entry of most words wins: "детский хирург" is the pediatric surgeon, not the pediatrician), else
    by a close spelling of either ("афтальмолог", "стамотолог"), Latin letters too ("okulist")."""
    wanted = search.normalise(typed)
    if not wanted:
        return []
    official = [specialty for specialty in specialties
                if any(wanted in search.normalise(name) or search.normalise(name) in wanted
                       for name in (specialty.name_kk, specialty.name_ru, specialty.name_en))]
    if official:
        return official
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
        return found
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
    close = [spellings[match] for word in words if len(word) > WHOLE_WORD_AT_MOST
             for match in difflib.get_close_matches(word, spellings, n=1, cutoff=0.8)]
    return list({specialty.external_id: specialty for specialty in close}.values())
