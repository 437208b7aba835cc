"""Fake Telegram Bot API server on 127.0.0.1 for end-to-end tests that drive the bot over real HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import functools
import html
import itertools
import json
import logging
import mimetypes
import re
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from aiohttp import ClientError, ClientSession, ClientTimeout, MultipartReader, hdrs, web
from multidict import CIMultiDictProxy

log = logging.getLogger(__name__)

BOT_USERNAME = "medfeedback_test_bot"
TEXT_LIMIT, CAPTION_LIMIT, CALLBACK_DATA_LIMIT, INLINE_RESULTS_LIMIT = 4096, 1024, 64, 50
WEBHOOK_ATTEMPTS, WEBHOOK_RETRY_DELAY = 3, 0.05
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same "
    "as a current content and reply markup of the message"
)
# aiogram posts every parameter as a form field, JSON-encoding all that are not strings (ids, flags, markup,
# media), so fields are JSON-decoded unless their value is text by nature: a message "42" must stay a str.
_STRING_FIELDS = frozenset(
    "text caption title address description secret_token url parse_mode callback_query_id inline_query_id "
    "inline_message_id action file_id photo video document voice audio thumbnail first_name last_name "
    "phone_number performer next_offset language_code emoji business_connection_id".split()
)
# Telegram rejects other tags in HTML mode; that is how a bot that forgets to escape user text breaks in
# production, so the fake breaks the same way.
_HTML_TAGS = frozenset("b strong i em u ins s strike del span tg-spoiler a tg-emoji code pre blockquote".split())
_TAG = re.compile(r"<(/?)([a-zA-Z][\w-]*)[^>]*>")
_FOLDERS = {"photo": ("photos", ".jpg", "image/jpeg"), "video": ("videos", ".mp4", "video/mp4"),
            "voice": ("voice", ".oga", "audio/ogg"), "audio": ("music", ".mp3", "audio/mpeg"),
            "video_note": ("video_notes", ".mp4", "video/mp4"), "animation": ("animations", ".mp4", "video/mp4"),
            "document": ("documents", "", "application/octet-stream")}
_CONTENT_KEYS = ("text", "entities", "caption", "location", "venue", "contact", *_FOLDERS)
_ADMIN_RIGHTS = ("can_be_edited is_anonymous can_delete_messages can_manage_video_chats can_restrict_members "
                 "can_promote_members can_change_info can_invite_users can_post_stories can_edit_stories "
                 "can_delete_stories can_send_welcome_messages").split()
_MEMBER_FIELDS: dict[str, dict[str, Any]] = {
    "creator": {"is_anonymous": False}, "member": {}, "left": {}, "kicked": {"until_date": 0},
    "administrator": {**dict.fromkeys(_ADMIN_RIGHTS, False), "can_manage_chat": True},
}


@dataclass(frozen=True)
class Call:
    """One request the bot made; `at` is time.monotonic(), so tests can measure back-off."""

    method: str
    params: dict[str, Any]
    files: dict[str, bytes]
    at: float
    content_type: str = ""  # how the call was sent: application/json, multipart/form-data, a urlencoded form
    in_webhook_answer: bool = False  # made by Telegram from the answer to a webhook request, not by the bot


class ApiError(Exception):
    """A Telegram error answer, raised by method handlers and queued by fail_next()."""

    def __init__(self, error_code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.error_code, self.description, self.retry_after = error_code, description, retry_after

    def response(self) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.retry_after is not None:  # aiogram raises TelegramRetryAfter only when this is present
            body["parameters"] = {"retry_after": self.retry_after}
        return web.json_response(body, status=self.error_code)


def bad_request(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


_DROP = ApiError(0, "close the connection without answering")  # queued by drop_next()


class _Params(dict[str, Any]):
    """Request parameters; a missing required one is answered the way Telegram answers it."""

    def __missing__(self, key: str) -> Any:
        raise bad_request(f'parameter "{key}" is required')


@dataclass
class _Request:
    params: _Params
    files: dict[str, bytes]  # multipart parts that have a filename; params point at them as attach://name
    filenames: dict[str, str]
    content_type: str = ""


@dataclass
class _File:
    kind: str
    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes
    file_name: str | None = None
    mime_type: str | None = None


def _decode(key: str, value: Any) -> Any:
    if isinstance(value, str) and key not in _STRING_FIELDS:
        with contextlib.suppress(ValueError):
            return json.loads(value)
    return value


async def _parse(headers: CIMultiDictProxy[str], content: Any, query: dict[str, str]) -> _Request:
    """Read a JSON, urlencoded or multipart body: a bot call, or a method call in a webhook reply."""
    content_type = headers.get(hdrs.CONTENT_TYPE, "").partition(";")[0].strip().lower()
    raw: dict[str, Any] = dict(query)
    files: dict[str, bytes] = {}
    filenames: dict[str, str] = {}
    if content_type == "multipart/form-data":
        async for part in MultipartReader(headers, content):
            if part.filename is None:
                raw[part.name] = await part.text()
            else:
                files[part.name], filenames[part.name] = bytes(await part.read()), part.filename
    elif (body := await content.read()) and content_type == "application/json":
        try:
            raw |= json.loads(body)
        except (ValueError, TypeError):
            raise bad_request("can't parse JSON object") from None
    elif body:
        raw |= parse_qsl(body.decode(errors="replace"))
    return _Request(_Params({key: _decode(key, value) for key, value in raw.items()}), files, filenames, content_type)


def _visible_text(text: str, parse_mode: str | None) -> str:
    """What the person sees: HTML is checked the way Telegram checks it, then its tags are dropped."""
    if (parse_mode or "").lower() != "html":
        return text
    for tag in _TAG.finditer(text):
        if tag[2].lower() not in _HTML_TAGS:
            kind, offset = "end" if tag[1] else "start", len(text[: tag.start()].encode())
            raise bad_request(f'can\'t parse entities: Unsupported {kind} tag "{tag[2]}" at byte offset {offset}')
    return html.unescape(_TAG.sub("", text))


def _content(p: dict[str, Any], key: str) -> dict[str, Any]:
    """The message text or caption as shown, within Telegram's limits (counted after stripping)."""
    value = _visible_text(str(p.get(key) or ""), p.get("parse_mode")).strip()
    if key == "text" and not value:
        raise bad_request("message text is empty")
    if key == "text" and len(value) > TEXT_LIMIT:
        raise bad_request("message is too long")
    if key == "caption" and len(value) > CAPTION_LIMIT:
        raise bad_request("message caption is too long")
    return {key: value} if value else {}


def _check_markup(markup: Any) -> None:
    if markup is not None and not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    for button in _buttons({"reply_markup": markup}):
        data = button.get("callback_data")
        if data is not None and not 1 <= len(str(data).encode()) <= CALLBACK_DATA_LIMIT:
            raise bad_request("BUTTON_DATA_INVALID")


def _buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [button for row in (message.get("reply_markup") or {}).get("inline_keyboard", []) for button in row]


def _public(message: dict[str, Any]) -> dict[str, Any]:
    """The message as the API returns it: a Message carries inline keyboards only, never reply ones."""
    public = copy.deepcopy(message)
    if (markup := public.get("reply_markup")) is not None and "inline_keyboard" not in markup:
        del public["reply_markup"]
    return public


async def _wait_until(event: asyncio.Event, ready: Callable[[], bool], seconds: float) -> bool:
    """Sleep on `event` (set whenever state changes) until `ready()` holds or `seconds` run out."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not ready():
        if (remaining := deadline - asyncio.get_running_loop().time()) <= 0:
            return False
        event.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), remaining)
    return True


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class FakeTelegramAPI:
    """The Bot API of one bot on 127.0.0.1, plus the user side: tests build updates and inspect bot calls."""

    def __init__(self, token: str = "123456:TEST-token") -> None:
        self.token, self.base_url = token, ""
        self.bot_user = {"id": int(token.split(":")[0]), "is_bot": True, "first_name": "MedFeedback",
                         "username": BOT_USERNAME}
        self.calls: list[Call] = []
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        self.webhook_deliveries: list[tuple[int, int]] = []  # (update_id, HTTP status); 0: network error
        self._users: dict[int, dict[str, Any]] = {}
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}  # (chat id, message id): current state
        self._sent: list[dict[str, Any]] = []  # the bot's messages as first sent
        self._files: dict[str, _File] = {}
        self._member_status: dict[tuple[int, int], str] = {}
        self.missing_chats: set[int] = set()  # group ids that do not exist (a typo in a config)
        self._commands: dict[str, list[dict[str, Any]]] = {}
        self._open_queries: set[str] = set()  # callback and inline query ids not answered yet
        self._faults: defaultdict[str, deque[ApiError]] = defaultdict(deque)
        self._holds: dict[tuple[str, int | None], asyncio.Event] = {}
        self._download_holds: dict[str, asyncio.Event] = {}
        self.downloads_started: list[str] = []
        # Telegram keeps trying an undelivered webhook update for a long while; tests of outages say how long.
        self.webhook_attempts, self.webhook_retry_delay = WEBHOOK_ATTEMPTS, WEBHOOK_RETRY_DELAY
        self.latency = 0.0  # seconds each Bot API call waits before its answer, as the real one's network does
        self.webhook_timeout = 5.0  # Telegram waits about a minute; most tests want a dead bot noticed sooner
        self._group_limit: int | None = None  # messages a minute per group, counted per message (albums: items)
        self._group_sends: defaultdict[int, deque[float]] = defaultdict(deque)
        self.too_many_requests = 0  # 429s answered for breaking the group limit
        self._answered: set[int] = set()  # id() of calls that have been answered
        self._pending: deque[dict[str, Any]] = deque()  # updates for getUpdates, until confirmed by offset
        self._webhook_queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._new_update, self._new_call = asyncio.Event(), asyncio.Event()
        self._ids = {name: itertools.count(1) for name in ("update", "message", "file", "group", "query")}
        self._action_mark = 0  # len(calls) at the latest user action: wait_for() looks from there
        self._stopping = False
        self._runner: web.AppRunner | None = None
        self._client: ClientSession | None = None
        self._worker: asyncio.Task[None] | None = None
        handlers = {
            "getMe": self._get_me, "getUpdates": self._get_updates, "sendMessage": self._send_message,
            **{f"send{kind.title().replace('_', '')}": functools.partial(self._send_media, kind=kind)
               for kind in _FOLDERS},
            "sendVenue": self._send_venue, "sendLocation": self._send_location,
            "sendMediaGroup": self._send_media_group, "copyMessage": self._copy_message,
            "forwardMessage": self._forward_message, "deleteMessage": self._delete_message,
            "editMessageText": functools.partial(self._edit, field="text"),
            "editMessageCaption": functools.partial(self._edit, field="caption"),
            "editMessageReplyMarkup": functools.partial(self._edit, field=None),
            "answerCallbackQuery": self._answer_query, "answerInlineQuery": self._answer_inline_query,
            "getFile": self._get_file, "setMyCommands": self._set_my_commands, "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands, "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook, "getWebhookInfo": self._get_webhook_info,
            "getChat": self._get_chat, "getChatMember": self._get_chat_member,
            "sendChatAction": self._ok, "setChatMenuButton": self._ok,
        }
        # Telegram matches method names case-insensitively; calls are recorded under the canonical name.
        self._methods = {name.lower(): (name, handler) for name, handler in handlers.items()}

    # -- lifecycle ----------------------------------------------------------------------------------------------

    async def start(self) -> FakeTelegramAPI:
        app = web.Application(client_max_size=50 * 1024 * 1024)  # the Bot API's upload limit
        for verb in ("GET", "POST"):
            app.router.add_route(verb, "/bot{token}/{method}", self._handle_call)
        app.router.add_get("/file/bot{token}/{file_path:.+}", self._handle_download)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        self._client = ClientSession(timeout=ClientTimeout(total=self.webhook_timeout))
        self._worker = asyncio.create_task(self._deliver_webhooks())
        return self

    async def stop(self) -> None:
        self._stopping = True
        self._new_update.set()  # answer open long polls now rather than make cleanup wait for them
        if self._worker:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        if self._client:
            await self._client.close()
        if self._runner:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeTelegramAPI:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- test controls and views --------------------------------------------------------------------------------

    def fail_next(self, method: str, *, error_code: int, description: str, retry_after: int | None = None,
                  times: int = 1) -> None:
        self._faults[method.lower()].extend([ApiError(error_code, description, retry_after)] * times)

    def drop_next(self, method: str, times: int = 1) -> None:
        self._faults[method.lower()].extend([_DROP] * times)

    def limit_groups(self, per_minute: int = 20) -> None:
        """Answer 429 as Telegram does when a group gets more than `per_minute` messages in a minute (an album
        counts each of its items); `too_many_requests` counts those answers."""
        self._group_limit = per_minute

    def _over_group_limit(self, method: str, params: dict[str, Any]) -> ApiError | None:
        chat_id = _int_or_none(params.get("chat_id"))
        if self._group_limit is None or chat_id is None or chat_id >= 0 or not method.lower().startswith(
                ("send", "copymessage", "forwardmessage")) or method.lower() == "sendchataction":
            return None
        count = len(params["media"]) if method.lower() == "sendmediagroup" and isinstance(
            params.get("media"), list) else 1
        now, sent = time.monotonic(), self._group_sends[chat_id]
        while sent and sent[0] <= now - 60:
            sent.popleft()
        if len(sent) + count > self._group_limit:
            self.too_many_requests += 1
            wait = max(1, int(sent[0] + 60 - now) + 1) if sent else 1
            return ApiError(429, f"Too Many Requests: retry after {wait}", retry_after=wait)
        sent.extend([now] * count)
        return None

    def hold(self, method: str, chat_id: int) -> asyncio.Event:
        """Keep calls of `method` to `chat_id` in flight until the returned event is set (a crash mid-send)."""
        event = asyncio.Event()
        self._holds[(method.lower(), chat_id)] = event
        return event

    def set_member_status(self, chat_id: int, user_id: int, status: str) -> None:
        if status not in _MEMBER_FIELDS:
            raise ValueError(f"unknown chat member status {status!r}; expected one of {list(_MEMBER_FIELDS)}")
        self._member_status[(chat_id, user_id)] = status

    def calls_of(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method.lower() == method.lower()]

    def sent_to(self, chat_id: int) -> list[dict[str, Any]]:
        """The bot's messages to the chat in order, as they were sent (edits not applied)."""
        return [copy.deepcopy(message) for message in self._sent if message["chat"]["id"] == chat_id]

    def bot_messages(self, chat_id: int) -> list[dict[str, Any]]:
        """What the person sees now: the bot's messages in the chat with edits and deletions applied."""
        return [copy.deepcopy(message) for (chat, _), message in self._messages.items()
                if chat == chat_id and message["from"]["id"] == self.bot_user["id"]]

    def file_data(self, file_id: str) -> bytes:
        return self._files[file_id].data

    async def wait_for(
        self,
        what: str | Callable[[Call], bool],
        timeout: float = 5.0,  # noqa: ASYNC109 -- a plain number keeps test code short
        count: int = 1,
        *,
        since: int | None = None,
        answered: bool = True,
    ) -> Call:
        """Wait until `count` calls match and return the last of them.

        Only calls after the latest user action (send_*, press, ...) count unless `since` (an index into
        `calls`) says otherwise, so a test waits for the bot's reaction, not for an earlier call. By default a
        call counts once it has been answered, so what the person sees already includes it; `answered=False`
        counts calls still in flight (a held one).
        """
        start = self._action_mark if since is None else since
        matches = what if callable(what) else (lambda call: call.method.lower() == what.lower())
        found: list[Call] = []

        def enough() -> bool:
            found[:] = [call for call in self.calls[start:]
                        if matches(call) and (not answered or id(call) in self._answered)]
            return len(found) >= count

        if await _wait_until(self._new_call, enough, timeout):
            return found[count - 1]
        recent = [c for c in self.calls if c.method != "getUpdates"][-15:]
        listing = "\n".join(f"  {c.method} {json.dumps(c.params, ensure_ascii=False, default=str)[:200]}"
                            for c in recent)
        raise AssertionError(f"{len(found)} of {count} call(s) matching {what!r} within {timeout}s "
                             f"(from call #{start} on); recent calls:\n{listing or '  (none)'}")

    async def wait_webhook_idle(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109 -- as wait_for
        """Wait until every update queued for the webhook has been delivered or given up on."""
        await asyncio.wait_for(self._webhook_queue.join(), timeout)

    # -- the user side --------------------------------------------------------------------------------------------

    def add_user(self, user_id: int, first_name: str = "Aigerim", language_code: str = "ru",
                 username: str | None = None) -> dict[str, Any]:
        user = {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": language_code}
        self._users[user_id] = user | ({"username": username} if username else {})
        return self._users[user_id]

    def send_text(self, user_id: int, text: str, chat_id: int | None = None) -> dict[str, Any]:
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return self._user_message(user_id, content, chat_id)

    def send_photo(self, user_id: int, data: bytes, caption: str | None = None,
                   media_group_id: str | None = None) -> dict[str, Any]:
        content = {"photo": self._media(self._register(data, "photo")), "caption": caption,
                   "media_group_id": media_group_id}
        return self._user_message(user_id, {k: v for k, v in content.items() if v})

    def send_album(self, user_id: int, photos: list[bytes], caption: str | None = None) -> list[dict[str, Any]]:
        group_id = f"album-{next(self._ids['group'])}"
        return [self.send_photo(user_id, data, caption if i == 0 else None, group_id) for i, data in enumerate(photos)]

    def send_voice(self, user_id: int, data: bytes, duration: int = 3) -> dict[str, Any]:
        return self._user_message(user_id, {"voice": self._media(self._register(data, "voice"), duration)})

    def send_video(self, user_id: int, data: bytes, duration: int = 5) -> dict[str, Any]:
        return self._user_message(user_id, {"video": self._media(self._register(data, "video"), duration)})

    def send_document(self, user_id: int, data: bytes, file_name: str, mime_type: str | None = None) -> dict[str, Any]:
        stored = self._register(data, "document", file_name, mime_type)
        return self._user_message(user_id, {"document": self._media(stored)})

    def send_contact(self, user_id: int, phone: str) -> dict[str, Any]:
        contact = {"phone_number": phone, "first_name": self._user(user_id)["first_name"], "user_id": user_id}
        return self._user_message(user_id, {"contact": contact})

    def send_location(self, user_id: int, lat: float, lon: float) -> dict[str, Any]:
        return self._user_message(user_id, {"location": {"latitude": lat, "longitude": lon}})

    def press(self, user_id: int, message: dict[str, Any], button_text: str) -> dict[str, Any]:
        """Press an inline button, found by its visible text in the message as it is now (after edits)."""
        return self._emit("callback_query", self.callback_query(user_id, message, button_text))

    def callback_query(self, user_id: int, message: dict[str, Any], button_text: str | None,
                       data: str | None = None) -> dict[str, Any]:
        """The callback query a press on the button would send, not delivered (a bench POSTs it itself); with
        `data` instead of a button's text, a press on a button the message does not have (a bench's baseline)."""
        key = (message["chat"]["id"], message["message_id"])
        if (current := self._messages.get(key)) is None:
            raise AssertionError(f"message {key[1]} in chat {key[0]} was deleted; there is nothing to press")
        if data is None:
            button = next((b for b in _buttons(current) if b["text"] == button_text), None)
            if button is None or "callback_data" not in button:
                shown = [b["text"] for b in _buttons(current)]
                raise AssertionError(f"no callback button {button_text!r}; the message shows {shown}")
            data = button["callback_data"]
        return {"id": self._open_query(), "from": self._user(user_id), "message": _public(current),
                "chat_instance": f"instance{key[0]}", "data": data}

    def inline_query(self, user_id: int, query: str, offset: str = "") -> dict[str, Any]:
        payload = {"id": self._open_query(), "from": self._user(user_id), "query": query, "offset": offset}
        return self._emit("inline_query", payload)

    async def deliver_raw(self, update: dict[str, Any], secret: str | None) -> int:
        """POST one update to the webhook with any secret, once, and return the HTTP status."""
        if not self.webhook_url:
            raise RuntimeError("no webhook is set: the bot has to call setWebhook first")
        self._action_mark = len(self.calls)
        return await self._post_update(self.webhook_url, update, secret)

    def _user(self, user_id: int) -> dict[str, Any]:
        return self._users.get(user_id) or self.add_user(user_id)

    def _user_message(self, user_id: int, content: dict[str, Any], chat_id: int | None = None) -> dict[str, Any]:
        user = self._user(user_id)
        chat = self._chat(user_id if chat_id is None else chat_id)  # a private chat's id is the user's id
        message = {"message_id": next(self._ids["message"]), "from": user, "chat": chat,
                   "date": int(time.time()), **content}
        self._messages[(chat["id"], message["message_id"])] = message
        return self._emit("message", copy.deepcopy(message))

    def _open_query(self) -> str:
        query_id = str(4_000_000_000 + next(self._ids["query"]))
        self._open_queries.add(query_id)
        return query_id

    def _emit(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._ids["update"]), kind: payload}
        self._action_mark = len(self.calls)
        if self.webhook_url:
            self._webhook_queue.put_nowait(update)
        else:
            self._pending.append(update)
            self._new_update.set()
        return update

    # -- webhook delivery -----------------------------------------------------------------------------------------

    async def _deliver_webhooks(self) -> None:
        """Deliver queued updates one at a time and in order, as Telegram does for one bot."""
        while True:
            update = await self._webhook_queue.get()
            try:
                for attempt in range(self.webhook_attempts):
                    if (url := self.webhook_url) is None:  # deleteWebhook meanwhile: back to getUpdates
                        self._pending.append(update)
                        self._new_update.set()
                        break
                    if attempt:
                        await asyncio.sleep(self.webhook_retry_delay)
                    if 200 <= await self._post_update(url, update, self.webhook_secret) < 300:
                        break
            except Exception:  # one broken delivery must stop neither the ones after it nor the server
                log.exception("fake Bot API: delivering update %s failed", update.get("update_id"))
            finally:
                self._webhook_queue.task_done()

    async def _post_update(self, url: str, update: dict[str, Any], secret: str | None) -> int:
        assert self._client is not None, "start() the fake first"
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
        reply = None
        try:
            async with self._client.post(url, json=update, headers=headers) as response:
                status = response.status
                if 200 <= status < 300:  # the bot may answer with a method call in the response body
                    reply = await _parse(response.headers, response.content, {})
        except (ClientError, OSError, TimeoutError):
            status = 0
        except ApiError:  # an unreadable reply is ignored, as Telegram ignores it
            pass
        self.webhook_deliveries.append((update["update_id"], status))
        if reply and (method := reply.params.pop("method", None)):
            name = self._record(method, reply)
            call = self.calls[-1] = dataclasses.replace(self.calls[-1], in_webhook_answer=True)
            await self._execute(name, reply)
            self._answered.add(id(call))
            self._new_call.set()
        return status

    # -- HTTP ---------------------------------------------------------------------------------------------------

    async def _handle_call(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return ApiError(401, "Unauthorized").response()
        try:
            req = await _parse(request.headers, request.content, dict(request.query))
        except ApiError as error:
            return error.response()
        method = self._record(request.match_info["method"], req)
        call = self.calls[-1]
        if self.latency and method != "getUpdates":
            await asyncio.sleep(self.latency)
        try:
            return await self._answer(method, req, request)
        finally:
            # Only now has the call changed what the person sees: wait_for() waits for this by default.
            self._answered.add(id(call))
            self._new_call.set()

    async def _answer(self, method: str, req: _Request, request: web.Request) -> web.StreamResponse:
        held = self._holds.get((method.lower(), _int_or_none(req.params.get("chat_id"))))
        if held is not None:
            await held.wait()
        if (limited := self._over_group_limit(method, req.params)) is not None:
            return limited.response()
        if faults := self._faults.get(method.lower()):
            if (fault := faults.popleft()) is not _DROP:
                return fault.response()
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=503)  # never reaches the client: the connection is gone
        return await self._execute(method, req)

    async def _handle_download(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return ApiError(401, "Unauthorized").response()
        path = request.match_info["file_path"]
        if (found := next((f for f in self._files.values() if f.file_path == path), None)) is None:
            return ApiError(404, "Not Found").response()
        self.downloads_started.append(path)
        self._new_call.set()
        if (held := self._download_holds.get(found.file_id)) is not None:
            await held.wait()  # a slow download: a 20 MB file over a poor line
        return web.Response(body=found.data, content_type="application/octet-stream")

    def hold_download(self, file_id: str) -> asyncio.Event:
        """Keep the download of this file in flight until the returned event is set."""
        event = asyncio.Event()
        self._download_holds[file_id] = event
        return event

    def _record(self, name: str, req: _Request) -> str:
        method = self._methods.get(name.lower(), (name, None))[0]
        self.calls.append(Call(method, dict(req.params), dict(req.files), time.monotonic(), req.content_type))
        self._new_call.set()
        return method

    async def _execute(self, method: str, req: _Request) -> web.Response:
        try:
            if (handler := self._methods.get(method.lower(), (method, None))[1]) is None:
                raise bad_request("method not found")
            result = await handler(req)
        except ApiError as error:
            return error.response()
        return web.json_response({"ok": True, "result": result})

    # -- chats, files, messages ---------------------------------------------------------------------------------

    def _chat(self, chat_id: Any) -> dict[str, Any]:
        if isinstance(chat_id, int) and (user := self._users.get(chat_id)):
            return {"id": chat_id, "type": "private", "first_name": user["first_name"]}
        if not isinstance(chat_id, int) or chat_id > 0 or chat_id in self.missing_chats:
            raise bad_request("chat not found")  # a user must write first; a group must exist
        return {"id": chat_id, "type": "supergroup" if str(chat_id).startswith("-100") else "group",
                "title": f"Chat {chat_id}"}

    def _register(self, data: bytes, kind: str, file_name: str | None = None, mime_type: str | None = None) -> _File:
        number, (folder, extension, default_mime_type) = next(self._ids["file"]), _FOLDERS[kind]
        if kind == "document" and file_name:
            extension = PurePosixPath(file_name).suffix
            mime_type = mime_type or mimetypes.guess_type(file_name)[0]
        mime_type = mime_type or default_mime_type
        stored = _File(kind, f"fake-{kind}-{number}", f"unique-{number}", f"{folder}/file_{number}{extension}", data,
                       file_name, mime_type)
        self._files[stored.file_id] = stored
        return stored

    def _input_file(self, req: _Request, ref: Any, kind: str) -> _File:
        """An attach://name reference to an uploaded part (stored as a new file) or a known file_id."""
        if isinstance(ref, str) and ref.startswith("attach://"):
            if (name := ref.removeprefix("attach://")) not in req.files:
                raise bad_request(f"can't parse InputMedia: media not found: {name}")
            return self._register(req.files[name], kind, req.filenames.get(name))
        if isinstance(ref, str) and ref in self._files:
            return self._files[ref]
        raise bad_request("wrong file identifier/HTTP URL specified")

    @staticmethod
    def _media(stored: _File, duration: int | None = None) -> Any:
        base = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "file_size": len(stored.data)}
        if stored.kind == "photo":  # one size is enough: bots take photo[-1], the largest
            return [{**base, "width": 1280, "height": 960}]
        base["mime_type"] = stored.mime_type
        if stored.kind == "video":
            return {**base, "width": 1280, "height": 720, "duration": duration or 5}
        if stored.kind in ("voice", "audio"):
            return {**base, "duration": duration or 3}
        return {**base, "file_name": stored.file_name or "file"}

    def _post(self, p: _Params, content: dict[str, Any]) -> dict[str, Any]:
        """Store a message the bot sends and return it as the API result."""
        chat = self._chat(p["chat_id"])
        _check_markup(markup := p.get("reply_markup"))
        message = {"message_id": next(self._ids["message"]), "from": self.bot_user, "chat": chat,
                   "date": int(time.time()), **content}
        if markup:  # kept whatever its kind, so tests see reply keyboards too
            message["reply_markup"] = markup
        self._messages[(chat["id"], message["message_id"])] = message
        self._sent.append(copy.deepcopy(message))
        return _public(message)

    def _source(self, p: _Params, action: str) -> dict[str, Any]:
        if (source := self._messages.get((p["from_chat_id"], p["message_id"]))) is None:
            raise bad_request(f"message to {action} not found")
        return source

    # -- Bot API methods ----------------------------------------------------------------------------------------

    async def _ok(self, req: _Request) -> bool:
        return True

    async def _get_me(self, req: _Request) -> dict[str, Any]:
        return {**self.bot_user, "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": True, "can_connect_to_business": False, "has_main_web_app": False}

    async def _get_updates(self, req: _Request) -> list[dict[str, Any]]:
        if self.webhook_url:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")
        p = req.params
        offset, limit = p.get("offset", 0), min(max(p.get("limit", 100), 1), 100)
        while offset > 0 and self._pending and self._pending[0]["update_id"] < offset:
            self._pending.popleft()  # an offset confirms every earlier update
        await _wait_until(self._new_update, lambda: bool(self._pending) or self._stopping, p.get("timeout", 0))
        return list(itertools.islice(self._pending, limit))

    async def _send_message(self, req: _Request) -> dict[str, Any]:
        return self._post(req.params, _content(req.params, "text"))

    async def _send_media(self, req: _Request, kind: str) -> dict[str, Any]:
        p = req.params
        # A file may also be a part named after the field, as `curl -F photo=@x.jpg` sends it.
        stored = self._input_file(req, p.get(kind) or f"attach://{kind}", kind)
        return self._post(p, {kind: self._media(stored, p.get("duration")), **_content(p, "caption")})

    async def _send_location(self, req: _Request) -> dict[str, Any]:
        p = req.params
        return self._post(p, {"location": {"latitude": float(p["latitude"]), "longitude": float(p["longitude"])}})

    async def _send_venue(self, req: _Request) -> dict[str, Any]:
        p = req.params
        location = {"latitude": float(p["latitude"]), "longitude": float(p["longitude"])}
        return self._post(p, {"location": location,
                              "venue": {"location": location, "title": p["title"], "address": p["address"]}})

    async def _send_media_group(self, req: _Request) -> list[dict[str, Any]]:
        p = req.params
        if not isinstance(items := p["media"], list) or not all(isinstance(item, dict) for item in items):
            raise bad_request("can't parse media JSON object")
        if not items:
            raise bad_request("there are no messages to send")
        if len(items) > 10:
            raise bad_request("too many messages to send as an album")
        if len(items) < 2:  # the Bot API documents 2-10 items; the fake holds bots to that
            raise bad_request("wrong number of media in the group: 2-10 items expected")
        for kind in (kinds := {item.get("type") for item in items}):
            if kind not in ("photo", "video", "document", "audio"):
                raise bad_request(f'can\'t parse InputMedia: type "{kind}" can\'t be used in sendMediaGroup')
            if kind in ("document", "audio") and len(kinds) > 1:
                raise bad_request(f"{kind} can't be mixed with other media types")
        self._chat(p["chat_id"])
        contents = [{item["type"]: self._media(self._input_file(req, item.get("media"), item["type"])),
                     **_content(item, "caption")} for item in items]
        group_id = f"group-{next(self._ids['group'])}"
        return [self._post(p, {**content, "media_group_id": group_id}) for content in contents]

    async def _copy_message(self, req: _Request) -> dict[str, int]:
        p = req.params
        content = {k: v for k, v in self._source(p, "copy").items() if k in _CONTENT_KEYS}
        if "caption" in p:
            content = {k: v for k, v in content.items() if k != "caption"} | _content(p, "caption")
        return {"message_id": self._post(p, content)["message_id"]}

    async def _forward_message(self, req: _Request) -> dict[str, Any]:
        source = self._source(req.params, "forward")
        origin = {"type": "user", "date": source["date"], "sender_user": source["from"]}
        content = {k: v for k, v in source.items() if k in _CONTENT_KEYS}
        return self._post(req.params, content | {"forward_origin": origin})

    async def _edit(self, req: _Request, field: str | None) -> Any:
        p = req.params
        changes = _content(p, field) if field else {}
        _check_markup(p.get("reply_markup"))
        if "inline_message_id" in p:  # such a message lives in a chat the fake does not model
            return True
        if (old := self._messages.get(key := (p["chat_id"], p["message_id"]))) is None:
            raise bad_request("message to edit not found")
        if old["from"]["id"] != self.bot_user["id"]:
            raise bad_request("message can't be edited")
        if field == "text" and "text" not in old:
            raise bad_request("there is no text in the message to edit")
        if field == "caption" and not any(kind in old for kind in _FOLDERS):
            raise bad_request("there is no caption in the message to edit")
        # An edit that does not repeat the keyboard removes it, as in Telegram.
        new = {k: v for k, v in old.items() if k not in ("reply_markup", field, "edit_date")} | changes
        if markup := p.get("reply_markup"):
            new["reply_markup"] = markup
        if all(new.get(k) == old.get(k) for k in ("text", "caption", "reply_markup")):
            raise bad_request(NOT_MODIFIED)
        self._messages[key] = new | {"edit_date": int(time.time())}
        return _public(self._messages[key])

    async def _delete_message(self, req: _Request) -> bool:
        if self._messages.pop((req.params["chat_id"], req.params["message_id"]), None) is None:
            raise bad_request("message to delete not found")
        return True

    async def _answer_query(self, req: _Request, key: str = "callback_query_id") -> bool:
        if req.params[key] not in self._open_queries:  # also catches a second answer to the same query
            raise bad_request("query is too old and response timeout expired or query ID is invalid")
        self._open_queries.discard(req.params[key])
        return True

    async def _answer_inline_query(self, req: _Request) -> bool:
        if not isinstance(results := req.params["results"], list):
            raise bad_request("can't parse inline query results JSON object")
        if len(results) > INLINE_RESULTS_LIMIT:
            raise bad_request("RESULTS_TOO_MUCH")
        return await self._answer_query(req, "inline_query_id")

    async def _get_file(self, req: _Request) -> dict[str, Any]:
        if (stored := self._files.get(req.params["file_id"])) is None:
            raise bad_request("invalid file_id")
        return {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "file_size": len(stored.data),
                "file_path": stored.file_path}

    @staticmethod
    def _commands_key(p: _Params) -> str:
        return json.dumps([p.get("scope") or {"type": "default"}, p.get("language_code", "")], sort_keys=True)

    async def _set_my_commands(self, req: _Request) -> bool:
        for command in req.params["commands"]:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command", ""))):
                raise bad_request("BOT_COMMAND_INVALID")
        self._commands[self._commands_key(req.params)] = req.params["commands"]
        return True

    async def _get_my_commands(self, req: _Request) -> list[dict[str, Any]]:
        return self._commands.get(self._commands_key(req.params), [])

    async def _delete_my_commands(self, req: _Request) -> bool:
        self._commands.pop(self._commands_key(req.params), None)
        return True

    async def _set_webhook(self, req: _Request) -> bool:
        if not (url := req.params.get("url")):
            return await self._delete_webhook(req)
        if urlsplit(url).hostname not in ("127.0.0.1", "localhost"):
            raise bad_request("bad webhook: the fake delivers to 127.0.0.1 only")
        if req.params.get("drop_pending_updates"):
            self._pending.clear()
        self.webhook_url, self.webhook_secret = url, req.params.get("secret_token")
        while self._pending:  # updates that waited for getUpdates now go to the webhook
            self._webhook_queue.put_nowait(self._pending.popleft())
        return True

    async def _delete_webhook(self, req: _Request) -> bool:
        if req.params.get("drop_pending_updates"):
            self._pending.clear()
        self.webhook_url = self.webhook_secret = None
        return True

    async def _get_webhook_info(self, req: _Request) -> dict[str, Any]:
        return {"url": self.webhook_url or "", "has_custom_certificate": False,
                "pending_update_count": len(self._pending) + self._webhook_queue.qsize()}

    async def _get_chat(self, req: _Request) -> dict[str, Any]:
        gifts = dict.fromkeys(("unlimited_gifts", "limited_gifts", "unique_gifts", "premium_subscription",
                               "gifts_from_channels"), False)
        return {**self._chat(req.params["chat_id"]), "accent_color_id": 0, "max_reaction_count": 11,
                "accepted_gift_types": gifts}

    async def _get_chat_member(self, req: _Request) -> dict[str, Any]:
        chat_id, user_id = req.params["chat_id"], req.params["user_id"]
        self._chat(chat_id)  # a chat that does not exist (a wrong id) is refused as Telegram refuses it
        user = self._users.get(user_id) or {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}
        status = self._member_status.get((chat_id, user_id), "member")
        return {"status": status, "user": user, **_MEMBER_FIELDS[status]}
