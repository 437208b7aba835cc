"""The operations side of a running bot, built once by bot/app.py: metrics, health, the routes and the listener.

app.py plugs it in with a few calls (see `Operations`); nothing here decides how updates are received.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiogram import Bot
from aiohttp import web

from bot.config import Settings
from bot.ops.health import Health
from bot.ops.metrics import Metrics, TelegramWatch, instrument_relay
from bot.ops.server import OpsListener, OpsRoutes
from storage.engine import make_read_engine, make_session_pool

log = logging.getLogger(__name__)


class Operations:
    """Usage in app.py:

        ops = Operations(settings, clock)
        ops.watch_bot(bot)                           # Telegram's answers and the sends are seen
        dp = create_dispatcher(..., metrics=ops.metrics)
        ops.watch_relay(relay)                       # before make_scheduler, which captures relay.run_once
        scheduler = make_scheduler(..., health=ops.health)
        ops.routes.register(webhook_app)             # webhook mode: the routes on the webhook server too
        await ops.start(bot) ... await ops.stop()    # the listener (ops.listen) and the Telegram probe
    """

    def __init__(self, settings: Settings, clock: Callable[[], datetime]) -> None:
        self.settings = settings
        self.metrics = Metrics()
        # Probes and scrapes read through an engine of their own that never takes SQLite's write lock.
        self.read_engine = make_read_engine(settings.database.url, busy_timeout_ms=1000)  # a probe must not hang
        self.health = Health(self.read_engine, telegram_stale=settings.ops.telegram_stale_seconds,
                             heartbeat_stale=settings.ops.heartbeat_stale_seconds)
        self.routes = OpsRoutes(self.health, self.metrics, make_session_pool(self.read_engine), clock, settings.zone)
        self.listener = OpsListener(self.routes, settings.ops.listen) if settings.ops.listen else None
        self._probe: asyncio.Task[None] | None = None

    def watch_bot(self, bot: Bot) -> None:
        bot.session.middleware(TelegramWatch(self.metrics, self.health.telegram_answered))

    def watch_relay(self, relay: Any) -> None:
        instrument_relay(relay)
        # An instance attribute: the relay's own loop (self.run_once) and the scheduler's sweep both go through it.
        relay.run_once = self.health.beating("relay", relay.run_once)

    def mount(self, app: web.Application) -> None:
        self.routes.register(app)

    async def start(self, bot: Bot) -> None:
        if self.listener is not None:
            await self.listener.start()
        self._probe = asyncio.create_task(self._probe_telegram(bot), name="ops-telegram-probe")

    def stopping(self) -> None:
        """From the first moment of a graceful stop /readyz says so, and a load balancer stops routing here."""
        self.health.stopping = True

    async def stop(self) -> None:
        self.stopping()
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
        if self.listener is not None:
            await self.listener.stop()
        await self.read_engine.dispose()

    async def _probe_telegram(self, bot: Bot) -> None:
        """In webhook mode nothing calls Telegram while nobody writes: a light call keeps 'Telegram answers' true."""
        period = max(5.0, self.health.telegram_stale / 3)
        while True:
            await asyncio.sleep(period)
            if self.health.telegram_age() is not None and self.health.telegram_age() < period:
                continue
            try:
                await bot.get_webhook_info(request_timeout=10)
            except Exception as error:  # the readiness says it; the log says why
                log.warning("Telegram probe failed (%s)", type(error).__name__)
