"""Small awaitable filters (bare magic filters run in a thread per evaluation in aiogram 3.31)."""

from __future__ import annotations

from typing import Any

from aiogram.enums import ChatType
from aiogram.filters import Filter
from aiogram.types import CallbackQuery, Message, TelegramObject

from bot.services.media import evidence_of


def _chat_type(event: TelegramObject) -> str | None:
    # A button under an old message comes with an InaccessibleMessage, which still names its chat.
    message = event.message if isinstance(event, CallbackQuery) else event
    chat = getattr(message, "chat", None)
    return chat.type if chat is not None else None


class PrivateChat(Filter):
    async def __call__(self, event: TelegramObject) -> bool:
        return _chat_type(event) == ChatType.PRIVATE


class GroupChat(Filter):
    async def __call__(self, event: TelegramObject) -> bool:
        return _chat_type(event) in (ChatType.GROUP, ChatType.SUPERGROUP)


class InChat(Filter):
    """A message in one chat (the office's): None, a chat not configured, matches nothing."""

    def __init__(self, chat_id: int | None) -> None:
        self.chat_id = chat_id

    async def __call__(self, event: TelegramObject) -> bool:
        chat = getattr(event, "chat", None)
        return self.chat_id is not None and chat is not None and chat.id == self.chat_id


class HasText(Filter):
    """Plain text that is not a command (commands are routed by Command filters)."""

    async def __call__(self, message: Message) -> bool:
        return bool(message.text) and not message.text.startswith("/")


class HasVoice(Filter):
    async def __call__(self, message: Message) -> bool:
        return message.voice is not None


class HasContact(Filter):
    async def __call__(self, message: Message) -> bool:
        return message.contact is not None


class HasLocation(Filter):
    async def __call__(self, message: Message) -> bool:
        return message.location is not None and message.venue is None


class HasEvidence(Filter):
    """A file that can be evidence: photo, video, document, voice, audio, video note or animation (no sticker)."""

    async def __call__(self, message: Message) -> bool:
        return evidence_of(message) is not None


class LeftoverKeyboardButton(Filter):
    """The Back or Cancel of a reply keyboard (the phone keyboard), in any language; they arrive as text, and may
    be pressed long after the keyboard's own step, below another conversation. Gives `keyboard_button`: "back" or
    "cancel"."""

    async def __call__(self, message: Message, translator: Any) -> bool | dict[str, str]:
        text = (message.text or "").strip()
        for button in ("back", "cancel"):
            if text and text in translator.every(f"flow.{button}"):
                return {"keyboard_button": button}
        return False
