"""By webhook, the update's last reply after the commit goes as the answer to Telegram's request (`WebhookReply`):
what the person sees is the same as by polling, in the same order, and nothing that must be seen to have gone out
goes that way."""

from __future__ import annotations

import json

import pytest
from aiogram.methods import AnswerCallbackQuery, EditMessageText, SendMessage, SendPhoto
from aiogram.types import BufferedInputFile
from sqlalchemy import select

from bot.services.people import CONSENT_VERSION
from bot.unit_of_work import InfrastructureUnavailable, WebhookReply
from storage.models import ProcessedUpdate
from tests.conftest import App
from tests.flows import RU, T, one
from tests.test_delivery import CHAT, commits_fail, submit_update, to_preview, unit_of_work

KK = T["kk"]


def calls_made(app: App, since: int) -> list[str]:
    """The methods the bot called itself since `since` (a webhook answer's call is made by Telegram, later)."""
    return [call.__api_method__ for call in app.session.calls[since:]]


async def test_a_newcomers_start_by_webhook_is_the_requests_answer_and_the_bot_calls_nothing(app: App) -> None:
    person = app.user(4801, language_code="ru")
    person.by_webhook = True
    before = len(app.session.calls)
    reply = await person.command("start")
    [answer] = person.webhook_answers
    assert isinstance(answer, SendMessage) and answer.chat_id == person.chat_id
    # The one call was Telegram's, made from the answer: the person sees the same screen as by polling.
    assert calls_made(app, before) == ["sendMessage"]
    assert reply.text.startswith(RU("language.prompt_all")) and CONSENT_VERSION in reply.text
    assert RU("consent.accept") in str(reply.buttons)


async def test_by_webhook_a_press_is_answered_in_the_requests_answer_unless_the_answer_says_something(
        app: App) -> None:
    person = app.user(4802, language_code="ru")
    person.by_webhook = True
    await person.command("start")
    carried = len(person.webhook_answers)
    before = len(app.session.calls)
    reply = await person.press("Қазақша")
    # The language switch answers with a text ("Language chosen"): a text may state a fact, so the bot sends it
    # itself, after its edit; the webhook answer carries nothing.
    assert calls_made(app, before) == ["editMessageText", "answerCallbackQuery"]
    assert len(person.webhook_answers) == carried
    assert reply.text.startswith(KK("language.prompt_all")) and KK("consent.accept") in str(reply.buttons)
    assert reply.callback_answers == [KK("language.chosen")]
    # "I agree" answers with no text, only to stop the spinner: that answer is carried, after the bot's messages.
    before = len(app.session.calls)
    reply = await person.press(KK("consent.accept"))
    assert KK("consent.accepted") in reply.texts and reply.callback_answers == [None]
    assert len(person.webhook_answers) == carried + 1 and isinstance(person.webhook_answers[-1], AnswerCallbackQuery)
    # The bot's own calls: no answer among them (the one in the list came from the webhook answer, made last).
    made = calls_made(app, before)
    assert "answerCallbackQuery" not in made[:-1] and made[-1] == "answerCallbackQuery"


@pytest.mark.usefixtures("demo_directory")
async def test_a_receipt_goes_first_and_the_menu_after_it_in_the_webhook_answer(app: App) -> None:
    person = app.user(4803, language_code="ru")
    await person.command("start")
    await person.press("Русский")
    await person.press(RU("consent.accept"))
    await to_preview(app, person)
    person.by_webhook = True
    before = len(app.session.calls)
    reply = await person.press(RU("preview.submit"))
    [receipt] = [text for text in reply.texts if "AL-" in text]
    # Sent in the order queued: the receipt by the bot, the menu last, as the answer.
    assert calls_made(app, before)[-2:] == ["sendMessage", "sendMessage"]
    assert reply.texts.index(receipt) < reply.texts.index(RU("menu.title"))
    assert isinstance(person.webhook_answers[-1], SendMessage) and person.webhook_answers[-1].text == RU("menu.title")


@pytest.mark.usefixtures("demo_directory")
async def test_an_update_that_could_not_be_stored_answers_nothing_and_its_redelivery_answers_once(app: App) -> None:
    unit_of_work(app)
    person = app.user(4804, language_code="ru")
    await person.command("start")
    await person.press("Русский")
    await person.press(RU("consent.accept"))
    await to_preview(app, person)
    press = submit_update(app, person)
    answer = WebhookReply(app.bot)  # the one the endpoint gives the update, read after every try failed
    with commits_fail(app, times=10), pytest.raises(InfrastructureUnavailable):
        await app.dp.feed_update(app.bot, press, webhook_reply=answer)
    assert answer.call is None and answer.body is None  # 503: nothing promised, nothing carried
    person.by_webhook = True
    assert await one(app, select(ProcessedUpdate).where(ProcessedUpdate.update_id == press.update_id)) == []
    await person.feed(press)  # Telegram delivers it again
    assert [call.text for call in person.webhook_answers] == [RU("menu.title")]
    await person.feed(press)  # and once more: handled before, so skipped, and nothing is answered twice
    assert len(person.webhook_answers) == 1


async def test_only_a_call_that_may_go_unseen_is_taken_for_the_answer(app: App) -> None:
    def taken(call) -> bool:
        return WebhookReply(app.bot).take(call.as_(app.bot))

    assert taken(SendMessage(chat_id=4805, text="a private chat"))
    assert taken(AnswerCallbackQuery(callback_query_id="1", text="a spinner"))
    assert taken(EditMessageText(chat_id=4805, message_id=3, text="an edit in a private chat"))
    # The office's group chat takes 20 messages a minute: a refusal there must be seen and the message tried again.
    assert not taken(SendMessage(chat_id=CHAT, text="an alert"))
    assert not taken(SendMessage(chat_id="@channel", text="by name"))
    # A file goes as a form, which the JSON answer cannot carry.
    assert not taken(SendPhoto(chat_id=4805, photo=BufferedInputFile(b"\xff\xd8", "evidence.jpg")))
    reply = WebhookReply(app.bot)
    assert reply.take(SendMessage(chat_id=4805, text="Сәлем", reply_markup=None).as_(app.bot))
    # The bot's defaults included, as the bot's own call would post them (bot/telegram_session.py).
    body = json.loads(json.dumps(reply.body))
    assert body["method"] == "sendMessage" and body["chat_id"] == 4805 and body["text"] == "Сәлем"
    assert body["parse_mode"] == "HTML" and "reply_markup" not in body


async def test_a_stated_fact_queued_last_is_sent_by_the_bot_and_never_carried_unseen(app: App) -> None:
    from bot.unit_of_work import AfterCommit

    queued = AfterCommit()
    queued(lambda: AnswerCallbackQuery(callback_query_id="7").as_(app.bot), repeatable=True)
    # A receipt: a stated fact, not repeatable.
    queued(lambda: SendMessage(chat_id=4806, text="Registered: AL-2026-000001").as_(app.bot))
    reply = WebhookReply(app.bot)
    before = len(app.session.calls)
    await queued.flush(1, reply)
    assert reply.call is None and calls_made(app, before) == ["answerCallbackQuery", "sendMessage"]
    # The same two the other way round: the answer, last and repeatable, is carried.
    queued = AfterCommit()
    queued(lambda: SendMessage(chat_id=4806, text="Registered: AL-2026-000002").as_(app.bot))
    queued(lambda: AnswerCallbackQuery(callback_query_id="8").as_(app.bot), repeatable=True)
    await queued.flush(2, reply)
    assert isinstance(reply.call, AnswerCallbackQuery) and calls_made(app, before)[2:] == ["sendMessage"]
