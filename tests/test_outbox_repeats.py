"""The relay after a crash: a send of unknown outcome is repeated with a visible mark, a burst list is repeated as
the same list, and the pace is counted from the outbox itself, so a restart or a second relay keeps it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from aiogram.methods import SendMessage, SendVideoNote, SendVoice
from sqlalchemy import select

from bot.l10n import Translator
from bot.services import pages
from bot.services.outbox import Pacer
from bot.services.relay import Relay
from bot.telegram_limits import TEXT_LIMIT, telegram_length
from storage.models import OutboxMessage
from storage.repositories import Repositories
from tests.conftest import BACKENDS, App
from tests.flows import VOICE, one, resident, to_kind_step
from tests.test_alerts import CHAT, reference_in, relay_for, submit_violation
from tests.test_staff_misuse import office_card, office_sends

pytestmark = pytest.mark.usefixtures("demo_directory")
RU = Translator()["ru"]


async def die_mid_send(app: App, lease_seconds: int = 60) -> list[OutboxMessage]:
    """A relay claims what is due, begins to send the first row, and dies before anything else is recorded
    (kill -9 right after Telegram took it). The other claimed rows were never attempted."""
    now, lease_until = app.clock.now, app.clock.now + timedelta(seconds=lease_seconds)
    async with app.pool() as session, session.begin():
        rows = list(await Repositories(session).outbox.claim_due(now, lease_until, 50, "dead relay"))
    async with app.pool() as session, session.begin():
        assert await Repositories(session).outbox.begin_attempt(rows[0].id, now, holder="dead relay",
                                                                lease_until=lease_until) == "ours"
    return rows


def group_texts(app: App) -> list[str]:
    return [call.text for call in app.session.sent_messages(CHAT) if isinstance(call, SendMessage)]


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_a_send_of_unknown_outcome_is_repeated_with_a_mark_in_the_chats_language(
        app: App, backend: str) -> None:
    reference = await submit_violation(app, 5001, photos=False)
    other = await submit_violation(app, 5003, photos=False)
    claimed = await die_mid_send(app)
    assert [row.kind for row in claimed] == ["alert", "alert"]
    relay = relay_for(app)
    assert await relay.run_once() == 0  # the dead relay's lease still holds: nobody else sends its rows
    app.clock.advance(seconds=61)
    await relay.run_once()
    card, never_attempted = group_texts(app)
    assert other in never_attempted and not never_attempted.startswith("⚠️")  # claimed, never sent: no mark
    first_try = (app.clock.now - timedelta(seconds=61)).astimezone(app.settings.zone)
    assert card.startswith(RU("outbox.possible_repeat", time=first_try.strftime("%H:%M"),
                              date=first_try.strftime("%d.%m.%Y")))
    assert reference in card
    # A send that went well is not marked.
    await submit_violation(app, 5002, photos=False)
    app.clock.advance(seconds=61)
    await relay.run_once()
    assert not group_texts(app)[-1].startswith("⚠️")


async def test_a_burst_list_interrupted_mid_send_is_repeated_as_the_same_list(app: App) -> None:
    references = [await submit_violation(app, user_id, photos=False) for user_id in range(5101, 5105)]
    relay = relay_for(app, pacer=Pacer(group_per_minute=2))
    app.session.fail_next_network(SendMessage)  # the list's send times out: it may or may not have arrived
    await relay.run_once()
    rows = await one(app, select(OutboxMessage).where(OutboxMessage.kind == "alert").order_by(OutboxMessage.id))
    assert [row.status for row in rows] == ["pending", "grouped", "grouped", "grouped"]
    app.clock.advance(minutes=5)
    await relay.run_once()
    [burst] = group_texts(app)
    assert burst.startswith(RU("alert.burst_title", count=4))
    assert [reference_in(line) for line in burst.splitlines() if "AL-" in line] == references
    rows = await one(app, select(OutboxMessage).where(OutboxMessage.kind == "alert"))
    assert {row.status for row in rows} == {"sent"}


async def test_a_burst_list_whose_relay_died_is_sent_again_as_one_marked_list(app: App) -> None:
    for user_id in range(5201, 5205):
        await submit_violation(app, user_id, photos=False)
    relay = relay_for(app, pacer=Pacer(group_per_minute=2))
    original = relay._mark_sent

    async def killed(*_args: object) -> None:
        raise SystemExit  # the process dies right after Telegram took the list

    relay._mark_sent = killed
    with pytest.raises(SystemExit):
        await relay.run_once()
    relay._mark_sent = original
    app.clock.advance(minutes=2)
    restarted = relay_for(app, pacer=Pacer(group_per_minute=2))
    await restarted.run_once()
    first, second = group_texts(app)
    assert first.startswith(RU("alert.burst_title", count=4))
    assert second.startswith("⚠️") and RU("alert.burst_title", count=4) in second
    assert len(group_texts(app)) == 2  # the same list again, not four cards


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_the_pace_holds_across_a_restart_and_two_relays(app: App, backend: str) -> None:
    # Eight alerts with no photos: the cards per minute must never exceed the group's limit, whoever sends them.
    limit = 3
    sends: list = []

    async def record(make_request, bot, method):
        if isinstance(method, SendMessage) and method.chat_id == CHAT:
            sends.append(app.clock.now)
        return await make_request(bot, method)

    app.session.middleware(record)
    for user_id in range(5301, 5309):
        await submit_violation(app, user_id, photos=False)
    def ungrouped() -> Relay:  # one card each, so that the count is of cards
        return Relay(app.bot, app.pool, app.clock, app.settings.admins, pacer=Pacer(group_per_minute=limit))

    first = ungrouped()
    await first.run_once()
    assert len(sends) == limit
    # A restart (a new relay with nothing in memory) and a second instance, both at once: neither sends more.
    restarted, second = ungrouped(), ungrouped()
    import asyncio

    await asyncio.gather(restarted.run_once(), second.run_once())
    assert len(sends) == limit
    for _ in range(10):
        app.clock.advance(seconds=30)
        await asyncio.gather(restarted.run_once(), second.run_once())
    assert len(sends) == 8
    for moment in sends:
        assert sum(1 for other in sends if moment - timedelta(minutes=1) < other <= moment) <= limit


async def residents_longest_answer(app: App, user_id: int = 3001) -> str:
    """The office asks; the resident answers with as much as Telegram takes in one message (4,096 characters),
    which is queued for the office as two messages (with its header it fills more than one)."""
    _reference, card = await office_card(app, user_id)
    await office_sends(app, card, "alert.button_ask", "Опишите подробно, что произошло на приёме.")
    person = app.user(user_id)
    question = [m for m in app.session.history(user_id) if m.text and "Опишите подробно" in m.text][-1]
    await person.press(RU("notify.reply_button"), message=question.message_id)
    story = " ".join(f"Фраза {n}: врач сказал, что без оплаты направление не даст." for n in range(1, 200))
    story = story[:TEXT_LIMIT].rstrip()
    assert RU("reply.received") in (await person.send(story)).texts
    return story


async def test_a_part_of_a_split_answer_sent_again_after_a_crash_keeps_all_of_its_words(app: App) -> None:
    # The first part fills its message: the mark cannot join it, so it goes just before it instead of cutting it.
    story = await residents_longest_answer(app)
    parts = await one(app, select(OutboxMessage).where(OutboxMessage.kind == "resident_reply")
                      .order_by(OutboxMessage.id))
    assert len(parts) == 2
    [dying, *_] = await die_mid_send(app)
    assert dying.id == parts[0].id
    first_try = app.clock.now.astimezone(app.settings.zone)
    app.clock.advance(seconds=61)
    await relay_for(app).run_once()
    mark, first, second = group_texts(app)[-3:]
    assert mark == RU("outbox.possible_repeat", time=first_try.strftime("%H:%M"), date=first_try.strftime("%d.%m.%Y"))
    assert [first, second] == [part.payload["text"] for part in parts]
    office = "".join(text.replace("\n", "").replace(" ", "") for text in group_texts(app))
    missing = [n for n in range(1, 200) if f"Фраза {n}:" in story and f"Фраза{n}:" not in office]
    assert missing == [], f"phrases of the resident's answer never reached the office: {missing}"
    stored = await one(app, select(OutboxMessage).where(OutboxMessage.id == parts[0].id))
    assert [row.weight for row in stored] == [2]  # the pace counts the mark's message too


@pytest.mark.parametrize("failure", ["network", "server", "flood"])
async def test_a_repeats_mark_sent_on_its_own_goes_once_whatever_the_retries_of_the_message(
        app: App, failure: str) -> None:
    """The mark that goes as a message of its own (the part fills its message) went out again before each retry of
    a send that failed after it: the office read "possible repeat" twice, or more, over one message. It is recorded
    once sent, and the retries send the message alone."""
    await residents_longest_answer(app, 5011)
    parts = await one(app, select(OutboxMessage).where(OutboxMessage.kind == "resident_reply")
                      .order_by(OutboxMessage.id))
    [dying, *_] = await die_mid_send(app)
    assert dying.id == parts[0].id
    first_try = app.clock.now.astimezone(app.settings.zone)
    mark = RU("outbox.possible_repeat", time=first_try.strftime("%H:%M"), date=first_try.strftime("%d.%m.%Y"))
    app.clock.advance(seconds=61)
    is_first_part = lambda params: params.get("text") == parts[0].payload["text"]  # noqa: E731
    if failure == "network":
        app.session.fail_next_network(SendMessage, times=2, where=is_first_part)
    elif failure == "server":
        app.session.fail_next(SendMessage, error_code=502, description="Bad Gateway", times=2, where=is_first_part)
    else:
        app.session.fail_next(SendMessage, error_code=429, description="Too Many Requests: retry after 5",
                              retry_after=5, times=2, where=is_first_part)
    relay = relay_for(app)
    for _ in range(8):  # the failed sends, then the one that goes through
        await relay.run_once()
        app.clock.advance(minutes=1)
    texts = group_texts(app)
    assert texts.count(mark) == 1, [text[:60] for text in texts]
    assert [text for text in texts if text.startswith(mark[:20])] == [mark]
    assert texts[-3:] == [mark, parts[0].payload["text"], parts[1].payload["text"]]
    attempts = [call for call in app.session.calls_of(SendMessage) if call.text == parts[0].payload["text"]]
    assert len(attempts) == 3  # two failed, one through
    stored = (await one(app, select(OutboxMessage).where(OutboxMessage.id == parts[0].id)))[0]
    assert (stored.status, stored.weight) == ("sent", 2)  # the mark's message counted once in the pace


# --- A file whose words go as a message of their own ----------------------------------------------------------

NOTE = b"\x00\x00\x00\x18ftypnote" * 40
# What she wrote under her voice message, as much as Telegram took from her: under the office's header it is more
# than Telegram puts under a file.
SPOKEN = " ".join(f"Слово {n}: врач просил деньги за направление" for n in range(1, 60))[:1000]


async def recordings_reported(app: App, user_id: int = 5401) -> tuple[str, list[OutboxMessage]]:
    """A violation report with a voice message (her long caption under it) and a round video message; the
    reference and the two evidence rows queued for the office (the voice's, the video note's)."""
    person = await resident(app, user_id)
    await to_kind_step(app, person, about_doctor=False)
    await person.press(RU("kind.violation"))
    await person.press(RU("category.extortion"))
    await person.send("Врач требовал деньги за направление.")
    await person.voice(VOICE, caption=SPOKEN)
    await person.video_note(NOTE)
    await person.press(RU("when.unknown"))
    await person.press(RU("preview.submit"))
    rows = await one(app, select(OutboxMessage).where(OutboxMessage.kind == "alert_media").order_by(OutboxMessage.id))
    assert [[item["kind"] for item in row.payload["media"]] for row in rows] == [["voice"], ["video_note"]]
    return reference_in(rows[0].payload["media"][0]["caption"]), rows


def sends_to_office(app: App) -> list[str]:
    """What the office's chat received, in order: each text, and each file by its kind."""
    return [call.text if isinstance(call, SendMessage) else type(call).__name__
            for call in app.session.sent_messages(CHAT)]


@pytest.mark.parametrize("failure", ["server", "flood"])
async def test_a_files_words_sent_before_it_are_not_sent_again_when_the_file_is_retried(
        app: App, failure: str) -> None:
    """A round video message takes no caption, and her voice message's caption under the office's header is longer
    than Telegram puts under a file: the words go as a message of their own, just before the file. When the file's
    send then failed (a 502, a 429), the retry sent the words again and the office read them twice; the voice
    message's caption was not even tried that way: Telegram refused it, and the recording never reached the office."""
    reference, rows = await recordings_reported(app)
    header = RU("alert.evidence_caption", reference=reference)
    for method in (SendVoice, SendVideoNote):
        if failure == "server":
            app.session.fail_next(method, error_code=502, description="Bad Gateway")
        else:
            app.session.fail_next(method, error_code=429, description="Too Many Requests: retry after 5",
                                  retry_after=5)
    relay = relay_for(app)
    for _ in range(8):  # the failed sends, then the ones that go through
        await relay.run_once()
        app.clock.advance(minutes=1)
    sent = sends_to_office(app)
    assert sent[1:] == [f"{header}\n{SPOKEN}", "SendVoice", header, "SendVideoNote"], [text[:50] for text in sent]
    assert len(app.session.calls_of(SendVideoNote)) == len(app.session.calls_of(SendVoice)) == 2  # failed, through
    stored = await one(app, select(OutboxMessage).where(OutboxMessage.id.in_([row.id for row in rows]))
                       .order_by(OutboxMessage.id))
    assert [(row.status, row.weight) for row in stored] == [("sent", 2), ("sent", 2)]  # each two messages


async def test_a_video_note_repeated_after_a_crash_has_its_marked_words_once_whatever_the_retries(app: App) -> None:
    """Telegram took the video note, and the relay died before it was recorded: it goes again, its words marked as a
    possible repeat; the repeat's own send failing once must not send the marked words a second time."""
    reference, rows = await recordings_reported(app, 5402)
    relay = relay_for(app)
    original = relay._mark_sent

    async def killed(row: OutboxMessage, message: object) -> None:
        if row.id == rows[1].id:
            raise SystemExit  # the process dies right after Telegram took the video note
        await original(row, message)

    relay._mark_sent = killed
    with pytest.raises(SystemExit):
        for _ in range(4):
            await relay.run_once()
            app.clock.advance(seconds=5)
    first_try = app.clock.now.astimezone(app.settings.zone)
    mark = RU("outbox.possible_repeat", time=first_try.strftime("%H:%M"), date=first_try.strftime("%d.%m.%Y"))
    app.clock.advance(seconds=61)
    app.session.fail_next(SendVideoNote, error_code=502, description="Bad Gateway")
    restarted = relay_for(app)
    for _ in range(4):
        await restarted.run_once()
        app.clock.advance(minutes=1)
    header = RU("alert.evidence_caption", reference=reference)
    assert sends_to_office(app)[-4:] == [header, "SendVideoNote", f"{mark}\n\n{header}", "SendVideoNote"]


def test_a_long_text_is_split_as_telegram_counts_it_emoji_taking_two() -> None:
    text = "Спасибо врачу 🙏 " * 400  # 6,400 characters, 6,800 as Telegram may count them
    parts = pages.text_block("<b>Отзыв</b>", text)
    assert all(telegram_length(part) <= TEXT_LIMIT for part in parts)
    assert "".join(parts).replace(" ", "").replace("\n", "") == "<b>Отзыв</b>" + text.replace(" ", "")
