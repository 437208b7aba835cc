"""Onboarding through the real dispatcher: language, consent, menu, commands, and every odd input."""

from __future__ import annotations

import pytest
from aiogram.methods import EditMessageText, SetMyCommands
from sqlalchemy import select

from bot.factory import create_dispatcher
from bot.l10n import Translator
from bot.services.people import CONSENT_VERSION
from storage.models import AuditLog, User
from tests.conftest import REDIS_URL, App

T = Translator()
MENU_RU = [[T["ru"]("menu.leave_feedback")], [T["ru"]("menu.top")], [T["ru"]("menu.my_reviews")],
           [T["ru"]("menu.rights")], [T["ru"]("menu.language")]]


async def stored_user(app: App, telegram_id: int) -> User | None:
    async with app.pool() as session:
        return await session.scalar(select(User).where(User.telegram_id == telegram_id))


async def onboard(app: App, user_id: int = 1001, language: str = "ru", button: str = "Русский"):
    person = app.user(user_id, language_code=language)
    await person.command("start")
    await person.press(button)
    await person.press(T[language]("consent.accept"))
    return person


async def test_start_language_consent_menu(app: App) -> None:
    person = app.user(1001, language_code="kk", first_name="Айгерім")
    reply = await person.command("start")
    # One screen: the prompt in all three languages, the consent in the language Telegram reports (marked first),
    # the other languages to switch to, and Agree.
    assert reply.text.startswith(T["kk"]("language.prompt_all"))
    assert "Дербес деректерді өңдеуге келісім" in reply.text
    assert reply.buttons == [["✓ Қазақша", "Русский", "English"], [T["kk"]("consent.accept")],
                             [T["kk"]("consent.decline")]]

    reply = await person.press("Русский")
    assert reply.callback_answers == ["Язык: русский."]
    assert "Согласие на обработку персональных данных" in reply.text
    assert CONSENT_VERSION in reply.text
    assert reply.buttons == [["✓ Русский", "Қазақша", "English"], ["✅ Согласен(на)"], ["❌ Не согласен(на)"]]
    assert len(person.bot_messages()) == 1  # the same screen, redrawn

    app.clock.advance(minutes=2)
    reply = await person.press("✅ Согласен(на)")
    assert reply.texts[-2:] == ["Спасибо, ваше согласие записано.", T["ru"]("menu.title")]
    assert person.last_buttons() == MENU_RU

    user = await stored_user(app, 1001)
    assert (user.language, user.consent_version, user.first_name) == ("ru", CONSENT_VERSION, "Айгерім")
    assert user.consent_at == app.clock.now
    async with app.pool() as session:
        actions = (await session.scalars(select(AuditLog.action))).all()
    assert actions == ["consent.given"]

    # Coming back later goes straight to the menu.
    reply = await person.command("start")
    assert reply.text == T["ru"]("menu.title") and reply.buttons == MENU_RU


@pytest.mark.parametrize(("code", "expected"), [("en-US", "English"), ("ru", "Русский"), ("de", "Русский"),
                                                (None, "Русский")])
async def test_language_is_preselected_from_telegram(app: App, code: str | None, expected: str) -> None:
    reply = await app.user(1002, language_code=code).command("start")
    assert reply.buttons[0][0] == f"✓ {expected}"


async def test_declining_consent_still_allows_browsing_but_not_submitting(app: App) -> None:
    person = app.user(1003, language_code="en")
    await person.command("start")
    await person.press("English")
    reply = await person.press("❌ I do not agree")
    assert reply.texts[-2] == T["en"]("consent.declined")
    assert reply.texts[-1] == T["en"]("menu.title")
    assert (await stored_user(app, 1003)).consent_version is None

    reply = await person.press("Patients' rights")
    assert "Your rights as a patient" in reply.text and reply.buttons == [[T["en"]("menu.home")]]
    reply = await person.press(T["en"]("menu.home"))
    assert reply.text == T["en"]("menu.title")
    reply = await person.press(T["en"]("menu.leave_feedback"))
    assert reply.texts[0] == T["en"]("consent.required")
    assert reply.buttons == [["✅ I agree"], ["❌ I do not agree"]]


async def test_help_language_and_cancel_work_in_every_state(app: App) -> None:
    person = await onboard(app, 1004)
    assert "/language" in (await person.command("help")).text
    assert (await person.command("cancel")).text == T["ru"]("cancel.nothing")
    context = app.dp.fsm.get_context(app.bot, chat_id=1004, user_id=1004)
    await context.set_state("SomeForm:somewhere")
    reply = await person.command("cancel")
    assert reply.texts == [T["ru"]("cancel.done"), T["ru"]("menu.title")]
    assert await context.get_state() is None

    reply = await person.command("language")
    assert reply.buttons == [["✓ Русский"], ["Қазақша"], ["English"]]
    reply = await person.press("Қазақша")
    assert reply.texts[-1] == T["kk"]("menu.title")  # consent already given: straight to the menu
    assert (await stored_user(app, 1004)).language == "kk"
    assert (await person.command("help")).text.startswith("MedFeedback Алматы тұрғындарына")


async def test_unexpected_input_gets_a_hint_in_the_persons_language(app: App) -> None:
    person = await onboard(app, 1005, "en", "English")
    for reply in (await person.sticker(), await person.location(43.25, 76.92)):
        assert reply.text == T["en"]("errors.unexpected_input")
    # Words or a file at the menu are offered as the start of a review instead of a dead end.
    for reply in (await person.send("hello?"), await person.gif(), await person.photo()):
        assert reply.text == T["en"]("menu_offer.prompt")
    assert (await person.edit(1, "changed my mind")).text == T["en"]("flow.edit_not_applied")


async def test_stale_and_forged_buttons_are_explained_not_crashed(app: App) -> None:
    person = await onboard(app, 1006)
    stale = T["ru"]("errors.stale_button")
    assert (await person.press_data("menu:nonsense")).callback_answers == [stale]
    assert (await person.press_data("something-old")).callback_answers == [stale]
    assert (await person.press_data("lang:de")).callback_answers == [stale]
    assert (await stored_user(app, 1006)).language == "ru"
    # A consent button from an older consent text does not record consent to a text not shown now.
    newcomer = app.user(1007)
    await newcomer.command("start")
    await newcomer.press("Русский")
    reply = await newcomer.press_data("consent:accept:2020-01")
    assert reply.callback_answers == [stale]
    assert CONSENT_VERSION in reply.text
    assert (await stored_user(app, 1007)).consent_version is None


async def test_a_redelivered_update_is_handled_once(app: App) -> None:
    person = app.user(1008)
    update = app.updates.text("/start", user=person.user, chat=person.chat)
    first = await person.feed(update)
    calls_before = len(app.session.calls)
    await app.dp.feed_update(app.bot, update)  # Telegram delivers the very same update again
    assert first.text.startswith(T["ru"]("language.prompt_all"))
    assert len(app.session.calls) == calls_before


@pytest.mark.expect_errors
async def test_a_failure_rolls_back_and_apologises(app: App) -> None:
    person = app.user(1009)
    await person.command("start")
    # Failing on both tries (an unexpected error is tried twice before the apology).
    app.session.fail_next(EditMessageText, error_code=400, description="Bad Request: something odd", times=2)
    reply = await person.press("English")
    # Nothing of the failed update was kept, so the apology speaks Telegram's language, not the chosen one.
    assert reply.text == T["ru"]("errors.generic")
    assert (await stored_user(app, 1009)) is None  # the language choice was rolled back with the update


async def test_command_menu_is_registered_in_each_language(app: App) -> None:
    await app.dp.emit_startup(bot=app.bot, **app.dp.workflow_data)
    calls = app.session.calls_of(SetMyCommands)
    by_language = {call.language_code: {c.command: c.description for c in call.commands} for call in calls}
    assert set(by_language) == {"kk", "ru", "en", None}
    assert by_language["kk"]["language"] == "Тілді ауыстыру"
    assert by_language["en"]["cancel"] == "Cancel the current action"
    assert by_language[None] == by_language["ru"]
    assert list(by_language["ru"])[:4] == ["start", "review", "top", "my"]
    assert by_language["ru"]["top"] == "Лучшие специалисты"


async def test_conversation_state_survives_a_restart(app: App) -> None:
    person = await onboard(app, 1010)
    await app.dp.fsm.get_context(app.bot, chat_id=1010, user_id=1010).set_state("SomeForm:somewhere")
    restarted = app.rebuilt()
    person = restarted.user(1010)
    assert (await person.command("cancel")).texts[0] == T["ru"]("cancel.done")


@pytest.mark.redis
async def test_conversation_state_survives_a_restart_on_redis(app: App) -> None:
    from bot.factory import create_dispatcher

    settings = app.settings.model_copy(update={"fsm": app.settings.fsm.model_copy(update={"storage": REDIS_URL})})
    user_id = 1_000_000 + int(app.clock.now.timestamp()) % 1_000_000
    first = create_dispatcher(settings, session_pool=app.pool, clock=app.clock)
    await first.fsm.get_context(app.bot, chat_id=user_id, user_id=user_id).set_state("SomeForm:somewhere")
    await first.storage.close()
    second = create_dispatcher(settings, session_pool=app.pool, clock=app.clock)
    try:
        restarted = App(settings, app.pool, app.bot, second, app.session, app.updates, app.clock)
        reply = await restarted.user(user_id).command("cancel")
        assert reply.texts[0] == T["ru"]("cancel.done")
        assert await second.fsm.get_context(app.bot, chat_id=user_id, user_id=user_id).get_state() is None
    finally:
        await second.storage.close()


async def test_a_flood_is_told_once_and_ignored(app: App) -> None:
    settings = app.settings.model_copy(update={"flood": app.settings.flood.model_copy(update={"max_updates": 30})})
    app = App(settings, app.pool, app.bot, create_dispatcher(settings, session_pool=app.pool, clock=app.clock),
              app.session, app.updates, app.clock)
    person = await onboard(app, 1011)
    replies = [await person.send(f"сообщение {n}") for n in range(35)]
    assert all(reply.text == T["ru"]("menu_offer.prompt") for reply in replies[:27])
    flood = [reply for reply in replies if reply.text == T["ru"]("errors.flood")]
    assert len(flood) == 1
    assert all(reply.calls == [] for reply in replies[-3:])


async def test_help_and_rights_show_the_operator_and_the_official_lines(app: App) -> None:
    app.settings.contacts.operator_name = "Городской центр MedFeedback"
    app.settings.contacts.operator_contact = "@medfeedback_support"
    person = await onboard(app, 1012)
    reply = await person.command("help")
    help_text = reply.text
    assert reply.buttons == [[T["ru"]("menu.home")]]  # not a dead end
    assert (await person.press(T["ru"]("menu.home"))).text == T["ru"]("menu.title")
    assert T["ru"]("contacts.operator", name="Городской центр MedFeedback", contact="@medfeedback_support") in help_text
    for line, phone in (("emergency", "103 / 112"), ("insurance_fund", "1406"), ("egov", "1414")):
        assert T["ru"](f"contacts.line_{line}", phone=phone) in help_text
    rights = (await person.press(T["ru"]("menu.rights"))).text
    assert T["ru"]("contacts.line_emergency", phone="103 / 112") in rights and "@medfeedback_support" in rights
    # Without an operator configured, the official lines are still there.
    app.settings.contacts.operator_name = app.settings.contacts.operator_contact = ""
    help_text = (await person.command("help")).text
    assert "@medfeedback_support" not in help_text and "1414" in help_text
