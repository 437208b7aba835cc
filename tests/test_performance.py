"""What keeps the hot path lean: no class rebuilt per Bot API call, one read and one write of the conversation state
per update, nothing per person kept forever. Counts, never timings (the benches in bench/ measure speed)."""

from __future__ import annotations

import gc
import logging
import uuid

import pytest
from aiogram import Router
from aiogram.methods.base import Response
from pydantic import BaseModel
from pydantic._internal import _generics
from sqlalchemy import event, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.factory import create_dispatcher
from storage.engine import active_session, make_engine, make_session_pool
from storage.models import FsmRecord, ProcessedUpdate
from tests.conftest import BACKENDS, POSTGRES_URL, App
from tests.fakes.client import UserClient
from tests.flows import RU, one, resident, submit_quick_review


@pytest.fixture
def response_rebuilds(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """Every `Response[T]` class pydantic builds from now on (a cache hit builds nothing)."""
    built: list[tuple] = []
    original = _generics.create_generic_submodel

    def counting(model_name, origin, args, params):
        if origin is Response:
            built.append(args)
        return original(model_name, origin, args, params)

    monkeypatch.setattr(_generics, "create_generic_submodel", counting)
    return built


def test_the_counter_sees_pydantic_rebuild_a_response_model_nobody_holds(response_rebuilds: list[tuple]) -> None:
    class Probe(BaseModel):
        value: int

    assert Response[Probe].model_validate({"ok": True, "result": {"value": 1}}).result.value == 1
    gc.collect()  # nothing holds Response[Probe]: pydantic's weak cache lets it go
    Response[Probe]
    assert len(response_rebuilds) == 2


async def test_bot_api_answers_rebuild_no_response_model_however_much_garbage_is_collected(
        app: App, response_rebuilds: list[tuple]) -> None:
    person = await resident(app, 2101)
    for _ in range(2):
        # A full collection frees every Response[T] nobody holds: the calls after it would each build theirs again.
        gc.collect()
        await person.press(RU("menu.leave_feedback"))  # answerCallbackQuery, editMessageText
        await person.command("cancel")  # sendMessage
        await app.bot.get_me()
    assert response_rebuilds == []


class Statements:
    """The SQL statements the app's engine runs, for counting the ones that touch a table."""

    def __init__(self, app: App) -> None:
        self.seen: list[str] = []
        self.engine = app.pool.kw["bind"].sync_engine
        event.listen(self.engine, "before_cursor_execute", self._record)

    def _record(self, _conn, _cursor, statement: str, *_args) -> None:
        self.seen.append(" ".join(statement.split()))

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)

    def touching(self, table: str, verb: str | None = None) -> list[str]:
        return [s for s in self.seen if table in s and (verb is None or s.startswith(verb))]


@pytest.fixture
def statements(app: App):
    counter = Statements(app)
    yield counter
    counter.close()


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
@pytest.mark.usefixtures("demo_directory")
async def test_each_update_reads_its_person_and_conversation_with_its_record_and_writes_at_most_once(
        app: App, statements: Statements) -> None:
    person = await resident(app, 2102)
    before = len(app.session.calls)
    reply = await submit_quick_review(app, person)
    fed = len(await one(app, select(ProcessedUpdate)))  # every update of the test: onboarding and the review
    assert any("AL-" in text for text in reply.texts)
    assert len(app.session.calls) > before
    # Never a SELECT of their own: the state and the person come back from the INSERT of the update's record.
    assert statements.touching("fsm_records", "SELECT") == []
    assert statements.touching("FROM users", "SELECT") == []
    records = statements.touching("processed_updates", "INSERT")
    assert len(records) == fed and all("fsm_records" in record and "users" in record for record in records)
    writes = [s for s in statements.touching("fsm_records") if s.startswith(("INSERT INTO fsm", "UPDATE", "DELETE"))]
    assert 0 < len(writes) <= fed
    # The review is submitted and the conversation over: it leaves no row behind.
    assert await one(app, select(FsmRecord)) == []


@pytest.mark.usefixtures("demo_directory")
async def test_a_redelivered_update_reads_no_conversation_and_changes_nothing(app: App, statements: Statements) -> None:
    person = await resident(app, 2103)
    update = app.updates.text(RU("menu.leave_feedback"), user=person.user, chat=person.chat)
    await app.dp.feed_update(app.bot, update)
    state = await app.dp.fsm.get_context(app.bot, chat_id=person.chat_id, user_id=person.user["id"]).get_state()
    statements.seen.clear()
    await app.dp.feed_update(app.bot, update)
    assert statements.touching("fsm_records", "UPDATE") == statements.touching("fsm_records", "DELETE") == []
    assert [s for s in statements.touching("fsm_records") if s.startswith("INSERT INTO fsm")] == []
    assert await app.dp.fsm.get_context(app.bot, chat_id=person.chat_id, user_id=person.user["id"]).get_state() == state


@pytest.mark.usefixtures("demo_directory")
async def test_a_conversation_changed_and_then_failed_is_not_stored(app: App) -> None:
    person = await resident(app, 2104)
    context = app.dp.fsm.get_context(app.bot, chat_id=person.chat_id, user_id=person.user["id"])
    async with app.pool() as session:
        token = active_session.set(session)
        try:
            async with session.begin():
                await context.set_state("ReviewForm:clinic")
                await context.update_data(clinic_id=17)
                await session.rollback()
        finally:
            active_session.reset(token)
    assert await context.get_state() is None and await context.get_data() == {}
    # Outside an update, each call stores at once.
    await context.set_state("ReviewForm:clinic")
    await context.update_data(clinic_id=17)
    assert (await context.get_state(), await context.get_data()) == ("ReviewForm:clinic", {"clinic_id": 17})


async def _terminate(admin: AsyncEngine, application: str) -> int:
    async with admin.begin() as connection:
        return len((await connection.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :name"),
            {"name": application})).all())


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
@pytest.mark.parametrize("ping_after_idle", [0.0, 3600.0], ids=["idle-connection-pinged", "busy-connection-retried"])
async def test_a_dropped_postgresql_connection_is_replaced_and_the_update_still_answered(
        app: App, engine: AsyncEngine, ping_after_idle: float, caplog: pytest.LogCaptureFixture) -> None:
    """No ping per checkout: a connection idle for a while is pinged (and replaced when dead); one dropped while in
    busy use fails a single attempt, which the unit of work retries on a fresh connection."""
    async with engine.connect() as connection:
        schema = (await connection.execute(text("SHOW search_path"))).scalar_one()
    application = f"medfeedback-{uuid.uuid4().hex[:8]}"
    ours = make_engine(POSTGRES_URL, ping_after_idle=ping_after_idle,
                       connect_args={"server_settings": {"search_path": schema, "application_name": application}})
    admin = make_engine(POSTGRES_URL)
    try:
        dp = create_dispatcher(app.settings, session_pool=make_session_pool(ours), clock=app.clock)
        person = UserClient(dp, app.bot, app.session, user_id=2105, factory=app.updates)
        assert (await person.command("start")).texts
        assert await _terminate(admin, application) >= 1  # the pooled connection is gone
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="bot.unit_of_work"):
            reply = await person.command("start")
        assert reply.texts and reply.text == person.last_text
        retried = [record for record in caplog.records if "try 2" in record.getMessage()]
        assert bool(retried) == (ping_after_idle > 0)
    finally:
        await ours.dispose()
        await admin.dispose()


@pytest.fixture
def routers_entered(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """(update type, router name) of every router an update is passed to, in order."""
    entered: list[tuple[str, str]] = []
    original = Router.propagate_event

    async def recording(self, update_type, event, **kwargs):
        entered.append((update_type, self.name))
        return await original(self, update_type, event, **kwargs)

    monkeypatch.setattr(Router, "propagate_event", recording)
    return entered


OFFICE_ROUTERS = {"membership", "prosecutor", "urgency_decisions", "reports"}


async def test_a_residents_message_passes_one_office_router_not_four(
        app: App, routers_entered: list[tuple[str, str]]) -> None:
    reply = await app.user(7301, language_code="ru").command("start")
    assert RU("consent.accept") in str(reply.buttons)
    entered = [name for kind, name in routers_entered if kind == "message"]
    assert "office" in entered and "start" in entered and not set(entered) & OFFICE_ROUTERS


async def test_the_offices_chat_still_reaches_the_office_routers_and_presses_reach_them_from_anywhere(
        app: App, routers_entered: list[tuple[str, str]]) -> None:
    officer = app.user(7302, chat_id=app.settings.prosecutor.chat_id, first_name="Прокурор")
    await officer.command("help")
    assert {"office", "prosecutor"} <= {name for kind, name in routers_entered if kind == "message"}
    routers_entered.clear()
    person = await resident(app, 7303)
    routers_entered.clear()
    await person.press(RU("menu.language"))  # a resident's press: the office's callbacks are tried as before
    assert OFFICE_ROUTERS <= {name for kind, name in routers_entered if kind == "callback_query"}
