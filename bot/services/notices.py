"""What the bot tells residents and admins outside a conversation: always through the outbox."""

from __future__ import annotations

import html
from datetime import datetime

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.callbacks import CaseReplyStart
from bot.l10n import translator
from bot.services import outbox, privacy
from storage.models import OutboxMessage, Review, User
from storage.repositories import Repositories


async def to_resident(repo: Repositories, review: Review, author: User, event: str, now: datetime, *,
                      key: str, markup: InlineKeyboardMarkup | None = None, **values: str) -> bool:
    """One message per event and review (the dedupe key), in the language the appeal was written in."""
    if author.telegram_id is None:  # the person asked to be forgotten: nobody to tell
        return False
    if not privacy.may_notify(review, author, event):  # consent withdrawn: only what the law requires goes out
        return False
    l10n = translator()[review.language]
    text = l10n(key, reference=review.reference, **values)
    return await outbox.enqueue(repo, chat_id=author.telegram_id, kind="notify", now=now, text=text,
                                reply_markup=markup, review_id=review.id,
                                dedupe_key=f"notify:{review.reference}:{event}")


async def status_changed(repo: Repositories, review: Review, author: User, now: datetime) -> bool:
    l10n = translator()[review.language]
    return await to_resident(repo, review, author, f"status:{review.status}", now, key="notify.status",
                             status=l10n(f"status.{review.status}"))


async def answered(repo: Repositories, review: Review, author: User, answer: str, now: datetime) -> bool:
    return await to_resident(repo, review, author, "answer", now, key="notify.answer", answer=html.escape(answer))


async def rejected(repo: Repositories, review: Review, author: User, reason: str, now: datetime) -> bool:
    return await to_resident(repo, review, author, "rejected", now, key="notify.rejected", reason=html.escape(reason))


async def asked_for_more(repo: Repositories, review: Review, author: User, case_id: int, question: str,
                         number: int, now: datetime) -> bool:
    l10n = translator()[review.language]
    markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
        text=l10n("notify.reply_button"), callback_data=CaseReplyStart(case_id=case_id).pack())]])
    return await to_resident(repo, review, author, f"ask:{number}", now, key="notify.ask", markup=markup,
                             question=html.escape(question))


async def extended(repo: Repositories, review: Review, author: User, due: str, reason: str, now: datetime) -> bool:
    return await to_resident(repo, review, author, "extended", now, key="notify.extended", due=due,
                             reason=html.escape(reason))


async def blocked_delivery(repo: Repositories, admin: int, row: OutboxMessage, error: str, now: datetime) -> None:
    l10n = translator()[None]
    text = l10n("admin.blocked", row=row.id, kind=row.kind, chat=row.chat_id, error=html.escape(error[:300]))
    await outbox.enqueue(repo, chat_id=admin, kind="admin", now=now, text=text, dedupe_key=f"blocked:{row.id}:{admin}")


async def cannot_post(repo: Repositories, admins: list[int], chat_id: int, reason: str, now: datetime) -> None:
    l10n = translator()[None]
    day = now.date().isoformat()
    for admin in admins:
        await outbox.enqueue(repo, chat_id=admin, kind="admin", now=now,
                             dedupe_key=f"cannot-post:{chat_id}:{day}:{admin}",
                             text=l10n("admin.cannot_post", chat=chat_id, reason=html.escape(reason[:300])))
