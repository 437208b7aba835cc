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
