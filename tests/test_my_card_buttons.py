"""The buttons of a review's card in /my once the review is no longer the resident's to act on (the office rejected
the appeal, she withdrew it, a moderator hid its text), and old or forged presses of them: refused with an alert,
nothing stored changed."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.callbacks import MyAppeal, MyAppealAction
from bot.services import moderation_queue
from storage.models import AuditLog, Case, OutboxMessage, Review
from storage.repositories import Repositories
from tests.conftest import App
from tests.flows import RU, one, resident, submit_quick_review
from tests.test_alerts import CHAT, card_in_chat, prosecutor, relay_for, submit_violation, write_and_send
from tests.test_resident_misuse import my_card, office_did

pytestmark = pytest.mark.usefixtures("demo_directory")
ADD, WITHDRAW = RU("case_resident.add_button"), RU("case_resident.withdraw_button")
ONLY_BACK = [[RU("my.back_to_list")], [RU("menu.home")]]


async def stored(app: App) -> tuple[list[tuple[str, str]], list[str], int]:
    """Each review's and its case's status, the case actions on record, and the messages queued for the office."""
    reviews = await one(app, select(Review).order_by(Review.id))
    cases = {case.review_id: case.status for case in await one(app, select(Case))}
    actions = [a for a in await one(app, select(AuditLog.action).order_by(AuditLog.id)) if a.startswith("case.")]
    to_office = len(await one(app, select(OutboxMessage).where(OutboxMessage.chat_id == CHAT)))
    return [(review.status, cases.get(review.id)) for review in reviews], actions, to_office


async def appeal_with_card(app: App, user_id: int):
    """A violation report, its card in the office's chat, and its card in /my with Add and Withdraw, as well as the
    question Withdraw asks (both still on the resident's screen later)."""
    reference = await submit_violation(app, user_id, photos=False)
    await relay_for(app).run_once()
    person = app.user(user_id)
    card = await my_card(person, reference)
    assert [ADD, WITHDRAW] in card.buttons
    question = await person.press(WITHDRAW, message=card.messages[-1])
    return person, reference, card.messages[-1], question.messages[-1]


def data_of(message, text: str) -> str:
    """The button's data as the message had it when shown (a press edits the buttons away; an old chat keeps them)."""
    return next(b.callback_data for row in message.reply_markup.inline_keyboard for b in row if b.text == text)


async def presses_are_refused(person, card, question) -> None:
    for button, message in ((ADD, card), (WITHDRAW, card), (RU("case_resident.withdraw_yes"), question)):
        reply = await person.press_data(data_of(message, button), message=message)
        assert reply.callback_answers == [RU("case_resident.not_open")], (button, reply.callback_answers)
        assert reply.texts == [], (button, reply.texts)


async def test_a_card_shown_before_the_office_rejected_the_appeal_changes_nothing(app: App) -> None:
    person, reference, card, question = await appeal_with_card(app, 5201)
    await write_and_send(prosecutor(app), RU("alert.button_reject"), "Доводы не подтвердились.",
                         card_in_chat(app).message_id)
    before = await stored(app)
    assert before[0] == [("rejected", "rejected")]
    await presses_are_refused(person, card, question)
    # Add was refused, so her next words are not filed with the rejected appeal either.
    await person.send("Ещё хотела добавить про кабинет 214")
    assert await stored(app) == before
    assert (await my_card(person, reference)).buttons == ONLY_BACK


async def test_a_card_shown_before_the_withdrawal_changes_nothing(app: App) -> None:
    person, reference, card, question = await appeal_with_card(app, 5202)
    done = await person.press(RU("case_resident.withdraw_yes"), message=question)
    assert RU("case_resident.withdrawn", reference=reference) in done.texts
    before = await stored(app)
    assert before[0] == [("withdrawn", "withdrawn")] and before[1].count("case.withdrawn") == 1
    # The first card's buttons, and the question answered once already: withdrawn once, the office told once.
    await presses_are_refused(person, card, question)
    assert await stored(app) == before
    assert (await my_card(person, reference)).buttons == ONLY_BACK


async def test_the_reply_under_the_offices_question_after_the_withdrawal_changes_nothing(app: App) -> None:
    """The office asked her something; she withdrew the appeal instead. The question's Reply button, still in the
    chat, must not open an answer to a case nobody handles any more."""
    reference = await office_did(app, 5207, "alert.button_ask", "Укажите номер кабинета.")
    person = app.user(5207)
    question = [m for m in person.bot_messages() if m.reply_markup and "номер кабинета" in (m.text or "")][-1]
    card = await my_card(person, reference)
    await person.press(WITHDRAW, message=card.messages[-1])
    await person.press(RU("case_resident.withdraw_yes"))
    before = await stored(app)
    reply = await person.press(RU("notify.reply_button"), message=question)
    assert reply.callback_answers == [RU("reply.not_waiting")] and reply.texts == []
    await person.send("Кабинет 214")
    assert await stored(app) == before


async def hide_by_moderator(app: App, review_id: int) -> None:
    async with app.pool() as session, session.begin():
        await moderation_queue.reject(Repositories(session), moderation_queue.REVIEW, review_id,
                                      app.settings.moderation.reject_reasons[0], 9001, app.clock.now, app.settings)


async def test_a_review_the_moderator_hid_keeps_only_what_still_applies(app: App) -> None:
    """A moderator's rejection hides the text from the public; the appeal is handled all the same (the resident is
    told so), so its card keeps Add and Withdraw, while a gratitude, which has nothing to add to, shows none."""
    app.settings.moderation.queue = True
    person = await resident(app, 5203)
    await submit_quick_review(app, person, kind="gratitude")
    await submit_quick_review(app, person, kind="complaint")
    gratitude, complaint = await one(app, select(Review).order_by(Review.id))
    await hide_by_moderator(app, gratitude.id)
    await hide_by_moderator(app, complaint.id)
    assert (await my_card(person, gratitude.reference)).buttons == ONLY_BACK
    assert [ADD, WITHDRAW] in (await my_card(person, complaint.reference)).buttons


# --- Forged withdrawals ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("action", [MyAppealAction.WITHDRAW, MyAppealAction.WITHDRAW_CONFIRM, MyAppealAction.ADD])
async def test_a_forged_withdrawal_of_a_review_without_a_case_changes_nothing(app: App, action) -> None:
    """A gratitude is not an appeal: the card offers no Withdraw, but a button made up with its id asked "Withdraw
    the appeal?" and then withdrew the gratitude (gone from the ratings, "withdrawn" in My reviews)."""
    person = await resident(app, 5204)
    await submit_quick_review(app, person, kind="gratitude")
    [review] = await one(app, select(Review))
    before = await stored(app)
    assert before[0] == [("submitted", None)]
    reply = await person.press_data(MyAppeal(review_id=review.id, action=action).pack())
    assert reply.callback_answers == [RU("case_resident.not_an_appeal")]
    assert reply.texts == []
    assert await stored(app) == before


@pytest.mark.parametrize("action", [MyAppealAction.WITHDRAW, MyAppealAction.WITHDRAW_CONFIRM, MyAppealAction.ADD])
async def test_a_forged_withdrawal_of_someone_elses_appeal_changes_nothing(app: App, action) -> None:
    await appeal_with_card(app, 5205)
    [review] = await one(app, select(Review))
    before = await stored(app)
    stranger = await resident(app, 5206)
    reply = await stranger.press_data(MyAppeal(review_id=review.id, action=action).pack())
    assert reply.callback_answers == [RU("errors.stale_button")]
    assert reply.texts == []
    assert await stored(app) == before
