"""The Bot API session: calls without files travel as JSON, uploads as multipart, errors as aiogram raises them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramBadRequest, TelegramNetworkError, TelegramRetryAfter
from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup, InputMediaPhoto

from bot.config import load_settings
from bot.factory import create_bot
from bot.telegram_session import JsonBodySession
from tests.fakes.fake_api import FakeTelegramAPI

TOKEN = "123456:TEST-token"
PERSON = 5005
# What residents write: Kazakh and Russian letters, HTML the bot adds, an emoji, a quote and an ampersand.
TEXT = "<b>№12 қалалық емхана</b>: дәрігер «Әсем» & Ко — спасибо! 🙏 \"ok\""


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramAPI]:
    async with FakeTelegramAPI(token=TOKEN) as fake:
        fake.add_user(PERSON, first_name="Әсем", language_code="kk")
        yield fake


@pytest.fixture
async def bot(api: FakeTelegramAPI) -> AsyncIterator[Bot]:
    session = JsonBodySession(api=TelegramAPIServer.from_base(api.base_url))
    async with Bot(TOKEN, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML,
                                                                        link_preview_is_disabled=True)) as bot:
        yield bot


def keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Қазақша", callback_data="lang:kk"),
                                                  InlineKeyboardButton(text="Русский", callback_data="lang:ru")]])


async def test_a_text_with_a_keyboard_goes_as_json_and_arrives_exactly(api: FakeTelegramAPI, bot: Bot) -> None:
    sent = await bot.send_message(PERSON, TEXT, reply_markup=keyboard())

    call = api.calls_of("sendMessage")[-1]
    assert call.content_type == "application/json"
    assert call.params["text"] == TEXT
    assert call.params["chat_id"] == PERSON
    # The bot's defaults are applied, as in aiogram's form.
    assert call.params["parse_mode"] == "HTML"
    assert call.params["link_preview_options"] == {"is_disabled": True}
    assert call.params["reply_markup"] == {"inline_keyboard": [
        [{"text": "Қазақша", "callback_data": "lang:kk"}, {"text": "Русский", "callback_data": "lang:ru"}]]}
    # The answer is parsed as before: the message the person sees, with its buttons.
    assert sent.message_id > 0
    assert sent.reply_markup is not None and sent.reply_markup.inline_keyboard[0][1].callback_data == "lang:ru"
    assert "Әсем" in api.bot_messages(PERSON)[-1]["text"]


async def test_an_upload_keeps_the_multipart_form(api: FakeTelegramAPI, bot: Bot) -> None:
    photo = BufferedInputFile(b"\xff\xd8 a photo of the queue", filename="queue.jpg")
    await bot.send_photo(PERSON, photo, caption=TEXT)
    await bot.send_media_group(PERSON, [InputMediaPhoto(media=BufferedInputFile(b"one", filename="1.jpg")),
                                        InputMediaPhoto(media=BufferedInputFile(b"two", filename="2.jpg"))])

    photo_call = api.calls_of("sendPhoto")[-1]
    assert photo_call.content_type == "multipart/form-data"
    assert photo_call.params["caption"] == TEXT
    assert list(photo_call.files.values()) == [b"\xff\xd8 a photo of the queue"]
    album = api.calls_of("sendMediaGroup")[-1]
    assert album.content_type == "multipart/form-data"
    assert sorted(album.files.values()) == [b"one", b"two"]


async def test_a_photo_sent_again_by_its_file_id_is_json(api: FakeTelegramAPI, bot: Bot) -> None:
    first = await bot.send_photo(PERSON, BufferedInputFile(b"evidence", filename="e.jpg"))
    await bot.send_photo(PERSON, first.photo[-1].file_id, caption="again")

    again = api.calls_of("sendPhoto")[-1]
    assert again.content_type == "application/json"
    assert again.params["photo"] == first.photo[-1].file_id


async def test_telegram_refusals_raise_what_aiogram_raises(api: FakeTelegramAPI, bot: Bot) -> None:
    api.fail_next("sendMessage", error_code=429, description="Too Many Requests: retry after 7", retry_after=7)
    with pytest.raises(TelegramRetryAfter) as limited:
        await bot.send_message(PERSON, TEXT)
    assert limited.value.retry_after == 7

    api.fail_next("sendMessage", error_code=400, description="Bad Request: chat not found")
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(PERSON, TEXT)

    api.drop_next("sendMessage")
    with pytest.raises(TelegramNetworkError):
        await bot.send_message(PERSON, TEXT)

    # Nothing of the refused calls reached the person; the next call does.
    await bot.send_message(PERSON, "after")
    assert [message.get("text") for message in api.bot_messages(PERSON)] == ["after"]


async def test_an_empty_text_is_left_out_as_the_form_leaves_it_out(api: FakeTelegramAPI, bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="text"):
        await bot.send_message(PERSON, "")
    assert "text" not in api.calls_of("sendMessage")[-1].params


async def test_a_lone_surrogate_in_a_button_reaches_telegram_as_the_form_sends_it(api: FakeTelegramAPI,
                                                                                    bot: Bot) -> None:
    # Half an emoji, as a broken client might leave it in a name the bot puts on a button: aiogram's form sends it
    # escaped and Telegram decides; encoding the body as UTF-8 here would fail before anything was sent.
    broken = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Әсем \ud83d", callback_data="x")]])
    await bot.send_message(PERSON, "ok", reply_markup=broken)

    call = api.calls_of("sendMessage")[-1]
    assert call.content_type == "application/json"
    assert call.params["reply_markup"]["inline_keyboard"][0][0]["text"] == "Әсем \ud83d"


async def test_the_bot_is_built_with_this_session(tmp_path: Path) -> None:
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    bot = create_bot(load_settings(empty, telegram={"token": TOKEN}))
    try:
        assert isinstance(bot.session, JsonBodySession)
    finally:
        await bot.session.close()
