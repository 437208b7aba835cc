"""Prometheus metrics: updates, latency, retries and sends counted in the process; queue and case figures read
from the database at scrape time (so several instances report the same truth). No label carries personal data:
labels are update types, outcomes, message kinds, results, urgencies and review kinds, nothing else."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramRetryAfter,
)
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiogram.types import TelegramObject, Update
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.ops.logs import current_reference, current_update

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]

# Which outbox kind the message being sent belongs to ("reply" for a handler's own answers).
send_kind: ContextVar[str] = ContextVar("send_kind", default="reply")
SEND_METHODS = frozenset({"sendMessage", "sendPhoto", "sendVideo", "sendVoice", "sendDocument", "sendMediaGroup",
                          "sendAudio", "sendLocation", "sendVenue", "copyMessage", "forwardMessage"})
DATABASE_TIMEOUT = 3.0
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """Every metric of one process, in a registry of its own (tests build as many as they like)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.updates = Counter("medfeedback_updates", "Updates handled, by type and outcome "
                               "(handled, unhandled, unavailable: left unconfirmed to be retried, error)",
                               ["type", "outcome"], registry=r)
        self.latency = Histogram("medfeedback_update_seconds", "Time to handle one update, commit included",
                                 ["type"], buckets=LATENCY_BUCKETS, registry=r)
        self.retries = Counter("medfeedback_infrastructure_retries", "Retries after the database or Telegram "
                               "failed for a reason nobody caused, by where", ["where"], registry=r)
        self.sends = Counter("medfeedback_sends", "Messages sent to Telegram, by outbox kind and result "
                             "(sent, retried, 429, blocked)", ["kind", "result"], registry=r)
        self.outbox_pending = Gauge("medfeedback_outbox_pending", "Outbox messages not sent yet, by status",
                                    ["status"], registry=r)
        self.outbox_oldest = Gauge("medfeedback_outbox_oldest_unsent_seconds",
                                   "Age of the oldest message not sent yet (0 when none)", registry=r)
        self.open_cases = Gauge("medfeedback_open_cases", "Cases not closed or rejected, by urgency", ["urgency"],
                                registry=r)
        self.overdue_cases = Gauge("medfeedback_overdue_cases", "Open cases past their due date", registry=r)
        self.reviews = Gauge("medfeedback_reviews_registered", "Reviews registered since the start, by kind "
                             "(from the database: the same on every instance)", ["kind"], registry=r)
        self.database_up = Gauge("medfeedback_database_up", "1 when the last scrape could read the database",
                                 registry=r)
        self.telegram_last_answer = Gauge("medfeedback_telegram_last_answer_timestamp_seconds",
                                          "Unix time of Telegram's latest answer", registry=r)
        for outcome in ("handled", "unhandled", "unavailable", "error"):
            self.updates.labels("message", outcome)  # present at zero, so a rate() has a start
        for result in ("sent", "retried", "429", "blocked"):
            self.sends.labels("alert", result)

    def retried(self, where: str) -> None:
        self.retries.labels(where).inc()

    async def refresh(self, pool: async_sessionmaker[AsyncSession], now: datetime, zone: Any) -> None:
        """Read the database figures; on failure `medfeedback_database_up` is 0 and the old figures stay."""
        from storage.repositories import OpsRepo

        try:
            # A scrape has its own deadline (Prometheus gives up after 10 s): a database that hangs is "down".
            async with asyncio.timeout(DATABASE_TIMEOUT), pool() as session:
                figures = await OpsRepo(session).figures(now, now.astimezone(zone).date())
        except Exception as error:  # a scrape must answer even while the database is down
            log.warning("metrics: database figures not read (%s)", type(error).__name__)
            self.database_up.set(0)
            return
        self.database_up.set(1)
        for status in ("pending", "blocked"):
            self.outbox_pending.labels(status).set(figures.outbox.get(status, 0))
        oldest = figures.oldest_unsent
        self.outbox_oldest.set(0 if oldest is None else max(0.0, (now - oldest).total_seconds()))
        for urgency in ("critical", "high", "normal"):
            self.open_cases.labels(urgency).set(figures.open_cases.get(urgency, 0))
        self.overdue_cases.set(figures.overdue)
        for kind in ("gratitude", "complaint", "violation"):
            self.reviews.labels(kind).set(figures.reviews.get(kind, 0))

    def render(self) -> bytes:
        return generate_latest(self.registry)


def update_type(update: Update) -> str:
    try:
        return update.event_type
    except Exception:  # a kind of update newer than this aiogram: counted, not crashed on
        return "unknown"


class UpdateObserver(BaseMiddleware):
    """The outermost middleware on `dp.update`: the update's log context, its outcome, and how long it took.

    Outermost so that what it measures includes the unit of work's retries and commit, and so that every log line
    of the update, the unit of work's included, carries the update_id.
    """

    def __init__(self, metrics: Metrics | None = None, clock: Callable[[], float] = time.perf_counter) -> None:
        self.metrics, self.clock = metrics, clock

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        from bot.unit_of_work import InfrastructureUnavailable

        update_token = current_update.set(getattr(event, "update_id", None))
        reference_token = current_reference.set(None)
        kind = update_type(event) if isinstance(event, Update) else "unknown"  # a fixed set: no personal data
        started = self.clock()
        outcome = "error"
        try:
            result = await handler(event, data)
            outcome = "unhandled" if result is UNHANDLED else "handled"
        except InfrastructureUnavailable:
            outcome = "unavailable"
            raise
        finally:
            if self.metrics is not None:
                self.metrics.updates.labels(kind, outcome).inc()
                self.metrics.latency.labels(kind).observe(self.clock() - started)
                if outcome == "unavailable":
                    self.metrics.retried("update")
        # Only on success: after an exception the context stays, so that the errors router (aiogram runs it
        # outside this middleware) and the polling loop's line about the failure still name the update. The
        # next update sets its own.
        current_reference.reset(reference_token)
        current_update.reset(update_token)
        return result


def _result_of(error: BaseException) -> str:
    if isinstance(error, TelegramRetryAfter):
        return "429"
    if isinstance(error, TelegramForbiddenError | TelegramBadRequest | TelegramNotFound):
        return "blocked"
    return "retried"


class TelegramWatch(BaseRequestMiddleware):
    """A Bot session middleware: every answer from Telegram tells `on_answer` it is reachable (an API error is an
    answer too; a network failure is not), and every send is counted by kind and result."""

    def __init__(self, metrics: Metrics | None, on_answer: Callable[[], None] | None = None) -> None:
        self.metrics, self.on_answer = metrics, on_answer

    async def __call__(self, make_request: NextRequestMiddlewareType[TelegramType], bot: Bot,
                       method: TelegramMethod[TelegramType]) -> Response[TelegramType]:
        from aiogram.exceptions import TelegramAPIError, TelegramNetworkError, TelegramServerError

        name = type(method).__name__
        name = name[0].lower() + name[1:]
        try:
            response = await make_request(bot, method)
        except TelegramAPIError as error:
            if not isinstance(error, TelegramNetworkError | TelegramServerError):
                self._answered()
            self._count(name, _result_of(error))
            raise
        except Exception:
            self._count(name, "retried")
            raise
        self._answered()
        self._count(name, "sent")
        return response

    def _answered(self) -> None:
        if self.on_answer is not None:
            self.on_answer()
        if self.metrics is not None:
            self.metrics.telegram_last_answer.set(time.time())

    def _count(self, method: str, result: str) -> None:
        if self.metrics is None:
            return
        if result in ("retried", "429"):  # any call: a getUpdates that failed is polled again, too
            self.metrics.retried("telegram")
        if method in SEND_METHODS:
            self.metrics.sends.labels(send_kind.get(), result).inc()


def instrument_relay(relay: Any) -> None:
    """Label the relay's sends with the outbox row's kind (alert, notice, digest, ...).

    Hook until the relay sets `send_kind` itself: wraps its per-row delivery, which receives the row.
    """
    deliver = relay._deliver

    async def deliver_with_kind(row: Any) -> Any:
        token = send_kind.set(str(row.kind))
        try:
            return await deliver(row)
        finally:
            send_kind.reset(token)

    relay._deliver = deliver_with_kind
