"""The office's "Urgent" / "Not urgent" buttons under alert cards and /case: members only, recorded with who and
when, confirmed once the verdict is stored."""

from __future__ import annotations

import functools
from datetime import datetime

from aiogram import Bot, Router
from aiogram.types import CallbackQuery

from bot.callbacks import UrgencyVerdict, UrgencyVerdictV1
from bot.cases import cards as alerts
from bot.config import Settings
from bot.services import urgency_decisions
from bot.services.access import Memberships, MembershipUnknown, ProsecutorAccess
from bot.unit_of_work import AfterCommit
from storage.repositories import Repositories


def make_router(settings: Settings, memberships: Memberships | None = None) -> Router:
    router = Router(name="urgency_decisions")
    access = ProsecutorAccess(settings.prosecutor.chat_id, settings.prosecutor.membership_cache_seconds, memberships)
    l10n = alerts.chat_l10n(settings)

    @router.callback_query(UrgencyVerdictV1.filter())
    async def verdict_given(query: CallbackQuery, callback_data: UrgencyVerdictV1, bot: Bot, repo: Repositories,
                            now: datetime, after_commit: AfterCommit) -> None:
        in_office_chat = query.message is not None and query.message.chat.id == settings.prosecutor.chat_id
        # Only under the office's own messages, and only by its members: a forwarded copy or forged data does nothing.
        try:
            if not in_office_chat or not await access.allowed(bot, repo, query.from_user.id):
                await query.answer(l10n("alert.refused"), show_alert=True)
                return
        except MembershipUnknown:
            await query.answer(l10n("alert.membership_unknown"), show_alert=True)
            return
        urgent = callback_data.verdict == UrgencyVerdict.URGENT
        try:
            recorded = await urgency_decisions.record_decision(
                repo, case_id=callback_data.case_id, urgent=urgent, by_telegram_id=query.from_user.id,
                by_name=query.from_user.full_name, now=now)
        except urgency_decisions.UnknownCase:
            await query.answer(l10n("cases.unknown"), show_alert=True)
            return
        key = "urgency_decision.recorded_urgent" if urgent else "urgency_decision.recorded_not_urgent"
        text = l10n(key, reference=recorded.reference, name=query.from_user.full_name)
        after_commit(functools.partial(query.answer, text))

    return router
