"""Proves the test fakes behave like Telegram: typed calls, real aiogram exceptions, what a person sees."""

from __future__ import annotations

import hashlib

import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.filters import Command, CommandObject
from aiogram.methods import EditMessageText, SendMessage
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    ChatMemberAdministrator,
    ChatMemberMember,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
)

from tests.fakes.client import UserClient
from tests.fakes.session import RecordingSession, UnsupportedMethodError
from tests.fakes.updates import UpdateFactory

QUESTION = "Как вы оцениваете приём?"


def make_router(seen: list[Message]) -> Router:
    """A tiny bot: a rating keyboard, a photo checksum, and commands that break Telegram's limits on demand."""
    router = Router()

    @router.message(Command("start"))
    async def start(message: Message) -> None:
        keyboard = [
            [
                InlineKeyboardButton(text="Хорошо", callback_data="rate:5"),
                InlineKeyboardButton(text="Плохо", callback_data="rate:1"),
            ],
            [InlineKeyboardButton(text="Сайт", url="https://example.org")],
        ]
        await message.answer(QUESTION, reply_markup=InlineKeyboardMarkup(inline_keyboard=keyboard))

    @router.callback_query(F.data.startswith("rate:"))
    async def rated(callback: CallbackQuery) -> None:
        await callback.message.edit_text(f"Оценка {callback.data[5:]} принята")  # type: ignore[union-attr]
        await callback.answer("Спасибо")

    @router.message(F.photo)
    async def photo(message: Message, bot: Bot) -> None:
        seen.append(message)
        data = (await bot.download(message.photo[-1])).read()  # type: ignore[index, union-attr]
        await message.answer(f"{len(data)} байт, sha256 {hashlib.sha256(data).hexdigest()}")

    @router.message(Command("long"))
    async def long(message: Message, command: CommandObject) -> None:
        await message.answer("я" * int(command.args or 0))

    @router.message(Command("data"))
    async def data(message: Message, command: CommandObject) -> None:
        button = InlineKeyboardButton(text="Кнопка", callback_data="d" * int(command.args or 0))
        await message.answer("Данные", reply_markup=InlineKeyboardMarkup(inline_keyboard=[[button]]))

    @router.message(Command("pin"))
    async def pin(message: Message) -> None:
        await message.pin()  # a method the fake deliberately does not answer

    return router


@pytest.fixture
def session() -> RecordingSession:
    return RecordingSession()


@pytest.fixture
def bot(session: RecordingSession) -> Bot:
    return Bot("42:TEST", session=session)


@pytest.fixture
def seen() -> list[Message]:
    return []


@pytest.fixture
def dp(seen: list[Message]) -> Dispatcher:
    dp = Dispatcher()
    dp.include_router(make_router(seen))
    return dp


@pytest.fixture
def client(dp: Dispatcher, bot: Bot, session: RecordingSession) -> UserClient:
    return UserClient(dp, bot, session)


async def test_press_by_visible_text_edits_the_message_in_place(client: UserClient, session: RecordingSession):
    asked = await client.command("start")
    assert asked.text == QUESTION
    assert asked.buttons == [["Хорошо", "Плохо"], ["Сайт"]]

    pressed = await client.press("Хорошо")

    assert pressed.callback_answers == ["Спасибо"]
    assert pressed.texts == ["Оценка 5 принята"]
    assert session.calls_of(EditMessageText)[0].message_id == asked.messages[0].message_id
    # The person sees the edited message, and edit_text without reply_markup took the keyboard away.
    assert client.all_texts() == ["Оценка 5 принята"]
    assert client.last_buttons() == []
    with pytest.raises(AssertionError, match="no bot message with an inline keyboard"):
        await client.press("Хорошо")


async def test_press_accepts_a_unique_substring(client: UserClient):
    await client.command("start")
    assert (await client.press("Плох")).text == "Оценка 1 принята"


async def test_press_on_a_missing_button_lists_the_buttons(client: UserClient):
    await client.command("start")
    with pytest.raises(AssertionError, match=r"no button 'Отлично'.*\['Хорошо', 'Плохо', 'Сайт'\]"):
        await client.press("Отлично")


async def test_press_on_a_url_button_fails(client: UserClient):
    await client.command("start")
    with pytest.raises(AssertionError, match=r"'Сайт' sends nothing to the bot \(url='https://example.org'\)"):
        await client.press("Сайт")


async def test_press_data_sends_forged_callback_data(client: UserClient):
    await client.command("start")
    assert (await client.press_data("rate:9")).text == "Оценка 9 принята"


async def test_reply_keyboard_is_what_the_person_sees(client: UserClient, bot: Bot):
    keyboard = ReplyKeyboardMarkup(keyboard=[[KeyboardButton(text="📱 Номер", request_contact=True)]])
    await bot.send_message(client.chat_id, "Поделитесь номером", reply_markup=keyboard)
    assert client.last_buttons() == [["📱 Номер"]]


async def test_bot_can_regroup_and_copy_what_the_person_sent(client: UserClient, bot: Bot, session: RecordingSession):
    await client.photo(b"jpeg from the person")
    sent_by_person = session.history(client.chat_id)[0]
    file_id = sent_by_person.photo[-1].file_id  # type: ignore[index]
    upload = BufferedInputFile(b"jpeg from the bot", "evidence.jpg")

    album = await bot.send_media_group(-100777, media=[InputMediaPhoto(media=file_id), InputMediaPhoto(media=upload)])

    assert len({message.media_group_id for message in album}) == 1
    assert album[0].media_group_id is not None
    assert album[0].photo[-1].file_id == file_id  # type: ignore[index]
    assert (await bot.download(album[1].photo[-1])).read() == b"jpeg from the bot"  # type: ignore[index, union-attr]
    with pytest.raises(TelegramBadRequest, match="2-10 items"):
        await bot.send_media_group(-100777, media=[InputMediaPhoto(media=file_id)])

    copied = await bot.copy_message(-100777, client.chat_id, sent_by_person.message_id, caption="Жалоба")
    shown = session.message(-100777, copied.message_id)
    assert shown is not None
    assert (shown.caption, shown.photo[-1].file_id) == ("Жалоба", file_id)  # type: ignore[index]


async def test_photo_bytes_round_trip_through_download(client: UserClient):
    data = bytes(range(256)) * 10
    reply = await client.photo(data)
    assert reply.text == f"2560 байт, sha256 {hashlib.sha256(data).hexdigest()}"


async def test_album_reaches_the_handler_once_per_item_with_one_group(client: UserClient, seen: list[Message]):
    reply = await client.album([b"one", b"two", b"three"])
    assert len(seen) == 3
    group_ids = {message.media_group_id for message in seen}
    assert len(group_ids) == 1
    assert None not in group_ids
    assert [text.split(",")[0] for text in reply.texts] == ["3 байт", "3 байт", "5 байт"]


async def test_text_longer_than_4096_is_rejected_like_telegram(client: UserClient):
    assert (await client.command("long", "4096")).text == "я" * 4096
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await client.command("long", "4097")


async def test_callback_data_longer_than_64_bytes_is_rejected(client: UserClient):
    assert (await client.command("data", "64")).buttons == [["Кнопка"]]
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await client.command("data", "65")


async def test_injected_429_raises_retry_after_once(client: UserClient, session: RecordingSession):
    session.fail_next(SendMessage, error_code=429, description="Too Many Requests: retry after 7", retry_after=7)
    with pytest.raises(TelegramRetryAfter) as error:
        await client.command("start")
    assert error.value.retry_after == 7

    assert (await client.command("start")).text == QUESTION
    assert len(session.calls_of(SendMessage)) == 2  # both attempts are recorded…
    assert len(session.sent_messages(client.chat_id)) == 1  # …but only one message was delivered


@pytest.mark.parametrize(
    ("error_code", "description", "exception"),
    [
        (403, "Forbidden: bot was blocked by the user", TelegramForbiddenError),
        (400, "Bad Request: chat not found", TelegramBadRequest),
        (502, "Bad Gateway", TelegramServerError),
    ],
)
async def test_injected_errors_become_real_aiogram_exceptions(
    bot: Bot, session: RecordingSession, error_code: int, description: str, exception: type[Exception]
):
    session.fail_next("sendMessage", error_code=error_code, description=description)
    with pytest.raises(exception, match=description):
        await bot.send_message(1001, "Здравствуйте")


async def test_network_failure_is_a_telegram_network_error(bot: Bot, session: RecordingSession):
    session.fail_next_network(SendMessage, times=2)
    for _ in range(2):
        with pytest.raises(TelegramNetworkError):
            await bot.send_message(1001, "Здравствуйте")
    assert (await bot.send_message(1001, "Здравствуйте")).text == "Здравствуйте"


async def test_unanswerable_method_fails_even_if_an_error_handler_swallows_it(dp: Dispatcher, client: UserClient):
    @dp.errors()
    async def swallow_everything(event: object) -> bool:
        return True

    with pytest.raises(UnsupportedMethodError, match="pinChatMessage"):
        await client.command("pin")


async def test_html_is_parsed_like_telegram(bot: Bot):
    sent = await bot.send_message(1001, "<b>Клиника</b> &amp; врач", parse_mode="HTML")
    assert sent.text == "Клиника & врач"
    assert [(e.type, e.offset, e.length) for e in sent.entities or []] == [("bold", 0, 7)]
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(1001, "Спасибо <3", parse_mode="HTML")


async def test_editing_to_identical_content_is_not_modified(bot: Bot):
    sent = await bot.send_message(1001, "Черновик")
    await bot.edit_message_text("Отправлено", chat_id=1001, message_id=sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("Отправлено", chat_id=1001, message_id=sent.message_id)


async def test_get_file_of_an_unknown_file_is_a_bad_request(bot: Bot, session: RecordingSession):
    session.add_file("known", b"abc", file_path="documents/known.pdf")
    assert (await bot.get_file("known")).file_size == 3
    with pytest.raises(TelegramBadRequest, match="file not found"):
        await bot.get_file("unknown")


async def test_chat_member_status_is_configurable(bot: Bot, session: RecordingSession):
    assert isinstance(await bot.get_chat_member(-1001, 1001), ChatMemberMember)
    session.set_chat_member(-1001, 1001, "administrator")
    admin = await bot.get_chat_member(-1001, 1001)
    assert isinstance(admin, ChatMemberAdministrator)
    assert admin.can_delete_messages


async def test_group_client_talks_in_the_group(dp: Dispatcher, bot: Bot, session: RecordingSession):
    member = UserClient(dp, bot, session, user_id=2002, chat_id=-1001234567890)
    reply = await member.command("start")
    assert reply.messages[0].chat.type == "supergroup"
    assert member.last_text == QUESTION


@pytest.mark.parametrize(
    ("build", "content_type"),
    [
        (lambda f: f.text("/start abc"), "text"),
        (lambda f: f.photo(), "photo"),
        (lambda f: f.video(), "video"),
        (lambda f: f.voice(), "voice"),
        (lambda f: f.document(file_name="a.pdf"), "document"),
        (lambda f: f.contact("+77010000000"), "contact"),
        (lambda f: f.location(43.24, 76.95), "location"),
        (lambda f: f.sticker(), "sticker"),
        (lambda f: f.animation(), "animation"),
        (lambda f: f.text("привет", chat=f.chat(-500, title="Клиника")), "text"),
    ],
)
def test_update_builders_produce_valid_messages(build, content_type: str):
    update = build(UpdateFactory())
    assert update.message.content_type == content_type


def test_update_builders_for_other_events():
    factory = UpdateFactory()
    command = factory.text("/start abc").message
    assert [(e.type, e.offset, e.length) for e in command.entities] == [("bot_command", 0, 6)]
    bot_user = factory.user(42, first_name="Bot", is_bot=True)
    assert factory.my_chat_member(bot_user).my_chat_member.new_chat_member.status == "kicked"
    assert factory.inline_query("клиника").inline_query.query == "клиника"
    assert factory.edited_message(7, "исправлено").edited_message.message_id == 7
    first, second = factory.text("a"), factory.text("b")
    assert second.update_id == first.update_id + 1
    assert second.message.message_id == first.message.message_id + 1
