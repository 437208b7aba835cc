"""What the office's officers, the polyclinics' staff and the moderators do that the first build did not plan,
found by a tester acting as them: a long paste Telegram splits, Telegram's Reply on another post or card, a file
where text is wanted, a command with the bot's name in a group, a second forwarding, an extension asked for too late.
Each asserts what the person sees and what is stored."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from aiogram.methods import SendMessage
from sqlalchemy import select

from bot.cases import templates
from storage.models import AuditLog, Case, OutboxMessage, Response, Review
from tests.conftest import App
from tests.flows import RU, one, resident
from tests.test_alerts import CHAT, card_in_chat, submit_violation
from tests.test_alerts import prosecutor as office_member
from tests.test_clinics import ADMIN, CLINIC_CHAT, RESIDENT, STAFF, link_group, posts_in, submit_about_clinic
from tests.test_clinics import deliver as deliver_all

pytestmark = pytest.mark.usefixtures("demo_directory")


def replying_to(app: App, person, text: str, message):
    """A text sent with Telegram's own Reply on `message`."""
    update = app.updates.text(text, user=person.user, chat=person.chat)
    return update.model_copy(update={"message": update.message.model_copy(update={"reply_to_message": message})})


async def clinic_post(app: App, text: str = "Нагрубили в регистратуре.", user_id: int = RESIDENT):
    person = await resident(app, user_id)
    reference = await submit_about_clinic(app, person, text=text)
    await deliver_all(app)
    return reference, next(m for m in posts_in(app, CLINIC_CHAT) if reference in m.text)


async def office_card(app: App, user_id: int = 3001, text: str = "Врач требовал взятку 30000 тенге."):
    reference = await submit_violation(app, user_id, text=text, photos=False)
    await deliver_all(app)
    return reference, card_in_chat(app)


async def office_sends(app: App, card, button: str, words: str) -> None:
    """An officer presses `button` on the card, writes `words`, sends the draft; it is delivered."""
    officer = office_member(app)
    await officer.press(RU(button), message=card.message_id)
    await officer.send(words)
    await officer.press(RU("case_draft.button_send"))
    await deliver_all(app)


def telegram_migrates(app: App, old: int, new: int) -> None:
    """From now on Telegram refuses messages to chat `old`: it was upgraded to the supergroup `new`."""
    from aiogram.exceptions import TelegramMigrateToChat

    original = app.session._answer

    async def migrating(bot, method):
        if method.__api_method__ == "sendMessage" and method.chat_id == old:
            raise TelegramMigrateToChat(method=method, message="group chat was upgraded to a supergroup chat",
                                        migrate_to_chat_id=new)
        return await original(bot, method)

    app.session._answer = migrating


def chat_texts(app: App, chat_id: int) -> list[str]:
    return [call.text for call in app.session.sent_messages(chat_id) if isinstance(call, SendMessage)]


# --- A long paste, which Telegram delivers as several messages -------------------------------------------------


async def test_a_residents_answer_as_long_as_telegram_allows_reaches_the_office_whole(app: App) -> None:
    _reference, card = await office_card(app)
    await office_sends(app, card, "alert.button_ask", "Опишите подробно, что произошло на приёме.")
    person = app.user(3001)
    question = [m for m in app.session.history(3001) if m.text and "Опишите подробно" in m.text][-1]
    await person.press(RU("notify.reply_button"), message=question.message_id)
    story = ("Я пришла к врачу в 10 утра, он сказал, что без оплаты направление не даст. " * 60)[:4095] + "!"
    assert RU("reply.received") in (await person.send(story)).texts
    await deliver_all(app)
    office = "".join(text.replace("\n", "") for text in chat_texts(app, CHAT))
    assert story.replace("\n", "")[:300] in office and story[-60:] in office  # its beginning and its end
    assert await one(app, select(OutboxMessage).where(OutboxMessage.status == "blocked")) == []


async def test_a_clinic_answer_split_by_telegram_is_refused_whole_not_published_as_its_last_part(app: App) -> None:
    staff = await link_group(app)
    _reference, post = await clinic_post(app)
    await staff.press(RU("clinic_post.answer_button"), message=post.message_id)
    head = ("Уважаемый заявитель! По вашему обращению проведена служебная проверка. " * 60)[:4096]
    tail = "Итог: администратору объявлен выговор."
    await staff.send(head)
    reply = await staff.send(tail)
    assert reply.text == RU("clinic_answer.too_long", length=4096 + len(tail), limit=3500)
    assert await one(app, select(Response)) == []
    await staff.send("Приносим извинения, администратору объявлен выговор.")  # a shorter one is the answer
    assert [r.text for r in await one(app, select(Response))] == [
        "Приносим извинения, администратору объявлен выговор."]


async def test_an_officers_answer_split_by_telegram_is_refused_whole_not_drafted_as_its_last_part(app: App) -> None:
    _reference, card = await office_card(app)
    officer = office_member(app)
    await officer.press(RU("alert.button_close"), message=card.message_id)
    head = ("По результатам проверки установлено следующее: врач требовал оплату за бесплатную услугу. " * 50)[:4096]
    tail = "На основании изложенного врачу внесено представление."
    await officer.send(head)
    reply = await officer.send(tail)
    assert reply.texts == [RU("case_draft.too_long", length=4096 + len(tail), limit=3500)]


async def test_a_moderators_long_edit_split_by_telegram_is_refused_whole(app: App) -> None:
    app.settings.moderation.queue = True
    person = await resident(app, RESIDENT)
    story = ("Регистратура работает плохо, очередь по два часа, талонов нет, никто ничего не объясняет. " * 60)[:5000]
    await submit_about_clinic(app, person, text=story)
    moderator = app.user(9001)
    await moderator.command("moderation")
    await moderator.press(RU("moderation.button_ed"))
    corrected = story.replace("плохо", "неудовлетворительно")
    await moderator.send(corrected[:4096])
    reply = await moderator.send(corrected[4096:])
    assert reply.text == RU("moderation.edit_too_long", length=len(corrected), limit=3500)
    [review] = await one(app, select(Review))
    assert review.public_text != corrected[4096:].strip()


# --- Telegram's Reply on another post or card ------------------------------------------------------------------


async def test_a_clinic_answer_sent_as_a_reply_to_another_post_is_not_stored_under_the_first(app: App) -> None:
    staff = await link_group(app)
    first, post_a = await clinic_post(app, "Нагрубили в регистратуре.", RESIDENT)
    _second, post_b = await clinic_post(app, "Потеряли мою карту.", RESIDENT + 1)
    await staff.press(RU("clinic_post.answer_button"), message=post_a.message_id)
    reply = await staff.feed(replying_to(app, staff, "Карта нашлась, она в кабинете 12.", post_b))
    assert reply.text.startswith(RU("clinic_answer.other_post", review="")[:20])
    assert await one(app, select(Response)) == []
    await staff.send("Приносим извинения.")  # still answering the first
    [review_a] = await one(app, select(Review).where(Review.reference == first))
    assert [r.review_id for r in await one(app, select(Response))] == [review_a.id]


async def test_a_reply_on_a_post_without_pressing_answer_tells_the_staff_how_to_answer(app: App) -> None:
    staff = await link_group(app)
    _reference, post = await clinic_post(app)
    reply = await staff.feed(replying_to(app, staff, "Приносим извинения.", post))
    assert reply.text.startswith(RU("clinic_answer.press_answer", review="")[:20])
    assert await one(app, select(Response)) == []


async def test_a_file_sent_as_the_clinics_answer_is_said_to_be_not_taken(app: App) -> None:
    staff = await link_group(app)
    _reference, post = await clinic_post(app)
    await staff.press(RU("clinic_post.answer_button"), message=post.message_id)
    reply = await staff.document(b"%PDF-1.4 answer", file_name="otvet.pdf", caption="Ответ во вложении.")
    assert reply.text == RU("clinic_answer.text_only")
    await staff.send("Приносим извинения.")  # still answering
    assert len(await one(app, select(Response))) == 1


async def test_a_remark_replied_to_another_card_while_drafting_is_discussion_not_the_draft(app: App) -> None:
    first, card_a = await office_card(app, 3001)
    _second, card_b = await office_card(app, 3002, text="Медсестра требовала деньги за укол, 5000 тенге.")
    officer = office_member(app)
    await officer.press(RU("alert.button_close"), message=card_a.message_id)
    reply = await officer.feed(replying_to(app, officer, "Коллеги, кто выезжал? Я завтра в суде.", card_b))
    assert reply.texts == [RU("case_note.offer")]  # the reply to a card, offered as its note
    reply = await officer.send("Проверка проведена, нарушений нет.")  # still drafting the first one's answer
    assert first in "\n".join(reply.texts) and "Я завтра в суде" not in "\n".join(reply.texts)


# --- The law: each forwarding told, no extension to a day already past ---------------------------------------


async def test_a_second_forwarding_is_told_to_the_resident_too(app: App) -> None:
    reference, card = await office_card(app)
    officer = office_member(app)
    await officer.press(RU("alert.button_fwd"), message=card.message_id)
    await officer.press("Городская поликлиника №17")
    await officer.press(RU("case_forward.confirm_button"))
    chooser = await officer.press(RU("alert.button_fwd"), message=card.message_id)
    await officer.press(RU("forward_body.police"), message=chooser.messages[-1].message_id)
    await deliver_all(app)
    told = [text for text in chat_texts(app, 3001) if reference in text and "↪️" in text]
    assert len(told) == 2 and RU("forward_body.police") in told[-1]


async def test_an_extension_asked_for_past_two_months_is_refused_before_the_reason_is_typed(app: App) -> None:
    _reference, card = await office_card(app)  # registered 26.11.2026: two months end 26.01.2027
    app.clock.now = datetime(2027, 2, 3, 5, 0, tzinfo=UTC)
    pressed = await office_member(app).press(RU("alert.button_extend"), message=card.message_id)
    assert pressed.callback_answers == [RU("cases.too_late_to_extend", date="26.01.2027")]
    [case] = await one(app, select(Case))
    assert not case.extended and case.due_date < date(2027, 2, 3)


async def test_an_extension_is_decided_while_the_term_runs_not_after_the_due_date(app: App) -> None:
    """An overdue appeal extended on the 16th working day would leave the morning's overdue list and tell the
    resident of a new deadline after the old one was missed: refused at the press, and at Send if the day passed
    while the reason was being written."""
    reference, card = await office_card(app)
    [case] = await one(app, select(Case))
    due = case.due_date
    officer = office_member(app)
    app.clock.now = datetime(due.year, due.month, due.day, 12, 0, tzinfo=UTC)  # the last day: still possible
    prompt = await officer.press(RU("alert.button_extend"), message=card.message_id)
    assert prompt.callback_answers == [None] and prompt.texts, prompt.texts
    await officer.send("Нужна проверка в трёх отделениях.")
    app.clock.now += timedelta(days=1)  # the preview left open overnight: Send comes after the due date
    sent = await officer.press(RU("case_draft.button_send"))
    ended = RU("cases.term_ended", date=due.strftime("%d.%m.%Y"))
    assert ended in sent.callback_answers + sent.texts, (sent.callback_answers, sent.texts)
    pressed = await office_member(app, 7002).press(RU("alert.button_extend"), message=card.message_id)
    assert pressed.callback_answers == [ended]
    [case] = await one(app, select(Case))
    assert not case.extended and case.due_date == due
    await deliver_all(app)
    assert not [text for text in chat_texts(app, 3001) if reference in text and "⏳" in text]


# --- Groups -------------------------------------------------------------------------------------------------------


async def test_reviews_with_the_bots_name_in_the_clinics_group_says_where_the_list_is(app: App) -> None:
    staff = await link_group(app)
    reply = await staff.send("/reviews@medfeedback_test_bot")
    assert reply.text == RU("staff_reviews.in_private")


async def test_a_cards_reasons_are_in_the_chats_words_never_the_classifiers_codes(app: App) -> None:
    _reference, card = await office_card(app, text="Врач требовал 30000 тенге за направление на МРТ.")
    assert "amount demand" not in card.text and "amount_demand" not in card.text
    assert RU("case_reason.group_amount_demand", words="")[:15] in card.text


def test_every_word_group_of_the_urgency_rules_has_a_card_reason_in_every_language() -> None:
    import tomllib
    from pathlib import Path

    from bot.l10n import Translator

    folder = Path(__file__).resolve().parents[1] / "bot" / "data" / "urgency"
    groups = {name for path in folder.glob("lexicon_*.toml")
              for name in tomllib.loads(path.read_text(encoding="utf-8")).get("groups", {})}
    assert {"amount_demand", "bribe"} <= groups
    translator = Translator()
    missing = [(language, group) for language in ("kk", "ru", "en") for group in sorted(groups)
               if not translator[language].has(f"case_reason.group_{group}")]
    assert missing == []


async def extended_to_a_saturday(app: App) -> str:
    """An appeal extended on Monday 30.11.2026, so due two months later, on Saturday 30.01.2027; its reference."""
    app.clock.now = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)
    reference, card = await office_card(app)
    officer = office_member(app)
    await officer.press(RU("alert.button_extend"), message=card.message_id)
    await officer.send("Назначена экспертиза.")
    await officer.press(RU("case_draft.button_send"))
    [case] = await one(app, select(Case))
    assert case.due_date == date(2027, 1, 30)
    return reference


async def test_an_extended_deadline_on_a_saturday_is_reminded_on_the_working_days_before_it(app: App) -> None:
    from tests.test_caseload import morning

    reference = await extended_to_a_saturday(app)
    mornings = {}
    for day in (25, 26, 27, 28, 29):  # the working days of the week before it
        before = len(chat_texts(app, CHAT))
        await morning(app, date(2027, 1, day))
        mornings[day] = [text for text in chat_texts(app, CHAT)[before:] if reference in text]
    soon = RU("reminders.section_soon", days=RU.count("working_days", 3), due="29.01.2027")
    assert mornings[26] and soon in mornings[26][0]
    assert mornings[29] and RU("reminders.section_today", due="29.01.2027") in mornings[29][0]


async def test_a_momentary_database_lock_at_nine_on_the_last_working_day_does_not_cost_the_reminder(
        app: App) -> None:
    # The database refuses the job's commit once at 09:00 on Friday 29.01 (as an update is simply tried again after):
    # the job tries again, and the office reads the case under "due today" that morning, not as overdue on Monday.
    from bot.scheduler import morning_reminders
    from tests.test_delivery import commits_fail

    reference = await extended_to_a_saturday(app)
    app.clock.now = datetime(2027, 1, 29, 4, 0, tzinfo=UTC)  # 09:00 in Almaty
    before = len(chat_texts(app, CHAT))
    with commits_fail(app, times=1) as failed:
        assert await morning_reminders(app.pool, app.settings, app.clock) == 1
    assert failed == [1]
    await deliver_all(app)
    [friday] = [text for text in chat_texts(app, CHAT)[before:] if reference in text]
    assert RU("reminders.section_today", due="29.01.2027") in friday


async def test_the_morning_missed_while_the_bot_was_down_is_sent_at_start_up_once(app: App) -> None:
    from bot.scheduler import missed_morning

    reference = await extended_to_a_saturday(app)
    app.clock.now = datetime(2027, 1, 29, 2, 0, tzinfo=UTC)  # started at 07:00: the morning is still to come
    assert await missed_morning(app.pool, app.settings, app.clock) == 0
    app.clock.now = datetime(2027, 1, 29, 6, 30, tzinfo=UTC)  # down at 09:00, started again at 11:30
    before = len(chat_texts(app, CHAT))
    assert await missed_morning(app.pool, app.settings, app.clock) == 1
    await deliver_all(app)
    [friday] = [text for text in chat_texts(app, CHAT)[before:] if reference in text]
    assert RU("reminders.section_today", due="29.01.2027") in friday
    app.clock.advance(hours=2)  # started once more the same day: nothing twice
    assert await missed_morning(app.pool, app.settings, app.clock) == 0


async def test_a_morning_that_ran_and_found_nothing_due_is_not_run_again_at_a_start_up(app: App) -> None:
    """The 09:00 run found nothing to remind of, so it queued no message; the bot was restarted at 14:00 (a deploy)
    and the start-up's catch-up took the morning for missed, since no message of it was stored, and sent the
    office a "morning" list in the afternoon. A morning that ran is recorded as run, whatever it found."""
    from bot.scheduler import missed_morning, morning_reminders

    reference = await extended_to_a_saturday(app)  # due 30.01.2027: reminded on 26.01 (soon) and 29.01 (today)
    app.clock.now = datetime(2027, 1, 27, 4, 0, tzinfo=UTC)  # Wednesday 09:00 in Almaty
    assert await morning_reminders(app.pool, app.settings, app.clock) == 0  # nothing due this morning
    # Meanwhile the case comes to be due today (as a due date counted again would): the next morning's to tell.
    async with app.pool() as session, session.begin():
        (await session.scalars(select(Case))).one().due_date = date(2027, 1, 27)
    before = len(chat_texts(app, CHAT))
    app.clock.now = datetime(2027, 1, 27, 9, 0, tzinfo=UTC)  # restarted at 14:00
    assert await missed_morning(app.pool, app.settings, app.clock) == 0
    await deliver_all(app)
    assert not [text for text in chat_texts(app, CHAT)[before:] if reference in text or
                text.startswith(RU("reminders.title", day="27.01.2027"))]
    # The next morning the bot is down at 09:00: the start-up's run is that morning's, and it is sent.
    app.clock.now = datetime(2027, 1, 28, 6, 0, tzinfo=UTC)
    assert await missed_morning(app.pool, app.settings, app.clock) == 1
    await deliver_all(app)
    [thursday] = [text for text in chat_texts(app, CHAT)[before:] if reference in text]
    assert thursday.startswith(RU("reminders.title", day="28.01.2027").split("\n")[0])


async def test_a_long_disagreement_reaches_the_office_whole(app: App) -> None:
    _reference, card = await office_card(app, text="Врач требовал взятку 30000 тенге за направление. " * 30)
    await office_sends(app, card, "alert.button_close", "Проверка проведена, факты не подтвердились.")
    person = app.user(3001)
    answer = [m for m in app.session.history(3001) if m.text and "факты не подтвердились" in m.text][-1]
    await person.press(RU("case_notify.disagree_button"), message=answer.message_id)
    reason = ("Проверяющий со мной не связался, свидетелей не опросил, запись в журнале исправлена. " * 25)[:2300]
    reason += " Главное: у меня есть аудиозапись разговора, прошу её запросить."
    await person.send(reason)
    await deliver_all(app)
    office = "".join(text.replace("\n", "") for text in chat_texts(app, CHAT))
    assert reason.replace("\n", "") in office


async def test_a_clinic_group_upgraded_to_a_supergroup_can_still_answer(app: App) -> None:
    """Telegram turns a basic group into a supergroup (a new chat id) when its admins change some settings."""
    from tests.test_clinics import STAFF

    old, new = -5000017, -1005000017
    await link_group(app, chat_id=old)
    app.session.set_chat_member(new, STAFF, "administrator")
    staff = app.user(STAFF, chat_id=new, first_name="Гульнара")
    await app.user(STAFF, chat_id=old).feed(app.updates.update(message=app.updates.message(  # in the old chat
        user=staff.user, chat=app.updates.chat(old, user=staff.user), migrate_to_chat_id=new)))
    person = await resident(app, RESIDENT)
    reference = await submit_about_clinic(app, person, text="Нагрубили в регистратуре.")
    await deliver_all(app)
    [post] = [m for m in app.session.history(new) if m.text and reference in m.text]
    pressed = await staff.press(RU("clinic_post.answer_button"), message=post.message_id)
    assert pressed.callback_answers != [RU("clinic_answer.refused")]
    await staff.send("Приносим извинения.")
    assert [r.text for r in await one(app, select(Response))] == ["Приносим извинения."]


async def test_an_answer_begun_just_before_the_clinic_group_became_a_supergroup_is_taken_in_the_supergroup(
        app: App) -> None:
    # She presses Answer in the group and is asked for the answer; Telegram upgrades the group (a service message in
    # each chat); she sends the answer in the supergroup. Her conversation moved with the link: it is published.
    from tests.test_clinics import STAFF

    old, new = -5000017, -1005000017
    await link_group(app, chat_id=old)
    reference = await submit_about_clinic(app, await resident(app, RESIDENT), text="Нагрубили в регистратуре.")
    await deliver_all(app)
    [post] = [m for m in posts_in(app, old) if reference in m.text]
    asked = await app.user(STAFF, chat_id=old, first_name="Гульнара").press(RU("clinic_post.answer_button"),
                                                                          message=post.message_id)
    assert reference in asked.text
    app.session.set_chat_member(new, STAFF, "administrator")
    staff = app.user(STAFF, chat_id=new, first_name="Гульнара")
    for chat, upgrade in ((old, {"migrate_to_chat_id": new}), (new, {"migrate_from_chat_id": old})):
        await staff.feed(app.updates.update(message=app.updates.message(
            user=staff.user, chat=app.updates.chat(chat, user=staff.user), **upgrade)))
    await staff.send("Приносим извинения, администратор получил выговор.")
    assert [response.text for response in await one(app, select(Response))] == [
        "Приносим извинения, администратор получил выговор."]


async def test_an_answer_sent_as_an_album_says_one_file_goes_and_sends_the_first_with_its_caption(app: App) -> None:
    from aiogram.methods import SendPhoto

    from tests.flows import PHOTO_A, PHOTO_B

    _reference, card = await office_card(app)
    officer = office_member(app)
    await officer.press(RU("alert.button_close"), message=card.message_id)
    reply = await officer.album([PHOTO_A, PHOTO_B], caption="Акт проверки, две страницы.")
    assert reply.texts.count(RU("case_draft.one_file")) == 1
    await officer.press(RU("case_draft.button_send"))
    await deliver_all(app)
    assert len([call for call in app.session.sent_messages(3001) if isinstance(call, SendPhoto)]) == 1


async def test_a_photo_sent_as_the_offices_question_is_said_to_be_not_taken(app: App) -> None:
    from tests.flows import PHOTO_A

    _reference, card = await office_card(app)
    officer = office_member(app)
    await officer.press(RU("alert.button_ask"), message=card.message_id)
    reply = await officer.photo(PHOTO_A, caption="Это ваша справка?")
    assert reply.text == RU("case_draft.text_only")


async def test_an_officer_correcting_the_answer_before_send_sends_the_corrected_words(app: App) -> None:
    _reference, card = await office_card(app)
    officer = office_member(app)
    await officer.press(RU("alert.button_close"), message=card.message_id)
    await officer.send("Врачу назначен штраф 5 МРП.")
    typed = [m for m in app.session.history(CHAT) if m.text == "Врачу назначен штраф 5 МРП."][-1]
    edited = await officer.edit(typed.message_id, "Врачу назначен штраф 50 МРП.")
    assert any("50 МРП" in text for text in edited.texts)  # the preview again, with the corrected words
    await officer.press(RU("case_draft.button_send"))
    [response] = await one(app, select(Response))
    assert response.text == "Врачу назначен штраф 50 МРП."


async def test_a_clinic_answer_corrected_after_it_was_sent_is_told_the_correction_is_not_taken(app: App) -> None:
    staff = await link_group(app)
    _reference, post = await clinic_post(app)
    await staff.press(RU("clinic_post.answer_button"), message=post.message_id)
    sent = await staff.send("Приходите на приём 5 декабря в 10:00.")
    assert sent.text.startswith(RU("clinic_answer.published", review="")[:10])
    typed = [m for m in app.session.history(CLINIC_CHAT) if m.text == "Приходите на приём 5 декабря в 10:00."][-1]
    reply = await staff.edit(typed.message_id, "Приходите на приём 7 декабря в 10:00.")
    assert reply.text == RU("clinic_answer.edit_not_applied")
    other = await staff.send("Коллеги, кто сегодня в регистратуре?")
    assert other.texts == []  # the chat's own conversation, untouched


# --- The second reading of these mends ----------------------------------------------------------------------------


async def test_correcting_an_answer_already_sent_for_one_case_never_rewrites_another_cases_draft(app: App) -> None:
    """The message that gave case A's words is edited after A was sent and B's draft (a template) is shown: B's
    resident gets the template, never A's words."""
    _ref_a, card_a = await office_card(app, 3001)
    _ref_b, card_b = await office_card(app, 3002, text="Медсестра требовала деньги за укол, 5000 тенге.")
    officer = office_member(app)
    await officer.press(RU("alert.button_close"), message=card_a.message_id)
    words_a = "Ответ по первому делу: Иванову И. И. объявлен выговор."
    await officer.send(words_a)
    typed = [m for m in app.session.history(CHAT) if m.text == words_a][-1]
    await officer.press(RU("case_draft.button_send"))
    await officer.press(RU("alert.button_close"), message=card_b.message_id)
    template = templates.template("not_confirmed")
    preview = await officer.press(template.titles["ru"])
    template_preview = preview.messages[-1]
    # The officer fixes a typo in the answer already sent for A (the edit changes nothing there) ...
    await officer.edit(typed.message_id, words_a.replace("выговор", "строгий выговор"))
    # ... and then presses Send on B's template preview, which they had read.
    await officer.press(RU("case_draft.button_send"), message=template_preview.message_id)
    responses = {r.text for r in await one(app, select(Response))}
    assert template.texts["ru"] in responses, responses


async def test_a_short_disagreement_shown_whole_on_the_card_is_not_posted_again(app: App) -> None:
    _reference, card = await office_card(app)
    officer = office_member(app)
    await officer.press(RU("alert.button_close"), message=card.message_id)
    await officer.send("Проверка проведена, факты не подтвердились.")
    await officer.press(RU("case_draft.button_send"))
    await deliver_all(app)
    person = app.user(3001)
    answer = [m for m in app.session.history(3001) if m.text and "факты не подтвердились" in m.text][-1]
    await person.press(RU("case_notify.disagree_button"), message=answer.message_id)
    before = len(chat_texts(app, CHAT))
    await person.send("Со мной никто не связался.")
    await deliver_all(app)
    with_reason = [t for t in chat_texts(app, CHAT)[before:] if "Со мной никто не связался." in t]
    assert len(with_reason) == 1, with_reason


async def test_an_edit_of_an_answer_held_for_the_moderator_is_not_told_it_was_published(app: App) -> None:
    app.settings.moderation.queue = True
    staff = await link_group(app)
    person = await resident(app, RESIDENT)
    await submit_about_clinic(app, person, text="Долго ждали в регистратуре.")
    moderator = app.user(ADMIN)
    await moderator.command("moderation")
    await moderator.press(RU("moderation.button_ok"))
    await deliver_all(app)
    [post] = posts_in(app, CLINIC_CHAT)
    await staff.press(RU("clinic_post.answer_button"), message=post.message_id)
    await staff.send("Приходите 5 декабря.")
    [response] = await one(app, select(Response))
    assert response.public_status == "pending"  # nobody has it, nothing is published
    typed = [m for m in app.session.history(CLINIC_CHAT) if m.text == "Приходите 5 декабря."][-1]
    reply = await staff.edit(typed.message_id, "Приходите 7 декабря.")
    assert reply.text == RU("clinic_answer.edit_not_applied_held")  # not "the author has it, it is published"


async def test_reviews_in_the_offices_chat_is_not_answered_with_the_clinics_words(app: App) -> None:
    reply = await office_member(app).send("/reviews")
    assert RU("staff_reviews.in_private") not in reply.texts


async def test_a_reply_on_the_private_list_answering_its_second_review_is_taken(app: App) -> None:
    await link_group(app)
    await app.user(ADMIN).command("grant", f"{STAFF} clinic_staff 17")
    await submit_about_clinic(app, await resident(app, RESIDENT), text="Грубость в кабинете 12.")
    await submit_about_clinic(app, await resident(app, RESIDENT + 1), text="Потеряли карту.")
    staff = app.user(STAFF)
    listing = (await staff.command("reviews")).messages[-1]
    await staff.press(RU("staff_reviews.answer_button", number=2), message=listing.message_id)
    reply = await staff.feed(replying_to(app, staff, "Карта нашлась, она в кабинете 12.", listing))
    assert not reply.text.startswith(RU("clinic_answer.other_post", review="")[:20]), reply.text
    assert len(await one(app, select(Response))) == 1


async def test_forwarding_to_the_same_polyclinic_again_is_not_told_twice(app: App) -> None:
    reference, card = await office_card(app)
    await link_group(app)
    officer = office_member(app)
    for _ in range(2):
        chooser = await officer.press(RU("alert.button_fwd"), message=card.message_id)
        await officer.press("Городская поликлиника №17", message=chooser.messages[-1].message_id)
    await deliver_all(app)
    told = [text for text in chat_texts(app, 3001) if reference in text and "↪️" in text]
    assert len(told) == 1, told


async def test_a_link_moved_by_telegrams_refusal_of_the_old_id_is_audited(app: App) -> None:
    from storage.models import ClinicChat

    old, new = -5000017, -1005000017
    await link_group(app, chat_id=old)
    telegram_migrates(app, old, new)
    await submit_about_clinic(app, await resident(app, RESIDENT), text="Нагрубили в регистратуре.")
    await deliver_all(app)
    assert [c.chat_id for c in await one(app, select(ClinicChat))] == [new]  # the link did move
    assert await one(app, select(AuditLog).where(AuditLog.action == "clinic.chat_moved")) != []


async def test_the_offices_chat_upgraded_to_a_supergroup_is_delivered_to_and_the_admins_are_told_to_set_it(
        app: App) -> None:
    new = -1009999999999
    telegram_migrates(app, CHAT, new)
    reference = await submit_violation(app, 3001, text="Врач требовал взятку 30000 тенге.", photos=False)
    await deliver_all(app)
    assert any(reference in text for text in chat_texts(app, new))  # the card reached the new chat
    told = [text for text in chat_texts(app, ADMIN) if str(new) in text]
    assert told == [RU("admin.chat_migrated", old=CHAT, new=new)]


@pytest.mark.redis
async def test_an_answer_begun_before_the_upgrade_is_taken_in_the_supergroup_when_redis_keeps_conversations(
        app: App) -> None:
    # Several instances keep conversations in Redis: they must follow the group to its new id as the database's do.
    from bot.factory import create_dispatcher
    from tests.conftest import REDIS_URL

    settings = app.settings.model_copy(update={"fsm": app.settings.fsm.model_copy(update={"storage": REDIS_URL})})
    dispatcher = create_dispatcher(settings, session_pool=app.pool, clock=app.clock)
    old = -5000000 - int(app.clock.now.timestamp()) % 1_000_000  # chats of their own in a shared Redis
    new = -1000000000000 + old
    app = App(settings, app.pool, app.bot, dispatcher, app.session, app.updates, app.clock)

    async def forget_both_chats() -> None:
        # The ids repeat from run to run (the tests' clock is fixed), and a staffer's conversation keeps what she
        # answered: left from an earlier run under the new id, it would stop the move (a conversation begun there
        # is kept) and the test would fail for a reason no real supergroup has.
        for chat_id in (old, new):
            async for key in dispatcher.storage.redis.scan_iter(match=f"fsm:*:{chat_id}:*"):
                await dispatcher.storage.redis.delete(key)

    await forget_both_chats()
    try:
        await link_group(app, chat_id=old)
        reference = await submit_about_clinic(app, await resident(app, RESIDENT), text="Нагрубили в регистратуре.")
        await deliver_all(app)
        [post] = [m for m in posts_in(app, old) if reference in m.text]
        await app.user(STAFF, chat_id=old, first_name="Гульнара").press(RU("clinic_post.answer_button"),
                                                                       message=post.message_id)
        app.session.set_chat_member(new, STAFF, "administrator")
        staff = app.user(STAFF, chat_id=new, first_name="Гульнара")
        await staff.feed(app.updates.update(message=app.updates.message(
            user=staff.user, chat=app.updates.chat(old, user=staff.user), migrate_to_chat_id=new)))
        await staff.send("Приносим извинения.")
        assert [response.text for response in await one(app, select(Response))] == ["Приносим извинения."]
    finally:
        await forget_both_chats()
        await dispatcher.storage.close()


# --- An author who withdrew consent ----------------------------------------------------------------------------


async def withdraw_consent(app: App, user_id: int = RESIDENT) -> None:
    person = app.user(user_id)
    await person.command("consent")
    await person.press(RU("privacy.withdraw_button"))
    await person.press(RU("privacy.withdraw_confirm_button"))


async def test_an_answer_to_an_author_who_withdrew_consent_is_not_said_to_reach_them(app: App) -> None:
    """The author withdrew consent after the post reached the clinic: the clinic's answer is published on its page,
    but not sent to them (only what the law requires still goes). The staff were told "published and sent to the
    author", and believed the author had their answer."""
    staff = await link_group(app)
    reference, post = await clinic_post(app)
    await withdraw_consent(app)
    prompt = await staff.press(RU("clinic_post.answer_button"), message=post.message_id)
    assert prompt.texts == [RU("clinic_answer.prompt_unsent", name="Гульнара", review=reference, limit=3500)]
    reply = await staff.send("Разобрались, администратор получил замечание.")
    assert reply.text == RU("clinic_answer.published_unsent", review=reference)
    await deliver_all(app)
    assert not any("Разобрались" in text for text in chat_texts(app, RESIDENT))
    [response] = await one(app, select(Response))
    assert response.public_status == "published"


async def test_an_answer_held_for_the_moderator_to_an_author_who_withdrew_consent_is_not_said_to_reach_them(
        app: App) -> None:
    app.settings.moderation.queue = True
    staff = await link_group(app)
    person = await resident(app, RESIDENT)
    reference = await submit_about_clinic(app, person, text="Долго ждали в регистратуре.")
    moderator = app.user(ADMIN)
    await moderator.command("moderation")
    await moderator.press(RU("moderation.button_ok"))
    await deliver_all(app)
    post = next(m for m in posts_in(app, CLINIC_CHAT) if reference in m.text)
    await withdraw_consent(app)
    await staff.press(RU("clinic_post.answer_button"), message=post.message_id)
    reply = await staff.send("Разобрались, администратор получил замечание.")
    assert reply.text == RU("clinic_answer.held_unsent", review=reference)
    await moderator.command("moderation")
    await moderator.press(RU("moderation.button_ok"))
    await deliver_all(app)
    assert RU("clinic_chat.answer_published_unsent", review=reference) in chat_texts(app, CLINIC_CHAT)
    assert RU("clinic_chat.answer_published", review=reference) not in chat_texts(app, CLINIC_CHAT)
    assert not any("Разобрались" in text for text in chat_texts(app, RESIDENT))
