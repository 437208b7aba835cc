"""The outbox relay: sends due outbox rows in order per chat, paced, with retry bookkeeping kept in the table."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

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
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.l10n import translator
from bot.services import clinic_links
from bot.services.outbox import (
    FIRST_TRY,
    REPEAT_MARK_SENT,
    WORDS_SENT,
    Pacer,
    enqueue,
    shown_card,
    went_this_try,
    words_alone,
)
from bot.telegram_limits import CAPTION_LIMIT, TEXT_LIMIT, telegram_length
from storage.models import OutboxMessage, OutboxStatus
from storage.repositories import _DONE, Repositories

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
MAX_BACKOFF = timedelta(minutes=5)
BLOCKED_RETRY = timedelta(hours=1)
BATCH = 50
# After a pass that failed, the next one waits 0.5 s, then 1, 2, 4, and 5 s while they keep failing (or until a commit
# wakes the relay): a database back within a second loses a second, one down for longer is tried every 5 s (as when
# it cannot even say when the next row is due), and a fault that persists does not fill the log 20 times a second.
FAILED_PASS_PAUSE = (0.5, 5.0)
# A row whose send began this many times and was never recorded as sent (the relay died, or the database failed,
# each time after Telegram may have taken it) is blocked and the admins told, instead of going to the chat again
# every few seconds for as long as whatever stops the record lasts.
UNRECORDED_SENDS_AT_MOST = 3
GROUP_AT_MOST = 25  # alerts listed in one burst message (it must stay within 4096 characters)
ALMATY = ZoneInfo("Asia/Almaty")


def _markup_of(payload: dict[str, Any]) -> InlineKeyboardMarkup | None:
    """The buttons as queued (stored as JSON in the payload), ready to send again."""
    return InlineKeyboardMarkup.model_validate(payload["reply_markup"]) if payload.get("reply_markup") else None


def _file_of(item: dict[str, Any]) -> str | FSInputFile:
    """A media item names a file Telegram has (`file_id`) or one of ours to upload (`path`, e.g. a digest's chart)."""
    return FSInputFile(item["path"]) if item.get("path") else item["file_id"]


class ChatLanguages:
    """The language a chat reads: the office's and the clinics' chats are configured, a person chose theirs."""

    def __init__(self, prosecutor_chat: int | None, prosecutor_language: str, clinic_language: str,
                 default: str) -> None:
        self.prosecutor_chat, self.prosecutor_language = prosecutor_chat, prosecutor_language
        self.clinic_language, self.default = clinic_language, default

    @classmethod
    def from_settings(cls, settings: Settings) -> ChatLanguages:
        return cls(settings.prosecutor.chat_id, settings.prosecutor.language, settings.clinics.language,
                   settings.locale.default)

    async def __call__(self, repo: Repositories, chat_id: int) -> str:
        if chat_id == self.prosecutor_chat:
            return self.prosecutor_language
        if chat_id < 0:
            return self.clinic_language
        person = await repo.users.by_telegram_id(chat_id)
        return (person.language if person else None) or self.default


class Relay:
    """Sends due outbox rows in order per chat, paced, with retry bookkeeping kept in the table.

    Delivery is at least once: a relay that dies after Telegram took a message and before the row was marked sent
    leaves a lease that runs out, and the next claim sends the row again, marked as a possible repeat of the
    message sent at the first attempt's time (in the chat's language), so nobody acts on it twice unknowingly.
    """

    def __init__(self, bot: Bot, pool: async_sessionmaker[AsyncSession], clock: Callable[[], datetime],
                 admins: list[int], pacer: Pacer | None = None,
                 group_alerts: Callable[[list[OutboxMessage]], dict[str, Any]] | None = None,
                 lease: timedelta = LEASE, language_of: ChatLanguages | None = None,
                 zone: ZoneInfo = ALMATY) -> None:
        self.bot, self.pool, self.clock, self.admins, self.lease = bot, pool, clock, admins, lease
        self.pacer = pacer or Pacer()
        self.group_alerts = group_alerts
        self.language_of = language_of or ChatLanguages(None, "ru", "ru", "ru")
        self.zone = zone
        self._wake = asyncio.Event()
        self._pass_lock = asyncio.Lock()
        self._stopping = False
        self.last_pass_at: datetime | None = None  # a heartbeat for health checks
        self.holder = uuid.uuid4().hex  # whose lease a row's is (see OutboxRepo.claim_due)

    def wake(self) -> None:
        self._wake.set()

    async def stop(self, task: asyncio.Task[None], grace: float) -> None:
        """Let the pass in progress finish its current send (at most `grace` seconds), then end `run_forever`."""
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=grace)
        except TimeoutError:
            log.warning("outbox relay still busy after %s s: stopped; its lease makes the next start resend", grace)
            task.cancel()
        except Exception:  # already logged by the pass
            pass
        if not task.done():
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def run_forever(self, idle: float = 30.0) -> None:
        """Woken after each commit that queued something; otherwise every `idle` seconds (and by the sweep)."""
        failures = 0
        while not self._stopping:
            try:
                await self.run_once()
                failures = 0
            except Exception:  # the relay must outlive any one bad pass (the database may be down for a while)
                failures += 1
                log.exception("outbox pass failed")
            if self._stopping:
                break
            # Cleared before the next due time is read: a commit or a stop while it is read still wakes the wait.
            self._wake.clear()
            if failures:
                # Not at once: the rows of the failed pass are due again at once (see OutboxRepo.claim_due). A
                # commit's wake ends the pause: the database is back.
                first, most = FAILED_PASS_PAUSE
                seconds = min(first * 2 ** (failures - 1), most)
            else:
                seconds = await self._seconds_to_next(idle)
            await self._wait(seconds)

    async def _wait(self, seconds: float) -> None:
        """Until woken (by a commit that queued something, or by stop), at most `seconds`."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)

    async def run_once(self) -> int:
        """One pass over due rows; returns how many were sent. Concurrent calls run one after another."""
        async with self._pass_lock:
            now = self.clock()
            self.last_pass_at = now
            async with self.pool() as session, session.begin():
                rows = await Repositories(session).outbox.claim_due(now, now + self.lease, BATCH, self.holder)
            sent = 0
            by_chat: dict[int, list[OutboxMessage]] = defaultdict(list)
            for row in rows:
                by_chat[row.chat_id].append(row)
            for chat_id, chat_rows in by_chat.items():
                if self._stopping:  # shutting down: what is not started yet waits for the next start
                    await self._release(chat_rows)
                    continue
                sent += await self._send_chat(chat_id, chat_rows)
            return sent

    async def _send_chat(self, chat_id: int, rows: list[OutboxMessage]) -> int:
        rows = await self._maybe_group(chat_id, rows)
        sent = 0
        for index, row in enumerate(rows):
            now = self.clock()
            async with self.pool() as session:
                slot = await self.pacer.next_slot(Repositories(session), chat_id, row.weight or 1, now)
            if slot > now or (self._stopping and index):
                # Not now: this row and every later one for the chat wait for the next free slot, in order.
                await self._postpone(rows[index:], slot, chat_id)
                break
            outcome = await self._attempt(row, renew=[later.id for later in rows[index + 1:]])
            if outcome == "already done":  # sent meanwhile by a relay that had stalled, or deleted: the next one
                continue
            if outcome == "taken over":  # the other relay sends the chat now; rows this pass claimed and it did not
                await self._release(rows[index:])  # (its claim was cut short) are free for the next claim
                break
            if outcome != "sent":
                await self._release(rows[index + 1:])
                break
            sent += 1
        return sent

    async def _maybe_group(self, chat_id: int, rows: list[OutboxMessage]) -> list[OutboxMessage]:
        """In a burst, several alerts for one chat go out as one message instead of waiting their turn.

        The grouping is stored before the send, so that a relay that dies mid-send is followed by the same list
        (marked as a possible repeat), not by the alerts one by one.
        """
        # Not a row whose earlier send may still be in flight (its relay stalled): it may yet be recorded as sent
        # on its own, which would leave the others grouped into a list that never goes out.
        alerts = [row for row in rows if row.kind == "alert" and not (row.payload or {}).get("grouped")
                  and not (row.payload or {}).get("possible_repeat_of")]
        alerts = alerts[:GROUP_AT_MOST]
        if self.group_alerts is None or len(alerts) < 2:
            return rows
        async with self.pool() as session:
            free = await self.pacer.free_now(Repositories(session), chat_id, self.clock())
        if len(alerts) <= free:
            return rows
        async with self.pool() as session, session.begin():
            repo = Repositories(session)
            # The chat's lease may have run out while this pass sent to other chats, and another relay taken it:
            # its rows are not this relay's to group (the first send then finds the chat taken over).
            if await repo.outbox.still_held([row.id for row in alerts], self.holder) != {row.id for row in alerts}:
                return rows
            try:
                combined = self.group_alerts(alerts)
            except Exception:  # a bug in the list must not keep the alerts from going out one by one
                log.exception("outbox: the burst list for chat %s could not be built; the alerts go one by one",
                              chat_id)
                return rows
            first = alerts[0]
            first.payload = {**combined, "grouped": [row.id for row in alerts]}
            first.weight = 1
            for row in alerts:
                if (stored := await repo.outbox.get(row.id)) is None:
                    continue
                if row is first:
                    stored.payload, stored.weight = first.payload, 1
                else:
                    stored.status, stored.weight, stored.lease_until = OutboxStatus.GROUPED, 0, None
                    stored.payload = {**stored.payload, "grouped_into": first.id}
        return [row for row in rows if row not in alerts or row is first]

    async def _attempt(self, row: OutboxMessage, renew: list[int]) -> str:
        """Send one row; `renew`: the chat's later rows in this pass, whose lease is renewed with this row's."""
        now = self.clock()
        async with self.pool() as session, session.begin():
            start = await Repositories(session).outbox.begin_attempt(row.id, now, holder=self.holder,
                                                                     lease_until=now + self.lease, renew=renew)
        if start == "done":
            return "already done"
        if start == "taken":
            # This relay stopped for longer than its lease (a hung send, a paused process) and another relay
            # claimed the chat: sending on would send its rows twice and break the chat's pace.
            log.warning("outbox row %s (%s): taken over by another relay; this one stops sending to the chat",
                        row.id, row.kind)
            return "taken over"
        if (row.payload or {}).get("unrecorded_sends", 0) >= UNRECORDED_SENDS_AT_MOST:
            await self._record(row, next_attempt=self.clock() + BLOCKED_RETRY, blocked=True,
                               error=f"sent {UNRECORDED_SENDS_AT_MOST} times, never recorded as sent: not sent again")
            return "blocked"
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
        except sa_exc.SQLAlchemyError:
            raise  # the database, not the row: the pass fails, and the next one takes the row up again
        except Exception as error:
            # A row that cannot be sent as stored (a payload an older version wrote, a bug): blocked like a bad
            # request, the admins told. Left to fail the pass, it would fail every pass after it, and every chat
            # queued behind it would wait for ever.
            log.exception("outbox row %s (%s) cannot be sent", row.id, row.kind)
            await self._record(row, next_attempt=self.clock() + BLOCKED_RETRY, error=f"{type(error).__name__}: {error}",
                               blocked=True)
            return "blocked"
        await self._mark_sent(row, message)
        return "sent"

    async def _deliver(self, row: OutboxMessage) -> Message | int | None:
        payload = row.payload
        if payload.get("edit_card_of") is not None:  # an edit repeated is harmless: never marked as a repeat
            return await self._edit_card(row)
        mark_alone = None
        if payload.get("possible_repeat_of"):
            payload, mark_alone = await self._marked_as_repeat(row)
        markup = _markup_of(payload)
        reply = None
        if payload.get("reply_to_message_id"):
            # The card may have been deleted meanwhile: the message still goes out, just not as a reply.
            reply = ReplyParameters(message_id=payload["reply_to_message_id"], allow_sending_without_reply=True)
        if mark_alone is not None:
            await self.bot.send_message(row.chat_id, mark_alone, reply_parameters=reply)
            # Recorded at once: a send of the message that fails after it (a 429, a timeout, a 5xx) is retried
            # without it, or the chat would read the mark again before each retry. Counted in the pace with the
            # row (its weight, kept with the record); the slot was reserved for one message less, and a rare repeat
            # of a full message may meet a 429, and then waits and goes again, its mark not again.
            row.weight = (row.weight or 1) + 1
            await self._went_alone(row, REPEAT_MARK_SENT, weight=True)
        media = [dict(item) for item in payload.get("media") or []]
        if words_alone(media):
            words = media[0].pop("caption")
            # Recorded like the mark: a retry of the file alone (its send failed after the words went) does not
            # give the chat the words again. Counted in the row's weight when it was queued (weight_of).
            if not went_this_try(row.payload, WORDS_SENT):
                await self.bot.send_message(row.chat_id, words, reply_parameters=reply)
                await self._went_alone(row, WORDS_SENT)
        if not media:
            return await self.bot.send_message(row.chat_id, payload["text"], reply_markup=markup,
                                               reply_parameters=reply)
        if len(media) == 1:
            item = media[0]
            if item["kind"] == "video_note":  # a round video message takes no caption: its words went first
                return await self.bot.send_video_note(row.chat_id, _file_of(item), reply_markup=markup,
                                                      reply_parameters=reply)
            send = {"photo": self.bot.send_photo, "video": self.bot.send_video, "voice": self.bot.send_voice,
                    "document": self.bot.send_document, "audio": self.bot.send_audio,
                    "animation": self.bot.send_animation}[item["kind"]]
            return await send(row.chat_id, _file_of(item), caption=item.get("caption"), reply_markup=markup,
                              reply_parameters=reply)
        kinds = {"photo": InputMediaPhoto, "video": InputMediaVideo, "document": InputMediaDocument}
        group = [kinds[item["kind"]](media=_file_of(item), caption=item.get("caption")) for item in media]
        messages = await self.bot.send_media_group(row.chat_id, group, reply_parameters=reply)
        return messages[0]

    async def _edit_card(self, row: OutboxMessage) -> int | None:
        """A case's card already in the chat shows what changed (queued with `edit_card`). The card is looked up
        now, not when the edit was queued: rows of a chat go out in order, so a card queued before is sent first.
        No card in the chat (never sent, or still the burst list it went out in): nothing to edit."""
        payload = row.payload
        async with self.pool() as session:
            card = await Repositories(session).outbox.card_of(payload["edit_card_of"], row.chat_id,
                                                              payload.get("edit_card_kind", "alert"))
            message_id = shown_card(card)
        if message_id is None:
            return None
        markup = _markup_of(payload)
        try:
            await self.bot.edit_message_text(payload["text"], chat_id=row.chat_id, message_id=message_id,
                                             reply_markup=markup)
        except TelegramBadRequest as error:  # deleted, too old, or already showing it: not worth failing for
            log.info("card %s in chat %s not edited: %s", message_id, row.chat_id, error.message[:80])
        return message_id

    async def _went_alone(self, row: OutboxMessage, key: str, *, weight: bool = False) -> None:
        """A part of the row (the repeat's mark, or the words its file cannot carry) went as a message of its own for
        this try: not to be sent again for it (a later unrecorded send names another first try, and sends it again,
        marked). `weight`: the row's weight grew with it, and is kept too."""
        this_try = row.payload.get("possible_repeat_of") or FIRST_TRY
        row.payload = {**row.payload, key: this_try}
        async with self.pool() as session, session.begin():
            stored = await Repositories(session).outbox.get(row.id)
            if stored is None or stored.lease_holder != self.holder:  # removed, or another relay's row now
                return
            stored.payload = {**stored.payload, key: this_try}
            if weight:
                stored.weight = row.weight

    async def _marked_as_repeat(self, row: OutboxMessage) -> tuple[dict[str, Any], str | None]:
        """The payload with "possible repeat of a message sent at HH:MM" on top, in the chat's language; or, when the
        message is too long to carry the mark too, the payload as it is and the mark to send just before it (None
        once that mark went: see _went_alone). Words that go on their own before their file (words_alone) carry
        the mark within a message's limit, not a caption's.

        Never cut to make room: a part of a long text (the resident's answer, split to fill whole messages) would
        lose its last words, which nobody would ever see."""
        payload = dict(row.payload)
        first_try = datetime.fromisoformat(payload["possible_repeat_of"]).astimezone(self.zone)
        mark_sent = went_this_try(payload, REPEAT_MARK_SENT)
        async with self.pool() as session:
            language = await self.language_of(Repositories(session), row.chat_id)
        mark = translator()[language]("outbox.possible_repeat", time=first_try.strftime("%H:%M"),
                                      date=first_try.strftime("%d.%m.%Y"))
        media = [dict(item) for item in payload.get("media") or []]
        if media:
            caption = media[0].get("caption")
            marked = f"{mark}\n\n{caption}" if caption else mark
            if telegram_length(marked) > (TEXT_LIMIT if words_alone(media) else CAPTION_LIMIT):
                return payload, None if mark_sent else mark
            media[0]["caption"] = marked
            payload["media"] = media
        else:
            marked = f"{mark}\n\n{payload.get('text') or ''}".rstrip()
            if telegram_length(marked) > TEXT_LIMIT:
                return payload, None if mark_sent else mark
            payload["text"] = marked
        return payload, None

    async def _mark_sent(self, row: OutboxMessage, message: Message | int | None) -> None:
        now = self.clock()
        message_id = message.message_id if isinstance(message, Message) else message
        grouped = (row.payload or {}).get("grouped") or [row.id]
        async with self.pool() as session, session.begin():
            for row_id in grouped:
                stored = await Repositories(session).outbox.get(row_id)
                if stored is None:  # removed meanwhile (a person asked to be forgotten)
                    continue
                stored.status, stored.sent_message_id, stored.sent_at = OutboxStatus.SENT, message_id, now
                stored.last_error = None
                # A send that hung past the lease got through after all: it is recorded, but a relay that took the
                # row over keeps its lease, and so the chat, until its own resend is recorded.
                if stored.lease_holder == self.holder:
                    stored.lease_until = None
                if len(grouped) > 1:  # the message is a burst list, not this card (see shown_card)
                    stored.payload = {**stored.payload, "list_message_id": message_id}
                if row_id != row.id:
                    stored.payload = {**stored.payload, "grouped_into": row.id}
                else:
                    stored.attempts += 1
                    stored.weight = row.weight  # one more when a repeat's mark went as a message of its own

    async def _record(self, row: OutboxMessage, *, next_attempt: datetime, error: str, count: bool = True,
                      blocked: bool = False, hold_chat: bool = False, new_chat: int | None = None) -> None:
        # A private chat's id is a resident's Telegram id: logs name group chats only.
        where = row.chat_id if row.chat_id < 0 else "a person"
        log.warning("outbox row %s (%s to %s) not sent: %s", row.id, row.kind, where, error)
        async with self.pool() as session, session.begin():
            repo = Repositories(session)
            stored = await repo.outbox.get(row.id)
            if stored is None:  # removed meanwhile (a person asked to be forgotten)
                return
            if stored.status in _DONE:
                # A relay that had stalled got the message through meanwhile: this failure changes nothing.
                if stored.lease_holder == self.holder:
                    stored.lease_until = None
                return
            if stored.lease_holder != self.holder:
                # The send hung past the lease and another relay took the row over (it sends it again, marked):
                # the row's bookkeeping and lease are that relay's now.
                return
            stored.attempts += 1 if count else 0
            stored.next_attempt_at, stored.lease_until, stored.last_error = next_attempt, None, error[:1000]
            if new_chat is not None:
                stored.chat_id = new_chat
                await clinic_links.chat_moved(repo, row.chat_id, new_chat, self.clock())  # a clinic's group
                from bot.services import notices  # the wording lives with the other notices

                await notices.chat_migrated(repo, self.admins, row.chat_id, new_chat, self.clock())
            if blocked and stored.status != OutboxStatus.BLOCKED:
                stored.status = OutboxStatus.BLOCKED
                if row.kind != "admin":
                    await self._tell_admins(repo, stored, error)
                if notice := (stored.payload or {}).get("undelivered_notice"):
                    # Whoever counted on this message arriving (the office, for a post it forwarded) hears it did
                    # not, once: the row is tried again every BLOCKED_RETRY, blocked already.
                    await enqueue(repo, chat_id=notice["chat_id"], kind="undelivered", now=self.clock(),
                                  text=notice["text"], review_id=stored.review_id,
                                  reply_to_message_id=notice.get("reply_to_message_id"),
                                  dedupe_key=f"undelivered:{stored.id}")
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
            await repo.outbox.release([row.id for row in rows], self.holder)

    async def _release(self, rows: list[OutboxMessage]) -> None:
        if not rows:
            return
        async with self.pool() as session, session.begin():
            await Repositories(session).outbox.release([row.id for row in rows], self.holder)

    async def _seconds_to_next(self, idle: float) -> float:
        try:
            async with self.pool() as session:
                upcoming = await Repositories(session).outbox.next_attempt(self.clock(), self.holder)
        except Exception:  # the database is down: try again after a short while
            log.warning("outbox: cannot read the next due time; retrying in 5 s", exc_info=True)
            return min(idle, 5.0)
        if upcoming is None:
            return idle
        return min(idle, max(0.05, (upcoming - self.clock()).total_seconds()))
