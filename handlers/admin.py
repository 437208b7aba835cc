"""Administrators, in a private chat: one-time codes that link a clinic's group, and staff roles (/grant, /revoke)."""

from __future__ import annotations

import html
from datetime import datetime

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot.config import Settings
from bot.filters import GroupChat, PrivateChat
from bot.keyboards import name_in
from bot.l10n import L10n
from bot.services import clinics
from bot.services.access import is_admin
from storage.models import Role
from storage.repositories import Repositories

# Sent in a group (the office's, a clinic's), these get one line saying where they work, instead of silence.
PRIVATE_COMMANDS = ("grant", "revoke", "linkclinic", "moderation")


def make_router(settings: Settings) -> Router:
    router = Router(name="admin")
    router.message.filter(PrivateChat())

    async def refused(message: Message, repo: Repositories, l10n: L10n) -> bool:
        """Anyone but an administrator is told the command is not theirs (and nothing changes)."""
        if await is_admin(repo, settings.admins, message.from_user.id):
            return False
        await message.answer(l10n("admin.refused"))
        return True

    @router.message(Command("linkclinic"))
    async def link_clinic(message: Message, command: CommandObject, repo: Repositories, l10n: L10n,
                          now: datetime) -> None:
        if await refused(message, repo, l10n):
            return
        if not command.args:
            await message.answer(l10n("admin.link_usage"))
            return
        clinic = await repo.clinics.find(command.args)
        if clinic is None:
            await message.answer(l10n("admin.clinic_not_found", reference=html.escape(command.args.strip())))
            return
        code = await clinics.make_link_code(repo, clinic, message.from_user.id, now, settings)
        await message.answer(l10n("admin.link_code", clinic=html.escape(name_in(clinic, l10n.language)),
                                  code=clinics.shown_code(code.code), hours=settings.clinics.link_code_hours,
                                  until=code.expires_at.astimezone(settings.zone).strftime("%d.%m.%Y %H:%M")))

    async def change_role(message: Message, command: CommandObject, repo: Repositories, l10n: L10n,
                          now: datetime, *, granting: bool) -> None:
        if await refused(message, repo, l10n):
            return
        try:
            given = await clinics.parse_grant(repo, command.args)
        except clinics.Refused as refusal:
            await message.answer(l10n(refusal.key, **refusal.values))
            return
        act = clinics.grant if granting else clinics.revoke
        changed = await act(repo, given, message.from_user.id, now)
        if not granting and given.role == Role.ADMIN and given.telegram_id in settings.admins:
            # The role the settings give outlives any revocation (a stored grant, if any, went above): saying
            # "done" would leave them administering while the sender believes otherwise.
            await message.answer(l10n("admin.admin_by_settings", telegram_id=given.telegram_id))
            return
        scope = (l10n("admin.scope_clinic", clinic=html.escape(name_in(given.clinic, l10n.language)))
                 if given.clinic else l10n("admin.scope_city"))
        verb = "granted" if granting else "revoked"
        key = f"admin.{verb}" if changed else f"admin.not_{verb}"
        await message.answer(l10n(key, telegram_id=given.telegram_id, role=l10n(f"admin.role_{given.role.value}"),
                                  scope=scope))

    @router.message(Command("grant"))
    async def grant(message: Message, command: CommandObject, repo: Repositories, l10n: L10n,
                    now: datetime) -> None:
        await change_role(message, command, repo, l10n, now, granting=True)

    @router.message(Command("revoke"))
    async def revoke(message: Message, command: CommandObject, repo: Repositories, l10n: L10n,
                     now: datetime) -> None:
        await change_role(message, command, repo, l10n, now, granting=False)

    return router


def make_group_router() -> Router:
    router = Router(name="admin_in_group")
    router.message.filter(GroupChat())

    @router.message(Command(*PRIVATE_COMMANDS))
    async def only_in_private(message: Message, l10n: L10n) -> None:
        await message.reply(l10n("admin.only_in_private"))

    return router
