"""Residents coming back to a review in progress, found by a tester acting as them: a reference number typed into
the chat a week later, a voice note or a photo sent where a button is asked for, old buttons of a review already
sent."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import App
from tests.flows import (
    FULL_NAME,
    PHOTO_A,
    PHOTO_B,
    RU,
    VOICE,
    choose_kind,
    describe,
    kind_button,
    plain,
    resident,
    submit_quick_review,
    to_kind_step,
)

pytestmark = pytest.mark.usefixtures("demo_directory")

STORY = "Очередь три часа, никто не принимал"


async def draft_of(person) -> dict:
    state = person.dp.fsm.resolve_context(person.bot, person.chat_id, person.user["id"])
    return (await state.get_data()).get("draft", {})


async def to_step(app: App, person, step: str) -> None:
    """A complaint about polyclinic No. 17 begun and left at `step` (the description already written for `preview`)."""
    await person.press(RU("menu.leave_feedback"), [m for m in person.bot_messages() if m.reply_markup][-1])
    if step == "clinic":
        return
    await person.send("17")
    await person.press(RU("target.clinic"))
    await choose_kind(person, "complaint", "waiting", "1⭐")
    await person.send(STORY)
    if step == "preview":
        await person.press(RU("when.today"))


# --- A reference number typed in the middle of a review ---------------------------------------------------------


@pytest.mark.parametrize("step", ["description", "preview"])  # a review just begun: test_review_second_thoughts
async def test_a_reference_typed_a_week_later_in_an_unfinished_review_opens_its_card_and_keeps_the_review(
        app: App, step: str) -> None:
    """Last week she sent a complaint (AL-2026-000001) and began another, left unfinished. Now she types the number
    of the first, to see how it stands: she gets its card, and the unfinished one is offered to go on with; the
    number is not added to the unfinished complaint's text (where it would be published), nor searched for as a
    polyclinic."""
    person = await resident(app, 3101)
    await submit_quick_review(app, person, kind="complaint")
    await to_step(app, person, step)
    before = await draft_of(person)
    app.clock.advance(days=7)

    reply = await person.send("AL 2026 1")

    assert plain(RU("my.card_title", reference="AL-2026-000001")) in "\n".join(reply.texts)
    assert reply.texts[-1] == RU("unfinished.prompt")
    assert await draft_of(person) == before
    await person.press(RU("unfinished.resume"))
    assert "AL-2026" not in person.last_text


# --- Files sent where a button is asked for --------------------------------------------------------------------


async def test_a_voice_note_or_a_photo_sent_before_the_description_is_kept_for_it(app: App) -> None:
    """Her grandson's complaint, dictated: a voice note where the polyclinic is asked, and the photo of the
    doctor's name plate where the stars are. Both are kept, she is told so with the step again, and the description
    step and the preview list them; nothing she sent is lost for not being where the bot expected it."""
    person = await resident(app, 3102)
    await person.press(RU("menu.leave_feedback"))

    reply = await person.voice(VOICE, duration=40)
    assert RU("evidence.kept_for_description", files=1, limit=10) in reply.texts[0]
    assert reply.texts[-1] == plain(RU("clinic.prompt"))

    await person.send("17")
    await person.press(RU("target.clinic"))
    await person.press(kind_button("complaint"))
    reply = await person.photo(PHOTO_A, caption="Табличка на двери")
    assert RU("evidence.kept_for_description", files=2, limit=10) in reply.texts[0]
    assert reply.buttons[0] == ["1⭐", "2⭐", "3⭐", "4⭐", "5⭐"]

    reply = await person.press("1⭐")
    assert plain(RU("description.current", text="Табличка на двери", files=2)) in reply.text
    await person.press(RU("when.date"))
    reply = await person.photo(PHOTO_B)
    assert RU("evidence.kept_for_description", files=3, limit=10) in reply.texts[0]
    preview = await person.send("25.11.2026")
    assert RU("preview.evidence", count=3) in preview.text
    assert [item["kind"] for item in (await draft_of(person))["media"]] == ["voice", "photo", "photo"]


# --- Old buttons of a review already sent ------------------------------------------------------------------------


async def test_old_buttons_of_a_review_already_sent_do_not_act_on_the_one_being_written(app: App) -> None:
    """Last week's complaint is sent; this week's is being written, its text in. Scrolling up, she presses "Today"
    and "Cancel" under last week's messages: they are out of date (said so), and this week's complaint stays where it
    was, its date not set by a button of another review, nor offered to be deleted."""
    person = await resident(app, 3103)
    await submit_quick_review(app, person, kind="complaint")
    old = {button: message for message in person.bot_messages() if message.reply_markup
           for row in message.reply_markup.inline_keyboard for button in (b.text for b in row)}
    await to_step(app, person, "description")
    before = await draft_of(person)
    app.clock.advance(days=7)

    for button in (RU("when.today"), RU("flow.cancel"), RU("flow.back")):
        reply = await person.press(button, old[button])
        assert reply.callback_answers == [RU("errors.stale_button")], button
        assert not reply.texts, button
    assert await draft_of(person) == before
    # This week's own buttons work as before ("I don't remember" means the same on any day; a week-old "Today" is
    # asked again, see below).
    reply = await person.press(RU("when.unknown"))
    assert plain(RU("preview.title_appeal")) in reply.text


async def test_today_pressed_a_week_after_it_was_shown_asks_the_date_again(app: App) -> None:
    """She wrote the complaint on Friday and left it at the date question. A week later she opens the chat and presses
    "Today" under that message: she meant that Friday, not this one. The bot does not store a day she did not choose;
    it says when the buttons were shown and asks again with buttons that mean what they say now."""
    person = await resident(app, 3108)
    await to_step(app, person, "description")
    asked = person.last_message
    shown_on = app.clock().astimezone(app.settings.zone).date()
    before = await draft_of(person)
    app.clock.advance(days=7)

    reply = await person.press(RU("when.today"), asked)

    assert reply.texts[0] == RU("when.asked_again", day=RU.day(shown_on))
    assert RU("when.today") in str(reply.buttons) and RU("when.yesterday") in str(reply.buttons)
    assert await draft_of(person) == before
    reply = await person.press(RU("when.yesterday"))  # the new buttons: yesterday is yesterday of today
    assert plain(RU("preview.title_appeal")) in reply.text
    today = app.clock().astimezone(app.settings.zone).date()
    assert (await draft_of(person))["incident_date"] == (today - timedelta(days=1)).isoformat()


# --- The reference number typed as "№ 1" --------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["№ 1", "№1", "#1"])
async def test_her_reference_typed_as_a_number_sign_and_its_number_opens_its_card(app: App, typed: str) -> None:
    """She remembers her appeal as "№ 1" (the receipt's AL-2026-000001 read out by her grandson): her own appeal's
    card opens, instead of an offer to start a new review with "№ 1" as its text."""
    person = await resident(app, 3104)
    await submit_quick_review(app, person, kind="complaint")
    app.clock.advance(days=7)

    reply = await person.send(typed)

    assert reply.texts[0].startswith(plain(RU("my.card_title", reference="AL-2026-000001")))
    assert RU("menu_offer.prompt") not in reply.texts


@pytest.mark.parametrize("typed", ["№ 1", "AL 2026 1"])
async def test_her_reference_typed_in_the_top_lists_specialty_search_opens_its_card(app: App, typed: str) -> None:
    """She opened "Top specialists" (which searches a typed specialty), then remembered to check her appeal and typed
    its number there: her appeal's card opens, as at the menu, instead of "no such specialty"."""
    person = await resident(app, 3109)
    await submit_quick_review(app, person, kind="complaint")
    await person.command("top")

    reply = await person.send(typed)

    assert reply.texts and reply.texts[0].startswith(plain(RU("my.card_title", reference="AL-2026-000001"))), \
        reply.texts
    assert RU("top_search.not_found") not in reply.texts


async def test_a_number_sign_with_a_number_not_hers_is_still_a_polyclinic_or_a_story(app: App) -> None:
    """"№17" with no appeal of hers numbered 17 is polyclinic No. 17, offered as a review as before."""
    person = await resident(app, 3105)
    await submit_quick_review(app, person, kind="complaint")

    reply = await person.send("№17")

    assert reply.texts == [RU("menu_offer.prompt")]


# --- /start in the middle -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("asked", ["preview.edit_outcome", "preview.change_name"])
async def test_after_start_and_continue_a_text_at_the_preview_is_not_taken_for_the_question_left_behind(
        app: App, asked: str) -> None:
    """At the preview he pressed "What I expect" (or "Change my full name"), then thought better of it and typed
    /start; "Continue" showed the preview again. What he types next is one more thing about the visit: offered to the
    description, as at any preview, not stored silently as the outcome he expects (or refused as a name)."""
    person = await resident(app, 3106)
    await to_step(app, person, "preview")
    await person.send(FULL_NAME)
    await person.press(RU(asked))
    await person.command("start")
    await person.press(RU("unfinished.resume"))

    more = "И ещё она не выписала направление на анализы"
    reply = await person.send(more)

    assert reply.texts == [RU("description.offer_add", length=len(more))]
    draft = await draft_of(person)
    assert "outcome" not in draft and draft["appellant_name"] == FULL_NAME


# --- Back from the detailed stars ---------------------------------------------------------------------------------


async def test_back_from_the_detailed_stars_goes_back_a_question_then_to_the_preview_keeping_the_overall_stars(
        app: App) -> None:
    """At the preview she chose "Rate in more detail", gave the first criterion 4 stars, then pressed Back twice:
    the first Back asks that criterion again, the second brings back the preview she came from, with her five stars.
    Back used to clear the overall stars, ask them again, and send her through the criteria once more."""
    person = await resident(app, 3107)
    await to_kind_step(app, person, about_doctor=False)
    await choose_kind(person, "gratitude", stars="5⭐")
    await describe(person, "Спасибо регистратуре")
    await person.press(RU("preview.rate_details"))
    await person.press("4⭐")

    reply = await person.press(RU("flow.back"))
    assert "(1 " in reply.text and RU("criteria.attentiveness") in reply.text
    reply = await person.press(RU("flow.back"))
    assert plain(RU("preview.title")) in reply.text
    assert RU("preview.rating", value=RU("flow.stars", n=5)) in reply.text
    assert RU("preview.rate_details") in str(reply.buttons)
    assert (await draft_of(person)).get("criteria", {}) == {}
