"""What the bot tells the resident about their case, outside a conversation: always through the outbox, in the
language the appeal was written in."""

from __future__ import annotations

import html
from datetime import datetime

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.callbacks import CaseReplyStart, ResidentVerdict, VerdictAction
from bot.l10n import translator
from bot.services import outbox, privacy
from storage.models import Review, User
from storage.repositories import Repositories


async def to_resident(repo: Repositories, review: Review, author: User, event: str, now: datetime, *,
                      key: str, markup: InlineKeyboardMarkup | None = None, attachment: dict | None = None,
                      occurrence: int | None = None, **values: str) -> bool:
    """One message per event and review (the dedupe key; `occurrence` tells a second answer from the first), in
    the language the appeal was written in; an attachment (a document or photo) follows it."""
    if author.telegram_id is None:  # the person asked to be forgotten: nobody to tell
        return False
    if not privacy.may_notify(review, author, event):  # consent withdrawn: only what the law requires goes out
        return False
    text = resident_text(review, key, **values)
    dedupe = f"notify:{review.reference}:{event}" + (f":{occurrence}" if occurrence else "")
    queued = await outbox.enqueue(repo, chat_id=author.telegram_id, kind="notify", now=now, text=text,
                                  reply_markup=markup, review_id=review.id, dedupe_key=dedupe)
    if attachment:
        caption = translator()[review.language]("case_notify.attachment", reference=review.reference)
        await outbox.enqueue(repo, chat_id=author.telegram_id, kind="notify", now=now, review_id=review.id,
                             media=[{"kind": attachment["kind"], "file_id": attachment["file_id"],
                                     "caption": caption}], dedupe_key=f"{dedupe}:file")
    return queued


# Complaints and violation reports are appeals (обращение, өтініш), not reviews: a notice worded for a review has
# an appeal's wording beside it, under the same key with "_appeal" added.
APPEAL_KINDS = ("complaint", "violation")


def resident_text(review: Review, key: str, **values: str) -> str:
    """A notice exactly as the resident reads it (the office's preview shows the same text)."""
    l10n = translator()[review.language]
    if review.kind in APPEAL_KINDS and l10n.has(f"{key}_appeal"):
        key = f"{key}_appeal"
    return l10n(key, reference=review.reference, **values)


def verdict_keyboard(review: Review, case_id: int, number: int) -> InlineKeyboardMarkup:
    """Under an answer: the resident says it settles the matter, or disagrees (which reopens the case)."""
    l10n = translator()[review.language]
    return InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text=l10n("case_notify.settled_button"), callback_data=ResidentVerdict(
            case_id=case_id, action=VerdictAction.SETTLED, answer=number).pack()),
        InlineKeyboardButton(text=l10n("case_notify.disagree_button"), callback_data=ResidentVerdict(
            case_id=case_id, action=VerdictAction.DISAGREE, answer=number).pack())]])


async def status_changed(repo: Repositories, review: Review, author: User, now: datetime) -> bool:
    l10n = translator()[review.language]
    return await to_resident(repo, review, author, f"status:{review.status}", now, key="notify.status",
                             status=l10n(f"status.{review.status}"))


async def answered(repo: Repositories, review: Review, author: User, answer: str, now: datetime, *,
                   case_id: int | None = None, number: int = 1, attachment: dict | None = None) -> bool:
    """The office's answer, with "That settles it / I disagree" under it; a later answer (after the resident
    disagreed) is a new notice, not a repeat of the first."""
    markup = verdict_keyboard(review, case_id, number) if case_id is not None else None
    return await to_resident(repo, review, author, "answer", now, key="notify.answer", markup=markup,
                             attachment=attachment, occurrence=number if number > 1 else None,
                             answer=html.escape(answer))


async def forwarded(repo: Repositories, review: Review, author: User, destination: str, day: str,
                    now: datetime, body: str = "clinic", term: int = 0) -> bool:
    """Where the appeal went and when (APPK art. 76: the applicant is told of each forwarding). One notice per body
    it went to (`body`, a forward_bodies id or "clinic") in each term (`term`, the case's reopenings: a repeated
    appeal forwarded is a forwarding of its own): to the polyclinic, then to the police, are two; the same
    polyclinic pressed again is not a new forwarding."""
    event = "status:forwarded" if body == "clinic" else f"status:forwarded:{body}"
    return await to_resident(repo, review, author, event, now, key="case_notify.forwarded",
                             destination=destination, day=day, occurrence=term or None)


async def rejected(repo: Repositories, review: Review, author: User, reason: str, now: datetime) -> bool:
    return await to_resident(repo, review, author, "rejected", now, key="notify.rejected", reason=html.escape(reason))


async def asked_for_more(repo: Repositories, review: Review, author: User, case_id: int, question: str,
                         number: int, now: datetime) -> bool:
    l10n = translator()[review.language]
    markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
        text=l10n("notify.reply_button"), callback_data=CaseReplyStart(case_id=case_id).pack())]])
    return await to_resident(repo, review, author, f"ask:{number}", now, key="notify.ask", markup=markup,
                             question=html.escape(question))


async def extended(repo: Repositories, review: Review, author: User, due: str, reason: str, now: datetime, *,
                   term: int = 0) -> bool:
    """The applicant is told of every extension: a repeated appeal (`term`, the case's reopenings) may be extended
    once too, and its notice is not the first term's."""
    return await to_resident(repo, review, author, "extended", now, key="notify.extended", due=due,
                             reason=html.escape(reason), occurrence=term or None)
