"""The HTTP session to the Bot API: a call without files goes as one JSON body, a call with files as aiogram's form.

aiogram posts every call as a form. Without files aiohttp url-encodes it, and `urllib.parse.quote` escapes each
byte of Cyrillic or Kazakh text in a Python loop: for the newcomer's screen (the language prompt and the consent,
about 1,700 characters) that was about 7% of the bot's main thread per /start in the webhook bench (py-spy), and
the fake Bot API on the same cores spent as much again decoding it; with JSON the bot handled about 15% more /start
a second. `json.dumps` does the same work in C. The Bot API takes `application/json` for every method except
uploads; a call that uploads a file keeps aiogram's multipart form.
"""

from __future__ import annotations

import json
from typing import Any, cast

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods.base import TelegramMethod, TelegramType
from aiohttp import ClientError

JSON_HEADERS = {"Content-Type": "application/json"}


class JsonBodySession(AiohttpSession):
    def json_body(self, bot: Bot, method: TelegramMethod[TelegramType]) -> bytes | None:
        """The call as a JSON body, or None when it carries a file (those go as a multipart form)."""
        files: dict[str, Any] = {}
        fields = {}
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.prepare_value(value, bot=bot, files=files, _dumps_json=False)
            # The form leaves out empty values (None, ""), and so does the body: a call means the same either way.
            if prepared is None or prepared == "":
                continue
            fields[key] = prepared
        if files:
            return None
        # ASCII escapes, as aiogram writes nested values: a lone surrogate in a button's text then reaches Telegram,
        # which refuses the call (TelegramBadRequest), instead of failing here to encode as UTF-8.
        return json.dumps(fields).encode()

    async def make_request(self, bot: Bot, method: TelegramMethod[TelegramType],
                           timeout: int | None = None) -> TelegramType:  # noqa: ASYNC109 (aiogram's signature)
        body = self.json_body(bot, method)
        if body is None:
            return await super().make_request(bot, method, timeout)
        session = await self.create_session()
        url = self.api.api_url(token=bot.token, method=method.__api_method__)
        # The same errors as aiogram's form request raises, so retries and the outbox see no difference.
        try:
            async with session.post(url, data=body, headers=JSON_HEADERS,
                                    timeout=self.timeout if timeout is None else timeout) as resp:
                raw_result = await resp.text()
        except TimeoutError as error:
            raise TelegramNetworkError(method=method, message="Request timeout error") from error
        except ClientError as error:
            raise TelegramNetworkError(method=method, message=f"{type(error).__name__}: {error}") from error
        response = self.check_response(bot=bot, method=method, status_code=resp.status, content=raw_result)
        return cast(TelegramType, response.result)
