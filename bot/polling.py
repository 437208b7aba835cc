"""Long polling that confirms an update to Telegram only once it was handled, chats handled side by side.

aiogram's `start_polling` moves Telegram's offset past an update as soon as it is read, and its handler
errors are swallowed, so an update whose transaction failed (the database down for a minute) is confirmed
and lost. Here the offset sent to Telegram is always the first update not yet handled: everything before it
is done. Updates of different chats run concurrently (bounded); one chat's updates run in order.

A limit of the Bot API shapes the loop: getUpdates cannot hand out later updates without confirming the
earlier ones, and it answers at once while unconfirmed updates exist. So while an update is in flight the
loop asks again every `busy_poll` seconds (new updates of other chats wait at most that long), and long-polls
only when nothing is in flight.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Hashable

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramUnauthorizedError
from aiogram.methods import GetUpdates
from aiogram.types import Update

from bot.unit_of_work import InfrastructureUnavailable

log = logging.getLogger(__name__)


def chat_key(update: Update) -> Hashable:
    """Updates with the same key are handled in the order Telegram sent them."""
    event = update.event
    chat = getattr(event, "chat", None) or getattr(getattr(event, "message", None), "chat", None)
    if chat is not None:
        return ("chat", chat.id)
    person = getattr(event, "from_user", None) or getattr(event, "user", None)
    if person is not None:
        return ("user", person.id)
    return ("update", update.update_id)


class Poller:
    def __init__(self, dp: Dispatcher, bot: Bot, *, allowed_updates: list[str] | None,
                 concurrency: int = 16, polling_timeout: int = 25, busy_poll: float = 0.1,
                 max_in_flight: int = 500, retry_delays: tuple[float, ...] = (1, 2, 4, 8, 15, 30),
                 grace_seconds: float = 20.0) -> None:
        self.dp, self.bot, self.allowed_updates = dp, bot, allowed_updates
        self.polling_timeout, self.busy_poll = polling_timeout, busy_poll
        self.max_in_flight, self.retry_delays, self.grace = max_in_flight, retry_delays, grace_seconds
        self._slots = asyncio.Semaphore(concurrency)
        self._pending: set[int] = set()  # read, not yet handled
        self._highest: int | None = None  # the highest update id read so far
        self._queues: dict[Hashable, deque[Update]] = {}
        self._workers: set[asyncio.Task[None]] = set()
        self._progress = asyncio.Event()
        self._stopping = asyncio.Event()

    @property
    def offset(self) -> int | None:
        """What to confirm: every update below it was handled."""
        if self._pending:
            return min(self._pending)
        return None if self._highest is None else self._highest + 1

    def stop(self) -> None:
        self._stopping.set()
        self._progress.set()

    async def run(self) -> None:
        """Until `stop()`: read, hand out, confirm. Then finish what is in flight (bounded) and confirm it."""
        failures = 0
        while not self._stopping.is_set():
            if len(self._pending) >= self.max_in_flight:
                await self._wait_progress(1.0)
                continue
            busy = bool(self._pending)
            try:
                updates = await self._get_updates(0 if busy else self.polling_timeout)
                if updates is None:  # stopping
                    break
            except TelegramUnauthorizedError:
                raise
            except Exception as error:  # Telegram unreachable or failing: never stop polling for it
                delay = self.retry_delays[min(failures, len(self.retry_delays) - 1)]
                failures += 1
                log.warning("getUpdates failed (%s: %s); trying again in %s s", type(error).__name__, error, delay)
                await self._wait_stop(delay)
                continue
            if failures:
                log.info("getUpdates works again after %s failures", failures)
                failures = 0
            fresh = [update for update in updates if self._is_new(update.update_id)]
            for update in fresh:
                self._take(update)
            if busy and not fresh:
                await self._wait_progress(self.busy_poll)
        await self._drain()

    async def _get_updates(self, wait: int) -> list[Update] | None:
        """One getUpdates; a long poll is abandoned when stopping (it confirms nothing new: same offset)."""
        call = asyncio.ensure_future(self.bot(
            GetUpdates(offset=self.offset, timeout=wait, allowed_updates=self.allowed_updates),
            request_timeout=wait + 10))
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({call, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not call.done():
            call.cancel()
            await asyncio.gather(call, return_exceptions=True)
            return None
        return call.result()

    def _is_new(self, update_id: int) -> bool:
        return self._highest is None or update_id > self._highest

    def _take(self, update: Update) -> None:
        self._highest = update.update_id
        self._pending.add(update.update_id)
        key = chat_key(update)
        queue = self._queues.get(key)
        if queue is not None:  # a worker is on this chat already: it takes this one next, in order
            queue.append(update)
            return
        self._queues[key] = deque([update])
        worker = asyncio.create_task(self._work(key), name=f"updates-{key}")
        self._workers.add(worker)
        worker.add_done_callback(self._workers.discard)

    async def _work(self, key: Hashable) -> None:
        queue = self._queues[key]
        try:
            while queue:
                update = queue[0]
                async with self._slots:
                    handled = await self._handle(update)
                if not handled:
                    return  # stopping with this update unhandled: it stays unconfirmed, and so do the ones after it
                queue.popleft()
                self._pending.discard(update.update_id)
                self._progress.set()
        finally:
            if self._queues.get(key) is queue and (not queue or self._stopping.is_set()):
                del self._queues[key]

    async def _handle(self, update: Update) -> bool:
        """True once the update is handled (or failed for good); False when stopping before that."""
        tries = 0
        while True:
            try:
                await self.dp.feed_update(self.bot, update, dispatcher=self.dp, bots=[self.bot])
                return True
            except InfrastructureUnavailable as error:
                delay = self.retry_delays[min(tries, len(self.retry_delays) - 1)]
                tries += 1
                log.warning("update %s not handled (%s); kept unconfirmed, next try in %s s",
                            update.update_id, error.__cause__ or error, delay)
                if await self._wait_stop(delay):
                    return False
            except Exception:  # the errors router itself failed: confirm, or one update stalls everything
                log.exception("update %s failed and could not be answered; confirmed", update.update_id)
                return True

    async def _drain(self) -> None:
        if self._workers:
            log.info("stopping: finishing %s update(s) in flight (at most %s s)", len(self._pending), self.grace)
            _, late = await asyncio.wait(set(self._workers), timeout=self.grace)
            for worker in late:
                worker.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self.offset is not None:
            try:  # confirm what was handled, so that it is not delivered again after the restart
                await self.bot(GetUpdates(offset=self.offset, timeout=0, limit=1), request_timeout=5)
            except Exception as error:
                log.info("could not confirm the last updates (%s); they will be skipped as redeliveries", error)

    async def _wait_progress(self, seconds: float) -> None:
        self._progress.clear()
        try:
            await asyncio.wait_for(self._progress.wait(), timeout=seconds)
        except TimeoutError:
            pass

    async def _wait_stop(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            return False
        return True


async def wait_for_telegram(bot: Bot, stopping: asyncio.Event | None = None,
                            delays: tuple[float, ...] = (1, 2, 5, 10, 30, 60)) -> bool:
    """getMe until Telegram answers. A rejected token raises TelegramUnauthorizedError; False if stopped first."""
    tries = 0
    while True:
        try:
            await bot.me()
            if tries:
                log.info("Telegram answered after %s tries", tries + 1)
            return True
        except TelegramUnauthorizedError:
            raise
        except Exception as error:
            delay = delays[min(tries, len(delays) - 1)]
            if tries == 0:
                log.warning("Telegram is unreachable (%s: %s); retrying with backoff", type(error).__name__, error)
            tries += 1
            if stopping is None:
                await asyncio.sleep(delay)
                continue
            try:
                await asyncio.wait_for(stopping.wait(), timeout=delay)
                return False
            except TimeoutError:
                continue
