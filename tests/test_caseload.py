"""The office runs its whole caseload in the bot (issue 10): every formal appeal is a case, answers are deliberate,
the resident closes the loop, the calendar never runs out, names instead of Telegram ids, forwarding as the law has
it, /cases as a working list."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

import pytest
from aiogram.methods import EditMessageText, SendDocument, SendMessage
from sqlalchemy import select

from bot.callbacks import MyReviewOpen
from bot.cases import cards as alerts
from bot.cases import lists, templates
from bot.cases import morning as office  # the module; morning() below runs the scheduled job
from bot.cases.deadlines import WorkCalendar
from bot.l10n import Translator
from bot.scheduler import morning_reminders
from bot.services import outbox
from bot.services.outbox import Pacer
from bot.services.relay import Relay
from bot.services.reviews import work_calendar
from storage.models import AuditLog, Case, OutboxMessage, Response, Review
from storage.repositories import Repositories
from tests.conftest import BACKENDS, App
from tests.flows import FULL_NAME, RU, choose_clinic_17, choose_kind, describe, one, plain, resident

pytestmark = pytest.mark.usefixtures("demo_directory")
CHAT = -1001234567890  # the conftest settings' prosecutor chat
OFFICER, COLLEAGUE = 7001, 7003
T = Translator()
KK, EN = T["kk"], T["en"]
CLINIC_NAME = {"kk": "№17 қалалық емхана", "ru": "Городская поликлиника №17", "en": "City Polyclinic No. 17"}


def clinic_name(number: int, language: str) -> str:
    return {"kk": f"№{number} қалалық емхана", "ru": f"Городская поликлиника №{number}",
            "en": f"City Polyclinic No. {number}"}[language]
BUTTON = {"kk": "Қазақша", "ru": "Русский", "en": "English"}


def relay_for(app: App) -> Relay:
    return Relay(app.bot, app.pool, app.clock, app.settings.admins, group_alerts=alerts.group_alerts_for(app.settings))


async def deliver(app: App) -> None:
    """A few relay passes, seconds apart (a person gets one message a second)."""
    relay = relay_for(app)
    for _ in range(4):
        app.clock.advance(seconds=5)
        await relay.run_once()


def officer(app: App, user_id: int = OFFICER, first_name: str = "Ержан", username: str | None = "erzhan_p"):
    return app.user(user_id, chat_id=CHAT, first_name=first_name, username=username)


async def submit(app: App, user_id: int, *, language: str = "ru", kind: str = "complaint", category: str = "waiting",
                 stars: str = "3⭐", text: str = "Долго ждала в очереди у регистратуры.",
                 clinic: int = 17) -> tuple[str, str]:
    """A resident's appeal about a polyclinic itself (No. 17 unless said), through the real dispatcher:
    (reference, receipt)."""
    l10n = T[language]
    person = await resident(app, user_id, language, BUTTON[language])
    await person.press(l10n("menu.leave_feedback"))
    await choose_clinic_17(person, str(clinic), l10n, clinic_name(clinic, language))
    await person.press(l10n("target.clinic"))
    await choose_kind(person, kind, category, stars, l10n)
    await describe(person, text, l10n=l10n)
    if kind != "gratitude":
        await person.send(FULL_NAME)  # a formal appeal names its appellant
    reply = await person.press(l10n("preview.submit"))
    receipt = "\n".join(reply.texts)
    [reference] = {word.strip(".,") for word in receipt.split() if word.startswith("AL-")}
    return reference, receipt


def texts_to(app: App, chat_id: int) -> list[str]:
    return [c.text for c in app.session.sent_messages(chat_id) if isinstance(c, SendMessage)]


def office_edits(app: App) -> list[EditMessageText]:
    return [call for call in app.session.calls_of(EditMessageText) if call.chat_id == CHAT]


def last_with_buttons(app: App, chat_id: int):
    return [m for m in app.session.history(chat_id) if m.reply_markup][-1]


async def morning(app: App, day: date) -> None:
    app.clock.now = datetime(day.year, day.month, day.day, 4, 0, tzinfo=UTC)  # 09:00 in Almaty
    await morning_reminders(app.pool, app.settings, app.clock)
    await relay_for(app).run_once()


async def case_row(app: App) -> Case:
    [case] = await one(app, select(Case))
    return case


# --- 1. An ordinary reply never answers; answering is deliberate -------------------------------------------


async def test_answer_with_a_document_edit_cancel_and_a_colleagues_press(app: App) -> None:
    reference, _ = await submit(app, 4001, kind="violation", category="extortion", stars="1⭐",
                                text="Врач требовал взятку 30000 тенге.")
    await deliver(app)
    card = last_with_buttons(app, CHAT)
    assert RU("case_card.language", language=RU("case_language.ru")) in card.text
    clerk = officer(app)
    prompt = await clerk.press(RU("alert.button_close"), message=card.message_id)
    assert RU("case_language.ru") in prompt.text and prompt.buttons  # templates to choose from
    reply = await clerk.document(b"%PDF-1.4 act of inspection", file_name="act.pdf")
    assert reply.texts == [RU("case_draft.file_kept")]
    preview = await clerk.send("Проверка проведена, акт во вложении.")
    assert [type(c).__name__ for c in preview.calls if type(c).__name__.startswith("Send")] == [
        "SendMessage", "SendDocument", "SendMessage"]
    assert preview.buttons == [[RU("case_draft.button_send"), RU("case_draft.button_edit"),
                                RU("case_draft.button_cancel")]]
    await clerk.press(RU("case_draft.button_edit"))
    preview = await clerk.send("Проверка проведена, нарушение подтвердилось; акт во вложении.")
    draft_message = preview.messages[-1]
    # A colleague's press finds no draft of theirs: nothing is sent.
    stale = await officer(app, COLLEAGUE, "Асель", None).press(RU("case_draft.button_send"), message=draft_message)
    assert stale.callback_answers == [RU("case_draft.stale")]
    assert await one(app, select(Response)) == []
    sent = await clerk.press(RU("case_draft.button_send"), message=draft_message)
    assert RU("alert.done_close", reference=reference) in sent.texts
    # Pressed again: the draft is gone, nothing happens twice.
    again = await clerk.press_data(f"cw1:{(await case_row(app)).id}:send", message=draft_message)
    assert again.callback_answers == [RU("case_draft.stale")]
    await deliver(app)
    to_resident = app.session.sent_messages(4001)
    answer = [c for c in to_resident if isinstance(c, SendMessage) and "нарушение подтвердилось" in c.text]
    assert len(answer) == 1 and answer[0].reply_markup.inline_keyboard[0][1].text == RU("case_notify.disagree_button")
    assert any(isinstance(c, SendDocument) for c in to_resident)
    [response] = await one(app, select(Response))
    assert response.text == "Проверка проведена, нарушение подтвердилось; акт во вложении."


async def test_cancel_sends_nothing_to_the_resident(app: App) -> None:
    await submit(app, 4002, kind="violation", category="extortion", stars="1⭐", text="Требовали взятку.")
    await deliver(app)
    card = last_with_buttons(app, CHAT)
    clerk = officer(app)
    await clerk.press(RU("alert.button_reject"), message=card.message_id)
    await clerk.send("Не подтвердилось.")
    reply = await clerk.press(RU("case_draft.button_cancel"))
    assert RU("case_draft.cancelled") in reply.texts
    assert (await case_row(app)).status == "open"
    await deliver(app)
    assert not any("Не подтвердилось" in text for text in texts_to(app, 4002))


# --- 2. Every formal appeal is a case: ordinary ones in the daily "new appeals" message ----------------------


async def test_an_ordinary_complaint_is_listed_each_morning_once_and_opens_as_a_card(app: App) -> None:
    reference, _ = await submit(app, 4010)
    await deliver(app)
    assert texts_to(app, CHAT) == []  # not urgent: no card at once
    case = await case_row(app)
    assert (case.urgency, case.formal_appeal, case.due_date) == ("normal", True, date(2026, 12, 18))
    await morning(app, date(2026, 11, 27))
    [listing] = texts_to(app, CHAT)
    assert listing.startswith(RU("case_office.new_appeals", count=1)) and reference in listing
    await morning(app, date(2026, 11, 30))  # listed once: the next morning has nothing new
    assert len([t for t in texts_to(app, CHAT) if reference in t]) == 1
    # Untouched on Tue 1 Dec, the third working day after registration: the last day to forward it elsewhere.
    await morning(app, date(2026, 12, 1))
    assert RU("reminders.section_forward", day="01.12.2026") in texts_to(app, CHAT)[-1]
    assert reference in texts_to(app, CHAT)[-1]
    clerk = officer(app)
    card = await clerk.press(RU("alert.button_open", reference=reference),
                             message=next(m for m in app.session.history(CHAT) if m.reply_markup))
    assert reference in card.text and [RU("alert.button_take"), RU("alert.button_fwd")] in card.buttons
    # /case always shows the actions the state allows, by reference or just its number.
    shown = await clerk.command("case", str(int(reference.split("-")[-1])))
    assert reference in shown.text and RU("alert.button_close") in [b for row in shown.buttons for b in row]
    # The resident's additions now reach the opened card.
    async with app.pool() as session:
        card_row = await Repositories(session).outbox.card_of(case.review_id, CHAT)
    assert card_row.sent_message_id == card.messages[-1].message_id


async def test_the_office_finds_a_case_by_its_reference_typed_the_way_a_resident_reads_it_out(app: App) -> None:
    # A resident calls the office and reads her receipt aloud; the officer types what she hears, on a keyboard left
    # in Russian, with the "№" of the paper form, or without the zeros: /case and /cases find it all the same.
    reference, _ = await submit(app, 4011)
    await deliver(app)
    year, number = reference.split("-")[1], int(reference.split("-")[-1])
    clerk = officer(app)
    for typed in (f"№ АЛ {year} {number}", f"al-{year}-{number}", f"фд{year}{number:06d}", f"AL–{year}–{number}"):
        shown = await clerk.command("case", typed)
        assert reference in shown.text, typed
        listed = await clerk.command("cases", f"all {typed}")
        assert reference in listed.text, typed


async def test_an_appeal_registered_after_the_mornings_time_waits_for_the_next_morning_if_the_job_runs_again(
        app: App) -> None:
    # The morning job runs again the same day when it is tried again after an outage, or at a start-up after 09:00
    # (bot.scheduler.missed_morning): the office still gets one "new appeals" list a day.
    first, _ = await submit(app, 4019)
    await morning(app, date(2026, 11, 27))
    app.clock.advance(hours=1)
    later, _ = await submit(app, 4020)
    await morning_reminders(app.pool, app.settings, app.clock)
    await relay_for(app).run_once()
    [listing] = [text for text in texts_to(app, CHAT) if text.startswith(RU("case_office.new_appeals", count=1))]
    assert first in listing and later not in listing
    await morning(app, date(2026, 11, 30))
    assert later in texts_to(app, CHAT)[-1] and first not in texts_to(app, CHAT)[-1]


async def test_new_appeals_come_grouped_by_polyclinic_in_the_chats_language(app: App) -> None:
    first, _ = await submit(app, 4011)
    other, _ = await submit(app, 4012, clinic=5)
    second, _ = await submit(app, 4013, category="rudeness", text="Регистратор грубо разговаривала со мной.")
    urgent, _ = await submit(app, 4014, kind="violation", category="extortion", stars="1⭐", text="Требуют взятку.")
    in_kazakh = app.settings.model_copy(update={"prosecutor": app.settings.prosecutor.model_copy(
        update={"language": "kk"})})
    async with app.pool() as session, session.begin():
        assert await office.list_new_appeals(Repositories(session), in_kazakh, work_calendar(),
                                            datetime(2026, 11, 27, 4, 0, tzinfo=UTC)) == 1
    [listing] = await one(app, select(OutboxMessage).where(OutboxMessage.dedupe_key.like("new-appeals:%")))

    def line(reference: str, category: str) -> str:
        return KK("case_office.appeal_line", mark="🟢", reference=reference, about=KK(f"category.{category}"),
                  due="18.12.2026")

    # The urgent one came as a card at once: only the three ordinary ones, under their polyclinic's heading.
    assert listing.payload["text"].split("\n") == [
        KK("case_office.new_appeals", count=3), "",
        KK("case_office.clinic_heading", clinic=clinic_name(17, "kk"), count=2),
        line(first, "waiting"), line(second, "rudeness"), "",
        KK("case_office.clinic_heading", clinic=clinic_name(5, "kk"), count=1),
        line(other, "waiting")]
    assert urgent not in listing.payload["text"]
    buttons = [b["text"] for row in listing.payload["reply_markup"]["inline_keyboard"] for b in row]
    assert buttons == [KK("alert.button_open", reference=reference) for reference in (first, second, other)]
    # Listed once: the next morning has nothing new to list.
    async with app.pool() as session, session.begin():
        assert await office.list_new_appeals(Repositories(session), in_kazakh, work_calendar(),
                                            datetime(2026, 11, 30, 4, 0, tzinfo=UTC)) == 0


async def test_one_morning_message_has_every_section_with_open_buttons(app: App) -> None:
    # Two polyclinics, two complaints each (a fourth about one polyclinic within a week would be urgent).
    references = [(await submit(app, user_id, clinic=clinic))[0]
                  for user_id, clinic in ((4015, 17), (4016, 17), (4017, 5), (4018, 5))]
    due_today, due_soon, overdue, escalated = references
    # Monday 7 December 2026: due today, due in 3 working days (Thu 10), overdue (Fri 4), and one the polyclinic
    # left unanswered (escalated, due later).
    dues = {due_today: date(2026, 12, 7), due_soon: date(2026, 12, 10), overdue: date(2026, 12, 4),
            escalated: date(2026, 12, 18)}
    async with app.pool() as session, session.begin():
        for reference, due in dues.items():
            case = (await session.scalars(select(Case).join(Review, Review.id == Case.review_id)
                                          .where(Review.reference == reference))).one()
            case.due_date, case.listed_at = due, datetime(2026, 11, 27, 4, 0, tzinfo=UTC)
            # Registered 15 working days before its due date, so that the morning's recount keeps it.
            review = await session.get(Review, case.review_id)
            registered = work_calendar().subtract_working_days(due, 15)
            review.created_at = datetime(registered.year, registered.month, registered.day, 5, 0, tzinfo=UTC)
            if reference == escalated:
                case.escalated_at = datetime(2026, 12, 4, 4, 0, tzinfo=UTC)
    await morning(app, date(2026, 12, 7))
    await deliver(app)
    # One message to the office this morning, escalations a section of it.
    [sent] = [m for m in app.session.history(CHAT) if m.text]
    days = RU.count("working_days", app.settings.clinics.answer_working_days)
    sections = [RU("reminders.section_today", due="07.12.2026"),
                RU("reminders.section_soon", days=RU.count("working_days", 3), due="10.12.2026"),
                RU("reminders.overdue", count=1), RU("clinic_escalation.title", count=1, days=days)]
    text = sent.text
    assert text.startswith(plain(RU("reminders.title", day="07.12.2026")))
    positions = [text.index(plain(section)) for section in sections]
    assert positions == sorted(positions)
    for number, reference in enumerate(references):
        start, end = positions[number], positions[number + 1] if number + 1 < len(positions) else len(text)
        assert reference in text[start:end] and text.count(reference) == 1, reference
    buttons = [b.text for row in sent.reply_markup.inline_keyboard for b in row]
    assert buttons == [RU("alert.button_open", reference=reference) for reference in references]
    # Each Open button brings the case's card with its actions.
    card = await officer(app).press(RU("alert.button_open", reference=escalated), message=sent.message_id)
    assert escalated in card.text and RU("alert.button_close") in [b for row in card.buttons for b in row]
    # The same morning again: nothing more.
    await morning(app, date(2026, 12, 7))
    assert len([m for m in app.session.history(CHAT) if m.text and m.text.startswith(
        plain(RU("reminders.title", day="07.12.2026")))]) == 1


# --- 3. The calendar never runs out ----------------------------------------------------------------------


async def test_a_submission_on_13_12_2027_is_due_provisionally_in_2028_and_recomputed(app: App, caplog) -> None:
    app.clock.now = datetime(2027, 12, 13, 5, 0, tzinfo=UTC)  # Mon 10:00 in Almaty
    reference, receipt = await submit(app, 4020, kind="violation", category="extortion", stars="1⭐",
                                     text="Требовали взятку за справку.")
    assert "06.01.2028" in receipt and plain(RU("case_notify.due_provisional")) in receipt
    await deliver(app)
    card = last_with_buttons(app, CHAT)
    assert "06.01.2028" + RU("case_card.provisional") in card.text
    case = await case_row(app)
    assert case.due_provisional
    # The ministry's table for 2028 is added (here with a transferred day off on Wed 5 Jan): counted again.
    data = {"years": {"2027": {"holidays": ["2027-12-16"]},
                      "2028": {"holidays": ["2028-01-01", "2028-01-02", "2028-01-07"],
                               "extra_days_off": ["2028-01-03", "2028-01-04", "2028-01-05"],
                               "extra_working_days": []}}}
    published = WorkCalendar.from_mapping(data)
    async with app.pool() as session, session.begin():
        assert await office.recount_due_dates(Repositories(session), app.settings, published, app.clock.now) == 1
    case = await case_row(app)
    assert (case.due_date, case.due_provisional) == (date(2028, 1, 10), False)
    assert "case.due_recomputed" in await one(app, select(AuditLog.action))
    await deliver(app)
    assert RU("case_notify.due_changed", reference=reference, due="10.01.2028") in texts_to(app, 4020)
    # The card already in the office's chat is edited: the new date, no longer provisional, the buttons kept.
    edited = app.session.message(CHAT, card.message_id)
    assert RU("alert.due", due="10.01.2028") in edited.text and "06.01.2028" not in edited.text
    assert RU("case_card.provisional") not in edited.text and RU("case_card.provisional_short") not in edited.text
    assert edited.reply_markup == card.reply_markup
    # Counted again on the same table, nothing changes and nothing more is queued.
    async with app.pool() as session, session.begin():
        assert await office.recount_due_dates(Repositories(session), app.settings, published, app.clock.now) == 0
    assert len(await one(app, select(OutboxMessage).where(OutboxMessage.kind == "card_edit"))) == 1
    # Warned in the log and in the office's chat from 60 days before the table ends (and not before).
    calendar = work_calendar()
    async with app.pool() as session, session.begin():
        repo = Repositories(session)
        assert not await office.check_calendar(repo, app.settings, calendar, datetime(2027, 10, 31, 4, tzinfo=UTC))
        with caplog.at_level(logging.WARNING, logger="bot.cases.morning"):
            assert await office.check_calendar(repo, app.settings, calendar, datetime(2027, 11, 1, 4, tzinfo=UTC))
    assert any("2027-12-31" in record.getMessage() for record in caplog.records)
    [warning] = await one(app, select(OutboxMessage).where(OutboxMessage.dedupe_key.like("calendar-ends:%")))
    assert "31.12.2027" in warning.payload["text"] and "2028" in warning.payload["text"]


async def test_a_card_edit_leaves_a_burst_list_alone_and_gives_up_on_a_card_telegram_refuses(app: App) -> None:
    app.clock.now = datetime(2027, 12, 13, 5, 0, tzinfo=UTC)  # due dates in 2028: provisional
    first, _ = await submit(app, 4091, kind="violation", category="extortion", stars="1⭐", text="Требуют взятку.")
    second, _ = await submit(app, 4092, kind="violation", category="extortion", stars="1⭐", text="Взятку просят.")
    # Two cards when the chat may get one more message this minute: they go out as one list.
    await Relay(app.bot, app.pool, app.clock, app.settings.admins, pacer=Pacer(group_per_minute=1),
                group_alerts=alerts.group_alerts_for(app.settings)).run_once()
    [burst] = [m for m in app.session.history(CHAT) if m.text]
    assert first in burst.text and second in burst.text
    data = {"years": {"2027": {"holidays": ["2027-12-16"]}, "2028": {"holidays": ["2028-01-01", "2028-01-02"]}}}
    async with app.pool() as session, session.begin():
        assert await office.recount_due_dates(Repositories(session), app.settings,
                                                  WorkCalendar.from_mapping(data), app.clock.now) == 2
    await deliver(app)
    # The list is not turned into either card: nothing was edited, and the rows are done.
    assert office_edits(app) == []
    assert app.session.message(CHAT, burst.message_id).text == burst.text
    edits = await one(app, select(OutboxMessage).where(OutboxMessage.kind == "card_edit"))
    assert [row.status for row in edits] == ["sent", "sent"]
    # Opened from the list, the case has a card of its own; an edit Telegram refuses (the card was deleted) is
    # given up on: not blocked, no admin told, nothing held back.
    await officer(app).press(RU("alert.button_open", reference=first), message=burst.message_id)
    card = app.session.history(CHAT)[-1]
    async with app.pool() as session, session.begin():
        repo = Repositories(session)
        [case] = (await session.scalars(select(Case).join(Review, Review.id == Case.review_id)
                                        .where(Review.reference == first))).all()
        view = await alerts.load(repo, case)
        l10n = alerts.chat_l10n(app.settings)
        await outbox.edit_card(repo, chat_id=CHAT, review_id=case.review_id, dedupe_key="test-edit", now=app.clock.now,
                               text=alerts.card_text(view, l10n, app.settings.zone) + "\n✎",
                               reply_markup=alerts.card_keyboard(view, l10n))
    app.session.fail_next(EditMessageText, error_code=400, description="Bad Request: message to edit not found")
    await deliver(app)
    [edit] = office_edits(app)
    assert edit.message_id == card.message_id
    [row] = await one(app, select(OutboxMessage).where(OutboxMessage.dedupe_key == "test-edit"))
    assert row.status == "sent" and row.attempts == 1
    assert await one(app, select(OutboxMessage).where(OutboxMessage.kind == "admin")) == []


async def test_a_submission_on_01_06_2030_never_fails_for_the_calendar(app: App) -> None:
    app.clock.now = datetime(2030, 6, 1, 5, 0, tzinfo=UTC)  # Sat 10:00 in Almaty, no table for 2030
    reference, receipt = await submit(app, 4021)
    assert reference.startswith("AL-2030-") and "21.06.2030" in receipt
    case = await case_row(app)
    assert (case.due_date, case.due_provisional) == (date(2030, 6, 21), True)
    # Reminders and the morning list work in such a year too.
    await morning(app, date(2030, 6, 3))
    assert any(reference in text for text in texts_to(app, CHAT))


# --- 4. The resident closes the loop; the whole day in Kazakh ----------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_kazakh_complaint_answered_disputed_reopened_and_closed_again(app: App, backend: str) -> None:
    text = "Тіркеу бөлімінде екі сағат кезекте күттім, ешкім түсіндірмеді."
    reference, receipt = await submit(app, 4030, language="kk", text=text)
    assert reference in receipt
    await morning(app, date(2026, 11, 27))
    clerk = officer(app)
    listing = last_with_buttons(app, CHAT)
    card = await clerk.press(RU("alert.button_open", reference=reference), message=listing.message_id)
    card_message = card.messages[-1]
    assert RU("case_card.language", language=RU("case_language.kk")) in card.text
    await clerk.press(RU("alert.button_take"), message=card_message.message_id)
    # The answer from a template: in the appeal's language (Kazakh), whatever the chat's.
    await clerk.press(RU("alert.button_close"), message=card_message.message_id)
    template = templates.template("not_confirmed")
    preview = await clerk.press(template.titles["ru"])
    assert RU("case_language.kk") in preview.texts[0]
    assert preview.texts[-1] == KK("notify.answer", reference=reference, answer=template.texts["kk"])
    await clerk.press(RU("case_draft.button_send"))
    await deliver(app)
    person = app.user(4030, language_code="kk")
    answer = [m for m in app.session.history(4030) if m.text and m.text.startswith(KK("notify.answer",
                                                                                       reference=reference,
                                                                                       answer="")[:20])][-1]
    assert template.texts["kk"] in answer.text
    # The resident disagrees, with a reason: the case opens again, marked, with its history.
    prompt = await person.press(KK("case_notify.disagree_button"), message=answer.message_id)
    assert prompt.text == KK("case_resident.disagree_prompt")
    told = await person.send("Мен екі сағат күттім, бұл расталмады деу дұрыс емес.")
    case = await case_row(app)
    # A formal appeal's disagreement is a repeated appeal: its own term, told to her in her language.
    assert told.texts == [KK("case_resident.reopened", reference=reference) + "\n"
                          + KK("case_resident.reopened_due", due=case.due_date.strftime("%d.%m.%Y"))]
    assert (case.status, case.reopened_count, case.closed_at) == ("taken", 1, None)
    await deliver(app)
    reopened = last_with_buttons(app, CHAT)
    assert RU("case_card.reopened", count=1) in reopened.text
    assert "бұл расталмады деу дұрыс емес" in reopened.text and RU("case_history.case.closed") in reopened.text
    assert "Ержан (@erzhan_p)" in reopened.text and "4030" not in reopened.text
    # A colleague takes it over: the card is redrawn, and keeps the disagreement and the history.
    colleague = officer(app, 7005, first_name="Асель", username=None)
    await colleague.press(RU("alert.button_take"), message=reopened.message_id)
    await colleague.press(RU("case_actions.take_over_yes"))
    redrawn = app.session.message(CHAT, reopened.message_id).text
    assert "Асель" in redrawn and RU("case_card.reopened", count=1) in redrawn
    assert "бұл расталмады деу дұрыс емес" in redrawn and RU("case_history.case.closed") in redrawn
    clerk = officer(app)
    await clerk.press(RU("alert.button_take"), message=reopened.message_id)
    await clerk.press(RU("case_actions.take_over_yes"))
    # An old button under the first answer changes nothing now: the appeal is open again, she is told.
    stale = await person.press(KK("case_notify.settled_button"), message=answer.message_id)
    assert stale.callback_answers == [KK("case_resident.disagreed_already", reference=reference)]
    # Answered again, by hand this time, in Kazakh.
    await clerk.press(RU("alert.button_close"), message=reopened.message_id)
    await clerk.send("Қайта тексерілді: кезек ұзақ болғаны расталды, емханаға ескерту жасалды.")
    sent = await clerk.press(RU("case_draft.button_send"))
    assert RU("alert.done_close", reference=reference) in sent.texts
    await deliver(app)
    second = [m for m in app.session.history(4030) if m.text and "ескерту жасалды" in m.text]
    assert len(second) == 1
    done = await person.press(KK("case_notify.settled_button"), message=second[0].message_id)
    assert done.texts[-1] == KK("case_resident.settled", reference=reference)
    case = await case_row(app)
    assert case.status == "closed"
    actions = [a for a in await one(app, select(AuditLog.action).order_by(AuditLog.id)) if a.startswith("case.")]
    assert actions == ["case.taken", "case.closed", "case.reopened", "case.taken_over", "case.taken_over",
                       "case.closed", "case.settled"]
    # Every notice the resident got about the handling is in Kazakh, each once.
    notices = [row.payload["text"] for row in await one(app, select(OutboxMessage).where(
        OutboxMessage.chat_id == 4030, OutboxMessage.kind == "notify").order_by(OutboxMessage.id))]
    assert notices == [
        KK("notify.status", reference=reference, status=KK("status.in_progress")),
        KK("notify.answer", reference=reference, answer=template.texts["kk"]),
        KK("notify.answer", reference=reference,
           answer="Қайта тексерілді: кезек ұзақ болғаны расталды, емханаға ескерту жасалды.")]


async def test_add_information_and_withdraw_from_my_reviews(app: App) -> None:
    reference, _ = await submit(app, 4040)
    [review] = await one(app, select(Review))
    person = app.user(4040)
    opened = await person.press_data(MyReviewOpen(review_id=review.id).pack())
    assert [RU("case_resident.add_button"), RU("case_resident.withdraw_button")] in opened.buttons
    await person.press(RU("case_resident.add_button"))
    await person.send("Это было 20 ноября, около 11:00.")
    await person.press(RU("reply.done"))
    await deliver(app)
    assert RU("case_office.resident_added_unasked", reference=reference,
              text="Это было 20 ноября, около 11:00.") in [c.text for c in app.session.sent_messages(CHAT)
                                                           if isinstance(c, SendMessage)]
    opened = await person.press_data(MyReviewOpen(review_id=review.id).pack())
    await person.press(RU("case_resident.withdraw_button"), message=opened.messages[-1])
    reply = await person.press(RU("case_resident.withdraw_yes"))
    assert RU("case_resident.withdrawn", reference=reference) in reply.texts
    case = await case_row(app)
    assert case.status == "withdrawn"
    await deliver(app)
    assert RU("case_office.withdrawn", reference=reference) in texts_to(app, CHAT)
    # Withdrawn: no more buttons to add or withdraw, and a stale one is refused.
    opened = await person.press_data(MyReviewOpen(review_id=review.id).pack())
    assert [RU("case_resident.add_button"), RU("case_resident.withdraw_button")] not in opened.buttons


# --- 6. Forwarding as the law has it ---------------------------------------------------------------------


async def test_forward_to_another_body_tells_the_resident_where_in_their_language(app: App) -> None:
    reference, _ = await submit(app, 4050, language="en", kind="violation", category="extortion", stars="1⭐",
                                text="The doctor demanded a bribe.")
    await deliver(app)
    card = last_with_buttons(app, CHAT)
    clerk = officer(app)
    chooser = await clerk.press(RU("alert.button_fwd"), message=card.message_id)
    assert "01.12.2026" in chooser.text  # 3 working days after Thu 26 Nov 2026
    done = await clerk.press(RU("forward_body.police"))
    assert RU("case_forward.done", reference=reference, destination=RU("forward_body.police")) in done.texts
    case = await case_row(app)
    assert (case.status, case.forwarded_to) == ("transferred", "police")
    assert RU("forward_body.police") in app.session.message(CHAT, card.message_id).text
    await deliver(app)
    assert EN("case_notify.forwarded", reference=reference, destination=EN("forward_body.police"),
              day="26.11.2026") in texts_to(app, 4050)


# --- 7. /cases as a working list, /help ---------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_cases_filters_pages_and_help(app: App, monkeypatch: pytest.MonkeyPatch, backend: str) -> None:
    first, _ = await submit(app, 4060)
    second, _ = await submit(app, 4061, kind="violation", category="extortion", stars="1⭐", text="Взятка.")
    await deliver(app)
    clerk = officer(app)
    await clerk.press(RU("alert.button_take"), message=last_with_buttons(app, CHAT).message_id)
    mine = await clerk.command("cases", "mine")
    assert second in mine.text and first not in mine.text and "Ержан" in mine.text
    assert RU("cases.none_found") == (await clerk.command("cases", "closed")).text
    assert first in (await clerk.command("cases", "normal")).text
    assert second not in (await clerk.command("cases", "normal")).text
    assert first in (await clerk.command("cases", "очереди")).text  # words of the text
    by_name = (await clerk.command("cases", "ержан")).text  # the assignee's name
    assert second in by_name and first not in by_name
    waiting = (await clerk.command("cases", "category:waiting")).text
    assert first in waiting and second not in waiting
    assert first in (await clerk.command("cases", "district:bostandyk clinic:17")).text  # No. 17 is in Bostandyk
    assert (await clerk.command("cases", "district:almaly")).text == RU("cases.none_found")
    assert second in (await clerk.command("cases", second)).text and first not in (await clerk.command(
        "cases", second)).text
    monkeypatch.setattr(lists, "LIST_PAGE", 1)
    page = await clerk.command("cases")
    assert second in page.text and first not in page.text  # most urgent first
    turned = await clerk.press(RU("cases.next"))
    assert first in turned.text and [RU("cases.previous")] in turned.buttons
    # A search too long for a button's 64 bytes still answers, without page buttons.
    long = await clerk.command("cases", "open " * 13)
    assert second in long.text and plain(RU("cases.narrow")) in long.text
    assert [RU("cases.next")] not in long.buttons
    help_text = (await clerk.command("help")).text
    assert "/cases" in help_text and "/case" in help_text


# --- 8. The office's copy is the resident's original --------------------------------------------------------


async def test_a_moderators_edit_changes_only_the_public_text_of_a_violation_report(app: App) -> None:
    from bot.services import moderation
    from storage.models import ClinicChat

    original = "Врач требовал взятку, звоните мне 87011234567."
    reference, _ = await submit(app, 4070, kind="violation", category="extortion", stars="1⭐", text=original)
    [review] = await one(app, select(Review))
    async with app.pool() as session, session.begin():
        (await session.get(Review, review.id)).public_text = "Отредактировано модератором."
        session.add(ClinicChat(clinic_id=review.clinic_id, chat_id=-1005550000017, linked_at=app.clock.now,
                               active=True))
    await deliver(app)
    card = last_with_buttons(app, CHAT)
    assert original in card.text and "Отредактировано" not in card.text
    clerk = officer(app)
    assert original in (await clerk.command("case", reference)).text
    await clerk.press(RU("alert.button_fwd"), message=card.message_id)
    await clerk.press(CLINIC_NAME["ru"])
    await deliver(app)
    [post] = texts_to(app, -1005550000017)
    assert "Врач требовал взятку, звоните мне" in post and "Отредактировано" not in post
    assert "87011234567" not in post and RU("masking.phone") in post
    [review] = await one(app, select(Review))
    assert moderation.public_text_of(review, RU) == "Отредактировано модератором."  # the public's version is the edit


# --- 5. Reasons in plain words ---------------------------------------------------------------------------------


def test_every_stored_reason_reads_in_plain_words_in_each_language() -> None:
    stored = ["category: extortion", "bribe words: «конверт»", "vulnerable patient words: «ребёнок»",
              "rating 1", "kind: violation", "signals together: 3 points (high from 3)",
              "spike: 4 complaints in 7 days", "kind: gratitude, but it reports a crime", "a reason of a new shape"]
    assert alerts.plain_reasons(stored, EN).split("; ") == [
        "category: " + EN("category.extortion"), "words about a bribe: «конверт»",
        "a child or another vulnerable patient: «ребёнок»", "rating 1 of 5", EN("kind.violation"),
        "several signals together (3 points, urgent from 3)",
        "4 complaints about this doctor or polyclinic in 7 days",
        "written as a gratitude, but it reports a crime", "a reason of a new shape"]
    for l10n in (RU, KK):
        shown = alerts.plain_reasons(stored, l10n)
        assert "words" not in shown and "spike" not in shown and "category:" not in shown, shown
        assert "«конверт»" in shown and "«ребёнок»" in shown
    # The counts read as numbers are read aloud: "4 жалобы … за 7 дней", "1 complaint … in 1 day".
    assert "4 жалобы на этого врача или поликлинику за 7 дней" in alerts.plain_reasons(stored, RU)
    one_of_each = alerts.plain_reasons(["spike: 1 complaints in 1 days"], EN)
    assert one_of_each == "1 complaint about this doctor or polyclinic in 1 day"


async def test_the_offices_help_counts_its_reminder_days_in_words(app: App) -> None:
    """The reminder lead is a setting (1-10 working days): the help text must read right for any of them."""
    officer = app.user(OFFICER, chat_id=CHAT, first_name="Прокурор")
    app.settings.prosecutor.remind_days_before = 1
    assert "срок через 1 рабочий день," in (await officer.command("help")).text
    app.settings.prosecutor.remind_days_before = 5
    assert "срок через 5 рабочих дней," in (await officer.command("help")).text
