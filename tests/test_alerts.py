"""Urgent reviews reach the prosecutor's chat via the outbox, are handled with buttons, and the resident hears back."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from aiogram.methods import GetChatMember, SendMediaGroup, SendMessage
from sqlalchemy import select

from bot.cases import cards as alerts
from bot.cases import morning
from bot.l10n import Translator
from bot.services.outbox import Pacer
from bot.services.relay import Relay
from bot.services.reviews import work_calendar
from storage.models import AuditLog, Case, OutboxMessage, Response, Review
from storage.repositories import Repositories
from tests.conftest import BACKENDS, App
from tests.flows import PHOTO_A, PHOTO_B, RU, choose_clinic_17, one, resident, to_kind_step

pytestmark = pytest.mark.usefixtures("demo_directory")
CHAT = -1001234567890  # the conftest settings' prosecutor chat
PROSECUTOR, STRANGER = 7001, 7002
EN = Translator()["en"]


def relay_for(app: App, **kwargs) -> Relay:
    return Relay(app.bot, app.pool, app.clock, app.settings.admins,
                 group_alerts=alerts.group_alerts_for(app.settings), **kwargs)


async def submit_violation(app: App, user_id: int = 3001, *, text: str = "Врач требовал взятку 30000 тенге.",
                           photos: bool = True, language: str = "ru", button: str = "Русский") -> str:
    person = await resident(app, user_id, language, button)
    l10n = Translator()[language]
    await person.press(l10n("menu.leave_feedback"))
    name = {"ru": "Городская поликлиника №17", "en": "City Polyclinic No. 17"}[language]
    await choose_clinic_17(person, "17", l10n, name)
    await person.press(l10n("target.clinic"))
    await person.press(l10n("kind.violation"))
    await person.press(l10n("category.extortion"))
    await person.send(text)
    if photos:
        await person.album([PHOTO_A, PHOTO_B])
    await person.press(l10n("when.today"))
    await person.contact("+77017654321")
    reply = await person.press(l10n("preview.submit"))
    [reference] = [word for text in reply.texts for word in text.split() if word.startswith("AL-")]
    return reference


def reference_in(text: str) -> str:
    return re.search(r"AL-\d{4}-\d{6}", text).group()


def card_in_chat(app: App):
    return [m for m in app.session.history(CHAT) if m.text and "Why:" not in m.text and m.reply_markup][-1]


def prosecutor(app: App, user_id: int = PROSECUTOR, first_name: str = "Прокурор"):
    return app.user(user_id, chat_id=CHAT, first_name=first_name)


async def write_and_send(officer, button: str, words: str, card_id: int):
    """Press a card's button, write the words, see the preview, press Send: the deliberate way to the resident."""
    await officer.press(button, message=card_id)
    preview = await officer.send(words)
    assert preview.texts[0].startswith("👁"), preview.texts
    return await officer.press(RU("case_draft.button_send"))


async def test_a_violation_reaches_the_chat_with_card_buttons_and_album(app: App) -> None:
    reference = await submit_violation(app)
    [alert, media] = await one(app, select(OutboxMessage).where(OutboxMessage.chat_id == CHAT)
                               .order_by(OutboxMessage.id))
    assert (alert.kind, alert.status, media.kind) == ("alert", "pending", "alert_media")
    assert await relay_for(app).run_once() == 2
    card = next(c for c in app.session.sent_messages(CHAT) if isinstance(c, SendMessage))
    for expected in (reference, RU("urgency.critical"), "Городская поликлиника №17",
                     "взятку", "+77017654321", "18.12.2026", RU("category.extortion")):
        assert expected in card.text, expected
    # The reasons in plain Russian words, not the classifier's English codes; the appeal's language is named.
    assert RU("case_reason.group_bribe", words="«взятку»") in card.text
    assert RU("case_reason.category", category=RU("category.extortion")) in card.text
    assert "bribe words" not in card.text and "category: extortion" not in card.text
    assert RU("case_card.language", language=RU("case_language.ru")) in card.text
    buttons = [b.text for row in card.reply_markup.inline_keyboard for b in row]
    assert buttons == [RU("alert.button_take"), RU("alert.button_fwd"), RU("alert.button_ask"),
                       RU("alert.button_close"), RU("alert.button_reject"), RU("alert.button_extend"),
                       RU("urgency_decision.button_not_urgent"), RU("urgency_decision.button_urgent")]
    [album] = app.session.calls_of(SendMediaGroup)
    assert album.chat_id == CHAT and len(album.media) == 2
    assert album.media[0].caption == RU("alert.evidence_caption", reference=reference)
    # Sent once: a second pass finds nothing to do.
    assert await relay_for(app).run_once() == 0


async def test_take_edits_the_card_and_tells_the_resident_once(app: App) -> None:
    reference = await submit_violation(app)
    relay = relay_for(app)
    await relay.run_once()
    officer = prosecutor(app)
    card = card_in_chat(app)
    reply = await officer.press(RU("alert.button_take"), message=card.message_id)
    assert reply.callback_answers == [RU("alert.done_take")]
    assert RU("case_status.taken") in officer.session.message(CHAT, card.message_id).text
    # Named, never by Telegram id.
    assert "Прокурор" in officer.session.message(CHAT, card.message_id).text
    assert str(PROSECUTOR) not in officer.session.message(CHAT, card.message_id).text
    # A colleague pressing Take is asked first, and nothing changes until they confirm.
    colleague = prosecutor(app, 7003, first_name="Асель")
    question = await colleague.press(RU("alert.button_take"), message=card.message_id)
    assert question.text == RU("case_actions.take_over_question", reference=reference, name="Прокурор")
    [case] = await one(app, select(Case))
    assert case.assignee_telegram_id == PROSECUTOR
    told = await colleague.press(RU("case_actions.take_over_yes"))
    assert told.texts[0] == RU("case_actions.taken_over", reference=reference, name="Асель", previous="Прокурор")
    assert "Асель" in app.session.message(CHAT, card.message_id).text
    app.clock.advance(seconds=5)
    await relay.run_once()
    told = [c.text for c in app.session.sent_messages(3001)
            if isinstance(c, SendMessage) and RU("status.in_progress") in c.text]
    assert len(told) == 1 and reference in told[0]
    [case] = await one(app, select(Case))
    assert case.status == "taken" and case.assignee_telegram_id == 7003
    actions = [a for a in await one(app, select(AuditLog.action)) if a.startswith("case.")]
    assert actions == ["case.taken", "case.taken_over"]


@pytest.mark.parametrize("outage", ["network", "5xx"])
async def test_an_officer_whose_membership_cannot_be_checked_is_told_to_try_again(app: App, outage: str) -> None:
    """Telegram not answering getChatMember says nothing about who pressed: no "members only", and no change."""
    await submit_violation(app)
    await relay_for(app).run_once()
    card = card_in_chat(app)
    officer = prosecutor(app)

    def telegram_fails() -> None:
        if outage == "network":
            app.session.fail_next_network(GetChatMember)
        else:
            app.session.fail_next(GetChatMember, error_code=502, description="Bad Gateway")

    telegram_fails()
    reply = await officer.press(RU("alert.button_take"), message=card.message_id)
    assert reply.callback_answers == [RU("alert.membership_unknown")]
    [case] = await one(app, select(Case))
    assert (case.status, case.assignee_telegram_id) == ("open", None)
    telegram_fails()
    reply = await officer.press(RU("urgency_decision.button_urgent"), message=card.message_id)
    assert reply.callback_answers == [RU("alert.membership_unknown")]
    assert [a for a in await one(app, select(AuditLog.action)) if a.startswith(("case.", "urgency"))] == []
    # Once Telegram answers, the same press works.
    reply = await officer.press(RU("alert.button_take"), message=card.message_id)
    assert reply.callback_answers == [RU("alert.done_take")]
    # Words for a draft, while the check fails again (the cached answer dropped by a change in the chat).
    await officer.press(RU("alert.button_close"), message=card.message_id)
    await officer.feed(app.updates.chat_member(CHAT, PROSECUTOR, old="member", new="administrator"))
    telegram_fails()
    reply = await officer.send("Проверка проведена, нарушение подтверждено.")
    assert reply.texts == [RU("alert.membership_unknown")]
    reply = await officer.send("Проверка проведена, нарушение подтверждено.")
    assert reply.texts[0].startswith("👁")
    # A command while the check fails: told so too, not silence (the error was only logged) and not "members only".
    await officer.press(RU("case_draft.button_cancel"))
    await officer.feed(app.updates.chat_member(CHAT, PROSECUTOR, old="administrator", new="member"))
    telegram_fails()
    telegram_fails()  # the failed update is tried once more: Telegram fails that try too
    reply = await officer.command("cases")
    assert reply.texts == [RU("alert.membership_unknown")]
    assert (await officer.command("cases")).texts != [RU("alert.membership_unknown")]


async def test_strangers_and_forged_buttons_change_nothing(app: App) -> None:
    await submit_violation(app)
    await relay_for(app).run_once()
    app.session.set_chat_member(CHAT, STRANGER, "left")
    card = card_in_chat(app)
    stranger = prosecutor(app, STRANGER)
    for button in (RU("alert.button_take"), RU("alert.button_close"), RU("alert.button_reject")):
        reply = await stranger.press(button, message=card.message_id)
        assert reply.callback_answers == [RU("alert.refused")]
    [case] = await one(app, select(Case))
    # The resident, in their private chat, forges the data of a button they never had (even were they a
    # member of the office's chat, buttons act only under the office's own cards).
    resident_chat = app.user(3001)
    reply = await resident_chat.press_data(f"a1:{case.id}:close")
    assert reply.callback_answers == [RU("alert.refused")]
    # A member forging a button for a case that does not exist.
    assert (await prosecutor(app).press_data("a1:999999:take")).callback_answers == [RU("cases.unknown")]
    [after] = await one(app, select(Case))
    assert (after.status, after.assignee_telegram_id) == ("open", None)
    assert [a for a in await one(app, select(AuditLog.action)) if a.startswith("case.")] == []


async def test_close_with_an_answer_reaches_the_resident_in_their_language(app: App) -> None:
    reference = await submit_violation(app, 3004, text="The doctor demanded a bribe.", language="en",
                                       button="English")
    relay = relay_for(app)
    await relay.run_once()
    officer = prosecutor(app)
    card = card_in_chat(app)
    reply = await officer.press(RU("alert.button_close"), message=card.message_id)
    assert reference in reply.text and RU("case_language.en") in reply.text
    preview = await officer.send("Проверка проведена, врач привлечён к ответственности.")
    # The preview names the appeal's language and is exactly what the resident will get; nothing is sent yet.
    assert RU("case_language.en") in preview.texts[0]
    assert preview.texts[-1].startswith("✅ The prosecutor's office has answered your appeal")
    assert await one(app, select(Response)) == []
    reply = await officer.press(RU("case_draft.button_send"))
    assert RU("alert.done_close", reference=reference) in reply.texts
    assert RU("case_status.closed") in app.session.message(CHAT, card.message_id).text
    await relay.run_once()
    answer = [c.text for c in app.session.sent_messages(3004) if isinstance(c, SendMessage)][-1]
    assert answer.startswith("✅ The prosecutor's office has answered your appeal")
    assert "врач привлечён к ответственности" in answer
    [response] = await one(app, select(Response))
    assert response.author_telegram_id == PROSECUTOR
    [review] = await one(app, select(Review))
    assert review.status == "answered"
    # Closed: the card's action buttons are gone, and a stale press is refused politely.
    assert app.session.message(CHAT, card.message_id).reply_markup is None or not any(
        RU("alert.button_take") == b.text for row in app.session.message(CHAT, card.message_id)
        .reply_markup.inline_keyboard for b in row)
    [case] = await one(app, select(Case))
    assert (await officer.press_data(f"a1:{case.id}:take")).callback_answers == [RU("cases.already_closed")]


async def test_a_reply_to_the_card_is_discussion_and_never_answers(app: App) -> None:
    reference = await submit_violation(app, 3005, photos=False)
    relay = relay_for(app)
    await relay.run_once()
    card = card_in_chat(app)
    officer = prosecutor(app)
    update = app.updates.text("Коллеги, кто возьмёт? Я завтра в суде.", user=officer.user, chat=officer.chat)
    update.message.__dict__["reply_to_message"] = card
    reply = await officer.feed(update)
    assert reply.texts == [RU("case_note.offer")]
    [case] = await one(app, select(Case))
    assert case.status == "open" and await one(app, select(Response)) == []
    # A colleague cannot save someone else's words as a note.
    offer = reply.messages[0]
    assert (await prosecutor(app, 7003).press(RU("case_note.button"), message=offer.message_id)
            ).callback_answers == [RU("case_note.gone")]
    saved = await officer.press(RU("case_note.button"), message=offer.message_id)
    assert RU("case_note.saved", reference=reference, name="Прокурор") in saved.texts
    app.clock.advance(seconds=5)
    await relay.run_once()
    # The resident heard nothing of it: no answer, no note.
    assert not any("суде" in (c.text or "") for c in app.session.sent_messages(3005) if isinstance(c, SendMessage))
    reply = await officer.command("case", reference)
    assert "Я завтра в суде." in reply.text and RU("case_history.case.note") in reply.text
    # Nor does their own card in My reviews show it.
    from bot.callbacks import MyReviewOpen

    [review] = await one(app, select(Review))
    mine = await app.user(3005).press_data(MyReviewOpen(review_id=review.id).pack())
    assert mine.texts and not any("суде" in text or RU("history.other") in text for text in mine.texts)


async def test_reject_ask_and_the_residents_reply_reach_the_chat(app: App) -> None:
    reference = await submit_violation(app, 3006, photos=False)
    relay = relay_for(app)
    await relay.run_once()
    card = card_in_chat(app)
    officer = prosecutor(app)
    await write_and_send(officer, RU("alert.button_ask"), "Укажите, пожалуйста, дату приёма.", card.message_id)
    await relay.run_once()
    person = app.user(3006)
    question = [m for m in app.session.history(3006) if m.text and "Укажите" in m.text][-1]
    reply = await person.press(RU("notify.reply_button"), message=question.message_id)
    assert reply.text == RU("reply.prompt")
    await person.send("Приём был 20 ноября в 10:00.")
    await person.photo(PHOTO_A)
    reply = await person.press(RU("reply.done"))
    assert reply.text == RU("reply.finished", reference=reference)
    app.clock.advance(seconds=5)
    await relay.run_once()
    in_chat = app.session.sent_messages(CHAT)
    assert any(getattr(c, "text", None) and "20 ноября" in c.text for c in in_chat)
    assert any(type(c).__name__ == "SendPhoto" for c in in_chat)
    [case] = await one(app, select(Case))
    assert case.status in ("open", "taken")
    await write_and_send(officer, RU("alert.button_reject"), "Факты не подтвердились.", card.message_id)
    app.clock.advance(seconds=5)
    await relay.run_once()
    told = [c.text for c in app.session.sent_messages(3006) if isinstance(c, SendMessage)][-1]
    assert "Факты не подтвердились." in told
    [review] = await one(app, select(Review))
    assert review.status == "rejected"


async def test_extend_once_to_two_months(app: App) -> None:
    await submit_violation(app, 3007, photos=False)
    relay = relay_for(app)
    await relay.run_once()
    card = card_in_chat(app)
    officer = prosecutor(app)
    await write_and_send(officer, RU("alert.button_extend"), "Нужна экспертиза.", card.message_id)
    [case] = await one(app, select(Case))
    assert case.due_date == date(2027, 1, 26) and case.extended  # two months from 26 Nov 2026
    await relay.run_once()
    told = [c.text for c in app.session.sent_messages(3007) if isinstance(c, SendMessage)][-1]
    assert "26.01.2027" in told and "экспертиза" in told
    reply = await officer.press_data(f"a1:{case.id}:extend")
    assert reply.callback_answers == [RU("cases.cannot_extend")]


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_two_relays_never_send_a_row_twice(app: App, backend: str) -> None:
    for user_id in range(3100, 3104):
        await submit_violation(app, user_id, photos=False)
    first, second = relay_for(app, pacer=Pacer(group_per_minute=100)), relay_for(app, pacer=Pacer(100))
    import asyncio

    await asyncio.gather(first.run_once(), second.run_once())
    cards = [c for c in app.session.sent_messages(CHAT) if isinstance(c, SendMessage)]
    assert len(cards) == 4 and len({reference_in(c.text) for c in cards}) == 4


async def test_429_then_half_an_hour_of_5xx_delivers_everything_in_order_within_pace(app: App) -> None:
    references = [await submit_violation(app, user_id, photos=False) for user_id in range(3200, 3206)]
    relay = relay_for(app, pacer=Pacer(group_per_minute=3))
    app.session.fail_next(SendMessage, error_code=429, description="Too Many Requests: retry after 7",
                          retry_after=7)
    await relay.run_once()
    [first] = await one(app, select(OutboxMessage).where(OutboxMessage.chat_id == CHAT).order_by(OutboxMessage.id)
                        .limit(1))
    assert first.attempts == 0 and first.next_attempt_at == app.clock.now + timedelta(seconds=7)
    outage_ends = app.clock.now + timedelta(minutes=30)
    sent_at = []
    for _ in range(720):  # an hour of passes, 5 seconds apart; the API answers 502 for the first half hour
        app.clock.advance(seconds=5)
        app.session.clear_failures(SendMessage)
        if app.clock.now < outage_ends:
            app.session.fail_next(SendMessage, error_code=502, description="Bad Gateway")
        before = len(app.session.sent_messages(CHAT))
        await relay.run_once()
        sent_at += [app.clock.now] * (len(app.session.sent_messages(CHAT)) - before)
    texts = [c.text for c in app.session.sent_messages(CHAT) if isinstance(c, SendMessage)]
    # After the outage the backlog exceeds the chat's budget, so it may arrive grouped: count references.
    delivered = [reference for text in texts for reference in re.findall(r"AL-\d{4}-\d{6}", text)]
    assert delivered == references  # every alert, in order, once
    for moment in sent_at:
        assert sum(1 for other in sent_at if moment - timedelta(minutes=1) < other <= moment) <= 3
    rows = await one(app, select(OutboxMessage).where(OutboxMessage.chat_id == CHAT))
    assert all(row.status == "sent" for row in rows)


async def test_forbidden_chat_blocks_tells_admins_and_keeps_retrying(app: App) -> None:
    await submit_violation(app, 3300, photos=False)
    relay = relay_for(app)
    app.session.fail_next(SendMessage, error_code=403, description="Forbidden: bot was kicked from the group chat")
    await relay.run_once()
    [row] = await one(app, select(OutboxMessage).where(OutboxMessage.kind == "alert"))
    assert row.status == "blocked"
    await relay.run_once()
    admin_notice = [c.text for c in app.session.sent_messages(9001) if isinstance(c, SendMessage)]
    assert len(admin_notice) == 1 and "Forbidden" in admin_notice[0]
    app.clock.advance(hours=1, seconds=1)
    await relay.run_once()
    [row] = await one(app, select(OutboxMessage).where(OutboxMessage.kind == "alert"))
    assert row.status == "sent"


async def test_a_burst_is_grouped_into_one_message(app: App) -> None:
    references = [await submit_violation(app, user_id, photos=False) for user_id in range(3400, 3404)]
    relay = relay_for(app, pacer=Pacer(group_per_minute=2))
    await relay.run_once()
    [burst] = [c for c in app.session.sent_messages(CHAT) if isinstance(c, SendMessage)]
    assert burst.text.startswith(RU("alert.burst_title", count=4))
    assert all(reference in burst.text for reference in references)
    rows = await one(app, select(OutboxMessage).where(OutboxMessage.kind == "alert"))
    assert {row.status for row in rows} == {"sent"}
    officer = prosecutor(app)
    burst_message = [m for m in app.session.history(CHAT) if m.reply_markup][-1]
    reply = await officer.press(RU("alert.button_open", reference=references[2]), message=burst_message.message_id)
    assert references[2] in reply.text and reply.buttons[0] == [RU("alert.button_take"), RU("alert.button_fwd")]
    # The posted card is now the one a reply to which answers the case.
    [row] = await one(app, select(OutboxMessage).where(OutboxMessage.kind == "alert",
                                                       OutboxMessage.payload["reference"].as_string() == references[2]))
    assert row.sent_message_id == reply.messages[-1].message_id


async def test_deadline_reminders_and_overdue_list(app: App) -> None:
    reference = await submit_violation(app, 3500, photos=False)  # due 18.12.2026
    calendar = work_calendar()
    settings = app.settings

    async def remind_on(day: date) -> list[str]:
        from datetime import UTC, datetime

        now = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=4)  # 09:00 in Almaty
        async with app.pool() as session, session.begin():
            await morning.remind(Repositories(session), settings, calendar, now)
        rows = await one(app, select(OutboxMessage).where(OutboxMessage.kind == "reminder")
                         .order_by(OutboxMessage.id))
        return [row.payload["text"] for row in rows]

    assert await remind_on(date(2026, 12, 11)) == []  # four working days before
    texts = await remind_on(date(2026, 12, 14))  # three working days before: 17, 15, 14 (16 Dec is a holiday)
    soon = RU("reminders.section_soon", days=RU.count("working_days", 3), due="18.12.2026")
    assert len(texts) == 1 and reference in texts[0] and soon in texts[0]
    assert await remind_on(date(2026, 12, 14)) == texts  # a repeated run adds nothing
    assert await remind_on(date(2026, 12, 15)) == texts  # two working days before: nothing new
    assert len(await remind_on(date(2026, 12, 19))) == 1  # Saturday: nothing new
    texts = await remind_on(date(2026, 12, 18))
    assert len(texts) == 2 and RU("reminders.section_today", due="18.12.2026") in texts[1]
    texts = await remind_on(date(2026, 12, 21))
    assert len(texts) == 3 and reference in texts[2] and RU("reminders.overdue", count=1) in texts[2]
    # One message a morning, each case with its Open button.
    [row] = await one(app, select(OutboxMessage).where(OutboxMessage.dedupe_key == "morning:2026-12-21"))
    assert [b["text"] for r in row.payload["reply_markup"]["inline_keyboard"] for b in r] == [
        RU("alert.button_open", reference=reference)]


async def test_cases_and_case_commands(app: App) -> None:
    reference = await submit_violation(app, 3600, photos=False)
    await submit_violation(app, 3601, text="Очень грубый администратор, хамство.", photos=False)
    officer = prosecutor(app)
    reply = await officer.command("cases")
    assert reply.text.splitlines()[0] == RU("cases.title_found", count=2, page=1, pages=1).replace(
        "<b>", "").replace("</b>", "")
    assert reference in reply.text
    reply = await officer.command("case", reference)
    assert reference in reply.text and "case" not in reply.text.split("\n")[0].lower()
    assert RU("case_history.review.submitted") in reply.text and "review.submitted" not in reply.text
    assert str(3600) not in reply.text  # the resident's Telegram id never reaches the office's chat
    assert RU("alert.button_close") in [b for row in reply.buttons for b in row]
    assert (await officer.command("case", "AL-1999-000001")).text == RU("cases.not_found", reference="AL-1999-000001")
    app.session.set_chat_member(CHAT, STRANGER, "left")
    assert (await prosecutor(app, STRANGER).command("cases")).texts == []


@pytest.mark.expect_errors
async def test_outbox_rows_are_written_with_the_review_or_not_at_all(app: App) -> None:
    from aiogram.methods import EditMessageReplyMarkup

    person = await resident(app, 3700)
    await to_kind_step(app, person, about_doctor=False)
    await person.press(RU("kind.violation"))
    await person.press(RU("category.extortion"))
    await person.send("Требовали деньги.")
    await person.press(RU("when.today"))
    # Failing on every try (an unexpected error is tried twice before the person gets an apology).
    app.session.fail_next(EditMessageReplyMarkup, error_code=400, description="Bad Request: odd failure", times=2)
    await person.press(RU("preview.submit"))
    assert await one(app, select(Review)) == [] and await one(app, select(OutboxMessage)) == []
    async with app.pool() as session:
        assert await Repositories(session).outbox.status_counts() == {}


async def test_start_up_check_of_the_prosecutor_chat(app: App) -> None:
    from bot.app import check_prosecutor_chat

    assert await check_prosecutor_chat(app.bot, app.settings, app.pool) is True
    app.session.set_chat_member(CHAT, app.bot.id, "left")
    assert await check_prosecutor_chat(app.bot, app.settings, app.pool) is False
    [notice] = await one(app, select(OutboxMessage).where(OutboxMessage.kind == "admin"))
    assert notice.chat_id == 9001 and str(CHAT) in notice.payload["text"]


async def test_scheduler_jobs_are_safe_to_run_late_and_twice(app: App) -> None:
    from bot.scheduler import forget_old_updates, make_scheduler, morning_reminders

    scheduler = make_scheduler(app.settings, app.pool, relay_for(app), app.clock)
    scheduler.start(paused=True)
    try:
        jobs = {job.id: job for job in scheduler.get_jobs()}
    finally:
        scheduler.shutdown(wait=False)
    assert set(jobs) == {"outbox-sweep", "deadline-reminders", "forget-updates", "weekly-digests", "missed-digests",
                         "missed-morning", "calendar-at-start", "retention"}  # escalating is in deadline-reminders
    assert all(job.coalesce and job.max_instances == 1 and job.misfire_grace_time >= 30 for job in jobs.values())
    # Morning jobs run at the configured time in Almaty, not at the machine's (UTC) 09:00.
    assert str(jobs["deadline-reminders"].trigger.timezone) == "Asia/Almaty"
    assert all(str(job.trigger.timezone) == "Asia/Almaty" for job in jobs.values() if hasattr(job.trigger, "fields"))
    await submit_violation(app, 3800, photos=False)
    app.clock.advance(days=18)  # 14 Dec 2026, 10:00 in Almaty: three working days before the due date
    assert await morning_reminders(app.pool, app.settings, app.clock) == 1
    assert await morning_reminders(app.pool, app.settings, app.clock) == 0
    app.clock.advance(days=8)
    assert await forget_old_updates(app.pool, app.clock) > 0


async def test_a_forwarded_text_is_marked_as_forwarded_on_the_preview_and_the_office_card(app: App) -> None:
    """She forwards a neighbour's message from a house chat as the report's text. It may well be true, but it is not
    her testimony: the preview tells her it will be marked, and the office's card says the text was forwarded from
    elsewhere (it was taken for her own words before). Her own typed words stay unmarked."""
    person = await resident(app, 3060)
    await person.press(RU("menu.leave_feedback"))
    await choose_clinic_17(person, "17")
    await person.press(RU("target.clinic"))
    await person.press(RU("kind.violation"))
    await person.press(RU("category.extortion"))
    origin = {"type": "hidden_user", "date": app.updates.timestamp() - 3600, "sender_user_name": "Соседка"}
    message = app.updates.message(text="В 17-й поликлинике с меня взяли 30000 тенге.", forward_origin=origin,
                                  user=person.user, chat=person.chat)
    await person.feed(app.updates.update(message=message))
    await person.press(RU("when.today"))
    reply = await person.contact("+77017654321")
    assert RU("preview.text_forwarded") in reply.text
    await person.press(RU("preview.submit"))
    [review] = await one(app, select(Review))
    assert review.text_forwarded
    await relay_for(app).run_once()
    assert RU("office.text_forwarded") in card_in_chat(app).text


async def test_her_own_words_are_not_marked_as_forwarded(app: App) -> None:
    await submit_violation(app, 3061)
    [review] = await one(app, select(Review))
    assert not review.text_forwarded
    await relay_for(app).run_once()
    assert RU("office.text_forwarded") not in card_in_chat(app).text


async def test_a_text_forwarded_at_the_menu_keeps_its_mark_into_the_review(app: App) -> None:
    person = await resident(app, 3062)
    origin = {"type": "hidden_user", "date": app.updates.timestamp() - 3600, "sender_user_name": "Соседка"}
    message = app.updates.message(text="В 17-й поликлинике с меня взяли 30000 тенге.", forward_origin=origin,
                                  user=person.user, chat=person.chat)
    await person.feed(app.updates.update(message=message))
    await person.press(RU("menu_offer.start"))
    await person.press(RU("target.clinic"))
    await person.press(RU("kind.violation"))
    await person.press(RU("category.extortion"))
    await person.press(RU("when.today"))
    reply = await person.contact("+77017654321")
    assert RU("preview.text_forwarded") in reply.text


async def test_every_file_of_an_album_goes_to_the_office_with_a_caption_within_telegrams_limit(app: App) -> None:
    """An album whose second photo carries a receipt's words full of emoji (604 characters, 1,204 as Telegram counts
    them, in UTF-16 units): under that photo in the office's album it would be refused. Every caption sent goes
    within the limit, and the words still reach the office whole, just before their photo."""
    from aiogram.methods import SendPhoto

    from bot.telegram_limits import CAPTION_LIMIT, telegram_length

    words = "Чек " + "🧾" * 600
    assert len(words) <= CAPTION_LIMIT < telegram_length(words)
    person = await resident(app, 3091)
    await to_kind_step(app, person, about_doctor=False)
    await person.press(RU("kind.violation"))
    await person.press(RU("category.extortion"))
    await person.send("Требовали взятку за справку.")
    await person.album([PHOTO_A, PHOTO_B, PHOTO_A + b"3"], captions=["первый", words, "третий"])
    await person.press(RU("when.today"))
    await person.press(RU("preview.submit"))
    await relay_for(app).run_once()
    sent = app.session.sent_messages(CHAT)
    captions = [item.caption for call in sent if isinstance(call, SendMediaGroup) for item in call.media]
    captions += [call.caption for call in sent if isinstance(call, SendPhoto)]
    assert len(captions) == 3, sent
    assert all(telegram_length(caption or "") <= CAPTION_LIMIT for caption in captions), captions
    assert any("первый" in (c or "") for c in captions) and any("третий" in (c or "") for c in captions)
    assert any(words in call.text for call in sent if isinstance(call, SendMessage)), "the words reach the office"
