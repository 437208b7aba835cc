"""What people do that the first build did not plan, end to end: the real process over HTTP against the fake Bot
API, by polling and by webhook. The office asks; the resident answers with one message as long as Telegram takes,
which reaches the office whole, in two messages; then, without pressing Done, she opens the top list and types a
specialty: the search answers it, and nothing more reaches the office."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e_support import CHAT, database, load_directory, start_bot, webhook_settings
from tests.fakes.fake_api import FakeTelegramAPI
from tests.fakes.process import free_port
from tests.test_e2e_caseload import RU, Person, complain_about_17, reference_of, to_chat

RESIDENT, OFFICER = 6201, 7201


@pytest.fixture
async def api():
    fake = FakeTelegramAPI("123456:TEST-token")
    fake.webhook_timeout = 60.0
    async with fake as api:
        yield api


STORY = ("Врач сказал, что без оплаты направление на МРТ не даст, и назвал сумму. " * 70)[:4095] + "!"


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_a_long_answer_reaches_the_office_whole_and_a_command_after_it_ends_the_answer_over_http(
        api: FakeTelegramAPI, tmp_path: Path, mode: str) -> None:
    async with database("sqlite", tmp_path) as db:
        load_directory(api, tmp_path, db)
        bot = await start_bot(api, tmp_path, db, **(webhook_settings(free_port()) if mode == "webhook" else {}))
        try:
            api.add_user(RESIDENT, "Айгуль", "ru")
            api.add_user(OFFICER, "Ержан", "ru", username="erzhan_p")
            resident, clerk = Person(api, RESIDENT), Person(api, OFFICER, CHAT)
            receipt = await complain_about_17(resident, RU, "Городская поликлиника №17",
                                              "Два часа в очереди у регистратуры.", "Серикова Айгуль Бековна")
            reference = reference_of(receipt["html"])

            listing = await clerk.say("/cases", reference)
            card = await clerk.tap(RU("alert.button_open", reference=reference), reference, message=listing)
            await clerk.tap(RU("alert.button_ask"), message=card)
            preview = await clerk.say("Опишите подробно, что произошло.", "Опишите подробно")
            mark = len(api.calls)
            await clerk.tap(RU("case_draft.button_send"), RU("alert.done_ask", reference=reference), message=preview)
            question = resident.message_of(await api.wait_for(to_chat(RESIDENT, "Опишите подробно"), since=mark,
                                                              timeout=90))
            await resident.tap(RU("notify.reply_button"), RU("reply.prompt"), message=question)

            mark = len(api.calls)
            await resident.say(STORY, RU("reply.received"))
            tail = await api.wait_for(to_chat(CHAT, STORY[-40:]), since=mark, timeout=90)
            head = await api.wait_for(to_chat(CHAT, reference, STORY[:40]), since=mark, timeout=90)
            assert head is not tail  # two messages: the header and the first part, then the rest
            assert await db.rows("SELECT count(*) FROM outbox_messages WHERE status = 'blocked'") == [(0,)]

            mark = len(api.calls)
            await resident.say("/top", RU("top.choose_specialty"))
            found = await resident.say("кардиолог", RU("top_search.found"))
            assert "кардиолог" in " ".join(button["text"] for row in found["reply_markup"]["inline_keyboard"]
                                           for button in row)
            assert not [call for call in api.calls[mark:] if to_chat(CHAT, "кардиолог")(call)]
            assert RU("reply.left") in [call.params.get("text") for call in api.calls[mark:]]
            # The answer was given before she left: the case is back with the office.
            assert await db.rows("SELECT status FROM cases") != [("waiting_resident",)]
        finally:
            assert await bot.stop() == 0, bot.output()
