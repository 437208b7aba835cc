"""All routers in the order they are tried: features first, catch-alls last."""

from __future__ import annotations

from aiogram import Router

from bot.config import Settings
from bot.services.access import Memberships
from handlers import (
    admin,
    case_reply,
    clinic,
    errors,
    feedback,
    inline,
    membership,
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
    # One cache of chat memberships for every router, so that a chat_member update clears it for all of them.
    memberships = Memberships(min(settings.prosecutor.membership_cache_seconds,
                                  settings.clinics.membership_cache_seconds))
    # top before feedback: its start links to pages (page-doctor-<id>) must win over the feedback deep links.
    return [membership.make_router(memberships),
            prosecutor.make_router(settings, memberships), urgency_decisions.make_router(settings, memberships),
            reports.make_router(settings, memberships), clinic.make_router(settings, memberships),
            admin.make_router(settings), moderation.make_router(settings), top.make_router(settings),
            inline.make_router(settings),
            feedback.make_router(settings), start.make_router(settings),
            my_reviews.make_router(settings), privacy.make_router(settings), case_reply.make_router(settings),
            feedback.make_fallback_router(settings), errors.make_router()]
