"""Builders of real aiogram Update objects (validated like incoming JSON) for feeding a Dispatcher."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from aiogram.types import (
    ChatMemberAdministrator,
    ChatMemberBanned,
    ChatMemberLeft,
    ChatMemberMember,
    ChatMemberOwner,
    ChatMemberRestricted,
    Message,
    Update,
)

Json = dict[str, Any]

_MEMBER_TYPES: dict[str, Any] = {
    "creator": ChatMemberOwner,
    "administrator": ChatMemberAdministrator,
    "member": ChatMemberMember,
    "restricted": ChatMemberRestricted,
    "left": ChatMemberLeft,
    "kicked": ChatMemberBanned,
}


def required_flags(model: Any, is_true: Callable[[str], bool] = lambda name: False) -> dict[str, bool]:
    """Required boolean fields of a Bot API type: read from aiogram so new API flags need no edit here."""
    return {
        name: is_true(name)
        for name, field in model.model_fields.items()
        if field.is_required() and field.annotation is bool
    }


def chat_member(user: Json, status: str) -> Json:
    """ChatMember JSON for a status: admins may do everything, restricted members nothing."""
    if status not in _MEMBER_TYPES:
        raise ValueError(f"unknown chat member status {status!r}; use one of {sorted(_MEMBER_TYPES)}")
    model = _MEMBER_TYPES[status]

    def is_true(name: str) -> bool:
        if status == "administrator":
            return name.startswith("can_") and name != "can_be_edited"
        return status == "restricted" and name == "is_member"

    member = {"status": status, "user": user, **required_flags(model, is_true)}
    if "until_date" in model.model_fields:
        member["until_date"] = 0  # Telegram's "forever"
    return member


def as_json(message: Message | Json) -> Json:
    """Bot API JSON of a message, so typed and raw messages can be nested into new updates."""
    if isinstance(message, Message):
        return message.model_dump(mode="json", by_alias=True, exclude_none=True)
    return message


class UpdateFactory:
    """Hands out increasing ids and keeps a default person, so a test only says what differs.

    Pass the session's counter (``message_ids=session.message_ids``) whenever the bot also sends
    messages: in Telegram user and bot messages share one id sequence per chat.
    """

    def __init__(
        self,
        *,
        user_id: int = 1001,
        first_name: str = "Айгуль",
        language_code: str = "ru",
        message_ids: Iterator[int] | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.update_ids = itertools.count(1)
        self.message_ids = message_ids if message_ids is not None else itertools.count(1)
        self._serials = itertools.count(1)  # file ids, callback ids, media groups
        self.now = now or (lambda: datetime.now(UTC))
        self.default_user = self.user(user_id, first_name=first_name, language_code=language_code)

    # -- building blocks (Bot API JSON) --

    def user(
        self,
        user_id: int,
        *,
        first_name: str = "Айгуль",
        username: str | None = None,
        language_code: str | None = "ru",
        is_bot: bool = False,
    ) -> Json:
        user = {"id": user_id, "is_bot": is_bot, "first_name": first_name}
        return _drop_none({**user, "username": username, "language_code": language_code})

    def chat(
        self,
        chat_id: int | None = None,
        *,
        user: Json | None = None,
        chat_type: str | None = None,
        title: str | None = None,
    ) -> Json:
        """A private chat with ``user`` by default; a negative id makes a group (-100… a supergroup)."""
        user = user or self.default_user
        chat_id = user["id"] if chat_id is None else chat_id
        if chat_id > 0:
            private = {"id": chat_id, "type": "private", "first_name": user["first_name"]}
            return _drop_none({**private, "username": user.get("username")})
        chat_type = chat_type or ("supergroup" if str(chat_id).startswith("-100") else "group")
        return {"id": chat_id, "type": chat_type, "title": title or f"Group {chat_id}"}

    def message(
        self, *, user: Json | None = None, chat: Json | None = None, message_id: int | None = None, **content: Any
    ) -> Json:
        user = user or self.default_user
        return _drop_none(
            {
                "message_id": message_id or next(self.message_ids),
                "date": self.timestamp(),
                "chat": chat or self.chat(user=user),
                "from": user,
                **content,
            }
        )

    def file(self, kind: str, **fields: Any) -> Json:
        """File JSON with fresh ids; ``fields`` may override them."""
        serial = next(self._serials)
        return {"file_id": f"{kind}-{serial}", "file_unique_id": f"u-{kind}-{serial}", **_drop_none(fields)}

    def timestamp(self) -> int:
        return int(self.now().timestamp())

    def update(self, **event: Any) -> Update:
        return Update.model_validate({"update_id": next(self.update_ids), **event})

    # -- messages --

    def text(self, text: str, **where: Any) -> Update:
        """A text message; a leading /command gets its bot_command entity as Telegram adds it."""
        entities = None
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            entities = [{"type": "bot_command", "offset": 0, "length": len(command.encode("utf-16-le")) // 2}]
        return self.update(message=self.message(text=text, entities=entities, **where))

    def photo(
        self,
        *,
        file_size: int = 1024,
        caption: str | None = None,
        media_group_id: str | None = None,
        file_id: str | None = None,
        file_unique_id: str | None = None,
        **where: Any,
    ) -> Update:
        """A photo as Telegram sends it: a small thumbnail first, the full size last."""
        thumb = self.file("photo", width=90, height=68, file_size=max(1, file_size // 16))
        full = self.file(
            "photo", file_id=file_id, file_unique_id=file_unique_id, width=1280, height=960, file_size=file_size
        )
        return self.update(
            message=self.message(photo=[thumb, full], caption=caption, media_group_id=media_group_id, **where)
        )

    def video(
        self,
        *,
        file_size: int = 4096,
        duration: int = 5,
        caption: str | None = None,
        media_group_id: str | None = None,
        **where: Any,
    ) -> Update:
        video = self.file(
            "video", width=1280, height=720, duration=duration, mime_type="video/mp4", file_size=file_size
        )
        return self.update(message=self.message(video=video, caption=caption, media_group_id=media_group_id, **where))

    def album(
        self,
        kinds: Sequence[str] = ("photo", "photo"),
        *,
        file_sizes: Sequence[int] | None = None,
        caption: str | None = None,
        captions: Sequence[str | None] | None = None,
        **where: Any,
    ) -> list[Update]:
        """One update per item sharing a media_group_id; Telegram puts the album caption on the first, and an item
        captioned of its own in the client carries that caption (`captions`, one per item)."""
        group_id = f"album-{next(self._serials)}"
        sizes = file_sizes or [1024] * len(kinds)
        captions = captions or [caption, *[None] * (len(kinds) - 1)]
        builders = {"photo": self.photo, "video": self.video}
        return [
            builders[kind](file_size=size, caption=item_caption, media_group_id=group_id, **where)
            for kind, size, item_caption in zip(kinds, sizes, captions, strict=True)
        ]

    def voice(self, *, file_size: int = 2048, duration: int = 3, caption: str | None = None, **where: Any) -> Update:
        voice = self.file("voice", duration=duration, mime_type="audio/ogg", file_size=file_size)
        return self.update(message=self.message(voice=voice, caption=caption, **where))

    def audio(self, *, file_size: int = 4096, duration: int = 30, file_name: str = "recording.mp3",
              caption: str | None = None, **where: Any) -> Update:
        """An audio file (a call or dictaphone recording sent as music, not as a voice message)."""
        audio = self.file("audio", duration=duration, mime_type="audio/mpeg", file_name=file_name, file_size=file_size)
        return self.update(message=self.message(audio=audio, caption=caption, **where))

    def video_note(self, *, file_size: int = 4096, duration: int = 10, **where: Any) -> Update:
        """A round video message (no caption: Telegram does not allow one)."""
        note = self.file("video_note", length=240, duration=duration, file_size=file_size)
        return self.update(message=self.message(video_note=note, **where))

    def document(
        self,
        *,
        file_name: str = "scan.pdf",
        mime_type: str = "application/pdf",
        file_size: int = 2048,
        caption: str | None = None,
        **where: Any,
    ) -> Update:
        document = self.file("document", file_name=file_name, mime_type=mime_type, file_size=file_size)
        return self.update(message=self.message(document=document, caption=caption, **where))

    def animation(self, *, file_size: int = 2048, **where: Any) -> Update:
        """A GIF: Telegram converts it to MP4 and sends it as both ``animation`` and ``document``."""
        gif = self.file("animation", file_name="animation.gif.mp4", mime_type="video/mp4", file_size=file_size)
        animation = {**gif, "width": 320, "height": 240, "duration": 2}
        return self.update(message=self.message(animation=animation, document=gif, **where))

    def sticker(self, *, emoji: str = "🙂", file_size: int = 512, **where: Any) -> Update:
        sticker = self.file(
            "sticker", type="regular", width=512, height=512, is_animated=False, is_video=False,
            emoji=emoji, file_size=file_size,
        )  # fmt: skip
        return self.update(message=self.message(sticker=sticker, **where))

    def contact(self, phone_number: str, *, first_name: str | None = None, **where: Any) -> Update:
        """The sender's own contact (the "share my phone" button), so user_id is the sender's."""
        user = where.get("user") or self.default_user
        contact = {"phone_number": phone_number, "first_name": first_name or user["first_name"], "user_id": user["id"]}
        return self.update(message=self.message(contact=contact, **where))

    def location(self, latitude: float, longitude: float, **where: Any) -> Update:
        return self.update(message=self.message(location={"latitude": latitude, "longitude": longitude}, **where))

    def edited_message(self, message_id: int, text: str, **where: Any) -> Update:
        edited = self.message(message_id=message_id, text=text, edit_date=self.timestamp(), **where)
        return self.update(edited_message=edited)

    # -- other events --

    def callback_query(self, data: str, *, message: Message | Json | None = None, user: Json | None = None) -> Update:
        """A button press; chat_instance is stable per chat as in Telegram."""
        user = user or self.default_user
        query: Json = {"id": f"cq-{next(self._serials)}", "from": user, "data": data}
        if message is not None:
            query["message"] = as_json(message)
        chat_id = query["message"]["chat"]["id"] if message is not None else user["id"]
        return self.update(callback_query={**query, "chat_instance": f"ci{chat_id}"})

    def inline_query(
        self, query: str, *, offset: str = "", chat_type: str = "sender", user: Json | None = None
    ) -> Update:
        inline = {"id": f"iq-{next(self._serials)}", "from": user or self.default_user, "query": query}
        return self.update(inline_query={**inline, "offset": offset, "chat_type": chat_type})

    def my_chat_member(
        self,
        bot_user: Json,
        *,
        old: str = "member",
        new: str = "kicked",
        user: Json | None = None,
        chat: Json | None = None,
    ) -> Update:
        """The bot's own membership changed; the defaults are "the person blocked the bot"."""
        user = user or self.default_user
        change = {
            "chat": chat or self.chat(user=user),
            "from": user,
            "date": self.timestamp(),
            "old_chat_member": chat_member(bot_user, old),
            "new_chat_member": chat_member(bot_user, new),
        }
        return self.update(my_chat_member=change)


    def chat_member(self, chat_id: int, user_id: int, *, old: str = "member", new: str = "left",
                    by: Json | None = None) -> Update:
        """Someone's membership of a group changed (Telegram sends these to a bot that is an administrator there)."""
        member = self.user(user_id)
        change = {
            "chat": {"id": chat_id, "type": "supergroup", "title": "Group"},
            "from": by or member,
            "date": self.timestamp(),
            "old_chat_member": chat_member(member, old),
            "new_chat_member": chat_member(member, new),
        }
        return self.update(chat_member=change)


def _drop_none(data: Json) -> Json:
    return {key: value for key, value in data.items() if value is not None}
