"""`medfeedback backup` / `restore`: a copy taken while reviews are being submitted restores every review committed
before it began, with every evidence file's SHA-256 matching; damaged backups and occupied places are refused."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.config import Settings, load_settings
from bot.ops import backup
from storage.engine import make_engine
from storage.migrate import upgrade
from storage.models import Review, ReviewMedia, User
from tests.conftest import POSTGRES_URL, App
from tests.flows import clinic_17

pytestmark = pytest.mark.usefixtures("demo_directory")
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def elsewhere(root: Path, settings: Settings) -> Settings:
    """The same configuration pointed at an empty place: where a restore goes."""
    return settings.model_copy(update={
        "database": settings.database.model_copy(update={"url": f"sqlite+aiosqlite:///{root / 'bot.db'}"}),
        "media": settings.media.model_copy(update={"dir": root / "media"})})


async def keep_submitting(app: App, stop: asyncio.Event, committed: list[str]) -> None:
    """Reviews with an evidence file each, as the bot stores them: the file first, then the commit."""
    clinic = await clinic_17(app)
    media_dir = app.settings.media.dir
    async with app.pool() as session, session.begin():
        user = User(telegram_id=777000, language="ru", created_at=NOW)
        session.add(user)
    number = 0
    while not stop.is_set():
        number += 1
        data = f"evidence of review {number} ".encode() * 200
        sha256 = hashlib.sha256(data).hexdigest()
        relative = f"{sha256[:2]}/{sha256}.jpg"
        (media_dir / sha256[:2]).mkdir(parents=True, exist_ok=True)
        temporary = media_dir / f".incoming-{number}"
        temporary.write_bytes(data)
        os.replace(temporary, media_dir / relative)
        reference = f"AL-2026-{number:06d}"
        async with app.pool() as session, session.begin():
            review = Review(reference=reference, user_id=user.id, clinic_id=clinic.id, kind="complaint", rating=2,
                            text=f"жалоба {number}", language="ru", created_at=NOW, updated_at=NOW)
            session.add(review)
            await session.flush()
            session.add(ReviewMedia(review_id=review.id, position=0, kind="photo", file_id=f"f{number}",
                                    file_unique_id=f"u{number}", size=len(data), sha256=sha256, stored_path=relative,
                                    created_at=NOW))
        committed.append(reference)
        await asyncio.sleep(0)


def restored_evidence(database: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT r.reference, m.stored_path, m.sha256 FROM reviews r "
                                  "JOIN review_media m ON m.review_id = r.id").fetchall()
    connection.close()
    return rows


async def test_a_backup_taken_while_reviews_arrive_restores_every_committed_one(app: App, tmp_path: Path) -> None:
    committed: list[str] = []
    stop = asyncio.Event()
    writer = asyncio.create_task(keep_submitting(app, stop, committed))
    try:
        for _ in range(600):  # the writer is well under way before the backup starts
            if len(committed) >= 20:
                break
            await asyncio.sleep(0.05)
        began = list(committed)
        done = await asyncio.to_thread(backup.backup, app.settings, tmp_path / "backup", NOW)
        await asyncio.sleep(0.2)  # ... and goes on after it
    finally:
        stop.set()
        await writer
    print(f"before the backup: {len(began)} reviews, after it: {len(committed)}")
    assert len(began) >= 20 and len(committed) > len(began)
    manifest = json.loads((tmp_path / "backup" / backup.MANIFEST).read_text())
    assert manifest["format"] == backup.FORMAT and manifest["database"]["backend"] == "sqlite"
    assert not any(name.startswith(".incoming-") for name in manifest["media"])
    assert done.files == len(manifest["media"]) >= len(began)

    target = elsewhere(tmp_path / "restored", app.settings)
    restored = backup.restore(target, tmp_path / "backup")
    assert restored.files == done.files
    rows = restored_evidence(tmp_path / "restored" / "bot.db")
    references = {reference for reference, _, _ in rows}
    assert set(began) <= references  # every review committed before the backup began
    for _, stored_path, sha256 in rows:
        assert hashlib.sha256((target.media.dir / stored_path).read_bytes()).hexdigest() == sha256


async def test_restore_refuses_a_damaged_backup_and_an_occupied_place(app: App, tmp_path: Path) -> None:
    media = app.settings.media.dir / "ab"
    media.mkdir(parents=True)
    (media / "file.jpg").write_bytes(b"evidence")
    backup.backup(app.settings, tmp_path / "backup", NOW)
    with pytest.raises(backup.BackupError, match="is not empty"):
        backup.backup(app.settings, tmp_path / "backup", NOW)
    # Into the running bot's own place: refused, nothing overwritten.
    with pytest.raises(backup.BackupError, match="is not empty: restore goes into an empty location"):
        backup.restore(app.settings, tmp_path / "backup")
    # A changed byte anywhere: refused before anything is written.
    (tmp_path / "backup" / "media" / "ab" / "file.jpg").write_bytes(b"evidencf")
    target = elsewhere(tmp_path / "restored", app.settings)
    with pytest.raises(backup.BackupError, match=r"media/ab/file.jpg: SHA-256 differs from the manifest"):
        backup.restore(target, tmp_path / "backup")
    assert not (tmp_path / "restored").exists()
    (tmp_path / "backup" / backup.MANIFEST).unlink()
    with pytest.raises(backup.BackupError, match=r"manifest\.json is missing"):
        backup.restore(target, tmp_path / "backup")


async def test_the_commands_back_up_and_restore(app: App, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{app.settings.database.url}"\n[media]\ndir = "{app.settings.media.dir}"\n',
                      encoding="utf-8")
    restored = tmp_path / "restored"
    other = tmp_path / "other.toml"
    other.write_text(f'[database]\nurl = "sqlite+aiosqlite:///{restored / "bot.db"}"\n'
                     f'[media]\ndir = "{restored / "media"}"\n', encoding="utf-8")

    async def medfeedback(*args: str) -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env={"PATH": "/usr/bin:/bin"})
        out, _ = await asyncio.wait_for(process.communicate(), 120)
        return process.returncode, out.decode()

    code, out = await medfeedback("--config", str(config), "backup", str(tmp_path / "b"))
    assert code == 0 and "backup of the sqlite database and 0 evidence file(s)" in out, out
    code, out = await medfeedback("--config", str(other), "restore", str(tmp_path / "b"))
    assert code == 0 and "every SHA-256 matches" in out, out
    with sqlite3.connect(restored / "bot.db") as connection:
        assert connection.execute("SELECT count(*) FROM clinics").fetchone()[0] > 0
    connection.close()
    code, out = await medfeedback("--config", str(other), "restore", str(tmp_path / "b"))
    assert code == 1 and "restore goes into an empty location" in out, out


def test_without_pg_dump_the_backup_says_exactly_what_to_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backup.shutil, "which", lambda name: None)
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    settings = load_settings(empty, database={"url": "postgresql+asyncpg://bot:pa55@db.local:5433/medfeedback"},
                             media={"dir": str(tmp_path / "media")})
    done = backup.backup(settings, tmp_path / "b", NOW)
    [command] = done.commands
    assert command == (f"PGPASSWORD=... pg_dump --format=custom --no-owner --file={tmp_path / 'b' / backup.PG_FILE} "
                       "postgresql://bot@db.local:5433/medfeedback")
    assert "pa55" not in command
    assert backup.verify(tmp_path / "b") == ["database.pgdump: no SHA-256 in the manifest (the dump was not made)"]


@pytest.mark.postgres
async def test_a_postgresql_backup_runs_pg_dump(tmp_path: Path) -> None:
    from sqlalchemy.engine import make_url

    name = f"backup_{uuid.uuid4().hex[:10]}"
    admin = make_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    try:
        engine = make_engine(url)
        await upgrade(engine)
        await engine.dispose()
        empty = tmp_path / "empty.toml"
        empty.write_text("")
        settings = load_settings(empty, database={"url": url}, media={"dir": str(tmp_path / "media")})
        done = await asyncio.to_thread(backup.backup, settings, tmp_path / "b", NOW)
        assert done.commands == [] and (tmp_path / "b" / backup.PG_FILE).stat().st_size > 0
        assert backup.verify(tmp_path / "b") == []
        restored = backup.restore(settings.model_copy(update={"media": settings.media.model_copy(
            update={"dir": tmp_path / "restored-media"})}), tmp_path / "b")
        assert restored.commands[0].startswith("pg_restore --no-owner --exit-on-error --dbname=postgresql://")
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()
