"""Localised texts: one TOML catalogue per language under bot/locales/<lang>/, looked up by key."""

from __future__ import annotations

import tomllib
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

LOCALES_DIR = Path(__file__).parent / "locales"
LANGUAGES = ("kk", "ru", "en")


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for name, value in table.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{key}."))
        else:
            flat[key] = str(value)
    return flat


def load_catalog(language: str, locales_dir: Path = LOCALES_DIR) -> dict[str, str]:
    catalog: dict[str, str] = {}
    for path in sorted((locales_dir / language).glob("*.toml")):
        catalog.update(_flatten(tomllib.loads(path.read_text(encoding="utf-8"))))
    return catalog


class L10n:
    """The texts of one language: `l10n("menu.title")`, `l10n("reply.reference", ref=...)`."""

    def __init__(self, language: str, catalog: dict[str, str]) -> None:
        self.language = language
        self._catalog = catalog

    def __call__(self, key: str, /, **values: Any) -> str:
        try:
            template = self._catalog[key]
        except KeyError:
            raise KeyError(f"no text {key!r} in locale {self.language!r}") from None
        return template.format(**values) if values else template

    def has(self, key: str) -> bool:
        return key in self._catalog

    # Numbers, dates and plural forms by CLDR rules (Babel): "4,4" in ru and kk, "4.4" in en; thousands grouped
    # as each writes them, "12 500" in ru and kk (a no-break space: the figure never breaks across lines),
    # "12,500" in en. `digits=0` for a count.
    def number(self, value: float, digits: int = 1) -> str:
        from babel.numbers import format_decimal

        return format_decimal(value, format="#,##0" + ("." + "0" * digits if digits else ""), locale=self.language)

    def count(self, noun: str, n: int) -> str:
        """"n noun" in the form this language takes after n: ru "1 рабочий день", "3 рабочих дня", "5 рабочих дней",
        "1 234 отзыва".

        The keys are count.<noun>_one / _few / _many in every language (Kazakh and English repeat a form)."""
        return self(f"count.{noun}_{plural_form(self.language, n)}", n=self.number(n, 0))

    def day(self, value: date | datetime) -> str:
        """A day as people of this language write it: "26 ноября 2026", "26 қараша 2026", "26 November 2026"."""
        from babel.dates import format_date

        return format_date(value, format="d MMMM y", locale=self.language)

    def sort_key(self, text: str) -> tuple[int, ...]:
        """Alphabetical order of this language: Kazakh letters (ә, ғ, қ, ң, ө, ұ, ү, һ, і) in their places."""
        return alphabet_key(text, self.language)


def plural_form(language: str, n: int) -> str:
    """The CLDR plural category (Babel) as the locale keys name it: one, few or many ("other" counts as many)."""
    from babel import Locale

    form = Locale.parse(language).plural_form(n)
    return form if form in ("one", "few") else "many"


# The Kazakh Cyrillic alphabet (42 letters) in its official order; Russian is the same alphabet without the nine
# Kazakh letters, and Latin letters sort after Cyrillic ones. Used instead of PyICU, which needs system headers.
KAZAKH_ALPHABET = "аәбвгғдеёжзийкқлмнңоөпрстуұүфхһцчшщъыіьэюя"
RUSSIAN_ALPHABET = "абвгдеёжзийклмнопрстуфхцчшщъыьэюя"


def alphabet_key(text: str, language: str) -> tuple[int, ...]:
    alphabet = KAZAKH_ALPHABET if language == "kk" else RUSSIAN_ALPHABET
    order = {letter: index for index, letter in enumerate(alphabet)}
    key = []
    for character in text.lower():
        if character in order:
            key.append(100 + order[character])
        elif character.isdigit():
            key.append(ord(character) - ord("0"))  # numbers before letters
        elif character.isalpha():
            key.append(200 + ord(character))  # Latin and anything else after Cyrillic
        else:
            key.append(50)  # spaces and punctuation: between digits and letters
    return tuple(key)


class Translator:
    """All catalogues, loaded once at start-up."""

    def __init__(self, default: str = "ru", locales_dir: Path = LOCALES_DIR) -> None:
        self.default = default
        self._by_language = {lang: L10n(lang, load_catalog(lang, locales_dir)) for lang in LANGUAGES}

    def __getitem__(self, language: str | None) -> L10n:
        return self._by_language.get(language or self.default) or self._by_language[self.default]

    def pick(self, telegram_language_code: str | None) -> str:
        """The language to preselect for a newcomer from Telegram's language_code ("kk", "ru-RU", ...)."""
        code = (telegram_language_code or "").split("-")[0].lower()
        return code if code in LANGUAGES else self.default

    def every(self, key: str, **values: Any) -> set[str]:
        """The text in every language: for matching a button or command typed in any of them."""
        return {catalog(key, **values) for catalog in self._by_language.values()}


@lru_cache(maxsize=4)
def translator(default: str = "ru") -> Translator:
    """The catalogues for services that write to people outside a handler (notifications, alerts, digests)."""
    return Translator(default)
