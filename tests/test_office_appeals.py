"""The office and the resident through an appeal's life, as a tester acting as an officer and as the resident found
it: a Reply on the resident's message instead of a button, an answer typed in another language than the appeal's,
a forwarding after its three working days, a withdrawal the card did not show, a draft left while the case was
answered and reopened. Each asserts what the person sees and what is stored."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from storage.models import Case, Response
from tests.conftest import App
from tests.flows import RU, one
from tests.test_alerts import CHAT
from tests.test_alerts import prosecutor as office_member
from tests.test_staff_misuse import chat_texts, deliver_all, office_card, office_sends, replying_to

pytestmark = pytest.mark.usefixtures("demo_directory")


async def test_a_reply_on_the_residents_answer_in_the_chat_is_discussion_and_says_how_to_answer(app: App) -> None:
    reference, card = await office_card(app)
    await office_sends(app, card, "alert.button_ask", "Укажите дату приёма.")
    person = app.user(3001)
    question = [m for m in app.session.history(3001) if m.text and "Укажите дату" in m.text][-1]
    await person.press(RU("notify.reply_button"), message=question.message_id)
    await person.send("Приём был 20 ноября.")
    await person.press(RU("reply.done"))
    await deliver_all(app)
    answer_in_chat = [m for m in app.session.history(CHAT) if m.text and "20 ноября" in m.text][-1]
    officer = office_member(app)
    # The officer answers the resident the way one answers a person in a group: Telegram's Reply on their message.
    reply = await officer.feed(replying_to(app, officer, "Спасибо, проверим и ответим.", answer_in_chat))
    assert reply.texts == [RU("case_note.offer")]  # said that the resident sees nothing, and how to answer
    saved = await officer.press(RU("case_note.button"), message=reply.messages[0].message_id)
    assert RU("case_note.saved", reference=reference, name="Прокурор") in saved.texts
    await deliver_all(app)
    assert not any("проверим и ответим" in text for text in chat_texts(app, 3001))
    assert await one(app, select(Response)) == []
