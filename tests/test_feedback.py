"""Leaving feedback through the real dispatcher: every step, every rule, and what ends up stored."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from aiogram.methods import EditMessageText, SendMessage
from sqlalchemy import func, select

from storage.models import AuditLog, Case, Doctor, Review, ReviewMedia
from tests.conftest import App
from tests.flows import (
    PDF,
    PHOTO_A,
    PHOTO_B,
    RU,
    VOICE,
    T,
    clinic_17,
    one,
    plain,
    resident,
    submit_quick_review,
    therapist_of,
    to_description_step,
    to_kind_step,
)

pytestmark = pytest.mark.usefixtures("demo_directory")


async def test_a_complaint_with_album_document_and_phone_is_stored_whole(app: App) -> None:
    person = await resident(app)
    doctor = await to_kind_step(app, person)
    await person.press(RU("kind.complaint"))
    reply = await person.press(RU("category.extortion"))
    assert reply.text == RU("rating.prompt")
    reply = await person.press("1⭐")
    assert reply.text == plain(RU("criteria.prompt", criterion=RU("criteria.attentiveness"), number=1, total=4))
    await person.press("2⭐")  # attentiveness
    reply = await person.press(RU("criteria.skip_all"))
    assert reply.text == RU("description.prompt", limit=4000)
    text = "Врач потребовал 20 000 тенге за направление, которое положено бесплатно."
    reply = await person.send(text)
    assert reply.text == RU("evidence.prompt", limit=10)

    album = await person.album([PHOTO_A, PHOTO_B])
    # An album is acknowledged once: one message, updated for the second photo.
    assert len([c for c in album.calls if isinstance(c, SendMessage)]) == 1
    assert len([c for c in album.calls if isinstance(c, EditMessageText)]) == 1
    assert person.last_text == RU("evidence.received", count=2, limit=10)
    reply = await person.document(PDF, "receipt.pdf", "application/pdf")
    assert reply.text == RU("evidence.received", count=3, limit=10)
    await person.press(RU("evidence.done"))
    reply = await person.press(RU("visibility.anonymous"))
    assert reply.text == RU("phone.prompt")
    assert reply.buttons == [[RU("phone.share")], [RU("phone.skip")]]
    assert reply.calls[-1].reply_markup.keyboard[0][0].request_contact
    reply = await person.contact("+77011234567")
    preview = reply.text
    for expected in ("Городская поликлиника №17", doctor.full_name, "20 000 тенге", "1⭐", "2⭐"):
        assert expected in preview, expected
    assert RU("preview.evidence", count=3) in preview
    assert RU("preview.phone_shared") in preview

    app.clock.advance(hours=1)
    reply = await person.press(RU("preview.submit"))
    receipt = reply.texts[-2]
    assert "AL-2026-000001" in receipt
    assert "26.11.2026 11:00" in receipt  # 06:00 UTC is 11:00 in Almaty
    # 15 working days after Thursday 26 Nov 2026: 16 Dec is Independence Day, so the 15th is Friday 18 Dec.
    assert "18.12.2026" in receipt
    assert reply.texts[-1] == RU("menu.title")

    [review] = await one(app, select(Review))
    assert (review.reference, review.kind, review.category, review.rating) == ("AL-2026-000001", "complaint",
                                                                               "extortion", 1)
    assert review.doctor_id == doctor.id and review.anonymous and review.phone_shared
    assert review.text == text and review.criteria == {"attentiveness": 2}
    [case] = await one(app, select(Case))
    assert case.formal_appeal and str(case.due_date) == "2026-12-18"
    assert case.urgency == "critical" and case.reasons
    media = await one(app, select(ReviewMedia).order_by(ReviewMedia.position))
    assert [(m.kind, m.sha256) for m in media] == [
        ("photo", hashlib.sha256(PHOTO_A).hexdigest()), ("photo", hashlib.sha256(PHOTO_B).hexdigest()),
        ("document", hashlib.sha256(PDF).hexdigest())]
    media_dir = Path(app.settings.media.dir)
    for item, data in zip(media, (PHOTO_A, PHOTO_B, PDF), strict=True):
        assert (media_dir / item.stored_path).read_bytes() == data
        assert item.size == len(data)
    user_phone = (await one(app, select(Review.user_id)))[0]
    assert user_phone is not None


async def test_gratitude_by_district_with_voice_and_name(app: App) -> None:
    person = await resident(app, 2002, "en", "English", first_name="Dana")
    await person.press("Leave feedback")
    reply = await person.press("Bostandyk District")
    assert "City Polyclinic No. 17" in str(reply.buttons)
    await person.press("City Polyclinic No. 17")
    await person.press(T["en"]("target.clinic"))
    await person.press(T["en"]("kind.gratitude"))
    reply = await person.press("5⭐")
    assert "1 of 4" in reply.text
    await person.press(T["en"]("criteria.skip_all"))
    reply = await person.voice(VOICE)
    assert reply.text == T["en"]("description.voice_saved")
    await person.press(T["en"]("flow.continue"))
    await person.press(T["en"]("evidence.none"))
    reply = await person.press("With my first name (Dana)")
    assert T["en"]("preview.voice") in reply.text  # no phone step for gratitude
    reply = await person.press(T["en"]("preview.submit"))
    assert T["en"]("submitted.next_gratitude") in reply.texts[-2]
    [review] = await one(app, select(Review))
    assert review.kind == "gratitude" and not review.anonymous and review.author_name == "Dana"
    assert review.doctor_id is None and review.language == "en"
    [voice] = await one(app, select(ReviewMedia))
    assert voice.kind == "voice" and voice.sha256 == hashlib.sha256(VOICE).hexdigest()
    assert await one(app, select(Case)) == []


async def test_clinic_by_location_and_unknown_doctor(app: App) -> None:
    person = await resident(app, 2003)
    clinic = await clinic_17(app)
    await person.press(RU("menu.leave_feedback"))
    reply = await person.location(clinic.latitude, clinic.longitude)
    assert reply.text == RU("clinic.nearest")
    assert reply.buttons[0] == ["Городская поликлиника №17" + RU("clinic.distance", km="0.0")]
    assert len(reply.buttons) == 5 + 2  # five clinics, "choose a district", back/cancel
    await person.press("Городская поликлиника №17")
    reply = await person.press(RU("target.unknown"))
    assert reply.text == RU("target.specialty_unknown_doctor")
    reply = await person.press("терапевт")
    assert reply.text == RU("kind.prompt")


async def test_doctor_by_typed_surname(app: App) -> None:
    person = await resident(app, 2004)
    doctor = await therapist_of(app, await clinic_17(app))
    surname = doctor.full_name.split()[0]
    await person.press(RU("menu.leave_feedback"))
    await person.send("17")
    await person.press("Городская поликлиника №17")
    reply = await person.send(surname[:-1])  # a typo: last letter missing
    assert reply.buttons[0][0].startswith(doctor.full_name)
    reply = await person.press(doctor.full_name)
    assert reply.text == RU("kind.prompt")


async def test_back_and_edit_keep_what_was_written(app: App) -> None:
    person = await resident(app, 2005)
    await to_kind_step(app, person)
    await person.press(RU("kind.complaint"))
    reply = await person.press(RU("flow.back"))
    assert reply.text == RU("kind.prompt")
    await person.press(RU("kind.gratitude"))  # gratitude: no category step
    await person.press("4⭐")
    await person.press(RU("criteria.skip_all"))
    await person.send("Спасибо доктору за внимание.")
    reply = await person.press(RU("flow.back"))
    assert "Спасибо доктору за внимание." in reply.text  # the text is shown, not lost
    await person.press(RU("description.keep"))
    await person.press(RU("evidence.none"))
    reply = await person.press(RU("visibility.anonymous"))
    assert "4⭐" in reply.text
    reply = await person.press(RU("preview.edit_rating"))
    assert reply.text == RU("rating.prompt")
    reply = await person.press("5⭐")
    assert "5⭐" in reply.text and plain(RU("preview.title")) in reply.text
    reply = await person.press(RU("preview.edit_description"))
    assert "Спасибо доктору за внимание." in reply.text
    reply = await person.send("Спасибо! Очень внимательный врач.")
    assert "Очень внимательный врач" in reply.text
    await person.press(RU("preview.submit"))
    [review] = await one(app, select(Review))
    assert review.rating == 5 and review.text == "Спасибо! Очень внимательный врач."


async def test_cancel_button_and_command(app: App) -> None:
    person = await resident(app, 2006)
    await to_kind_step(app, person)
    reply = await person.press(RU("flow.cancel"))
    assert reply.texts == [RU("cancel.done"), RU("menu.title")]
    await to_kind_step(app, person)
    reply = await person.command("cancel")
    assert reply.texts[0] == RU("cancel.done")
    assert await one(app, select(Review)) == []


async def test_a_restart_mid_flow_continues_where_it_was(app: App) -> None:
    person = await resident(app, 2007)
    await to_kind_step(app, person)
    await person.press(RU("kind.gratitude"))
    restarted = app.rebuilt()
    person = restarted.user(2007)
    reply = await person.press("5⭐")
    assert reply.text == plain(RU("criteria.prompt", criterion=RU("criteria.attentiveness"), number=1, total=4))
    await person.press(RU("criteria.skip_all"))
    await person.send("Всё хорошо")
    await person.press(RU("evidence.none"))
    await person.press(RU("visibility.anonymous"))
    await person.press(RU("preview.submit"))
    assert len(await one(app, select(Review))) == 1


async def test_wrong_input_gets_a_hint_and_the_step_stays(app: App) -> None:
    person = await resident(app, 2008)
    await to_kind_step(app, person)
    for wrong in (person.sticker, person.photo, lambda: person.send("плохо")):
        reply = await wrong()
        assert reply.texts[0] == RU("hint.kind")
        assert reply.text == RU("kind.prompt")
    await person.press(RU("kind.gratitude"))
    assert (await person.gif()).texts[0] == RU("hint.rating")
    assert (await person.location(43.2, 76.9)).texts[0] == RU("hint.rating")
    reply = await person.send("4")  # a typed digit is understood
    assert reply.text == plain(RU("criteria.prompt", criterion=RU("criteria.attentiveness"), number=1, total=4))
    await person.press(RU("criteria.skip_all"))
    assert (await person.location(43.2, 76.9)).texts[0] == RU("hint.description")
    assert (await person.sticker()).texts[0] == RU("hint.description")
    await person.send("Текст отзыва")
    assert (await person.send("ещё текст")).texts[0] == RU("hint.evidence")
    assert (await person.edit(1, "исправил")).text == RU("flow.edit_not_applied")


async def test_stale_and_foreign_buttons(app: App) -> None:
    person = await resident(app, 2009)
    await to_kind_step(app, person)
    stale = RU("errors.stale_button")
    assert (await person.press_data("fr:overall:5")).callback_answers == [stale]  # a rating button, too early
    assert (await person.press_data("fc:99999")).callback_answers == [stale]  # a clinic button from before
    assert (await person.press_data("fk:bribe")).callback_answers == [stale]  # a forged kind
    await person.press(RU("kind.gratitude"))
    assert (await person.press_data("fr:overall:9")).callback_answers == [stale]
    # A doctor of another clinic cannot be slipped in.
    other = (await one(app, select(Doctor).where(Doctor.clinic_id != (await clinic_17(app)).id)))[0]
    await person.press(RU("flow.back"))
    await person.press(RU("flow.back"))
    assert (await person.press_data(f"fo:{other.id}")).callback_answers == [stale]
    await person.command("cancel")
    assert (await person.press_data("fa:submit")).callback_answers == [stale]


async def test_too_long_text_is_refused_and_kept(app: App) -> None:
    person = await resident(app, 2010)
    await to_description_step(app, person)
    long_text = "Очень долго ждали. " * 220
    reply = await person.send(long_text[:4050])
    assert reply.text == RU("description.too_long", length=4050, limit=4000)
    reply = await person.send(long_text[:3990])
    assert reply.text == RU("evidence.prompt", limit=10)


async def test_oversized_file_is_refused_and_the_others_stay(app: App) -> None:
    person = await resident(app, 2011)
    await to_description_step(app, person)
    await person.send("Текст")
    await person.photo(PHOTO_A)
    huge = app.updates.photo(file_size=25 * 1024 * 1024, user=person.user, chat=person.chat)
    reply = await person.feed(huge)
    assert reply.text == RU("evidence.too_big", limit=20)
    reply = await person.photo(PHOTO_B)
    assert reply.text == RU("evidence.received", count=2, limit=10)


async def test_at_most_ten_files(app: App) -> None:
    person = await resident(app, 2012)
    await to_description_step(app, person)
    await person.send("Текст")
    await person.album([bytes([i]) * 50 for i in range(1, 10)])
    await person.photo(b"tenth" * 20)
    reply = await person.photo(b"eleventh" * 20)
    assert reply.text == RU("evidence.limit", limit=10)


async def test_same_doctor_within_30_days_is_offered_as_an_update(app: App) -> None:
    person = await resident(app, 2013)
    await submit_quick_review(app, person, about_doctor=True)
    app.clock.advance(days=3)
    await person.press(RU("menu.leave_feedback"))
    await person.send("17")
    await person.press("Городская поликлиника №17")
    await person.press(RU("target.doctor"))
    await person.press("терапевт")
    doctor = await therapist_of(app, await clinic_17(app))
    reply = await person.press(doctor.full_name)
    assert "AL-2026-000001" in reply.text and reply.buttons[0] == [RU("previous.update")]
    reply = await person.press(RU("previous.update"))
    assert reply.text == RU("kind.prompt")
    await person.press(RU("kind.gratitude"))
    await person.press("5⭐")
    await person.press(RU("criteria.skip_all"))
    await person.send("Лучше, чем в прошлый раз")
    await person.press(RU("evidence.none"))
    await person.press(RU("visibility.anonymous"))
    await person.press(RU("preview.submit"))
    first, second = await one(app, select(Review).order_by(Review.id))
    assert second.supersedes_id == first.id and second.reference == "AL-2026-000002"
    app.clock.advance(days=31)
    await person.press(RU("menu.leave_feedback"))
    await person.send("17")
    await person.press("Городская поликлиника №17")
    await person.press(RU("target.doctor"))
    await person.press("терапевт")
    assert (await person.press(doctor.full_name)).text == RU("kind.prompt")


async def test_daily_limit(app: App) -> None:
    app.settings.feedback.daily_limit = 2
    person = await resident(app, 2014)
    await submit_quick_review(app, person)
    await submit_quick_review(app, person, "complaint")
    reply = await person.press(RU("menu.leave_feedback"))
    assert reply.text == RU("limits.daily", limit=2)
    app.clock.advance(days=1)
    reply = await person.press(RU("menu.leave_feedback"))
    assert reply.text == plain(RU("clinic.prompt"))


async def test_a_redelivered_submit_stores_once(app: App) -> None:
    person = await resident(app, 2015)
    await to_description_step(app, person)
    await person.send("Спасибо")
    await person.press(RU("evidence.none"))
    await person.press(RU("visibility.anonymous"))
    preview = person.last_message
    submit = preview.reply_markup.inline_keyboard[0][0].callback_data
    update = app.updates.callback_query(submit, message=preview, user=person.user)
    await person.feed(update)
    await app.dp.feed_update(app.bot, update)
    assert len(await one(app, select(Review))) == 1


async def test_reference_numbers_are_sequential_per_year(app: App) -> None:
    first, second = await resident(app, 2016), await resident(app, 2017)
    await submit_quick_review(app, first)
    await submit_quick_review(app, second)
    app.clock.advance(days=40)  # 5 January 2027
    await submit_quick_review(app, first)
    references = [r.reference for r in await one(app, select(Review).order_by(Review.id))]
    assert references == ["AL-2026-000001", "AL-2026-000002", "AL-2027-000001"]


async def test_group_review_command_links_to_the_private_chat(app: App) -> None:
    group = app.user(2018, chat_id=-100777)
    reply = await group.command("review")
    assert reply.text == RU("group.review_prompt")
    button = reply.messages[-1].reply_markup.inline_keyboard[0][0]
    assert button.url == "https://t.me/medfeedback_test_bot?start=review"
    async with app.pool() as session:
        assert await session.scalar(select(func.count()).select_from(AuditLog)) == 0  # nothing collected


async def test_deep_link_to_a_doctor_starts_at_that_doctor(app: App) -> None:
    person = await resident(app, 2019)
    doctor = await therapist_of(app, await clinic_17(app))
    reply = await person.command("start", f"doctor-{doctor.id}")
    assert reply.text == RU("kind.prompt")
    await person.press(RU("kind.gratitude"))
    await person.press("5⭐")
    await person.press(RU("criteria.skip_all"))
    await person.send("Спасибо")
    await person.press(RU("evidence.none"))
    reply = await person.press(RU("visibility.anonymous"))
    assert doctor.full_name in reply.text
    await person.press(RU("preview.submit"))
    # Following the link again within 30 days offers to update that review.
    reply = await person.command("start", f"doctor-{doctor.id}")
    assert "AL-2026-000001" in reply.text and reply.buttons[0] == [RU("previous.update")]
    assert (await person.press(RU("previous.update"))).text == RU("kind.prompt")
    # A newcomer following the same link is onboarded first.
    newcomer = app.user(2020)
    assert (await newcomer.command("start", f"doctor-{doctor.id}")).text == RU("language.prompt")
    # A link to nothing leads to the menu.
    assert (await person.command("start", "doctor-999999")).text == RU("menu.title")


async def test_my_reviews_list_card_and_foreign_card(app: App) -> None:
    person = await resident(app, 2021)
    await submit_quick_review(app, person, "complaint")
    reply = await person.press(RU("menu.my_reviews"))
    assert reply.text == RU("my.title", total=1, page=1, pages=1)
    assert reply.buttons == [["AL-2026-000001 · " + RU("status.submitted")]]
    reply = await person.press("AL-2026-000001")
    card = reply.text
    for expected in ("AL-2026-000001", "Нормально", RU("status.submitted"), "18.12.2026"):
        assert expected in card
    [review] = await one(app, select(Review))
    stranger = await resident(app, 2022)
    reply = await stranger.press_data(f"mo:{review.id}:0")
    assert reply.callback_answers == [RU("errors.stale_button")]
    assert reply.texts == []
    assert (await stranger.command("my")).text == RU("my.empty")


async def test_my_reviews_are_paginated(app: App) -> None:
    app.settings.feedback.daily_limit = 20
    person = await resident(app, 2023)
    for _ in range(9):
        await submit_quick_review(app, person, "complaint")
        app.clock.advance(minutes=1)
    reply = await person.command("my")
    assert reply.text == RU("my.title", total=9, page=1, pages=2)
    assert len(reply.buttons) == 8 + 1 and reply.buttons[-1] == [RU("flow.next_page")]
    assert reply.buttons[0][0].startswith("AL-2026-000009")
    reply = await person.press(RU("flow.next_page"))
    assert reply.buttons[0][0].startswith("AL-2026-000001")


async def test_a_long_text_in_my_reviews_is_paged_not_cut(app: App) -> None:
    person = await resident(app, 2024)
    await to_description_step(app, person)
    words = " ".join(f"слово{n}" for n in range(600))[:3990]
    await person.send(words)
    await person.press(RU("evidence.none"))
    await person.press(RU("visibility.anonymous"))
    await person.press(RU("preview.submit"))
    await person.command("my")
    reply = await person.press("AL-2026-000001")
    assert len(reply.texts) == 2 and all(len(text) <= 4096 for text in reply.texts)
    shown = " ".join(reply.texts).split()
    assert [word for word in shown if word.startswith("слово")] == words.split()  # every word, in order
