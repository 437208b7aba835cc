"""Coming back to a side conversation (answering the office, disagreeing) after a day away, and pressing "I
disagree" twice: what the resident typed is never joined silently to something else, nor lost. Each test failed
on the code before its fix."""

from __future__ import annotations

import pytest
from aiogram.fsm.storage.base import StorageKey
from sqlalchemy import select

from storage.models import AuditLog, Case
from tests.conftest import App
from tests.flows import PHOTO_A, PHOTO_B, RU, one, to_description_step
from tests.test_feedback_misuse import office_asks
from tests.test_resident_misuse import office_did

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


# --- "I disagree", the reason typed the next day --------------------------------------------------------------


async def disagreed_and_left(app: App, user_id: int):
    reference = await office_did(app, user_id, "alert.button_close", "Проверка проведена, факты не подтвердились.")
    person = app.user(user_id)
    answer = [m for m in app.session.history(user_id) if m.text and "факты не подтвердились" in m.text][-1]
    await person.press(RU("case_notify.disagree_button"), message=answer.message_id)
    app.clock.advance(days=1, hours=3)
    return person, reference, answer


REASON = "Проверяющий со мной не связался и на место не выезжал."


async def test_a_reason_typed_the_next_day_is_asked_about_and_sent_when_confirmed(app: App) -> None:
    """Done: she pressed "I disagree" under the office's answer, and typed her reason the next day.
    Seen: "start a review with this text?", the reason lost, the case closed.
    Expected: asked whether this is her disagreement with the answer to her appeal; Yes reopens it with that
    reason."""
    person, reference, _answer = await disagreed_and_left(app, 4203)
    reply = await person.send(REASON)
    assert reply.text == RU("case_resident.late_reason_question", reference=reference), reply.texts
    assert reply.buttons == [[RU("case_resident.late_reason_yes")], [RU("case_resident.late_reason_no")]]
    reply = await person.press(RU("case_resident.late_reason_yes"))
    [case] = await one(app, select(Case))
    # The same words as a reason typed in time: reopened, and by when the repeated appeal is answered.
    assert RU("case_resident.reopened", reference=reference) + "\n" + RU(
        "case_resident.reopened_due", due=case.due_date.strftime("%d.%m.%Y")) in reply.texts, reply.texts
    reasons = [entry.details["reason"] for entry in
               await one(app, select(AuditLog).where(AuditLog.action == "case.reopened"))]
    assert case.status != "closed" and reasons == [REASON], (case.status, reasons)


async def test_a_text_the_next_day_that_is_no_reason_is_offered_as_a_review_and_the_case_stays_closed(
        app: App) -> None:
    """No: the case stays closed and the text is what it is now, offered as a new review as at the menu."""
    person, _reference, _answer = await disagreed_and_left(app, 4204)
    await person.send(REASON)
    reply = await person.press(RU("case_resident.late_reason_no"))
    assert reply.text == RU("menu_offer.prompt"), reply.texts
    [case] = await one(app, select(Case))
    assert case.status == "closed"


async def test_no_after_a_late_text_with_a_review_set_aside_offers_that_review_with_the_text(app: App) -> None:
    """She was writing a review when she pressed "I disagree"; the next day's text is no reason: No gives the
    review back, asked about as after any day away, and Continue adds the text to it."""
    await office_did(app, 4207, "alert.button_close", "Проверка проведена, факты не подтвердились.")
    person = app.user(4207)
    answer = [m for m in app.session.history(4207) if m.text and "факты не подтвердились" in m.text][-1]
    await person.command("start")
    await to_description_step(app, person)
    await person.send(STORY)
    await person.press(RU("case_notify.disagree_button"), message=answer.message_id)
    app.clock.advance(days=2)
    await person.send(LATER)
    reply = await person.press(RU("case_resident.late_reason_no"))
    assert reply.text == RU("unfinished.prompt_with_text"), reply.texts
    reply = await person.press(RU("unfinished.resume"))
    assert STORY in reply.text and LATER in reply.text, reply.texts
    [case] = await one(app, select(Case))
    assert case.status == "closed"


# --- "I disagree" pressed twice -------------------------------------------------------------------------------


async def test_i_disagree_pressed_twice_says_the_reason_is_awaited_and_asks_nothing_new(app: App) -> None:
    """A double tap: the second press says she is already asked for her reason, and sends no second prompt."""
    reference = await office_did(app, 4205, "alert.button_close", "Проверка проведена, факты не подтвердились.")
    person = app.user(4205)
    answer = [m for m in app.session.history(4205) if m.text and "факты не подтвердились" in m.text][-1]
    await person.press(RU("case_notify.disagree_button"), message=answer.message_id)
    reply = await person.press(RU("case_notify.disagree_button"), message=answer.message_id)
    assert reply.texts == [] and reply.callback_answers == [
        RU("case_resident.disagree_already_asked", reference=reference)], reply


async def test_i_disagree_pressed_again_after_the_case_reopened_says_it_is_open_again(app: App) -> None:
    """After her reason reopened the case, the old button once more: told the case is already open again with her
    reason; nothing is reopened or recorded twice."""
    reference = await office_did(app, 4206, "alert.button_close", "Проверка проведена, факты не подтвердились.")
    person = app.user(4206)
    answer = [m for m in app.session.history(4206) if m.text and "факты не подтвердились" in m.text][-1]
    await person.press(RU("case_notify.disagree_button"), message=answer.message_id)
    await person.send(REASON)
    reply = await person.press(RU("case_notify.disagree_button"), message=answer.message_id)
    assert reply.callback_answers == [RU("case_resident.disagreed_already", reference=reference)], reply
    await person.send("Ещё одна причина")  # not a second disagreement
    [case] = await one(app, select(Case))
    reopened = await one(app, select(AuditLog).where(AuditLog.action == "case.reopened"))
    assert case.reopened_count == 1 and len(reopened) == 1


# --- A file held after a day away: its caption that does not fit the description is said so -----------------------


async def test_a_photo_held_after_a_day_away_whose_caption_does_not_fit_is_said_so_when_the_review_continues(
        app: App) -> None:
    """Her description is the caption of a photo; she answers the office, and two days later sends another photo
    whose long caption does not fit beside the first. Continue: seen, nothing said and the caption out of the text;
    expected, the words the description step says of such a caption."""
    from bot.services.drafts import join_parts

    app.settings.feedback.max_text_chars = 60
    _relay, question = await office_asks(app, 4208)
    person = app.user(4208)
    await person.command("start")
    await to_description_step(app, person)
    first = "Спасибо за перевязку"
    await person.photo(PHOTO_A, caption=first)
    await person.press(RU("notify.reply_button"), message=question.message_id)
    await person.send("Кабинет 214")
    app.clock.advance(days=2)
    long_caption = "Ещё врач принял без очереди и всё объяснил, спасибо"
    assert len(join_parts(first, long_caption, together=False)) > 60 >= len(long_caption)
    reply = await person.photo(PHOTO_B, caption=long_caption)
    assert reply.text == RU("unfinished.prompt_with_text"), reply.texts
    reply = await person.press(RU("unfinished.resume"))
    told = RU("description.caption_too_long", length=len(long_caption), limit=60 - len(first) - len("\n\n"))
    assert told in reply.texts, reply.texts


async def test_a_photo_alone_held_after_a_day_away_is_asked_about_as_files_not_as_a_text(app: App) -> None:
    """Two days after answering the office she sends a photo with no caption. Seen: "add what you just wrote ...
    or start a new one with this text", though she wrote nothing. Expected: the files she sent named as such."""
    person = await review_set_aside_and_left(app, 4209)
    reply = await person.photo(PHOTO_B)
    assert reply.text == RU("unfinished.prompt_with_files"), reply.texts
    reply = await person.press(RU("unfinished.resume"))
    assert STORY in reply.text and "Файлов: 1" in reply.text, reply.texts

