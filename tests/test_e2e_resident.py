"""The resident's conversation end to end, the real process over HTTP against the fake Bot API: the shortest
complaint counted in actions, and a complaint whose text Telegram split in two, with a captioned photo and a
voice recording, all stored."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import pytest

from tests.e2e_support import RU, database, load_directory, shown_to, start_bot
from tests.fakes.fake_api import FakeTelegramAPI

PERSON = 5901
PHOTO = b"\xff\xd8\xff\xe0" + b"receipt" * 700
VOICE = b"OggS" + b"spoken" * 1500


@pytest.fixture
async def api():
    async with FakeTelegramAPI("123456:TEST-token") as api:
        yield api


class Resident:
    """One person over HTTP: every call is one action (a tap or a message), counted."""

    def __init__(self, api: FakeTelegramAPI, user: int) -> None:
        self.api, self.user, self.actions = api, user, 0

    async def _after(self, act, count: int = 1) -> dict:
        mark = len(self.api.calls)
        self.actions += 1
        act()
        await self.api.wait_for(shown_to(self.user), since=mark, timeout=60, count=count)
        return self.api.bot_messages(self.user)[-1]

    async def say(self, text: str, count: int = 1) -> dict:
        return await self._after(lambda: self.api.send_text(self.user, text), count)

    async def tap(self, button: str, count: int = 1) -> dict:
        return await self._after(lambda: self.api.press(self.user, self.api.bot_messages(self.user)[-1], button),
                                 count)

    async def receipt(self) -> str:
        mark = len(self.api.calls)
        self.actions += 1
        self.api.press(self.user, self.api.bot_messages(self.user)[-1], RU("preview.submit"))
        call = await self.api.wait_for(lambda c: shown_to(self.user)(c) and "AL-20" in c.params.get("text", ""),
                                       since=mark, timeout=60)
        return call.params["text"]


def buttons_of(message: dict) -> str:
    return json.dumps(message.get("reply_markup"), ensure_ascii=False)


async def test_the_shortest_complaint_over_http_takes_ten_actions_from_start_and_eight_from_the_menu(
        api: FakeTelegramAPI, tmp_path: Path) -> None:
    async with database("sqlite", tmp_path) as db:
        load_directory(api, tmp_path, db)
        bot = await start_bot(api, tmp_path, db)
        try:
            api.add_user(PERSON, "Айгуль", "ru")
            person = Resident(api, PERSON)
            await person.say("/start")
            menu = await person.tap(RU("consent.accept"), count=2)  # language and consent on one screen; the menu
            assert RU("menu.leave_feedback") in buttons_of(menu)
            from_start = person.actions
            await person.tap(RU("menu.leave_feedback"))
            shown = await person.say("17")  # the one match is taken at once, its address shown
            assert "Городская поликлиника №17" in shown["text"]
            await person.tap(RU("target.clinic"))
            await person.tap(RU("kind.complaint_about", category=RU("category.waiting")))
            await person.tap("2⭐")
            await person.say("Ждали приёма терапевта три часа, талоны закончились в 8 утра.")
            await person.tap(RU("when.today"), count=2)  # the phone keyboard, then the preview
            receipt = await person.receipt()
        finally:
            assert await bot.stop() == 0, bot.output()
        stored = await db.rows("SELECT reference, kind, category, rating FROM reviews")
    assert person.actions - from_start == 8 and person.actions == 10
    [(reference, kind, category, rating)] = stored
    assert reference in receipt and (kind, category, rating) == ("complaint", "waiting", 2)


async def test_a_split_text_a_captioned_photo_and_a_voice_over_http_are_all_stored(
        api: FakeTelegramAPI, tmp_path: Path) -> None:
    words = " ".join(f"слово{n:04d}" for n in range(600))
    long_text = (words * 2)[:5000]
    async with database("sqlite", tmp_path) as db:
        load_directory(api, tmp_path, db)
        bot = await start_bot(api, tmp_path, db)
        try:
            api.add_user(PERSON, "Айгуль", "ru")
            person = Resident(api, PERSON)
            await person.say("/start")
            await person.tap(RU("consent.accept"), count=2)
            await person.tap(RU("menu.leave_feedback"))
            await person.say("17")
            await person.tap(RU("target.clinic"))
            await person.tap(RU("kind.complaint_about", category=RU("category.rudeness")))
            await person.tap("1⭐")
            # As a Telegram client sends a 5,000-character paste: 4,096 characters, then the rest, at once.
            mark = len(api.calls)
            api.send_text(PERSON, long_text[:4096])
            api.send_text(PERSON, long_text[4096:])
            await api.wait_for(lambda c: shown_to(PERSON)(c) and RU("description.joined", parts=2, length=5000)
                               in (c.params.get("text") or ""), since=mark, timeout=60)
            await person._after(lambda: api.send_photo(PERSON, PHOTO, caption="это чек на 5000 тенге"))
            await person._after(lambda: api.send_voice(PERSON, VOICE))
            preview = await person.tap(RU("when.today"), count=2)
            assert "«это чек на 5000 тенге»" in preview["text"]
            await person.say("Иванова Айгуль Сериковна")  # the appellant's name: a formal appeal
            receipt = await person.receipt()
        finally:
            assert await bot.stop() == 0, bot.output()
        reviews = await db.rows("SELECT reference, text, appellant_name FROM reviews")
        media = await db.rows("SELECT kind, sha256, caption, stored_path FROM review_media ORDER BY position")
    [(reference, text, appellant)] = reviews
    assert reference in receipt and text == long_text and appellant == "Иванова Айгуль Сериковна"
    assert [(kind, sha, caption) for kind, sha, caption, _ in media] == [
        ("photo", hashlib.sha256(PHOTO).hexdigest(), "это чек на 5000 тенге"),
        ("voice", hashlib.sha256(VOICE).hexdigest(), None)]
    for (*_, path), data in zip(media, (PHOTO, VOICE), strict=True):
        assert (tmp_path / "media" / path).read_bytes() == data


async def test_the_classifier_is_ready_before_the_first_complaint_arrives(api: FakeTelegramAPI, tmp_path: Path) -> None:
    """Trained at start-up in a worker thread: otherwise the first complaint after every restart paid for it
    (seconds on a busy machine) inside its update's transaction."""
    async with database("sqlite", tmp_path) as db:
        bot = await start_bot(api, tmp_path, db, MEDFEEDBACK_FEEDBACK__PREPARE_URGENCY_AT_START="true")
        try:
            for _ in range(600):
                if "the urgency classifier is ready" in bot.output():
                    break
                await asyncio.sleep(0.2)
            assert "the urgency classifier is ready" in bot.output(), bot.output()
            assert "could not be prepared" not in bot.output()
            # Start-up's objects, and then the classifier's, frozen out of every garbage collection pass.
            for _ in range(600):
                if bot.output().count("kept out of garbage collection passes") >= 2:
                    break
                await asyncio.sleep(0.2)
            assert bot.output().count("kept out of garbage collection passes") == 2, bot.output()
        finally:
            assert await bot.stop() == 0
