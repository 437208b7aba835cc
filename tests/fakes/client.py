"""A person talking to the bot through the real dispatcher, and what the bot answered them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiogram import methods
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.methods import AnswerCallbackQuery, TelegramMethod
from aiogram.types import InlineKeyboardButton, Message, MessageId, Update

from bot.unit_of_work import WebhookReply
from tests.fakes.session import RecordingSession, UnsupportedMethodError, button_rows
from tests.fakes.updates import UpdateFactory

if TYPE_CHECKING:
    from aiogram import Bot, Dispatcher

_FILE_PATHS = {
    "photo": "photos/{}.jpg", "video": "videos/{}.mp4", "voice": "voice/{}.oga", "document": "documents/{}",
    "animation": "animations/{}.mp4", "sticker": "stickers/{}.webp", "audio": "music/{}",
    "video_note": "video_notes/{}.mp4",
}  # fmt: skip


_METHODS = {method.__api_method__.lower(): method for method in vars(methods).values()
            if isinstance(method, type) and isinstance(getattr(method, "__api_method__", None), str)}


def call_from_webhook_answer(body: dict[str, Any], bot: Bot) -> TelegramMethod[Any]:
    """The call Telegram makes from a webhook answer, read back from the JSON the endpoint writes (bot/webhook.py)."""
    params = json.loads(json.dumps(body))
    method = _METHODS[params.pop("method").lower()]
    return method.model_validate(params, context={"bot": bot}).as_(bot)


@dataclass
class Reply:
    """Everything the bot did while handling one update (or one album)."""

    calls: list[TelegramMethod[Any]] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)  # sent or edited, as Telegram shows them
    texts: list[str] = field(default_factory=list)  # text or caption of each of those, in order
    buttons: list[list[str]] = field(default_factory=list)  # of the last message that had a keyboard
    callback_answers: list[str | None] = field(default_factory=list)  # None: answered without text
    handled: bool = False  # some handler took the update (aiogram did not return UNHANDLED)

    @property
    def text(self) -> str | None:
        return self.texts[-1] if self.texts else None


class UserClient:
    """One person (and their chat) talking to the bot; feeds updates and reads what they now see."""

    def __init__(
        self,
        dp: Dispatcher,
        bot: Bot,
        session: RecordingSession,
        *,
        user_id: int = 1001,
        first_name: str = "Айгуль",
        language_code: str = "ru",
        username: str | None = None,
        chat_id: int | None = None,
        factory: UpdateFactory | None = None,
    ) -> None:
        self.dp, self.bot, self.session = dp, bot, session
        # By webhook (a test sets it), the answer to each update's request may carry a call, which Telegram then makes
        # (kept here).
        self.by_webhook = False
        self.webhook_answers: list[TelegramMethod[Any]] = []
        self.factory = factory or UpdateFactory()
        # Users and the bot share one message id sequence in Telegram; a separate counter would let a
        # person's message and a bot message claim the same id in the same chat.
        self.factory.message_ids = session.message_ids
        self.user = self.factory.user(user_id, first_name=first_name, username=username, language_code=language_code)
        self.chat = self.factory.chat(chat_id, user=self.user)
        self.chat_id: int = self.chat["id"]

    # -- what the person does --

    async def send(self, text: str) -> Reply:
        return await self.feed(self.factory.text(text, **self._where))

    async def command(self, name: str, args: str | None = None) -> Reply:
        return await self.send(f"/{name.lstrip('/')}" + (f" {args}" if args else ""))

    async def photo(self, data: bytes = b"\xff\xd8\xff\xe0fake-jpeg", caption: str | None = None) -> Reply:
        update = self.factory.photo(file_size=len(data), caption=caption, **self._where)
        return await self.feed(self._with_files(update, data))

    async def album(self, files: Sequence[bytes | tuple[str, bytes]], caption: str | None = None,
                    captions: Sequence[str | None] | None = None) -> Reply:
        """Several photos (or ("video", bytes) items) sent at once; one Reply for the whole album. `caption` goes on
        the first item, as Telegram puts an album's caption; `captions` gives each item its own."""
        items = [item if isinstance(item, tuple) else ("photo", item) for item in files]
        updates = self.factory.album(
            [kind for kind, _ in items], file_sizes=[len(data) for _, data in items], caption=caption,
            captions=captions, **self._where
        )
        return await self._feed_all(
            [self._with_files(update, data) for update, (_, data) in zip(updates, items, strict=True)]
        )

    async def video(self, data: bytes = b"\x00\x00\x00\x18ftypmp42fake", caption: str | None = None) -> Reply:
        update = self.factory.video(file_size=len(data), caption=caption, **self._where)
        return await self.feed(self._with_files(update, data))

    async def voice(self, data: bytes = b"OggSfake-voice", duration: int = 3, caption: str | None = None) -> Reply:
        update = self.factory.voice(file_size=len(data), duration=duration, caption=caption, **self._where)
        return await self.feed(self._with_files(update, data))

    async def audio(self, data: bytes = b"ID3fake-audio", caption: str | None = None) -> Reply:
        update = self.factory.audio(file_size=len(data), caption=caption, **self._where)
        return await self.feed(self._with_files(update, data))

    async def video_note(self, data: bytes = b"\x00\x00\x00\x18ftypmp42note") -> Reply:
        update = self.factory.video_note(file_size=len(data), **self._where)
        return await self.feed(self._with_files(update, data))

    async def document(
        self,
        data: bytes = b"%PDF-1.4 fake",
        file_name: str = "scan.pdf",
        mime_type: str = "application/pdf",
        caption: str | None = None,
    ) -> Reply:
        update = self.factory.document(
            file_name=file_name, mime_type=mime_type, file_size=len(data), caption=caption, **self._where
        )
        return await self.feed(self._with_files(update, data))

    async def contact(self, phone_number: str) -> Reply:
        return await self.feed(self.factory.contact(phone_number, **self._where))

    async def location(self, latitude: float, longitude: float) -> Reply:
        return await self.feed(self.factory.location(latitude, longitude, **self._where))

    async def sticker(self) -> Reply:
        return await self.feed(self._with_files(self.factory.sticker(file_size=9, **self._where), b"RIFFfake"))

    async def gif(self, data: bytes = b"\x00\x00\x00\x18ftypmp42gif") -> Reply:
        return await self.feed(self._with_files(self.factory.animation(file_size=len(data), **self._where), data))

    async def edit(self, message_id: int, text: str) -> Reply:
        """The person edits a message they sent earlier."""
        return await self.feed(self.factory.edited_message(message_id, text, **self._where))

    async def press(self, button_text: str, message: Message | int | None = None) -> Reply:
        """Press the inline button showing ``button_text`` (exact, else a unique substring).

        Looks in ``message`` if given, else in the latest bot message here that has an inline keyboard,
        always as the chat shows it now (after edits).
        """
        current = self._keyboard_message(message)
        buttons = [button for row in current.reply_markup.inline_keyboard for button in row]  # type: ignore[union-attr]
        matches = [b for b in buttons if b.text == button_text] or [b for b in buttons if button_text in b.text]
        shown = f"buttons of message {current.message_id} ({_preview(current)}): {_button_texts(buttons)}"
        assert matches, f"no button {button_text!r}; {shown}"
        assert len(matches) == 1, f"{button_text!r} matches several buttons {_button_texts(matches)}; {shown}"
        button = matches[0]
        assert button.callback_data is not None, (
            f"button {button.text!r} sends nothing to the bot ({_action(button)}); {shown}"
        )
        return await self.feed(self.factory.callback_query(button.callback_data, message=current, user=self.user))

    async def press_data(self, data: str, message: Message | int | None = None) -> Reply:
        """A callback with arbitrary data: a forged, stale or outdated-version button."""
        if message is None:
            bot_messages = self.bot_messages()
            with_keyboard = [m for m in bot_messages if m.reply_markup]
            current = (with_keyboard or bot_messages or [None])[-1]
        else:
            current = self._current(message)
        if current is None:  # nothing from the bot yet: a message from an earlier run of the bot
            bot_user = self.session.bot_user(self.bot)
            stale = self.factory.message(user=bot_user, chat=self.chat, text="…")
            return await self.feed(self.factory.callback_query(data, message=stale, user=self.user))
        return await self.feed(self.factory.callback_query(data, message=current, user=self.user))

    async def inline(self, query: str, offset: str = "") -> Reply:
        return await self.feed(self.factory.inline_query(query, offset=offset, user=self.user))

    async def feed(self, update: Update) -> Reply:
        """Feed any update through the dispatcher and summarise what the bot did meanwhile."""
        return await self._feed_all([update])

    # -- what the person sees --

    def bot_messages(self) -> list[Message]:
        """The bot's messages in this chat as shown now: edits applied, deleted ones gone."""
        return [
            m for m in self.session.history(self.chat_id) if m.from_user is not None and m.from_user.id == self.bot.id
        ]

    @property
    def last_message(self) -> Message | None:
        messages = self.bot_messages()
        return messages[-1] if messages else None

    @property
    def last_text(self) -> str | None:
        message = self.last_message
        return None if message is None else message.text or message.caption

    def last_buttons(self) -> list[list[str]]:
        """Button rows (inline or reply keyboard) of the latest bot message here."""
        message = self.last_message
        return [] if message is None else button_rows(self.session.keyboard(self.chat_id, message.message_id))

    def all_texts(self) -> list[str]:
        """Texts and captions of the bot's messages here, oldest first, as shown now."""
        return [text for m in self.bot_messages() if (text := m.text or m.caption) is not None]

    # -- internals --

    @property
    def _where(self) -> dict[str, Any]:
        return {"user": self.user, "chat": self.chat}

    async def _feed_all(self, updates: list[Update]) -> Reply:
        start, unsupported = len(self.session.calls), len(self.session.unsupported)
        handled = False
        for update in updates:
            for message in (update.message, update.edited_message):
                if message is not None:  # so the bot can copy or forward what people sent
                    self.session.remember(message, replace=message is update.edited_message)
            answer = WebhookReply(self.bot) if self.by_webhook else None
            extra = {} if answer is None else {"webhook_reply": answer}
            handled |= await self.dp.feed_update(self.bot, update, **extra) is not UNHANDLED
            if answer is not None and answer.body is not None:
                call = call_from_webhook_answer(answer.body, self.bot)
                self.webhook_answers.append(call)
                await self.bot(call)  # as Telegram makes it, once it has the answer
        # An errors router may have swallowed the UnsupportedMethodError; a test setup gap must still fail.
        if missing := self.session.unsupported[unsupported:]:
            raise UnsupportedMethodError(f"the bot called methods RecordingSession cannot answer: {missing}")
        return self._summarise(start, handled)

    def _summarise(self, start: int, handled: bool) -> Reply:
        reply = Reply(handled=handled)
        for call, outcome in zip(self.session.calls[start:], self.session.outcomes[start:], strict=True):
            reply.calls.append(call)
            if isinstance(outcome, BaseException):
                continue
            if isinstance(call, AnswerCallbackQuery):
                reply.callback_answers.append(call.text)
            markup = getattr(call, "reply_markup", None)
            if markup is not None and (rows := button_rows(markup.model_dump(exclude_none=True))):
                reply.buttons = rows
            for message in self._messages_of(call, outcome):
                reply.messages.append(message)
                if (text := message.text or message.caption) is not None:
                    reply.texts.append(text)
            if outcome is True and getattr(call, "inline_message_id", None) and getattr(call, "text", None):
                reply.texts.append(call.text)  # type: ignore[attr-defined]  # inline-mode edits return True
        return reply

    def _messages_of(self, call: TelegramMethod[Any], outcome: Any) -> list[Message]:
        if isinstance(outcome, Message):
            return [outcome]
        if isinstance(outcome, list):
            return [item for item in outcome if isinstance(item, Message)]
        if isinstance(outcome, MessageId):  # copyMessage: Telegram returns only the id
            chat_id = self.session.chat_id_of(call.chat_id)  # type: ignore[attr-defined]
            copy = self.session.message(chat_id, outcome.message_id)
            return [copy] if copy is not None else []
        return []

    def _current(self, message: Message | int) -> Message:
        """A message as the chat shows it now (a Message object may predate later edits)."""
        if isinstance(message, int):
            current = self.session.message(self.chat_id, message)
            assert current is not None, f"no message {message} in chat {self.chat_id}"
            return current
        return self.session.message(message.chat.id, message.message_id) or message

    def _keyboard_message(self, message: Message | int | None) -> Message:
        if message is not None:
            current = self._current(message)
            assert current.reply_markup is not None, (
                f"message {current.message_id} ({_preview(current)}) has no inline keyboard"
            )
            return current
        bot_messages = self.bot_messages()
        with_keyboard = [m for m in bot_messages if m.reply_markup is not None]
        assert with_keyboard, (
            f"no bot message with an inline keyboard in chat {self.chat_id}; "
            f"the bot's messages: {[_preview(m) for m in bot_messages]}"
        )
        return with_keyboard[-1]

    def _with_files(self, update: Update, data: bytes) -> Update:
        """Register the bytes of what the person sent, so getFile and downloads return exactly them."""
        message = update.message
        assert message is not None
        if message.photo:  # smaller sizes are smaller files, so downloading the wrong size shows
            for size in message.photo[:-1]:
                self.session.add_file(size.file_id, data[: size.file_size], f"photos/{size.file_id}.jpg")
        kinds = ("photo", "video", "voice", "document", "animation", "sticker", "audio", "video_note")
        for kind in kinds:
            media = getattr(message, kind)
            if isinstance(media, list):
                media = media[-1]
            if media is not None:
                file_name = getattr(media, "file_name", None)
                path = _FILE_PATHS[kind].format(media.file_id + (f"_{file_name}" if file_name else ""))
                stored = self.session.add_file(media.file_id, data, path, media.file_unique_id)
                stored.file_name = file_name
        return update


def _preview(message: Message) -> str:
    text = message.text or message.caption or f"<{message.content_type}>"
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _button_texts(buttons: list[InlineKeyboardButton]) -> list[str]:
    return [button.text for button in buttons]


def _action(button: InlineKeyboardButton) -> str:
    fields = button.model_dump(exclude_none=True, exclude={"text", "style", "icon_custom_emoji_id"})
    return ", ".join(f"{key}={value!r}" for key, value in fields.items()) or "no action"
