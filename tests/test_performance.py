"""What keeps the hot path lean: no class rebuilt per Bot API call, one read and one write of the conversation state
per update, nothing per person kept forever. Counts, never timings (the benches in bench/ measure speed)."""

from __future__ import annotations

import gc

import pytest
from aiogram.methods.base import Response
from pydantic import BaseModel
from pydantic._internal import _generics

from tests.conftest import App
from tests.flows import RU, resident


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
    for _ in range(5):
        gc.collect()
        await person.press(RU("menu.leave_feedback"))
        gc.collect()
        await person.command("cancel")
        gc.collect()
        await app.bot.send_message(person.chat_id, "ping")
        await app.bot.get_me()
    assert response_rebuilds == []
