"""A clinic's linked group chat following Telegram's upgrade of it to a supergroup. Apart from bot.services.clinics,
which queues through the outbox, because the outbox's relay moves a link too (when Telegram refuses the old id)."""

from __future__ import annotations

from datetime import datetime

from storage.repositories import Repositories


async def chat_moved(repo: Repositories, old_chat_id: int, new_chat_id: int, now: datetime) -> bool:
    """A linked group upgraded to a supergroup keeps its link under the new id: its posts go there and its
    administrators answer there (with the old id they were refused under their own clinic's posts)."""
    moved = await repo.clinics.chat_moved(old_chat_id, new_chat_id)
    if moved is not None:
        await repo.audit.record(now, None, "clinic.chat_moved", "clinic", moved.clinic_id, old_chat=old_chat_id,
                                chat=new_chat_id)
    return moved is not None
