"""The directory of districts, specialties, polyclinics and doctors."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Clinic,
    DirectoryVersion,
    District,
    Doctor,
    Specialty,
)

DIRECTORY_MODELS: dict[str, type[District | Specialty | Clinic | Doctor]] = {
    "district": District,
    "specialty": Specialty,
    "clinic": Clinic,
    "doctor": Doctor,
}


class DirectoryRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_external_ids(self, kind: str, columns: Sequence[str]) -> dict[str, tuple[int, dict[str, Any]]]:
        """external_id -> (id, the named columns' values) of every row of one kind, as plain values."""
        model = DIRECTORY_MODELS[kind]
        query = select(model.external_id, model.id, *(getattr(model, name) for name in columns))
        return {row[0]: (row[1], dict(zip(columns, row[2:], strict=True)))
                for row in await self.session.execute(query)}

    async def ids_by_external_id(self, kind: str) -> dict[str, int]:
        model = DIRECTORY_MODELS[kind]
        rows = await self.session.execute(select(model.external_id, model.id))
        return {external_id: row_id for external_id, row_id in rows}

    async def insert_many(self, kind: str, rows: Sequence[dict[str, Any]]) -> None:
        """One multi-row INSERT (batched by the driver) for rows of one kind."""
        if rows:
            await self.session.execute(insert(DIRECTORY_MODELS[kind]), list(rows))

    async def update_many(self, kind: str, rows: Sequence[dict[str, Any]]) -> None:
        """UPDATE by primary key for rows of one kind, each a dict with `id` and the columns to set."""
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row in rows:  # one executemany per set of changed columns
            by_columns.setdefault(tuple(sorted(row)), []).append(row)
        for batch in by_columns.values():
            await self.session.execute(update(DIRECTORY_MODELS[kind]), batch)

    async def version(self) -> int:
        """The directory's version: any process that built a search index of an older one builds it again."""
        return await self.session.scalar(select(DirectoryVersion.version).where(DirectoryVersion.id == 1)) or 0

    async def bump_version(self, now: datetime) -> None:
        dialect = postgresql if self.session.bind.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(DirectoryVersion).values(id=1, version=1, changed_at=now)
        await self.session.execute(statement.on_conflict_do_update(
            index_elements=[DirectoryVersion.id],
            set_={"version": DirectoryVersion.version + 1, "changed_at": statement.excluded.changed_at}))

    async def search_rows(self) -> dict[str, list[Any]]:
        """What the search index needs of the active directory, as plain rows (no ORM objects)."""
        specialties = (await self.session.execute(
            select(Specialty.id, Specialty.external_id, Specialty.name_kk, Specialty.name_ru,
                   Specialty.name_en))).all()
        clinics = (await self.session.execute(
            select(Clinic.id, Clinic.number, Clinic.name_kk, Clinic.name_ru, Clinic.name_en, Clinic.address,
                   Clinic.address_kk, Clinic.address_en, Clinic.latitude, Clinic.longitude, Clinic.district_id)
            .where(Clinic.active.is_(True)).order_by(Clinic.number, Clinic.id))).all()
        doctors = (await self.session.execute(
            select(Doctor.id, Doctor.full_name, Doctor.clinic_id, Doctor.specialty_id)
            .join(Clinic, Clinic.id == Doctor.clinic_id)
            .where(Doctor.active.is_(True), Clinic.active.is_(True)).order_by(Doctor.id))).all()
        return {"specialty": list(specialties), "clinic": list(clinics), "doctor": list(doctors)}

    def add(self, entity: Any) -> None:
        self.session.add(entity)

    async def flush(self) -> None:
        await self.session.flush()

    async def export_rows(self) -> dict[str, Sequence[Any]]:
        """Every directory entity, ordered so that references point to earlier rows."""
        result: dict[str, Sequence[Any]] = {}
        for kind, model in DIRECTORY_MODELS.items():
            result[kind] = (await self.session.scalars(select(model).order_by(model.id))).all()
        return result

    async def districts(self) -> Sequence[District]:
        return (await self.session.scalars(select(District).order_by(District.name_en))).all()

    async def active_clinics(self, district_id: int | None = None) -> Sequence[Clinic]:
        query = select(Clinic).where(Clinic.active.is_(True)).order_by(Clinic.number, Clinic.id)
        if district_id is not None:
            query = query.where(Clinic.district_id == district_id)
        return (await self.session.scalars(query)).all()

    async def clinic(self, clinic_id: int) -> Clinic | None:
        return await self.session.get(Clinic, clinic_id)

    async def district(self, district_id: int) -> District | None:
        return await self.session.get(District, district_id)

    async def specialty(self, specialty_id: int) -> Specialty | None:
        return await self.session.get(Specialty, specialty_id)

    async def doctor(self, doctor_id: int) -> Doctor | None:
        return await self.session.get(Doctor, doctor_id)

    async def specialties_in_clinic(self, clinic_id: int) -> Sequence[Specialty]:
        query = (select(Specialty).join(Doctor, Doctor.specialty_id == Specialty.id)
                 .where(Doctor.clinic_id == clinic_id, Doctor.active.is_(True))
                 .group_by(Specialty.id).order_by(Specialty.id))
        return (await self.session.scalars(query)).all()

    async def all_specialties(self) -> Sequence[Specialty]:
        return (await self.session.scalars(select(Specialty).order_by(Specialty.id))).all()

    async def doctors_in_clinic(self, clinic_id: int, specialty_id: int | None = None) -> Sequence[Doctor]:
        query = (select(Doctor).where(Doctor.clinic_id == clinic_id, Doctor.active.is_(True))
                 .order_by(Doctor.full_name))
        if specialty_id is not None:
            query = query.where(Doctor.specialty_id == specialty_id)
        return (await self.session.scalars(query)).all()
