"""Catch-alls, tried last: unexpected input, stale buttons, and errors users cannot cause."""

from __future__ import annotations

import contextlib
import logging

from aiogram import Bot, Router
from aiogram.dispatcher.middlewares.user_context import EVENT_FROM_USER_KEY
from aiogram.filters import Filter
from aiogram.types import CallbackQuery, ErrorEvent, Message

from bot.filters import PrivateChat
from bot.l10n import L10n, Translator
from bot.services.access import MembershipUnknown
from bot.unit_of_work import InfrastructureUnavailable

log = logging.getLogger(__name__)


class CausedByTheUpdate(Filter):
    """Not an outage: those stay unhandled, so the update is not confirmed and comes back (bot/unit_of_work.py)."""

    async def __call__(self, event: ErrorEvent) -> bool:
        return not isinstance(event.exception, InfrastructureUnavailable)


def make_router() -> Router:
    router = Router(name="errors")

    @router.message(PrivateChat())
    async def unexpected_input(message: Message, l10n: L10n) -> None:
        await message.answer(l10n("errors.unexpected_input"))

    @router.edited_message(PrivateChat())
    async def edited_message(message: Message, l10n: L10n) -> None:
        # Edits cannot change what was already recorded (a submitted review, an answer to the office): say so, and
        # how to correct it, instead of a hint about buttons that leaves the person thinking the edit counted.
        await message.answer(l10n("flow.edit_not_applied"))

    @router.callback_query()
    async def stale_button(query: CallbackQuery, l10n: L10n) -> None:
        await query.answer(l10n("errors.stale_button"), show_alert=True)

    @router.errors(CausedByTheUpdate())
    async def unexpected_error(event: ErrorEvent, bot: Bot, translator: Translator, **data: object) -> None:
        update = event.update
        person = data.get(EVENT_FROM_USER_KEY)
        # Telegram not answering who the person is in the chat (getChatMember) is no bug of ours: a warning, and the
        # person told so and to try again, as the office's own buttons and commands are.
        outage = isinstance(event.exception, MembershipUnknown)
        # Who it was stays out of the log (a resident's Telegram id is personal data): the update_id finds them.
        if outage:
            log.warning("update %s: Telegram did not say who pressed or wrote (getChatMember)", update.update_id)
        else:
            log.error("update %s failed", update.update_id, exc_info=event.exception)
        l10n = translator[translator.pick(getattr(person, "language_code", None))]
        key = "errors.membership_unknown" if outage else "errors.generic"
        message = update.message or (update.callback_query.message if update.callback_query else None)
        chat = message.chat if message else None
        private = chat is not None and chat.type == "private"
        if update.callback_query is not None and private:
            # The failed tries' answers were dropped with their transactions (defer_button_answers): stop the spinner.
            with contextlib.suppress(Exception):
                await update.callback_query.answer()
        try:
            if private:
                await bot.send_message(chat.id, l10n(key))  # a message stays; an alert goes away
            elif update.callback_query is not None:
                await update.callback_query.answer(l10n(key), show_alert=True)
        except Exception:  # the apology itself must never take the bot down
            log.exception("could not tell user about the failure of update %s", update.update_id)

    return router
