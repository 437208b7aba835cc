"""Leaving feedback through the real dispatcher: every step, every rule, and what ends up stored."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from aiogram.methods import DeleteMessage, EditMessageText, SendMessage
from sqlalchemy import func, select

from storage.models import AuditLog, Case, Clinic, Doctor, Review, ReviewMedia
from tests.conftest import App
from tests.flows import (
    FULL_NAME,
    PDF,
    PHOTO_A,
    PHOTO_B,
    RU,
    VOICE,
    T,
    choose_clinic_17,
    choose_kind,
    clinic_17,
    describe,
    kind_button,
    one,
    plain,
    resident,
    submit_quick_review,
    therapist_of,
    to_description_step,
    to_kind_step,
)

pytestmark = pytest.mark.usefixtures("demo_directory")


def removes_reply_keyboard(reply) -> bool:
    return any(isinstance(call, SendMessage) and getattr(call.reply_markup, "remove_keyboard", False)
               for call in reply.calls)


async def test_a_complaint_with_album_captions_document_full_name_and_phone_is_stored_whole(app: App) -> None:
    person = await resident(app)
    doctor = await to_kind_step(app, person)
    # Kind and category on one screen.
    reply = await person.press(kind_button("complaint", "extortion"))
    assert reply.text == RU("rating.prompt")
    reply = await person.press("1⭐")
    assert reply.text == RU("description.prompt", limit=8000, files=10)  # no criteria unless asked for
    text = "Врач потребовал 20 000 тенге за направление, которое положено бесплатно."
    reply = await person.send(text)
    assert RU("description.received", length=len(text), files=0, limit=10) in reply.text
    assert reply.buttons[0] == [RU("when.today"), RU("when.yesterday")]

    album = await person.album([PHOTO_A, PHOTO_B], caption="это чек на 5000 тенге")
    # An album is acknowledged once: one message, updated for the second photo.
    assert len([c for c in album.calls if isinstance(c, SendMessage)]) == 1
    assert len([c for c in album.calls if isinstance(c, EditMessageText)]) == 1
    assert RU("description.received", length=len(text), files=2, limit=10) in person.last_text
    reply = await person.document(PDF, "receipt.pdf", "application/pdf", caption="квитанция")
    assert RU("description.received", length=len(text), files=3, limit=10) in reply.text
    reply = await person.press(RU("when.yesterday"))
    # The phone keyboard (with Back and Cancel of its own), then the preview.
    assert reply.texts[0] == RU("phone.prompt")
    keyboard = next(c.reply_markup for c in reply.calls if isinstance(c, SendMessage) and c.text == RU("phone.prompt"))
    assert [[b.text for b in row] for row in keyboard.keyboard] == [[RU("phone.share")],
                                                                     [RU("flow.back"), RU("flow.cancel")]]
    assert keyboard.keyboard[0][0].request_contact
    preview = reply.text
    assert plain(RU("preview.appellant_missing", days=RU.count("within_working_days", 15))) in preview
    reply = await person.send(FULL_NAME)
    reply = await person.contact("+77011234567")
    assert removes_reply_keyboard(reply)
    preview = reply.text
    for expected in ("Городская поликлиника №17", doctor.full_name, "20 000 тенге", "1⭐", "25.11.2026",
                     "«это чек на 5000 тенге»", "«квитанция»", FULL_NAME):
        assert expected in preview, expected
    assert RU("preview.evidence", count=3) in preview
    assert RU("preview.phone_shared") in preview
    assert plain(RU("preview.name_hidden")) in preview

    app.clock.advance(hours=1)
    reply = await person.press(RU("preview.submit"))
    receipt = reply.texts[-2]
    assert plain(RU("submitted.title_appeal")) in receipt
    assert "AL-2026-000001" in receipt
    assert "26.11.2026 11:00" in receipt  # 06:00 UTC is 11:00 in Almaty
    # 15 working days after Thursday 26 Nov 2026: 16 Dec is Independence Day, so the 15th is Friday 18 Dec.
    assert "18.12.2026" in receipt
    assert RU("submitted.next_urgent") in receipt  # extortion: the office is alerted at once
    assert RU("moderation_receipt.held") in receipt  # a complaint naming a doctor is checked before publication
    assert reply.texts[-1] == RU("menu.title")

    [review] = await one(app, select(Review))
    assert (review.reference, review.kind, review.category, review.rating) == ("AL-2026-000001", "complaint",
                                                                               "extortion", 1)
    assert review.doctor_id == doctor.id and review.anonymous and review.phone_shared
    assert review.text == text and review.criteria == {}
    assert (review.appellant_name, review.incident_when, str(review.incident_date), review.on_behalf) == (
        FULL_NAME, "yesterday", "2026-11-25", "self")
    assert review.author_name is None and review.public_status == "pending"
    [case] = await one(app, select(Case))
    assert case.formal_appeal and str(case.due_date) == "2026-12-18"
    assert case.urgency == "critical" and case.reasons
    media = await one(app, select(ReviewMedia).order_by(ReviewMedia.position))
    assert [(m.kind, m.sha256, m.caption) for m in media] == [
        ("photo", hashlib.sha256(PHOTO_A).hexdigest(), "это чек на 5000 тенге"),
        ("photo", hashlib.sha256(PHOTO_B).hexdigest(), None),
        ("document", hashlib.sha256(PDF).hexdigest(), "квитанция")]
    media_dir = Path(app.settings.media.dir)
    for item, data in zip(media, (PHOTO_A, PHOTO_B, PDF), strict=True):
        assert (media_dir / item.stored_path).read_bytes() == data
        assert item.size == len(data)


async def test_the_shortest_complaint_takes_ten_actions_from_start_and_eight_from_the_menu(app: App) -> None:
    person = app.user(2100, language_code="ru")
    actions = 0

    async def act(action):
        nonlocal actions
        actions += 1
        return await action

    await act(person.command("start"))
    reply = await act(person.press(RU("consent.accept")))  # language and consent on one screen
    assert reply.texts[-1] == RU("menu.title")
    from_start = actions
    await act(person.press(RU("menu.leave_feedback")))
    reply = await act(person.send("17"))  # the one match is taken at once, its address shown
    assert "Городская поликлиника №17" in reply.text and "📍" in reply.text
    await act(person.press(RU("target.clinic")))
    await act(person.press(kind_button("complaint", "waiting")))
    await act(person.press("2⭐"))
    await act(person.send("Ждали приёма терапевта три часа, талоны закончились в 8 утра."))
    await act(person.press(RU("when.today")))
    reply = await act(person.press(RU("preview.submit")))
    assert "AL-2026-000001" in reply.texts[-2]
    assert removes_reply_keyboard(reply)  # the phone keyboard, never used, goes with the flow
    assert actions - from_start == 8 and actions == 10
    [review] = await one(app, select(Review))
    assert (review.kind, review.category, review.rating, review.incident_when) == ("complaint", "waiting", 2,
                                                                                   "today")
    # Without the appellant's name it is a case for the polyclinic, honestly not promised the legal deadline.
    [case] = await one(app, select(Case))
    assert not case.formal_appeal and case.due_date is None
    assert RU("submitted.not_formal") in reply.texts[-2]
    assert RU("submitted.next_complaint", days=RU.count("working_days", 5)) in reply.texts[-2]


async def test_a_split_long_text_a_captioned_photo_and_a_voice_recording_are_all_stored(app: App) -> None:
    person = await resident(app, 2101)
    await to_kind_step(app, person, about_doctor=False)
    await choose_kind(person, "complaint", "rudeness", "1⭐")
    words = " ".join(f"слово{n:04d}" for n in range(600))
    long_text = (words * 2)[:5000]
    # As Telegram clients send it: 4,096 characters, then the rest, at once.
    first = await person.send(long_text[:4096])
    assert RU("description.received", length=4096, files=0, limit=10) in first.text
    second = await person.send(long_text[4096:])
    assert RU("description.joined", parts=2, length=5000) in second.text
    await person.photo(PHOTO_A, caption="это чек на 5000 тенге")
    reply = await person.voice(VOICE)
    assert RU("description.received", length=5000, files=2, limit=10) in reply.text
    reply = await person.press(RU("when.today"))
    assert "«это чек на 5000 тенге»" in reply.text and RU("file_kind.voice") in reply.text
    await person.send(FULL_NAME)
    await person.press(RU("preview.submit"))
    [review] = await one(app, select(Review))
    assert review.text == long_text  # whole, in order, not cut mid-word
    media = await one(app, select(ReviewMedia).order_by(ReviewMedia.position))
    assert [(m.kind, m.sha256, m.caption) for m in media] == [
        ("photo", hashlib.sha256(PHOTO_A).hexdigest(), "это чек на 5000 тенге"),
        ("voice", hashlib.sha256(VOICE).hexdigest(), None)]


async def test_a_split_text_over_the_limit_is_refused_as_a_whole_and_the_resident_told(app: App) -> None:
    app.settings.feedback.max_text_chars = 4500
    person = await resident(app, 2102)
    await to_description_step(app, person)
    long_text = ("Очень долго ждали в очереди. " * 200)[:5000]
    await person.send(long_text[:4096])
    reply = await person.send(long_text[4096:])
    assert reply.text == RU("description.too_long_parts", parts=2, length=5000, limit=4500)
    # Nothing of it is kept, so no description starts mid-word; a shorter text is then taken.
    reply = await person.press(RU("when.today"))
    assert reply.callback_answers == [RU("description.required")]
    reply = await person.send(long_text[:4000])
    assert RU("description.received", length=4000, files=0, limit=10) in reply.text
    await person.press(RU("when.today"))
    await person.press(RU("preview.submit"))
    [review] = await one(app, select(Review))
    assert review.text == long_text[:4000]


async def test_recordings_video_notes_and_gifs_are_evidence(app: App) -> None:
    person = await resident(app, 2103)
    await to_kind_step(app, person, about_doctor=False)
    await person.press(RU("kind.violation"))
    await person.press(RU("category.extortion"))
    audio, note, gif = b"ID3" + b"call" * 300, b"\x00\x00\x00\x18ftypnote" * 40, b"\x00\x00\x00\x18ftypgif" * 30
    await person.voice(VOICE)  # a recording alone is a description
    await person.audio(audio, caption="запись разговора")
    await person.video_note(note)
    reply = await person.gif(gif)
    # With no text written, the captions are the description (here the audio's), as well as the files' own.
    assert RU("description.received", length=len("запись разговора"), files=4, limit=10) in reply.text
    await person.press(RU("when.unknown"))
    await person.press(RU("preview.submit"))
    from storage.models import OutboxMessage

    [_card] = await one(app, select(OutboxMessage).where(OutboxMessage.kind == "alert"))  # one card, and:
    queued = [item["kind"] for row in await one(app, select(OutboxMessage).where(OutboxMessage.kind == "alert_media")
                                                .order_by(OutboxMessage.id)) for item in row.payload["media"]]
    assert queued == ["voice", "audio", "video_note", "animation"]  # every recording reaches the office
    from bot.cases import cards
    from bot.services.relay import Relay

    relay = Relay(app.bot, app.pool, app.clock, app.settings.admins, group_alerts=cards.group_alerts_for(app.settings))
    for _ in range(6):
        app.clock.advance(seconds=5)
        await relay.run_once()
    sent = [type(call).__name__ for call in app.session.sent_messages(app.settings.prosecutor.chat_id)]
    assert {"SendVoice", "SendAudio", "SendVideoNote", "SendAnimation"} <= set(sent), sent
    media = await one(app, select(ReviewMedia).order_by(ReviewMedia.position))
    assert [(m.kind, m.sha256) for m in media] == [
        ("voice", hashlib.sha256(VOICE).hexdigest()), ("audio", hashlib.sha256(audio).hexdigest()),
        ("video_note", hashlib.sha256(note).hexdigest()), ("animation", hashlib.sha256(gif).hexdigest())]
    assert media[1].caption == "запись разговора"
    [review] = await one(app, select(Review))
    assert review.incident_when == "unknown" and review.incident_date is None


async def test_text_after_the_description_is_offered_to_be_added(app: App) -> None:
    person = await resident(app, 2104)
    await to_description_step(app, person)
    await describe(person, "Спасибо доктору.")
    reply = await person.send("И медсестре отдельное спасибо за терпение!")
    assert reply.text == RU("description.offer_add", length=42)
    reply = await person.press(RU("description.add"))
    assert "Спасибо доктору.\n\nИ медсестре отдельное спасибо за терпение!" in reply.text
    await person.send("А это лишнее")
    reply = await person.press(RU("description.leave_out"))
    assert "лишнее" not in reply.text
    await person.press(RU("preview.submit"))
    [review] = await one(app, select(Review))
    assert review.text == "Спасибо доктору.\n\nИ медсестре отдельное спасибо за терпение!"


async def test_another_day_is_typed_and_checked(app: App) -> None:
    person = await resident(app, 2105)
    await to_description_step(app, person)
    await person.send("Спасибо")
    reply = await person.press(RU("when.date"))
    assert reply.text == RU("when.date_prompt")
    assert (await person.send("31.12.2026")).text == RU("when.not_a_date")  # in the future
    reply = await person.send("21.11.2026")
    assert "21.11.2026" in reply.text and plain(RU("preview.title")) in reply.text
    await person.press(RU("preview.submit"))
    [review] = await one(app, select(Review))
    assert (review.incident_when, str(review.incident_date)) == ("date", "2026-11-21")


async def test_the_phone_keyboard_has_back_and_cancel_and_never_lingers(app: App) -> None:
    person = await resident(app, 2106)
    await to_kind_step(app, person, about_doctor=False)
    await choose_kind(person, "complaint")
    await describe(person, "Нагрубили в регистратуре.")
    # Back from the phone keyboard: to the description, and the keyboard is taken away.
    reply = await person.send(RU("flow.back"))
    assert removes_reply_keyboard(reply)
    assert any(isinstance(call, DeleteMessage) for call in reply.calls)
    assert "Нагрубили в регистратуре." in reply.text
    reply = await person.press(RU("when.today"))
    # Cancel from the phone keyboard: the text would be lost, so it asks first.
    reply = await person.send(RU("flow.cancel"))
    assert reply.text == RU("cancel.confirm_text")
    reply = await person.press(RU("cancel.keep"))
    assert plain(RU("preview.title_appeal")) in reply.text
    await person.command("cancel")
    reply = await person.press(RU("cancel.discard"))
    assert removes_reply_keyboard(reply)
    assert reply.texts[-1] == RU("menu.title")
    assert await one(app, select(Review)) == []
    # /start in the middle, then starting over: the keyboard goes too.
    await to_kind_step(app, person, about_doctor=False)
    await choose_kind(person, "complaint")
    await describe(person, "Снова нагрубили.")
    assert (await person.command("start")).text == RU("unfinished.prompt")
    reply = await person.press(RU("unfinished.start_over"))
    assert removes_reply_keyboard(reply) and reply.text == plain(RU("clinic.prompt"))
    await person.command("cancel")
    # A keyboard button pressed after the conversation ended is not a dead end either.
    reply = await person.send(RU("flow.back"))
    assert removes_reply_keyboard(reply) and reply.texts[-1] == RU("menu.title")


async def test_several_matches_show_their_addresses(app: App) -> None:
    person = await resident(app, 2118)
    await person.press(RU("menu.leave_feedback"))
    reply = await person.send("толе би")
    labels = [row[0] for row in reply.buttons[:-2]]
    assert len(labels) >= 2, labels
    assert all(RU("clinic.button_address", address="").strip() in label for label in labels)
    assert any("Толе би, 138" in label for label in labels) and any("Толе би, 30" in label for label in labels)


@pytest.mark.parametrize(("language", "button", "query", "addresses"), [
    ("kk", "Қазақша", "төле би", ("Төле би көшесі, 138", "Төле би көшесі, 30")),
    ("en", "English", "tole bi", ("138 Tole Bi St", "30 Tole Bi St")),
])
async def test_a_kazakh_or_english_resident_sees_addresses_in_their_language(app: App, language: str, button: str,
                                                                               query: str, addresses) -> None:
    l10n = T[language]
    person = await resident(app, 2119, language, button)
    await person.press(l10n("menu.leave_feedback"))
    reply = await person.send(query)
    labels = [row[0] for row in reply.buttons[:-2]]
    for address in addresses:
        assert any(label.endswith(l10n("clinic.button_address", address=address)) for label in labels), labels
    assert not any("ул." in label for label in labels), labels
    # A unique match is taken at once: the next step names it with its address, and offers another.
    await person.press(l10n("flow.cancel"))
    await person.press(l10n("menu.leave_feedback"))
    reply = await person.send("17")
    own = {"kk": "Басенов көшесі, 2", "en": "2 Basenov St"}[language]
    assert l10n("clinic.address", address=own) in reply.text and "ул. Басенова" not in reply.text
    assert l10n("target.change_clinic") in str(reply.buttons)


async def test_an_address_without_a_translation_is_shown_as_the_directory_gives_it(app: App) -> None:
    async with app.pool() as session, session.begin():
        clinic = (await session.scalars(select(Clinic).where(Clinic.number == 3))).one()
        clinic.address_kk = clinic.address_en = None
    person = await resident(app, 2120, "en", "English")
    await person.press(T["en"]("menu.leave_feedback"))
    reply = await person.send("tole bi")
    labels = [row[0] for row in reply.buttons[:-2]]
    assert any(label.endswith(T["en"]("clinic.button_address", address="ул. Толе би, 138")) for label in labels)
    assert any(label.endswith(T["en"]("clinic.button_address", address="30 Tole Bi St")) for label in labels)
    reply = await person.press(next(label for label in labels if "ул. Толе би, 138" in label))
    assert T["en"]("clinic.address", address="ул. Толе би, 138") in reply.text


async def test_an_unfinished_review_is_offered_on_start_language_and_deep_links(app: App) -> None:
    person = await resident(app, 2107)
    doctor = await therapist_of(app, await clinic_17(app))
    await to_description_step(app, person)
    await person.send("Спасибо за лечение")
    reply = await person.command("start")
    assert reply.text == RU("unfinished.prompt")
    reply = await person.press(RU("unfinished.resume"))
    assert "Спасибо за лечение" in reply.text  # the description step again, with what was written
    await person.command("language")
    reply = await person.press("English")
    assert reply.text == T["en"]("unfinished.prompt")
    await person.press(T["en"]("unfinished.resume"))
    reply = await person.command("start", f"doctor-{doctor.id}")
    assert reply.text == T["en"]("unfinished.prompt")
    reply = await person.press(T["en"]("unfinished.start_over"))
    # The link's purpose survives the question, and it says which doctor it leads to.
    about = T["en"]("deep_link.about", subject=f"{doctor.full_name}, City Polyclinic No. 17")
    assert about in reply.texts and doctor.full_name in reply.text
    assert T["en"]("kind.gratitude") in str(reply.buttons)


async def test_cancel_asks_before_discarding_text_or_files_and_not_otherwise(app: App) -> None:
    person = await resident(app, 2108)
    await to_kind_step(app, person)
    reply = await person.press(RU("flow.cancel"))
    assert reply.texts == [RU("cancel.done"), RU("menu.title")]  # nothing written: nothing to lose
    await to_description_step(app, person)
    await person.photo(PHOTO_A)
    reply = await person.press(RU("flow.cancel"))
    assert reply.text == RU("cancel.confirm_files", files=RU.count("files", 1))
    reply = await person.press(RU("cancel.keep"))
    assert RU("description.current", text="—", files=1) in reply.text
    reply = await person.press(RU("flow.cancel"))
    reply = await person.press(RU("cancel.discard"))
    assert reply.texts[-2:] == [RU("cancel.done"), RU("menu.title")]
    await to_kind_step(app, person)
    assert (await person.command("cancel")).texts[0] == RU("cancel.done")
    assert await one(app, select(Review)) == []


async def test_a_deep_link_keeps_its_purpose_through_onboarding(app: App) -> None:
    doctor = await therapist_of(app, await clinic_17(app))
    newcomer = app.user(2109, language_code="ru")
    reply = await newcomer.command("start", f"doctor-{doctor.id}")
    assert RU("language.prompt_all") in reply.text and "Согласие на обработку" in reply.text
    reply = await newcomer.press(RU("consent.accept"))
    assert RU("deep_link.about", subject=f"{doctor.full_name}, Городская поликлиника №17") in reply.texts
    assert doctor.full_name in reply.text and RU("kind.gratitude") in str(reply.buttons)
    # A known resident following it is told which doctor it is too.
    await newcomer.command("cancel")
    reply = await newcomer.command("start", f"doctor-{doctor.id}")
    assert RU("deep_link.about", subject=f"{doctor.full_name}, Городская поликлиника №17") == reply.texts[0]
    # A link to nothing leads to the menu.
    await newcomer.command("cancel")
    assert (await newcomer.command("start", "doctor-999999")).text == RU("menu.title")


async def test_clinic_and_review_links_keep_their_purpose_through_onboarding(app: App) -> None:
    clinic = await clinic_17(app)
    KK = T["kk"]
    newcomer = app.user(2121, language_code="kk")
    await newcomer.command("start", f"clinic-{clinic.id}")
    reply = await newcomer.press(KK("consent.accept"))
    # The form opens at the clinic the link was made for, named with its address in the resident's language.
    assert clinic.name_kk in reply.text and KK("clinic.address", address="Басенов көшесі, 2") in reply.text
    assert KK("target.change_clinic") in str(reply.buttons)
    other = app.user(2122, language_code="en")
    await other.command("start", "review")
    reply = await other.press(T["en"]("consent.accept"))
    assert reply.text == plain(T["en"]("clinic.prompt"))


async def test_free_text_or_a_photo_at_the_menu_starts_a_review_with_it(app: App) -> None:
    person = await resident(app, 2110)
    reply = await person.send("Хочу пожаловаться на терапевта, он нагрубил")
    assert reply.text == RU("menu_offer.prompt")
    reply = await person.press(RU("menu_offer.start"))
    assert reply.text == plain(RU("clinic.prompt"))
    await choose_clinic_17(person)
    await person.press(RU("target.clinic"))
    reply = await choose_kind(person, "complaint")
    assert "Хочу пожаловаться на терапевта, он нагрубил" in reply.text  # kept, shown at the description step
    await person.press(RU("when.today"))
    await person.press(RU("preview.submit"))
    [review] = await one(app, select(Review))
    assert review.text == "Хочу пожаловаться на терапевта, он нагрубил"
    # Words that name a polyclinic take it at once.
    await person.send("Терапевт в поликлинике 17 нагрубил")
    reply = await person.press(RU("menu_offer.start"))
    assert reply.text.startswith("Городская поликлиника №17") and RU("target.change_clinic") in str(reply.buttons)
    assert (await person.command("cancel")).text == RU("cancel.confirm_text")  # the words would be lost
    await person.press(RU("cancel.discard"))
    reply = await person.photo(PHOTO_B)
    assert reply.text == RU("menu_offer.prompt")
    reply = await person.press(RU("menu_offer.menu"))
    assert reply.text == RU("menu.title")


async def test_gratitude_by_district_with_voice_and_first_name(app: App) -> None:
    person = await resident(app, 2002, "en", "English", first_name="Dana")
    await person.press("Leave a review or an appeal")
    reply = await person.press("Bostandyk District")
    assert "City Polyclinic No. 17" in str(reply.buttons)
    await person.press("City Polyclinic No. 17")
    await person.press(T["en"]("target.clinic"))
    await person.press(T["en"]("kind.gratitude"))
    await person.press("5⭐")
    await person.voice(VOICE)
    reply = await person.press(T["en"]("when.today"))
    assert T["en"]("file_kind.voice") in reply.text  # no phone keyboard for gratitude
    assert not any(isinstance(c, SendMessage) and c.text == T["en"]("phone.prompt") for c in reply.calls)
    reply = await person.press(T["en"]("preview.toggle_name", mark="⬜"))
    assert plain(T["en"]("preview.name_public", name="Dana")) in reply.text
    reply = await person.press(T["en"]("preview.rate_details"))
    assert "1 of 4" in reply.text
    reply = await person.press(T["en"]("criteria.skip_all"))
    assert T["en"]("preview.rate_details") not in str(reply.buttons)
    reply = await person.press(T["en"]("preview.submit"))
    assert T["en"]("submitted.next_gratitude") in reply.texts[-2]
    [review] = await one(app, select(Review))
    assert review.kind == "gratitude" and not review.anonymous and review.author_name == "Dana"
    assert review.doctor_id is None and review.language == "en" and review.public_status == "published"
    [voice] = await one(app, select(ReviewMedia))
    assert voice.kind == "voice" and voice.sha256 == hashlib.sha256(VOICE).hexdigest()
    assert await one(app, select(Case)) == []


async def test_clinic_by_location_and_unknown_doctor(app: App) -> None:
    person = await resident(app, 2003)
    clinic = await clinic_17(app)
    await person.press(RU("menu.leave_feedback"))
    reply = await person.location(clinic.latitude, clinic.longitude)
    assert reply.text == RU("clinic.nearest")
    assert reply.buttons[0] == ["Городская поликлиника №17" + RU("clinic.distance", km="0,0")]  # decimal comma
    assert len(reply.buttons) == 5 + 2  # five clinics, "choose a district", back/cancel
    await person.press("Городская поликлиника №17")
    reply = await person.press(RU("target.unknown"))
    assert reply.text == RU("target.specialty_unknown_doctor")
    reply = await person.press("терапевт")
    assert "терапевт" in reply.text and RU("kind.gratitude") in str(reply.buttons)


async def test_a_unique_clinic_is_taken_at_once_and_can_be_changed(app: App) -> None:
    person = await resident(app, 2111)
    await person.press(RU("menu.leave_feedback"))
    reply = await person.send("17")
    clinic = await clinic_17(app)
    assert reply.text.startswith("Городская поликлиника №17") and clinic.address in reply.text
    reply = await person.press(RU("target.change_clinic"))
    assert reply.text == plain(RU("clinic.prompt"))


async def test_doctor_by_typed_surname(app: App) -> None:
    person = await resident(app, 2004)
    doctor = await therapist_of(app, await clinic_17(app))
    surname = doctor.full_name.split()[0]
    await person.press(RU("menu.leave_feedback"))
    await choose_clinic_17(person)
    reply = await person.send(surname[:-1])  # a typo: last letter missing
    assert reply.buttons[0][0].startswith(doctor.full_name)
    reply = await person.press(doctor.full_name)
    assert doctor.full_name in reply.text and RU("kind.gratitude") in str(reply.buttons)


async def test_back_and_edit_keep_what_was_written(app: App) -> None:
    person = await resident(app, 2005)
    await to_kind_step(app, person)
    await person.press(kind_button("complaint"))
    reply = await person.press(RU("flow.back"))
    assert RU("kind.gratitude") in str(reply.buttons)
    await person.press(RU("kind.gratitude"))
    await person.press("4⭐")
    await person.send("Спасибо доктору за внимание.")
    reply = await person.press(RU("flow.back"))
    assert reply.text == RU("rating.prompt")
    reply = await person.press("4⭐")
    assert "Спасибо доктору за внимание." in reply.text  # the text is shown, not lost
    reply = await person.press(RU("when.today"))
    assert "4⭐" in reply.text
    reply = await person.press(RU("preview.edit_rating"))
    assert reply.text == RU("rating.prompt")
    reply = await person.press("5⭐")
    assert "5⭐" in reply.text and plain(RU("preview.title")) in reply.text
    reply = await person.press(RU("preview.edit_description"))
    assert "Спасибо доктору за внимание." in reply.text
    await person.press(RU("description.clear"))
    await person.send("Спасибо! Очень внимательный врач.")
    reply = await person.press(RU("when.today"))
    assert "Очень внимательный врач" in reply.text
    await person.press(RU("preview.submit"))
    [review] = await one(app, select(Review))
    assert review.rating == 5 and review.text == "Спасибо! Очень внимательный врач."


async def test_on_whose_behalf_and_outcome_wanted_are_kept_from_the_public(app: App) -> None:
    person = await resident(app, 2112)
    await to_kind_step(app, person, about_doctor=False)
    await choose_kind(person, "complaint", "refusal")
    await describe(person, "Ребёнку отказали в приёме без прикрепления.")
    await person.press(RU("preview.edit_behalf"))
    reply = await person.press(RU("behalf.child"))
    assert RU("preview.behalf", value=RU("behalf.child")) in reply.text
    await person.press(RU("preview.edit_outcome"))
    reply = await person.send("Принять ребёнка и объяснить отказ")
    assert "Принять ребёнка и объяснить отказ" in reply.text
    await person.press(RU("preview.enter_name"))
    assert (await person.send("123")).text == RU("preview.name_invalid")
    await person.send(FULL_NAME)
    await person.press(RU("preview.submit"))
    [review] = await one(app, select(Review))
    assert (review.on_behalf, review.outcome_wanted, review.appellant_name) == (
        "child", "Принять ребёнка и объяснить отказ", FULL_NAME)
    assert FULL_NAME not in (review.public_text or "") and review.author_name is None


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
    assert reply.text == RU("description.prompt", limit=8000, files=10)
    await describe(person, "Всё хорошо")
    await person.press(RU("preview.submit"))
    assert len(await one(app, select(Review))) == 1


async def test_wrong_input_gets_a_hint_and_the_step_stays(app: App) -> None:
    person = await resident(app, 2008)
    await to_kind_step(app, person)
    for wrong in (person.sticker, lambda: person.send("плохо")):
        reply = await wrong()
        assert reply.texts[0] == RU("hint.kind")
        assert RU("kind.gratitude") in str(reply.buttons)
    reply = await person.photo()  # kept for the description, and the step stays
    assert reply.texts[0] == RU("evidence.kept_for_description", files=1, limit=10)
    assert RU("kind.gratitude") in str(reply.buttons)
    await person.press(RU("kind.gratitude"))
    assert (await person.contact("+77011234567")).texts[0] == RU("hint.rating")
    assert (await person.location(43.2, 76.9)).texts[0] == RU("hint.rating")
    reply = await person.send("4")  # a typed digit is understood
    assert reply.text.startswith(RU("description.prompt", limit=8000, files=10))
    assert (await person.location(43.2, 76.9)).texts[0] == RU("hint.description")
    assert (await person.sticker()).texts[0] == RU("hint.description")
    assert (await person.edit(1, "исправил")).text == RU("flow.edit_not_applied")


async def test_stale_and_foreign_buttons(app: App) -> None:
    person = await resident(app, 2009)
    await to_kind_step(app, person)
    stale = RU("errors.stale_button")
    assert (await person.press_data("fr:overall:5")).callback_answers == [stale]  # a rating button, too early
    assert (await person.press_data("fc:99999")).callback_answers == [stale]  # a clinic button from before
    assert (await person.press_data("fk:bribe:")).callback_answers == [stale]  # a forged kind
    assert (await person.press_data("fk:complaint:nonsense")).callback_answers == [stale]  # a forged category
    assert (await person.press_data("fk:gratitude")).callback_answers == [stale]  # a button from the old layout
    await person.press(RU("kind.gratitude"))
    assert (await person.press_data("fr:overall:9")).callback_answers == [stale]
    # A doctor of another clinic cannot be slipped in.
    other = (await one(app, select(Doctor).where(Doctor.clinic_id != (await clinic_17(app)).id)))[0]
    await person.press(RU("flow.back"))
    await person.press(RU("flow.back"))
    assert (await person.press_data(f"fo:{other.id}")).callback_answers == [stale]
    await person.command("cancel")
    assert (await person.press_data("fa:submit")).callback_answers == [stale]


async def test_oversized_file_is_refused_and_the_others_stay(app: App) -> None:
    person = await resident(app, 2011)
    await to_description_step(app, person)
    await person.send("Текст")
    await person.photo(PHOTO_A)
    huge = app.updates.photo(file_size=25 * 1024 * 1024, user=person.user, chat=person.chat)
    reply = await person.feed(huge)
    assert reply.text == RU("evidence.too_big", limit=20)
    reply = await person.photo(PHOTO_B)
    assert RU("description.received", length=5, files=2, limit=10) in reply.text


async def test_at_most_ten_files(app: App) -> None:
    person = await resident(app, 2012)
    await to_description_step(app, person)
    await person.send("Текст")
    await person.album([bytes([i]) * 50 for i in range(1, 10)])
    await person.photo(b"tenth" * 20)
    reply = await person.photo(b"eleventh" * 20)
    assert reply.text == RU("evidence.limit", limit=10)


async def test_only_a_gratitude_may_update_an_earlier_one_and_a_complaint_is_always_new(app: App) -> None:
    person = await resident(app, 2013)
    doctor = await therapist_of(app, await clinic_17(app))
    await to_kind_step(app, person)
    await choose_kind(person, "gratitude", stars="4⭐")
    await describe(person, "Спасибо")
    await person.press(RU("preview.submit"))
    app.clock.advance(days=3)
    # A complaint about the same doctor: a new appeal, nothing offered to replace.
    await to_kind_step(app, person)
    reply = await choose_kind(person, "complaint")
    assert reply.text == RU("description.prompt", limit=8000, files=10)
    await describe(person, "На этот раз нагрубил")
    await person.press(RU("preview.submit"))
    # A second gratitude: offered as an update of the rating.
    await to_kind_step(app, person)
    reply = await person.press(RU("kind.gratitude"))
    assert "AL-2026-000001" in reply.text and reply.buttons[0] == [RU("previous.update")]
    assert "В течение 30 дней новая оценка" in reply.text  # feedback.same_doctor_days, in its number's form
    reply = await person.press(RU("previous.update"))
    assert reply.text == RU("rating.prompt")
    await person.press("5⭐")
    await describe(person, "Лучше, чем в прошлый раз")
    await person.press(RU("preview.submit"))
    first, complaint, third = await one(app, select(Review).order_by(Review.id))
    assert complaint.supersedes_id is None and third.supersedes_id == first.id
    assert third.doctor_id == doctor.id
    app.clock.advance(days=31)
    await to_kind_step(app, person)
    assert (await person.press(RU("kind.gratitude"))).text == RU("rating.prompt")


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
    await describe(person, "Спасибо")
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


async def test_my_reviews_list_card_and_foreign_card(app: App) -> None:
    person = await resident(app, 2021)
    await submit_quick_review(app, person, "complaint")
    reply = await person.press(RU("menu.my_reviews"))
    assert reply.text == RU("my.title", total=1, page=1, pages=1)
    assert reply.buttons == [["AL-2026-000001 · " + RU("status.submitted")], [RU("menu.home")]]
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
    assert len(reply.buttons) == 8 + 2 and reply.buttons[-2:] == [[RU("flow.next_page")], [RU("menu.home")]]
    assert reply.buttons[0][0].startswith("AL-2026-000009")
    reply = await person.press(RU("flow.next_page"))
    assert reply.buttons[0][0].startswith("AL-2026-000001")


async def test_a_long_text_in_my_reviews_is_paged_not_cut(app: App) -> None:
    person = await resident(app, 2024)
    await to_description_step(app, person)
    words = " ".join(f"слово{n}" for n in range(600))[:3990]
    await describe(person, words)
    await person.press(RU("preview.submit"))
    await person.command("my")
    reply = await person.press("AL-2026-000001")
    assert len(reply.texts) == 2 and all(len(text) <= 4096 for text in reply.texts)
    shown = " ".join(reply.texts).split()
    assert [word for word in shown if word.startswith("слово")] == words.split()  # every word, in order


async def test_captions_reach_the_prosecutors_office_with_their_files(app: App) -> None:
    from storage.models import OutboxMessage

    person = await resident(app, 2113)
    await to_kind_step(app, person, about_doctor=False)
    await person.press(RU("kind.violation"))
    await person.press(RU("category.extortion"))
    await person.send("Требовали взятку за справку.")
    await person.album([PHOTO_A, PHOTO_B], caption="это чек на 5000 тенге")
    await person.voice(VOICE)
    await person.press(RU("when.today"))
    await person.press(RU("preview.submit"))
    rows = await one(app, select(OutboxMessage).where(OutboxMessage.kind == "alert_media").order_by(OutboxMessage.id))
    album, voice = (row.payload["media"] for row in rows)
    assert "это чек на 5000 тенге" in album[0]["caption"] and "AL-2026-000001" in album[0]["caption"]
    assert "caption" not in album[1]
    assert voice[0]["kind"] == "voice" and "AL-2026-000001" in voice[0]["caption"]


async def test_the_appeal_details_reach_the_office_and_not_the_polyclinic(app: App) -> None:
    from storage.models import OutboxMessage

    person = await resident(app, 2114)
    await to_kind_step(app, person, about_doctor=False)
    await person.press(RU("kind.violation"))
    await person.press(RU("category.extortion"))
    await describe(person, "Требовали 10 000 тенге за справку.", "yesterday")
    await person.press(RU("preview.edit_behalf"))
    await person.press(RU("behalf.parent"))
    await person.send(FULL_NAME)
    await person.press(RU("preview.submit"))
    [card] = await one(app, select(OutboxMessage).where(OutboxMessage.kind == "alert"))
    for expected in (RU("office.appellant", name=FULL_NAME), RU("office.when", value="25.11.2026"),
                     RU("office.behalf", value=RU("behalf.parent"))):
        assert expected in card.payload["text"], expected
    others = await one(app, select(OutboxMessage).where(OutboxMessage.kind != "alert"))
    assert all(FULL_NAME not in str(row.payload) for row in others)


async def test_lists_follow_each_languages_alphabet(app: App) -> None:
    from bot.l10n import alphabet_key

    person = await resident(app, 2115, "kk", "Қазақша")
    reply = await person.press(T["kk"]("menu.leave_feedback"))
    districts = [row[0] for row in reply.buttons[:-1]]
    assert districts == sorted(districts, key=lambda name: alphabet_key(name, "kk"))
    assert districts[0].startswith("Алатау") and districts[1].startswith("Алмалы") and not districts[-1].startswith(
        "Жетісу")  # Ж comes before М, Н, Т in Kazakh, whatever Unicode says
    assert sorted(["офтальмолог", "оңалту", "ортопед"], key=lambda word: alphabet_key(word, "kk")) == [
        "оңалту", "ортопед", "офтальмолог"]  # ң is right after н in the Kazakh alphabet
    assert sorted(["ёлка", "еда", "жук"], key=lambda word: alphabet_key(word, "ru")) == ["еда", "ёлка", "жук"]


async def test_a_violation_report_asks_for_no_stars_and_counts_in_no_rating(app: App) -> None:
    from storage.models import DoctorStats

    person = await resident(app, 2116)
    doctor = await to_kind_step(app, person)
    await person.press(RU("kind.violation"))
    reply = await person.press(RU("category.extortion"))
    assert reply.text == RU("description.prompt", limit=8000, files=10)  # straight to what happened
    reply = await describe(person, "Требовали деньги за больничный.")
    assert "⭐" not in reply.text.split(RU("preview.text", value=""))[0]
    assert RU("preview.edit_rating") not in str(reply.buttons) and RU("preview.rate_details") not in str(reply.buttons)
    reply = await person.press(RU("preview.submit"))
    assert RU("submitted.next_urgent") in reply.texts[-2] and "18.12.2026" in reply.texts[-2]  # formal, no name
    [review] = await one(app, select(Review))
    assert review.kind == "violation" and review.rating is None and review.doctor_id == doctor.id
    stats = await one(app, select(DoctorStats).where(DoctorStats.doctor_id == doctor.id))
    assert all(row.review_count == 0 for row in stats)


def test_what_passes_for_a_full_name() -> None:
    from bot.services.names import looks_like_full_name

    for name in ("Иванова Айгуль Сериковна", "Нұрланұлы Ерлан", "Dana Abenova", "Сейт-Али Жанна Қайратқызы"):
        assert looks_like_full_name(name), name
    for text in ("Очень плохо", "очень плохо было", "Иванова", "Позвоните мне 87011234567", "А Б В Г Д"):
        assert not looks_like_full_name(text), text


async def test_a_complaint_naming_a_doctor_is_public_only_after_a_moderator_and_the_operator_can_change_it(
        app: App) -> None:
    person = await resident(app, 2117)
    await submit_quick_review(app, person, "complaint", about_doctor=True)
    await submit_quick_review(app, person, "complaint", about_doctor=False)  # about the polyclinic in general
    await submit_quick_review(app, person, "gratitude", about_doctor=True)
    app.settings.moderation.hold_named_complaints = False
    app.clock.advance(days=1)
    await submit_quick_review(app, person, "complaint", about_doctor=True)
    statuses = [(r.kind, r.doctor_id is not None, r.public_status)
                for r in await one(app, select(Review).order_by(Review.id))]
    assert statuses == [("complaint", True, "pending"), ("complaint", False, "published"),
                        ("gratitude", True, "published"), ("complaint", True, "published")]
    # The moderator is told why it waits.
    app.settings.moderation.hold_named_complaints = True
    reply = await app.user(9001).command("moderation")
    assert RU("office.why_named_complaint") in reply.text


async def test_a_resumed_preview_still_names_the_resident(app: App) -> None:
    person = await resident(app, 2119, first_name="Айгуль")
    await to_description_step(app, person)
    await describe(person, "Спасибо")
    await person.press(RU("preview.toggle_name", mark="⬜"))
    await person.command("start")
    reply = await person.press(RU("unfinished.resume"))
    assert plain(RU("preview.name_public", name="Айгуль")) in reply.text
    await person.press(RU("preview.submit"))
    [review] = await one(app, select(Review))
    assert review.author_name == "Айгуль" and not review.anonymous



@pytest.mark.parametrize(("language", "button", "lost"), [
    ("kk", "Қазақша", ("Мәтініңіз жоғалады", "2 файл жоғалады", "Мәтініңіз бен 5 файл жоғалады")),
    ("ru", "Русский", ("потеряете свой текст.", "потеряете 2 файла.", "потеряете свой текст и 5 файлов.")),
    ("en", "English", ("lose your text.", "lose 2 files.", "lose your text and 5 files.")),
])
async def test_cancel_names_what_would_be_lost_text_files_or_both(app: App, language: str, button: str,
                                                                  lost: tuple[str, str, str]) -> None:
    l10n = T[language]
    person = await resident(app, 2141, language, button)

    async def at_description() -> None:
        await person.press(l10n("menu.leave_feedback"))
        await person.send("17")
        await person.press(l10n("target.clinic"))
        await person.press(l10n("kind.gratitude"))
        await person.press("5⭐")

    # Only words: no mention of files (it said "files (0)" before).
    await at_description()
    await person.send("Спасибо регистратуре")
    reply = await person.press(l10n("flow.cancel"))
    assert lost[0] in reply.text and "0" not in reply.text, reply.text
    await person.press(l10n("cancel.discard"))
    # Only files: no mention of words, and the count in its form.
    await at_description()
    await person.album([PHOTO_A, PHOTO_B])
    reply = await person.press(l10n("flow.cancel"))
    assert lost[1] in reply.text, reply.text
    await person.press(l10n("cancel.discard"))
    # Both, by /cancel as well as the button.
    await at_description()
    await person.send("Спасибо регистратуре")
    await person.album([PHOTO_A, PHOTO_B, PHOTO_A + b"0", PHOTO_A + b"1", PHOTO_B + b"2"])
    reply = await person.command("cancel")
    assert lost[2] in reply.text, reply.text
    assert await one(app, select(Review)) == []


async def test_the_phone_keyboard_follows_a_language_switched_at_the_preview(app: App) -> None:
    """At the preview of a complaint the phone keyboard is in Russian; she switches to English and continues: the
    keyboard under the chat is sent again in English (it stayed in Russian before)."""
    EN = T["en"]
    person = await resident(app, 2142)
    await to_kind_step(app, person, about_doctor=False)
    await choose_kind(person, "complaint")
    await describe(person, "Нагрубили в регистратуре.")
    await person.command("language")
    await person.press("English")
    reply = await person.press(EN("unfinished.resume"))

    keyboards = [call.reply_markup for call in reply.calls
                 if isinstance(call, SendMessage) and getattr(call.reply_markup, "keyboard", None)]
    assert keyboards, reply.texts
    assert keyboards[-1].keyboard[0][0].text == EN("phone.share")
    assert keyboards[-1].keyboard[0][0].request_contact
    assert [button.text for button in keyboards[-1].keyboard[1]] == [EN("flow.back"), EN("flow.cancel")]
    assert plain(EN("preview.title_appeal")) in reply.text
    # Shared now, the contact is taken as before.
    reply = await person.contact("+77011234567")
    assert plain(EN("preview.title_appeal")) in reply.text
