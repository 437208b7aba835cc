"""A resident who misuses the review conversation, found by a tester acting as them: an elderly woman writing for
her mother, who types her story wherever she is, changes the language halfway, sends a voice note or a sticker
where text is asked, presses yesterday's buttons, sends two messages at once, or a captioned photo at the stars."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from storage.models import Review, ReviewMedia
from tests.conftest import App
from tests.flows import (
    FULL_NAME,
    PHOTO_A,
    RU,
    VOICE,
    T,
    choose_kind,
    describe,
    kind_button,
    one,
    resident,
    to_kind_step,
)

pytestmark = pytest.mark.usefixtures("demo_directory")

EN = T["en"]
WHOM = "Я пишу за маму, ей восемьдесят два года, сама она не умеет"
WHAT = "Терапевт накричала на неё и не стала осматривать, сказала приходить завтра"
STARS = "Поставлю одну звезду, потому что так с пожилыми людьми нельзя"


async def test_a_story_typed_where_a_button_is_asked_for_is_kept_for_the_description(app: App) -> None:
    """She does not see the buttons as questions: she types her story where whom it is about is asked, again where
    the kind is, and again at the stars. Each is kept for the description, as a photo sent there is, said so with the
    question again; none is answered with a hint and dropped."""
    person = await resident(app, 7401)
    await person.press(RU("menu.leave_feedback"))
    await person.send("17")

    reply = await person.send(WHOM)
    assert reply.texts[0] == RU("description.story_kept", length=len(WHOM)), reply.texts
    assert [RU("target.clinic")] in reply.buttons
    await person.press(RU("target.clinic"))
    reply = await person.send(WHAT)
    assert reply.texts[0] == RU("description.story_kept", length=len(WHOM) + 2 + len(WHAT)), reply.texts
    assert RU("kind.gratitude") in str(reply.buttons)
    await person.press(kind_button("complaint", "rudeness"))
    reply = await person.send(STARS)
    assert RU("description.story_kept", length=len(WHOM) + len(WHAT) + len(STARS) + 4) == reply.texts[0]
    assert ["1⭐", "2⭐", "3⭐", "4⭐", "5⭐"] in reply.buttons
    reply = await person.press("1⭐")
    assert WHAT in reply.text and STARS in reply.text  # the description step shows what is kept
    await person.press(RU("when.today"))
    await person.press(RU("preview.submit"))
    [review] = await one(app, select(Review))
    assert review.text == "\n\n".join([WHOM, WHAT, STARS]) and review.rating == 1


async def draft_of(person) -> dict:
    state = person.dp.fsm.resolve_context(person.bot, person.chat_id, person.user["id"])
    return (await state.get_data()).get("draft", {})


async def test_a_short_text_where_the_stars_are_asked_is_still_a_hint_not_the_description(app: App) -> None:
    person = await resident(app, 7402)
    await to_kind_step(app, person)
    await person.press(RU("kind.gratitude"))
    reply = await person.send("хорошо")
    assert reply.texts == [RU("hint.rating"), RU("rating.prompt")]
    assert "text" not in await draft_of(person)


@pytest.mark.parametrize("how", ["command", "menu"])
async def test_the_language_changed_halfway_goes_on_in_the_new_language_with_everything_kept(
        app: App, how: str) -> None:
    """Her granddaughter set the phone to English: at the stars she switches with /language, or with the menu's
    🌐 button of yesterday's menu still in the chat above. The review is offered to continue, and goes on in English
    where it was."""
    person = await resident(app, 7403)
    yesterdays_menu = await person.command("start")  # a menu left in the chat, its buttons still there
    await person.command("start")  # today's, where the review begins
    await to_kind_step(app, person)
    await person.press(RU("kind.gratitude"))
    if how == "command":
        await person.command("language")
    else:
        await person.press(RU("menu.language"), message=yesterdays_menu.messages[-1])
    reply = await person.press("English")
    assert reply.texts[-1] == EN("unfinished.prompt")
    reply = await person.press(EN("unfinished.resume"))
    assert reply.text == EN("rating.prompt") and ["1⭐", "2⭐", "3⭐", "4⭐", "5⭐"] in reply.buttons
    await person.press("5⭐")
    preview = await describe(person, "Thank you, doctor", l10n=EN)
    assert EN("preview.submit") in str(preview.buttons) and "5⭐" in preview.text
    await person.press(EN("preview.submit"))
    [review] = await one(app, select(Review))
    assert (review.kind, review.rating, review.text) == ("gratitude", 5, "Thank you, doctor")


async def test_voice_notes_where_text_the_date_and_the_name_are_asked_are_all_evidence(app: App) -> None:
    """She cannot type well: a voice note is her description, another comes where the date is asked, and a third
    after "Enter the full name". Each is a file of the appeal; the date and the name typed after them are taken."""
    person = await resident(app, 7404)
    await to_kind_step(app, person, about_doctor=False)
    await choose_kind(person, "complaint", "rudeness", "1⭐")
    reply = await person.voice(VOICE)
    assert RU("description.received", length=0, files=1, limit=10) in reply.text
    await person.press(RU("when.date"))
    reply = await person.voice(VOICE + b"2")
    assert reply.texts == [RU("evidence.kept_for_description", files=2, limit=10), RU("when.date_prompt")]
    await person.send("20.11")
    await person.press(RU("preview.enter_name"))
    reply = await person.voice(VOICE + b"3")
    assert RU("preview.evidence", count=3) in reply.text
    reply = await person.send(FULL_NAME)
    assert FULL_NAME in reply.text
    await person.press(RU("preview.submit"))
    [review] = await one(app, select(Review))
    assert (review.appellant_name, str(review.incident_date)) == (FULL_NAME, "2026-11-20")
    assert [m.kind for m in await one(app, select(ReviewMedia))] == ["voice", "voice", "voice"]


@pytest.mark.parametrize("step", ["clinic", "target", "rating", "description", "preview"])
async def test_a_sticker_at_any_step_gets_the_hint_and_the_step_again_and_changes_nothing(app: App, step: str) -> None:
    person = await resident(app, 7405)
    await person.press(RU("menu.leave_feedback"))
    if step != "clinic":
        await person.send("17")
    if step in ("rating", "description", "preview"):
        await person.press(RU("target.clinic"))
        await person.press(RU("kind.gratitude"))
    if step in ("description", "preview"):
        await person.press("5⭐")
    if step == "preview":
        await describe(person, "Спасибо")
    before = await draft_of(person)
    reply = await person.sticker()
    assert reply.texts[0] == RU(f"hint.{step}"), reply.texts
    assert await draft_of(person) == before


async def test_yesterdays_buttons_of_steps_already_answered_are_out_of_date_and_change_nothing(app: App) -> None:
    """At the preview, a day later, she presses buttons of messages from yesterday: the stars, a kind, whom it is
    about. Each says it is out of date; the preview is unchanged and is sent."""
    person = await resident(app, 7406)
    await to_kind_step(app, person)
    await person.press(RU("kind.gratitude"))
    await person.press("5⭐")
    await describe(person, "Спасибо")
    before = await draft_of(person)
    app.clock.advance(days=1)
    for data in ("fr:overall:1", "fk:complaint:rudeness", "ft:clinic"):
        reply = await person.press_data(data)
        assert reply.callback_answers == [RU("errors.stale_button")], data
    assert await draft_of(person) == before
    await person.press(RU("preview.submit"))
    [review] = await one(app, select(Review))
    assert (review.kind, review.rating, review.doctor_id is not None) == ("gratitude", 5, True)


async def test_a_captioned_photo_at_the_stars_then_two_messages_at_once_make_one_description(app: App) -> None:
    """At the stars she sends the photo of the doctor's name plate with "спасибо ей!" under it, then presses 5, then
    sends two messages one right after the other. The caption and both messages are the description, in order."""
    person = await resident(app, 7407)
    await to_kind_step(app, person)
    await person.press(RU("kind.gratitude"))
    reply = await person.photo(PHOTO_A, caption="Табличка врача, спасибо ей!")
    assert reply.texts == [RU("evidence.kept_for_description", files=1, limit=10), RU("rating.prompt")]
    reply = await person.press("5⭐")
    assert "Табличка врача, спасибо ей!" in reply.text  # shown as kept at the description step
    await person.send("Первое сообщение")
    await person.send("Второе сообщение")
    await person.press(RU("when.today"))
    await person.press(RU("preview.submit"))
    [review] = await one(app, select(Review))
    assert review.text == "Табличка врача, спасибо ей!\n\nПервое сообщение\n\nВторое сообщение"
    [photo] = await one(app, select(ReviewMedia))
    assert photo.caption == "Табличка врача, спасибо ей!"


async def test_a_complaint_written_for_her_mother_names_the_mother_as_on_whose_behalf(app: App) -> None:
    person = await resident(app, 7408)
    await to_kind_step(app, person, about_doctor=False)
    await choose_kind(person, "complaint", "rudeness", "1⭐")
    await describe(person, "Врач накричал на мою маму, ей 82 года.")
    await person.press(RU("preview.edit_behalf"))
    reply = await person.press(RU("behalf.parent"))
    assert RU("behalf.parent") in reply.text
    reply = await person.send(FULL_NAME)
    assert FULL_NAME in reply.text
    await person.press(RU("preview.submit"))
    [review] = await one(app, select(Review))
    assert (review.on_behalf, review.appellant_name) == ("parent", FULL_NAME)
