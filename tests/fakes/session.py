"""In-memory Bot API for tests: records typed calls and answers like Telegram, limits and errors included."""

from __future__ import annotations

import html
import itertools
import re
from collections import defaultdict, deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from aiogram.client.session.base import BaseSession
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import TelegramMethod
from aiogram.types import AcceptedGiftTypes, InputFile, Message, URLInputFile
from aiohttp import ClientResponseError, RequestInfo
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from tests.fakes.updates import Json, as_json, chat_member, required_flags

if TYPE_CHECKING:
    from aiogram import Bot

Fake = Callable[["Bot", Json, dict[str, InputFile]], Awaitable[Any]]

# Methods whose only answer is True; everything else needs a fake below or set_result().
_ALWAYS_TRUE = {
    "answerInlineQuery", "setMyCommands", "deleteMyCommands", "sendChatAction", "deleteWebhook", "setWebhook",
    "setChatMenuButton",
}  # fmt: skip
_MEDIA = {
    "sendPhoto": "photo", "sendVideo": "video", "sendDocument": "document", "sendVoice": "voice",
    "sendAudio": "audio", "sendAnimation": "animation", "sendSticker": "sticker", "sendVideoNote": "video_note",
}  # fmt: skip
# What a copied or forwarded message carries over from its source.
_CONTENT = {
    "text", "entities", "caption", "photo", "video", "document", "voice", "audio", "animation", "sticker",
    "video_note", "contact", "location", "venue",
}  # fmt: skip
_BUTTON_ACTIONS = {
    "url", "callback_data", "web_app", "login_url", "switch_inline_query", "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat", "copy_text", "callback_game", "pay",
}  # fmt: skip
_HTML_ENTITIES = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline", "ins": "underline",
    "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough", "span": "spoiler",
    "tg-spoiler": "spoiler", "a": "text_link", "code": "code", "pre": "pre", "blockquote": "blockquote",
    "tg-emoji": "custom_emoji", "tg-time": "date_time",
}  # fmt: skip
_FORMATTED = {"text": ("text", "entities"), "caption": ("caption", "caption_entities")}
_CANT_PARSE = "Bad Request: can't parse entities"
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)


class UnsupportedMethodError(AssertionError):
    """The bot called a method this fake cannot answer: a gap in the test setup, not a bot bug."""


class _ApiError(Exception):
    def __init__(self, description: str, error_code: int = 400) -> None:
        super().__init__(description)
        self.description, self.error_code = description, error_code


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    data: bytes | None  # None: a file_id the bot sent that no test registered
    file_path: str | None
    file_name: str | None = None


@dataclass
class _Failure:
    error_code: int | None  # None means a network failure
    description: str
    retry_after: int | None = None
    where: Callable[[Json], bool] | None = None  # only a call whose params (Bot API JSON) it accepts fails


def button_rows(markup: Json | None) -> list[list[str]]:
    """Visible texts of an inline or reply keyboard (Bot API JSON), row by row."""
    rows = (markup or {}).get("inline_keyboard") or (markup or {}).get("keyboard") or []
    return [[button if isinstance(button, str) else button["text"] for button in row] for row in rows]


def api_name(method: type[TelegramMethod[Any]] | str) -> str:
    return method if isinstance(method, str) else method.__api_method__


class RecordingSession(BaseSession):
    """Stands in for Telegram: every call lands in ``calls`` and gets an answer a real server could give.

    Answers go through ``check_response`` like a real session's, so broken limits and injected
    failures surface as the real aiogram exceptions. It also keeps what each chat shows now
    (messages by id, edited and deleted in place), which UserClient reads.
    """

    def __init__(
        self,
        *,
        bot_name: str = "MedFeedback",
        bot_username: str = "medfeedback_test_bot",
        now: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__()
        self.calls: list[TelegramMethod[Any]] = []
        self.outcomes: list[Any] = []  # parallel to calls: the result, the exception raised, None in flight
        self.files: dict[str, StoredFile] = {}
        self.message_ids: Iterator[int] = itertools.count(1)  # share with UpdateFactory: one id sequence
        self.unsupported: list[str] = []
        self.now = now or (lambda: datetime.now(UTC))
        self.closed = False
        self.bot_name, self.bot_username = bot_name, bot_username
        self._messages: dict[tuple[int, int], Json] = {}  # what each chat shows now, as Bot API JSON
        self._keyboards: dict[tuple[int, int], Json] = {}  # as sent: Message JSON echoes only inline ones
        self._chats: dict[int, Json] = {}
        self._users: dict[int, Json] = {}
        self._members: dict[tuple[int, int], str] = {}
        self._usernames: dict[str, int] = {}
        self._answered: set[str] = set()
        self._failures: defaultdict[str, deque[_Failure]] = defaultdict(deque)
        self._results: dict[str, Any] = {}
        self._serials = itertools.count(1)
        self._fakes: dict[str, Fake] = {
            "getMe": self._get_me,
            "getFile": self._get_file,
            "getChat": self._get_chat,
            "getChatMember": self._get_chat_member,
            "sendMessage": self._send,
            "sendLocation": self._send,
            "sendVenue": self._send,
            "sendContact": self._send,
            **dict.fromkeys(_MEDIA, self._send),
            "sendMediaGroup": self._send_media_group,
            "copyMessage": self._copy,
            "forwardMessage": self._forward,
            "editMessageText": partial(self._edit, field="text"),
            "editMessageCaption": partial(self._edit, field="caption"),
            "editMessageReplyMarkup": partial(self._edit, field=None),
            "deleteMessage": self._delete,
            "answerCallbackQuery": self._answer_callback,
        }

    # -- setup and inspection --

    def add_file(
        self, file_id: str, data: bytes, file_path: str | None = None, file_unique_id: str | None = None
    ) -> StoredFile:
        """Make ``file_id`` known to getFile and its bytes downloadable."""
        stored = StoredFile(file_id, file_unique_id or f"u-{file_id}", data, file_path or f"files/{file_id}")
        self.files[file_id] = stored
        return stored

    def set_chat_member(self, chat_id: int, user_id: int, status: str) -> None:
        chat_member({}, status)  # fail here, not later inside the bot, on a typo
        self._members[chat_id, user_id] = status

    def set_result(self, method: type[TelegramMethod[Any]] | str, result: Any) -> None:
        """Answer ``method`` with ``result`` (Bot API JSON, or a callable of the params) from now on."""
        self._results[api_name(method)] = result

    def fail_next(
        self,
        method: type[TelegramMethod[Any]] | str,
        *,
        error_code: int,
        description: str,
        retry_after: int | None = None,
        times: int = 1,
        where: Callable[[Json], bool] | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail as Telegram would (429, 403, 400, 5xx…); with ``where``,
        the next calls whose params it accepts (``lambda params: params["text"] == ...``), others going through."""
        failure = _Failure(error_code, description, retry_after, where)
        self._failures[api_name(method)].extend([failure] * times)

    def clear_failures(self, method: type[TelegramMethod[Any]] | str) -> None:
        """Forget the failures still queued for ``method`` (an outage that has ended)."""
        self._failures[api_name(method)].clear()

    def fail_next_network(self, method: type[TelegramMethod[Any]] | str, times: int = 1,
                          where: Callable[[Json], bool] | None = None) -> None:
        failure = _Failure(None, "ClientConnectorError: fake network is down", where=where)
        self._failures[api_name(method)].extend([failure] * times)

    def calls_of(self, method_type: type[TelegramMethod[Any]]) -> list[Any]:
        """Every attempt, failed ones included."""
        return [call for call in self.calls if isinstance(call, method_type)]

    def sent_messages(self, chat_id: int | str | None = None) -> list[Any]:
        """The send*/copy/forward calls that succeeded, in order (a retried send appears once)."""
        return [
            call
            for call, outcome in zip(self.calls, self.outcomes, strict=True)
            if _is_send(call.__api_method__)
            and not isinstance(outcome, BaseException)
            and (chat_id is None or call.chat_id == chat_id)
        ]

    def clear(self) -> None:
        """Forget recorded calls; files, chats and pending failures stay (they are the world, not the log)."""
        self.calls.clear()
        self.outcomes.clear()
        self.unsupported.clear()

    def remember(self, message: Message | Json, *, replace: bool = False) -> None:
        """Record a message from a person, so the bot can copy, forward or look it up."""
        data = as_json(message)
        key = (data["chat"]["id"], data["message_id"])
        if key in self._messages and not replace:
            raise AssertionError(
                f"message id {key[1]} is already used in chat {key[0]}: build updates with "
                "UpdateFactory(message_ids=session.message_ids) so people and the bot share one sequence"
            )
        self._messages[key] = data
        self._chats.setdefault(key[0], data["chat"])
        if "from" in data:
            self._users.setdefault(data["from"]["id"], data["from"])

    def message(self, chat_id: int, message_id: int) -> Message | None:
        data = self._messages.get((chat_id, message_id))
        return None if data is None else Message.model_validate(data)

    def history(self, chat_id: int) -> list[Message]:
        """What the chat shows now, oldest first (edits applied, deletions gone)."""
        keys = sorted(key for key in self._messages if key[0] == chat_id)
        return [Message.model_validate(self._messages[key]) for key in keys]

    def keyboard(self, chat_id: int, message_id: int) -> Json | None:
        """The markup a message carries now, reply keyboards included."""
        return self._keyboards.get((chat_id, message_id))

    def bot_user(self, bot: Bot) -> Json:
        return {
            "id": bot.id, "is_bot": True, "first_name": self.bot_name, "username": self.bot_username,
            "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": True,
        }  # fmt: skip

    # -- BaseSession --

    async def close(self) -> None:
        self.closed = True

    async def make_request(self, bot: Bot, method: TelegramMethod[Any], timeout: int | None = None) -> Any:  # noqa: ASYNC109 (BaseSession signature)
        # Reserve the slot first: concurrent calls (gather) must not pair a call with another's outcome.
        index = len(self.calls)
        self.calls.append(method)
        self.outcomes.append(None)
        try:
            self.outcomes[index] = await self._answer(bot, method)
        except BaseException as error:
            self.outcomes[index] = error
            raise
        return self.outcomes[index]

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109 (BaseSession signature)
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        stored = next((f for f in self.files.values() if f.data is not None and url.endswith(f"/{f.file_path}")), None)
        if stored is None or stored.data is None:
            if raise_for_status:  # what aiohttp raises for Telegram's 404
                info = RequestInfo(URL(url), "GET", CIMultiDictProxy(CIMultiDict()), URL(url))
                raise ClientResponseError(info, (), status=404, message="Not Found")
            yield b'{"ok":false,"error_code":404,"description":"Not Found"}'
            return
        for start in range(0, len(stored.data), chunk_size):
            yield stored.data[start : start + chunk_size]

    # -- answering --

    async def _answer(self, bot: Bot, method: TelegramMethod[Any]) -> Any:
        name = method.__api_method__
        files: dict[str, InputFile] = {}
        # The same preparation a real session does: Defaults resolved, uploads become attach:// refs.
        params = self.prepare_value(method.model_dump(warnings=False), bot=bot, files=files, _dumps_json=False)
        failure = next((queued for queued in self._failures[name] if queued.where is None or queued.where(params)),
                       None)
        if failure is not None:
            self._failures[name].remove(failure)
            if failure.error_code is None:
                raise TelegramNetworkError(method=method, message=failure.description)
            parameters = {"retry_after": failure.retry_after} if failure.retry_after is not None else {}
            error = {"error_code": failure.error_code, "description": failure.description, "parameters": parameters}
            return self._respond(bot, method, failure.error_code, {"ok": False, **error})
        try:
            _check_limits(name, params)
            if name in self._results:
                result = self._results[name]
                result = result(params) if callable(result) else result
            elif name in self._fakes:
                result = await self._fakes[name](bot, params, files)
            elif name in _ALWAYS_TRUE:
                result = True
            else:
                self.unsupported.append(name)
                raise UnsupportedMethodError(
                    f"RecordingSession has no answer for {name}: add one in tests/fakes/session.py "
                    f"or call session.set_result({type(method).__name__}, ...) in the test"
                )
        except _ApiError as error:
            failure = {"ok": False, "error_code": error.error_code, "description": error.description}
            return self._respond(bot, method, error.error_code, failure)
        return self._respond(bot, method, 200, {"ok": True, "result": result})

    def _respond(self, bot: Bot, method: TelegramMethod[Any], status_code: int, payload: Json) -> Any:
        """Validate like a real session: a malformed fake result fails here, an error becomes its exception."""
        return self.check_response(bot, method, status_code, self.json_dumps(payload)).result

    async def _get_me(self, bot: Bot, params: Json, files: dict[str, InputFile]) -> Json:
        return self.bot_user(bot)

    async def _get_file(self, bot: Bot, params: Json, files: dict[str, InputFile]) -> Json:
        stored = self.files.get(params["file_id"])
        if stored is None:
            raise _ApiError("Bad Request: file not found")
        size = {"file_size": len(stored.data)} if stored.data is not None else {}
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_path": stored.file_path,
        } | size

    async def _get_chat(self, bot: Bot, params: Json, files: dict[str, InputFile]) -> Json:
        chat = self._chat(self.chat_id_of(params["chat_id"]))
        gifts = required_flags(AcceptedGiftTypes)
        return {**chat, "accent_color_id": 0, "max_reaction_count": 11, "accepted_gift_types": gifts}

    async def _get_chat_member(self, bot: Bot, params: Json, files: dict[str, InputFile]) -> Json:
        chat_id, user_id = self.chat_id_of(params["chat_id"]), params["user_id"]
        user = self._users.get(user_id, {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"})
        return chat_member(user, self._members.get((chat_id, user_id), "member"))

    async def _answer_callback(self, bot: Bot, params: Json, files: dict[str, InputFile]) -> bool:
        if params["callback_query_id"] in self._answered:  # e.g. a handler and a middleware both answer
            raise _ApiError("Bad Request: query is too old and response timeout expired or query ID is invalid")
        self._answered.add(params["callback_query_id"])
        return True

    async def _send(self, bot: Bot, params: Json, files: dict[str, InputFile]) -> Json:
        content: Json = {**_formatted(params, "text"), **_formatted(params, "caption")}
        if "latitude" in params:
            location = {"latitude": params["latitude"], "longitude": params["longitude"]}
            content["location"] = location
            if "title" in params:
                content["venue"] = {"location": location, "title": params["title"], "address": params["address"]}
        if "phone_number" in params:
            content["contact"] = {"phone_number": params["phone_number"], "first_name": params["first_name"]}
        for kind in set(_MEDIA.values()) & params.keys():
            content[kind] = await self._media(bot, kind, params[kind], files, params)
        return self._post(bot, self.chat_id_of(params["chat_id"]), content, params.get("reply_markup"))

    async def _send_media_group(self, bot: Bot, params: Json, files: dict[str, InputFile]) -> list[Json]:
        media = params["media"]
        if not 2 <= len(media) <= 10:
            raise _ApiError(f"Bad Request: a media group must have 2-10 items, got {len(media)}")
        kinds = {item["type"] for item in media}
        if len(kinds) > 1 and kinds & {"document", "audio"}:
            raise _ApiError("Bad Request: documents and audio can't be mixed with other media types in an album")
        group_id, chat_id = f"group-{next(self._serials)}", self.chat_id_of(params["chat_id"])
        return [
            self._post(
                bot,
                chat_id,
                {
                    item["type"]: await self._media(bot, item["type"], item["media"], files, item),
                    "media_group_id": group_id,
                    **_formatted(item, "caption"),
                },
            )
            for item in media
        ]

    async def _copy(self, bot: Bot, params: Json, files: dict[str, InputFile]) -> Json:
        content = self._source_content(params)
        if params.get("remove_caption"):
            content.pop("caption", None)
        if params.get("caption") is not None:
            content.pop("caption_entities", None)
            content.update(_formatted(params, "caption"))
        message = self._post(bot, self.chat_id_of(params["chat_id"]), content, params.get("reply_markup"))
        return {"message_id": message["message_id"]}  # copyMessage answers a MessageId, not a Message

    async def _forward(self, bot: Bot, params: Json, files: dict[str, InputFile]) -> Json:
        source = self._messages.get((self.chat_id_of(params["from_chat_id"]), params["message_id"]), {})
        content = self._source_content(params)
        if "from" in source:
            content["forward_origin"] = {"type": "user", "date": source["date"], "sender_user": source["from"]}
        return self._post(bot, self.chat_id_of(params["chat_id"]), content)

    async def _edit(self, bot: Bot, params: Json, files: dict[str, InputFile], *, field: str | None) -> Json | bool:
        """Edit ``field`` (None: only the keyboard); like Telegram, a missing reply_markup drops the buttons."""
        if "inline_message_id" in params:
            return True  # Telegram does not return messages sent via inline mode
        key = (self.chat_id_of(params["chat_id"]), params["message_id"])
        markup = params.get("reply_markup")
        old = self._messages.get(key)
        if old is None:  # a message this session never saw (forged in a test): nothing to compare with
            old = {"message_id": key[1], "date": self._timestamp(), "chat": self._chat(key[0])}
            old["from"] = self.bot_user(bot)
        else:
            if old.get("from", {}).get("id") != bot.id:
                raise _ApiError("Bad Request: message can't be edited")
            if field == "text" and "text" not in old:
                raise _ApiError("Bad Request: there is no text in the message to edit")
            if field == "caption" and "text" in old:
                raise _ApiError("Bad Request: there is no caption in the message to edit")
            new = _formatted(params, field) if field else {}
            same_content = field is None or all(old.get(key) == new.get(key) for key in _FORMATTED[field])
            if same_content and old.get("reply_markup") == _inline_only(markup):
                raise _ApiError(_NOT_MODIFIED)
        edited = {**old, "edit_date": self._timestamp()}
        if field is not None:  # also clears the old entities, or the caption when none is given
            edited.update(dict.fromkeys(_FORMATTED[field]), **_formatted(params, field))
        kept = self._keyboards.get(key)
        if markup is None and kept is not None and "inline_keyboard" not in kept:
            markup = kept  # an edit drops the inline keyboard, not the reply keyboard below the input field
        return self._store(_drop_none(edited), markup)

    async def _delete(self, bot: Bot, params: Json, files: dict[str, InputFile]) -> bool:
        key = (self.chat_id_of(params["chat_id"]), params["message_id"])
        self._messages.pop(key, None)
        self._keyboards.pop(key, None)
        return True

    # -- helpers --

    def _source_content(self, params: Json) -> Json:
        source = self._messages.get((self.chat_id_of(params["from_chat_id"]), params["message_id"]))
        if source is None:  # the client remembers everything people send; a miss is a real 400
            raise _ApiError("Bad Request: message to copy not found")
        return {key: value for key, value in source.items() if key in _CONTENT}

    async def _media(self, bot: Bot, kind: str, ref: str, files: dict[str, InputFile], params: Json) -> Any:
        """The file object Telegram would attach: uploads get fresh ids and become downloadable."""
        if ref.startswith("attach://"):
            upload = files[ref.removeprefix("attach://")]
            # URLInputFile would be fetched by Telegram itself; reading it here would hit stream_content.
            data = b"" if isinstance(upload, URLInputFile) else b"".join([c async for c in upload.read(bot)])
            serial = next(self._serials)
            stored = self.add_file(f"{kind}-sent-{serial}", data, f"{kind}s/file_{serial}")
            stored.file_name = upload.filename
        else:
            stored = self.files.get(ref) or StoredFile(ref, f"u-{ref}", None, None)
        base: Json = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id}
        if stored.data is not None:
            base["file_size"] = len(stored.data)
        duration = params.get("duration", 1)
        shapes: dict[str, Any] = {
            "photo": [{**base, "width": 1280, "height": 960}],
            "video": {**base, "width": 1280, "height": 720, "duration": duration},
            "animation": {**base, "width": 320, "height": 240, "duration": duration},
            "video_note": {**base, "length": params.get("length", 240), "duration": duration},
            "voice": {**base, "duration": duration},
            "audio": {**base, "duration": duration},
            "document": _drop_none({**base, "file_name": stored.file_name}),
            "sticker": {**base, "type": "regular", "width": 512, "height": 512}
            | {"is_animated": False, "is_video": False},
        }
        return shapes[kind]

    def _post(self, bot: Bot, chat_id: int, content: Json, markup: Json | None = None) -> Json:
        message = {
            "message_id": next(self.message_ids),
            "date": self._timestamp(),
            "chat": self._chat(chat_id),
            "from": self.bot_user(bot),
            **content,
        }
        return self._store(_drop_none(message), markup)

    def _store(self, message: Json, markup: Json | None) -> Json:
        key = (message["chat"]["id"], message["message_id"])
        message.pop("reply_markup", None)
        if inline := _inline_only(markup):
            message["reply_markup"] = inline  # Telegram echoes only inline keyboards in a Message
        self._messages[key] = message
        if markup and button_rows(markup):
            self._keyboards[key] = markup
        else:
            self._keyboards.pop(key, None)
        return message

    def chat_id_of(self, chat_id: int | str) -> int:
        """The numeric id behind a chat_id argument; each "@channel" name gets a stable made-up one."""
        if isinstance(chat_id, int) or chat_id.lstrip("-").isdigit():
            return int(chat_id)
        return self._usernames.setdefault(chat_id, -1_000_000_000_001 - len(self._usernames))

    def _chat(self, chat_id: int) -> Json:
        if chat_id in self._chats:
            return self._chats[chat_id]
        if chat_id > 0:
            first_name = self._users.get(chat_id, {}).get("first_name", "User")
            return {"id": chat_id, "type": "private", "first_name": first_name}
        name = next((n for n, i in self._usernames.items() if i == chat_id), None)
        if name is not None:
            return {"id": chat_id, "type": "channel", "title": name, "username": name.lstrip("@")}
        chat_type = "supergroup" if str(chat_id).startswith("-100") else "group"
        return {"id": chat_id, "type": chat_type, "title": f"Group {chat_id}"}

    def _timestamp(self) -> int:
        return int(self.now().timestamp())


def _is_send(name: str) -> bool:
    return (name.startswith("send") and name != "sendChatAction") or name in {"copyMessage", "forwardMessage"}


def _inline_only(markup: Json | None) -> Json | None:
    return markup if markup and "inline_keyboard" in markup else None


def _drop_none(data: Json) -> Json:
    return {key: value for key, value in data.items() if value is not None}


def _walk(value: Any) -> Iterator[Json]:
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def _check_limits(name: str, params: Json) -> None:
    """The limits Telegram enforces server-side; aiogram itself checks none of them."""
    for node in _walk(params):
        for row in node.get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(data.encode()) <= 64:
                    raise _ApiError("Bad Request: BUTTON_DATA_INVALID")
                if not button.keys() & _BUTTON_ACTIONS:
                    raise _ApiError("Bad Request: text buttons are unallowed in the inline keyboard")
        if isinstance(node.get("caption"), str) and len(_parse(node["caption"], node.get("parse_mode"))[0]) > 1024:
            raise _ApiError("Bad Request: message caption is too long")
        if isinstance(node.get("message_text"), str):  # inline query results
            _check_text(node["message_text"], node.get("parse_mode"))
    if name in {"sendMessage", "editMessageText"}:
        _check_text(params.get("text", ""), params.get("parse_mode"))


def _check_text(text: str, parse_mode: str | None) -> None:
    visible = _parse(text, parse_mode)[0]
    if not visible.strip():
        raise _ApiError("Bad Request: message text is empty")
    if len(visible) > 4096:
        raise _ApiError("Bad Request: message is too long")


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2  # entity offsets count UTF-16 code units


def _parse(text: str, parse_mode: str | None) -> tuple[str, list[Json]]:
    """Visible text and entities as Telegram derives them; HTML is parsed as strictly as Telegram does.

    Markdown is left raw: its text counts a little long near the limits, which errs on the strict side.
    """
    if (parse_mode or "").upper() != "HTML":
        return text, []
    visible, entities, open_tags, position = "", [], [], 0
    for match in re.finditer(r"<(/?)([^\s<>/]*)([^<>]*)>|<", text):
        visible += html.unescape(text[position : match.start()])
        position = match.end()
        offset = len(text[: match.start()].encode())
        closing, tag = match.group(1), (match.group(2) or "").lower()
        if match.group(0) == "<" or tag not in _HTML_ENTITIES:
            problem = f'Unsupported start tag "{tag}"' if tag else "Unexpected character <"
            raise _ApiError(f"{_CANT_PARSE}: {problem} at byte offset {offset}")
        if not closing:
            open_tags.append((tag, _utf16_len(visible), match.group(3)))
            continue
        if not open_tags or open_tags[-1][0] != tag:
            raise _ApiError(f'{_CANT_PARSE}: Unmatched end tag "{tag}" at byte offset {offset}')
        _, start, attributes = open_tags.pop()
        entity = {"type": _HTML_ENTITIES[tag], "offset": start, "length": _utf16_len(visible) - start}
        if tag == "a" and (href := re.search(r"""href\s*=\s*["']([^"']*)""", attributes)):
            entity["url"] = html.unescape(href.group(1))
        if entity["length"]:
            entities.append(entity)
    if open_tags:
        raise _ApiError(f'{_CANT_PARSE}: Can\'t find end tag corresponding to start tag "{open_tags[-1][0]}"')
    visible += html.unescape(text[position:])
    return visible, sorted(entities, key=lambda entity: entity["offset"])


def _formatted(params: Json, field: str) -> Json:
    """The text or caption of a message as Telegram stores it: visible text plus entities."""
    entities_key = "entities" if field == "text" else "caption_entities"
    if params.get(field) is None:
        return {}
    visible, entities = _parse(params[field], params.get("parse_mode"))
    return _drop_none({field: visible, entities_key: params.get(entities_key) or entities or None})
