"""Telegram's reports of membership changes in the office's and the clinics' chats: whoever is removed loses
access at once (the cached answer is dropped; the next button press asks Telegram again)."""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.types import ChatMemberUpdated

from bot.services.access import Memberships

log = logging.getLogger(__name__)


def make_router(memberships: Memberships) -> Router:
    router = Router(name="membership")

    @router.chat_member()
    async def member_changed(event: ChatMemberUpdated) -> None:
        memberships.forget(event.chat.id, event.new_chat_member.user.id)
        log.info("membership in chat %s changed to %s: cached answer dropped", event.chat.id,
                 event.new_chat_member.status)

    return router
