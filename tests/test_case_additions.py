"""Files a resident adds to her case once it is with the office (an answer to its question, or more from My
appeals), with her own words under them: kept with the file, and read under it in the office's chat."""

from __future__ import annotations

import pytest
from aiogram.methods import SendMessage, SendPhoto
from sqlalchemy import select

from bot.telegram_limits import CAPTION_LIMIT
from storage.models import ReviewMedia
from tests.conftest import App
from tests.flows import PHOTO_A, RU, one
from tests.test_alerts import CHAT, relay_for, submit_violation
from tests.test_feedback_misuse import office_asks
from tests.test_resident_misuse import my_card

pytestmark = pytest.mark.usefixtures("demo_directory")
RECEIPT = "Чек из кассы на 5000 тенге"


async def added_from_my_appeals(app: App, user_id: int, caption: str):
    """A violation report in the office's chat, and a photo with `caption` added to it later from My appeals."""
    reference = await submit_violation(app, user_id, photos=False)
    relay = relay_for(app)
    await relay.run_once()
    person = app.user(user_id)
    card = await my_card(person, reference)
    await person.press(RU("case_resident.add_button"), message=card.messages[-1])
    reply = await person.photo(PHOTO_A, caption=caption)
    assert reply.text == RU("reply.received")
    await person.press(RU("reply.done"))
    app.clock.advance(seconds=5)
    await relay.run_once()
    return reference


async def test_a_photo_added_from_my_appeals_keeps_its_caption_and_the_office_reads_it_under_the_photo(
        app: App) -> None:
    reference = await added_from_my_appeals(app, 4101, RECEIPT)
    [photo] = await one(app, select(ReviewMedia))
    assert photo.caption == RECEIPT
    [sent] = [call for call in app.session.sent_messages(CHAT) if isinstance(call, SendPhoto)]
    assert sent.caption == RU("alert.resident_added_files", reference=reference) + "\n" + RECEIPT
    # The words reach the office once, with the file they are about.
    assert not [call for call in app.session.sent_messages(CHAT)
                if isinstance(call, SendMessage) and RECEIPT in call.text]


async def test_a_photo_answering_the_offices_question_keeps_its_caption_and_the_office_reads_it(app: App) -> None:
    relay, question = await office_asks(app, 4102)
    person = app.user(4102)
    await person.press(RU("notify.reply_button"), message=question.message_id)
    await person.photo(PHOTO_A, caption=RECEIPT)
    await person.press(RU("reply.done"))
    app.clock.advance(seconds=5)
    await relay.run_once()
    [photo] = await one(app, select(ReviewMedia))
    assert photo.caption == RECEIPT
    [sent] = [call for call in app.session.sent_messages(CHAT) if isinstance(call, SendPhoto)]
    assert sent.caption.endswith("\n" + RECEIPT)


async def test_a_caption_too_long_to_go_under_the_photo_goes_whole_just_before_it(app: App) -> None:
    story = ("Кассир выдал чек без печати, прошу проверить. " * 30)[:CAPTION_LIMIT]
    reference = await added_from_my_appeals(app, 4103, story)
    [photo] = await one(app, select(ReviewMedia))
    assert photo.caption == story
    in_chat = app.session.sent_messages(CHAT)
    at = next(i for i, call in enumerate(in_chat) if isinstance(call, SendPhoto))
    words, sent = in_chat[at - 1], in_chat[at]
    assert isinstance(words, SendMessage)
    assert words.text == RU("alert.resident_added_files", reference=reference) + "\n" + story
    assert not sent.caption
