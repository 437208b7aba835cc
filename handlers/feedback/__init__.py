"""Leaving feedback: the resident's conversation from polyclinic to a stored review with its evidence.

One module per step of the conversation, in its order: entry (start, resume, cancel, back), held (what is written
to a review given back after a day away), place (the
polyclinic), target (the doctor), kind (kind and category, stars, criteria), description (text, voice and
files, and when it happened), preview (the last choices and the submission). step holds what they share;
files keeps evidence in the media store.
"""

from __future__ import annotations

from datetime import datetime

from aiogram import Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import Message

from bot.config import Settings
from bot.filters import PrivateChat
from bot.l10n import L10n
from bot.states import ReviewForm
from handlers.feedback import description, entry, held, kind, place, preview, target
from handlers.feedback.files import fetch_missing_evidence, receive
from handlers.feedback.step import FromThisReview, hint, place_of, step_maker
from storage.models import User
from storage.repositories import Repositories

__all__ = ["fetch_missing_evidence", "make_fallback_router", "make_router", "place_of", "receive"]


def make_router(settings: Settings) -> Router:
    router = Router(name="feedback")
    private = Router(name="feedback-private")
    private.message.filter(PrivateChat())
    private.callback_query.filter(PrivateChat(), FromThisReview())
    router.include_router(private)
    held.register(private, settings)
    entry.register(private, router, settings)
    for module in (place, target, kind, description, preview):
        module.register(private, settings)
    return router


def make_fallback_router(settings: Settings) -> Router:
    """Tried after the command routers, so /cancel, /help and /start still work in the middle of a review."""
    router = Router(name="feedback-fallback")
    router.message.filter(PrivateChat())
    router.edited_message.filter(PrivateChat())
    in_flow = StateFilter(ReviewForm)
    step_of = step_maker(settings)

    # Anything else while a review is in progress: a hint, and the step stays where it was.
    @router.message(in_flow)
    async def unexpected(message: Message, state: FSMContext, repo: Repositories, l10n: L10n,
                         user: User | None, now: datetime) -> None:
        await hint(step_of(message, state, repo, l10n, user, now))

    @router.edited_message(in_flow)
    async def edited(message: Message, state: FSMContext, repo: Repositories, l10n: L10n,
                     user: User | None) -> None:
        await message.answer(l10n("flow.edit_not_applied"))

    entry.register_fallback(router, settings)
    return router
