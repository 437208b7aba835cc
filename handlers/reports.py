"""/stats and /export in the prosecutor's chat: a period's figures with the chart, and the spreadsheet of reviews."""

from __future__ import annotations

import asyncio
from datetime import datetime

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, Message

from bot.cases import cards as alerts
from bot.config import Settings
from bot.filters import InChat
from bot.services import exports, report_chart, reports
from bot.services.access import Memberships, ProsecutorAccess
from storage.repositories import Repositories


def make_router(settings: Settings, memberships: Memberships | None = None) -> Router:
    router = Router(name="reports")
    router.message.filter(InChat(settings.prosecutor.chat_id))
    access = ProsecutorAccess(settings.prosecutor.chat_id, settings.prosecutor.membership_cache_seconds, memberships)
    l10n = alerts.chat_l10n(settings)

    async def period_asked(message: Message, command: CommandObject, now: datetime) -> reports.Period | None:
        try:
            return reports.parse_period(command.args, reports.local_today(now, settings.zone))
        except reports.PeriodError:
            await message.reply(l10n("reports.usage", max=reports.MAX_PERIOD_DAYS))
            return None

    @router.message(Command("stats"))
    async def stats(message: Message, command: CommandObject, bot: Bot, repo: Repositories, now: datetime) -> None:
        # Like /cases: someone who is not a member gets no answer at all.
        if message.from_user is None or not await access.allowed(bot, repo, message.from_user.id):
            return
        period = await period_asked(message, command, now)
        if period is None:
            return
        report = await reports.city_report(repo, settings, period)
        await message.answer(report.text)
        png = await asyncio.to_thread(report_chart.render_chart, report.chart)
        await message.answer_photo(BufferedInputFile(png, filename=exports.export_file_name(period, "png")),
                                   caption=report.chart.caption)

    @router.message(Command("export"))
    async def export(message: Message, command: CommandObject, bot: Bot, repo: Repositories, now: datetime) -> None:
        if message.from_user is None or not await access.allowed(bot, repo, message.from_user.id):
            return
        period = await period_asked(message, command, now)
        if period is None:
            return
        table = await exports.export_table(repo, settings, period)
        if not table.rows:
            # A file with only the header row looks like a failed export; say plainly there was nothing.
            await message.answer(l10n("reports.export_empty", period=period.label()))
            return
        data = await asyncio.to_thread(exports.xlsx_bytes, table)
        await message.answer_document(BufferedInputFile(data, filename=exports.export_file_name(period, "xlsx")),
                                      caption=l10n("reports.export_caption", period=period.label(),
                                                   count=l10n.number(len(table.rows), 0)))

    return router
