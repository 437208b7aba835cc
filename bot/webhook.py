"""The webhook endpoint: 200 only once the update is handled and committed, 503 when it could not be (Telegram
delivers it again), 400 for a body that is not an update, 401 without the secret.

aiogram's SimpleRequestHandler answers 200 after 55 s whatever happens and lets a junk body raise a traceback;
this handler awaits the update itself and says exactly what happened. While the process is stopping it takes no
new updates (503), and `drain()` waits for those in flight. The 200 may carry the update's last reply as a Bot API
call for Telegram to make (`WebhookReply` in bot/unit_of_work.py).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Coroutine
from functools import partial
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.types import Update
from aiohttp import web
from pydantic import ValidationError

from bot.unit_of_work import InfrastructureUnavailable, WebhookReply, send_after_commit

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY = 1 << 20  # Telegram's updates are small; a larger body is not one of them


class WebhookEndpoint:
    def __init__(self, dp: Dispatcher, bot: Bot, secret: str | None) -> None:
        self.dp, self.bot, self.secret = dp, bot, secret
        self.accepting = True
        self._in_flight: set[asyncio.Task[object]] = set()

    def register(self, app: web.Application, path: str) -> None:
        app.router.add_post(path, self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        if self.secret is not None and not hmac.compare_digest(request.headers.get(SECRET_HEADER, ""), self.secret):
            return web.Response(status=401, text="unauthorized")
        if not self.accepting:
            return web.Response(status=503, text="stopping", headers={"Retry-After": "5"})
        if (request.content_length or 0) > MAX_BODY:
            return web.Response(status=413, text="too large")
        try:
            update = Update.model_validate(json.loads(await request.read()), context={"bot": self.bot})
        except (ValueError, ValidationError, RecursionError, UnicodeDecodeError) as error:
            log.warning("webhook: a body that is not an update was refused (%s)", type(error).__name__)
            return web.Response(status=400, text="not an update")
        # A task of its own: a client that hangs up does not cancel an update half-way through its transaction.
        reply = WebhookReply(self.bot)
        task = self._track(self.dp.feed_update(self.bot, update, dispatcher=self.dp, bots=[self.bot],
                                               webhook_reply=reply))
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            # The server is stopping past its grace and cancelled this request: no answer will be written, so the
            # update sends its reply itself, or, when it has already handed it over, the reply is sent from here.
            reply.abandon()
            if reply.call is not None:
                self._track(self._send(reply.call, update.update_id))
            raise
        except InfrastructureUnavailable as error:
            log.warning("update %s not handled (%s): 503, Telegram will deliver it again", update.update_id,
                        error.__cause__ or error)
            return web.Response(status=503, text="try again", headers={"Retry-After": "5"})
        except Exception:  # the errors router itself failed: confirm, or Telegram retries a poisoned update forever
            log.exception("update %s failed and could not be answered; confirmed", update.update_id)
        if reply.call is None:
            return web.json_response({})
        if request.transport is None or request.transport.is_closing():
            # The client hung up, so the answer would be written to nobody: the update is stored, send it now.
            await self._send(reply.call, update.update_id)
            return web.json_response({})
        try:
            return web.json_response(reply.body)
        except (TypeError, ValueError):  # not JSON after all: a 500 now would leave a stored update unanswered
            # The bot's own JSON body would fail the same way: the reply is lost, and said so.
            log.exception("update %s: its reply could not be written as JSON and is not sent", update.update_id)
            return web.json_response({})

    async def _send(self, call: Any, update_id: int) -> None:
        """The bot makes a reply's call itself, when no webhook answer will carry it."""
        await send_after_commit(partial(self.bot, call), update_id)

    def _track(self, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """A task `drain()` waits for."""
        task = asyncio.ensure_future(work)
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)
        return task

    async def drain(self, grace: float) -> None:
        """Stop taking updates, then wait (at most `grace` seconds) for the ones being handled."""
        self.accepting = False
        if self._in_flight:
            log.info("stopping: finishing %s update(s) in flight (at most %s s)", len(self._in_flight), grace)
            await asyncio.wait(set(self._in_flight), timeout=grace)
