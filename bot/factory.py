"""Builds the Bot and the Dispatcher from Settings (no globals: each test gets fresh ones)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.base import BaseSession
from aiogram.client.session.middlewares.base import NextRequestMiddlewareType
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramBadRequest
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage, DefaultKeyBuilder
from aiogram.methods import AnswerCallbackQuery, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import BotCommand, BotCommandScopeAllPrivateChats
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings, require_token
from bot.l10n import LANGUAGES, Translator
from bot.middlewares import FloodGuard, LanguageMiddleware
from bot.ops.metrics import Metrics, UpdateObserver
from bot.response_models import keep_response_models
from bot.services.directory_index import DirectoryIndex
from bot.services.media import EvidencePrefetch
from bot.telegram_session import JsonBodySession
from bot.unit_of_work import ChatLocks, UnitOfWork, defer_button_answers
from handlers import get_routers
from handlers.side_conversation import EndIdleSideConversation
from storage.fsm import DatabaseStorage

log = logging.getLogger(__name__)

COMMANDS = ("start", "review", "top", "my", "help", "language", "cancel", "mydata", "forget", "consent")


def utcnow() -> datetime:
    return datetime.now(UTC)


def create_bot(settings: Settings, session: BaseSession | None = None) -> Bot:
    keep_response_models()
    if session is None:
        session = JsonBodySession(api=TelegramAPIServer.from_base(settings.telegram.api_server))
    session.middleware(tolerate_repeated_effects)
    session.middleware(defer_button_answers)
    return Bot(
        token=require_token(settings),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )


async def tolerate_repeated_effects(make_request: NextRequestMiddlewareType[TelegramType], bot: Bot,
                                    method: TelegramMethod[TelegramType]) -> Any:
    """An update handled again (after an outage, or delivered again by Telegram) repeats what already took effect:
    it answers a button press Telegram has forgotten, or edits a message into what it already shows. Both only
    stop a spinner or tidy a keyboard, so Telegram refusing them must not fail the update."""
    try:
        return await make_request(bot, method)
    except TelegramBadRequest as error:
        late_answer = isinstance(method, AnswerCallbackQuery) and "query is too old" in error.message
        same_edit = method.__api_method__.startswith("edit") and "message is not modified" in error.message
        if not (late_answer or same_edit):
            raise
        log.info("%s refused as already done (%s); the update goes on", method.__api_method__, error.message[:80])
        return True  # the result, as the session's request gives it back (aiogram's annotation says Response)


def make_fsm_storage(
    settings: Settings, pool: async_sessionmaker[AsyncSession]
) -> tuple[BaseStorage, BaseEventIsolation]:
    if settings.fsm.storage == "database":
        return DatabaseStorage(pool), ChatLocks()
    from aiogram.fsm.storage.redis import RedisEventIsolation, RedisStorage

    storage = RedisStorage.from_url(
        settings.fsm.storage, key_builder=DefaultKeyBuilder(with_bot_id=True, with_destiny=True)
    )
    # Several bot instances behind a webhook share Redis, so they must also share the per-chat lock.
    return storage, RedisEventIsolation(storage.redis, key_builder=storage.key_builder)


def create_dispatcher(
    settings: Settings,
    *,
    session_pool: async_sessionmaker[AsyncSession],
    fsm_storage: BaseStorage | None = None,
    clock: Callable[[], datetime] = utcnow,
    metrics: Metrics | None = None,
) -> Dispatcher:
    if fsm_storage is None:
        fsm_storage, isolation = make_fsm_storage(settings, session_pool)
    else:
        isolation = ChatLocks()
    translator = Translator(default=settings.locale.default)
    # aiogram's FSM middleware would read the conversation state before the update's transaction is open (a
    # second transaction, and a second write lock on SQLite): UnitOfWork does its job inside the transaction.
    dp = Dispatcher(storage=fsm_storage, events_isolation=isolation, disable_fsm=True)
    dp["settings"] = settings
    dp["translator"] = translator
    dp["clock"] = clock
    dp["session_pool"] = session_pool
    # Outermost: every log line of the update carries its update_id, and the latency includes retries and commit.
    dp.update.outer_middleware(UpdateObserver(metrics))
    dp.update.outer_middleware(EvidencePrefetch(Path(settings.media.dir), settings.telegram.max_download_mb))
    # One search index for the conversation and inline mode, built again only when an import bumps the version.
    dp["directory_index"] = DirectoryIndex()
    on_retry = (lambda _error: metrics.retried("unit_of_work")) if metrics is not None else None
    dp.update.outer_middleware(UnitOfWork(session_pool, clock, dp.fsm, translator, on_retry=on_retry))
    dp.update.outer_middleware(LanguageMiddleware(translator))
    dp.update.outer_middleware(FloodGuard(settings.flood.max_updates, settings.flood.window_seconds))
    dp.message.outer_middleware(EndIdleSideConversation())
    dp.include_routers(*get_routers(settings))
    dp.startup.register(register_commands)
    return dp


async def register_commands(bot: Bot, translator: Translator) -> None:
    """The command menu in each language Telegram users may have, and a default for the rest."""
    for language in (*LANGUAGES, None):
        l10n = translator[language]
        commands = [BotCommand(command=name, description=l10n(f"commands.{name}")) for name in COMMANDS]
        await bot.set_my_commands(commands, scope=BotCommandScopeAllPrivateChats(), language_code=language)
