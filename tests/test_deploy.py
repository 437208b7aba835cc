"""deploy/: the systemd units and the reverse-proxy snippet say what the README promises."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

DEPLOY = Path(__file__).parents[1] / "deploy"


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read(DEPLOY / name, encoding="utf-8")
    return parser


@pytest.mark.parametrize("name", ["medfeedback.service", "medfeedback@.service"])
def test_the_service_runs_as_its_own_user_restarts_on_failure_and_stops_gracefully(name: str) -> None:
    service = unit(name)["Service"]
    assert service["User"] == "medfeedback" and service["Group"] == "medfeedback"
    assert service["Restart"] == "on-failure"
    assert service["KillSignal"] == "SIGTERM"
    # Longer than the bot's own grace for updates in flight (shutdown_grace_seconds, 20 s by default).
    assert int(service["TimeoutStopSec"]) > 20
    assert service["ExecStart"].endswith("medfeedback run")
    assert service["ExecStartPre"].endswith("medfeedback db upgrade")
    assert service["NoNewPrivileges"] == "yes" and service["ProtectSystem"] == "strict"


def test_webhook_instances_take_their_port_from_the_instance_name() -> None:
    service = (DEPLOY / "medfeedback@.service").read_text(encoding="utf-8")
    assert "Environment=MEDFEEDBACK_TELEGRAM__WEBHOOK__LISTEN_PORT=%i" in service
    assert "Environment=MEDFEEDBACK_OPS__LISTEN=\n" in service


def test_the_proxy_passes_only_the_webhook_and_keeps_metrics_private() -> None:
    conf = (DEPLOY / "nginx-webhook.conf").read_text(encoding="utf-8")
    assert "location = /telegram/webhook {" in conf and "proxy_pass http://medfeedback;" in conf
    assert "location / {\n        return 404;" in conf
    assert "non_idempotent" in conf  # a stopping instance's 503 is retried on the next one


def test_the_backup_timer_runs_the_backup_command() -> None:
    assert "medfeedback backup /var/backups/medfeedback/" in unit("medfeedback-backup.service")["Service"]["ExecStart"]
    assert unit("medfeedback-backup.timer")["Timer"]["Persistent"] == "true"


def test_systemd_reads_every_unit_without_a_complaint(tmp_path: Path) -> None:
    import shutil
    import subprocess

    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed here")
    names = []
    for source in DEPLOY.glob("*.service"):
        name = source.name.replace("@.", "@8081.")  # a template is verified as one of its instances
        (tmp_path / name).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
        names.append(str(tmp_path / name))
    for source in DEPLOY.glob("*.timer"):
        (tmp_path / source.name).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
        names.append(str(tmp_path / source.name))
    done = subprocess.run(["systemd-analyze", "verify", *names], capture_output=True, text=True, timeout=60)
    # The program itself is not installed here; anything else systemd says is a mistake in a unit.
    complaints = [line for line in (done.stdout + done.stderr).splitlines()
                  if line.strip() and "is not executable" not in line]
    assert complaints == []


def test_the_alert_rules_use_only_metrics_the_bot_exports() -> None:
    import re

    from bot.ops.metrics import Metrics

    rules = (DEPLOY / "prometheus-alerts.yml").read_text(encoding="utf-8")
    exported = set()
    for family in Metrics().registry.collect():
        exported |= {sample.name for sample in family.samples} | {family.name}
    exported |= {name + "_bucket" for name in exported}
    used = set(re.findall(r"\bmedfeedback_[a-z_]+", rules))
    assert used and used <= exported, used - exported
