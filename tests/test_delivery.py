"""Nothing is confirmed to Telegram, and nothing is promised to a person, before it is stored: the unit of work,
outages, poisoned updates, the flood guard and the membership cache, through the real dispatcher."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from aiogram.methods import AnswerCallbackQuery, GetChatMember, SendMessage
from sqlalchemy import event, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from bot.middlewares import FloodGuard
from bot.unit_of_work import (
    AfterCommit,
    ChatLocks,
    DelayNotices,
    InfrastructureUnavailable,
    UnitOfWork,
    is_infrastructure,
)
from storage.models import ProcessedUpdate, Review, User
from tests.conftest import BACKENDS, App
from tests.flows import RU, T, choose_kind, describe, one, resident, to_kind_step

CHAT = -1001234567890  # the conftest settings' prosecutor chat


def unit_of_work(app: App) -> UnitOfWork:
    found = next(m for m in app.dp.update.outer_middleware if isinstance(m, UnitOfWork))
    found.retry_delays = (0.001, 0.001, 0.001)  # the real ones are seconds: the behaviour is the same
    return found


def sync_engine(app: App) -> Engine:
    return app.pool.kw["bind"].sync_engine


@contextmanager
def commits_fail(app: App, times: int, message: str = "database is locked") -> Iterator[list[int]]:
    """The next `times` commits fail as an outage would (a lock timeout, a dropped connection)."""
    failed: list[int] = []

    def fail(_connection: object) -> None:
        if len(failed) < times:
            failed.append(1)
            raise sa_exc.OperationalError("COMMIT", None, sqlite3.OperationalError(message))

    event.listen(sync_engine(app), "commit", fail)
    try:
        yield failed
    finally:
        event.remove(sync_engine(app), "commit", fail)


async def to_preview(app: App, person) -> None:
    await to_kind_step(app, person, about_doctor=False)
    await choose_kind(person, "complaint", "rudeness", "2⭐")
    await describe(person, "Регистратор накричал на мою маму.")
    assert RU("preview.submit") in str(person.last_buttons())


def submit_update(app: App, person):
    """The press on Submit as Telegram delivers it, so that the very same update can be delivered again."""
    message = person.last_message
    [button] = [b for row in message.reply_markup.inline_keyboard for b in row if b.text == RU("preview.submit")]
    return app.updates.callback_query(button.callback_data, message=message, user=person.user)


def texts_to(app: App, chat_id: int) -> list[str]:
    return [call.text for call in app.session.sent_messages(chat_id) if isinstance(call, SendMessage)]


@pytest.mark.usefixtures("demo_directory")
async def test_one_transaction_per_update_and_the_state_is_read_inside_it(app: App) -> None:
    person = await resident(app, 4101)
    await person.press(RU("menu.leave_feedback"))  # a conversation in progress: its state is read and written
    begun: list[int] = []

    def count(_connection: object) -> None:
        begun.append(1)

    event.listen(sync_engine(app), "begin", count)
    try:
        reply = await person.send("17")
    finally:
        event.remove(sync_engine(app), "begin", count)
    assert "Городская поликлиника №17" in reply.text  # the one match, taken at once
    assert len(begun) == 1  # aiogram's FSM middleware used to read the state in a transaction of its own


@pytest.mark.usefixtures("demo_directory")
@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_a_receipt_is_sent_only_after_its_commit_and_the_number_is_always_the_persons(
        app: App, backend: str) -> None:
    unit_of_work(app)
    first, second = await resident(app, 4201), await resident(app, 4202)
    await to_preview(app, first)
    await to_preview(app, second)
    press = submit_update(app, first)
    with commits_fail(app, times=10), pytest.raises(InfrastructureUnavailable):
        await first.feed(press)
    # Nothing was promised: no number, just one word that the message waits; nothing stored, update unconfirmed.
    assert not any("AL-" in text for text in texts_to(app, first.chat_id))
    assert texts_to(app, first.chat_id)[-1] == RU("errors.delayed")
    assert await one(app, select(Review)) == []
    assert await one(app, select(ProcessedUpdate).where(ProcessedUpdate.update_id == press.update_id)) == []
    # Another resident submits meanwhile, then Telegram delivers the first press again.
    reply = await second.press(RU("preview.submit"))
    [second_number] = [w for t in reply.texts for w in t.split() if w.startswith("AL-")]
    reply = await first.feed(press)
    [first_number] = [w for t in reply.texts for w in t.split() if w.startswith("AL-")]
    owners = {review.reference: review.user_id for review in await one(app, select(Review))}
    assert set(owners) == {first_number, second_number} and first_number != second_number
    people = {user.telegram_id: user.id for user in await one(app, select(User))}
    assert owners[first_number] == people[4201] and owners[second_number] == people[4202]
    # The same update a third time is a redelivery of a handled update: skipped, no second receipt.
    reply = await first.feed(press)
    assert not any("AL-" in text for text in reply.texts)


@pytest.mark.usefixtures("demo_directory")
async def test_a_press_whose_update_waits_out_an_outage_has_its_spinner_stopped_once(app: App) -> None:
    unit_of_work(app)
    person = await resident(app, 4251)
    await to_preview(app, person)
    app.session.clear()
    with commits_fail(app, times=10), pytest.raises(InfrastructureUnavailable):
        await person.feed(submit_update(app, person))
    assert texts_to(app, person.chat_id)[-1] == RU("errors.delayed")
    assert [call.text for call in app.session.calls_of(AnswerCallbackQuery)] == [None]  # the tries' went with them


@pytest.mark.usefixtures("demo_directory")
async def test_a_short_outage_is_retried_inside_the_update_and_the_person_notices_nothing(app: App) -> None:
    unit_of_work(app)
    person = await resident(app, 4301)
    await to_preview(app, person)
    with commits_fail(app, times=2) as failed:
        reply = await person.feed(submit_update(app, person))
    assert len(failed) == 2
    assert any("AL-" in text for text in reply.texts) and RU("errors.delayed") not in reply.texts
    assert len(await one(app, select(Review))) == 1


@pytest.mark.usefixtures("demo_directory")
async def test_a_button_is_answered_after_the_commit_and_once_though_its_update_was_tried_again(
        app: App, tmp_path) -> None:
    """The answer to a press (it stops the spinner) waits for the commit, so SQLite's one connection is not held
    while Telegram answers it; what an attempt that rolled back answered is dropped with it."""
    unit_of_work(app)
    person = await resident(app, 4351)
    await to_preview(app, person)
    press = submit_update(app, person)
    committed_when_answered: list[bool] = []

    def answer(_params: object) -> bool:  # reads what is committed, beside the bot's own connection
        with contextlib.closing(sqlite3.connect(tmp_path / "test.db")) as db:
            stored = db.execute("SELECT count(*) FROM processed_updates WHERE update_id = ?", (press.update_id,))
            committed_when_answered.append(stored.fetchone()[0] == 1)
        return True

    app.session.set_result(AnswerCallbackQuery, answer)
    with commits_fail(app, times=2) as failed:
        reply = await person.feed(press)
    assert len(failed) == 2 and any("AL-" in text for text in reply.texts)
    assert committed_when_answered == [True]  # before: answered in each of the three tries, each before its commit


async def test_a_queued_answer_gives_back_what_telegram_would_and_a_closed_queue_takes_no_more(app: App) -> None:
    deferred = AfterCommit()
    token = AfterCommit.current.set(deferred)
    try:
        assert await app.bot.answer_callback_query("q1", text="Сохранено") is True  # as from Telegram: True
        assert app.session.calls_of(AnswerCallbackQuery) == []
        deferred.close()  # the attempt is over: a task it left behind answers straight away
        await app.bot.answer_callback_query("q2")
    finally:
        AfterCommit.current.reset(token)
    assert [call.callback_query_id for call in app.session.calls_of(AnswerCallbackQuery)] == ["q2"]
    await deferred.flush(1)
    assert [call.callback_query_id for call in app.session.calls_of(AnswerCallbackQuery)] == ["q2", "q1"]


async def test_a_buttons_answer_refused_for_a_moment_is_sent_again_after_the_commit(app: App) -> None:
    person = await resident(app, 4361)
    app.session.clear()
    app.session.fail_next(AnswerCallbackQuery, error_code=429, description="Too Many Requests: retry after 1",
                          retry_after=1)
    reply = await person.press(RU("menu.language"))
    assert reply.buttons  # the languages are shown
    outcomes = [outcome for call, outcome in zip(app.session.calls, app.session.outcomes, strict=True)
                if isinstance(call, AnswerCallbackQuery)]
    assert len(outcomes) == 2 and isinstance(outcomes[0], Exception) and outcomes[1] is True
    # Only the answer was tried again, after the commit: the update was not (an answer inside it would have been).
    assert len([call for call in app.session.calls if not isinstance(call, AnswerCallbackQuery)]) == 1


@pytest.mark.parametrize("failure", ["network", "502"])
async def test_a_start_screen_after_the_commit_survives_a_moments_network_error_or_bad_gateway(
        app: App, failure: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """/start's screen waits for the commit, so a failed send no longer rolls the update back to be tried whole:
    it is tried again itself."""
    monkeypatch.setattr("bot.unit_of_work.AGAIN_AFTER", (0.001, 0.001))
    newcomer, known = app.user(4381, language_code="ru"), await resident(app, 4382)
    for person, screen in ((newcomer, RU("language.prompt_all")), (known, RU("menu.title"))):
        if failure == "network":
            app.session.fail_next_network(SendMessage, times=2)
        else:
            app.session.fail_next(SendMessage, error_code=502, description="Bad Gateway")
        reply = await person.command("start")
        assert [text for text in reply.texts if text.startswith(screen)], reply.texts
        tries = [call for call in reply.calls if isinstance(call, SendMessage)]
        assert len(tries) == (3 if failure == "network" else 2)  # the failed tries, then the one that arrived


async def test_a_reply_after_the_commit_is_given_up_after_three_failed_tries_and_the_update_stays_handled(
        app: App, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr("bot.unit_of_work.AGAIN_AFTER", (0.001, 0.001))
    person = app.user(4383, language_code="ru")
    app.session.fail_next_network(SendMessage, times=3)
    update = app.updates.text("/start", user=person.user, chat=person.chat)
    reply = await person.feed(update)
    assert len([call for call in reply.calls if isinstance(call, SendMessage)]) == 3 and reply.texts == []
    assert "a reply after the commit could not be sent" in caplog.text
    assert await one(app, select(ProcessedUpdate).where(ProcessedUpdate.update_id == update.update_id)) != []
    assert (await person.command("start")).text.startswith(RU("language.prompt_all"))  # asked again: shown


async def test_a_task_a_handler_leaves_running_answers_directly_once_its_update_is_over(
        app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    person = await resident(app, 4371)
    later = asyncio.Event()
    left_running: list[asyncio.Task] = []

    async def answer_later(bot) -> None:
        await later.wait()
        await bot.answer_callback_query("answered-later")

    import handlers.start as start

    show_menu = start.show_menu

    async def show_menu_and_leave_a_task(message, l10n) -> None:
        left_running.append(asyncio.create_task(answer_later(message.bot)))  # it inherits the update's context
        await show_menu(message, l10n)

    await person.press(RU("menu.rights"))  # a screen with the way home
    monkeypatch.setattr(start, "show_menu", show_menu_and_leave_a_task)
    await person.press(RU("menu.home"))
    later.set()
    await asyncio.wait_for(left_running[0], 30)
    assert "answered-later" in [call.callback_query_id for call in app.session.calls_of(AnswerCallbackQuery)]


@pytest.mark.expect_errors
async def test_a_button_whose_update_keeps_failing_is_apologised_for_and_its_spinner_stopped(
        app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    person = app.user(4451, language_code="ru")
    await person.command("start")
    await person.press("Русский")
    tries: list[int] = []

    async def broken(*_args: object, **_kwargs: object) -> None:
        tries.append(1)
        raise ValueError("a bug in a handler")

    import handlers.start as start

    monkeypatch.setattr(start, "show_menu", broken)
    app.session.clear()
    reply = await person.press(T["ru"]("consent.accept"))
    assert len(tries) == 2 and reply.texts[-1] == RU("errors.generic")
    # The two tries' own answers went with their transactions; the apology's answer stops the spinner, once.
    assert [call.text for call in app.session.calls_of(AnswerCallbackQuery)] == [None]


@pytest.mark.expect_errors
async def test_a_poisoned_update_is_tried_twice_then_apologised_for_and_confirmed(
        app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    person = await resident(app, 4401)
    tries: list[int] = []

    async def broken(*_args: object, **_kwargs: object) -> None:
        tries.append(1)
        raise ValueError("a bug in a handler")

    import handlers.start as start

    monkeypatch.setattr(start, "unfinished", broken)  # /start asks it first, inside the transaction
    update = app.updates.text("/start", user=person.user, chat=person.chat)
    reply = await person.feed(update)  # does not raise: the errors router answered it
    assert len(tries) == 2
    assert reply.texts[-1] == RU("errors.generic")
    assert await one(app, select(ProcessedUpdate).where(ProcessedUpdate.update_id == update.update_id)) == []


def test_what_counts_as_an_outage() -> None:
    locked = sa_exc.OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked"))
    assert is_infrastructure(locked)
    assert is_infrastructure(ConnectionRefusedError(111, "Connection refused"))
    assert is_infrastructure(TimeoutError())
    assert not is_infrastructure(ValueError("a bug"))
    assert not is_infrastructure(KeyError("missing"))
    assert not is_infrastructure(FileNotFoundError("a file of ours is gone"))
    integrity = sa_exc.IntegrityError("INSERT", None, sqlite3.IntegrityError("UNIQUE constraint failed"))
    assert not is_infrastructure(integrity)


def test_the_delay_notice_is_given_once_per_outage_and_forgotten_later() -> None:
    notices = DelayNotices(quiet_seconds=0.0)
    assert notices.should_tell(1) and notices.should_tell(1)  # a later outage is told again
    bounded = DelayNotices(quiet_seconds=3600, most=3)
    assert [bounded.should_tell(chat) for chat in (1, 2, 1, 3, 4, 5)] == [True, True, False, True, True, True]
    assert len(bounded._told) <= 3


async def test_chat_locks_exist_only_while_held() -> None:
    from aiogram.fsm.storage.base import StorageKey

    locks = ChatLocks()
    for chat in range(1000):
        async with locks.lock(StorageKey(bot_id=1, chat_id=chat, user_id=chat)):
            assert len(locks) == 1
    assert len(locks) == 0


async def test_the_flood_guard_forgets_quiet_people_and_hints_once_a_window() -> None:
    now = [0.0]
    guard = FloodGuard(limit=2, window=10.0, clock=lambda: now[0])
    told: list[str] = []

    class Person:
        def __init__(self, person_id: int) -> None:
            self.id = person_id

    async def handler(_event: object, _data: object) -> str:
        return "handled"

    import bot.middlewares as middlewares

    async def tell(_event: object, text: str) -> None:
        told.append(text)

    original = middlewares._tell
    middlewares._tell = tell
    try:
        data = {"event_from_user": Person(1), "l10n": lambda key: key}
        results = [await guard(handler, object(), data) for _ in range(30)]
        assert results[:2] == ["handled", "handled"] and set(results[2:]) == {None}
        assert told == ["errors.flood"]  # 28 ignored updates, one hint
        for person in range(2, 5002):
            now[0] += 0.001
            await guard(handler, object(), {"event_from_user": Person(person), "l10n": lambda key: key})
        now[0] += 11
        await guard(handler, object(), {"event_from_user": Person(1), "l10n": lambda key: key})
        assert len(guard) <= 2  # the five thousand quiet people are gone
    finally:
        middlewares._tell = original


async def test_a_member_removed_from_the_office_chat_loses_access_at_once(app: App) -> None:
    app.session.set_chat_member(CHAT, 7001, "member")
    office = app.user(7001, chat_id=CHAT)
    await office.command("cases")
    assert any(isinstance(call, GetChatMember) for call in app.session.calls)
    asked = sum(isinstance(call, GetChatMember) for call in app.session.calls)
    await office.command("cases")  # within the cache's minute: Telegram is not asked again
    assert sum(isinstance(call, GetChatMember) for call in app.session.calls) == asked
    app.session.set_chat_member(CHAT, 7001, "left")
    reply = await office.feed(app.updates.chat_member(CHAT, 7001, old="member", new="left"))
    assert reply.texts == []
    listed = len(texts_to(app, CHAT))
    await office.command("cases")
    assert sum(isinstance(call, GetChatMember) for call in app.session.calls) == asked + 1  # asked again at once
    assert len(texts_to(app, CHAT)) == listed  # and no longer shown the caseload


@pytest.mark.usefixtures("demo_directory")
@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_a_file_name_with_a_nul_is_kept_without_it(app: App, backend: str) -> None:
    from storage.models import ReviewMedia

    person = await resident(app, 4501)
    await to_kind_step(app, person, about_doctor=False)
    await choose_kind(person, "gratitude", stars="5⭐")
    await person.send("Спасибо за внимательный приём.")
    await person.document(b"%PDF-1.4 thanks", file_name="спасибо\x00../../etc/passwd\x07.pdf")
    await person.press(RU("when.today"))
    reply = await person.press(RU("preview.submit"))
    assert any("AL-" in text for text in reply.texts)
    [stored] = await one(app, select(ReviewMedia))
    assert stored.stored_path.endswith(".pdf") and "\x00" not in stored.stored_path
    from bot.services.media import Evidence

    assert Evidence("document", "f", "u", 1, None, "спасибо\x00../../x\x07.pdf").file_name == "спасибо....x.pdf"
