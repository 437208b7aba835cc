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


FULL_NAME = "Иванова Айгуль Сериковна"


async def choose_clinic_17(person: UserClient, query: str = "17", l10n=RU, name: str = "Городская поликлиника №17"):
    """Type the polyclinic's number: a unique match is taken at once; otherwise pick it from the matches."""
    reply = await person.send(query)
    if reply.buttons and [name] in reply.buttons:
        reply = await person.press(name)
    assert name in reply.text, reply.text
    return reply


async def to_kind_step(app: App, person: UserClient, clinic_query: str = "поликлиника 17",
                       about_doctor: bool = True) -> Doctor | None:
    """Leave feedback → polyclinic No. 17 typed → a therapist chosen from the list (or the clinic itself)."""
    await person.press(RU("menu.leave_feedback"))
    await choose_clinic_17(person, clinic_query)
    if not about_doctor:
        reply = await person.press(RU("target.clinic"))
        assert RU("kind.gratitude") in str(reply.buttons)
        return None
    await person.press(RU("target.doctor"))
    doctor = await therapist_of(app, await clinic_17(app))
    await person.press("терапевт")
    reply = await person.press(doctor.full_name)
    assert doctor.full_name in reply.text and RU("kind.gratitude") in str(reply.buttons)
    return doctor


def kind_button(kind: str, category: str | None = "rudeness", l10n=RU) -> str:
    """The button of the kind-and-category screen: a complaint's button names its category."""
    if kind == "complaint":
        return l10n("kind.complaint_about", category=l10n(f"category.{category}"))
    return l10n(f"kind.{kind}")


async def to_description_step(app: App, person: UserClient) -> None:
    """Gratitude to the therapist of No. 17, five stars: the conversation then asks for the text."""
    await to_kind_step(app, person)
    await person.press(RU("kind.gratitude"))
    await person.press("5⭐")


async def describe(person: UserClient, text: str, when: str = "today", l10n=RU):
    """Send the description and say when it happened: the preview (or the date question) follows."""
    await person.send(text)
    return await person.press(l10n(f"when.{when}"))


async def choose_kind(person: UserClient, kind: str, category: str = "rudeness", stars: str = "3⭐", l10n=RU):
    """Press the kind (with its category), then the stars (a violation report: its category, and no stars)."""
    await person.press(kind_button(kind, category, l10n))
    if kind == "violation":
        return await person.press(l10n(f"category.{category}"))
    return await person.press(stars)


async def submit_quick_review(app: App, person: UserClient, kind: str = "gratitude", about_doctor: bool = False,
                              full_name: str | None = FULL_NAME):
    """A short review of polyclinic No. 17 (or its therapist); complaints name their appellant, so they are formal."""
    await to_kind_step(app, person, about_doctor=about_doctor)
    await choose_kind(person, kind)
    await describe(person, "Нормально")
    if kind != "gratitude" and full_name:
        await person.send(full_name)
    reply = await person.press(RU("preview.submit"))
    return reply
