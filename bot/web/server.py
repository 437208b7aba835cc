"""`medfeedback web`: the public website alone, on a read-only database engine, until SIGINT or SIGTERM; and
`mount`, the same site on another aiohttp application (the webhook server's)."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import TYPE_CHECKING

from aiohttp import web

from bot.config import ConfigError, Settings
from bot.web.site import Site, add_web_routes, make_web_app
from storage.engine import make_engine, make_read_engine, make_session_pool
from storage.migrate import upgrade

if TYPE_CHECKING:
    from aiogram import Bot

log = logging.getLogger("medfeedback.web")


async def bot_username(settings: Settings, bot: Bot | None = None) -> str:
    """web.bot_username, or the bot's username as Telegram reports it (one getMe at start-up)."""
    if settings.web.bot_username:
        return settings.web.bot_username
    if bot is not None:
        return (await bot.me()).username
    if settings.telegram.token is None:
        raise ConfigError("setting web.bot_username is required without telegram.token: set it in the config file "
                          "([web] bot_username = \"...\") or with MEDFEEDBACK_WEB__BOT_USERNAME")
    from bot.factory import create_bot

    bot = create_bot(settings)
    try:
        return (await bot.me()).username
    finally:
        await bot.session.close()


async def serve(settings: Settings) -> None:
    username = await bot_username(settings)
    writer = make_engine(settings.database.url)
    try:
        await upgrade(writer)  # as every command does: the pages read the current schema
    finally:
        await writer.dispose()
    engine = make_read_engine(settings.database.url)
    runner = web.AppRunner(make_web_app(settings, make_session_pool(engine), username), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.web.listen_host, settings.web.listen_port)
        await site.start()
        log.info("website listening on http://%s:%s/ (links to @%s)", settings.web.listen_host,
                 settings.web.listen_port, username)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()
        await engine.dispose()


async def mount(app: web.Application, settings: Settings, bot: Bot | None = None) -> Site:
    """The website on `app` (the webhook server's), with a read-only engine of its own that closes with `app`."""
    username = await bot_username(settings, bot)
    engine = make_read_engine(settings.database.url)

    async def dispose(_: web.Application) -> None:
        await engine.dispose()

    app.on_cleanup.append(dispose)
    return add_web_routes(app, settings, make_session_pool(engine), username)
