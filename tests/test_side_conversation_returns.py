"""Coming back to a side conversation (answering the office, disagreeing) after a day away: what the resident
typed is never joined silently to something else, nor lost. Each test failed on the code before its fix."""

from __future__ import annotations

import pytest
from aiogram.fsm.storage.base import StorageKey

from tests.conftest import App
from tests.flows import RU, to_description_step
from tests.test_feedback_misuse import office_asks

pytestmark = pytest.mark.usefixtures("demo_directory")

STORY = "Медсестра Айжан очень помогла с перевязкой"
LATER = "Забыла добавить: врач принял без очереди, спасибо ему."


async def review_set_aside_and_left(app: App, user_id: int):
    """She writes a gratitude (the description typed, the step still open), presses ✍️ Reply under the office's
    question, answers it without Done, and is away for two days."""
    _relay, question = await office_asks(app, user_id)
    person = app.user(user_id)
    await person.command("start")
    await to_description_step(app, person)
    await person.send(STORY)
    await person.press(RU("notify.reply_button"), message=question.message_id)
    await person.send("Кабинет 214")
    app.clock.advance(days=2)
    return person


async def test_a_text_after_a_day_away_from_a_set_aside_review_is_asked_about_and_continues_it(app: App) -> None:
    """Done: as above, then she types a new line two days later.
    Seen: "received: N characters", the line silently joined to the two-day-old gratitude.
    Expected: as after every other way back into an unfinished review, she is asked to continue it or start over;
    Continue adds what she typed to it."""
    person = await review_set_aside_and_left(app, 4201)
    reply = await person.send(LATER)
    assert reply.text == RU("unfinished.prompt_with_text"), reply.texts
    assert reply.buttons == [[RU("unfinished.resume")], [RU("unfinished.start_over")]], reply.buttons
    reply = await person.press(RU("unfinished.resume"))
    assert STORY in reply.text and LATER in reply.text, reply.texts


async def test_starting_over_after_a_day_away_begins_with_what_she_typed(app: App) -> None:
    """Start over: the old draft goes, and the new review begins with the text she typed (nothing lost)."""
    person = await review_set_aside_and_left(app, 4202)
    await person.send(LATER)
    await person.press(RU("unfinished.start_over"))
    data = await app.dp.storage.get_data(StorageKey(bot_id=app.bot.id, chat_id=4202, user_id=4202))
    draft = data.get("draft") or {}
    assert draft.get("text") == LATER, data
