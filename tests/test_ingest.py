"""How updates come in: the project's polling loop and webhook endpoint against the fake Bot API over HTTP.

The offset confirms only a contiguous prefix of handled updates, chats run side by side and each in order, an
outage leaves the update unconfirmed, the webhook says 503/400/401 honestly, and stopping finishes what is in
flight. Handlers here are tiny on purpose: what is tested is the loop, not the bot."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message
from aiohttp import ClientError, ClientSession, ClientTimeout, web

from bot.polling import Poller
from bot.unit_of_work import InfrastructureUnavailable, WebhookReply, send_after_commit
from bot.webhook import WebhookEndpoint
from tests.fakes.fake_api import FakeTelegramAPI

TOKEN = "123456:TEST-token"
ALICE, BORIS = 6001, 6002


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramAPI]:
    async with FakeTelegramAPI(token=TOKEN) as fake:
        fake.add_user(ALICE, "Alice", "en")
        fake.add_user(BORIS, "Boris", "ru")
        yield fake


@pytest.fixture
async def bot(api: FakeTelegramAPI) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url))) as bot:
        yield bot


def offsets(api: FakeTelegramAPI) -> list[int]:
    return [call.params.get("offset") or 0 for call in api.calls_of("getUpdates")]


async def until(condition, seconds: float = 20.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    assert condition()


async def test_a_slow_update_holds_back_the_offset_but_not_other_chats(api: FakeTelegramAPI, bot: Bot) -> None:
    dispatcher = Dispatcher()
    release = asyncio.Event()
    handled: list[str] = []

    @dispatcher.message()
    async def on_message(message: Message) -> None:
        if message.text == "slow":
            await release.wait()  # a 20 MB download, say
        handled.append(f"{message.chat.id}:{message.text}")
        await message.answer(f"done: {message.text}")

    poller = Poller(dispatcher, bot, allowed_updates=None, polling_timeout=1)
    running = asyncio.create_task(poller.run())
    try:
        slow = api.send_text(ALICE, "slow")
        await until(lambda: poller.offset == slow["update_id"])
        fast = api.send_text(BORIS, "fast")
        await api.wait_for(lambda c: c.method == "sendMessage" and c.params["chat_id"] == BORIS)
        assert handled == [f"{BORIS}:fast"]
        # Boris's update is done, but Alice's is not: nothing from hers on may be confirmed yet.
        assert poller.offset == slow["update_id"]
        assert max(offsets(api)) <= slow["update_id"]
        release.set()
        await api.wait_for(lambda c: c.method == "sendMessage" and c.params["chat_id"] == ALICE)
        await until(lambda: poller.offset == fast["update_id"] + 1)
    finally:
        poller.stop()
        await running
    assert offsets(api)[-1] == fast["update_id"] + 1  # the last call confirmed everything handled


async def test_one_chats_updates_are_handled_in_order_while_chats_run_side_by_side(
        api: FakeTelegramAPI, bot: Bot) -> None:
    dispatcher = Dispatcher()
    order: list[str] = []
    active, most_active = [0], [0]

    @dispatcher.message()
    async def on_message(message: Message) -> None:
        active[0] += 1
        most_active[0] = max(most_active[0], active[0])
        await asyncio.sleep(0.05 if message.text.endswith("1") else 0.0)  # the first of each chat is slower
        order.append(f"{message.chat.id}:{message.text}")
        active[0] -= 1

    poller = Poller(dispatcher, bot, allowed_updates=None, polling_timeout=1)
    running = asyncio.create_task(poller.run())
    try:
        for n in range(1, 6):
            api.send_text(ALICE, f"a{n}")
            api.send_text(BORIS, f"b{n}")
        await until(lambda: len(order) == 10)
    finally:
        poller.stop()
        await running
    assert [item for item in order if item.startswith(str(ALICE))] == [f"{ALICE}:a{n}" for n in range(1, 6)]
    assert [item for item in order if item.startswith(str(BORIS))] == [f"{BORIS}:b{n}" for n in range(1, 6)]
    assert most_active[0] == 2  # the two chats at once, never two of one chat


async def test_an_outage_leaves_the_update_unconfirmed_until_it_is_handled(api: FakeTelegramAPI, bot: Bot) -> None:
    dispatcher = Dispatcher()
    down = [3]
    handled: list[str] = []

    @dispatcher.message()
    async def on_message(message: Message) -> None:
        if message.chat.id == ALICE and down[0] > 0:
            down[0] -= 1
            raise InfrastructureUnavailable("the database is unreachable")
        handled.append(message.text)

    poller = Poller(dispatcher, bot, allowed_updates=None, polling_timeout=1, retry_delays=(0.05,))
    running = asyncio.create_task(poller.run())
    try:
        first = api.send_text(ALICE, "during the outage")
        api.send_text(BORIS, "meanwhile")
        await until(lambda: "meanwhile" in handled)
        await until(lambda: "during the outage" in handled)
        assert down[0] == 0  # it was tried until it worked, not dropped
        assert all(offset <= first["update_id"] for offset in offsets(api)[:-1] if offset)
    finally:
        poller.stop()
        await running
    assert handled.count("during the outage") == 1


async def test_stopping_finishes_the_update_in_flight_and_leaves_an_outage_unconfirmed(
        api: FakeTelegramAPI, bot: Bot) -> None:
    dispatcher = Dispatcher()
    started, finished = asyncio.Event(), []

    @dispatcher.message()
    async def on_message(message: Message) -> None:
        if message.text == "outage":
            raise InfrastructureUnavailable("down")
        started.set()
        await asyncio.sleep(0.3)
        finished.append(message.text)

    poller = Poller(dispatcher, bot, allowed_updates=None, polling_timeout=1, retry_delays=(30,), grace_seconds=10)
    running = asyncio.create_task(poller.run())
    outage = api.send_text(BORIS, "outage")
    api.send_text(ALICE, "in flight")
    await asyncio.wait_for(started.wait(), 20)
    poller.stop()
    await asyncio.wait_for(running, 20)
    assert finished == ["in flight"]
    assert offsets(api)[-1] == outage["update_id"]  # Boris's update will be delivered again after the restart


async def test_a_rejected_token_stops_polling(api: FakeTelegramAPI) -> None:
    from aiogram.exceptions import TelegramUnauthorizedError

    async with Bot("999:wrong-token", session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url))) as bot:
        with pytest.raises(TelegramUnauthorizedError):
            await asyncio.wait_for(Poller(Dispatcher(), bot, allowed_updates=None).run(), 20)


# -- the webhook endpoint -------------------------------------------------------------------------------------------

@pytest.fixture
async def webhook(bot: Bot) -> AsyncIterator[tuple[str, WebhookEndpoint, list[str]]]:
    dispatcher = Dispatcher()
    seen: list[str] = []

    @dispatcher.message()
    async def on_message(message: Message) -> None:
        if message.text == "outage":
            raise InfrastructureUnavailable("the database is unreachable")
        if message.text == "bug":
            raise ValueError("a bug nobody handled")
        seen.append(message.text)

    endpoint = WebhookEndpoint(dispatcher, bot, "s3cret")
    app = web.Application()
    endpoint.register(app, "/hook")
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/hook", endpoint, seen
    await runner.cleanup()


def update(text: str, update_id: int = 1) -> dict:
    return {"update_id": update_id, "message": {"message_id": update_id, "date": 0, "text": text,
                                                "chat": {"id": ALICE, "type": "private"},
                                                "from": {"id": ALICE, "is_bot": False, "first_name": "A"}}}


async def post(url: str, body: bytes | str, secret: str | None = "s3cret") -> int:
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
    async with ClientSession() as client, client.post(url, data=body, headers=headers) as response:
        return response.status


async def test_the_webhook_answers_what_happened(webhook) -> None:
    url, endpoint, seen = webhook
    assert await post(url, json.dumps(update("hello"))) == 200
    assert seen == ["hello"]
    assert await post(url, json.dumps(update("hello")), secret="wrong") == 401
    assert await post(url, json.dumps(update("outage", 2))) == 503  # Telegram delivers it again later
    assert await post(url, json.dumps(update("bug", 3))) == 200  # a poisoned update must not come back forever
    for junk in ("", "not json", "[]", '{"update_id": "x"}', "[" * 100_000 + "]" * 100_000, b"\xff\xfe"):
        assert await post(url, junk) == 400, junk[:20]
    await endpoint.drain(grace=1)
    assert await post(url, json.dumps(update("late", 4))) == 503  # stopping: not taken, so not lost


async def test_the_webhook_answer_carries_the_reply_and_one_for_a_client_gone_meanwhile_is_sent_by_the_bot(
        api: FakeTelegramAPI, bot: Bot) -> None:
    dispatcher = Dispatcher()
    late = asyncio.Event()
    requests: list[web.Request] = []

    @dispatcher.message()
    async def on_message(message: Message, webhook_reply: WebhookReply) -> None:
        if message.text == "late":
            await late.wait()
        assert webhook_reply.take(message.answer(f"re: {message.text}"))

    @web.middleware
    async def remember(request: web.Request, handler):
        requests.append(request)
        return await handler(request)

    endpoint = WebhookEndpoint(dispatcher, bot, "s3cret")
    app = web.Application(middlewares=[remember])
    endpoint.register(app, "/hook")
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url, headers = f"http://127.0.0.1:{runner.addresses[0][1]}/hook", {"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
    try:
        async with ClientSession() as client, client.post(url, json=update("now"), headers=headers) as response:
            assert response.status == 200
            body = await response.json()
        assert (body["method"], body["chat_id"], body["text"]) == ("sendMessage", ALICE, "re: now")
        assert api.calls_of("sendMessage") == []  # the bot made no call: Telegram makes it from the answer
        # A client that hangs up before the answer would leave it unread: the bot sends the reply itself.
        with pytest.raises(TimeoutError):
            async with ClientSession(timeout=ClientTimeout(total=0.5)) as client:
                await client.post(url, json=update("late", 2), headers=headers)
        await until(lambda: len(requests) == 2 and (requests[1].transport is None
                                                    or requests[1].transport.is_closing()))
        late.set()
        call = await api.wait_for("sendMessage")
        assert call.params["text"] == "re: late" and not call.in_webhook_answer
    finally:
        await runner.cleanup()



async def post_to_a_server_that_stops(dispatcher: Dispatcher, bot: Bot,
                                      body: dict) -> tuple[WebhookEndpoint, web.AppRunner, asyncio.Task]:
    """The webhook endpoint on a server with a short stopping grace, and a request posting `body` to it; the
    request's end (an answer, or the connection cut by the stopping server) is the task's."""
    endpoint = WebhookEndpoint(dispatcher, bot, "s3cret")
    app = web.Application()
    endpoint.register(app, "/hook")
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url, headers = f"http://127.0.0.1:{runner.addresses[0][1]}/hook", {"X-Telegram-Bot-Api-Secret-Token": "s3cret"}

    async def deliver() -> None:
        with contextlib.suppress(OSError, ClientError):
            async with ClientSession() as client, client.post(url, json=body, headers=headers) as response:
                await response.read()

    return endpoint, runner, asyncio.create_task(deliver())


async def test_a_reply_whose_request_was_cancelled_by_a_stopping_server_is_sent_by_the_bot(
        api: FakeTelegramAPI, bot: Bot) -> None:
    dispatcher = Dispatcher()
    late, began = asyncio.Event(), asyncio.Event()

    @dispatcher.message()
    async def on_message(message: Message, webhook_reply: WebhookReply) -> None:
        began.set()
        await late.wait()  # the update outlives its request, as one past the stopping grace does
        await send_after_commit(lambda: message.answer("re: late"), 1, webhook_reply)

    _endpoint, runner, delivery = await post_to_a_server_that_stops(dispatcher, bot, update("late"))
    await asyncio.wait_for(began.wait(), 20)
    await runner.cleanup()  # past its shutdown timeout the server cancels the request waiting for the update
    late.set()
    call = await api.wait_for("sendMessage")
    assert call.params["text"] == "re: late" and not call.in_webhook_answer
    await asyncio.wait_for(delivery, 20)


async def test_a_reply_taken_for_the_answer_of_a_request_the_stopping_server_cancelled_is_sent_before_the_end(
        api: FakeTelegramAPI, bot: Bot) -> None:
    """The update had committed and handed its reply to the answer when the server, past its grace, cancelled the
    request: nobody will write that answer, so the endpoint sends the reply itself, and `drain()` (what the process
    does after the server's cleanup) waits for that send, here through a 502 and the retry after it."""
    dispatcher = Dispatcher()
    late, taken = asyncio.Event(), asyncio.Event()

    @dispatcher.message()
    async def on_message(message: Message, webhook_reply: WebhookReply) -> None:
        await send_after_commit(lambda: message.answer("re: taken"), 1, webhook_reply)
        taken.set()
        await late.wait()  # the update still finishing (its middlewares) when the request is cancelled

    endpoint, runner, delivery = await post_to_a_server_that_stops(dispatcher, bot, update("taken"))
    await asyncio.wait_for(taken.wait(), 20)
    assert api.calls_of("sendMessage") == []  # taken for the answer, not sent
    api.fail_next("sendMessage", error_code=502, description="Bad Gateway")
    await runner.cleanup()  # the request is cancelled with the reply in its hands: the endpoint sends it
    await until(lambda: len(api.calls_of("sendMessage")) == 1)  # the 502: the send now waits to try again
    late.set()
    await endpoint.drain(grace=20)
    assert [m["text"] for m in api.sent_to(ALICE)] == ["re: taken"]
    assert not api.calls_of("sendMessage")[-1].in_webhook_answer
    await asyncio.wait_for(delivery, 20)
