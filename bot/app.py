"""Runs the bot: migrations first, then polling or a webhook server, in modes that do not lose updates."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable
from contextlib import suppress
from datetime import timedelta

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramAPIError, TelegramUnauthorizedError
from aiohttp import web
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cases import cards as alerts
from bot.config import Settings, require_token
from bot.factory import create_bot, create_dispatcher, utcnow
from bot.ops import heap
from bot.ops.runtime import Operations
from bot.polling import Poller, wait_for_telegram
from bot.scheduler import make_scheduler
from bot.services import notices, reviews
from bot.services.relay import ChatLanguages, Relay
from bot.webhook import WebhookEndpoint
from storage.engine import make_engine, make_session_pool
from storage.migrate import upgrade
from storage.repositories import Repositories

log = logging.getLogger("medfeedback")


def describe(settings: Settings) -> str:
    database = make_url(settings.database.url).render_as_string(hide_password=True)
    return (f"MedFeedback starting: mode={settings.telegram.mode}, database={database}, "
            f"api_server={settings.telegram.api_server}, fsm={_fsm_name(settings)}")


def _fsm_name(settings: Settings) -> str:
    if settings.fsm.storage == "database":
        return "database"
    return make_url(settings.fsm.storage).render_as_string(hide_password=True)


class TokenRejected(Exception):
    """Telegram refused the token: nothing will work until a person fixes the setting."""


async def run(settings: Settings) -> None:
    """Until SIGTERM or SIGINT: then stop taking updates, finish those in flight and the send in progress
    (each bounded by `shutdown_grace`), and return, so that the process exits 0."""
    require_token(settings)
    engine = make_engine(settings.database.url)
    await upgrade(engine)
    pool = make_session_pool(engine)
    ops = Operations(settings, utcnow)  # health, readiness and metrics (bot/ops/runtime.py)
    bot = create_bot(settings)
    ops.watch_bot(bot)
    dp = create_dispatcher(settings, session_pool=pool, metrics=ops.metrics)
    relay = Relay(bot, pool, utcnow, settings.admins, group_alerts=alerts.group_alerts_for(settings),
                  lease=timedelta(seconds=settings.outbox.lease_seconds),
                  language_of=ChatLanguages.from_settings(settings), zone=settings.zone)
    dp["relay"] = relay
    ops.watch_relay(relay)
    scheduler = make_scheduler(settings, pool, relay, utcnow, health=ops.health)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    relay_task: asyncio.Task[None] | None = None
    started = False
    log.info(describe(settings))
    urgency_ready = (asyncio.create_task(_prepare_urgency(), name="urgency-warm-up")
                     if settings.feedback.prepare_urgency_at_start else None)
    # From the first moment: /healthz answers while Telegram is still being reached (and /readyz says so).
    await ops.start(bot)
    not_ready_when_stopping = asyncio.create_task(_call_when(stopping, ops.stopping))
    try:
        try:
            if not await wait_for_telegram(bot, stopping):
                return
        except TelegramUnauthorizedError:
            raise TokenRejected("Telegram rejected the token (telegram.token): get a valid one from @BotFather"
                                ) from None
        await dp.emit_startup(bot=bot, dispatcher=dp, bots=[bot], **dp.workflow_data)
        started = True
        await check_prosecutor_chat(bot, settings, pool)
        heap.settle()  # before the first update: garbage collection passes skip what start-up built
        scheduler.start()
        relay_task = asyncio.create_task(relay.run_forever(settings.outbox.sweep_seconds), name="outbox-relay")
        if settings.telegram.mode == "webhook":
            await _serve_webhook(settings, bot, dp, stopping, ops)
        else:
            await _poll(settings, bot, dp, stopping)
    finally:
        if scheduler.running:
            scheduler.shutdown(wait=False)
        if relay_task is not None:
            await relay.stop(relay_task, settings.shutdown_grace_seconds)
        if started:
            await dp.emit_shutdown(bot=bot, dispatcher=dp, bots=[bot], **dp.workflow_data)
        not_ready_when_stopping.cancel()
        if urgency_ready is not None:
            await urgency_ready  # a worker thread cannot be cancelled; it logs its own failure
        await ops.stop()
        await bot.session.close()
        await engine.dispose()
        log.info("MedFeedback stopped")


async def _prepare_urgency() -> None:
    """While Telegram is reached: the classifier ready before the first complaint (see reviews.prepare_urgency).
    A failure here is only logged: the first complaint then tries again and fails or succeeds on its own."""
    began = time.monotonic()
    try:
        await asyncio.to_thread(reviews.prepare_urgency)
        log.info("the urgency classifier is ready (%.1f s)", time.monotonic() - began)
        heap.settle()  # the classifier's word lists and models, too, out of every collection pass
    except Exception:
        log.exception("the urgency classifier could not be prepared at start-up")


async def check_prosecutor_chat(bot: Bot, settings: Settings, pool: async_sessionmaker[AsyncSession]) -> bool:
    """Alerts are kept whatever happens, but a chat the bot cannot post to must be fixed by a person now."""
    chat_id = settings.prosecutor.chat_id
    if chat_id is None:
        log.warning("prosecutor.chat_id is not set: urgent alerts are kept and sent once it is configured")
        return False
    try:
        member = await bot.get_chat_member(chat_id, bot.id)
        if member.status in ("left", "kicked") or getattr(member, "can_post_messages", True) is False or (
                member.status == "restricted" and not getattr(member, "can_send_messages", True)):
            raise PermissionError(f"the bot's status there is {member.status}")
    except (TelegramAPIError, PermissionError) as error:
        log.error("cannot post to the prosecutor chat %s: %s", chat_id, error)
        async with pool() as session, session.begin():
            await notices.cannot_post(Repositories(session), settings.admins, chat_id, str(error), utcnow())
        return False
    return True


async def _poll(settings: Settings, bot: Bot, dp: Dispatcher, stopping: asyncio.Event) -> None:
    while not stopping.is_set():
        try:
            await bot.delete_webhook(drop_pending_updates=False)
            break
        except TelegramUnauthorizedError:
            raise
        except TelegramAPIError as error:
            log.warning("deleteWebhook failed (%s); trying again", error)
            with suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=5)
    poller = Poller(dp, bot, allowed_updates=dp.resolve_used_update_types(),
                    concurrency=settings.telegram.concurrency, grace_seconds=settings.shutdown_grace_seconds)
    stop_when_asked = asyncio.create_task(_call_when(stopping, poller.stop))
    try:
        await poller.run()
    finally:
        stop_when_asked.cancel()


async def _call_when(event: asyncio.Event, action: Callable[[], None]) -> None:
    await event.wait()
    action()


async def _serve_webhook(settings: Settings, bot: Bot, dp: Dispatcher, stopping: asyncio.Event,
                         ops: Operations) -> None:
    hook = settings.telegram.webhook
    secret = hook.secret_token.get_secret_value() if hook.secret_token else None
    app = web.Application()
    endpoint = WebhookEndpoint(dp, bot, secret)
    endpoint.register(app, hook.path)
    ops.mount(app)  # /healthz, /readyz, /metrics beside the webhook, for the load balancer in front
    if settings.web.on_webhook_server:  # the public website on the same server (bot/web)
        from bot.web.server import mount

        await mount(app, settings, bot)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, hook.listen_host, hook.listen_port)
    await site.start()
    log.info("webhook listening on %s:%s%s", hook.listen_host, hook.listen_port, hook.path)
    try:
        while not stopping.is_set():
            try:
                await bot.set_webhook(hook.url, secret_token=secret, allowed_updates=dp.resolve_used_update_types(),
                                      drop_pending_updates=False)
                break
            except TelegramUnauthorizedError:
                raise
            except TelegramAPIError as error:
                log.warning("setWebhook failed (%s); trying again", error)
                with suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), timeout=5)
        await stopping.wait()
        await endpoint.drain(settings.shutdown_grace_seconds)
    finally:
        await runner.cleanup()
        # Requests the server cancelled past its timeout leave their replies to be sent from here (bot/webhook.py).
        await endpoint.drain(grace=5)
