"""All routers in the order they are tried: features first, catch-alls last."""

from __future__ import annotations

from aiogram import Router

from bot.config import Settings
from handlers import (
    admin,
    case_reply,
    clinic,
    errors,
    feedback,
    inline,
    moderation,
    my_reviews,
    privacy,
    prosecutor,
    reports,
    start,
    top,
    urgency_decisions,
)


def get_routers(settings: Settings) -> list[Router]:
    # top before feedback: its start links to pages (page-doctor-<id>) must win over the feedback deep links.
    return [prosecutor.make_router(settings), urgency_decisions.make_router(settings),
            reports.make_router(settings), clinic.make_router(settings),
            admin.make_router(settings), moderation.make_router(settings), top.make_router(settings),
            inline.make_router(settings),
            feedback.make_router(settings), start.make_router(settings),
            my_reviews.make_router(settings), privacy.make_router(settings), case_reply.make_router(settings),
            feedback.make_fallback_router(settings), errors.make_router()]
