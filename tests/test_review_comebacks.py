"""Residents coming back to a review in progress, found by a tester acting as them: a reference number typed into
the chat a week later, a voice note or a photo sent where a button is asked for, old buttons of a review already
sent."""

from __future__ import annotations

import pytest

from tests.conftest import App
from tests.flows import RU, choose_kind, plain, resident, submit_quick_review

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


@pytest.mark.parametrize("step", ["clinic", "description", "preview"])
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
