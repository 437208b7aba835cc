"""Evidence files: checked against the download limit and kept in the media store with their SHA-256."""

from __future__ import annotations

import logging
from pathlib import Path

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.types import Message

from bot.config import Settings
from bot.l10n import L10n
from bot.services import drafts, media

log = logging.getLogger(__name__)


async def receive(bot: Bot, message: Message, settings: Settings, l10n: L10n) -> media.Evidence | None:
    """Check the file against the download limit and keep a copy in the media store."""
    evidence = media.evidence_of(message)
    limit_mb = settings.telegram.max_download_mb
    if evidence is None:
        return None
    if evidence.size is not None and evidence.size > limit_mb * 1024 * 1024:
        await message.answer(l10n("evidence.too_big", limit=limit_mb))
        return None
    try:
        await media.store(bot, evidence, Path(settings.media.dir))
    except TelegramBadRequest as error:
        if "too big" in str(error).lower():
            await message.answer(l10n("evidence.too_big", limit=limit_mb))
            return None
        raise
    except (TelegramAPIError, OSError):
        # Kept by file_id; the copy is fetched again before the review is stored.
        log.warning("evidence %s not downloaded yet", evidence.file_unique_id, exc_info=True)
    return evidence


async def fetch_missing_evidence(bot: Bot, draft: drafts.Draft, media_dir: Path) -> None:
    for item in [*draft.get("media", []), *([draft["voice"]] if draft.get("voice") else [])]:
        if item.get("sha256") is None:
            try:
                stored = await media.store(bot, media.Evidence(**item), media_dir)
                item.update(stored.as_dict())
            except (TelegramAPIError, OSError):
                log.warning("evidence %s still not downloaded", item.get("file_unique_id"), exc_info=True)
