"""The unit of work around one update: the chat's lock, ONE transaction (conversation state included),
replies that state stored facts sent only after the commit, and retries of failures nobody caused.

Order inside, for every update: take the chat's lock → open the transaction → record the update_id (a
redelivery is skipped) and read the conversation state, in one statement → run the handlers → write the
conversation state once if it changed → commit → send what was promised → release the lock. Because the
state is read inside the transaction, the state, the update record and the domain writes commit together
or not at all, on one connection (one `BEGIN IMMEDIATE` on SQLite).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from datetime import datetime
from functools import partial
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.client.session.middlewares.base import NextRequestMiddlewareType
from aiogram.dispatcher.middlewares.user_context import EVENT_CONTEXT_KEY, EVENT_FROM_USER_KEY, EventContext
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.fsm.middleware import FSMContextMiddleware
from aiogram.fsm.storage.base import BaseEventIsolation, StorageKey
from aiogram.methods import AnswerCallbackQuery, TelegramMethod
from aiogram.types import TelegramObject, Update
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.l10n import Translator
from bot.telegram_session import json_fields
from storage.engine import active_session
from storage.fsm import DatabaseStorage
from storage.repositories import Repositories

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
Send = Callable[[], Awaitable[Any]]

# SQLSTATEs that say "try again": connection exceptions (class 08), serialization failure, deadlock,
# lock not available, the server shutting down or starting, too many connections.
_TRANSIENT_SQLSTATES = ("08", "40001", "40P01", "55P03", "57P01", "57P02", "57P03", "53300")


class InfrastructureUnavailable(Exception):
    """The database or Telegram failed for a reason the person did not cause: the update must not be confirmed."""


def is_infrastructure(error: BaseException) -> bool:
    """A failure that says nothing about the update itself, so the same update will succeed once it passes."""
    if isinstance(error, InfrastructureUnavailable | TelegramNetworkError | TelegramServerError | TelegramRetryAfter):
        return True
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated or isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError):
            return True
        state = str(getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None) or "")
        return state.startswith(_TRANSIENT_SQLSTATES)
    if isinstance(error, sa_exc.TimeoutError | sa_exc.DisconnectionError):
        return True  # the pool had no connection to give
    # Raised by the driver while connecting, before SQLAlchemy wraps anything.
    return isinstance(error, ConnectionError | TimeoutError | OSError) and not isinstance(error, FileNotFoundError)


class AfterCommit:
    """What goes out only once the update's transaction has committed, and never when it rolled back: replies that
    state a stored fact ("registered, reference AL-…", "the answer was sent"), queued by the handler, every answer
    to a button press, queued by the session middleware `defer_button_answers`, and screens a handler would rather not
    send inside the transaction (/start's).

    Sent in the order queued. One refused with "too many requests" waits (up to 5 s) and is tried again, and so is one
    that met a network error or Telegram's 5xx (0.5 s, then 1 s later): three tries in all, none begun more than 10 s
    after the first. A send Telegram took but did not answer may so arrive twice, as it did when such a failure
    rolled the whole update back; a receipt shown twice is better than none. Any other failure, or the third, is
    logged: the fact is stored either way (the person finds it in the menu), a button's spinner stops by
    itself, and the update is not tried again for it, so an alert's words can then be lost."""

    # The attempt now running in this context: the session middleware queues button answers into it.
    current: ContextVar[AfterCommit | None] = ContextVar("after_commit", default=None)

    def __init__(self) -> None:
        self._sends: list[tuple[Send, bool]] = []
        self.open = True  # False once the attempt is over: a task it left running sends directly

    def __call__(self, send: Send, *, repeatable: bool = False) -> None:
        """`repeatable`: a screen or a button's answer the person gets again by asking again (/start, the button),
        never a stated fact; only such a reply may go in a webhook answer, which nobody can follow (`WebhookReply`)."""
        self._sends.append((send, repeatable))

    def close(self) -> None:
        self.open = False

    async def flush(self, update_id: int, webhook_reply: WebhookReply | None = None) -> None:
        """Send what was queued, in order. With `webhook_reply` (the update came by webhook), the last one may go as
        the webhook request's answer instead: see `WebhookReply`."""
        self.close()
        sends, self._sends = self._sends, []
        for position, (send, repeatable) in enumerate(sends, start=1):
            last = position == len(sends)
            await send_after_commit(send, update_id, webhook_reply if last and repeatable else None)


class WebhookReply:
    """The one Bot API call the answer to a webhook request may carry ("Making requests when getting updates" in the
    Bot API): the update's last reply after the commit, which then costs the bot no request of its own. A newcomer's
    /start reaches Telegram that way with no call from the bot, and a press whose answer has no text ("I agree")
    with one call fewer.

    Telegram says nothing about how such a call went. So only what may go unseen is taken: a reply queued as
    `repeatable` (never a stated fact such as a receipt), a call with no file, that answers a button press or goes to
    a private chat. In a group chat (the prosecutor's office) Telegram allows 20 messages a minute, and a refusal
    there must be seen and tried again, as `send_after_commit` does. The endpoint sends the call itself when the
    request's client has already gone (bot/webhook.py)."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self.call: TelegramMethod[Any] | None = None
        self.body: dict[str, Any] | None = None  # the answer's JSON: the method's name and its parameters
        self.abandoned = False  # no answer will be written (the request was cancelled): take nothing

    def abandon(self) -> None:
        self.abandoned = True

    def take(self, call: TelegramMethod[Any]) -> bool:
        if self.abandoned:
            return False
        chat = getattr(call, "chat_id", None)
        if not (isinstance(call, AnswerCallbackQuery) or (isinstance(chat, int) and chat > 0)):
            return False
        fields = json_fields(self.bot.session, self.bot, call)
        if fields is None:
            return False  # a file goes as a form; the answer is JSON
        self.call, self.body = call, {"method": call.__api_method__, **fields}
        return True


# A reply after the commit meeting a network error or Telegram's 5xx is tried again after these pauses (the update is
# not: it is stored). Before the reply waited for the commit, such a failure rolled the update back and it was retried
# whole; /start's screen must not be lost to a moment's 502 now that it waits.
AGAIN_AFTER = (0.5, 1.0)
RETRY_AFTER_AT_MOST = 5  # "too many requests, retry after N": waited for when N is at most this many seconds
# No try starts later than this after the first began: a send that timed out (aiogram waits 60 s) is not tried again,
# since the chat's lock, and by webhook Telegram's request, wait for it.
TRYING_AT_MOST = 10.0


async def send_after_commit(send: Send, update_id: int, webhook_reply: WebhookReply | None = None) -> None:
    """One reply after the commit (see `AfterCommit`); with `webhook_reply`, its call may go as the webhook answer."""
    started = time.monotonic()
    for attempt in range(len(AGAIN_AFTER) + 1):
        last = attempt == len(AGAIN_AFTER) or time.monotonic() - started > TRYING_AT_MOST
        try:
            call = send()
            if attempt == 0 and webhook_reply is not None and isinstance(call, TelegramMethod) and \
                    webhook_reply.take(call):
                return
            await call
            return
        except TelegramRetryAfter as error:
            if not last and error.retry_after <= RETRY_AFTER_AT_MOST and \
                    time.monotonic() - started + error.retry_after <= TRYING_AT_MOST:
                await asyncio.sleep(error.retry_after)
                continue
            failure: Exception = error
        except (TelegramNetworkError, TelegramServerError) as error:
            if not last:
                await asyncio.sleep(AGAIN_AFTER[attempt])
                continue
            failure = error
        except Exception as error:
            failure = error
        log.warning("update %s: a reply after the commit could not be sent", update_id, exc_info=failure)
        return


async def defer_button_answers(make_request: NextRequestMiddlewareType[Any], bot: Bot,
                               method: TelegramMethod[Any]) -> Any:
    """The bot session's middleware (bot/factory.py): inside an update's unit of work, an answer to a button press
    joins the replies sent after the commit.

    An answer only stops the spinner or shows an alert, and Telegram's result is always True, so nothing in a handler
    waits for it. On SQLite the transaction holds the one pooled connection: every Bot API round trip made inside it
    is time in which every other person's update waits (bench/webhook.py --api-latency-ms 50, 8 presses at a time:
    9.0 a second when the answer went out inside, 16.7 now). Answers of an attempt that rolled back are dropped with
    it; the retry answers again."""
    promised = AfterCommit.current.get()
    if promised is not None and promised.open and isinstance(method, AnswerCallbackQuery):
        # An answer with no text only stops the spinner: it may go in the webhook answer. One with a text may state a
        # fact ("approved"), which must not go where nobody sees whether it arrived.
        promised(partial(method.as_, bot), repeatable=not method.text)
        return True  # what Telegram answers, and what the session's own request gives back
    return await make_request(bot, method)


class ChatLocks(BaseEventIsolation):
    """One lock per chat, kept only while someone holds or waits for it (aiogram's SimpleEventIsolation keeps a
    lock for every chat it ever saw, which grows with every visitor)."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def lock(self, key: StorageKey) -> AsyncIterator[None]:
        name = f"{key.bot_id}:{key.chat_id}:{key.user_id}:{key.thread_id}:{key.destiny}"
        lock, users = self._locks.get(name) or (asyncio.Lock(), 0)
        self._locks[name] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[name]
            if users == 1:
                del self._locks[name]
            else:
                self._locks[name] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)

    async def close(self) -> None:
        self._locks.clear()


class DelayNotices:
    """Tells a person at most once per outage that their message is waiting (bounded, forgets after `quiet`)."""

    def __init__(self, quiet_seconds: float = 600.0, most: int = 10_000) -> None:
        self.quiet, self.most = quiet_seconds, most
        self._told: OrderedDict[int, float] = OrderedDict()

    def should_tell(self, chat_id: int) -> bool:
        now = time.monotonic()
        while self._told and next(iter(self._told.values())) <= now - self.quiet:
            self._told.popitem(last=False)
        if chat_id in self._told:
            return False
        self._told[chat_id] = now
        while len(self._told) > self.most:
            self._told.popitem(last=False)
        return True


class UnitOfWork(BaseMiddleware):
    """Outer middleware on `dp.update`, registered in place of aiogram's FSM middleware (see the module doc).

    Infrastructure failures are retried here a few times with backoff (a lock timeout, a dropped connection);
    if they persist, `InfrastructureUnavailable` leaves the dispatcher unhandled, so the webhook answers 503 and
    the polling loop keeps the update unconfirmed. Any other exception is tried `bug_tries` times in all and
    then left to the errors router, which apologises: the update is confirmed, so a poisoned update cannot
    stall the queue.
    """

    def __init__(self, pool: async_sessionmaker[AsyncSession], clock: Callable[[], datetime],
                 fsm: FSMContextMiddleware, translator: Translator, *,
                 retry_delays: tuple[float, ...] = (0.2, 0.5, 1.0, 2.0), retry_budget: float = 15.0,
                 bug_tries: int = 2, on_retry: Callable[[BaseException], None] | None = None) -> None:
        self.pool, self.clock, self.fsm, self.translator = pool, clock, fsm, translator
        # An update is retried here for at most `retry_budget` seconds (a SQLite lock timeout alone is 10 s), so
        # that a webhook request is answered well within Telegram's minute; later tries are Telegram's or the loop's.
        self.retry_delays, self.retry_budget, self.bug_tries = retry_delays, retry_budget, bug_tries
        self.on_retry = on_retry  # counts infrastructure retries (bot/ops/metrics.py)
        self.delay_notices = DelayNotices()

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        context = self.fsm.resolve_event_context(data["bot"], data)
        data["fsm_storage"] = self.fsm.storage
        if context is None:
            return await self._with_retries(handler, event, data, None)
        async with self.fsm.events_isolation.lock(key=context.key):
            return await self._with_retries(handler, event, data, context)

    async def _with_retries(self, handler: Handler, event: Update, data: dict[str, Any], context: Any) -> Any:
        infra_failures = bug_failures = 0
        started = time.monotonic()
        while True:
            try:
                return await self._once(handler, event, data, context)
            except Exception as error:
                if is_infrastructure(error):
                    spent = time.monotonic() - started
                    if infra_failures >= len(self.retry_delays) or spent + self.retry_delays[infra_failures] > \
                            self.retry_budget:
                        await self._tell_about_delay(event, data)
                        raise InfrastructureUnavailable(f"update {event.update_id}: {error!r}") from error
                    delay = self.retry_delays[infra_failures]
                    if isinstance(error, TelegramRetryAfter):
                        delay = max(delay, min(float(error.retry_after), 10.0))
                    infra_failures += 1
                    if self.on_retry is not None:
                        self.on_retry(error)
                    log.warning("update %s: %s; try %s in %.1f s", event.update_id, _short(error),
                                infra_failures + 1, delay)
                    await asyncio.sleep(delay)
                    continue
                bug_failures += 1
                if bug_failures >= self.bug_tries:
                    raise
                log.warning("update %s failed (%s); trying once more", event.update_id, _short(error))

    async def _once(self, handler: Handler, event: Update, data: dict[str, Any], context: Any) -> Any:
        now = self.clock()
        promised = AfterCommit()
        token = AfterCommit.current.set(promised)
        try:
            handled, result, outbox_added = await self._transaction(handler, event, data, context, now, promised)
        finally:
            promised.close()  # committed or rolled back, nothing more joins this attempt's sends
            AfterCommit.current.reset(token)
        if not handled:
            return None
        if outbox_added and (relay := data.get("relay")) is not None:
            relay.wake()  # only now, after the commit, can the relay see the new rows
        await promised.flush(event.update_id, data.get("webhook_reply"))
        return result

    async def _transaction(self, handler: Handler, event: Update, data: dict[str, Any], context: Any,
                           now: datetime, promised: AfterCommit) -> tuple[bool, Any, bool]:
        """The update's one transaction: (whether it was handled now rather than before, the handler's result,
        whether it added outbox rows)."""
        async with self.pool() as session:
            async with session.begin():
                repo = Repositories(session)
                # The statement that records the update also reads the person and (with the database storage)
                # their conversation, so neither costs a round trip of its own.
                in_database = context is not None and isinstance(self.fsm.storage, DatabaseStorage)
                conversation = self.fsm.storage.record_key(context.key) if in_database else None
                person = getattr(data.get(EVENT_FROM_USER_KEY), "id", None)
                if not await repo.updates.mark_processed(event.update_id, now, conversation=conversation,
                                                         person=person):
                    log.info("update %s was already handled: skipped", event.update_id)
                    return False, None, False
                token = active_session.set(session)
                try:
                    extra: dict[str, Any] = {"repo": repo, "now": now, "after_commit": promised}
                    if context is not None:
                        extra.update(state=context, raw_state=await context.get_state())
                    result = await handler(event, {**data, **extra})
                    await repo.fsm.write_changes(now)  # at most one write per conversation, in this transaction
                finally:
                    active_session.reset(token)
            return True, result, bool(session.info.get("outbox_added"))

    async def _tell_about_delay(self, event: Update, data: dict[str, Any]) -> None:
        if event.callback_query is not None:
            # The tries' answers went with their transactions (defer_button_answers): stop the spinner at least.
            with contextlib.suppress(Exception):
                await event.callback_query.answer()
        context: EventContext | None = data.get(EVENT_CONTEXT_KEY)
        chat = context.chat if context else None
        if chat is None or chat.type != "private" or not self.delay_notices.should_tell(chat.id):
            return
        person = context.user
        l10n = self.translator[self.translator.pick(getattr(person, "language_code", None))]
        bot: Bot = data["bot"]
        try:
            await bot.send_message(chat.id, l10n("errors.delayed"))
        except Exception:  # Telegram may be what is down: the update is retried either way
            log.info("update %s: could not tell the person about the delay", event.update_id)


def _short(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= 300 else text[:300] + "…"
