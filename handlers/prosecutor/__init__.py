"""The prosecutor's chat: card buttons, deliberate answers (write → preview → Send), internal notes, take-over,
forwarding, /cases, /case and /help; only members of the chat or holders of the role may act.

One router, its handlers registered in the order they are tried: cards (the case card's buttons), drafts (the
officer's answer: words, preview, Send), notes (a reply to a case's message, kept as a note), commands (/cases,
/case, /help). chat holds what they share: who may act, and a case's change shown on its card.
"""

from __future__ import annotations

from aiogram import Router

from bot.config import Settings
from bot.filters import InChat
from bot.services.access import Memberships
from handlers.prosecutor import cards, commands, drafts, notes
from handlers.prosecutor.chat import OfficeChat


def make_router(settings: Settings, memberships: Memberships | None = None) -> Router:
    router = Router(name="prosecutor")
    # Every message handler here is for the office's chat: one check of the router spares every other chat's
    # messages (all of the residents') the checks of each handler's filters.
    router.message.filter(InChat(settings.prosecutor.chat_id))
    office_chat = OfficeChat(settings, memberships)
    # In the order they were written in one module, which is the order they are tried: where filters overlap (a
    # reply typed while a draft waits), the draft takes the words and a note is offered only if it does not.
    for part in (cards, drafts, notes, commands):
        part.register(router, office_chat)
    return router
