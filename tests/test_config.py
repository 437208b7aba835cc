"""Settings: TOML plus environment overrides, and one clear line for every bad value."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings, require_token

TOKEN = "123456:TEST-token"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("MEDFEEDBACK_"):
            monkeypatch.delenv(name)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_config_is_valid_and_documents_every_key() -> None:
    example = Path(__file__).parents[1] / "config.example.toml"
    settings = load_settings(example)
    assert settings.telegram.mode == "polling"
    assert settings.timezone == "Asia/Almaty"
    text = example.read_text(encoding="utf-8")
    for key in ("token", "api_server", "mode", "url", "listen_host", "listen_port", "path", "secret_token",
                "max_download_mb", "storage", "chat_id", "admins", "default", "timezone", "dir"):
        assert f"{key} =" in text or f"# {key} =" in text, key


def test_toml_values_and_environment_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, f'admins = [1, 2]\n[telegram]\ntoken = "{TOKEN}"\n[locale]\ndefault = "kk"\n')
    monkeypatch.setenv("MEDFEEDBACK_LOCALE__DEFAULT", "en")
    monkeypatch.setenv("MEDFEEDBACK_PROSECUTOR__CHAT_ID", "-100500")
    settings = load_settings(path)
    assert settings.admins == [1, 2]
    assert settings.locale.default == "en"
    assert settings.prosecutor.chat_id == -100500
    assert require_token(settings) == TOKEN
    assert TOKEN not in repr(settings) and TOKEN not in str(settings.telegram)


def test_config_path_from_environment_and_token_from_environment_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MEDFEEDBACK_TELEGRAM__TOKEN", TOKEN)
    assert require_token(load_settings()) == TOKEN  # no file at all
    other = tmp_path / "other.toml"
    other.write_text('timezone = "Europe/London"\n')
    monkeypatch.setenv("MEDFEEDBACK_CONFIG", str(other))
    assert load_settings().timezone == "Europe/London"


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[telegram]\ntoken = "nonsense"\n', "telegram.token"),
        ('[telegram]\nmode = "carrier-pigeon"\n', "telegram.mode"),
        (f'[telegram]\ntoken = "{TOKEN}"\nmode = "webhook"\n', "telegram.webhook.url"),
        (f'[telegram]\ntoken = "{TOKEN}"\nmode = "webhook"\n[telegram.webhook]\nurl = "https://x.kz/h"\n',
         "telegram.webhook.secret_token"),
        ('[database]\nurl = "mysql://x"\n', "database.url"),
        ('[fsm]\nstorage = "memory"\n', "fsm.storage"),
        ('timezone = "Mars/Olympus"\n', "timezone"),
        ('[locale]\ndefault = "de"\n', "locale.default"),
        ('admins = "everyone"\n', "admins"),
        ('[telegram]\ntokn = "x"\n', "telegram.tokn"),
        ("[telegram\n", "not valid TOML"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, toml: str, expected: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(write(tmp_path, toml))
    message = str(error.value)
    assert expected in message
    assert "\n" not in message


def test_missing_explicit_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml")


def test_run_without_token_prints_one_line_and_fails(tmp_path: Path) -> None:
    environment = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "bot", "run"], cwd=tmp_path, env=environment,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "telegram.token" in lines[0] and "MEDFEEDBACK_TELEGRAM__TOKEN" in lines[0]
    assert "Traceback" not in result.stderr


def test_bad_value_at_start_up_is_one_line(tmp_path: Path) -> None:
    write(tmp_path, f'[telegram]\ntoken = "{TOKEN}"\nlisten = 1\n')
    result = subprocess.run([sys.executable, "-m", "bot", "--config", "config.toml", "run"], cwd=tmp_path,
                            env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "telegram.listen" in result.stderr
