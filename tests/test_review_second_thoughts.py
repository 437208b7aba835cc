"""A resident's second thoughts in the middle of a review, found by a tester acting as them: another doctor chosen
at the preview, an album whose every photo carries its own words, a reference number typed into a review just
begun."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from storage.models import Review, ReviewMedia
from tests.conftest import App
from tests.flows import (
    FULL_NAME,
    PHOTO_A,
    PHOTO_B,
    RU,
    choose_kind,
    describe,
    one,
    plain,
    resident,
    submit_quick_review,
    to_description_step,
    to_kind_step,
)

pytestmark = pytest.mark.usefixtures("demo_directory")

FIRST_THERAPIST = "Байтурсынов Галым Канатович"  # the one to_kind_step picks: first of No. 17's therapists by name
OTHER_THERAPIST = "Касымова Камила Маратовна"
THANKS = "Спасибо доктору, всё объяснила и выписала направление"


async def draft_of(person) -> dict:
    state = person.dp.fsm.resolve_context(person.bot, person.chat_id, person.user["id"])
    return (await state.get_data()).get("draft", {})


async def other_doctor_from_the_preview(person, doctor: str = OTHER_THERAPIST):
    """✏️ Врач on the preview, then another therapist of the same polyclinic."""
    await person.press(RU("preview.edit_target"))
    await person.press(RU("target.doctor"))
    await person.press("терапевт")
    return await person.press(doctor)


async def gratitude_at_the_preview(app: App, person, doctor: str = FIRST_THERAPIST, stars: str = "4⭐"):
    await to_kind_step(app, person)
    if doctor != FIRST_THERAPIST:
        await person.press(RU("flow.back"))
        await person.press(RU("target.doctor"))
        await person.press("терапевт")
        await person.press(doctor)
    await choose_kind(person, "gratitude", stars=stars)
    await person.send(THANKS)
    await person.photo(PHOTO_A, caption="направление")
    return await person.press(RU("when.yesterday"))


# --- Another doctor chosen at the preview -----------------------------------------------------------------------


async def test_another_doctor_chosen_at_the_preview_keeps_the_kind_stars_text_files_and_day(app: App) -> None:
    """She thanked the wrong therapist (both are women at No. 17; she picked the first name). On the preview she
    presses ✏️ Врач and picks the right one: she is back at the preview with that doctor and everything else she
    chose and wrote, not asked again what she sends and how many stars."""
    person = await resident(app, 7101)
    await gratitude_at_the_preview(app, person)

    reply = await other_doctor_from_the_preview(person)

    assert not any(RU("kind.gratitude") in str(rows) for rows in [reply.buttons]), reply.buttons
    assert RU("rating.prompt") not in reply.texts
    preview = reply.text
    for kept in (OTHER_THERAPIST, RU("kind.gratitude"), "4⭐", THANKS, "25.11.2026", "«направление»",
                 RU("preview.evidence", count=1)):
        assert kept in preview, kept
    assert FIRST_THERAPIST not in preview
    await person.press(RU("preview.submit"))
    [review] = await one(app, select(Review))
    doctor = await app_doctor(app, OTHER_THERAPIST)
    assert (review.doctor_id, review.kind, review.rating, review.text, str(review.incident_date)) == (
        doctor, "gratitude", 4, THANKS, "2026-11-25")
    assert len(await one(app, select(ReviewMedia))) == 1


async def test_another_doctor_asks_the_detailed_stars_again_as_they_rated_the_first(app: App) -> None:
    """The detailed stars (attentiveness, professionalism...) were about the first doctor: with another doctor they
    are asked again, and then the preview is back; the overall stars stay."""
    person = await resident(app, 7102)
    await gratitude_at_the_preview(app, person)
    await person.press(RU("preview.rate_details"))
    for _ in range(4):
        await person.press("2⭐")
    assert (await draft_of(person))["criteria_done"]

    reply = await other_doctor_from_the_preview(person)

    assert reply.text == plain(RU("criteria.prompt", criterion=RU("criteria.attentiveness"), number=1, total=4))
    for _ in range(4):
        reply = await person.press("5⭐")
    assert OTHER_THERAPIST in reply.text and "4⭐" in reply.text and THANKS in reply.text
    await person.press(RU("preview.submit"))
    [review] = await one(app, select(Review))
    assert review.rating == 4 and review.criteria == {"attentiveness": 5, "professionalism": 5, "waiting": 5,
                                                       "conditions": 5}


async def test_another_doctor_she_thanked_this_month_is_asked_about_and_the_first_ones_update_dropped(
        app: App) -> None:
    """A thank-you replaces her earlier one to the same doctor only when she says so. Changing the doctor at the
    preview: the first doctor's "update my earlier rating" does not carry over to the second; and a second doctor she
    thanked this month is asked about, as choosing that doctor from the start would have been."""
    person = await resident(app, 7103)
    await gratitude_at_the_preview(app, person, doctor=OTHER_THERAPIST, stars="3⭐")
    await person.press(RU("preview.submit"))
    [earlier] = await one(app, select(Review))

    # A new thank-you to the same doctor, as an update of the earlier one; then she changes to the first therapist.
    await to_kind_step(app, person)
    await person.press(RU("flow.back"))
    await person.press(RU("target.doctor"))
    await person.press("терапевт")
    await person.press(OTHER_THERAPIST)
    await person.press(RU("kind.gratitude"))
    await person.press(RU("previous.update"))
    await person.press("5⭐")
    await describe(person, THANKS)
    assert (await draft_of(person))["supersedes_id"] == earlier.id
    reply = await other_doctor_from_the_preview(person, FIRST_THERAPIST)
    assert FIRST_THERAPIST in reply.text and RU("preview.submit") in str(reply.buttons), reply.texts
    assert "supersedes_id" not in await draft_of(person)

    # Back to the doctor she thanked: asked again whether it updates that thank-you.
    reply = await other_doctor_from_the_preview(person, OTHER_THERAPIST)
    assert earlier.reference in reply.text and [RU("previous.update")] in reply.buttons, reply.texts
    reply = await person.press(RU("previous.update"))
    assert OTHER_THERAPIST in reply.text and "5⭐" in reply.text and THANKS in reply.text
    await person.press(RU("preview.submit"))
    latest = (await one(app, select(Review).order_by(Review.id)))[-1]
    assert latest.supersedes_id == earlier.id and latest.rating == 5


async def app_doctor(app: App, full_name: str) -> int:
    from storage.models import Doctor

    [doctor] = await one(app, select(Doctor).where(Doctor.full_name == full_name))
    return doctor.id


# --- An album whose every photo carries its own words -------------------------------------------------------------


async def test_each_caption_of_an_album_counts_against_the_limit_and_the_resident_is_told_of_one_that_does_not_fit(
        app: App) -> None:
    """Three photos sent at once, each captioned in the phone's album editor ("the corridor", "the toilet", and a long
    story under the third). The captions are her description, each once, in order; one that does not fit beside
    the others is not silently left out of it: she is told, as for a typed text, and the photo keeps its words."""
    app.settings.feedback.max_text_chars = 60
    person = await resident(app, 7201)
    await to_description_step(app, person)
    story = "Потом мы ждали в коридоре ещё три часа, и никто к нам не вышел"
    reply = await person.album([PHOTO_A, PHOTO_B, PHOTO_A + b"3"], captions=["Грязь в коридоре", "И в туалете",
                                                                            story])
    told = RU("description.caption_too_long", length=len(story),
              limit=60 - len("Грязь в коридоре\n\nИ в туалете\n\n"))
    assert told in reply.texts, reply.texts
    kept = RU("description.received", length=len("Грязь в коридоре\n\nИ в туалете"), files=3, limit=10)
    assert any(kept in text for text in person.all_texts()), reply.texts
    preview = (await person.press(RU("when.today"))).text
    assert "Грязь в коридоре\n\nИ в туалете" in preview and preview.count("Грязь в коридоре") == 2  # text and file
    await person.press(RU("preview.submit"))
    [review] = await one(app, select(Review))
    assert review.text == "Грязь в коридоре\n\nИ в туалете"
    media = await one(app, select(ReviewMedia).order_by(ReviewMedia.position))
    assert [m.caption for m in media] == ["Грязь в коридоре", "И в туалете", story]


async def test_every_caption_of_a_three_photo_album_is_the_description_once(app: App) -> None:
    person = await resident(app, 7202)
    await to_description_step(app, person)
    reply = await person.album([PHOTO_A, PHOTO_B, PHOTO_A + b"3"], captions=["Грязь в коридоре", "И в туалете",
                                                                            "И в кабинете"])
    text = "Грязь в коридоре\n\nИ в туалете\n\nИ в кабинете"
    assert RU("description.received", length=len(text), files=3, limit=10) in person.last_text, reply.texts
    await person.press(RU("when.today"))
    await person.press(RU("preview.submit"))
    [review] = await one(app, select(Review))
    assert review.text == text


# --- A reference number typed into a review just begun --------------------------------------------------------------


async def test_a_reference_typed_where_the_polyclinic_is_asked_of_a_review_just_begun_offers_nothing_to_continue(
        app: App) -> None:
    """She pressed "Leave feedback", then thought better of it and typed the number of last week's complaint. Nothing
    of the new review was chosen or written: she gets the card, and is not asked to "continue" a review that holds
    nothing; the empty review is let go."""
    person = await resident(app, 7301)
    await submit_quick_review(app, person, kind="complaint")
    await person.press(RU("menu.leave_feedback"), [m for m in person.bot_messages() if m.reply_markup][-1])
    assert await draft_of(person) == {}

    reply = await person.send("AL-2026-000001")

    assert plain(RU("my.card_title", reference="AL-2026-000001")) in "\n".join(reply.texts)
    assert RU("unfinished.prompt") not in reply.texts, reply.texts
    assert RU("unfinished.resume") not in str(reply.buttons)
    state = person.dp.fsm.resolve_context(person.bot, person.chat_id, person.user["id"])
    assert await state.get_state() is None


async def test_the_room_a_caption_left_out_is_told_of_counts_the_paragraph_break_it_would_need(app: App) -> None:
    """A caption joins the others as a paragraph of its own (a blank line between): beside 29 characters of captions
    under a 60 limit, 29 more fit, not 31. One of 30 was told "it has 30 characters, and at most 31 can be added"."""
    app.settings.feedback.max_text_chars = 60
    person = await resident(app, 7203)
    await to_description_step(app, person)
    captions = ["Грязь в коридоре", "И в туалете", "Ждали три часа, никто не вышел"]
    assert len(captions[2]) == 30
    reply = await person.album([PHOTO_A, PHOTO_B, PHOTO_A + b"3"], captions=captions)
    assert RU("description.caption_too_long", length=30, limit=29) in reply.texts, reply.texts


# --- A review on behalf of a relative: whose name is asked ---------------------------------------------------------


async def to_violation_preview(app: App, person) -> None:
    await to_kind_step(app, person, about_doctor=False)
    await choose_kind(person, "violation", "extortion")
    await describe(person, "Требовали 10 000 тенге за справку для мамы.")


async def test_the_name_prompt_on_behalf_of_a_parent_asks_for_the_writers_own_name_and_the_patient_is_kept(
        app: App) -> None:
    """She writes for her mother and presses ✍️ Enter my full name. Seen: "type your surname, first name and
    patronymic", and many type the mother's, stored as the appellant. The appellant is the one who writes (the law
    considers no anonymous appeal); the mother is the patient, kept as "on whose behalf". The prompt says so."""
    person = await resident(app, 7203)
    await to_violation_preview(app, person)
    await person.press(RU("preview.edit_behalf"))
    preview = plain((await person.press(RU("behalf.parent"))).text)
    assert RU("preview.appellant_behalf") in preview, preview
    reply = await person.press(RU("preview.enter_name"))
    assert reply.text == RU("preview.name_prompt_behalf"), reply.texts
    await person.send(FULL_NAME)
    await person.press(RU("preview.submit"))
    [review] = await one(app, select(Review))
    assert (review.appellant_name, review.on_behalf) == (FULL_NAME, "parent")


async def test_the_name_prompt_of_one_writing_for_herself_is_the_plain_one(app: App) -> None:
    person = await resident(app, 7204)
    await to_violation_preview(app, person)
    assert RU("preview.appellant_behalf") not in plain(person.last_text)
    reply = await person.press(RU("preview.enter_name"))
    assert reply.text == RU("preview.name_prompt"), reply.texts
    await person.send(FULL_NAME)
    await person.press(RU("preview.submit"))
    [review] = await one(app, select(Review))
    assert (review.appellant_name, review.on_behalf) == (FULL_NAME, "self")


@pytest.mark.parametrize("language", ["kk", "ru", "en"])
def test_the_name_prompt_on_behalf_says_the_writers_name_not_the_patients_in_every_language(language: str) -> None:
    from bot.l10n import Translator

    l10n = Translator()[language]
    prompt, plain_prompt = l10n("preview.name_prompt_behalf"), l10n("preview.name_prompt")
    assert prompt != plain_prompt and l10n("preview.appellant_behalf") not in ("", "preview.appellant_behalf")
    patient = {"kk": "науқас", "ru": "пациент", "en": "patient"}[language]
    assert patient in prompt.lower() and patient in l10n("preview.appellant_behalf").lower()


# --- Files sent before the review is begun: their captions that do not fit are said so ---------------------------


STORY = "Потом мы ждали в коридоре ещё три часа, и никто к нам не вышел"
CAPTIONS = ["Грязь в коридоре", "И в туалете", STORY]
FITTING = "Грязь в коридоре\n\nИ в туалете"


async def test_an_album_at_the_menu_whose_caption_does_not_fit_is_said_so_when_the_review_begins(app: App) -> None:
    """Three captioned photos sent at the menu, then Yes, start a review: the third caption does not fit beside the
    others. Seen: nothing said, the description without it. Expected: the words the description step says."""
    app.settings.feedback.max_text_chars = 60
    person = await resident(app, 7205)
    await person.album([PHOTO_A, PHOTO_B, PHOTO_A + b"3"], captions=CAPTIONS)
    reply = await person.press(RU("menu_offer.start"))
    told = RU("description.caption_too_long", length=len(STORY), limit=60 - len(FITTING) - len("\n\n"))
    assert told in reply.texts, reply.texts
    assert reply.texts.count(told) == 1
    await person.send("17")
    await person.press(RU("target.clinic"))
    await choose_kind(person, "gratitude", stars="5⭐")
    await person.press(RU("when.today"))
    await person.press(RU("preview.submit"))
    [review] = await one(app, select(Review))
    assert review.text == FITTING
    media = await one(app, select(ReviewMedia).order_by(ReviewMedia.position))
    assert [m.caption for m in media] == CAPTIONS  # each file keeps its words
