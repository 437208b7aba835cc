"""Localised texts: one TOML catalogue per language under bot/locales/<lang>/, looked up by key."""

from __future__ import annotations

import tomllib
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
