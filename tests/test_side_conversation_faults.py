"""The resident's side conversations (answering the office, disagreeing) met the way people meet them: Reply
pressed twice, a long reason pasted in parts, an answer left without Done and the chat opened days later. Found by
testers acting as residents and injecting faults; each test failed on the code before its fix."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.scheduler import apply_retention
from storage.models import Case
from tests.conftest import App
from tests.flows import RU, one
from tests.test_alerts import CHAT, card_in_chat, prosecutor, relay_for, write_and_send
from tests.test_feedback_misuse import office_asks, replying_to, told_the_office
from tests.test_resident_misuse import office_did
from tests.test_staff_misuse import chat_texts, office_card, office_sends

pytestmark = pytest.mark.usefixtures("demo_directory")


async def test_pressing_reply_again_after_answering_does_not_leave_the_case_waiting_for_the_resident(
        app: App) -> None:
    """Done: the office asks for the room number; the resident presses ✍️ Reply under the question, sends
    "Кабинет 214" (told "received and passed to the prosecutor's office"), then presses ✍️ Reply under the same
    question once more (a second tap, or to add something), thinks better of it and presses Done.
    Seen: "You sent nothing, so the office still waits for your information", right after "received".
    Stored: the answer reached the office's queue, but the case stays waiting_resident: the office's list shows it
    waiting for her, and nobody works on it.
    Expected: a side conversation begun while one is going (set_aside) ends the first as end_side_conversation does
    (the answer given gives the case back), or keeps its `answered`; she is thanked, and the case is the office's."""
    _reference, card = await office_card(app, 3001)
    await office_sends(app, card, "alert.button_ask", "Укажите номер кабинета.")
    person = app.user(3001)
    question = [m for m in app.session.history(3001) if m.text and "номер кабинета" in m.text][-1]
    await person.press(RU("notify.reply_button"), message=question.message_id)
    received = await person.send("Кабинет 214")
    assert RU("reply.received") in received.texts
    await person.press(RU("notify.reply_button"), message=question.message_id)
    done = await person.press(RU("reply.done"))
    [case] = await one(app, select(Case))
    assert case.status != "waiting_resident" and RU("reply.nothing_sent") not in done.texts, (case.status, done.texts)


async def test_a_disagreement_pasted_longer_than_allowed_is_not_reopened_with_its_last_fragment(app: App) -> None:
    """Done: the resident presses "I disagree" under the office's answer and pastes a 5,900-character reason;
    Telegram delivers it as two messages (4,096 characters, then the rest a moment later).
    Seen: the first part is refused ("too long: at most 3000 characters"), then the rest, which begins in the middle
    of a word, is taken as the whole reason: "your appeal is open again, the office received your reason".
    Stored: the case reopened with the fragment as the reason; the office's new card shows it.
    Expected: as for the staff's and officers' long pastes (handlers/long_texts.py), the rest of a refused text is
    refused with it: the case stays closed and she is asked again for a shorter reason."""
    from storage.models import AuditLog

    _reference, card = await office_card(app, 3001)
    await office_sends(app, card, "alert.button_close", "Проверка проведена, факты не подтвердились.")
    person = app.user(3001)
    answer = [m for m in app.session.history(3001) if m.text and "факты не подтвердились" in m.text][-1]
    await person.press(RU("case_notify.disagree_button"), message=answer.message_id)
    paste = "Проверяющий со мной не связался, свидетелей не опросил, запись в журнале исправлена. " * 70
    head, tail = paste[:4096], paste[4096:].rstrip()
    first = await person.send(head)
    assert first.texts == [RU("case_resident.too_long", limit=3000)]
    await person.send(tail)  # the rest Telegram cut off, a moment later
    [case] = await one(app, select(Case))
    reasons = [entry.details["reason"][:40] for entry in
               await one(app, select(AuditLog).where(AuditLog.action == "case.reopened"))]
    assert case.status == "closed" and reasons == [], (case.status, reasons)


async def test_ten_days_after_answering_the_office_a_new_story_is_not_sent_to_the_office(app: App) -> None:
    """The office asked her a question; she pressed ✍️ Reply and answered, but did not press ✅ Done (the office
    already had her answer, she thought). Ten days later she opens the chat and writes a thank-you for another
    doctor. The bot says "✅ Получено и передано в прокуратуру" and posts her thank-you in the prosecutor's chat as
    more information on the old violation report. Expected: an answer left open that long is over; a new text is
    offered as a new review (or she is at least asked), not sent to the prosecutor's office."""
    await office_did(app, 5090, "alert.button_ask", "Уточните дату приёма?")
    person = app.user(5090)
    await person.press(RU("notify.reply_button"))
    await person.send("Приём был 20 ноября.")
    app.clock.advance(days=10)
    story = "Здравствуйте, хочу поблагодарить терапевта Касымову из 17 поликлиники, очень внимательная."
    reply = await person.send(story)
    app.clock.advance(seconds=5)
    await relay_for(app).run_once()
    assert RU("reply.received") not in reply.texts, reply.texts
    assert not [text for text in chat_texts(app, CHAT) if story in text], "the thank-you went to the prosecutor"


async def test_an_answer_to_the_office_without_done_leaves_the_case_waiting_for_her_forever(app: App) -> None:
    """She answered the office's question (✍️ Reply, then her text, which reached the office's chat) but never
    pressed ✅ Done. A month later the daily retention job drops her conversation as a stale draft. The case still
    says "waiting for the applicant" and nothing can ever change that from her side: /cases waiting lists it, though
    she answered a month ago. Expected: an answer that was given counts as given once the conversation is dropped
    (as leaving it by any other way does: handlers/side_conversation.end_side_conversation)."""
    await office_did(app, 5091, "alert.button_ask", "Укажите номер кабинета.")
    person = app.user(5091)
    await person.press(RU("notify.reply_button"))
    await person.send("Кабинет 214.")
    app.clock.advance(days=31)
    await apply_retention(app.pool, app.settings, app.clock)
    [case] = await one(app, select(Case))
    assert case.status != "waiting_resident", "the case waits for an answer she gave a month ago"


async def test_an_answer_going_on_within_the_day_still_reaches_the_office(app: App) -> None:
    """The idle rule ends only a conversation left for a day: the second half of an answer, written after lunch,
    is still the answer; and after Done the case is the office's again."""
    await office_did(app, 5092, "alert.button_ask", "Уточните дату приёма?")
    person = app.user(5092)
    await person.press(RU("notify.reply_button"))
    assert RU("reply.received") in (await person.send("Приём был 20 ноября.")).texts
    app.clock.advance(hours=5)
    assert RU("reply.received") in (await person.send("И ещё: в кабинете 214.")).texts
    app.clock.advance(hours=20)  # a day from her last word, not from the first
    assert RU("reply.received") in (await person.send("Врач был один.")).texts
    await person.press(RU("reply.done"))
    [case] = await one(app, select(Case))
    assert case.status != "waiting_resident"


# --- A day idle, then the resident writes again: what they wrote is never joined silently, nor lost -------------


async def test_a_telegram_reply_to_the_open_question_a_day_later_is_still_the_answer(app: App) -> None:
    """Done: she pressed ✍️ Reply and answered "Кабинет 214" but not Done; the next evening she remembers the
    doctor's name, and answers with Telegram's own Reply on the office's question.
    Seen: the idle rule ended the conversation (handing the case back), then "nothing is asked now": the name lost.
    Expected: the question is still open (the case waits for her, Done was never pressed), so a reply quoting it is
    its answer: received, in the office's chat, and Done hands the case back."""
    relay, question = await office_asks(app, 4103)
    person = app.user(4103)
    await person.press(RU("notify.reply_button"), message=question.message_id)
    await person.send("Кабинет 214")
    app.clock.advance(days=2)
    reply = await person.feed(replying_to(person, "Врач: Иванова А. С.", question))
    assert reply.texts == [RU("reply.received")], reply.texts
    assert await told_the_office(app, relay, "Врач: Иванова А. С.")
    [case] = await one(app, select(Case))
    assert case.status == "waiting_resident"
    await person.press(RU("reply.done"))
    [case] = await one(app, select(Case))
    assert case.status != "waiting_resident"


# --- A second question in the same case ---------------------------------------------------------------------


async def first_answered_then_asked_again(app: App, user_id: int):
    """She presses ✍️ Reply under the office's question and answers "Кабинет 214", without Done; the office then asks
    for the doctor's name, and the question reaches her."""
    relay, question = await office_asks(app, user_id)
    person = app.user(user_id)
    await person.press(RU("notify.reply_button"), message=question.message_id)
    await person.send("Кабинет 214")
    await write_and_send(prosecutor(app), RU("alert.button_ask"), "Укажите ФИО врача.", card_in_chat(app).message_id)
    app.clock.advance(seconds=5)
    await relay.run_once()
    return person


async def test_a_second_question_has_its_own_answer_and_done_with_nothing_new_says_so(app: App) -> None:
    """Done: the office asks for the room number; she presses ✍️ Reply, answers, and leaves without Done. The office
    asks a second question (the doctor's name); she presses ✍️ Reply under it, thinks, and presses Done.
    Seen: "Thank you, your information was added"; the case went back to the office as if the name were given.
    Expected: the second question is unanswered: "you sent nothing", and the case still waits for her."""
    person = await first_answered_then_asked_again(app, 4108)
    second = [m for m in app.session.history(4108) if m.text and "ФИО врача" in m.text][-1]
    await person.press(RU("notify.reply_button"), message=second.message_id)
    done = await person.press(RU("reply.done"))
    assert RU("reply.nothing_sent") in done.texts, done.texts
    [case] = await one(app, select(Case))
    assert case.status == "waiting_resident"
    # Answered now, the case goes back.
    await person.press(RU("notify.reply_button"), message=second.message_id)
    await person.send("Иванова А. С.")
    done = await person.press(RU("reply.done"))
    [case] = await one(app, select(Case))
    assert case.status != "waiting_resident" and RU("reply.nothing_sent") not in done.texts


async def test_an_answer_to_the_first_question_left_open_is_not_given_for_the_second_when_dropped(
        app: App) -> None:
    """The first question answered without Done, a second question asked, and the conversation dropped by the
    retention job a month later: the second question was never answered, so the case still waits for her."""
    await first_answered_then_asked_again(app, 4109)
    app.clock.advance(days=31)
    await apply_retention(app.pool, app.settings, app.clock)
    [case] = await one(app, select(Case))
    assert case.status == "waiting_resident"


async def test_a_late_answer_going_on_after_the_second_question_answers_it(app: App) -> None:
    """She stays in the conversation: the office asks again and she writes the name straight away (no Reply
    pressed again); Done hands the case back."""
    person = await first_answered_then_asked_again(app, 4110)
    await person.send("Иванова А. С.")
    done = await person.press(RU("reply.done"))
    [case] = await one(app, select(Case))
    assert case.status != "waiting_resident" and RU("reply.nothing_sent") not in done.texts
