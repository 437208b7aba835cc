"""The operator's commands that report: classify (and the README's figures), outbox status."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot.__main__ import main

ROOT = Path(__file__).parents[1]


def test_classify_reads_json_lines_and_explains() -> None:
    lines = [{"text": "Врач вымогал взятку 50 000 тенге", "rating": 1, "language": "ru"},
             {"text": "Рақмет дәрігерге, өте мейірімді", "language": "kk"},
             "this is not json"]
    stdin = "\n".join(line if isinstance(line, str) else json.dumps(line, ensure_ascii=False) for line in lines)
    result = subprocess.run([sys.executable, "-m", "bot", "classify"], input=stdin, capture_output=True, text=True,
                            cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    first, second, third = (json.loads(line) for line in result.stdout.splitlines())
    assert first["urgency"] == "critical" and any("взятку" in reason for reason in first["reasons"])
    assert second == {"urgency": "normal", "reasons": []}
    assert third["error"].startswith("line 3:")


def test_the_readme_states_the_figures_the_evaluation_prints(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["classify", "--evaluate", str(ROOT / "tests" / "data" / "urgency_eval.jsonl")]) == 0
    printed = capsys.readouterr().out.splitlines()[0]
    assert re.fullmatch(r"examples \d+ \| critical\+high precision [\d.]+ recall [\d.]+ \| exact level accuracy "
                        r"[\d.]+", printed)
    assert f"`{printed}`" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_outbox_status(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("MEDFEEDBACK_CONFIG", raising=False)
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "o.db"}"\n')
    assert main(["--config", str(config), "outbox", "status"]) == 0
    assert capsys.readouterr().out.strip() == "pending 0, blocked 0, sent 0, oldest unsent none"
    import sqlite3

    with sqlite3.connect(tmp_path / "o.db") as connection:
        connection.execute(
            "INSERT INTO outbox_messages (dedupe_key, chat_id, kind, payload, status, attempts, next_attempt_at,"
            " created_at) VALUES ('k', -1, 'alert', '{}', 'pending', 0, '2026-01-01 00:00:00',"
            " '2026-01-01 00:00:00')")
    assert main(["--config", str(config), "outbox", "status"]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("pending 1, blocked 0, sent 0, oldest unsent ") and out.endswith("s")

