"""A text too long for what a staff member, an officer or a moderator is writing (an answer, a public text): a long
paste arrives as several messages (Telegram cuts at 4,096 characters), and the rest of one refused is refused with
it, never taken alone, which would publish or send its last fragment as the whole."""

from __future__ import annotations

from aiogram.fsm.context import FSMContext
from aiogram.types import Message

from bot.services import drafts


async def refused_as_too_long(state: FSMContext, message: Message) -> None:
    """Remember the refused text, for the rest of it that may follow."""
    data = await state.get_data()
    earlier = data.get("refused_part") or {}
    sent_at = message.date.timestamp()
    total = (earlier.get("total", 0) if drafts.continues_split(earlier, sent_at) else 0) + len(message.text)
    await state.update_data(refused_part={"length": len(message.text), "at": sent_at, "total": total})


async def rest_of_refused(state: FSMContext, message: Message) -> int | None:
    """The characters of the whole refused text when this message is its rest (remembered in turn), else None."""
    refused = (await state.get_data()).get("refused_part")
    if not drafts.continues_split(refused, message.date.timestamp()):
        return None
    await refused_as_too_long(state, message)
    return (await state.get_data())["refused_part"]["total"]


async def refused_length(state: FSMContext, message: Message, limit: int) -> int | None:
    """The length to tell when the message's text is refused: over `limit`, or the rest of a text refused a moment
    ago (then the whole text's); None when it is taken."""
    whole = await rest_of_refused(state, message)
    if whole is not None:
        return whole
    if len(message.text.strip()) > limit:
        await refused_as_too_long(state, message)
        return len(message.text.strip())
    return None
