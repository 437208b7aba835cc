"""Polyclinics hear their feedback: chats linked by a one-time code, reviews posted without the resident's identity,
staff answers (published on the clinic's page and sent to the resident), scoping to one's own clinic, escalation."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from aiogram.methods import SendMessage
from sqlalchemy import select

from bot.cases import cards as alerts
from bot.cases import notices
from bot.l10n import Translator
from bot.scheduler import escalate_unanswered, morning_reminders
from bot.services.relay import Relay
from storage.models import AuditLog, Case, ClinicChat, LinkCode, OutboxMessage, Response, Review, Role, StaffRole
from tests.conftest import BACKENDS, App
from tests.fakes.client import UserClient
from tests.flows import FULL_NAME, RU, choose_clinic_17, choose_kind, clinic_17, describe, one, plain, resident

pytestmark = pytest.mark.usefixtures("demo_directory")
EN = Translator()["en"]
ADMIN = 9001  # in the test settings' admins
OFFICE = -1001234567890  # the test settings' prosecutor chat
CLINIC_CHAT, OTHER_CHAT = -1005000000017, -1005000000002
STAFF, OTHER_STAFF, OFFICER = 8101, 8102, 7001
RESIDENT = 2001
PHONE = "+77017654321"


def relay_for(app: App) -> Relay:
    return Relay(app.bot, app.pool, app.clock, app.settings.admins, group_alerts=alerts.group_alerts_for(app.settings))


async def deliver(app: App) -> None:
    """Let the relay send everything due (a second apart, as Telegram's pace for a person asks)."""
    relay = relay_for(app)
    for _ in range(5):
        app.clock.advance(seconds=2)
        await relay.run_once()


async def link_code(app: App, clinic: str = "17") -> str:
    reply = await app.user(ADMIN).command("linkclinic", clinic)
    return re.search(r"/link (\S+)", reply.text).group(1)


async def link_group(app: App, chat_id: int = CLINIC_CHAT, clinic: str = "17", user_id: int = STAFF) -> UserClient:
    member = app.user(user_id, chat_id=chat_id, first_name="Гульнара")
    reply = await member.command("link", await link_code(app, clinic))
    assert reply.text.startswith("✅"), reply.text
    # The clinic's own group is run by its administrators: they may answer in its name (plain members may not).
    app.session.set_chat_member(chat_id, user_id, "administrator")
    return member


async def submit_about_clinic(app: App, person: UserClient, *, kind: str = "complaint", text: str = "Нагрубили.",
                              named: bool = False, phone: str | None = None, category: str = "rudeness") -> str:
    await person.press(RU("menu.leave_feedback"))
    await choose_clinic_17(person)
    await person.press(RU("target.clinic"))
    await choose_kind(person, kind, category, "2⭐")
    await describe(person, text)
    if named:
        await person.press(RU("preview.toggle_name", mark="⬜"))
    if kind != "gratitude":
        if phone:
            await person.contact(phone)
        await person.send(FULL_NAME)  # a formal appeal, with its legal due date
    reply = await person.press(RU("preview.submit"))
    return re.search(r"AL-\d{4}-\d{6}", "\n".join(reply.texts)).group()


def posts_in(app: App, chat_id: int):
    return [m for m in app.session.history(chat_id) if m.reply_markup is not None
            and any(b.text == RU("clinic_post.answer_button") for row in m.reply_markup.inline_keyboard for b in row)]


def texts_to(app: App, chat_id: int) -> list[str]:
    return [call.text for call in app.session.sent_messages(chat_id) if isinstance(call, SendMessage)]


# --- Linking a chat -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_an_admins_one_time_code_links_a_group_once(app: App, backend: str) -> None:
    clinic = await clinic_17(app)
    # Not an admin: no code is made.
    reply = await app.user(4444).command("linkclinic", "17")
    assert reply.texts == [RU("admin.refused")]
    assert await one(app, select(LinkCode)) == []

    reply = await app.user(ADMIN).command("linkclinic", "clinic:gp-17")
    [stored] = await one(app, select(LinkCode))
    assert (stored.clinic_id, stored.created_by, stored.used_at) == (clinic.id, ADMIN, None)
    assert stored.expires_at == app.clock.now + timedelta(hours=24)
    shown = f"{stored.code[:5]}-{stored.code[5:]}"
    assert shown in reply.text and "27.11.2026 10:00" in reply.text  # valid until, Almaty time

    member = app.user(STAFF, chat_id=CLINIC_CHAT)
    assert (await member.command("link", "WRONG-CODE1")).text == RU("link.unknown")
    assert await one(app, select(ClinicChat)) == []
    reply = await member.command("link", shown.lower())  # typed in lower case: still the code
    assert reply.text == plain(RU("link.done", clinic="Городская поликлиника №17", days=RU.count("working_days", 5)))
    [linked] = await one(app, select(ClinicChat))
    assert (linked.clinic_id, linked.chat_id, linked.linked_by, linked.active) == (clinic.id, CLINIC_CHAT, STAFF, True)
    [stored] = await one(app, select(LinkCode))
    assert (stored.used_at, stored.used_in_chat) == (app.clock.now, CLINIC_CHAT)

    # Used once: another group cannot use it, and nothing changes.
    reply = await app.user(STAFF + 1, chat_id=OTHER_CHAT).command("link", shown)
    assert reply.text == RU("link.used")
    assert [chat.chat_id for chat in await one(app, select(ClinicChat))] == [CLINIC_CHAT]

    # Expired: a code made now and entered 25 hours later links nothing.
    late = await link_code(app, "2")
    app.clock.advance(hours=25)
    reply = await app.user(STAFF + 1, chat_id=OTHER_CHAT).command("link", late)
    assert reply.text == RU("link.expired")
    assert [chat.chat_id for chat in await one(app, select(ClinicChat))] == [CLINIC_CHAT]
    assert [code.used_at for code in await one(app, select(LinkCode).where(LinkCode.clinic_id != clinic.id))] == [None]
    actions = await one(app, select(AuditLog.action).where(AuditLog.action.like("clinic.%")).order_by(AuditLog.id))
    assert actions == ["clinic.link_code_made", "clinic.chat_linked", "clinic.link_code_made"]


async def test_a_link_code_sent_in_the_prosecutors_chat_links_nothing_and_still_links_the_clinics_group(
        app: App) -> None:
    """Pasted in the office's group by mistake: linked, the office would get No. 17's posts with an Answer button
    its administrators could use in the polyclinic's name."""
    code = await link_code(app)
    reply = await app.user(7001, chat_id=OFFICE).command("link", code)
    assert reply.texts == [RU("link.office_chat")]
    assert await one(app, select(ClinicChat)) == []
    [stored] = await one(app, select(LinkCode))
    assert stored.used_at is None
    reply = await app.user(STAFF, chat_id=CLINIC_CHAT).command("link", code)
    assert reply.text == plain(RU("link.done", clinic="Городская поликлиника №17", days=RU.count("working_days", 5)))


# --- Reviews reach the clinic without the resident's identity ---------------------------------------------------


async def test_a_complaint_is_posted_to_the_clinic_without_identity(app: App) -> None:
    await link_group(app)
    person = await resident(app, RESIDENT, first_name="Айгуль")
    reference = await submit_about_clinic(app, person, text="Регистратор нахамила, мой номер 87011234567.",
                                          phone=PHONE)
    await deliver(app)
    [post] = posts_in(app, CLINIC_CHAT)
    text = post.text
    for expected in (RU("pages.anonymous"), reference, RU("category.rudeness"), "2⭐", "Регистратор нахамила",
                     RU("masking.phone"), "18.12.2026",  # the legal due date of the appeal
                     "03.12.2026"):  # 5 working days after Thu 26 Nov: 27, 30 Nov, 1, 2, 3 Dec
        assert expected in text, expected
    for identity in ("Айгуль", PHONE, "87011234567", str(RESIDENT)):
        assert identity not in text, identity
    # The original is kept for the prosecutor's office; the public version is what the clinic reads.
    [review] = await one(app, select(Review))
    assert "87011234567" in review.text and review.public_text == "Регистратор нахамила, мой номер [телефон скрыт]."


async def test_a_withdrawn_complaints_post_in_the_clinics_chat_says_so_and_asks_for_no_answer(app: App) -> None:
    """Withdrawn by its author, the complaint's post went on asking the clinic to answer by its date, with her
    words and the Answer button (which then refused): staff prepared an answer to something no longer there."""
    from bot.callbacks import MyReviewOpen

    await link_group(app)
    person = await resident(app, RESIDENT, first_name="Айгуль")
    reference = await submit_about_clinic(app, person, text="Регистратор нахамила в окне 3.")
    await deliver(app)
    [post] = posts_in(app, CLINIC_CHAT)
    [review] = await one(app, select(Review))
    opened = await person.press_data(MyReviewOpen(review_id=review.id).pack())
    await person.press(RU("case_resident.withdraw_button"), message=opened.messages[-1])
    await person.press(RU("case_resident.withdraw_yes"))
    await deliver(app)
    shown = app.session.message(CLINIC_CHAT, post.message_id)
    assert shown.text == plain(RU("clinic_post.withdrawn", review=reference)), shown.text
    assert "нахамила" not in shown.text and not (shown.reply_markup and shown.reply_markup.inline_keyboard)
    assert posts_in(app, CLINIC_CHAT) == []  # no post of it asks for an answer now


async def test_a_named_gratitude_shows_the_first_name_but_no_reference(app: App) -> None:
    await link_group(app)
    person = await resident(app, RESIDENT, first_name="Айгуль")
    reference = await submit_about_clinic(app, person, kind="gratitude", text="Спасибо регистратуре!", named=True)
    await deliver(app)
    [post] = posts_in(app, CLINIC_CHAT)
    assert "Айгуль" in post.text and "Спасибо регистратуре!" in post.text
    assert reference not in post.text and str(RESIDENT) not in post.text


async def test_a_clinic_without_a_linked_chat_receives_nothing(app: App) -> None:
    person = await resident(app, RESIDENT)
    await submit_about_clinic(app, person)
    assert await one(app, select(OutboxMessage).where(OutboxMessage.kind == "clinic_review")) == []


async def test_a_clinic_without_a_group_hears_through_its_staffs_private_chats(app: App) -> None:
    await app.user(ADMIN).command("grant", f"{STAFF} clinic_staff 17")
    await app.user(ADMIN).command("grant", f"{OTHER_STAFF} clinic_staff 2")
    person = await resident(app, RESIDENT)
    reference = await submit_about_clinic(app, person, text="Не записали к терапевту.")
    await deliver(app)
    assert posts_in(app, OTHER_STAFF) == []
    [post] = posts_in(app, STAFF)
    assert reference in post.text and "Не записали к терапевту." in post.text
    staff = app.user(STAFF)
    await staff.press(RU("clinic_post.answer_button"), message=post.message_id)
    reply = await staff.send("Запишем вас на завтра, позвоните в регистратуру.")
    assert reply.text == RU("clinic_answer.published", review=reference)


# --- Staff answer -----------------------------------------------------------------------------------------------


async def test_staff_whose_membership_telegram_cannot_confirm_are_told_to_try_again(app: App) -> None:
    """getChatMember failing (a 502) on the update and on its second try: the staffer read "something went wrong
    on our side", which is untrue and says nothing of what to do. Now: Telegram could not confirm, try again."""
    from aiogram.methods import GetChatMember

    staff = await link_group(app)
    person = await resident(app, RESIDENT)
    await submit_about_clinic(app, person, text="Долго ждали в регистратуре.")
    await deliver(app)
    [post] = posts_in(app, CLINIC_CHAT)
    await staff.feed(app.updates.chat_member(CLINIC_CHAT, STAFF, old="member", new="administrator"))  # no cache
    app.session.fail_next(GetChatMember, error_code=502, description="Bad Gateway", times=2)
    reply = await staff.press(RU("clinic_post.answer_button"), message=post.message_id)
    assert reply.callback_answers == [RU("errors.membership_unknown")], reply.callback_answers
    reply = await staff.press(RU("clinic_post.answer_button"), message=post.message_id)  # Telegram answers again
    assert reply.text.startswith(RU("clinic_answer.prompt", name="Гульнара", review="X", limit=3500)[:12])


async def test_staff_answer_is_published_on_the_clinic_page_and_reaches_the_resident(app: App) -> None:
    staff = await link_group(app)
    person = await resident(app, RESIDENT)
    reference = await submit_about_clinic(app, person, text="Долго ждали в регистратуре.")
    await deliver(app)
    [post] = posts_in(app, CLINIC_CHAT)
    reply = await staff.press(RU("clinic_post.answer_button"), message=post.message_id)
    assert reply.text == RU("clinic_answer.prompt", name="Гульнара", review=reference, limit=3500)
    reply = await staff.send("Приносим извинения, пишите заведующей: head@clinic17.kz.")
    # The staff are told that something was hidden from the resident.
    assert reply.text == RU("clinic_answer.published", review=reference) + "\n" + RU("case_clinic.masked")

    [response] = await one(app, select(Response))
    assert (response.author_telegram_id, response.author_role, response.public_status) == (
        STAFF, Role.CLINIC_STAFF, "published")
    assert response.text.endswith("head@clinic17.kz.")  # the original, as written
    assert response.public_text == "Приносим извинения, пишите заведующей: [e-mail скрыт]."
    await deliver(app)
    [told] = [text for text in texts_to(app, RESIDENT) if reference in text and "Приносим" in text]
    assert told == RU("clinic_notify.answer_appeal", clinic="Городская поликлиника №17", reference=reference,
                      answer="Приносим извинения, пишите заведующей: [e-mail скрыт].")
    clinic = await clinic_17(app)
    await person.command("start", f"page-clinic-{clinic.id}")
    reply = await person.press(RU("clinic_page.answers_button", count=1))
    assert "Приносим извинения, пишите заведующей: [e-mail скрыт]." in reply.text and "head@" not in reply.text
    # Only one answer per press: the next message in the chat is ordinary talk.
    await staff.send("Коллеги, ответил.")
    assert len(await one(app, select(Response))) == 1
    assert await one(app, select(AuditLog.action).where(AuditLog.action == "clinic.answered")) == ["clinic.answered"]


async def test_the_clinics_own_phone_stays_in_its_answer_and_plain_members_may_not_answer(app: App) -> None:
    staff = await link_group(app)
    person = await resident(app, RESIDENT)
    reference = await submit_about_clinic(app, person, text="Долго ждали в регистратуре.")
    await deliver(app)
    [post] = posts_in(app, CLINIC_CHAT)
    # A plain member of the clinic's group (no staff role, not an administrator) is refused by default...
    member = app.user(8150, chat_id=CLINIC_CHAT, first_name="Данияр")
    reply = await member.press(RU("clinic_post.answer_button"), message=post.message_id)
    assert reply.callback_answers == [RU("clinic_answer.refused")]
    # ...and may answer once clinics.members_may_answer opens it.
    app.settings.clinics.members_may_answer = True
    reply = await member.press(RU("clinic_post.answer_button"), message=post.message_id)
    assert reply.callback_answers == [None]
    app.settings.clinics.members_may_answer = False
    await member.command("cancel")
    await staff.press(RU("clinic_post.answer_button"), message=post.message_id)
    await staff.send("Звоните в регистратуру: +7 727 000 00 17, или мне лично 8 701 123 45 67.")
    [response] = await one(app, select(Response))
    # The directory's number of No. 17 (+7 727 000 00 17) is the clinic's own: it stays; a private one goes.
    assert response.public_text == "Звоните в регистратуру: +7 727 000 00 17, или мне лично [телефон скрыт]."
    await deliver(app)
    assert any("+7 727 000 00 17" in text for text in texts_to(app, RESIDENT) if reference in text)


async def test_staff_answer_waits_for_the_moderator_when_the_queue_is_on(app: App) -> None:
    app.settings.moderation.queue = True
    staff = await link_group(app)
    person = await resident(app, RESIDENT)
    reference = await submit_about_clinic(app, person, text="Долго ждали в регистратуре.")
    moderator = app.user(ADMIN)
    await moderator.command("moderation")
    await moderator.press(RU("moderation.button_ok"))  # the review itself waited too: now it is posted
    await deliver(app)
    [post] = posts_in(app, CLINIC_CHAT)
    await staff.press(RU("clinic_post.answer_button"), message=post.message_id)
    reply = await staff.send("Разобрались, администратор получил замечание.")
    assert reply.text == RU("clinic_answer.held", review=reference)
    [response] = await one(app, select(Response))
    assert response.public_status == "pending"
    await deliver(app)
    assert not [text for text in texts_to(app, RESIDENT) if "Разобрались" in text]
    clinic = await clinic_17(app)
    reply = await person.command("start", f"page-clinic-{clinic.id}")
    assert [RU("clinic_page.answers_button", count=0)] in reply.buttons

    reply = await moderator.command("moderation")
    assert RU("moderation.answer_header", reference=reference, kind=RU("kind.complaint") + " · "
              + RU("category.rudeness"), stars="2⭐").replace("<b>", "").replace("</b>", "") in reply.text
    await moderator.press(RU("moderation.button_ok"))
    [response] = await one(app, select(Response))
    assert response.public_status == "published"
    await deliver(app)
    assert [text for text in texts_to(app, RESIDENT) if "Разобрались" in text] == [RU(
        "clinic_notify.answer_appeal", clinic="Городская поликлиника №17", reference=reference,
        answer="Разобрались, администратор получил замечание.")]
    assert RU("clinic_chat.answer_published", review=reference) in texts_to(app, CLINIC_CHAT)
    reply = await person.command("start", f"page-clinic-{clinic.id}")
    reply = await person.press(RU("clinic_page.answers_button", count=1))
    assert "Разобрались, администратор получил замечание." in reply.text


async def test_staff_of_another_clinic_cannot_answer(app: App) -> None:
    await link_group(app)
    other = await link_group(app, OTHER_CHAT, clinic="2", user_id=OTHER_STAFF)
    await app.user(ADMIN).command("grant", f"{OTHER_STAFF} clinic_staff 2")
    person = await resident(app, RESIDENT)
    await submit_about_clinic(app, person)
    await deliver(app)
    [post] = posts_in(app, CLINIC_CHAT)
    [review] = await one(app, select(Review))

    # In clinic 17's chat (public, so they can see it), but not a member of it: refused.
    app.session.set_chat_member(CLINIC_CHAT, OTHER_STAFF, "left")
    intruder = app.user(OTHER_STAFF, chat_id=CLINIC_CHAT)
    reply = await intruder.press(RU("clinic_post.answer_button"), message=post.message_id)
    assert reply.callback_answers == [RU("clinic_answer.refused")]
    await intruder.send("Ответ от чужой поликлиники")
    # The same button forged in their own clinic's chat, and in a private chat with the bot: refused.
    assert (await other.press_data(f"ca1:{review.id}")).callback_answers == [RU("clinic_answer.refused")]
    await other.send("И здесь ответ")
    private = app.user(OTHER_STAFF)
    assert (await private.press_data(f"ca1:{review.id}")).callback_answers == [RU("clinic_answer.refused")]
    await private.send("И в личке ответ")
    # Nothing changed: no answer, no notice for the resident, nothing audited.
    assert await one(app, select(Response)) == []
    assert await one(app, select(OutboxMessage).where(OutboxMessage.chat_id == RESIDENT,
                                                      OutboxMessage.kind == "notify")) == []
    assert await one(app, select(AuditLog).where(AuditLog.action == "clinic.answered")) == []


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_staff_see_only_their_own_clinics_reviews(app: App, backend: str) -> None:
    await link_group(app)
    admin = app.user(ADMIN)
    await admin.command("grant", f"{STAFF} clinic_staff 17")
    await admin.command("grant", f"{OTHER_STAFF} clinic_staff 2")
    person = await resident(app, RESIDENT)
    reference = await submit_about_clinic(app, person, text="Грубость в кабинете 12.")
    reply = await app.user(STAFF).command("reviews")
    assert reference in reply.text and "Грубость в кабинете 12." in reply.text
    assert RU("staff_reviews.unanswered") in reply.text
    reply = await app.user(OTHER_STAFF).command("reviews")
    assert reference not in reply.text and "Грубость" not in reply.text
    assert reply.text == RU("staff_reviews.none", clinics="Городская поликлиника №2")
    assert (await app.user(RESIDENT).command("reviews")).text == RU("staff_reviews.refused")
    # The role-holder may answer from the private chat too.
    staff = app.user(STAFF)
    await staff.press(RU("staff_reviews.answer_button", number=1))
    reply = await staff.send("Спасибо, что сообщили; разберёмся.")
    assert reply.text == RU("clinic_answer.published", review=reference)
    assert RU("staff_reviews.answered") in (await staff.command("reviews")).text


async def test_grant_and_revoke_roles(app: App) -> None:
    admin = app.user(ADMIN)
    assert (await admin.command("grant", "123 clinic_staff")).text == plain(RU("admin.grant_usage"))
    assert (await admin.command("grant", "123 chief")).text == plain(RU("admin.grant_usage"))
    assert (await admin.command("grant", "123 clinic_staff 999")).text == RU("admin.clinic_not_found",
                                                                            reference="999")
    reply = await admin.command("grant", f"{STAFF} clinic_staff 17")
    assert reply.text == RU("admin.granted", telegram_id=STAFF, role=RU("admin.role_clinic_staff"),
                            scope=RU("admin.scope_clinic", clinic="Городская поликлиника №17"))
    reply = await admin.command("grant", "8200 moderator")
    assert reply.text == RU("admin.granted", telegram_id=8200, role=RU("admin.role_moderator"),
                            scope=RU("admin.scope_city"))
    assert (await app.user(4444).command("grant", "4444 admin")).texts == [RU("admin.refused")]
    roles = {(row.telegram_id, row.role, row.clinic_id) for row in await one(app, select(StaffRole))}
    assert roles == {(STAFF, "clinic_staff", (await clinic_17(app)).id), (8200, "moderator", None)}
    reply = await admin.command("revoke", f"{STAFF} clinic_staff 17")
    assert reply.text.startswith("Готово") and await one(app, select(StaffRole.telegram_id)) == [8200]
    assert (await admin.command("revoke", f"{STAFF} clinic_staff 17")).text.startswith(str(STAFF))
    audit = await one(app, select(AuditLog).where(AuditLog.action.like("staff.%")).order_by(AuditLog.id))
    assert [(entry.action, entry.actor_telegram_id, entry.details["telegram_id"]) for entry in audit] == [
        ("staff.granted", ADMIN, STAFF), ("staff.granted", ADMIN, 8200), ("staff.revoked", ADMIN, STAFF)]


@pytest.mark.parametrize("telegram_id", ["99999999999999999999", "12³"])
async def test_grant_with_a_number_no_telegram_id_can_be_shows_the_format(app: App, telegram_id: str) -> None:
    """A mistyped 20-digit id (beyond 64 bits) or a superscript digit is a wrong argument, not a crash."""
    reply = await app.user(ADMIN).command("grant", f"{telegram_id} moderator")
    assert reply.texts == [plain(RU("admin.grant_usage"))]
    assert await one(app, select(StaffRole)) == []


async def test_revoking_admin_from_an_admin_listed_in_the_settings_says_the_role_stays_there(app: App) -> None:
    """9001 is in `admins`: /revoke takes away the role a mistaken /grant stored, and says they stay admin."""
    await app.user(ADMIN).command("grant", "9002 admin")
    other = app.user(9002)
    await other.command("grant", f"{ADMIN} admin")
    reply = await other.command("revoke", f"{ADMIN} admin")
    assert reply.texts == [RU("admin.admin_by_settings", telegram_id=ADMIN)]
    assert await one(app, select(StaffRole.telegram_id)) == [9002]  # the stored grant went
    assert (await app.user(ADMIN).command("grant", "8300 moderator")).texts != [RU("admin.refused")]


@pytest.mark.parametrize("command", ["grant 8101 moderator", "linkclinic 17", "moderation"])
@pytest.mark.parametrize("chat_id", [OFFICE, CLINIC_CHAT])
async def test_an_admins_command_sent_in_a_group_says_it_works_in_a_private_chat(
        app: App, command: str, chat_id: int) -> None:
    reply = await app.user(ADMIN, chat_id=chat_id).send("/" + command)
    assert reply.texts == [RU("admin.only_in_private")]
    assert await one(app, select(StaffRole)) == [] and await one(app, select(LinkCode)) == []


# --- The prosecutor's office forwards a case -----------------------------------------------------------------


async def test_forward_to_the_polyclinic_delivers_the_review_to_its_chat(app: App) -> None:
    person = await resident(app, RESIDENT)
    reference = await submit_about_clinic(app, person, kind="violation", category="extortion",
                                          text="Врач требовал взятку, звонил мне на 87011234567.", phone=PHONE)
    await deliver(app)
    officer = app.user(OFFICER, chat_id=OFFICE)
    card = [m for m in app.session.history(OFFICE) if m.reply_markup][-1]
    # No chat linked yet: the office is asked to confirm it reached the clinic another way; until then nothing is
    # marked and the resident is told nothing.
    await officer.press(RU("alert.button_fwd"), message=card.message_id)
    reply = await officer.press("Городская поликлиника №17")
    assert reply.text == RU("case_forward.no_chat", reference=reference, clinic="Городская поликлиника №17")
    [case] = await one(app, select(Case))
    assert case.status == "open" and case.forwarded_to is None

    await link_group(app)
    chooser = await officer.press(RU("alert.button_fwd"), message=card.message_id)
    reply = await officer.press("Городская поликлиника №17", message=chooser.messages[-1].message_id)
    assert RU("case_forward.done", reference=reference, destination="Городская поликлиника №17") in reply.texts
    [case] = await one(app, select(Case))
    assert (case.status, case.forwarded_to) == ("forwarded", "clinic")
    await deliver(app)
    [post] = posts_in(app, CLINIC_CHAT)
    assert post.text.startswith(plain(RU("clinic_post.forwarded_title", clinic="Городская поликлиника №17")))
    assert reference in post.text and RU("masking.phone") in post.text and "87011234567" not in post.text
    assert PHONE not in post.text
    # The polyclinic's answer to a forwarded case also reaches the office, under its card.
    staff = app.user(STAFF, chat_id=CLINIC_CHAT)
    await staff.press(RU("clinic_post.answer_button"), message=post.message_id)
    await staff.send("Проверка проведена, врач отстранён.")
    await deliver(app)
    [under_card] = [call for call in app.session.sent_messages(OFFICE) if isinstance(call, SendMessage)
                    and "отстранён" in call.text]
    assert under_card.reply_parameters.message_id == card.message_id
    assert under_card.text == RU("clinic_chat.office_answer", reference=reference, clinic="Городская поликлиника №17",
                                 answer="Проверка проведена, врач отстранён.")
    # The office still owes its decision: its list and the case say the polyclinic has answered.
    assert RU("case_office.line_clinic_answered") in (await officer.command("cases")).text
    assert RU("case_card.clinic_answered", day="26.11.2026") in (await officer.command("case", reference)).text


# --- Escalation -------------------------------------------------------------------------------------------------


def almaty_morning(day: int, month: int = 12) -> datetime:
    return datetime(2026, month, day, 4, 0, tzinfo=UTC)  # 09:00 in Almaty


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_an_unanswered_complaint_is_escalated_after_five_working_days(app: App, backend: str) -> None:
    await link_group(app)
    staff = app.user(STAFF, chat_id=CLINIC_CHAT)
    person = await resident(app, RESIDENT)
    unanswered = await submit_about_clinic(app, person, text="Никто не перезвонил.")  # Thu 26 Nov 2026
    app.clock.advance(minutes=1)
    answered = await submit_about_clinic(app, person, text="Потеряли анализы.")
    await submit_about_clinic(app, person, kind="gratitude", text="Спасибо!")
    await deliver(app)
    post = next(m for m in posts_in(app, CLINIC_CHAT) if answered in m.text)
    await staff.press(RU("clinic_post.answer_button"), message=post.message_id)
    await staff.send("Анализы нашлись, приносим извинения.")

    # Working days after Thu 26 Nov: Fri 27 (1), Mon 30 (2), Tue 1 Dec (3), Wed 2 (4), Thu 3 (5): due 3 Dec.
    app.clock.now = almaty_morning(3)
    assert await escalate_unanswered(app.pool, app.settings, app.clock) == 0
    app.clock.now = almaty_morning(4)
    assert await escalate_unanswered(app.pool, app.settings, app.clock) == 1
    assert await escalate_unanswered(app.pool, app.settings, app.clock) == 0  # a repeated run adds nothing
    app.clock.advance(days=1)
    assert await escalate_unanswered(app.pool, app.settings, app.clock) == 0  # nor does the next day's

    cases_by_reference = {}
    for case in await one(app, select(Case)):
        review = (await one(app, select(Review).where(Review.id == case.review_id)))[0]
        cases_by_reference[review.reference] = case
    assert cases_by_reference[unanswered].escalated_at == almaty_morning(4)
    assert cases_by_reference[answered].escalated_at is None
    # Escalating sends the office nothing of its own: the next working morning's one message has a section.
    assert await one(app, select(OutboxMessage).where(OutboxMessage.chat_id == OFFICE,
                                                      OutboxMessage.kind == "reminder")) == []
    app.clock.now = almaty_morning(7)  # Monday
    assert await morning_reminders(app.pool, app.settings, app.clock) == 2  # "new appeals", and the morning's
    [morning] = await one(app, select(OutboxMessage).where(OutboxMessage.chat_id == OFFICE,
                                                           OutboxMessage.dedupe_key == "morning:2026-12-07"))
    text = morning.payload["text"]
    assert text.startswith(RU("reminders.title", day="07.12.2026"))
    days = RU.count("working_days", app.settings.clinics.answer_working_days)
    section = RU("clinic_escalation.title", count=1, days=days)
    assert section in text and unanswered in text.split(section)[1] and answered not in text
    buttons = [b["text"] for row in morning.payload["reply_markup"]["inline_keyboard"] for b in row]
    assert buttons == [RU("alert.button_open", reference=unanswered)]
    reply = await app.user(OFFICER, chat_id=OFFICE).command("cases")
    [line] = [line for line in reply.text.splitlines() if unanswered in line]
    assert line.endswith(RU("clinic_escalation.mark"))
    [other] = [line for line in reply.text.splitlines() if answered in line]
    assert RU("clinic_escalation.mark") not in other


@pytest.mark.parametrize(("language", "appeal", "review"), [("kk", "өтініш", "пікір"), ("ru", "обращени", "отзыв"),
                                                            ("en", "appeal", "review")])
@pytest.mark.parametrize("key", ["clinic_notify.answer", "moderation_notify.published", "moderation_notify.rejected",
                                 "moderation_notify.edited"])
def test_notices_call_complaints_and_violation_reports_appeals_and_a_gratitude_a_review(
        language: str, appeal: str, review: str, key: str) -> None:
    values = {"clinic": "№17", "answer": "Жауап", "reason": "—", "text": "Мәтін"}
    for kind in ("complaint", "violation"):
        text = notices.resident_text(Review(kind=kind, language=language, reference="AL-2026-000001"), key,
                                     **values).casefold()
        assert appeal in text and review not in text, (kind, text)
    gratitude = notices.resident_text(Review(kind="gratitude", language=language, reference="AL-2026-000002"), key,
                                      **values)
    assert review in gratitude.casefold()
