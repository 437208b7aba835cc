"""Shared steps of the resident's conversation, for flow tests of features that start with a review."""

from __future__ import annotations

import re

from sqlalchemy import select

from bot.l10n import Translator
from storage.models import Clinic, Doctor, Specialty
from tests.conftest import App
from tests.fakes.client import UserClient

T = Translator()
RU = T["ru"]
PHOTO_A = b"\xff\xd8\xff\xe0" + b"photo-A" * 300
PHOTO_B = b"\xff\xd8\xff\xe0" + b"photo-B" * 400
VOICE = b"OggS" + b"voice" * 500
PDF = b"%PDF-1.4 receipt"


async def resident(app: App, user_id: int = 2001, language: str = "ru", button: str = "Русский",
                   first_name: str = "Айгуль") -> UserClient:
    person = app.user(user_id, language_code=language, first_name=first_name)
    await person.command("start")
    await person.press(button)
    await person.press(T[language]("consent.accept"))
    return person


async def one(app: App, query):
    async with app.pool() as session:
        return (await session.scalars(query)).all()


async def clinic_17(app: App) -> Clinic:
    return (await one(app, select(Clinic).where(Clinic.number == 17)))[0]


async def therapist_of(app: App, clinic: Clinic) -> Doctor:
    query = (select(Doctor).join(Specialty).where(Doctor.clinic_id == clinic.id,
                                                  Specialty.external_id == "specialty:therapist")
             .order_by(Doctor.full_name))
    return (await one(app, query))[0]


def plain(text: str) -> str:
    """A locale text as the person sees it (Telegram shows the HTML tags as formatting)."""
    return re.sub(r"</?b>", "", text)


async def to_kind_step(app: App, person: UserClient, clinic_query: str = "поликлиника 17",
                       about_doctor: bool = True) -> Doctor | None:
    """Leave feedback → polyclinic No. 17 typed → a therapist chosen from the list (or the clinic itself)."""
    await person.press(RU("menu.leave_feedback"))
    reply = await person.send(clinic_query)
    assert reply.buttons[0] == ["Городская поликлиника №17"]
    reply = await person.press("Городская поликлиника №17")
    assert "Городская поликлиника №17" in reply.text
    if not about_doctor:
        assert (await person.press(RU("target.clinic"))).text == RU("kind.prompt")
        return None
    await person.press(RU("target.doctor"))
    doctor = await therapist_of(app, await clinic_17(app))
    await person.press("терапевт")
    reply = await person.press(doctor.full_name)
    assert reply.text == RU("kind.prompt")
    return doctor


async def to_description_step(app: App, person: UserClient) -> None:
    """Gratitude to the therapist of No. 17, five stars, no criteria: the conversation then asks for the text."""
    await to_kind_step(app, person)
    await person.press(RU("kind.gratitude"))
    await person.press("5⭐")
    await person.press(RU("criteria.skip_all"))


async def submit_quick_review(app: App, person: UserClient, kind: str = "gratitude", about_doctor: bool = False):
    await to_kind_step(app, person, about_doctor=about_doctor)
    await person.press(RU(f"kind.{kind}"))
    if kind != "gratitude":
        await person.press(RU("category.rudeness"))
    await person.press("3⭐")
    await person.press(RU("criteria.skip_all"))
    await person.send("Нормально")
    await person.press(RU("evidence.none"))
    await person.press(RU("visibility.anonymous"))
    if kind != "gratitude":
        await person.send(RU("phone.skip"))
    reply = await person.press(RU("preview.submit"))
    return reply


