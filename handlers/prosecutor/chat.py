"""What every part of the office's chat shares: who may act there, and a case's change shown on its card."""

from __future__ import annotations

import logging
from datetime import datetime

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, Message
from aiogram.types import User as TelegramUser

from bot.cases import actions, lists
from bot.cases import cards as alerts
from bot.cases.cards import CaseView
from bot.config import Settings
from bot.services.access import Memberships, MembershipUnknown, ProsecutorAccess
from bot.services.outbox import shown_card
from storage.repositories import Repositories

log = logging.getLogger(__name__)

WORDS_LIMIT = 3500  # the resident's notice adds a header; Telegram takes 4096 characters
# The bot's messages in the chat that are about one case: its card, its evidence, and what the resident sent or did
# (answers, additions, a withdrawal). A Reply on any of them is talk about that case, never a word to the resident.
CASE_MESSAGE_KINDS = ("alert", "alert_media", "resident_reply")


async def refresh_card(bot: Bot, view: CaseView, text: str, settings: Settings, chat_id: int,
                       message_id: int) -> None:
    """Show the new status and assignee on the card (`text` from lists.office_card_text, read before the commit);
    an old or deleted card is not worth failing for."""
    l10n = alerts.chat_l10n(settings)
    try:
        await bot.edit_message_text(text, chat_id=chat_id, message_id=message_id,
                                    reply_markup=alerts.card_keyboard(view, l10n))
    except TelegramBadRequest as error:
        log.info("card %s of %s not edited: %s", message_id, view.review.reference, error)


def drop_buttons(message: Message | None):
    async def drop() -> None:
        if message is None:
            return
        try:
            await message.edit_reply_markup(reply_markup=None)
        except TelegramBadRequest:
            pass  # already without buttons, or too old to edit

    return drop


class OfficeChat:
    """The office's chat as one router sees it: its id, its language, and one access check (with its cache) for
    every handler in it."""

    def __init__(self, settings: Settings, memberships: Memberships | None = None) -> None:
        self.settings = settings
        self.access = ProsecutorAccess(settings.prosecutor.chat_id, settings.prosecutor.membership_cache_seconds,
                                       memberships)
        self.l10n = alerts.chat_l10n(settings)
        self.office = settings.prosecutor.chat_id

    async def allowed(self, bot: Bot, repo: Repositories, person: TelegramUser, now: datetime) -> bool:
        """A member of the office's chat or the role; remembered by name for cards and history."""
        if not await self.access.allowed(bot, repo, person.id):
            return False
        await actions.remember_person(repo, person.id, person.full_name, person.username, now)
        return True

    async def pressed_in_office(self, query: CallbackQuery, bot: Bot, repo: Repositories, now: datetime) -> bool:
        # Buttons act only under the office's own messages: a copy forwarded elsewhere, or forged data, does nothing.
        in_office_chat = query.message is not None and query.message.chat.id == self.office
        try:
            if not in_office_chat or not await self.allowed(bot, repo, query.from_user, now):
                await query.answer(self.l10n("alert.refused"), show_alert=True)
                return False
        except MembershipUnknown:
            await query.answer(self.l10n("alert.membership_unknown"), show_alert=True)
            return False
        return True

    async def card_message_of(self, repo: Repositories, view: CaseView) -> int | None:
        # A case still shown only inside a burst list has no card to edit: the list is not turned into one.
        office = self.office
        return shown_card(await repo.outbox.card_of(view.review.id, office)) if office is not None else None

    async def refresh_known(self, bot: Bot, repo: Repositories, view: CaseView, *also: int | None):
        """What to send after the commit (never a query then): the case's card, and the message the button was
        under if it is another, show the change."""
        targets = {message_id for message_id in (await self.card_message_of(repo, view), *also) if message_id}
        text = await lists.office_card_text(repo, view, self.l10n, self.settings) if targets else ""
        settings, office = self.settings, self.office

        async def send() -> None:
            for message_id in sorted(targets):
                await refresh_card(bot, view, text, settings, office, message_id)

        return send
