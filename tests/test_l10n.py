"""Every text exists in kk, ru and en with the same placeholders, and handlers never send literal strings."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest

from bot.l10n import LANGUAGES, LOCALES_DIR, Translator, load_catalog

ROOT = Path(__file__).parents[1]
CATALOGS = {language: load_catalog(language) for language in LANGUAGES}
# Calls that put text in front of a person; their text argument must come from l10n.
SENDING = {"answer", "reply", "send_message", "edit_text", "edit_message_text", "edit_caption", "send_photo",
           "answer_photo", "send_document", "answer_document", "send_venue", "answer_venue", "button",
           "InlineKeyboardButton", "KeyboardButton", "BotCommand"}
TEXT_KEYWORDS = {"text", "caption", "description", "title"}


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_locale_has_every_key() -> None:
    keys = {language: set(catalog) for language, catalog in CATALOGS.items()}
    everything = set().union(*keys.values())
    for language in LANGUAGES:
        assert not everything - keys[language], f"{language} lacks {sorted(everything - keys[language])}"


def test_every_key_the_code_asks_for_exists() -> None:
    asked = set()
    for path in [*ROOT.glob("handlers/**/*.py"), *ROOT.glob("bot/**/*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str) and "." in node.args[0].value
                    and ast.unparse(node.func).split(".")[-1] in {"l10n", "every"}):
                asked.add(node.args[0].value)
    assert asked, "the scan found no l10n calls at all"
    assert asked - set(CATALOGS["en"]) == set()


@pytest.mark.parametrize("key", sorted(CATALOGS["en"]))
def test_placeholders_agree_and_texts_are_not_empty(key: str) -> None:
    expected = placeholders(CATALOGS["en"][key])
    for language in LANGUAGES:
        assert CATALOGS[language][key].strip(), f"{language}:{key} is empty"
        assert placeholders(CATALOGS[language][key]) == expected, f"{language}:{key}"


def test_translations_are_not_copies_of_english() -> None:
    # Button labels that are language names are the same everywhere on purpose.
    def has_words(template: str) -> bool:
        return any(character.isalpha() for character in re.sub(r"\{\w+\}", "", template))

    same = [key for key in CATALOGS["en"] if not key.startswith("language.") and has_words(CATALOGS["en"][key])
            and (CATALOGS["kk"][key] == CATALOGS["en"][key] or CATALOGS["ru"][key] == CATALOGS["en"][key])]
    assert same == []


def test_missing_keys_fail_loudly() -> None:
    with pytest.raises(KeyError, match="no text"):
        Translator()["en"]("no.such.key")


def test_locale_folder_holds_exactly_the_three_languages() -> None:
    assert sorted(path.name for path in LOCALES_DIR.iterdir() if path.is_dir()) == sorted(LANGUAGES)


def _literal_texts(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if name not in SENDING:
            continue
        candidates = [*node.args[:1], *(kw.value for kw in node.keywords if kw.arg in TEXT_KEYWORDS)]
        for value in candidates:
            if isinstance(value, ast.JoinedStr) or (
                isinstance(value, ast.Constant) and isinstance(value.value, str) and value.value.strip()
            ):
                found.append((node.lineno, ast.unparse(value)))
    return found


def test_handlers_and_keyboards_send_no_literal_strings() -> None:
    offenders = []
    for path in [*ROOT.glob("handlers/**/*.py"), *ROOT.glob("bot/*keyboards.py"), *ROOT.glob("bot/services/*.py"),
                 *ROOT.glob("bot/cases/*.py")]:
        for line, literal in _literal_texts(ast.parse(path.read_text(encoding="utf-8"))):
            offenders.append(f"{path.relative_to(ROOT)}:{line}: {literal}")
    assert offenders == []


def test_the_literal_check_catches_a_literal() -> None:
    sample = ast.parse('async def h(m):\n    await m.answer("Hello")\n    await m.answer(text=f"Hi {m}")\n')
    assert [line for line, _ in _literal_texts(sample)] == [2, 3]


def test_counted_words_take_the_form_their_number_asks_for() -> None:
    """ "через 3 рабочих дня", not "через 3 рабочих дней"; "1 working day", not "1 working days"."""
    texts = Translator()
    ru, en, kk = texts["ru"], texts["en"], texts["kk"]
    assert [ru.count("working_days", n) for n in (1, 3, 5, 11, 21, 22)] == [
        "1 рабочий день", "3 рабочих дня", "5 рабочих дней", "11 рабочих дней", "21 рабочий день", "22 рабочих дня"]
    # After «в течение» Russian takes the genitive: "в течение 1 рабочего дня", "в течение 15 рабочих дней".
    assert [ru.count("within_working_days", n) for n in (1, 2, 15)] == [
        "1 рабочего дня", "2 рабочих дней", "15 рабочих дней"]
    assert [ru.count("complaints", n) for n in (1, 3, 7)] == ["1 жалоба", "3 жалобы", "7 жалоб"]
    assert [en.count("working_days", n) for n in (1, 2, 0)] == ["1 working day", "2 working days", "0 working days"]
    assert [kk.count("working_days", n) for n in (1, 3)] == ["1 жұмыс күні", "3 жұмыс күні"]  # no plural after a number
    assert ru("reminders.section_soon", days=ru.count("working_days", 3), due="10.12.2026").startswith(
        "🔔 <b>Срок через 3 рабочих дня</b>")
    assert "в течение 15 рабочих дней" in ru("submitted.next_formal", days=ru.count("within_working_days", 15),
                                              due="22.12.2026")


def test_every_counted_word_has_its_three_forms_in_every_language() -> None:
    for language, catalog in CATALOGS.items():
        nouns = {key.removeprefix("count.").rsplit("_", 1)[0] for key in catalog if key.startswith("count.")}
        assert nouns >= {"reviews", "working_days", "within_working_days", "complaints", "days"}
        for noun in nouns:
            assert {f"count.{noun}_{form}" for form in ("one", "few", "many")} <= set(catalog), (language, noun)


def test_kazakh_texts_call_a_button_by_one_word() -> None:
    """The Kazakh screens say «батырма» for a button; a text with «түйме» reads as if about something else."""
    assert not [key for key, text in CATALOGS["kk"].items() if "түйме" in text]


def test_the_english_receipt_of_a_description_reads_right_for_one_file() -> None:
    """Shown after every file a resident sends: "1 files" is how a machine counts, not a person."""
    english = Translator()["en"]
    assert "1 files" not in english("description.received", length=98, files=1, limit=10)
