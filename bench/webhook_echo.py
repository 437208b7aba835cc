"""The bare aiogram webhook bot bench/webhook.py compares with: SimpleRequestHandler(handle_in_background=False),
answering /start with a text (as it always has: the baseline of every figure so far), and a press (the bench sends
one on that message) with an answer and an edit, as the bot's language switch does; configured through the same
environment variables as the bot.

With MEDFEEDBACK_BENCH_ECHO_TRANSACTION=1 (`bench/webhook.py --ceiling`) every update first gets the one transaction
the bot gives each update, on the bot's own engine and MEDFEEDBACK_DATABASE__URL, and nothing else of the bot: the
update recorded with the person and their conversation read in the same statement, committed before the handler
answers. Its reply to /start then goes in the webhook answer, as JSON, as the bot's does (`WebhookReply`); a press
makes its two calls itself, as the bot's language switch does. MEDFEEDBACK_BENCH_ECHO_ANSWERS=1 alone
(`bench/webhook.py --echo-answering`) gives the bare echo bot those answers, without the transaction."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.filters import CommandStart
from aiogram.methods import SendMessage
from aiogram.types import CallbackQuery, Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import JsonPayload, web


def main() -> None:
    env = os.environ
    session = AiohttpSession(api=TelegramAPIServer.from_base(env["MEDFEEDBACK_TELEGRAM__API_SERVER"]))
    bot = Bot(env["MEDFEEDBACK_TELEGRAM__TOKEN"], session=session)
    dp = Dispatcher()
    router = Router()
    ceiling = env.get("MEDFEEDBACK_BENCH_ECHO_TRANSACTION") == "1"
    answers = env.get("MEDFEEDBACK_BENCH_ECHO_ANSWERS") == "1"  # the reply in the webhook answer, as the bot's

    @router.message(CommandStart())
    async def start(message: Message) -> SendMessage | None:
        if answers:  # the bot's reply goes as the webhook answer, and so does this one
            return message.answer("Choose a language")
        await message.answer("Choose a language")
        return None

    @router.callback_query()
    async def chosen(query: CallbackQuery) -> None:  # the bot's language switch makes the same two calls itself
        # (its answer has a text, which is never carried in a webhook answer)
        await query.answer("Chosen" if answers else None)  # the goal's echo bot: as it always was
        await query.message.edit_text(f"Chosen: {query.data}")

    dp.include_router(router)
    if ceiling:
        record_every_update(dp, env["MEDFEEDBACK_DATABASE__URL"])
    secret = env["MEDFEEDBACK_TELEGRAM__WEBHOOK__SECRET_TOKEN"]

    async def on_startup(bot: Bot) -> None:
        await bot.set_webhook(env["MEDFEEDBACK_TELEGRAM__WEBHOOK__URL"], secret_token=secret)

    dp.startup.register(on_startup)
    app = web.Application()
    handler = JsonAnswers if answers else SimpleRequestHandler
    handler(dp, bot, secret_token=secret, handle_in_background=False).register(
        app, path=env["MEDFEEDBACK_TELEGRAM__WEBHOOK__PATH"])
    setup_application(app, dp, bot=bot)
    web.run_app(app, host="127.0.0.1", port=int(env["MEDFEEDBACK_TELEGRAM__WEBHOOK__LISTEN_PORT"]), print=None)


class JsonAnswers(SimpleRequestHandler):
    """The ceiling's webhook answer as JSON, as the bot writes its own (bot/webhook.py): aiogram writes a multipart
    form, which cost more than the call it saves, and the ceiling must be the most this stack can reach."""

    def _build_response_writer(self, bot: Bot, result: Any) -> Any:
        from bot.telegram_session import json_fields

        if result is None:
            return JsonPayload({})
        return JsonPayload({"method": result.__api_method__, **json_fields(bot.session, bot, result)})


def one_transaction_per_update(dp: Dispatcher, pool: Any, clock: Callable[[], datetime]) -> None:
    """Before the handler, the one transaction the bot gives each update, and nothing else of the bot: the update
    recorded, the person and their conversation read in the same statement (`UpdateRepo.mark_processed`, as the
    unit of work runs it), committed. Used here and by `bench/flow.py --ceiling`."""
    from storage.repositories.updates import UpdateRepo

    async def one_transaction(handler, update, data):
        person = data["event_from_user"].id
        async with pool() as session, session.begin():
            await UpdateRepo(session).mark_processed(update.update_id, clock(), conversation=f"bench:{person}",
                                                     person=person)
        return await handler(update, data)

    dp.update.outer_middleware(one_transaction)


def record_every_update(dp: Dispatcher, database_url: str) -> None:
    from storage.engine import make_engine, make_session_pool
    from storage.migrate import upgrade

    engine = make_engine(database_url)
    one_transaction_per_update(dp, make_session_pool(engine), lambda: datetime.now(UTC))

    async def migrate() -> None:
        await upgrade(engine)

    async def dispose() -> None:
        await engine.dispose()

    dp.startup.register(migrate)
    dp.shutdown.register(dispose)


if __name__ == "__main__":
    main()
