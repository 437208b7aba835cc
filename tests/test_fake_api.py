"""Tests of the fake Telegram Bot API, driven by a real aiogram Bot over HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import TelegramMethod
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    CallbackQuery,
    ChatMemberAdministrator,
    ChatMemberMember,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputMediaPhoto,
    InputTextMessageContent,
    Message,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from tests.fakes.fake_api import BOT_USERNAME, FakeTelegramAPI

TOKEN = "123456:TEST-token"
USER = 1001
GROUP = -1002003004005


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramAPI]:
    async with FakeTelegramAPI(token=TOKEN) as fake:
        fake.add_user(USER, first_name="Aigerim", language_code="kk")
        yield fake


def make_bot(api: FakeTelegramAPI, token: str = TOKEN) -> Bot:
    return Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))


@pytest.fixture
async def bot(api: FakeTelegramAPI) -> AsyncIterator[Bot]:
    async with make_bot(api) as bot:
        yield bot


def keyboard(*buttons: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=text, callback_data=data)] for text, data in buttons]
    )


async def run_app(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def test_get_me_through_aiogram(api: FakeTelegramAPI, bot: Bot) -> None:
    me = await bot.get_me()

    assert (me.id, me.is_bot, me.username) == (123456, True, BOT_USERNAME)
    assert me.supports_inline_queries is True
    assert [call.method for call in api.calls] == ["getMe"]


async def test_wrong_token_is_unauthorized(api: FakeTelegramAPI) -> None:
    async with make_bot(api, token="654321:other-token") as stranger:
        with pytest.raises(TelegramUnauthorizedError, match="Unauthorized"):
            await stranger.get_me()
    assert api.calls == []


async def test_send_message_is_recorded_with_its_keyboard(api: FakeTelegramAPI, bot: Bot) -> None:
    sent = await bot.send_message(USER, "Оцените поликлинику", reply_markup=keyboard(("5 ★", "rate:5")))

    assert sent.from_user is not None and sent.from_user.is_bot
    assert sent.chat.id == USER and sent.chat.type == "private"
    assert sent.reply_markup is not None and sent.reply_markup.inline_keyboard[0][0].callback_data == "rate:5"
    [seen] = api.sent_to(USER)
    assert seen["text"] == "Оцените поликлинику"
    assert seen["reply_markup"]["inline_keyboard"][0][0]["text"] == "5 ★"
    assert api.calls_of("sendmessage")[0].params["chat_id"] == USER  # decoded from the form to an int


async def test_text_limits(bot: Bot) -> None:
    await bot.send_message(USER, "я" * 4096)

    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(USER, "я" * 4097)
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(USER, "  \n ")
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_photo(USER, BufferedInputFile(b"jpeg", "p.jpg"), caption="x" * 1025)
    with pytest.raises(TelegramBadRequest, match='Unsupported start tag "script"'):
        await bot.send_message(USER, "Отзыв: <script>", parse_mode="HTML")


async def test_callback_data_is_limited_to_64_bytes(api: FakeTelegramAPI, bot: Bot) -> None:
    await bot.send_message(USER, "ok", reply_markup=keyboard(("a", "ж" * 32)))  # 64 bytes in UTF-8

    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(USER, "too long", reply_markup=keyboard(("a", "x" * 65)))
    assert [m["text"] for m in api.sent_to(USER)] == ["ok"]


async def test_send_photo_uploads_bytes_as_multipart(api: FakeTelegramAPI, bot: Bot) -> None:
    sent = await bot.send_photo(USER, BufferedInputFile(b"\xff\xd8photo", "ward.jpg"), caption="Палата")

    assert sent.photo is not None and sent.caption == "Палата"
    assert api.file_data(sent.photo[-1].file_id) == b"\xff\xd8photo"
    [call] = api.calls_of("sendPhoto")
    assert list(call.files.values()) == [b"\xff\xd8photo"]
    assert call.params["photo"].startswith("attach://")
    # The stored file_id can be sent again without uploading.
    again = await bot.send_photo(GROUP, sent.photo[-1].file_id)
    assert again.photo is not None and again.photo[-1].file_unique_id == sent.photo[-1].file_unique_id


async def test_send_media_group_resolves_attached_parts(api: FakeTelegramAPI, bot: Bot) -> None:
    album = [
        InputMediaPhoto(media=BufferedInputFile(b"first", "1.jpg"), caption="Коридор"),
        InputMediaPhoto(media=BufferedInputFile(b"second", "2.jpg")),
    ]
    messages = await bot.send_media_group(GROUP, album)

    assert len(messages) == 2
    assert messages[0].media_group_id is not None and messages[0].media_group_id == messages[1].media_group_id
    assert messages[0].caption == "Коридор" and messages[1].caption is None
    assert [api.file_data(m.photo[-1].file_id) for m in messages if m.photo] == [b"first", b"second"]
    with pytest.raises(TelegramBadRequest, match="2-10 items"):
        await bot.send_media_group(GROUP, album[:1])


@pytest.mark.parametrize(
    ("method", "field", "attribute"),
    [("send_video", "video", "video"), ("send_document", "document", "document"),
     ("send_voice", "voice", "voice"), ("send_audio", "audio", "audio")],
)
async def test_other_media_round_trip(
    api: FakeTelegramAPI, bot: Bot, method: str, field: str, attribute: str
) -> None:
    sent: Message = await getattr(bot, method)(USER, **{field: BufferedInputFile(b"media", "a.pdf")})

    media = getattr(sent, attribute)
    assert media is not None
    assert api.file_data(media.file_id) == b"media"


async def test_venue_location_copy_and_forward(api: FakeTelegramAPI, bot: Bot) -> None:
    venue = await bot.send_venue(USER, 43.24, 76.89, "Поликлиника №1", "ул. Абая, 1")
    location = await bot.send_location(USER, 43.25, 76.9)
    review = api.send_text(USER, "Долго ждал приёма")["message"]

    copied = await bot.copy_message(GROUP, USER, review["message_id"])
    forwarded = await bot.forward_message(GROUP, USER, review["message_id"])

    assert venue.venue is not None and venue.venue.address == "ул. Абая, 1"
    assert location.location is not None and location.location.latitude == 43.25
    assert forwarded.text == "Долго ждал приёма" and forwarded.forward_origin is not None
    assert [m["message_id"] for m in api.sent_to(GROUP)] == [copied.message_id, forwarded.message_id]
    assert api.sent_to(GROUP)[0]["text"] == "Долго ждал приёма"
    with pytest.raises(TelegramBadRequest, match="message to copy not found"):
        await bot.copy_message(GROUP, USER, 999)


async def test_edits_show_in_bot_messages_and_unchanged_edit_fails(api: FakeTelegramAPI, bot: Bot) -> None:
    sent = await bot.send_message(USER, "Выберите врача", reply_markup=keyboard(("Терапевт", "doc:1")))

    await bot.edit_message_text("Врач выбран", chat_id=USER, message_id=sent.message_id)

    [now] = api.bot_messages(USER)
    assert now["text"] == "Врач выбран" and "reply_markup" not in now  # an edit without markup drops it
    assert api.sent_to(USER)[0]["text"] == "Выберите врача"
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("Врач выбран", chat_id=USER, message_id=sent.message_id)
    await bot.edit_message_reply_markup(chat_id=USER, message_id=sent.message_id, reply_markup=keyboard(("↩", "b")))
    assert api.bot_messages(USER)[0]["reply_markup"]["inline_keyboard"][0][0]["text"] == "↩"
    assert await bot.delete_message(USER, sent.message_id) is True
    assert api.bot_messages(USER) == []


async def test_press_produces_a_callback_query(api: FakeTelegramAPI, bot: Bot) -> None:
    sent = await bot.send_message(USER, "Срочно?", reply_markup=keyboard(("Да", "urgent:yes"), ("Нет", "urgent:no")))
    api.press(USER, api.sent_to(USER)[0], "Нет")

    [update] = await bot.get_updates(timeout=0)

    query = update.callback_query
    assert query is not None and query.data == "urgent:no" and query.from_user.id == USER
    assert query.message is not None and query.message.message_id == sent.message_id
    assert await bot.answer_callback_query(query.id) is True
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query.id)
    with pytest.raises(AssertionError, match="'Да', 'Нет'"):
        api.press(USER, api.sent_to(USER)[0], "Может быть")


async def test_user_photo_can_be_fetched_and_downloaded(api: FakeTelegramAPI, bot: Bot) -> None:
    first = api.send_photo(USER, b"\x89PNG-evidence", caption="Очередь")["message"]
    second = api.send_photo(USER, b"other")["message"]
    file_id = first["photo"][-1]["file_id"]

    file = await bot.get_file(file_id)
    downloaded = await bot.download(file_id)

    assert file.file_path is not None and file.file_path.startswith("photos/file_")
    assert file.file_size == len(b"\x89PNG-evidence")
    assert downloaded is not None and downloaded.read() == b"\x89PNG-evidence"
    assert first["photo"][-1]["file_unique_id"] != second["photo"][-1]["file_unique_id"]
    with pytest.raises(TelegramBadRequest, match="invalid file_id"):
        await bot.get_file("nope")


async def test_user_side_builders_pass_aiogram_validation(api: FakeTelegramAPI, bot: Bot) -> None:
    api.send_text(USER, "/start clinic_5")
    api.send_voice(USER, b"ogg", duration=7)
    api.send_document(USER, b"%PDF", "справка.pdf", "application/pdf")
    api.send_video(USER, b"mp4")
    api.send_contact(USER, "+77010000000")
    api.send_location(USER, 43.2, 76.9)
    album = api.send_album(USER, [b"a", b"b", b"c"], caption="Фото")
    api.inline_query(USER, "терапевт")

    updates = await bot.get_updates(timeout=0)

    messages = [u.message for u in updates if u.message]
    assert len(updates) == 10 and len(messages) == 9
    start = messages[0]
    assert start.entities is not None and (start.entities[0].type, start.entities[0].length) == ("bot_command", 6)
    assert messages[1].voice is not None and messages[1].voice.duration == 7
    assert messages[2].document is not None and messages[2].document.file_name == "справка.pdf"
    assert messages[4].contact is not None and messages[4].contact.phone_number == "+77010000000"
    assert {m.media_group_id for m in messages[6:9]} == {album[0]["message"]["media_group_id"]}
    assert [m.caption for m in messages[6:9]] == ["Фото", None, None]
    assert updates[-1].inline_query is not None and updates[-1].inline_query.query == "терапевт"
    assert [u.update_id for u in updates] == sorted({u.update_id for u in updates})


async def test_get_updates_honours_offset_and_limit(api: FakeTelegramAPI, bot: Bot) -> None:
    for text in ("one", "two", "three"):
        api.send_text(USER, text)

    first_two = await bot.get_updates(limit=2, timeout=0)
    rest = await bot.get_updates(offset=first_two[-1].update_id + 1, timeout=0)
    after_all = await bot.get_updates(offset=rest[-1].update_id + 1, timeout=0)

    assert [u.message.text for u in first_two if u.message] == ["one", "two"]
    assert [u.message.text for u in rest if u.message] == ["three"]
    assert after_all == []


async def test_long_poll_returns_as_soon_as_an_update_arrives(api: FakeTelegramAPI, bot: Bot) -> None:
    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(timeout=10))
    await asyncio.sleep(0.2)
    assert not poll.done()  # still holding the request open

    api.send_text(USER, "/start")
    updates = await asyncio.wait_for(poll, 2)

    assert [u.message.text for u in updates if u.message] == ["/start"]
    assert time.monotonic() - started < 2


async def test_long_poll_times_out_empty(bot: Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == []
    assert 0.9 <= time.monotonic() - started < 3


async def test_injected_errors_become_aiogram_exceptions(api: FakeTelegramAPI, bot: Bot) -> None:
    api.fail_next("sendMessage", error_code=429, description="Too Many Requests: retry after 7", retry_after=7)
    api.fail_next("sendMessage", error_code=403, description="Forbidden: bot was blocked by the user")
    api.fail_next("sendmessage", error_code=500, description="Internal Server Error")
    api.drop_next("sendMessage")

    with pytest.raises(TelegramRetryAfter) as retry:
        await bot.send_message(USER, "1")
    with pytest.raises(TelegramForbiddenError, match="blocked"):
        await bot.send_message(USER, "2")
    with pytest.raises(TelegramServerError):
        await bot.send_message(USER, "3")
    with pytest.raises(TelegramNetworkError):
        await bot.send_message(USER, "4")
    delivered = await bot.send_message(USER, "5")

    assert retry.value.retry_after == 7
    assert [c.params["text"] for c in api.calls_of("sendMessage")] == ["1", "2", "3", "4", "5"]
    assert [m["text"] for m in api.sent_to(USER)] == ["5"] and delivered.text == "5"


class FrobnicateChat(TelegramMethod[bool]):
    """A method Telegram does not have."""

    __returning__ = bool
    __api_method__ = "frobnicateChat"

    chat_id: int


async def test_unknown_method_is_a_bad_request(api: FakeTelegramAPI, bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="method not found"):
        await bot(FrobnicateChat(chat_id=USER))
    assert api.calls_of("frobnicateChat")[0].params == {"chat_id": USER}


async def test_raw_http_json_body_and_case_insensitive_names(api: FakeTelegramAPI) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{api.base_url}/bot{TOKEN}/SENDMESSAGE",
                             json={"chat_id": USER, "text": "42", "reply_markup": '{"inline_keyboard": []}'}) as r:
            sent = await r.json()
        async with http.get(f"{api.base_url}/bot{TOKEN}/getme") as r:
            me = await r.json()
        async with http.get(f"{api.base_url}/bot{TOKEN}/getChat", params={"chat_id": "-100500"}) as r:
            chat = await r.json()

    assert sent["ok"] is True and sent["result"]["text"] == "42"
    assert api.calls_of("sendMessage")[0].params["reply_markup"] == {"inline_keyboard": []}
    assert me["result"]["username"] == BOT_USERNAME
    assert chat["result"]["type"] == "supergroup"


async def test_misc_methods(api: FakeTelegramAPI, bot: Bot) -> None:
    api.set_member_status(GROUP, 77, "administrator")
    await bot.set_my_commands([BotCommand(command="start", description="Начать")], language_code="ru")

    assert [c.command for c in await bot.get_my_commands(language_code="ru")] == ["start"]
    assert await bot.get_my_commands() == []
    assert isinstance(await bot.get_chat_member(GROUP, 77), ChatMemberAdministrator)
    assert isinstance(await bot.get_chat_member(GROUP, USER), ChatMemberMember)
    assert (await bot.get_chat(USER)).first_name == "Aigerim"
    assert await bot.send_chat_action(USER, "typing") is True
    assert await bot.set_chat_menu_button() is True
    assert await bot.delete_my_commands(language_code="ru") is True
    assert await bot.get_my_commands(language_code="ru") == []
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Start", description="x")])
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(424242, "never wrote to the bot")


async def test_answer_inline_query_allows_at_most_50_results(api: FakeTelegramAPI, bot: Bot) -> None:
    def results(n: int) -> list[Any]:
        content = InputTextMessageContent(message_text="Поликлиника")
        return [InlineQueryResultArticle(id=str(i), title="П", input_message_content=content) for i in range(n)]

    query = api.inline_query(USER, "п")["inline_query"]
    with pytest.raises(TelegramBadRequest, match="RESULTS_TOO_MUCH"):
        await bot.answer_inline_query(query["id"], results(51))
    assert await bot.answer_inline_query(query["id"], results(50)) is True


async def test_wait_for_returns_the_reaction_or_explains_the_timeout(api: FakeTelegramAPI, bot: Bot) -> None:
    await bot.send_message(USER, "before")
    api.send_text(USER, "hi")
    later = asyncio.create_task(bot.send_message(USER, "after"))

    call = await api.wait_for("sendMessage", timeout=2)
    await later

    assert call.params["text"] == "after"  # calls before the user's action are not the reaction
    api.send_text(USER, "twice")
    replies = [asyncio.create_task(bot.send_message(USER, text)) for text in ("one", "two")]
    second = await api.wait_for("sendMessage", count=2)
    await asyncio.gather(*replies)
    assert second.params["text"] == "two"
    with pytest.raises(AssertionError, match=r"(?s)sendPhoto.*recent calls.*sendMessage"):
        await api.wait_for("sendPhoto", timeout=0.1)
    assert (await api.wait_for(lambda c: c.params.get("text") == "before", since=0)).method == "sendMessage"


async def test_webhook_delivers_with_secret_and_retries(api: FakeTelegramAPI, bot: Bot) -> None:
    received: list[tuple[str | None, dict[str, Any]]] = []
    answers = iter([500, 200, 200])

    async def receive(request: web.Request) -> web.Response:
        received.append((request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json()))
        return web.Response(status=next(answers))

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner, url = await run_app(app)
    try:
        api.send_text(USER, "queued before the webhook")
        await bot.set_webhook(f"{url}/hook", secret_token="s3cret")
        api.send_text(USER, "after")
        await api.wait_webhook_idle()

        info = await bot.get_webhook_info()
        with pytest.raises(TelegramConflictError):
            await bot.get_updates()
    finally:
        await runner.cleanup()

    ids = [update["update_id"] for _, update in received]
    assert {secret for secret, _ in received} == {"s3cret"}
    assert [u["message"]["text"] for _, u in received] == ["queued before the webhook"] * 2 + ["after"]
    assert api.webhook_deliveries == [(ids[0], 500), (ids[0], 200), (ids[2], 200)]
    assert info.url == f"{url}/hook" and info.pending_update_count == 0


async def test_webhook_delivery_to_a_dead_endpoint_does_not_break_the_fake(api: FakeTelegramAPI, bot: Bot) -> None:
    runner, dead_url = await run_app(web.Application())
    await runner.cleanup()  # nothing listens on that port any more
    await bot.set_webhook(f"{dead_url}/hook")

    update = api.send_text(USER, "lost")
    await api.wait_webhook_idle()
    await bot.delete_webhook()
    api.send_text(USER, "polled")

    assert api.webhook_deliveries == [(update["update_id"], 0)] * 3
    assert [u.message.text for u in await bot.get_updates(timeout=0) if u.message] == ["polled"]


async def test_aiogram_webhook_handler_checks_the_secret(api: FakeTelegramAPI, bot: Bot) -> None:
    dispatcher = Dispatcher()
    seen: list[str] = []

    @dispatcher.message()
    async def echo(message: Message) -> None:
        seen.append(message.text or "")
        await message.answer(f"echo: {message.text}")

    app = web.Application()
    SimpleRequestHandler(dispatcher, bot, secret_token="right-secret").register(app, path="/webhook")
    runner, url = await run_app(app)
    try:
        await bot.set_webhook(f"{url}/webhook", secret_token="right-secret")
        update = {
            "update_id": 1, "message": {"message_id": 1, "date": 0, "text": "hi",
                                        "chat": {"id": USER, "type": "private"},
                                        "from": {"id": USER, "is_bot": False, "first_name": "A"}},
        }
        rejected = await api.deliver_raw(update, secret="wrong")
        unsigned = await api.deliver_raw(update, secret=None)
        api.send_text(USER, "ping")
        reply = await api.wait_for("sendMessage")
    finally:
        await runner.cleanup()

    assert (rejected, unsigned) == (401, 401)
    assert seen == ["ping"]
    assert reply.params["text"] == "echo: ping"
    assert api.webhook_deliveries[-1][1] == 200


async def test_method_in_a_webhook_reply_is_executed(api: FakeTelegramAPI, bot: Bot) -> None:
    dispatcher = Dispatcher()

    @dispatcher.message()
    async def reply_in_response(message: Message) -> Any:
        return message.answer("answered in the webhook response")  # not awaited: aiogram puts it in the body

    app = web.Application()
    SimpleRequestHandler(dispatcher, bot, handle_in_background=False).register(app, path="/webhook")
    runner, url = await run_app(app)
    try:
        await bot.set_webhook(f"{url}/webhook")
        api.send_text(USER, "hello")
        call = await api.wait_for("sendMessage")
    finally:
        await runner.cleanup()

    assert call.params == {"chat_id": USER, "text": "answered in the webhook response"}
    assert [m["text"] for m in api.bot_messages(USER)] == ["answered in the webhook response"]


async def test_a_polling_dispatcher_talks_to_the_fake(api: FakeTelegramAPI, bot: Bot) -> None:
    dispatcher = Dispatcher()

    @dispatcher.message()
    async def greet(message: Message) -> None:
        await message.answer("Здравствуйте!", reply_markup=keyboard(("Оставить отзыв", "review")))

    @dispatcher.callback_query()
    async def pressed(query: CallbackQuery) -> None:
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.edit_text(f"Вы выбрали: {query.data}")

    polling = asyncio.create_task(dispatcher.start_polling(bot, handle_signals=False, polling_timeout=1))
    try:
        api.send_text(USER, "/start")
        await api.wait_for("sendMessage")
        api.press(USER, api.bot_messages(USER)[0], "Оставить отзыв")
        await api.wait_for("editMessageText")
    finally:
        await dispatcher.stop_polling()
        await polling

    assert [m["text"] for m in api.bot_messages(USER)] == ["Вы выбрали: review"]
    assert len(api.calls_of("answerCallbackQuery")) == 1
