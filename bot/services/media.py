"""Evidence store: downloads a Telegram file into the media folder under its SHA-256, with size and type."""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from aiogram import Bot
from aiogram.types import Message

# Telegram names evidence by kind; these are the kinds a review accepts. A recording is the usual proof of a
# bribe, so voice messages, audio files, round video notes and GIF-like animations are evidence as well.
KINDS = ("photo", "video", "document", "voice", "audio", "video_note", "animation")
EXTENSIONS = {"photo": ".jpg", "video": ".mp4", "voice": ".ogg", "audio": ".mp3", "video_note": ".mp4",
              "animation": ".mp4"}
CAPTION_CHARS = 1024  # Telegram's own limit on a caption


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

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def evidence_of(message: Message) -> Evidence | None:
    """The evidence a message carries, with its caption, or None (stickers, text, locations...)."""
    evidence = _file_of(message)
    if evidence is not None and message.caption:
        evidence.caption = message.caption[:CAPTION_CHARS]
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
    """Download into media_dir/<first two hex>/<sha256><ext>; identical files are kept once."""
    file = await bot.get_file(evidence.file_id)
    temporary = await asyncio.to_thread(_new_temporary, media_dir)
    try:
        await bot.download_file(file.file_path, destination=temporary)
        suffix = Path(evidence.file_name or file.file_path or "").suffix.lower() or EXTENSIONS.get(evidence.kind, "")
        # Hashing and moving a file of up to 20 MB would stall every other chat: do it off the event loop.
        evidence.sha256, evidence.size, evidence.stored_path = await asyncio.to_thread(
            _keep, temporary, media_dir, suffix[:10])
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
