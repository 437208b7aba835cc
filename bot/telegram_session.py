"""The HTTP session to the Bot API: a call without files goes as one JSON body, a call with files as aiogram's form.

aiogram posts every call as a form. Without files aiohttp url-encodes it, and `urllib.parse.quote` escapes each
byte of Cyrillic or Kazakh text in a Python loop: for the newcomer's screen (the language prompt and the consent,
about 1,700 characters) that was about 7% of the bot's main thread per /start in the webhook bench (py-spy), and
the fake Bot API on the same cores spent as much again decoding it; with JSON the bot handled about 15% more /start
a second. `json.dumps` does the same work in C. The Bot API takes `application/json` for every method except
uploads; a call that uploads a file keeps aiogram's multipart form.
"""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.methods.base import TelegramMethod, TelegramType
from aiohttp import FormData, JsonPayload


class JsonBodySession(AiohttpSession):
    """aiogram's own request (its timeouts, its errors, its parsing of the answer), with another body: only the body
    it posts is built here."""

    def build_form_data(self, bot: Bot, method: TelegramMethod[TelegramType]) -> FormData:
        body = self.json_body(bot, method)
        # aiogram hands what this returns to aiohttp as the request's data, and aiohttp takes a payload there too.
        return body if body is not None else super().build_form_data(bot, method)  # type: ignore[return-value]

    def json_body(self, bot: Bot, method: TelegramMethod[TelegramType]) -> JsonPayload | None:
        """The call as a JSON body, or None when it carries a file (those go as a multipart form)."""
        fields = json_fields(self, bot, method)
        # json.dumps escapes non-ASCII, as aiogram writes nested values: a lone surrogate in a button's text then
        # reaches Telegram, which refuses the call (TelegramBadRequest), instead of failing here to encode as UTF-8.
        return None if fields is None else JsonPayload(fields)


def json_fields(session: BaseSession, bot: Bot, method: TelegramMethod[TelegramType]) -> dict[str, Any] | None:
    """A call's parameters as JSON values, as the session would post them, or None when it carries a file."""
    files: dict[str, Any] = {}
    fields = {}
    for key, value in method.model_dump(warnings=False).items():
        prepared = session.prepare_value(value, bot=bot, files=files, _dumps_json=False)
        # The form leaves out empty values (None, ""), and so does the body: a call means the same either way.
        if prepared is None or prepared == "":
            continue
        fields[key] = prepared
    return None if files else fields
