"""Two relays (two instances) and one chat: the relay that holds a chat renews its lease before each send, and a
relay that stalled past its lease (a send that hung, a paused process) and lost the chat sends none of it after:
no row goes out twice except the one in flight, which is marked; the chat's order and pace stay one relay's."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable

import pytest
from aiogram.exceptions import TelegramForbiddenError, TelegramNetworkError
from aiogram.methods import SendMessage
from sqlalchemy import exc as sa_exc
from sqlalchemy import select

import bot.services.relay as relay
from bot.cases import cards
from bot.services.outbox import Pacer, enqueue
from bot.services.relay import Relay
from storage.models import OutboxMessage
from storage.repositories import Repositories
from storage.repositories.outbox import OutboxRepo
from tests.conftest import BACKENDS, App
from tests.flows import one
from tests.test_alerts import CHAT, reference_in, relay_for, submit_violation

pytestmark = pytest.mark.usefixtures("demo_directory")
OTHER_GROUP = -1009999


def card_relay(app: App) -> Relay:
    """One card a message (no burst lists), within the group's limit: what is counted is who sends what."""
    return Relay(app.bot, app.pool, app.clock, app.settings.admins, pacer=Pacer(group_per_minute=20))


async def waited(event: asyncio.Event) -> None:
    """A staged moment that never comes (the relay took another path) fails the test instead of hanging it."""
    await asyncio.wait_for(event.wait(), timeout=60)


def group_texts(app: App) -> list[str]:
    return [call.text for call in app.session.sent_messages(CHAT) if isinstance(call, SendMessage)]


def alert_texts(app: App) -> list[str]:
    return [text for text in group_texts(app) if "AL-" in text]


async def alert_statuses(app: App) -> list[str]:
    rows = await one(app, select(OutboxMessage).where(OutboxMessage.kind == "alert").order_by(OutboxMessage.id))
    return [row.status for row in rows]


def slow_group_sends(app: App, *, seconds: int, meanwhile: Relay, when: Callable[[], bool]) -> list[int]:
    """Each send to the group takes `seconds` (the clock moves on while it is in flight) until `when()` holds
    as a send begins: then, with that send still in flight, `meanwhile` (another instance's relay) runs a pass.
    Returns what that pass sent, once it ran."""
    sent_meanwhile: list[int] = []

    async def slow_telegram(make_request, bot, method):
        if isinstance(method, SendMessage) and method.chat_id == CHAT and not sent_meanwhile:
            app.clock.advance(seconds=seconds)
            if when():
                sent_meanwhile.append(-1)  # its own sends are not slowed down, nor trigger it again
                sent_meanwhile[0] = await meanwhile.run_once()
        return await make_request(bot, method)

    app.session.middleware(slow_telegram)
    return sent_meanwhile


class InFlight:
    """Counts the sends to the group in flight at once, and the order in which they went through."""

    def __init__(self) -> None:
        self.now, self.most, self.order = 0, 0, []

    async def through(self, make_request, bot, method):
        self.now += 1
        self.most = max(self.most, self.now)
        try:
            result = await make_request(bot, method)
            self.order.append(reference_in(method.text))
            return result
        finally:
            self.now -= 1


class HungFirstSend:
    """The first send to the group hangs past its lease. Meanwhile another instance's relay (`taking_over`) runs a
    pass; once it is where `until` says, the hung send ends as `outcome` says: it gets through (None) or fails
    (an exception). The other relay's resend, its first send, stays in flight until `resend_may_go` is set.
    `cut_short`: the other relay's claim ends inside the chat (a busy queue: its batch is one row)."""

    def __init__(self, app: App, taking_over: Relay, monkeypatch: pytest.MonkeyPatch | None = None, *,
                 until: asyncio.Event | None = None, outcome: Exception | None = None,
                 cut_short: bool = False) -> None:
        self.resend_in_flight, self.resend_may_go = asyncio.Event(), asyncio.Event()
        self.until = until or self.resend_in_flight
        self.takeover: asyncio.Task[int] | None = None
        self.sends = InFlight()
        app.session.middleware(self._telegram)
        self.app, self.taking_over, self.monkeypatch = app, taking_over, monkeypatch
        self.outcome, self.cut_short = outcome, cut_short

    async def _telegram(self, make_request, bot, method):
        if not (isinstance(method, SendMessage) and method.chat_id == CHAT):
            return await make_request(bot, method)
        if self.takeover is None:
            self.app.clock.advance(seconds=61)
            if self.cut_short:
                self.monkeypatch.setattr(relay, "BATCH", 1)
            self.takeover = asyncio.create_task(self.taking_over.run_once())
            await waited(self.until)
            if self.cut_short:
                self.monkeypatch.setattr(relay, "BATCH", 50)
            if self.outcome is not None:
                raise self.outcome
        elif not self.resend_in_flight.is_set():
            self.resend_in_flight.set()
            await waited(self.resend_may_go)
        return await self.sends.through(make_request, bot, method)

    async def other_relay_sent(self) -> int:
        self.resend_may_go.set()
        return await self.takeover


class PausedBeforeSending(Relay):
    """Another instance's relay that stops after its claim, before its first send, until `may_send` is set."""

    def __init__(self, app: App, **kwargs) -> None:
        super().__init__(app.bot, app.pool, app.clock, app.settings.admins, **kwargs)
        self.claimed, self.may_send = asyncio.Event(), asyncio.Event()

    async def _attempt(self, row: OutboxMessage, renew: list[int]) -> str:
        self.claimed.set()
        await waited(self.may_send)
        return await super()._attempt(row, renew)


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_a_relay_slower_than_its_lease_keeps_its_chat_and_each_card_goes_out_once(
        app: App, backend: str) -> None:
    # Telegram answers slowly (25 s a card): the lease taken at the claim (60 s) runs out before the third card.
    references = [await submit_violation(app, user_id, photos=False) for user_id in range(5401, 5406)]
    slow, other = card_relay(app), card_relay(app)
    other_sent = slow_group_sends(app, seconds=25, meanwhile=other, when=lambda: len(group_texts(app)) == 2)
    await slow.run_once()
    assert other_sent == [0]  # the chat was still the slow relay's: the other sent nothing of it
    assert [reference_in(text) for text in alert_texts(app)] == references
    assert not any(text.startswith("⚠️") for text in group_texts(app))


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_a_relay_that_stalled_past_its_lease_sends_nothing_the_next_one_took(app: App, backend: str) -> None:
    # The first card's send hangs for longer than the lease; meanwhile another relay takes the chat over.
    references = [await submit_violation(app, user_id, photos=False) for user_id in range(5501, 5505)]
    stalled, other = card_relay(app), card_relay(app)
    took_over = slow_group_sends(app, seconds=61, meanwhile=other, when=lambda: True)
    await stalled.run_once()
    assert took_over == [4]
    texts = alert_texts(app)
    # The hung card went out twice (the other relay could not know it would still arrive): the repeat says so.
    # Every other card went out once, from the relay that held the chat.
    assert sorted(reference_in(text) for text in texts) == sorted([references[0], *references])
    assert [reference_in(text) for text in texts if text.startswith("⚠️")] == [references[0]]
    assert await alert_statuses(app) == ["sent"] * 4


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_a_chat_whose_lease_ran_out_during_another_chats_send_is_not_grouped_by_the_relay_that_lost_it(
        app: App, backend: str) -> None:
    # One pass claims another group's notice and a burst of four alerts. The notice's send hangs past the lease;
    # a relay that sends cards one by one takes the alerts' chat over and is sending the first card meanwhile.
    async with app.pool() as session, session.begin():
        await enqueue(Repositories(session), chat_id=OTHER_GROUP, kind="notice", dedupe_key="other", now=app.clock.now,
                      text="another group's notice")
    references = [await submit_violation(app, user_id, photos=False) for user_id in range(5601, 5605)]
    grouping = relay_for(app, pacer=Pacer(group_per_minute=2))  # four alerts, two free: it would send a list
    cards = card_relay(app)
    card_in_flight, card_may_go = asyncio.Event(), asyncio.Event()
    other_pass: list[asyncio.Task[int]] = []

    async def telegram(make_request, bot, method):
        if isinstance(method, SendMessage) and method.chat_id == OTHER_GROUP and not other_pass:
            app.clock.advance(seconds=61)
            other_pass.append(asyncio.create_task(cards.run_once()))
            await waited(card_in_flight)
        elif isinstance(method, SendMessage) and method.chat_id == CHAT and not card_in_flight.is_set():
            card_in_flight.set()
            await waited(card_may_go)
        return await make_request(bot, method)

    app.session.middleware(telegram)
    await grouping.run_once()  # reaches the alerts' chat while the other relay's first card is in flight
    card_may_go.set()
    assert await other_pass[0] == 5  # the other group's notice again (it was in flight: marked), and four cards
    assert [reference_in(text) for text in alert_texts(app)] == references  # one card each, none lost in a list
    assert await alert_statuses(app) == ["sent"] * 4


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_a_hung_send_that_then_fails_leaves_the_row_to_the_relay_that_took_it_over(
        app: App, backend: str) -> None:
    reference = await submit_violation(app, 5701, photos=False)
    hung, taking_over, third = card_relay(app), card_relay(app), card_relay(app)
    staged = HungFirstSend(app, taking_over, outcome=TelegramNetworkError(method=SendMessage(chat_id=CHAT, text="."),
                                                                          message="Request timeout error"))
    await hung.run_once()  # its failure is not recorded on a row another relay holds now
    app.clock.advance(seconds=5)  # past the back-off the failure would have set
    assert await third.run_once() == 0  # the row is still the other relay's: nobody sends it beside it
    assert await staged.other_relay_sent() == 1
    assert staged.sends.most == 1
    [text] = alert_texts(app)
    assert text.startswith("⚠️") and reference in text
    assert await alert_statuses(app) == ["sent"]


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_a_claim_cut_short_by_its_limit_does_not_split_a_chat_between_two_relays(
        app: App, backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    references = [await submit_violation(app, user_id, photos=False) for user_id in range(5801, 5804)]
    stalled, taking_over = card_relay(app), card_relay(app)
    staged = HungFirstSend(app, taking_over, monkeypatch, cut_short=True)
    await stalled.run_once()  # its first card arrives; the next two are not its to send beside the other relay
    assert await staged.other_relay_sent() == 1
    assert staged.sends.most == 1 and staged.sends.order == [references[0], references[0]]
    await taking_over.run_once()  # the rest of the chat, in order, by whichever relay claims it next
    assert staged.sends.order == [references[0], *references]
    assert await alert_statuses(app) == ["sent"] * 3


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_a_hung_send_that_gets_through_before_the_resend_begins_is_not_sent_again(
        app: App, backend: str) -> None:
    references = [await submit_violation(app, user_id, photos=False) for user_id in range(5901, 5904)]
    hung = card_relay(app)
    taking_over = PausedBeforeSending(app, pacer=Pacer(group_per_minute=20))
    staged = HungFirstSend(app, taking_over, until=taking_over.claimed)  # the hung send gets through after all
    await hung.run_once()  # the first card is recorded as sent; the rest is the other relay's
    taking_over.may_send.set()
    assert await staged.other_relay_sent() == 2  # it skips the card that arrived and goes on at once
    assert [reference_in(text) for text in alert_texts(app)] == references
    assert not any(text.startswith("⚠️") for text in alert_texts(app))
    assert await alert_statuses(app) == ["sent"] * 3


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_a_row_whose_send_may_be_in_flight_is_not_made_the_head_of_a_burst_list(
        app: App, backend: str) -> None:
    # A card's send hangs past its lease; a grouping relay claims the chat (five alerts, two free slots) and the
    # hung card gets through before that relay begins to send. Every alert still reaches the chat.
    references = [await submit_violation(app, user_id, photos=False) for user_id in range(6101, 6106)]
    hung = card_relay(app)
    grouping = PausedBeforeSending(app, pacer=Pacer(group_per_minute=2),
                                   group_alerts=cards.group_alerts_for(app.settings))
    staged = HungFirstSend(app, grouping, until=grouping.claimed)
    await hung.run_once()
    grouping.may_send.set()
    await staged.other_relay_sent()
    app.clock.advance(seconds=61)  # the group's pace: whatever still waits goes out now
    await grouping.run_once()
    shown = "\n".join(group_texts(app))
    assert all(reference in shown for reference in references)
    assert set(await alert_statuses(app)) <= {"sent", "grouped"}


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_the_rest_of_a_chat_is_sent_at_once_after_a_takeover_not_a_lease_later(
        app: App, backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # A claim cut short took only the hung card, and the hung send got through while the resend was in flight.
    # The stalled relay's next pass must neither claim the rest of the chat while the resend holds it, nor sit on it.
    references = [await submit_violation(app, user_id, photos=False) for user_id in range(6201, 6204)]
    stalled, taking_over = card_relay(app), card_relay(app)
    staged = HungFirstSend(app, taking_over, monkeypatch, cut_short=True)
    await stalled.run_once()  # its card got through; the chat is the other relay's
    app.clock.advance(seconds=1)
    assert await stalled.run_once() == 0  # the resend still holds the chat
    assert await staged.other_relay_sent() == 1
    app.clock.advance(seconds=1)
    assert await taking_over.run_once() + await stalled.run_once() == 2  # the resend recorded: the rest goes now
    assert sorted(reference_in(text) for text in alert_texts(app)) == sorted([references[0], *references])
    assert await alert_statuses(app) == ["sent"] * 3


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_a_resend_refused_after_the_hung_send_got_through_leaves_the_row_sent(app: App, backend: str) -> None:
    reference = await submit_violation(app, 6301, photos=False)
    hung, taking_over = card_relay(app), card_relay(app)
    staged = HungFirstSend(app, taking_over)  # the hung send gets through once the resend is in flight
    await hung.run_once()
    app.session.fail_next(SendMessage, error_code=403, description="Forbidden: bot was kicked from the group chat")
    await staged.other_relay_sent()  # ... and the resend is refused
    assert any(isinstance(outcome, TelegramForbiddenError) for outcome in app.session.outcomes)
    [row] = await one(app, select(OutboxMessage).where(OutboxMessage.kind == "alert"))
    assert row.status == "sent" and reference in row.payload["text"]
    # Nobody is told of a delivery that failed, nor is the card sent a third time an hour later.
    assert not await one(app, select(OutboxMessage).where(OutboxMessage.kind == "admin"))


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_a_relay_waits_for_the_end_of_another_relays_lease_instead_of_claiming_in_vain(
        app: App, backend: str) -> None:
    await submit_violation(app, 6401, photos=False)
    holding, waiting = card_relay(app), card_relay(app)
    async with app.pool() as session, session.begin():  # the holding relay is in the middle of its pass
        [row] = await Repositories(session).outbox.claim_due(app.clock.now, app.clock.now + holding.lease, 50,
                                                             holding.holder)
    assert await waiting.run_once() == 0
    assert await waiting._seconds_to_next(idle=300) == holding.lease.total_seconds()  # not 20 claims a second
    await holding._release([row])
    assert await waiting._seconds_to_next(idle=300) == 0.05  # due now: at once


def database_cut_at(monkeypatch: pytest.MonkeyPatch, owner: type, name: str, call: int) -> None:
    """The `call`-th call of `owner.name` (a repository's or the relay's database step) fails as a dropped
    connection would; the database is back for every later call."""
    original, calls = getattr(owner, name), []

    async def cut(*args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            raise sa_exc.OperationalError("UPDATE outbox", None, sqlite3.OperationalError("disk I/O error"))
        return await original(*args, **kwargs)

    monkeypatch.setattr(owner, name, cut)


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_a_pass_cut_off_by_the_database_is_taken_up_by_the_next_pass_at_once_not_a_lease_later(
        app: App, backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The connection drops as the second card's send begins: nothing of it has gone out.
    references = [await submit_violation(app, user_id, photos=False) for user_id in range(6501, 6504)]
    relay = card_relay(app)
    database_cut_at(monkeypatch, OutboxRepo, "begin_attempt", call=2)
    with pytest.raises(sa_exc.OperationalError):
        await relay.run_once()
    assert [reference_in(text) for text in alert_texts(app)] == references[:1]
    app.clock.advance(seconds=1)  # the database is back
    assert await relay._seconds_to_next(idle=300) == 0.05  # the relay tries again at once, not a minute later
    assert await relay.run_once() == 2
    assert [reference_in(text) for text in alert_texts(app)] == references  # each once, in order
    assert not any(text.startswith("⚠️") for text in group_texts(app))
    assert await alert_statuses(app) == ["sent"] * 3


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_a_card_telegram_took_but_the_database_did_not_record_goes_again_marked_and_at_once(
        app: App, backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The first card reached the group, and the connection dropped before it was recorded as sent.
    references = [await submit_violation(app, user_id, photos=False) for user_id in range(6601, 6603)]
    relay = card_relay(app)
    database_cut_at(monkeypatch, Relay, "_mark_sent", call=1)
    with pytest.raises(sa_exc.OperationalError):
        await relay.run_once()
    app.clock.advance(seconds=1)
    assert await relay.run_once() == 2
    texts = alert_texts(app)
    # The relay cannot know the first card arrived: it goes again, marked as a possible repeat; the second once.
    assert [reference_in(text) for text in texts] == [references[0], references[0], references[1]]
    assert [text.startswith("⚠️") for text in texts] == [False, True, False]
    assert await alert_statuses(app) == ["sent"] * 2


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_a_burst_list_the_database_cut_off_before_it_was_stored_goes_out_once_from_the_next_pass(
        app: App, backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Five alerts, two free slots: the relay builds a list, and the connection drops inside that transaction.
    references = [await submit_violation(app, user_id, photos=False) for user_id in range(6701, 6706)]
    relay = Relay(app.bot, app.pool, app.clock, app.settings.admins, pacer=Pacer(group_per_minute=2),
                  group_alerts=cards.group_alerts_for(app.settings))
    database_cut_at(monkeypatch, OutboxRepo, "still_held", call=1)
    with pytest.raises(sa_exc.OperationalError):
        await relay.run_once()
    assert group_texts(app) == [] and await alert_statuses(app) == ["pending"] * 5  # nothing half-grouped
    app.clock.advance(seconds=1)
    assert await relay.run_once() == 1  # the list, at once
    [shown] = group_texts(app)
    assert all(reference in shown for reference in references) and not shown.startswith("⚠️")
    assert await alert_statuses(app) == ["sent"] * 5  # each as part of the list


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_a_card_never_recorded_as_sent_goes_out_three_times_at_most_and_the_admins_are_told(
        app: App, backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    reference = await submit_violation(app, 6851, photos=False)
    relay = card_relay(app)

    async def never_recorded(*args, **kwargs):
        raise sa_exc.OperationalError("UPDATE outbox", None, sqlite3.OperationalError("disk I/O error"))

    monkeypatch.setattr(relay, "_mark_sent", never_recorded)
    for _ in range(6):  # each pass fails as its sent card is to be recorded; the next one takes the card up
        with contextlib.suppress(sa_exc.OperationalError):
            await relay.run_once()
        app.clock.advance(seconds=1)
    texts = alert_texts(app)
    assert [reference_in(text) for text in texts] == [reference] * 3
    assert [text.startswith("⚠️") for text in texts] == [False, True, True]
    [row] = await one(app, select(OutboxMessage).where(OutboxMessage.kind == "alert"))
    assert row.status == "blocked" and "never recorded" in row.last_error
    assert await one(app, select(OutboxMessage).where(OutboxMessage.kind == "admin"))


async def test_a_relay_whose_passes_keep_failing_waits_longer_each_time(
        app: App, monkeypatch: pytest.MonkeyPatch) -> None:  # no database reached: one backend is enough
    relay = card_relay(app)
    waits: list[float] = []

    async def failing_pass() -> int:
        raise sa_exc.OperationalError("SELECT", None, sqlite3.OperationalError("disk I/O error"))

    async def recorded(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 8:
            relay._stopping = True

    monkeypatch.setattr(relay, "run_once", failing_pass)
    monkeypatch.setattr(relay, "_wait", recorded)
    await asyncio.wait_for(relay.run_forever(), timeout=60)
    assert waits == [0.5, 1, 2, 4, 5, 5, 5, 5]  # not 20 passes a second, each logged with its traceback


@pytest.mark.parametrize("woken_by", ["a commit", "stop"])
async def test_a_wake_while_the_relay_reads_when_to_pass_next_is_not_lost(
        app: App, monkeypatch: pytest.MonkeyPatch, woken_by: str) -> None:
    relay = card_relay(app)
    passes, reading, read, second_pass = [], asyncio.Event(), asyncio.Event(), asyncio.Event()
    original = relay.run_once

    async def counted() -> int:
        passes.append(1)
        if len(passes) == 2:
            second_pass.set()
        return await original()

    async def slow_read(idle: float) -> float:
        reading.set()
        await waited(read)
        return 3600.0  # nothing due for an hour, as far as that read could tell

    monkeypatch.setattr(relay, "run_once", counted)
    monkeypatch.setattr(relay, "_seconds_to_next", slow_read)
    running = asyncio.create_task(relay.run_forever())
    await waited(reading)
    if woken_by == "stop":
        stopping = asyncio.create_task(relay.stop(running, grace=3600))
        await asyncio.sleep(0)
    else:
        relay.wake()  # an alert committed just then
    read.set()
    if woken_by == "stop":
        await asyncio.wait_for(stopping, timeout=60)  # not after the hour of the read, nor the grace
        assert running.done() and not running.cancelled()
    else:
        await waited(second_pass)  # the alert's pass, not an hour later
        relay._stopping = True
        relay.wake()
        await asyncio.wait_for(running, timeout=60)


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_a_row_that_cannot_be_sent_is_blocked_and_the_alert_queued_after_it_still_goes_out(
        app: App, backend: str) -> None:
    # A row for another group whose stored payload this version cannot send, queued before a resident's alert.
    async with app.pool() as session, session.begin():
        await enqueue(Repositories(session), chat_id=OTHER_GROUP, kind="notice", dedupe_key="unsendable",
                      now=app.clock.now, text="Отчёт", media=[{"kind": "hologram", "file_id": "x"}])
    reference = await submit_violation(app, 6801, photos=False)
    relay = card_relay(app)
    await relay.run_once()
    assert [reference_in(text) for text in alert_texts(app)] == [reference]  # the same pass, not never
    [bad] = await one(app, select(OutboxMessage).where(OutboxMessage.dedupe_key == "unsendable"))
    assert bad.status == "blocked" and "hologram" in bad.last_error
    told = await one(app, select(OutboxMessage).where(OutboxMessage.kind == "admin"))
    assert told, "the admins are told of a row that cannot be sent"


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_alerts_go_out_one_by_one_when_their_burst_list_cannot_be_built(
        app: App, backend: str) -> None:
    references = [await submit_violation(app, user_id, photos=False) for user_id in range(6901, 6904)]

    def broken_list(rows):
        raise KeyError("district")

    relay = Relay(app.bot, app.pool, app.clock, app.settings.admins, pacer=Pacer(group_per_minute=2),
                  group_alerts=broken_list)
    await relay.run_once()
    app.clock.advance(seconds=61)  # the group's pace: two a minute
    await relay.run_once()
    assert [reference_in(text) for text in alert_texts(app)] == references
    assert await alert_statuses(app) == ["sent"] * 3


def test_every_outbox_status_is_either_still_to_send_or_done() -> None:
    # The relay's queries name the open statuses: a status added to neither would never be sent, nor count as sent.
    from storage.models import OutboxStatus
    from storage.repositories.outbox import _DONE, _OPEN

    assert set(_OPEN) | set(_DONE) == set(OutboxStatus) and not set(_OPEN) & set(_DONE)
