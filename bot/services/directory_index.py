"""The search index of the active directory: built once per directory version (bumped by every import), shared by
the conversation's clinic search and inline mode of one dispatcher, and holding plain rows, not ORM objects."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from bot.services import search
from storage.repositories import Repositories


@dataclass(frozen=True, slots=True)
class ClinicEntry:
    id: int
    number: int | None
    name_kk: str
    name_ru: str
    name_en: str
    address: str | None
    address_kk: str | None
    address_en: str | None
    latitude: float | None
    longitude: float | None
    district_id: int | None


@dataclass(frozen=True, slots=True)
class SpecialtyEntry:
    id: int
    external_id: str  # what bot/data/specialty_words.toml calls it by
    name_kk: str
    name_ru: str
    name_en: str


@dataclass(frozen=True, slots=True)
class DoctorEntry:
    id: int
    full_name: str
    clinic_id: int
    specialty_id: int


@dataclass(frozen=True)
class Snapshot:
    """One directory version as the search sees it; replaced whole, never changed, so a reader keeps a consistent
    view while a newer one is built."""

    version: int | None = None
    index: search.SearchIndex = field(default_factory=search.SearchIndex)
    clinics: dict[int, ClinicEntry] = field(default_factory=dict)  # active ones, in the directory's order
    doctors: dict[int, DoctorEntry] = field(default_factory=dict)  # active ones of active clinics
    specialties: dict[int, SpecialtyEntry] = field(default_factory=dict)

    def has(self, kind: str, entity_id: int) -> bool:
        return entity_id in (self.clinics if kind == "clinic" else self.doctors)

    def doctors_of(self, specialties: Iterable[SpecialtyEntry], clinic_numbers: Collection[int] = ()) -> list[int]:
        """The doctors of these specialties, of the clinics with these numbers if any are given."""
        wanted = {specialty.id for specialty in specialties}
        return [doctor.id for doctor in self.doctors.values() if doctor.specialty_id in wanted
                and (not clinic_numbers or self.clinics[doctor.clinic_id].number in clinic_numbers)]


def build(version: int, rows: dict[str, list[Any]]) -> Snapshot:
    specialties = {row.id: SpecialtyEntry(*row) for row in rows["specialty"]}
    clinics = {row.id: ClinicEntry(*row) for row in rows["clinic"]}
    doctors = {row.id: DoctorEntry(*row) for row in rows["doctor"] if row.clinic_id in clinics}
    places = [search.Place(clinic.id, clinic.number, names(clinic), clinic.address, clinic.latitude,
                           clinic.longitude, clinic.address_kk, clinic.address_en) for clinic in clinics.values()]
    people = [search.Person(doctor.id, doctor.full_name, names(specialties[doctor.specialty_id]),
                            clinics[doctor.clinic_id].number, doctor.clinic_id) for doctor in doctors.values()]
    return Snapshot(version, search.SearchIndex(places, people), clinics, doctors, specialties)


def names(entity: ClinicEntry | SpecialtyEntry) -> tuple[str, str, str]:
    return entity.name_kk, entity.name_ru, entity.name_en


class DirectoryIndex:
    """Keeps the latest Snapshot. `current` costs one primary-key read of the version; only a new version builds a
    new index (off the event loop), one build at a time."""

    def __init__(self) -> None:
        self.snapshot = Snapshot()
        self.builds = 0
        self._building = asyncio.Lock()

    async def current(self, repo: Repositories) -> Snapshot:
        version = await repo.directory.version()
        if version == self.snapshot.version:
            return self.snapshot
        async with self._building:
            if version != self.snapshot.version:
                rows = await repo.directory.search_rows()
                self.snapshot = await asyncio.to_thread(build, version, rows)
                self.builds += 1
        return self.snapshot
