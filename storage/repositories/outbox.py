"""The outbox: everything that must reach someone, with its delivery bookkeeping."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.models import (
    OutboxMessage,
    OutboxStatus,
)
from storage.repositories._shared import _insert_ignoring_duplicates

# Rows the relay is done with: sent, or sent as part of another row's burst list.
_DONE = (OutboxStatus.SENT, OutboxStatus.GROUPED)
# The others, still to send. Queries name these rather than "not done": the table keeps every row ever sent, and
# an IN is a seek on the indexes that start with the status where a NOT IN scans them all. Listed, not derived from
# _DONE: a status added later is sent only if whoever adds it says so here (a test fails until they decide).
_OPEN = (OutboxStatus.PENDING, OutboxStatus.BLOCKED)
# What begin_attempt found: the send may begin; the row needs no send any more; another relay holds the chat.
AttemptStart = Literal["ours", "done", "taken"]


CLAIM_LOCK = 824_001  # pg_advisory_xact_lock key of outbox claims


class OutboxRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, message: OutboxMessage) -> bool:
        """Queue a message once per dedupe key; False when that key was queued before."""
        values = {column.key: getattr(message, column.key) for column in OutboxMessage.__table__.columns
                  if column.key != "id" and getattr(message, column.key) is not None}
        result = await self.session.execute(_insert_ignoring_duplicates(self.session, OutboxMessage, values))
        # Tells the transaction middleware to wake the relay once this transaction has committed.
        self.session.info["outbox_added"] = True
        return result.rowcount == 1

    async def claim_due(self, now: datetime, lease_until: datetime, limit: int,
                        holder: str) -> Sequence[OutboxMessage]:
        """Lease the oldest due rows to `holder` so that no other relay sends them until the lease runs out.

        A chat another relay is still sending to is left to it: one relay per chat at a time keeps the chat's order
        and makes its pace countable. The holder renews the lease before each send (begin_attempt), so a chat is
        taken over only from a relay that stopped for longer than a lease. The holder's own leases are its last
        pass's, which is over (a relay's passes run one after another): a pass the database cut off is taken up by
        the next one at once, not a lease later. A row whose send began and was never recorded (under a lease that
        ran out unreleased, or in the holder's own failed pass) may have reached Telegram: it is marked, and
        counted in the pace (`maybe_sent_at`).
        """
        await self._one_relay_at_a_time()
        # Any other relay's live lease, whatever the row's status (as begin_attempt counts them): a row a stalled
        # relay got through keeps the lease of the relay resending it until that resend is recorded.
        busy_chats = select(OutboxMessage.chat_id).where(OutboxMessage.lease_until >= now, self._not_held_by(holder))
        due = (OutboxMessage.status.in_(_OPEN) & (OutboxMessage.next_attempt_at <= now)
               & (OutboxMessage.lease_until.is_(None) | (OutboxMessage.lease_until < now)
                  | (OutboxMessage.lease_holder == holder))
               & OutboxMessage.chat_id.not_in(busy_chats))
        rows = (await self.session.scalars(select(OutboxMessage).where(due).order_by(OutboxMessage.id)
                                           .limit(limit))).all()
        for row in rows:
            if row.lease_until is not None and row.attempted_at is not None:
                # Its send began and was never recorded (a relay died, or its pass failed). The repeat's mark names
                # when that send began; the pace counts it as of now, since a request in flight may reach Telegram
                # late. The sends so counted end at UNRECORDED_SENDS_AT_MOST (bot/services/outbox.py).
                row.payload = {**row.payload, "possible_repeat_of": row.attempted_at.isoformat(),
                               "unrecorded_sends": row.payload.get("unrecorded_sends", 0) + 1}
                row.maybe_sent_at = now
            row.lease_until, row.lease_holder, row.attempted_at = lease_until, holder, None
        await self.session.flush()
        return rows

    async def _one_relay_at_a_time(self) -> None:
        """Claims and lease renewals of several instances one after another (a transaction-scoped lock, gone at
        commit), so that two relays cannot both see a chat as theirs. SQLite's single writer already does this."""
        if self.session.bind.dialect.name == "postgresql":
            await self.session.execute(select(func.pg_advisory_xact_lock(CLAIM_LOCK)))

    @staticmethod
    def _not_held_by(holder: str, rows: Any = OutboxMessage) -> ColumnElement[bool]:
        """A lease that is not `holder`'s (one taken before leases named their holder counts as another's)."""
        return rows.lease_holder.is_(None) | (rows.lease_holder != holder)

    @staticmethod
    def _held_by(holder: str) -> ColumnElement[bool]:
        return ((OutboxMessage.lease_holder == holder) & OutboxMessage.lease_until.is_not(None)
                & OutboxMessage.status.in_(_OPEN))

    async def begin_attempt(self, message_id: int, now: datetime, *, holder: str, lease_until: datetime,
                            renew: Sequence[int] = ()) -> AttemptStart:
        """Before a send: renew the holder's lease (to `lease_until`) on this row and on `renew`, the chat's other
        rows it holds (the rest of its pass), and record that this row's send begins, so that a relay dying
        mid-send leaves a trace. By id: a condition on the chat would read every row the chat was ever sent.

        Nothing is recorded when the row is not the holder's to send any more: "done" when it was sent meanwhile
        (by a relay that had stalled past its lease and then got through) or deleted; "taken" when another relay
        holds the chat now, having claimed it while this one was stalled: that relay sends the rest. A relay with a
        live lease on any row of the chat counts, so a chat whose claim was cut short by the claim's limit is not
        sent to by both."""
        await self._one_relay_at_a_time()
        row = await self.session.get(OutboxMessage, message_id)
        if row is None:
            return "done"
        if row.status in _DONE:
            if row.lease_holder == holder:
                row.lease_until = None
            return "done"
        # A row sent by a stalled relay after another had taken it over keeps the other's lease until that one's
        # resend is recorded: it still counts here.
        other = await self.session.scalar(select(OutboxMessage.id).where(
            OutboxMessage.chat_id == row.chat_id, OutboxMessage.lease_until >= now, self._not_held_by(holder)).limit(1))
        if row.lease_holder != holder or row.lease_until is None or other is not None:
            return "taken"
        await self.session.execute(update(OutboxMessage).where(OutboxMessage.id.in_({message_id, *renew}),
                                                               self._held_by(holder))
                                   .values(lease_until=lease_until).execution_options(synchronize_session=False))
        await self.session.execute(update(OutboxMessage).where(OutboxMessage.id == message_id)
                                   .values(attempted_at=now).execution_options(synchronize_session=False))
        return "ours"

    async def still_held(self, message_ids: Sequence[int], holder: str) -> set[int]:
        """Which of these rows the holder still holds, in a transaction that then changes them before any other
        relay can claim them (serialised as claims are)."""
        await self._one_relay_at_a_time()
        if not message_ids:
            return set()
        return set(await self.session.scalars(select(OutboxMessage.id).where(OutboxMessage.id.in_(message_ids),
                                                                             self._held_by(holder))))

    async def release(self, message_ids: Sequence[int], holder: str) -> None:
        """End the holder's lease on these rows (not sent now, sent later by whichever relay claims them); rows
        another relay has taken over meanwhile keep that relay's lease."""
        if message_ids:
            await self.session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(message_ids),
                                                                   self._held_by(holder))
                                       .values(lease_until=None).execution_options(synchronize_session=False))

    async def sent_weight_since(self, since: datetime, *, chat_id: int | None = None) -> tuple[int, datetime | None]:
        """Messages sent after `since` (to one chat, or in all) and the oldest such send: the pace so far. A send
        exactly a window ago has left the window, as Telegram counts it."""
        used, oldest = 0, None
        # A send whose outcome is unknown may have reached Telegram: it counts as well (twice, if sent again).
        for moment in (OutboxMessage.sent_at, OutboxMessage.maybe_sent_at):
            query = select(func.coalesce(func.sum(OutboxMessage.weight), 0), func.min(moment)).where(
                moment > since, OutboxMessage.weight > 0)
            if chat_id is not None:
                query = query.where(OutboxMessage.chat_id == chat_id)
            weight, first = (await self.session.execute(query)).one()
            used += int(weight or 0)
            oldest = first if oldest is None or (first is not None and first < oldest) else oldest
        return used, oldest

    async def get(self, message_id: int) -> OutboxMessage | None:
        return await self.session.get(OutboxMessage, message_id)

    async def postpone_chat(self, chat_id: int, until: datetime) -> None:
        """Hold back every unsent row for a chat, so that its messages keep their order."""
        await self.session.execute(
            update(OutboxMessage).where(OutboxMessage.chat_id == chat_id, OutboxMessage.status.in_(_OPEN),
                                        OutboxMessage.next_attempt_at < until)
            .values(next_attempt_at=until).execution_options(synchronize_session=False))

    async def card_of(self, review_id: int, chat_id: int, kind: str = "alert") -> OutboxMessage | None:
        """The latest alert card of a review in a chat (its sent_message_id is what replies and edits refer to):
        a case reopened by the resident gets a new card, which then is the one. `kind="clinic_review"`: the latest
        post of the review in a clinic's chat."""
        query = select(OutboxMessage).where(OutboxMessage.review_id == review_id, OutboxMessage.chat_id == chat_id,
                                            OutboxMessage.kind == kind)
        return await self.session.scalar(query.order_by(OutboxMessage.id.desc()).limit(1))

    async def chats_given(self, review_id: int, kind: str) -> list[int]:
        """The chats a review's messages of this kind were queued to (a clinic's groups, or its staff's chats)."""
        query = select(OutboxMessage.chat_id).where(OutboxMessage.review_id == review_id, OutboxMessage.kind == kind)
        return list(await self.session.scalars(query.distinct().order_by(OutboxMessage.chat_id)))

    async def point_card_to(self, review_id: int, chat_id: int, message_id: int) -> None:
        """A card posted again (from a burst list) becomes the one that replies and edits refer to."""
        card = await self.card_of(review_id, chat_id)
        if card is not None:
            card.sent_message_id = message_id

    async def record_card(self, review_id: int, case_id: int, chat_id: int, message_id: int, reference: str,
                          now: datetime) -> None:
        """A card posted in the chat directly (an ordinary case opened from a list) becomes the case's card, so that
        replies and the resident's additions find it; kept as a sent row, so the relay never sends it."""
        self.session.add(OutboxMessage(
            dedupe_key=f"alert:{reference}:{chat_id}:opened:{message_id}", chat_id=chat_id, kind="alert",
            payload={"text": None, "reference": reference, "case_id": case_id}, review_id=review_id,
            status=OutboxStatus.SENT, attempts=0, next_attempt_at=now, created_at=now, sent_at=now,
            sent_message_id=message_id))
        await self.session.flush()

    async def by_sent_message(self, chat_id: int, message_id: int) -> OutboxMessage | None:
        query = select(OutboxMessage).where(OutboxMessage.chat_id == chat_id,
                                            OutboxMessage.sent_message_id == message_id)
        return await self.session.scalar(query.limit(1))

    async def status_counts(self) -> dict[str, int]:
        rows = await self.session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))
        return {status: count for status, count in rows.all()}

    async def next_attempt(self, now: datetime, holder: str) -> datetime | None:
        """The earliest moment `holder`'s claim can take a row: its next attempt, or, while another relay holds
        its chat, the end of that lease. A relay that waited for due rows only (other relays' ones) claimed in vain
        20 times a second, each time taking the claim lock that every send of the holder needs too. Its own leases
        do not hold it back (see claim_due)."""
        other = aliased(OutboxMessage)
        held_until = select(func.max(other.lease_until)).where(
            other.chat_id == OutboxMessage.chat_id, other.lease_until >= now,
            self._not_held_by(holder, other)).scalar_subquery()
        claimable = case((held_until > OutboxMessage.next_attempt_at, held_until),
                         else_=OutboxMessage.next_attempt_at)
        return await self.session.scalar(select(func.min(claimable)).where(OutboxMessage.status.in_(_OPEN)))

    async def oldest_unsent(self) -> datetime | None:
        return await self.session.scalar(select(func.min(OutboxMessage.created_at))
                                         .where(OutboxMessage.status.in_(_OPEN)))
