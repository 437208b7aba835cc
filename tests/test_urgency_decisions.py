"""The office teaches urgency: "Not urgent" / "Urgent" under cards and /case, stored with who, when and the text;
measured and exported from the command line; classification runs off the event loop."""

from __future__ import annotations

import argparse
import json
import threading
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.__main__ import main, office_decisions
from bot.l10n import Translator
from bot.services import reviews, urgency
from bot.services.urgency import UrgencyRules, explain
from storage.models import AuditLog, Case, UrgencyDecision
from tests.conftest import App
from tests.flows import RU, one
from tests.test_alerts import CHAT, PROSECUTOR, STRANGER, card_in_chat, prosecutor, relay_for, submit_violation

pytestmark = pytest.mark.usefixtures("demo_directory")


async def decisions(app: App) -> list[UrgencyDecision]:
    return list(await one(app, select(UrgencyDecision).order_by(UrgencyDecision.id)))


async def test_a_member_marks_a_card_not_urgent_and_it_is_stored_with_who_when_and_the_text(app: App) -> None:
    reference = await submit_violation(app, text="Врач требовал взятку 30000 тенге.")
    await relay_for(app).run_once()
    card = card_in_chat(app)
    assert [b.text for b in card.reply_markup.inline_keyboard[-1]] == [
        RU("urgency_decision.button_not_urgent"), RU("urgency_decision.button_urgent")]
    reply = await prosecutor(app).press(RU("urgency_decision.button_not_urgent"), message=card.message_id)
    assert reply.callback_answers == [RU("urgency_decision.recorded_not_urgent", reference=reference,
                                         name="Прокурор")]
    [decision] = await decisions(app)
    assert (decision.urgent, decision.decided_by, decision.decided_by_name) == (False, PROSECUTOR, "Прокурор")
    assert decision.decided_at == app.clock()
    assert (decision.text, decision.language, decision.classified_as) == (
        "Врач требовал взятку 30000 тенге.", "ru", "critical")
    audit = [a for a in await one(app, select(AuditLog)) if a.action == "case.urgency_decided"]
    assert len(audit) == 1 and audit[0].actor_telegram_id == PROSECUTOR
    # The office changes its mind a minute later: both presses are kept, the latest is its verdict.
    app.clock.advance(minutes=1)
    await prosecutor(app, 7003).press(RU("urgency_decision.button_urgent"), message=card.message_id)
    assert [d.urgent for d in await decisions(app)] == [False, True]
    async with app.pool() as session:
        from storage.repositories import Repositories

        [current] = await Repositories(session).urgency_decisions.current_verdicts()
    assert (current.urgent, current.decided_by) == (True, 7003)
    # The line a card can show (the office issue's cards use it), in the office's language.
    from bot.services.urgency_decisions import card_line

    line = card_line(current, Translator()["en"], app.settings.zone)
    assert line == "Office's verdict: urgent, Прокурор, " + current.decided_at.astimezone(app.settings.zone).strftime(
        "%d.%m.%Y %H:%M")
    assert explain(None, Translator()["en"]) == []  # a case made before findings were kept


async def test_strangers_and_forged_verdict_buttons_store_nothing(app: App) -> None:
    await submit_violation(app)
    await relay_for(app).run_once()
    app.session.set_chat_member(CHAT, STRANGER, "left")
    card = card_in_chat(app)
    reply = await prosecutor(app, STRANGER).press(RU("urgency_decision.button_urgent"), message=card.message_id)
    assert reply.callback_answers == [RU("alert.refused")]
    [case] = await one(app, select(Case))
    # Forged from a private chat, and for a case that does not exist.
    assert (await app.user(3001).press_data(f"uv1:{case.id}:n")).callback_answers == [RU("alert.refused")]
    assert (await prosecutor(app).press_data("uv1:999999:u")).callback_answers == [RU("cases.unknown")]
    assert await decisions(app) == []


async def test_case_command_offers_the_verdict_buttons_too(app: App) -> None:
    reference = await submit_violation(app, photos=False)
    officer = prosecutor(app)
    reply = await officer.command("case", reference)
    assert reference in reply.texts[-1]
    # Under the actions the case's state allows (the office's caseload), the verdict is the last row.
    verdict_row = [RU("urgency_decision.button_not_urgent"), RU("urgency_decision.button_urgent")]
    assert officer.last_buttons()[-1] == verdict_row
    await officer.press(RU("urgency_decision.button_urgent"))
    [decision] = await decisions(app)
    assert decision.urgent and decision.decided_by == PROSECUTOR
    # An unknown reference gets no buttons.
    await officer.command("case", "AL-2026-999999")
    assert officer.last_buttons() == []


async def test_the_office_verdicts_are_measured_and_exported(app: App, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    first = await submit_violation(app, 3001, text="Врач требовал взятку 30000 тенге.", photos=False)
    second = await submit_violation(app, 3002, text="Очень долго ждали в очереди, врач был груб.", photos=False)
    officer = prosecutor(app)
    # The second: the office says it IS urgent although the words alone are not (a miss to learn from).
    for reference in (first, second):
        await officer.command("case", reference)
        await officer.press(RU("urgency_decision.button_urgent"))
    out = tmp_path / "office.jsonl"
    assert await office_decisions(app.pool, argparse.Namespace(export_decisions=out, evaluate_decisions=False)) == 0
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(line["text"], line["expected"], line["urgent"], line["language"]) for line in lines] == [
        ("Врач требовал взятку 30000 тенге.", "high", True, "ru"),
        ("Очень долго ждали в очереди, врач был груб.", "high", True, "ru")]
    # The export is an evaluation set in its own right.
    assert urgency.evaluate(UrgencyRules.load(), out)["recall"] == 0.5
    capsys.readouterr()
    assert await office_decisions(app.pool, argparse.Namespace(export_decisions=None, evaluate_decisions=True)) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "examples 2 | critical+high precision 1.00 recall 0.50 | exact level accuracy 0.00"
    assert printed[1] == "  ru: examples 2 | precision 1.00 recall 0.50 | false alarms 0, missed 1"


def test_evaluate_decisions_on_an_empty_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("MEDFEEDBACK_CONFIG", raising=False)
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "d.db"}"\n')
    assert main(["--config", str(config), "classify", "--evaluate-decisions"]) == 0
    assert capsys.readouterr().out.strip() == "the office has not marked any review as urgent or not urgent yet"
    out = tmp_path / "none.jsonl"
    assert main(["--config", str(config), "classify", "--export-decisions", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == ""
    assert main(["--config", str(config), "classify", "--export-decisions", str(tmp_path / "no" / "x.jsonl")]) == 1


async def test_submission_classifies_off_the_event_loop_and_keeps_the_findings(
        app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[str] = []
    original = UrgencyRules.classify

    def spy(self, *args, **kwargs):
        threads.append(threading.current_thread().name)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(UrgencyRules, "classify", spy)
    # Reading the data files the first time (a few hundred milliseconds) is off the loop too.
    loaded_in: list[str] = []
    original_load = UrgencyRules.load.__func__

    def load_spy(cls, *args, **kwargs):
        loaded_in.append(threading.current_thread().name)
        return original_load(cls, *args, **kwargs)

    monkeypatch.setattr(UrgencyRules, "load", classmethod(load_spy))
    reviews.urgency_rules.cache_clear()
    await submit_violation(app, text="Что делать, если врач просит взятку? Вчера медсестра взяла 5000 тенге.",
                           photos=False)
    assert threads and threading.main_thread().name not in threads
    assert loaded_in and threading.main_thread().name not in loaded_in
    reviews.urgency_rules.cache_clear()  # the next test gets rules loaded without the spy
    [case] = await one(app, select(Case))
    lines = explain(case.urgency_findings, Translator()["en"])
    assert "a sum of money asked for or handed over: «взяла … 5000»" in lines
    assert "not counted: «взятку» — only asked as a question, no event reported" in lines
