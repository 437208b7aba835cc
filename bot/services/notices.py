"""What the bot tells admins outside a conversation (delivery problems, a chat it cannot post to): queued in the
caller's transaction. It imports nothing of the bot's services, so the outbox relay may use it without a cycle;
what residents are told about their cases is in bot.cases.notices."""

from __future__ import annotations

import html
from datetime import datetime

from bot.l10n import translator
from storage.models import OutboxMessage, OutboxStatus
from storage.repositories import Repositories


async def _to_admin(repo: Repositories, chat_id: int, text: str, dedupe_key: str, now: datetime) -> bool:
    """The same row bot.services.outbox.enqueue would write (that module imports this one)."""
    return await repo.outbox.add(OutboxMessage(dedupe_key=dedupe_key, chat_id=chat_id, kind="admin",
                                               payload={"text": text}, status=OutboxStatus.PENDING, attempts=0,
                                               next_attempt_at=now, created_at=now))


async def blocked_delivery(repo: Repositories, admin: int, row: OutboxMessage, error: str, now: datetime) -> None:
    l10n = translator()[None]
    text = l10n("admin.blocked", row=row.id, kind=row.kind, chat=row.chat_id, error=html.escape(error[:300]))
    await _to_admin(repo, admin, text, f"blocked:{row.id}:{admin}", now)


async def chat_migrated(repo: Repositories, admins: list[int], old_chat_id: int, new_chat_id: int,
                        now: datetime) -> None:
    """Telegram upgraded a group to a supergroup: messages follow by themselves, but a chat id in the configuration
    (the prosecutor's) must be changed by hand, so the admins are told, once for the move."""
    l10n = translator()[None]
    for admin in admins:
        await _to_admin(repo, admin, l10n("admin.chat_migrated", old=old_chat_id, new=new_chat_id),
                        f"migrated:{old_chat_id}:{new_chat_id}:{admin}", now)


async def cannot_post(repo: Repositories, admins: list[int], chat_id: int, reason: str, now: datetime) -> None:
    l10n = translator()[None]
    day = now.date().isoformat()
    for admin in admins:
        await _to_admin(repo, admin, l10n("admin.cannot_post", chat=chat_id, reason=html.escape(reason[:300])),
                        f"cannot-post:{chat_id}:{day}:{admin}", now)
