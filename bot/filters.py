"""Small awaitable filters (bare magic filters run in a thread per evaluation in aiogram 3.31)."""

from __future__ import annotations

from aiogram.enums import ChatType
from aiogram.filters import Filter
from aiogram.types import CallbackQuery, TelegramObject


class PrivateChat(Filter):
    async def __call__(self, event: TelegramObject) -> bool:
        # A button under an old message comes with an InaccessibleMessage, which still names its chat.
        message = event.message if isinstance(event, CallbackQuery) else event
        chat = getattr(message, "chat", None)
        return chat is not None and chat.type == ChatType.PRIVATE
