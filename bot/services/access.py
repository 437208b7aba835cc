"""Who may act on alerts: members of the prosecutor's chat (checked with Telegram, cached) or the role."""

from __future__ import annotations

import time

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import ChatMemberAdministrator, ChatMemberMember, ChatMemberOwner, ChatMemberRestricted

from storage.models import Role
from storage.repositories import Repositories


class ProsecutorAccess:
    def __init__(self, chat_id: int | None, cache_seconds: int) -> None:
        self.chat_id = chat_id
        self.cache_seconds = cache_seconds
        self._cache: dict[int, tuple[float, bool]] = {}

    async def allowed(self, bot: Bot, repo: Repositories, user_id: int) -> bool:
        if await repo.staff.has_role(user_id, Role.PROSECUTOR):
            return True
        return await self._member(bot, user_id)

    async def _member(self, bot: Bot, user_id: int) -> bool:
        if self.chat_id is None:
            return False
        cached = self._cache.get(user_id)
        if cached and time.monotonic() - cached[0] < self.cache_seconds:
            return cached[1]
        try:
            member = await bot.get_chat_member(self.chat_id, user_id)
        except TelegramAPIError:
            return False  # not cached: Telegram may answer next time
        # A restricted member is still a member of the office's chat; one who left or was banned is not.
        is_member = isinstance(member, ChatMemberOwner | ChatMemberAdministrator | ChatMemberMember) or (
            isinstance(member, ChatMemberRestricted) and member.is_member)
        self._cache[user_id] = (time.monotonic(), is_member)
        return is_member
