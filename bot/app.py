"""Runs the bot: migrations first, then polling or a webhook server, in modes that do not lose updates."""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import timedelta

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramAPIError
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings, require_token
from bot.factory import create_bot, create_dispatcher, utcnow
from bot.scheduler import make_scheduler
from bot.services import alerts, notices
from bot.services.outbox import Relay
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


async def run(settings: Settings) -> None:
    require_token(settings)
    engine = make_engine(settings.database.url)
    await upgrade(engine)
    pool = make_session_pool(engine)
    bot = create_bot(settings)
    dp = create_dispatcher(settings, session_pool=pool)
    relay = Relay(bot, pool, utcnow, settings.admins, group_alerts=alerts.group_alerts_for(settings),
                  lease=timedelta(seconds=settings.outbox.lease_seconds))
    dp["relay"] = relay
    scheduler = make_scheduler(settings, pool, relay, utcnow)
    background: list[asyncio.Task[None]] = []

    async def on_startup() -> None:
        await check_prosecutor_chat(bot, settings, pool)
        scheduler.start()
        background.append(asyncio.create_task(relay.run_forever(settings.outbox.sweep_seconds), name="outbox-relay"))

    async def on_shutdown() -> None:
        scheduler.shutdown(wait=False)
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)

    dp.startup.register(on_startup)
    dp.shutdown.register(on_shutdown)
    log.info(describe(settings))
    try:
        if settings.telegram.mode == "webhook":
            await _serve_webhook(settings, bot, dp)
        else:
            await _poll(bot, dp)
    finally:
        await bot.session.close()
        await engine.dispose()


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


async def _poll(bot: Bot, dp: Dispatcher) -> None:
    await bot.delete_webhook(drop_pending_updates=False)
    # handle_as_tasks=False: the offset that confirms an update to Telegram is sent only after the
    # update was handled and committed, so a crash mid-update means redelivery, not loss.
    await dp.start_polling(bot, handle_as_tasks=False, allowed_updates=dp.resolve_used_update_types())


async def _serve_webhook(settings: Settings, bot: Bot, dp: Dispatcher) -> None:
    hook = settings.telegram.webhook
    secret = hook.secret_token.get_secret_value() if hook.secret_token else None
    app = web.Application()
    # handle_in_background=False: Telegram gets 200 only after the update is committed; an error
    # answers 500 so Telegram delivers the update again.
    SimpleRequestHandler(dp, bot, secret_token=secret, handle_in_background=False).register(app, path=hook.path)
    setup_application(app, dp, bot=bot)

    async def set_webhook(*_: object, **__: object) -> None:
        await bot.set_webhook(hook.url, secret_token=secret, allowed_updates=dp.resolve_used_update_types(),
                              drop_pending_updates=False)

    dp.startup.register(set_webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, hook.listen_host, hook.listen_port)
    await site.start()
    log.info("webhook listening on %s:%s%s", hook.listen_host, hook.listen_port, hook.path)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
