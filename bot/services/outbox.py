"""The transactional outbox: messages queued in the business transaction (enqueue, edit_card), the pace Telegram
allows (Pacer), and what a queued row says of itself; bot.services.relay sends them, never lost."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aiogram.types import (
    InlineKeyboardMarkup,
)

from bot.telegram_limits import CAPTION_LIMIT, telegram_length
from storage.models import OutboxMessage, OutboxStatus
from storage.repositories import Repositories

# Payload keys: the first try (possible_repeat_of, or FIRST_TRY) for which a part went as a message of its own.
REPEAT_MARK_SENT, WORDS_SENT = "repeat_mark_sent_for", "words_sent_for"


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
        status=OutboxStatus.PENDING, attempts=0, next_attempt_at=now, created_at=now, weight=weight_of(payload)))


async def edit_card(repo: Repositories, *, chat_id: int, review_id: int, dedupe_key: str, now: datetime, text: str,
                    reply_markup: InlineKeyboardMarkup | None, card_kind: str = "alert") -> bool:
    """Queue an edit of the review's card in the chat (OutboxRepo.card_of, as it is when the edit goes out), for
    changes made outside a button press, by the scheduler (a due date counted again); a press edits its own card.
    `card_kind="clinic_review"` edits the review's post in a clinic's chat instead."""
    kind = {} if card_kind == "alert" else {"edit_card_kind": card_kind}
    return await enqueue(repo, chat_id=chat_id, kind="card_edit", dedupe_key=dedupe_key, now=now, text=text,
                         reply_markup=reply_markup, review_id=review_id, edit_card_of=review_id, **kind)


def shown_card(card: OutboxMessage | None) -> int | None:
    """The message id of the card itself in its chat, or None: not sent yet, or sent only inside a burst list (its
    Open button posts the card, which then becomes the one: OutboxRepo.point_card_to)."""
    if card is None or card.sent_message_id is None:
        return None
    return None if (card.payload or {}).get("list_message_id") == card.sent_message_id else card.sent_message_id


class Pacer:
    """Telegram's limits: 20 messages a minute to a group or channel, 1 a second to a person, 30 a second in all,
    counted per message (an album of five is five).

    The count comes from the outbox itself: every send is a row with its `sent_at` and `weight`, so every relay
    of every instance sees the same numbers, and a restart forgets nothing (an in-memory count did: the bot then
    caused 429s itself). One relay at a time owns a chat's rows (see OutboxRepo.claim_due), so the chat's count
    cannot be raced.
    """

    def __init__(self, group_per_minute: int = 20, overall_per_second: int = 30, person_per_second: int = 1) -> None:
        self.group_per_minute = group_per_minute
        self.overall_per_second = overall_per_second
        self.person_per_second = person_per_second

    def _window(self, chat_id: int) -> tuple[timedelta, int]:
        if chat_id < 0:
            return timedelta(minutes=1), self.group_per_minute
        return timedelta(seconds=1), self.person_per_second

    async def next_slot(self, repo: Repositories, chat_id: int, weight: int, now: datetime) -> datetime:
        """The earliest moment `weight` more messages to this chat keep within every limit (now, if they do)."""
        moments = [now]
        window, limit = self._window(chat_id)
        for since, cap, chat in ((now - window, limit, chat_id),
                                 (now - timedelta(seconds=1), self.overall_per_second, None)):
            used, oldest = await repo.outbox.sent_weight_since(since, chat_id=chat)
            if used and used + weight > cap and oldest is not None:
                moments.append(oldest + (window if chat is not None else timedelta(seconds=1)))
        return max(moments)

    async def free_now(self, repo: Repositories, chat_id: int, now: datetime) -> int:
        """How many messages this chat may still receive at once."""
        window, limit = self._window(chat_id)
        used, _ = await repo.outbox.sent_weight_since(now - window, chat_id=chat_id)
        return max(0, limit - used)


def words_alone(media: list[dict[str, Any]]) -> bool:
    """The first file's caption cannot go under it, and goes as a message of its own just before it: a round video
    message takes no caption, and Telegram puts at most 1,024 characters under a file (the office's header over the
    resident's own caption may be more). Never cut: the end of what she wrote would be lost."""
    first = media[0] if media else {}
    caption = first.get("caption")
    return bool(caption) and (first.get("kind") == "video_note" or telegram_length(caption) > CAPTION_LIMIT)


# What a part sent on its own records it was sent for, when the row is no repeat (a repeat names its first try).
FIRST_TRY = "first"


def went_this_try(payload: dict[str, Any], key: str) -> bool:
    """The part recorded under `key` (see Relay._went_alone) already went for this try of the row."""
    return payload.get(key) == (payload.get("possible_repeat_of") or FIRST_TRY)


def weight_of(payload: dict[str, Any]) -> int:
    """How many messages Telegram counts for a row: one per album item, one for a text, one for words alone."""
    media = payload.get("media") or []
    return max(1, len(media) + (1 if words_alone(media) else 0))
