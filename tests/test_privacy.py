"""Residents' data rights through the real dispatcher: /mydata, /forget and /consent, and what stays stored."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from aiogram.methods import SendDocument, SendMessage, SetMyCommands
from sqlalchemy import func, select

from bot.callbacks import ForgetAction, ForgetChoice
from bot.cases import cards as alerts
from bot.l10n import Translator
from bot.services import privacy
from bot.services.people import CONSENT_VERSION
from bot.services.relay import Relay
from storage.models import (
    AuditLog,
    Case,
    ClinicStats,
    CountedReview,
    FsmRecord,
    OutboxMessage,
    Response,
    Review,
    ReviewMedia,
    Role,
    User,
)
from storage.repositories import Repositories
from tests.conftest import BACKENDS, App
from tests.fakes.client import UserClient
from tests.flows import PDF, PHOTO_A, RU, choose_clinic_17, one, resident

pytestmark = pytest.mark.usefixtures("demo_directory")
T = Translator()
CHAT = -1001234567890  # the conftest settings' prosecutor chat
PROSECUTOR = 9_081_726  # distinctive, so that finding it anywhere in a resident's copy is a real leak
ADMIN = 9_172_635  # a colleague in the prosecutor's chat who holds a stored role
PERSON = 2001
PHONE = "+77017654321"
BRIBE = "Врач требовал взятку 30000 тенге за справку."
ANSWER = "Проверка проведена, врач привлечён к ответственности."


def relay_for(app: App) -> Relay:
    return Relay(app.bot, app.pool, app.clock, app.settings.admins, group_alerts=alerts.group_alerts_for(app.settings))


async def submit_named_violation(app: App, person: UserClient, *, evidence: bool = True) -> str:
    """A violation about polyclinic No. 17 under the person's name, with their phone and (by default) a photo and a
    PDF: urgent, so it reaches the prosecutor's chat. Returns the reference number."""
    await person.press(RU("menu.leave_feedback"))
    await choose_clinic_17(person)
    await person.press(RU("target.clinic"))
    await person.press(RU("kind.violation"))
    await person.press(RU("category.extortion"))
    await person.send(BRIBE)
    if evidence:
        await person.photo(PHOTO_A)
        await person.document(PDF, "receipt.pdf", "application/pdf")
    await person.press(RU("when.today"))
    await person.press(RU("preview.toggle_name", mark="⬜"))
    await person.contact(PHONE)
    reply = await person.press(RU("preview.submit"))
    [reference] = [word for text in reply.texts for word in text.split() if word.startswith("AL-")]
    return reference.rstrip(".,")


def press_in_menu(person: UserClient, key: str):
    """Press a main-menu button on the latest menu the person was shown."""
    menu = [m for m in person.bot_messages() if m.reply_markup and any(
        b.text == RU(key) for row in m.reply_markup.inline_keyboard for b in row)][-1]
    return person.press(RU(key), message=menu.message_id)


def card_in_chat(app: App):
    return [m for m in app.session.history(CHAT) if m.text and m.reply_markup][-1]


async def prosecutor_acts(app: App, button: str, words: str | None = None, officer_id: int = PROSECUTOR) -> None:
    officer = app.user(officer_id, chat_id=CHAT, first_name="Прокурор")
    await officer.press(RU(button), message=card_in_chat(app).message_id)
    if words is not None:
        await officer.send(words)
        await officer.press(RU("case_draft.button_send"))  # the preview, then Send


async def mydata(person: UserClient) -> tuple[SendDocument, dict, bytes]:
    reply = await person.command("mydata")
    [call] = [c for c in reply.calls if isinstance(c, SendDocument)]
    raw = call.document.data
    return call, json.loads(raw.decode("utf-8")), raw


async def count(app: App, model) -> int:
    async with app.pool() as session:
        return await session.scalar(select(func.count()).select_from(model))


async def test_mydata_sends_everything_stored_about_the_resident(app: App) -> None:
    person = await resident(app, PERSON)
    app.clock.advance(minutes=5)
    reference = await submit_named_violation(app, person)
    relay = relay_for(app)
    await relay.run_once()
    async with app.pool() as session, session.begin():
        await Repositories(session).staff.grant(ADMIN, Role.ADMIN, app.clock.now)
    app.clock.advance(hours=2)
    await prosecutor_acts(app, "alert.button_take", officer_id=ADMIN)
    app.clock.advance(days=1)
    await prosecutor_acts(app, "alert.button_close", ANSWER)

    call, data, raw = await mydata(person)
    summary = person.bot_messages()[-2].text  # a readable summary comes before the file
    assert summary.startswith("Что MedFeedback хранит о вас") and reference in summary and "Айгуль" in summary
    assert RU("privacy.summary_reviews", count=1) in summary
    assert call.document.filename == "medfeedback-data-2026-11-27.json"
    assert call.caption == RU("privacy.mydata_caption")
    # UTF-8 as is, not \u escapes; and nobody else's Telegram id anywhere in it.
    assert "Айгуль".encode() in raw and b"\\u04" not in raw
    assert str(PROSECUTOR).encode() not in raw and str(ADMIN).encode() not in raw
    assert data["format"] == privacy.EXPORT_FORMAT
    assert data["exported_at"] == "2026-11-27T12:05:00+05:00"
    assert data["profile"] == {
        "telegram_id": PERSON, "language": "ru", "first_name": "Айгуль", "phone": PHONE,
        "registered_at": "2026-11-26T10:00:00+05:00",
        "consent": {"version": CONSENT_VERSION, "given_at": "2026-11-26T10:00:00+05:00", "withdrawn_at": None},
    }
    [review] = data["reviews"]
    assert {key: review[key] for key in ("reference", "submitted_at", "clinic", "doctor", "kind", "category",
                                         "rating", "criteria", "text", "anonymous", "published_name",
                                         "phone_shared", "status")} == {
        "reference": reference, "submitted_at": "2026-11-26T10:05:00+05:00", "clinic": "Городская поликлиника №17",
        "doctor": None, "kind": "violation", "category": "extortion", "rating": None, "criteria": {}, "text": BRIBE,
        "anonymous": False, "published_name": "Айгуль", "phone_shared": True, "status": "answered"}
    # Evidence: what each file is and its fingerprint, never where it lies on the server.
    assert [(e["kind"], e["size"], e["sha256"]) for e in review["evidence"]] == [
        ("photo", len(PHOTO_A), hashlib.sha256(PHOTO_A).hexdigest()),
        ("document", len(PDF), hashlib.sha256(PDF).hexdigest())]
    async with app.pool() as session:
        paths = (await session.scalars(select(ReviewMedia.stored_path))).all()
        file_ids = (await session.scalars(select(ReviewMedia.file_id))).all()
    assert all(path and path.encode() not in raw for path in paths)
    assert all(file_id.encode() not in raw for file_id in file_ids)
    assert str(app.settings.media.dir).encode() not in raw
    assert review["case"] == {"status": "closed", "formal_appeal": True, "due_date": "2026-12-18", "extended": False,
                              "extension_reason": None, "closed_at": "2026-11-27T12:05:00+05:00"}
    assert [(a["by"], a["text"]) for a in review["answers"]] == [("prosecutor", ANSWER)]
    assert [(h["action"], h["by"]) for h in review["history"]] == [
        ("review.submitted", "you"), ("case.taken", "admin"), ("case.closed", "prosecutor")]
    assert review["history"][1]["at"] == "2026-11-26T12:05:00+05:00"
    assert [(h["action"], h["by"]) for h in data["account_history"]] == [
        ("consent.given", "you"), ("user.phone_shared", "you")]


async def test_mydata_for_a_newcomer_and_for_someone_with_no_reviews(app: App) -> None:
    newcomer = app.user(2101, language_code="en")
    reply = await newcomer.command("mydata")
    assert reply.texts == [T["en"]("privacy.mydata_nothing")]
    assert not [c for c in reply.calls if isinstance(c, SendDocument)]
    assert await count(app, User) == 0  # asking created nothing

    person = await resident(app, 2102, "en", "English", first_name="Dana")
    _, data, _ = await mydata(person)
    assert data["profile"]["first_name"] == "Dana" and data["profile"]["language"] == "en"
    assert data["reviews"] == []


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_forget_removes_the_identity_and_keeps_reviews_cases_evidence_and_stats(app: App) -> None:
    person = await resident(app, PERSON)
    reference = await submit_named_violation(app, person)
    relay = relay_for(app)
    assert await relay.run_once() == 3  # the card, the photo and the document reached the prosecutor's chat
    await prosecutor_acts(app, "alert.button_take")  # a status notice to the resident, not sent yet
    await person.press(RU("menu.leave_feedback"))
    await person.send("17")  # a new review half written: a draft in the conversation state
    async with app.pool() as session:
        assert (await session.scalar(select(func.count()).select_from(OutboxMessage)
                                     .where(OutboxMessage.chat_id == PERSON, OutboxMessage.status == "pending"))) == 1
        assert await session.scalar(select(FsmRecord).where(FsmRecord.key.like(f"%:{PERSON}:%"))) is not None
        [old] = (await session.scalars(select(User))).all()
        [media_paths] = [(await session.scalars(select(ReviewMedia.stored_path))).all()]
    stats_before = (await count(app, ClinicStats), await count(app, CountedReview))
    in_chat_before = len(await one(app, select(OutboxMessage).where(OutboxMessage.chat_id == CHAT)))

    reply = await person.command("forget")
    assert reply.text == RU("privacy.forget_confirm").replace("<b>", "").replace("</b>", "")
    assert reply.buttons == [[RU("privacy.forget_button")], [RU("privacy.keep_button")]]
    app.clock.advance(minutes=1)
    reply = await person.press(RU("privacy.forget_button"))
    assert reply.texts[-1] == RU("privacy.forget_done", when="26.11.2026 10:01")  # it says when
    assert person.last_buttons() == []  # the question's buttons are gone

    async with app.pool() as session:
        assert await session.scalar(select(User).where(User.telegram_id == PERSON)) is None
        user = await session.get(User, old.id)
        assert user.pseudonym.startswith("forgotten-") and len(user.pseudonym) > len("forgotten-") + 8
        assert (user.telegram_id, user.first_name, user.phone, user.language) == (None, None, None, None)
        assert user.consent_withdrawn_at == app.clock.now
        [review] = (await session.scalars(select(Review))).all()
        assert (review.reference, review.user_id, review.text) == (reference, old.id, BRIBE)
        assert review.anonymous and review.author_name is None
        assert (await session.scalar(select(Case))).review_id == review.id
        assert (await session.scalars(select(ReviewMedia.stored_path))).all() == media_paths
        # Nothing addressed to their chat, no conversation state, no audit entry carrying their Telegram id.
        assert (await session.scalars(select(OutboxMessage).where(OutboxMessage.chat_id == PERSON))).all() == []
        assert (await session.scalars(select(FsmRecord.key))).all() == []
        assert await session.scalar(select(AuditLog).where(AuditLog.actor_telegram_id == PERSON)) is None
        forgotten = await session.scalar(select(AuditLog).where(AuditLog.action == "user.forgotten"))
        assert (forgotten.actor_telegram_id, forgotten.entity_id) == (None, old.id)
        assert forgotten.details["pseudonym"] == user.pseudonym
        # The prosecutor's alerts stay, and their stored card no longer names the person.
        cards = (await session.scalars(select(OutboxMessage).where(OutboxMessage.chat_id == CHAT))).all()
    assert len(cards) == in_chat_before
    [card] = [c for c in cards if c.kind == "alert"]
    assert PHONE not in card.payload["text"] and "Айгуль" not in card.payload["text"]
    assert RU("alert.forgotten") in card.payload["text"]
    assert (await count(app, ClinicStats), await count(app, CountedReview)) == stats_before
    for path in media_paths:
        assert (Path(app.settings.media.dir) / path).is_file()
    app.clock.advance(seconds=5)
    before = len(app.session.sent_messages(PERSON))
    await relay.run_once()
    assert app.session.sent_messages(PERSON)[before:] == []  # the queued status notice was dropped, not sent

    # The old confirmation pressed again: explained, nothing changes.
    stale = ForgetChoice(action=ForgetAction.CONFIRM, user_id=old.id).pack()
    reply = await person.press_data(stale)
    assert reply.callback_answers == [RU("privacy.forget_stale")]

    # The same Telegram account is now a stranger: onboarding again, and the old review is not theirs.
    reply = await person.command("start")
    assert reply.text.startswith(RU("language.prompt_all"))
    await person.press("Русский")
    await person.press(RU("consent.accept"))
    async with app.pool() as session:
        again = await session.scalar(select(User).where(User.telegram_id == PERSON))
    assert again.id != old.id and again.pseudonym is None
    _, data, raw = await mydata(person)
    assert data["reviews"] == [] and reference.encode() not in raw
    reply = await person.press_data(stale)
    assert reply.callback_answers == [RU("privacy.forget_stale")]
    async with app.pool() as session:
        assert (await session.get(User, again.id)).telegram_id == PERSON


async def test_forget_cancelled_or_forged_keeps_everything(app: App) -> None:
    person = await resident(app, PERSON)
    reference = await submit_named_violation(app, person, evidence=False)
    await person.command("forget")
    reply = await person.press(RU("privacy.keep_button"))
    assert reply.texts[-1] == RU("privacy.forget_cancelled") and reply.buttons == [[RU("menu.home")]]

    # Someone else's confirmation, forged: refused, and neither of them changes.
    other = await resident(app, 2202, first_name="Ерлан")
    async with app.pool() as session:
        owner = await session.scalar(select(User).where(User.telegram_id == PERSON))
    reply = await other.press_data(ForgetChoice(action=ForgetAction.CONFIRM, user_id=owner.id).pack())
    assert reply.callback_answers == [RU("privacy.forget_stale")]

    async with app.pool() as session:
        users = {u.telegram_id: u for u in (await session.scalars(select(User))).all()}
        [review] = (await session.scalars(select(Review))).all()
        actions = (await session.scalars(select(AuditLog.action))).all()
    assert set(users) == {PERSON, 2202}
    assert (users[PERSON].first_name, users[PERSON].phone, users[PERSON].pseudonym) == ("Айгуль", PHONE, None)
    assert users[2202].pseudonym is None
    assert (review.reference, review.anonymous, review.author_name) == (reference, False, "Айгуль")
    assert "user.forgotten" not in actions


async def test_forget_for_a_newcomer_has_nothing_to_delete(app: App) -> None:
    reply = await app.user(2301).command("forget")
    assert reply.texts == [RU("privacy.forget_nothing")] and reply.buttons == []


async def test_withdrawing_consent_blocks_submitting_and_is_audited(app: App) -> None:
    person = await resident(app, PERSON)
    reply = await person.command("consent")
    assert reply.text == RU("privacy.consent_state_given", when="26.11.2026 10:00", version=CONSENT_VERSION)
    assert reply.buttons == [[RU("privacy.withdraw_button")]]

    await press_in_menu(person, "menu.leave_feedback")
    await person.send("17")  # a review half written
    await person.command("consent")
    app.clock.advance(minutes=3)
    reply = await person.press(RU("privacy.withdraw_button"))
    # One tap does not drop the review being written: it says so and asks.
    assert reply.text == RU("privacy.withdraw_confirm_draft")
    reply = await person.press(RU("privacy.withdraw_confirm_button"))
    assert reply.texts[-1] == RU("privacy.consent_withdrawn") and reply.buttons == [[RU("menu.home")]]
    async with app.pool() as session:
        user = await session.scalar(select(User).where(User.telegram_id == PERSON))
        entry = await session.scalar(select(AuditLog).where(AuditLog.action == "consent.withdrawn"))
    assert user.consent_withdrawn_at == app.clock.now and user.consent_version == CONSENT_VERSION
    assert (entry.actor_telegram_id, entry.entity, entry.entity_id, entry.at) == (PERSON, "user", user.id,
                                                                                  app.clock.now)
    state = await app.dp.fsm.get_context(app.bot, chat_id=PERSON, user_id=PERSON).get_state()
    assert state is None  # the draft is gone with the conversation

    # No new review: the flow asks for consent first.
    reply = await person.command("review")
    assert RU("consent.required") in reply.texts
    assert await count(app, Review) == 0

    # Withdrawing twice (an old button) changes nothing; giving it again goes through the consent screen.
    reply = await person.command("consent")
    assert reply.text == RU("privacy.consent_state_withdrawn", when="26.11.2026 10:03")
    assert reply.buttons == [[RU("privacy.give_button")]]
    reply = await person.press_data("pvc:withdraw")
    assert reply.callback_answers == [RU("privacy.consent_not_in_force")]
    reply = await person.press(RU("privacy.give_button"))
    assert "CONSENT_VERSION" not in reply.text and CONSENT_VERSION in reply.text
    reply = await person.press(RU("consent.accept"))
    async with app.pool() as session:
        user = await session.scalar(select(User).where(User.telegram_id == PERSON))
        actions = (await session.scalars(select(AuditLog.action).order_by(AuditLog.id))).all()
    assert user.has_consent and user.consent_withdrawn_at is None
    assert actions == ["consent.given", "consent.withdrawn", "consent.given"]


async def test_consent_for_someone_who_never_gave_it(app: App) -> None:
    person = app.user(2401, language_code="kk")
    reply = await person.command("consent")
    assert reply.text == T["kk"]("privacy.consent_none")
    assert reply.buttons == [[T["kk"]("privacy.give_button")]]
    reply = await person.press(T["kk"]("privacy.give_button"))
    assert reply.buttons == [[T["kk"]("consent.accept")], [T["kk"]("consent.decline")]]


async def test_after_withdrawal_only_the_legally_required_answer_reaches_the_resident(app: App) -> None:
    person = await resident(app, PERSON)
    reference = await submit_named_violation(app, person, evidence=False)
    relay = relay_for(app)
    await relay.run_once()
    await person.command("consent")
    await person.press(RU("privacy.withdraw_button"))
    await person.press(RU("privacy.withdraw_confirm_button"))

    await prosecutor_acts(app, "alert.button_take")  # news about the handling: not queued any more
    async with app.pool() as session:
        queued = (await session.scalars(select(OutboxMessage.dedupe_key)
                                        .where(OutboxMessage.chat_id == PERSON))).all()
    assert queued == []
    before = len(app.session.sent_messages(PERSON))
    await prosecutor_acts(app, "alert.button_close", ANSWER)  # the answer to a formal appeal: a legal duty
    app.clock.advance(seconds=5)
    await relay.run_once()
    told = [c.text for c in app.session.sent_messages(PERSON)[before:] if isinstance(c, SendMessage)
            and reference in c.text]
    assert len(told) == 1 and ANSWER in told[0]
    assert len(await one(app, select(Response))) == 1


def test_which_notices_still_go_out_after_withdrawal() -> None:
    from datetime import UTC, datetime

    given = User(telegram_id=1, consent_version=CONSENT_VERSION, consent_withdrawn_at=None)
    withdrawn = User(telegram_id=1, consent_version=CONSENT_VERSION, consent_withdrawn_at=datetime(2026, 1, 1,
                                                                                                   tzinfo=UTC))
    forgotten = User(telegram_id=None, pseudonym="forgotten-1")
    complaint, gratitude = Review(kind="complaint"), Review(kind="gratitude")
    assert privacy.may_notify(complaint, given, "status:in_progress")
    assert not privacy.may_notify(complaint, forgotten, "answer")
    assert [event for event in ("answer", "answer:2", "rejected", "extended", "status:forwarded",
                                "status:in_progress", "ask:1") if privacy.may_notify(complaint, withdrawn, event)] == [
        "answer", "answer:2", "rejected", "extended", "status:forwarded", "ask:1"]
    assert not privacy.may_notify(gratitude, withdrawn, "answer")


async def test_the_commands_are_in_the_menu_in_each_language(app: App) -> None:
    await app.dp.emit_startup(bot=app.bot, **app.dp.workflow_data)
    by_language = {call.language_code: {c.command: c.description for c in call.commands}
                   for call in app.session.calls_of(SetMyCommands)}
    for language in ("kk", "ru", "en"):
        for command in ("mydata", "forget", "consent"):
            assert by_language[language][command] == T[language](f"commands.{command}")


# --- Consent withdrawn, or the person forgotten, while the office still works (a tester acting as residents) -------


def _texts_to(app: App, chat_id: int, since: int = 0) -> list[str]:
    return [call.text for call in app.session.sent_messages(chat_id)[since:] if isinstance(call, SendMessage)]


async def _withdraw_consent(person: UserClient) -> None:
    await person.command("consent")
    await person.press(RU("privacy.withdraw_button"))
    await person.press(RU("privacy.withdraw_confirm_button"))


async def test_the_offices_question_reaches_an_applicant_who_withdrew_consent(app: App) -> None:
    """Her formal appeal is still being considered: the office's question is part of that, like its answer (before,
    the office was told "sent to the applicant" and the case waited while nothing went to her)."""
    from tests.test_alerts import relay_for

    person = await resident(app, PERSON)
    await submit_named_violation(app, person, evidence=False)
    relay = relay_for(app)
    await relay.run_once()
    await _withdraw_consent(person)
    before = len(app.session.sent_messages(PERSON))
    question = "Уточните, пожалуйста, дату и время приёма."
    await prosecutor_acts(app, "alert.button_ask", question)
    app.clock.advance(seconds=5)
    await relay.run_once()
    assert [text for text in _texts_to(app, PERSON, before) if question in text]


async def test_the_office_cannot_ask_an_applicant_who_was_forgotten_and_is_told_so(app: App) -> None:
    from tests.test_alerts import relay_for

    person = await resident(app, PERSON)
    reference = await submit_named_violation(app, person, evidence=False)
    await relay_for(app).run_once()
    await person.command("forget")
    await person.press(RU("privacy.forget_button"))
    await prosecutor_acts(app, "alert.button_take")
    officer = app.user(PROSECUTOR, chat_id=CHAT, first_name="Прокурор")
    await officer.press(RU("alert.button_ask"), message=card_in_chat(app).message_id)
    await officer.send("Уточните дату приёма.")
    reply = await officer.press(RU("case_draft.button_send"))
    assert reply.callback_answers == [RU("cases.cannot_ask")], reply
    assert RU("alert.done_ask", reference=reference) not in [m.text for m in app.session.history(CHAT)]
    [case] = await one(app, select(Case))
    assert case.status != "waiting_resident"


async def test_a_notice_queued_before_consent_was_withdrawn_is_not_delivered_after_it(app: App) -> None:
    """"Taken in work" was queued when she withdrew consent and was told no such news would come: it does not come.
    The office's answer, which the law requires, still does."""
    from tests.test_alerts import relay_for

    person = await resident(app, PERSON)
    reference = await submit_named_violation(app, person, evidence=False)
    relay = relay_for(app)
    await relay.run_once()
    await prosecutor_acts(app, "alert.button_take")  # queued for her, not sent yet
    await _withdraw_consent(person)
    before = len(app.session.sent_messages(PERSON))
    app.clock.advance(seconds=5)
    await relay.run_once()
    assert not [text for text in _texts_to(app, PERSON, before) if RU("status.in_progress") in text]
    await prosecutor_acts(app, "alert.button_close", "Проверка проведена, нарушение подтвердилось.")
    app.clock.advance(seconds=5)
    await relay.run_once()
    assert [text for text in _texts_to(app, PERSON, before) if "нарушение подтвердилось" in text], reference
