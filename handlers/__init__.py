"""All routers in the order they are tried: features first, catch-alls last."""

from __future__ import annotations

from aiogram import Router

from bot.config import Settings
from bot.filters import InChat
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
    side_conversation,
    start,
    top,
    urgency_decisions,
)


def get_routers(settings: Settings) -> list[Router]:
    # One cache of chat memberships for every router, so that a chat_member update clears it for all of them.
    memberships = Memberships(min(settings.prosecutor.membership_cache_seconds,
                                  settings.clinics.membership_cache_seconds))
    # top before feedback: its start links to pages (page-doctor-<id>) must win over the feedback deep links.
    return [office_routers(settings, memberships), side_conversation.make_exits_router(),
            clinic.make_router(settings, memberships),
            admin.make_router(settings), admin.make_group_router(), moderation.make_router(settings),
            top.make_router(settings), inline.make_router(settings), case_reply.make_question_reply_router(settings),
            my_reviews.make_in_review_router(settings), feedback.make_router(settings), start.make_router(settings),
            my_reviews.make_router(settings), privacy.make_router(settings), case_reply.make_router(settings),
            feedback.make_fallback_router(settings), errors.make_router()]


def office_routers(settings: Settings, memberships: Memberships) -> Router:
    """The first four routers, under one whose only filter spares every other chat's messages (all of the
    residents') a pass through each of them: of these, only the prosecutor's and the reports' routers take messages,
    and both only from the office's chat. Callback queries and membership updates pass to the four as before."""
    office = Router(name="office")
    office.message.filter(InChat(settings.prosecutor.chat_id))
    office.include_routers(membership.make_router(memberships), prosecutor.make_router(settings, memberships),
                           urgency_decisions.make_router(settings, memberships),
                           reports.make_router(settings, memberships))
    return office
