"""The office and the resident through an appeal's life, as a tester acting as an officer and as the resident found
it: a Reply on the resident's message instead of a button, an answer typed in another language than the appeal's,
a forwarding after its three working days, a withdrawal the card did not show, a draft left while the case was
answered and reopened. Each asserts what the person sees and what is stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.cases.deadlines import appeal_due_date, work_calendar
from bot.scheduler import morning_reminders
from bot.services import exports
from storage.models import AuditLog, Case, OutboxMessage, Response, Review
from tests.conftest import App, Clock
from tests.flows import RU, one
from tests.test_alerts import CHAT, card_in_chat
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


KAZAKH_COMPLAINT = "Тіркеу бөлімінде екі сағат күттім, ешкім көмектеспеді, дәрігер маған дөрекі сөйледі."


async def kazakh_appeal_open_in_chat(app: App):
    """A formal complaint written in Kazakh, opened in the office's chat with /case: (reference, the card)."""
    from tests.test_caseload import submit

    reference, _receipt = await submit(app, 4101, language="kk", text=KAZAKH_COMPLAINT)
    shown = await office_member(app).command("case", reference)
    return reference, shown.messages[-1]


async def test_an_answer_typed_in_russian_to_a_kazakh_appeal_is_flagged_in_the_preview(app: App) -> None:
    _reference, card = await kazakh_appeal_open_in_chat(app)
    officer = office_member(app)
    await officer.press(RU("alert.button_close"), message=card.message_id)
    preview = await officer.send("По вашему обращению проведена проверка, нарушения подтвердились, врач наказан.")
    warning = RU("case_draft.language_mismatch", written=RU("case_language.ru"), language=RU("case_language.kk"))
    assert warning in preview.texts
    # Written again in Kazakh, the preview has no warning; nothing went to the resident before Send.
    await officer.press(RU("case_draft.button_edit"))
    preview = await officer.send("Сіздің өтінішіңіз бойынша тексеру жүргізілді, дәрігер жазаланды.")
    assert warning not in preview.texts and preview.texts[0].startswith("👁")
    await deliver_all(app)
    assert not any("проведена проверка" in text for text in chat_texts(app, 4101))


async def test_a_short_answer_or_names_alone_raise_no_language_warning(app: App) -> None:
    _reference, card = await kazakh_appeal_open_in_chat(app)
    officer = office_member(app)
    await officer.press(RU("alert.button_close"), message=card.message_id)
    preview = await officer.send("Жұмабекова Г. С.")  # too short to tell: the officer knows best
    assert not any("⚠️" in text for text in preview.texts)


async def test_forward_pressed_after_its_three_working_days_says_the_last_day_has_passed(app: App) -> None:
    reference, card = await office_card(app)  # registered Thu 26.11.2026: the last day to forward is Tue 01.12
    officer = office_member(app)
    chooser = await officer.press(RU("alert.button_fwd"), message=card.message_id)
    assert chooser.texts == [RU("case_forward.choose", reference=reference, by="01.12.2026")]
    app.clock.now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # the last day itself: still in time
    chooser = await officer.press(RU("alert.button_fwd"), message=card.message_id)
    assert chooser.texts == [RU("case_forward.choose", reference=reference, by="01.12.2026")]
    app.clock.now = datetime(2026, 12, 3, 5, 0, tzinfo=UTC)  # Thursday: two working days late
    chooser = await officer.press(RU("alert.button_fwd"), message=card.message_id)
    assert chooser.texts == [RU("case_forward.choose_late", reference=reference, by="01.12.2026")]
    await officer.press(RU("forward_body.police"), message=chooser.messages[-1].message_id)
    [case] = await one(app, select(Case))
    assert case.status == "transferred"
    [entry] = await one(app, select(AuditLog).where(AuditLog.action == "case.forwarded"))
    assert entry.details["late_working_days"] == 2  # the office's own record of the delay


async def withdraw_from_my_reviews(app: App, user_id: int) -> None:
    from bot.callbacks import MyReviewOpen

    [review] = await one(app, select(Review))
    person = app.user(user_id)
    opened = await person.press_data(MyReviewOpen(review_id=review.id).pack())
    await person.press(RU("case_resident.withdraw_button"), message=opened.messages[-1])
    await person.press(RU("case_resident.withdraw_yes"))


async def test_a_withdrawn_appeals_card_shows_it_withdrawn_without_the_buttons_to_act(app: App) -> None:
    _reference, card = await office_card(app)
    officer = office_member(app)
    await officer.press(RU("alert.button_take"), message=card.message_id)
    await withdraw_from_my_reviews(app, 3001)
    await deliver_all(app)
    [shown] = [m for m in app.session.history(CHAT) if m.message_id == card.message_id]
    assert RU("case_status.withdrawn") in shown.text
    buttons = [button.text for row in shown.reply_markup.inline_keyboard for button in row]
    assert RU("alert.button_take") not in buttons and RU("alert.button_close") not in buttons


async def test_a_draft_left_while_a_colleague_answered_and_the_resident_disagreed_is_not_sent(app: App) -> None:
    reference, card = await office_card(app)
    first, colleague = office_member(app), office_member(app, 7003, "Асель")
    await first.press(RU("alert.button_close"), message=card.message_id)
    left = await first.send("Проверка назначена, ответ будет позже.")  # the preview, then lunch
    left_preview = left.messages[-1]
    await office_sends_as(colleague, card, "alert.button_close", "Проверка проведена, врач наказан.")
    await deliver_all(app)
    person = app.user(3001)
    answer = [m for m in app.session.history(3001) if m.text and "врач наказан" in m.text][-1]
    await person.press(RU("case_notify.disagree_button"), message=answer.message_id)
    await person.send("Врача не наказали, он по-прежнему принимает.")
    [case] = await one(app, select(Case))
    assert case.status == "taken" and case.reopened_count == 1
    # Back from lunch, the first officer presses Send on the preview written before all that.
    stale = await first.press(RU("case_draft.button_send"), message=left_preview)
    assert stale.callback_answers == [RU("case_draft.overtaken", reference=reference)]
    assert [r.text for r in await one(app, select(Response))] == ["Проверка проведена, врач наказан."]
    await deliver_all(app)
    assert not any("ответ будет позже" in text for text in chat_texts(app, 3001))
    # Written again now, on the reopened case's new card, it goes.
    reopened = card_in_chat(app)
    assert RU("case_card.reopened", count=1) in reopened.text
    await office_sends_as(first, reopened, "alert.button_close", "Повторная проверка назначена.")
    assert len(await one(app, select(Response))) == 2


async def office_sends_as(officer, card, button: str, words: str) -> None:
    await officer.press(RU(button), message=card.message_id)
    await officer.send(words)
    await officer.press(RU("case_draft.button_send"))


async def test_a_transfer_order_added_to_a_published_year_counts_open_due_dates_again(
        app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    import tomllib
    from datetime import date

    from bot import scheduler
    from bot.cases.deadlines import DEFAULT_CALENDAR_PATH, WorkCalendar
    from tests.test_caseload import morning

    app.clock.now = datetime(2026, 12, 21, 5, 0, tzinfo=UTC)  # Mon 10:00 in Almaty
    reference, card = await office_card(app, 4201)
    assert "14.01.2027" in card.text  # on the 2027 table as shipped, without the year's transfer order
    # The Ministry's order for 2027 comes out: Tue 5 Jan a day off, in exchange for Sat 16 Jan. The operator adds
    # both sides to the table and restarts; the next morning counts the open appeals again.
    data = tomllib.loads(DEFAULT_CALENDAR_PATH.read_text(encoding="utf-8"))
    data["years"]["2027"]["extra_days_off"].append("2027-01-05")
    data["years"]["2027"]["extra_working_days"].append("2027-01-16")
    monkeypatch.setattr(scheduler, "work_calendar", lambda: WorkCalendar.from_mapping(data))
    await morning(app, date(2026, 12, 22))
    [case] = await one(app, select(Case))
    assert (case.due_date, case.due_provisional) == (date(2027, 1, 15), False)
    await deliver_all(app)
    assert RU("case_notify.due_changed", reference=reference, due="15.01.2027") in chat_texts(app, 4201)
    assert RU("alert.due", due="15.01.2027") in app.session.message(CHAT, card.message_id).text


async def test_the_calendars_end_is_told_to_the_office_on_a_working_morning_not_at_a_sunday_night_restart(
        app: App) -> None:
    from bot.scheduler import calendar_at_start, morning_reminders
    from storage.models import OutboxMessage

    warnings = select(OutboxMessage).where(OutboxMessage.dedupe_key.like("calendar-ends:%"))
    app.clock.now = datetime(2027, 11, 6, 22, 0, tzinfo=UTC)  # Sunday 7 November, 03:00 in Almaty: a restart
    await calendar_at_start(app.pool, app.settings, app.clock)
    app.clock.now = datetime(2027, 11, 7, 4, 0, tzinfo=UTC)  # and Sunday's 09:00 run
    await morning_reminders(app.pool, app.settings, app.clock)
    assert await one(app, warnings) == []
    app.clock.now = datetime(2027, 11, 8, 4, 0, tzinfo=UTC)  # Monday, 09:00 in Almaty
    await morning_reminders(app.pool, app.settings, app.clock)
    [warning] = await one(app, warnings)
    assert "31.12.2027" in warning.payload["text"]
    assert "(осталось 53 дня)" in warning.payload["text"]  # 8 November to 31 December, the number's own form


async def test_a_template_pressed_after_a_colleague_closed_the_case_shows_no_preview(app: App) -> None:
    from bot.cases import templates

    _reference, card = await office_card(app)
    first, colleague = office_member(app), office_member(app, 7003, "Асель")
    prompt = await first.press(RU("alert.button_close"), message=card.message_id)
    await office_sends_as(colleague, card, "alert.button_close", "Проверка проведена, врач наказан.")
    chosen = await first.press(templates.template("not_confirmed").titles["ru"], message=prompt.messages[-1])
    assert chosen.callback_answers == [RU("cases.already_closed")]
    assert not any(text.startswith("👁") for text in chosen.texts)  # no preview of words that cannot be sent


async def test_a_disagreement_after_the_due_date_is_a_repeated_appeal_with_a_term_of_its_own(app: App) -> None:
    """The office answered in time; the resident disagrees a fortnight later. Kept at the first term, the case
    was overdue the moment it reopened (listed so each morning, and Extend refused), and the resident was told
    nothing of when the office would answer now."""
    reference, card = await office_card(app)
    [case] = await one(app, select(Case))
    first_due = case.due_date
    disagreed_on = first_due + timedelta(days=12)
    told = await answered_then_disputed(
        app, card, datetime(disagreed_on.year, disagreed_on.month, disagreed_on.day, 6, 0, tzinfo=UTC))
    [case] = await one(app, select(Case))
    new_due = appeal_due_date(app.clock.now, app.settings.zone, work_calendar())
    assert case.due_date == new_due > disagreed_on and not case.extended
    assert told.texts == [RU("case_resident.reopened", reference=reference) + "\n"
                          + RU("case_resident.reopened_due", due=new_due.strftime("%d.%m.%Y"))]
    [reopened_audit] = await one(app, select(AuditLog).where(AuditLog.action == "case.reopened"))
    assert reopened_audit.details["due"] == new_due.isoformat()
    await deliver_all(app)
    # The next morning lists it as due on its new day, not overdue; and its term may be extended once.
    next_day = disagreed_on + timedelta(days=1)
    await morning_reminders(app.pool, app.settings, Clock(datetime(next_day.year, next_day.month, next_day.day, 4,
                                                                    tzinfo=UTC)))
    assert not any(RU("reminders.overdue", count=1) in text for text in chat_texts(app, CHAT))
    app.clock.now = datetime(next_day.year, next_day.month, next_day.day, 6, 0, tzinfo=UTC)
    prompt = await office_member(app).press(RU("alert.button_extend"), message=card_in_chat(app).message_id)
    assert prompt.callback_answers == [None] and prompt.texts


async def test_a_repeated_appeal_is_forwarded_within_three_working_days_of_the_disagreement(app: App) -> None:
    """The resident disagrees a month after registering; the disagreement is a repeated appeal with a term of its
    own, and so its three working days to forward it (APPK art. 76). Counted from the first registration, the
    prompt said that day had long passed, and the office's record showed a forwarding weeks late."""
    reference, card = await office_card(app)
    await office_sends(app, card, "alert.button_close", "Проверка проведена, нарушений не выявлено.")
    answer = [m for m in app.session.history(3001) if m.text and "нарушений не выявлено" in m.text][-1]
    app.clock.now = datetime(2026, 12, 28, 6, 0, tzinfo=UTC)  # Monday, a month after registration
    person = app.user(3001)
    await person.press(RU("case_notify.disagree_button"), message=answer.message_id)
    await person.send("Ничего не проверяли, врач по-прежнему требует деньги.")
    await deliver_all(app)
    by = work_calendar().add_working_days(app.clock.now.date(), 3).strftime("%d.%m.%Y")
    chooser = await office_member(app).press(RU("alert.button_fwd"), message=card_in_chat(app).message_id)
    assert chooser.texts == [RU("case_forward.choose", reference=reference, by=by)]
    await office_member(app).press(RU("forward_body.police"), message=chooser.messages[-1].message_id)
    [entry] = await one(app, select(AuditLog).where(AuditLog.action == "case.forwarded"))
    assert entry.details["late_working_days"] == 0


async def answered_then_disputed(app: App, card, when: datetime):
    """The office answers the card's appeal; at `when` the resident disagrees, with a reason; all delivered."""
    await office_sends(app, card, "alert.button_close", "Проверка проведена, нарушений не выявлено.")
    answer = [m for m in app.session.history(3001) if m.text and "нарушений не выявлено" in m.text][-1]
    app.clock.now = when
    person = app.user(3001)
    await person.press(RU("case_notify.disagree_button"), message=answer.message_id)
    told = await person.send("Ничего не проверяли, врач по-прежнему требует деньги.")
    await deliver_all(app)
    return told


async def test_a_repeated_appeal_extended_again_tells_the_resident_again(app: App) -> None:
    """Extended in its first term, answered, disputed: the repeated appeal may be extended once too, and the law
    wants the applicant told of each extension. The second notice had the first one's key and was never sent."""
    _reference, card = await office_card(app)
    await office_sends(app, card, "alert.button_extend", "Нужна проверка в трёх отделениях.")
    await answered_then_disputed(app, card, datetime(2026, 12, 28, 6, 0, tzinfo=UTC))
    await office_sends(app, card_in_chat(app), "alert.button_extend", "Нужна экспертиза документов.")
    [case] = await one(app, select(Case))
    assert case.extended and case.due_date.isoformat() == "2027-02-28"
    told = [text for text in chat_texts(app, 3001) if text.startswith("⏳")]
    assert len(told) == 2 and "28.02.2027" in told[-1] and "экспертиза" in told[-1], told


async def test_a_repeated_appeal_forwarded_to_the_polyclinic_again_is_told_to_the_resident(app: App) -> None:
    """Forwarded to the polyclinic, answered, disputed, and the repeated appeal forwarded to the polyclinic again:
    each forwarding is told (APPK art. 76). The second had the first one's key and was never sent."""
    reference, card = await office_card(app)
    officer = office_member(app)
    await officer.press(RU("alert.button_fwd"), message=card.message_id)
    await officer.press("Городская поликлиника №17")
    await officer.press(RU("case_forward.confirm_button"))
    await answered_then_disputed(app, card, datetime(2026, 12, 28, 6, 0, tzinfo=UTC))
    await officer.press(RU("alert.button_fwd"), message=card_in_chat(app).message_id)
    await officer.press("Городская поликлиника №17")
    await officer.press(RU("case_forward.confirm_button"))
    await deliver_all(app)
    told = [text for text in chat_texts(app, 3001) if reference in text and "↪️" in text]
    assert len(told) == 2 and "28.12.2026" in told[-1], told


def bot_removed_from(app: App, chat_id: int) -> None:
    """From now on Telegram refuses every message to `chat_id`: the bot was removed from that group."""
    from aiogram.exceptions import TelegramForbiddenError

    original = app.session._answer

    async def refusing(bot, method):
        if getattr(method, "chat_id", None) == chat_id:
            raise TelegramForbiddenError(method=method, message="Forbidden: bot was kicked from the group chat")
        return await original(bot, method)

    app.session._answer = refusing


async def test_a_forwarding_the_polyclinics_group_never_received_is_told_to_the_office_under_the_card(
        app: App) -> None:
    """The polyclinic's group is linked, but its administrators removed the bot: Telegram refuses the post. The
    office had been told "forwarded" and heard nothing more; the case waited for an answer from a polyclinic that
    never got it (only the bot's administrators were told, in technical words)."""
    from aiogram.methods import SendMessage

    from tests.test_clinics import CLINIC_CHAT, link_group

    await link_group(app)
    reference, card = await office_card(app)
    bot_removed_from(app, CLINIC_CHAT)
    officer = office_member(app)
    chooser = await officer.press(RU("alert.button_fwd"), message=card.message_id)
    await officer.press("Городская поликлиника №17", message=chooser.messages[-1].message_id)
    await deliver_all(app)
    undelivered = RU("case_forward.undelivered", reference=reference, clinic="Городская поликлиника №17")
    told = [call for call in app.session.sent_messages(CHAT) if isinstance(call, SendMessage)
            and call.text == undelivered]
    assert len(told) == 1 and told[0].reply_parameters.message_id == card.message_id
    # The relay tries the post again each hour: the office is told once.
    app.clock.advance(hours=1, minutes=1)
    await deliver_all(app)
    assert chat_texts(app, CHAT).count(undelivered) == 1


async def test_a_text_sent_after_the_answers_preview_is_added_to_the_draft_with_a_fresh_preview(app: App) -> None:
    """An officer writes the answer in two messages, the second after the preview came: nothing was said, and Send
    gave the resident the first alone, while the officer believed both went. The second now joins the draft, said
    so, with a fresh preview that is what the resident then receives; the first preview's buttons go."""
    from bot.callbacks import CaseDraftV1, DraftAction

    _reference, card = await office_card(app)
    officer = office_member(app)
    await officer.press(RU("alert.button_close"), message=card.message_id)
    first = await officer.send("Проверка проведена.")
    old_preview = first.messages[-1]
    added = await officer.send("Врач привлечён к дисциплинарной ответственности.")
    assert added.texts[0] == RU("case_draft.added"), added.texts
    fresh = [m for m in added.messages if m.reply_markup][-1]
    assert "Проверка проведена.\n\nВрач привлечён к дисциплинарной ответственности." in fresh.text
    assert [RU("case_draft.button_send"), RU("case_draft.button_edit"), RU("case_draft.button_cancel")] \
        in added.buttons
    # The first preview no longer offers Send: it is not what would go out. A press on it that was already on its
    # way is refused, and nothing is sent.
    assert next(m for m in app.session.history(CHAT) if m.message_id == old_preview.message_id).reply_markup is None
    [case] = await one(app, select(Case))
    stale = await officer.press_data(CaseDraftV1(case_id=case.id, action=DraftAction.SEND).pack(),
                                     message=old_preview.message_id)
    assert stale.callback_answers == [RU("case_draft.outdated")]
    await deliver_all(app)
    assert not any("Проверка проведена" in (m.text or "") for m in app.session.history(3001))
    # A correction of either message, made with Telegram's edit, keeps the other part.
    typed = next(m for m in app.session.history(CHAT) if m.text == "Проверка проведена.")
    corrected = await officer.edit(typed.message_id, "Проверка проведена 1 декабря.")
    latest = [m for m in corrected.messages if m.reply_markup][-1]  # the fresh preview, with Send
    assert "Проверка проведена 1 декабря.\n\nВрач привлечён" in latest.text, corrected.texts
    await officer.press(RU("case_draft.button_send"), message=latest.message_id)
    await deliver_all(app)
    [answer] = [m for m in app.session.history(3001) if m.text and "Проверка проведена" in m.text]
    assert answer.text == latest.text


async def test_a_text_after_the_preview_that_would_make_the_draft_too_long_is_not_added_and_said_so(
        app: App) -> None:
    _reference, card = await office_card(app)
    officer = office_member(app)
    await officer.press(RU("alert.button_close"), message=card.message_id)
    shown = await officer.send("Проверка проведена. " * 100)  # 2,000 characters
    refused = await officer.send("Дополнение. " * 150)  # 1,800 more
    length = len(("Проверка проведена. " * 100).strip()) + 2 + len(("Дополнение. " * 150).strip())
    assert refused.texts == [RU("case_draft.added_too_long", length=length, limit=3500)]
    # A Reply on the case's card while the preview is shown is talk about the case, never the resident's answer.
    talk = await officer.feed(replying_to(app, officer, "Коллеги, акт у кого?", card))
    assert talk.texts == [RU("case_note.offer")]
    await officer.press(RU("case_draft.button_send"), message=[m for m in shown.messages if m.reply_markup][-1])
    await deliver_all(app)
    [answer] = [m for m in app.session.history(3001) if m.text and "Проверка проведена" in m.text]
    assert "Дополнение" not in answer.text


async def test_cases_with_a_mistyped_filter_says_it_is_no_filter_instead_of_only_none_found(app: App) -> None:
    """A filter typed with a slip ("overdu"), in Russian ("клиника:17") or a district by its Russian or Kazakh name:
    each was searched for as words of the text, and the office read "no cases match" while cases did."""
    reference, _card = await office_card(app)  # No. 17, in Bostandyk district
    officer = office_member(app)
    reply = await officer.command("cases", "overdu")
    assert reply.text == RU("cases.none_found") + "\n" + RU("cases.not_filters", words="«overdu»")
    reply = await officer.command("cases", "клиника:17 critical")
    assert reply.text == RU("cases.none_found") + "\n" + RU("cases.not_filters", words="«клиника:17»")
    # A district by a word of its name in any language (as officers say it), not only its Latin id.
    assert reference in (await officer.command("cases", "district:бостандыкский")).text
    assert reference in (await officer.command("cases", "district:бостандык")).text
    assert (await officer.command("cases", "district:алмалы")).text == RU("cases.none_found")  # exists, empty
    reply = await officer.command("cases", "district:сарыарка")  # Astana's, not Almaty's
    assert reply.text.startswith(RU("cases.unknown_district", district="сарыарка", districts="")[:-1])
    assert "Бостандыкский район" in reply.text
    # Words that are no filter and are found stay a search, with nothing added.
    assert RU("cases.not_filters", words="«взятку»") not in (await officer.command("cases", "взятку")).text


async def test_a_file_sent_after_the_preview_is_said_not_attached_and_a_second_file_is_said_to_replace_the_first(
        app: App) -> None:
    """The officer writes the answer, sees the preview, then sends the act: nothing was said and nothing attached,
    and Send gave the resident the answer without it. Sent again after Edit, a document and then a photo were each
    answered "file attached", while only the photo went."""
    from aiogram.methods import SendDocument, SendPhoto

    _reference, card = await office_card(app)
    officer = office_member(app)
    await officer.press(RU("alert.button_close"), message=card.message_id)
    await officer.send("Проверка проведена, акт во вложении.")
    late = await officer.document(b"%PDF-1.4 act of inspection", file_name="act.pdf")
    assert late.texts == [RU("case_draft.file_after_preview")]
    await officer.press(RU("case_draft.button_edit"))
    assert (await officer.document(b"%PDF-1.4 act of inspection", file_name="act.pdf")).texts == [
        RU("case_draft.file_kept")]
    replaced = await officer.photo()
    assert replaced.texts == [RU("case_draft.file_replaced"), RU("case_draft.file_kept")]
    preview = await officer.send("Проверка проведена, фото акта во вложении.")
    assert [type(call) for call in preview.calls if isinstance(call, SendPhoto | SendDocument)] == [SendPhoto]
    await officer.press(RU("case_draft.button_send"))
    await deliver_all(app)
    sent = app.session.sent_messages(3001)
    assert any(isinstance(call, SendPhoto) for call in sent) and not any(isinstance(call, SendDocument)
                                                                         for call in sent)


async def test_the_office_finds_an_appeal_by_the_phone_number_its_resident_shared(app: App) -> None:
    """A resident calls the office and gives their phone number: /case and /cases with it said "not found" (a
    reference was looked for), though the card shows that number."""
    reference, _card = await office_card(app)  # the resident shared +77017654321 with it
    officer = office_member(app)
    for typed in ("+77017654321", "8 701 765 43 21", "+7 (701) 765-43-21"):
        assert reference in (await officer.command("cases", typed)).text, typed
    shown = await officer.command("case", "87017654321")
    assert reference in shown.text and [RU("alert.button_open", reference=reference)] in shown.buttons
    assert (await officer.command("cases", "+77010000000")).text == RU("cases.none_found")


async def test_the_office_finds_an_appeal_by_its_reference_typed_as_bare_digits_and_still_by_a_phone(
        app: App) -> None:
    """The registration number without its letters ("2026000001", read off a paper copy) was taken for a phone
    number and found nothing. A reference's digits are ten beginning with its year (20..); a phone number's ten
    national digits begin with 7 in Kazakhstan (3 to 9 in the rest of +7), with 8 or 7 before them for eleven."""
    reference, _card = await office_card(app)  # the resident shared +77017654321 with it
    year, number = reference.split("-")[1], reference.split("-")[2]
    officer = office_member(app)
    for typed in (f"{year}{number}", f"{year} {number}", f"{year}-{number}"):
        assert reference in (await officer.command("cases", typed)).text, typed
        shown = await officer.command("case", typed)
        assert reference in shown.text and RU("alert.button_take") in str(shown.buttons), typed
    assert (await officer.command("cases", f"{year}999999")).text == RU("cases.none_found")
    assert (await officer.command("case", f"{year}999999")).text == RU(
        "cases.not_found", reference=f"{year}999999")
    for typed in ("87017654321", "77017654321", "7017654321", "+7 701 765 43 21", "8 (701) 765-43-21"):
        assert reference in (await officer.command("cases", typed)).text, typed
        shown = await officer.command("case", typed)
        assert [RU("alert.button_open", reference=reference)] in shown.buttons, typed


async def test_the_first_morning_after_the_new_year_holidays_gives_every_case_it_lists_a_button(app: App) -> None:
    """Tue 5 Jan 2027, the first working day after 1-4 January: forty appeals due that day, thirty overdue. The
    message kept within Telegram's limits, but thirty Open buttons went with forty-nine lines (the overdue ones
    had none), and "…and 21 more" said nothing of where they were."""
    from datetime import date

    from tests.test_caseload import morning, submit

    overdue = [(await submit(app, 5000 + number))[0] for number in range(30)]  # registered 26.11.2026
    app.clock.now = datetime(2026, 12, 10, 5, 0, tzinfo=UTC)  # due on 05.01.2027
    due_today = [(await submit(app, 5100 + number))[0] for number in range(40)]
    await morning(app, date(2027, 1, 5))
    [row] = await one(app, select(OutboxMessage).where(OutboxMessage.dedupe_key == "morning:2027-01-05"))
    text = row.payload["text"]
    buttons = [button["text"] for line in row.payload["reply_markup"]["inline_keyboard"] for button in line]
    assert len(text) <= 4096 and len(buttons) <= 100
    shown = sorted((reference for reference in due_today + overdue if reference in text), key=text.index)
    assert set(shown) & set(due_today) and set(shown) & set(overdue)
    assert buttons == [RU("alert.button_open", reference=reference) for reference in shown]
    left_out = len(due_today) + len(overdue) - len(shown)
    assert text.endswith(RU("case_office.more_in_cases", count=left_out))


async def test_an_officer_who_posts_anonymously_is_told_before_writing_that_the_bot_cannot_tell_it_is_them(
        app: App) -> None:
    """An administrator of the office's chat with "Remain anonymous" on: their presses come from them, but their
    messages come from the group itself, so the answer they then wrote was taken by no draft, and nothing was said."""
    from aiogram.methods import GetChatMember

    from tests.fakes.updates import chat_member

    _reference, card = await office_card(app)
    officer = office_member(app)
    app.session.set_result(GetChatMember, lambda params: {
        **chat_member({"id": params["user_id"], "is_bot": False, "first_name": "Прокурор"}, "administrator"),
        "is_anonymous": True})
    prompt = await officer.press(RU("alert.button_close"), message=card.message_id)
    assert prompt.texts[-1].endswith("\n\n" + RU("case_draft.anonymous_admin"))
    app.session.set_result(GetChatMember, lambda params: chat_member(
        {"id": params["user_id"], "is_bot": False, "first_name": "Прокурор"}, "administrator"))
    prompt = await office_member(app, 7003, "Асель").press(RU("alert.button_close"), message=card.message_id)
    assert RU("case_draft.anonymous_admin") not in prompt.texts[-1]


async def test_a_long_new_appeals_list_gives_every_case_it_lists_a_button(app: App) -> None:
    """Seventy ordinary appeals in one morning's "new appeals": thirty Open buttons went with about sixty lines,
    and the message ended "…and 40 more" counted from the buttons, not from the lines left out."""
    from datetime import date

    from sqlalchemy import update

    from tests.test_caseload import morning, submit

    references = [(await submit(app, 5200 + number, clinic=17 if number % 2 else 5))[0] for number in range(70)]
    async with app.pool() as session, session.begin():  # many about one polyclinic in a week would be urgent
        await session.execute(update(Case).values(urgency="normal", listed_at=None))
    await morning(app, date(2026, 11, 27))
    [row] = await one(app, select(OutboxMessage).where(OutboxMessage.dedupe_key.like("new-appeals:%")))
    text = row.payload["text"]
    buttons = [button["text"] for line in row.payload["reply_markup"]["inline_keyboard"] for button in line]
    assert len(text) <= 4096 and len(buttons) <= 100
    shown = sorted((reference for reference in references if reference in text), key=text.index)
    assert 30 < len(shown) < 70
    assert buttons == [RU("alert.button_open", reference=reference) for reference in shown]
    *lines, more = text.split("\n")
    assert more == RU("case_office.more_in_cases", count=70 - len(shown))
    assert shown[-1] in lines[-1]  # a polyclinic's heading never stands alone at the end


async def test_a_reopened_card_cut_short_counts_only_the_history_entries_left_out(app: App) -> None:
    """A long complaint with long notes, answered, and disputed at length (the reason follows the card whole): the
    card ended "…and 9 more" for six entries of history, counting the blank lines and headings around them."""
    from tests.test_alerts import relay_for, submit_violation, write_and_send

    text = "Врач требовал взятку 30000 тенге. " + "Долго ждала в очереди у регистратуры, никто не помог. " * 27
    reference = await submit_violation(app, 3001, text=text, photos=False)
    relay = relay_for(app)
    await relay.run_once()
    officer, card = office_member(app), card_in_chat(app)
    for number in range(3):
        note = f"{number + 1}. " + "Позвонить заявителю, уточнить дату приёма. " * 15
        offer = await officer.feed(replying_to(app, officer, note, card))
        await officer.press(RU("case_note.button"), message=offer.messages[0].message_id)
    await write_and_send(officer, RU("alert.button_close"), "Проверка проведена, факты не подтвердились.",
                         card.message_id)
    app.clock.advance(seconds=5)
    await relay.run_once()
    answer = [m for m in app.session.history(3001) if m.text and "факты не подтвердились" in m.text][-1]
    person = app.user(3001)
    await person.press(RU("case_notify.disagree_button"), message=answer.message_id)
    await person.send(("Проверяющий со мной не связался и на место не выезжал. " * 60)[:2900].strip())
    [reopened] = await one(app, select(OutboxMessage).where(
        OutboxMessage.dedupe_key.like(f"alert:{reference}:%:reopened:1")))
    [review] = await one(app, select(Review))
    entries = [entry for entry in await one(app, select(AuditLog))
               if entry.entity == "review" and entry.entity_id == review.id]
    shown = reopened.payload["text"]
    left_out = len(entries) - shown.count("\n• ")
    assert left_out > 0
    assert shown.endswith("\n" + RU("cases.more", count=left_out))


async def test_a_second_file_for_a_case_closed_meanwhile_is_only_said_closed(app: App) -> None:
    """The officer attached the act, a colleague rejected the appeal meanwhile, and the officer sent a better scan:
    told "it replaces the first" and then "already closed", two messages of which the first was untrue."""
    from tests.test_alerts import write_and_send

    _reference, card = await office_card(app)
    officer = office_member(app)
    await officer.press(RU("alert.button_close"), message=card.message_id)
    kept = await officer.document(b"%PDF-1.4 act of inspection", file_name="act.pdf")
    assert kept.texts == [RU("case_draft.file_kept")]
    await write_and_send(office_member(app, 7003, "Асель"), RU("alert.button_reject"), "Факты не подтвердились.",
                         card.message_id)
    replaced = await officer.photo()
    assert replaced.texts == [RU("cases.already_closed")]
    [case] = await one(app, select(Case))
    assert case.status == "rejected"


async def export_row(app: App, reference: str) -> dict[str, object]:
    """The appeal's row of the office's /export for its registration day, by column name."""
    from tests.test_reports import xlsx_rows

    reply = await office_member(app).command("export", "2026-11-26")
    header, *rows = xlsx_rows(app.session.files[reply.messages[-1].document.file_id].data)
    names = {RU(f"reports.column.{name}"): name for name in exports.EXPORT_COLUMNS}
    [row] = [row for row in rows if row[0] == reference]
    return {names[title]: value for title, value in zip(header, row, strict=True)}


async def test_the_export_says_a_repeated_appeal_was_extended_in_an_earlier_term_with_its_own_due_date(
        app: App) -> None:
    """Extended in its first term, answered, disputed: the export said 'no' beside the reason still stored, and
    a reader could not tell the appeal had ever been extended; it says no for the present term's due date, and
    that the earlier term was extended."""
    reference, card = await office_card(app)
    await office_sends(app, card, "alert.button_extend", "Нужна проверка в трёх отделениях.")
    row = await export_row(app, reference)
    assert row["extended"] == RU("reports.value.yes") and row["due_date"].date().isoformat() == "2027-01-26"
    await answered_then_disputed(app, card, datetime(2026, 12, 28, 6, 0, tzinfo=UTC))
    [case] = await one(app, select(Case))
    row = await export_row(app, reference)
    assert row["extended"] == RU("reports.value.extended_earlier"), row
    assert row["due_date"].date() == case.due_date and case.due_date.isoformat() < "2027-02-01", row
    # Extended in the repeated appeal's own term too: yes, with the new due date.
    await office_sends(app, card_in_chat(app), "alert.button_extend", "Нужна экспертиза документов.")
    row = await export_row(app, reference)
    assert row["extended"] == RU("reports.value.yes") and row["due_date"].date().isoformat() == "2027-02-28", row
