"""Who may act: members of the prosecutor's chat or the role (alerts), clinic staff (answers), admins, moderators."""

from __future__ import annotations

import time
from collections import OrderedDict

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.types import ChatMemberAdministrator, ChatMemberMember, ChatMemberOwner, ChatMemberRestricted

from storage.models import Role
from storage.repositories import Repositories


class MembershipUnknown(Exception):
    """Telegram did not answer getChatMember (network, 5xx, flood wait): whether the person is a member is not
    known, which is not the same as "not a member" (an officer told they may not act would believe it)."""


class Memberships:
    """Answers of getChatMember, trusted for `seconds` and forgotten at once when Telegram reports a change
    (a `chat_member` update: someone removed from the office's chat loses access now, not a minute later).
    Bounded: the oldest answers go first. One instance serves every router of a dispatcher."""

    def __init__(self, seconds: float = 60, most: int = 10_000) -> None:
        self.seconds, self.most = seconds, most
        self._known: OrderedDict[tuple[int, int], tuple[float, bool]] = OrderedDict()

    def get(self, chat_id: int, user_id: int) -> bool | None:
        known = self._known.get((chat_id, user_id))
        if known is None or time.monotonic() - known[0] >= self.seconds:
            return None
        return known[1]

    def put(self, chat_id: int, user_id: int, is_member: bool) -> None:
        self._known[(chat_id, user_id)] = (time.monotonic(), is_member)
        self._known.move_to_end((chat_id, user_id))
        while len(self._known) > self.most:
            self._known.popitem(last=False)

    def forget(self, chat_id: int, user_id: int) -> None:
        self._known.pop((chat_id, user_id), None)

    def __len__(self) -> int:
        return len(self._known)

    async def is_member(self, bot: Bot, chat_id: int, user_id: int) -> bool:
        cached = self.get(chat_id, user_id)
        if cached is not None:
            return cached
        try:
            member = await bot.get_chat_member(chat_id, user_id)
        except (TelegramNetworkError, TelegramServerError, TelegramRetryAfter) as error:
            raise MembershipUnknown from error  # not cached: Telegram may answer next time
        except TelegramAPIError:
            return False  # Telegram's own answer (no such user in the chat, the bot removed from it): not cached
        # A restricted member is still a member; one who left or was banned is not.
        is_member = isinstance(member, ChatMemberOwner | ChatMemberAdministrator | ChatMemberMember) or (
            isinstance(member, ChatMemberRestricted) and member.is_member)
        self.put(chat_id, user_id, is_member)
        return is_member


class ProsecutorAccess:
    def __init__(self, chat_id: int | None, cache_seconds: int, memberships: Memberships | None = None) -> None:
        self.chat_id = chat_id
        self.memberships = memberships if memberships is not None else Memberships(cache_seconds)

    async def allowed(self, bot: Bot, repo: Repositories, user_id: int) -> bool:
        if await repo.staff.has_role(user_id, Role.PROSECUTOR):
            return True
        return await self._member(bot, user_id)

    async def _member(self, bot: Bot, user_id: int) -> bool:
        if self.chat_id is None:
            return False
        return await self.memberships.is_member(bot, self.chat_id, user_id)


async def is_admin(repo: Repositories, admins: list[int], user_id: int) -> bool:
    """An administrator: listed in the settings (`admins`) or holding the admin role."""
    return user_id in admins or await repo.staff.has_role(user_id, Role.ADMIN)


async def is_moderator(repo: Repositories, admins: list[int], user_id: int) -> bool:
    """Who may work the moderation queue: moderators and administrators."""
    return await repo.staff.has_role(user_id, Role.MODERATOR) or await is_admin(repo, admins, user_id)


class ClinicAccess:
    """Who may answer for a polyclinic: holders of the clinic-staff role for that clinic (in any chat with the
    bot), or members of a chat linked to that clinic, pressing in that chat (getChatMember, cached): whom a
    clinic lets into its own group is the clinic's decision. Anyone else, staff of other clinics included, is not."""

    def __init__(self, cache_seconds: int, memberships: Memberships | None = None) -> None:
        self.memberships = memberships if memberships is not None else Memberships(cache_seconds)

    async def may_answer(self, bot: Bot, repo: Repositories, user_id: int, clinic_id: int, chat_id: int) -> bool:
        if await repo.staff.has_role(user_id, Role.CLINIC_STAFF, clinic_id):
            return True
        linked = await repo.clinics.chat(chat_id)
        if linked is None or not linked.active or linked.clinic_id != clinic_id:
            return False
        return await self._member(bot, chat_id, user_id)

    async def _member(self, bot: Bot, chat_id: int, user_id: int) -> bool:
        return await self.memberships.is_member(bot, chat_id, user_id)
