"""The bare aiogram webhook bot bench/webhook.py compares with: SimpleRequestHandler(handle_in_background=False),
answering /start with a text (as it always has: the baseline of every figure so far), and a press (the bench sends
one on that message) with an answer and an edit, as the bot's language switch does; configured through the same
environment variables as the bot."""

from __future__ import annotations

import os

from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.filters import CommandStart
from aiogram.types import CallbackQuery, Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web


def main() -> None:
    env = os.environ
    session = AiohttpSession(api=TelegramAPIServer.from_base(env["MEDFEEDBACK_TELEGRAM__API_SERVER"]))
    bot = Bot(env["MEDFEEDBACK_TELEGRAM__TOKEN"], session=session)
    dp = Dispatcher()
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer("Choose a language")

    @router.callback_query()
    async def chosen(query: CallbackQuery) -> None:  # the bot's language switch makes the same two calls
        await query.answer()
        await query.message.edit_text(f"Chosen: {query.data}")

    dp.include_router(router)
    secret = env["MEDFEEDBACK_TELEGRAM__WEBHOOK__SECRET_TOKEN"]

    async def on_startup(bot: Bot) -> None:
        await bot.set_webhook(env["MEDFEEDBACK_TELEGRAM__WEBHOOK__URL"], secret_token=secret)

    dp.startup.register(on_startup)
    app = web.Application()
    SimpleRequestHandler(dp, bot, secret_token=secret, handle_in_background=False).register(
        app, path=env["MEDFEEDBACK_TELEGRAM__WEBHOOK__PATH"])
    setup_application(app, dp, bot=bot)
    web.run_app(app, host="127.0.0.1", port=int(env["MEDFEEDBACK_TELEGRAM__WEBHOOK__LISTEN_PORT"]), print=None)


if __name__ == "__main__":
    main()
