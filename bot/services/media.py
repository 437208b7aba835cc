"""Evidence store: downloads a Telegram file into the media folder under its SHA-256, with size and type."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import tempfile
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.types import Message, TelegramObject, Update

from bot.telegram_limits import CAPTION_LIMIT

log = logging.getLogger(__name__)

_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")

# Telegram names evidence by kind; these are the kinds a review accepts. A recording is the usual proof of a
# bribe, so voice messages, audio files, round video notes and GIF-like animations are evidence as well.
KINDS = ("photo", "video", "document", "voice", "audio", "video_note", "animation")
EXTENSIONS = {"photo": ".jpg", "video": ".mp4", "voice": ".ogg", "audio": ".mp3", "video_note": ".mp4",
              "animation": ".mp4"}


@dataclass
class Evidence:
    """One evidence file as the draft keeps it (JSON-safe) until the review is stored."""

    kind: str
    file_id: str
    file_unique_id: str
    size: int | None
    mime: str | None
    file_name: str | None = None
    sha256: str | None = None
    stored_path: str | None = None
    caption: str | None = None  # what the resident wrote under the file

    def __post_init__(self) -> None:
        # A client may send any bytes as a file name: NUL is refused by PostgreSQL and by the file system.
        if self.file_name is not None:
            self.file_name = _UNSAFE_NAME.sub("", self.file_name)[:255] or None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def evidence_of(message: Message) -> Evidence | None:
    """The evidence a message carries, with its caption, or None (stickers, text, locations...)."""
    evidence = _file_of(message)
    if evidence is not None and message.caption:
        evidence.caption = message.caption[:CAPTION_LIMIT]
    return evidence


def _file_of(message: Message) -> Evidence | None:
    if message.photo:
        largest = message.photo[-1]  # Telegram lists sizes smallest first
        return Evidence("photo", largest.file_id, largest.file_unique_id, largest.file_size, "image/jpeg")
    if message.video:
        video = message.video
        return Evidence("video", video.file_id, video.file_unique_id, video.file_size, video.mime_type,
                        video.file_name)
    if message.animation:
        # Telegram also puts a GIF into `document`; it is kept as what the resident sent.
        animation = message.animation
        return Evidence("animation", animation.file_id, animation.file_unique_id, animation.file_size,
                        animation.mime_type, animation.file_name)
    if message.document:
        document = message.document
        return Evidence("document", document.file_id, document.file_unique_id, document.file_size,
                        document.mime_type, document.file_name)
    if message.voice:
        voice = message.voice
        return Evidence("voice", voice.file_id, voice.file_unique_id, voice.file_size, voice.mime_type or "audio/ogg")
    if message.audio:
        audio = message.audio
        return Evidence("audio", audio.file_id, audio.file_unique_id, audio.file_size, audio.mime_type,
                        audio.file_name)
    if message.video_note:
        note = message.video_note
        return Evidence("video_note", note.file_id, note.file_unique_id, note.file_size, "video/mp4")
    return None


async def store(bot: Bot, evidence: Evidence, media_dir: Path) -> Evidence:
    """Download into media_dir/<first two hex>/<sha256><ext>; identical files are kept once.

    A file fetched moments ago by `prefetch` (before the update's transaction opened) is not fetched again."""
    if (known := DOWNLOADED.get(media_dir, evidence.file_unique_id)) is not None:
        evidence.sha256, evidence.size, evidence.stored_path = known
        return evidence
    file = await bot.get_file(evidence.file_id)
    temporary = await asyncio.to_thread(_new_temporary, media_dir)
    try:
        await bot.download_file(file.file_path, destination=temporary)
        suffix = Path(evidence.file_name or file.file_path or "").suffix.lower() or EXTENSIONS.get(evidence.kind, "")
        suffix = "." + "".join(c for c in suffix if c.isascii() and c.isalnum()) if suffix else ""
        # Hashing and moving a file of up to 20 MB would stall every other chat: do it off the event loop.
        evidence.sha256, evidence.size, evidence.stored_path = await asyncio.to_thread(
            _keep, temporary, media_dir, suffix[:10])
        DOWNLOADED.put(media_dir, evidence.file_unique_id, (evidence.sha256, evidence.size, evidence.stored_path))
    finally:
        await asyncio.to_thread(_discard, temporary)
    return evidence


def _new_temporary(media_dir: Path) -> Path:
    media_dir.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=media_dir, prefix=".incoming-")
    os.close(handle)
    return Path(name)


def _keep(temporary: Path, media_dir: Path, suffix: str) -> tuple[str, int, str]:
    digest = hashlib.sha256()
    size = 0
    with temporary.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 16), b""):
            digest.update(chunk)
            size += len(chunk)
    sha256 = digest.hexdigest()
    relative = Path(sha256[:2]) / f"{sha256}{suffix}"
    (media_dir / relative).parent.mkdir(parents=True, exist_ok=True)
    os.replace(temporary, media_dir / relative)
    return sha256, size, relative.as_posix()


def _discard(temporary: Path) -> None:
    temporary.unlink(missing_ok=True)


class DownloadedFiles:
    """Which Telegram files are already in a media store (bounded: the latest `most`). The store is content-
    addressed, so sharing this across chats is safe; an entry whose file was removed is ignored."""

    def __init__(self, most: int = 4096) -> None:
        self.most = most
        self._known: OrderedDict[tuple[str, str], tuple[str, int, str]] = OrderedDict()

    def get(self, media_dir: Path, file_unique_id: str) -> tuple[str, int, str] | None:
        known = self._known.get((str(media_dir), file_unique_id))
        if known is None or not (media_dir / known[2]).exists():
            return None
        return known

    def put(self, media_dir: Path, file_unique_id: str, stored: tuple[str, int, str]) -> None:
        self._known[(str(media_dir), file_unique_id)] = stored
        while len(self._known) > self.most:
            self._known.popitem(last=False)


DOWNLOADED = DownloadedFiles()


class EvidencePrefetch(BaseMiddleware):
    """Outer middleware that runs BEFORE the update's unit of work: a file a person sends in a private chat is
    downloaded (within the limit) while no transaction and no lock is held, so a 20 MB download over a slow line
    holds up nobody else (on SQLite the update's transaction holds the one write lock). The handler then finds
    the copy already stored. A failed prefetch changes nothing: the handler downloads as before."""

    def __init__(self, media_dir: Path, limit_mb: int) -> None:
        self.media_dir, self.limit = media_dir, limit_mb * 1024 * 1024

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        message = event.message if isinstance(event, Update) else None
        if message is not None and message.chat.type == "private":
            evidence = evidence_of(message)
            if evidence is not None and (evidence.size or 0) <= self.limit:
                try:
                    await store(data["bot"], evidence, self.media_dir)
                except Exception as error:
                    log.info("prefetch of update %s's file failed (%s)", event.update_id, type(error).__name__)
        return await handler(event, data)
