"""The transactional outbox: messages queued in the business transaction, sent by one relay, never lost."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict, deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import (
    FSInputFile,
    InlineKeyboardMarkup,
    InputMediaDocument,
    InputMediaPhoto,
    InputMediaVideo,
    Message,
    ReplyParameters,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import OutboxMessage, OutboxStatus
from storage.repositories import Repositories

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
MAX_BACKOFF = timedelta(minutes=5)
BLOCKED_RETRY = timedelta(hours=1)
BATCH = 50
GROUP_AT_MOST = 25  # alerts listed in one burst message (it must stay within 4096 characters)


async def enqueue(repo: Repositories, *, chat_id: int, kind: str, dedupe_key: str, now: datetime,
                  text: str | None = None, reply_markup: InlineKeyboardMarkup | None = None,
                  media: list[dict[str, Any]] | None = None, review_id: int | None = None,
                  **extra: Any) -> bool:
    """Queue one message in the caller's transaction; the same dedupe key is queued only once."""
    payload: dict[str, Any] = {"text": text, **extra}
    if reply_markup is not None:
        payload["reply_markup"] = reply_markup.model_dump(mode="json", exclude_none=True)
    if media:
        payload["media"] = media
    return await repo.outbox.add(OutboxMessage(
        dedupe_key=dedupe_key, chat_id=chat_id, kind=kind, payload=payload, review_id=review_id,
        status=OutboxStatus.PENDING, attempts=0, next_attempt_at=now, created_at=now))


def _file_of(item: dict[str, Any]) -> str | FSInputFile:
    """A media item names a file Telegram has (`file_id`) or one of ours to upload (`path`, e.g. a digest's chart)."""
    return FSInputFile(item["path"]) if item.get("path") else item["file_id"]


class Pacer:
    """Telegram's limits: 20 messages a minute to a group or channel, 1 a second to a person, 30 a second in all."""

    def __init__(self, group_per_minute: int = 20, overall_per_second: int = 30) -> None:
        self.group_per_minute = group_per_minute
        self.overall_per_second = overall_per_second
        self._by_chat: defaultdict[int, deque[datetime]] = defaultdict(deque)
        self._overall: deque[datetime] = deque()

    def next_slot(self, chat_id: int, now: datetime) -> datetime:
        """The earliest moment a message to this chat keeps within every limit."""
        window, limit = (timedelta(minutes=1), self.group_per_minute) if chat_id < 0 else (timedelta(seconds=1), 1)
        moments = [now]
        sent = self._trim(self._by_chat[chat_id], now - window)
        if len(sent) >= limit:
            moments.append(sent[-limit] + window)
        overall = self._trim(self._overall, now - timedelta(seconds=1))
        if len(overall) >= self.overall_per_second:
            moments.append(overall[-self.overall_per_second] + timedelta(seconds=1))
        return max(moments)

    def free_now(self, chat_id: int, now: datetime) -> int:
        """How many messages this chat may still receive at once."""
        window, limit = (timedelta(minutes=1), self.group_per_minute) if chat_id < 0 else (timedelta(seconds=1), 1)
        return max(0, limit - len(self._trim(self._by_chat[chat_id], now - window)))

    def record(self, chat_id: int, now: datetime) -> None:
        self._by_chat[chat_id].append(now)
        self._overall.append(now)

    @staticmethod
    def _trim(moments: deque[datetime], since: datetime) -> deque[datetime]:
        while moments and moments[0] <= since:
            moments.popleft()
        return moments


class Relay:
    """Sends due outbox rows in order per chat, paced, with retry bookkeeping kept in the table."""

    def __init__(self, bot: Bot, pool: async_sessionmaker[AsyncSession], clock: Callable[[], datetime],
                 admins: list[int], pacer: Pacer | None = None,
                 group_alerts: Callable[[list[OutboxMessage]], dict[str, Any]] | None = None,
                 lease: timedelta = LEASE) -> None:
        self.bot, self.pool, self.clock, self.admins, self.lease = bot, pool, clock, admins, lease
        self.pacer = pacer or Pacer()
        self.group_alerts = group_alerts
        self._wake = asyncio.Event()
        self._pass_lock = asyncio.Lock()

    def wake(self) -> None:
        self._wake.set()

    async def run_forever(self, idle: float = 30.0) -> None:
        """Woken after each commit that queued something; otherwise every `idle` seconds (and by the sweep)."""
        while True:
            try:
                await self.run_once()
            except Exception:  # the relay must outlive any one bad pass
                log.exception("outbox pass failed")
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=await self._seconds_to_next(idle))
            except TimeoutError:
                pass

    async def run_once(self) -> int:
        """One pass over due rows; returns how many were sent. Concurrent calls run one after another."""
        async with self._pass_lock:
            now = self.clock()
            async with self.pool() as session, session.begin():
                rows = await Repositories(session).outbox.claim_due(now, now + self.lease, BATCH)
            sent = 0
            by_chat: dict[int, list[OutboxMessage]] = defaultdict(list)
            for row in rows:
                by_chat[row.chat_id].append(row)
            for chat_id, chat_rows in by_chat.items():
                sent += await self._send_chat(chat_id, chat_rows)
            return sent

    async def _send_chat(self, chat_id: int, rows: list[OutboxMessage]) -> int:
        rows = await self._maybe_group(chat_id, rows)
        sent = 0
        for index, row in enumerate(rows):
            now = self.clock()
            slot = self.pacer.next_slot(chat_id, now)
            if slot > now:
                # Not now: this row and every later one for the chat wait for the next free slot, in order.
                await self._postpone(rows[index:], slot, chat_id)
                break
            self.pacer.record(chat_id, now)
            outcome = await self._attempt(row)
            if outcome != "sent":
                await self._release(rows[index + 1:])
                break
            sent += 1
        return sent

    async def _maybe_group(self, chat_id: int, rows: list[OutboxMessage]) -> list[OutboxMessage]:
        """In a burst, several alerts for one chat go out as one message instead of waiting their turn."""
        alerts = [row for row in rows if row.kind == "alert"][:GROUP_AT_MOST]
        if self.group_alerts is None or len(alerts) < 2 or len(alerts) <= self.pacer.free_now(chat_id, self.clock()):
            return rows
        combined = self.group_alerts(alerts)
        first = alerts[0]
        first.payload = {**combined, "grouped": [row.id for row in alerts]}
        return [row for row in rows if row not in alerts or row is first]

    async def _attempt(self, row: OutboxMessage) -> str:
        try:
            message = await self._deliver(row)
        except TelegramRetryAfter as error:
            # Telegram says exactly when: no attempt is counted, and the whole chat waits.
            until = self.clock() + timedelta(seconds=error.retry_after)
            await self._record(row, next_attempt=until, error=f"429 retry after {error.retry_after}s",
                               count=False, hold_chat=True)
            return "later"
        except TelegramMigrateToChat as error:
            await self._record(row, next_attempt=self.clock(), error="chat migrated", count=False,
                               new_chat=error.migrate_to_chat_id)
            return "later"
        # A file of ours that is gone (a chart deleted by hand) will not come back: blocked, like a bad request.
        except (TelegramForbiddenError, TelegramBadRequest, TelegramNotFound, FileNotFoundError) as error:
            await self._record(row, next_attempt=self.clock() + BLOCKED_RETRY, error=str(error), blocked=True)
            return "blocked"
        except (TelegramNetworkError, TelegramServerError, TelegramAPIError, OSError, TimeoutError) as error:
            delay = min(timedelta(seconds=2 ** min(row.attempts + 1, 16)), MAX_BACKOFF)
            await self._record(row, next_attempt=self.clock() + delay, error=f"{type(error).__name__}: {error}",
                               hold_chat=True)
            return "later"
        await self._mark_sent(row, message)
        return "sent"

    async def _deliver(self, row: OutboxMessage) -> Message:
        payload = row.payload
        markup = InlineKeyboardMarkup.model_validate(payload["reply_markup"]) if payload.get("reply_markup") else None
        reply = None
        if payload.get("reply_to_message_id"):
            # The card may have been deleted meanwhile: the message still goes out, just not as a reply.
            reply = ReplyParameters(message_id=payload["reply_to_message_id"], allow_sending_without_reply=True)
        media = payload.get("media") or []
        if not media:
            return await self.bot.send_message(row.chat_id, payload["text"], reply_markup=markup,
                                               reply_parameters=reply)
        if len(media) == 1:
            item = media[0]
            send = {"photo": self.bot.send_photo, "video": self.bot.send_video, "voice": self.bot.send_voice,
                    "document": self.bot.send_document}[item["kind"]]
            return await send(row.chat_id, _file_of(item), caption=item.get("caption"), reply_markup=markup,
                              reply_parameters=reply)
        kinds = {"photo": InputMediaPhoto, "video": InputMediaVideo, "document": InputMediaDocument}
        group = [kinds[item["kind"]](media=_file_of(item), caption=item.get("caption")) for item in media]
        messages = await self.bot.send_media_group(row.chat_id, group, reply_parameters=reply)
        return messages[0]

    async def _mark_sent(self, row: OutboxMessage, message: Message) -> None:
        now = self.clock()
        grouped = (row.payload or {}).get("grouped") or [row.id]
        async with self.pool() as session, session.begin():
            for row_id in grouped:
                stored = await Repositories(session).outbox.get(row_id)
                if stored is None:  # removed meanwhile (a person asked to be forgotten)
                    continue
                stored.status, stored.sent_message_id, stored.sent_at = OutboxStatus.SENT, message.message_id, now
                stored.lease_until, stored.last_error = None, None
                if row_id != row.id:
                    stored.payload = {**stored.payload, "grouped_into": row.id}
                else:
                    stored.attempts += 1

    async def _record(self, row: OutboxMessage, *, next_attempt: datetime, error: str, count: bool = True,
                      blocked: bool = False, hold_chat: bool = False, new_chat: int | None = None) -> None:
        log.warning("outbox row %s (%s to %s) not sent: %s", row.id, row.kind, row.chat_id, error)
        async with self.pool() as session, session.begin():
            repo = Repositories(session)
            stored = await repo.outbox.get(row.id)
            if stored is None:  # removed meanwhile (a person asked to be forgotten)
                return
            stored.attempts += 1 if count else 0
            stored.next_attempt_at, stored.lease_until, stored.last_error = next_attempt, None, error[:1000]
            if new_chat is not None:
                stored.chat_id = new_chat
            if blocked and stored.status != OutboxStatus.BLOCKED:
                stored.status = OutboxStatus.BLOCKED
                if row.kind != "admin":
                    await self._tell_admins(repo, stored, error)
            if hold_chat:
                await repo.outbox.postpone_chat(row.chat_id, next_attempt)

    async def _tell_admins(self, repo: Repositories, row: OutboxMessage, error: str) -> None:
        from bot.services import notices  # the wording lives with the other notices

        for admin in self.admins:
            await notices.blocked_delivery(repo, admin, row, error, self.clock())

    async def _postpone(self, rows: list[OutboxMessage], until: datetime, chat_id: int) -> None:
        async with self.pool() as session, session.begin():
            repo = Repositories(session)
            await repo.outbox.postpone_chat(chat_id, until)
            for row in rows:
                if (stored := await repo.outbox.get(row.id)) is not None:
                    stored.lease_until = None

    async def _release(self, rows: list[OutboxMessage]) -> None:
        if not rows:
            return
        async with self.pool() as session, session.begin():
            repo = Repositories(session)
            for row in rows:
                if (stored := await repo.outbox.get(row.id)) is not None:
                    stored.lease_until = None

    async def _seconds_to_next(self, idle: float) -> float:
        async with self.pool() as session:
            upcoming = await Repositories(session).outbox.next_attempt()
        if upcoming is None:
            return idle
        return min(idle, max(0.05, (upcoming - self.clock()).total_seconds()))
