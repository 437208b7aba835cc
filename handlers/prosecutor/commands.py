"""The office's commands: /cases (the lists, page by page), /case (one case, or a person's appeals by phone) and
/help; and a command from someone Telegram could not be asked about, told so."""

from __future__ import annotations

from datetime import datetime

from aiogram import Bot, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import Command, CommandObject, ExceptionTypeFilter
from aiogram.types import CallbackQuery, ErrorEvent, Message

from bot.callbacks import CaseListV1
from bot.cases import lists
from bot.cases.deadlines import local_date
from bot.services.access import MembershipUnknown
from handlers.prosecutor.chat import OfficeChat
from storage.repositories import Repositories


def register(router: Router, office_chat: OfficeChat) -> None:
    settings, l10n, office = office_chat.settings, office_chat.l10n, office_chat.office
    allowed, pressed_in_office = office_chat.allowed, office_chat.pressed_in_office

    @router.errors(ExceptionTypeFilter(MembershipUnknown))
    async def membership_unknown(event: ErrorEvent) -> None:
        """A command in the office's chat (/cases, /case, /help, /stats, /export) from someone Telegram could not be
        asked about just now: told so, as a press is, instead of the silence of an error only logged."""
        message = event.update.message
        if message is None or message.chat.id != office:
            raise SkipHandler  # another chat's: the catch-all's generic apology
        await message.answer(l10n("alert.membership_unknown"))

    @router.message(Command("help"))
    async def office_help(message: Message, bot: Bot, repo: Repositories, now: datetime) -> None:
        if not await allowed(bot, repo, message.from_user, now):
            return
        await message.answer(l10n("case_office.help",
                                  days=l10n.count("working_days", settings.prosecutor.remind_days_before)))

    @router.message(Command("cases"))
    async def list_cases(message: Message, command: CommandObject, bot: Bot, repo: Repositories,
                         now: datetime) -> None:
        if not await allowed(bot, repo, message.from_user, now):
            return
        text, markup = await lists.list_page(repo, settings, command.args, 0, message.from_user.id,
                                             local_date(now, settings.zone))
        await message.answer(text, reply_markup=markup)

    @router.callback_query(CaseListV1.filter())
    async def list_turned(query: CallbackQuery, callback_data: CaseListV1, bot: Bot, repo: Repositories,
                          now: datetime) -> None:
        if not await pressed_in_office(query, bot, repo, now):
            return
        await query.answer()
        text, markup = await lists.list_page(repo, settings, callback_data.query.replace("=", ":"),
                                             max(callback_data.page, 0), query.from_user.id,
                                             local_date(now, settings.zone))
        await query.message.edit_text(text, reply_markup=markup)

    @router.message(Command("case"))
    async def one_case(message: Message, command: CommandObject, bot: Bot, repo: Repositories,
                       now: datetime) -> None:
        if not await allowed(bot, repo, message.from_user, now):
            return
        if not command.args:
            await message.answer(l10n("cases.usage"))
            return
        if lists.phone_digits(command.args):  # a phone number names a person, not one case: their appeals, listed
            text, markup = await lists.list_page(repo, settings, f"all {command.args}", 0, message.from_user.id,
                                                 local_date(now, settings.zone))
            await message.answer(text, reply_markup=markup)
            return
        text, markup = await lists.one_case(repo, settings, command.args, local_date(now, settings.zone))
        await message.answer(text, reply_markup=markup)
