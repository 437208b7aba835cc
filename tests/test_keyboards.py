"""The keyboards built by `one_per_row` (bot/keyboards.py) instead of aiogram's InlineKeyboardBuilder: the same
buttons, one a row, whose data the handlers' filters read back, in every language."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.callbacks import (
    ConsentAction,
    ConsentChange,
    ConsentChoice,
    ConsentManage,
    ForgetAction,
    ForgetChoice,
    LanguageChoice,
    MenuChoice,
)
from bot.keyboards import MENU_ITEMS, make_consent_keyboard, make_language_keyboard, make_main_menu
from bot.l10n import LANGUAGES, Translator
from handlers.privacy import make_consent_state_keyboard, make_forget_keyboard, make_withdraw_keyboard

ROOT = Path(__file__).resolve().parents[1]
translator = Translator()


def rows(markup) -> list[list[tuple[str, str]]]:
    return [[(button.text, button.callback_data) for button in row] for row in markup.inline_keyboard]


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_main_menu_has_each_item_on_a_row_of_its_own_in_every_language(language: str) -> None:
    l10n = translator[language]
    shown = rows(make_main_menu(l10n))
    assert [[text] for text, _ in (row[0] for row in shown)] == [[l10n(key)] for _, key in MENU_ITEMS]
    assert all(len(row) == 1 for row in shown)
    assert [MenuChoice.unpack(row[0][1]).action for row in shown] == [action for action, _ in MENU_ITEMS]


@pytest.mark.parametrize("preselected", LANGUAGES)
def test_the_language_keyboard_puts_the_preselected_language_first_and_marked(preselected: str) -> None:
    l10n = translator["ru"]
    shown = rows(make_language_keyboard(l10n, preselected))
    assert all(len(row) == 1 for row in shown)
    codes = [LanguageChoice.unpack(row[0][1]).code for row in shown]
    assert codes[0] == preselected and sorted(codes) == sorted(LANGUAGES)
    assert [row[0][0].startswith("✓ ") for row in shown] == [True, False, False]


def test_the_consent_and_privacy_keyboards_carry_what_their_handlers_read() -> None:
    l10n = translator["kk"]
    consent = rows(make_consent_keyboard(l10n, "2026-11"))
    assert [text for [(text, _)] in consent] == [l10n("consent.accept"), l10n("consent.decline")]
    assert [ConsentChoice.unpack(data) for [(_, data)] in consent] == [
        ConsentChoice(action=ConsentAction.ACCEPT, version="2026-11"),
        ConsentChoice(action=ConsentAction.DECLINE, version="2026-11")]
    forget = rows(make_forget_keyboard(l10n, 42))
    assert [ForgetChoice.unpack(data) for [(_, data)] in forget] == [
        ForgetChoice(action=ForgetAction.CONFIRM, user_id=42), ForgetChoice(action=ForgetAction.CANCEL, user_id=42)]
    withdraw = rows(make_withdraw_keyboard(l10n))
    assert [ConsentManage.unpack(data).action for [(_, data)] in withdraw] == [
        ConsentChange.WITHDRAW_CONFIRMED, ConsentChange.KEEP]
    offered = {state: [ConsentManage.unpack(data).action
                       for [(_, data)] in rows(make_consent_state_keyboard(l10n, state))]
               for state in ("none", "withdrawn", "outdated", "given")}
    assert offered == {"none": [ConsentChange.GIVE], "withdrawn": [ConsentChange.GIVE],
                       "outdated": [ConsentChange.GIVE, ConsentChange.WITHDRAW], "given": [ConsentChange.WITHDRAW]}


def test_no_keyboard_is_built_with_aiograms_builder() -> None:
    """InlineKeyboardBuilder validates every button twice and deep-copies them all: 0.34 ms for the main menu,
    0.04 ms with `one_per_row` (bench/flow.py measures the flow)."""
    users = [str(path.relative_to(ROOT)) for folder in ("bot", "handlers") for path in (ROOT / folder).rglob("*.py")
             if "aiogram.utils.keyboard" in path.read_text(encoding="utf-8")]
    assert users == []



def shared_keyboards(l10n) -> dict[str, object]:
    """The keyboards built once per language (`per_language`), as the handlers ask for them."""
    from bot import keyboards as k
    from bot.services.people import CONSENT_VERSION

    return {
        "language": k.make_language_keyboard(l10n, l10n.language),
        "consent": k.make_consent_keyboard(l10n, CONSENT_VERSION),
        "onboarding": k.make_onboarding_keyboard(l10n, CONSENT_VERSION), "menu": k.make_main_menu(l10n),
        "target": k.make_target_keyboard(l10n), "back_cancel": k.make_back_cancel_keyboard(l10n),
        "continue": k.make_continue_keyboard(l10n), "description": k.make_description_keyboard(l10n, reopened=False),
        "add_text": k.make_add_text_keyboard(l10n), "return": k.make_return_keyboard(l10n),
        "behalf": k.make_behalf_keyboard(l10n), "phone": k.make_phone_keyboard(l10n),
        "unfinished": k.make_unfinished_keyboard(l10n), "discard": k.make_discard_keyboard(l10n),
        "start_with": k.make_start_with_keyboard(l10n), "home": k.make_home_keyboard(l10n),
    }


@pytest.mark.usefixtures("demo_directory")
async def test_a_keyboard_shared_by_every_message_of_a_language_stays_as_built(app) -> None:
    """A `per_language` keyboard is one object, sent with every message in its language: a handler that added a row
    to it would show that row to everybody after."""
    from tests.flows import resident, to_kind_step

    languages = [app.dp["translator"][language] for language in LANGUAGES]  # the handlers' own
    built = {l10n.language: shared_keyboards(l10n) for l10n in languages}
    assert all(shared_keyboards(l10n)[name] is keyboard for l10n in languages
               for name, keyboard in built[l10n.language].items())  # one object, not one a message
    as_built = {language: {name: keyboard.model_dump() for name, keyboard in keyboards.items()}
                for language, keyboards in built.items()}
    for number, (language, button) in enumerate((("ru", "Русский"), ("kk", "Қазақша"), ("en", "English"))):
        person = await resident(app, 4910 + number, language, button)
        if language == "ru":  # the flow's helpers press Russian buttons
            await to_kind_step(app, person, about_doctor=False)
        await person.command("start")  # a review unfinished: the offer to resume it or start over
        await person.command("cancel")
    for l10n in languages:
        now = shared_keyboards(l10n)
        assert {name: keyboard.model_dump() for name, keyboard in now.items()} == as_built[l10n.language]
        assert all(now[name] is keyboard for name, keyboard in built[l10n.language].items())
