"""`medfeedback backup DIR` and `medfeedback restore DIR`: the database and the evidence files, with SHA-256s.

A backup is consistent while the bot runs: the database first (SQLite's online backup API copies one snapshot;
PostgreSQL's pg_dump does the same), then the media files. Evidence is stored on disk before the review that names
it commits, so every file a review in the snapshot names is already there when the files are copied. The manifest,
written last, lists every file with its SHA-256: a backup without a manifest is incomplete.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url

from bot.config import Settings

FORMAT = "medfeedback-backup/1"
MANIFEST = "manifest.json"
SQLITE_FILE = "database.sqlite3"
PG_FILE = "database.pgdump"
MEDIA = "media"
# Files the bot is still writing (an evidence download, the self-check's probe): not evidence yet.
SKIPPED_PREFIXES = (".incoming-", ".doctor-")


class BackupError(Exception):
    """Something a person must fix; the message says what."""


@dataclass
class BackupDone:
    directory: Path
    database: str
    files: int
    bytes: int
    commands: list[str] = field(default_factory=list)  # what the operator still has to run (no pg_dump here)


@dataclass
class RestoreDone:
    database: str
    files: int
    commands: list[str] = field(default_factory=list)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("database.url names no SQLite file")
    return Path(url.database)


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq connection string for pg_dump/pg_restore, and the environment that carries the password."""
    plain = URL.create("postgresql", username=url.username, host=url.host, port=url.port, database=url.database,
                       query=url.query)
    env = {"PGPASSWORD": url.password} if url.password else {}
    return plain.render_as_string(hide_password=False), env


def _empty_dir(path: Path) -> bool:
    return not path.exists() or (path.is_dir() and not any(path.iterdir()))


def _media_files(media_dir: Path) -> list[Path]:
    if not media_dir.is_dir():
        return []
    return sorted(path for path in media_dir.rglob("*")
                  if path.is_file() and not path.name.startswith(SKIPPED_PREFIXES))


def _write_json(path: Path, data: dict[str, Any]) -> None:
    temporary = path.with_suffix(".tmp")
    with temporary.open("w", encoding="utf-8") as stream:
        json.dump(data, stream, ensure_ascii=False, indent=2)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, path)


def backup(settings: Settings, directory: Path, now: datetime) -> BackupDone:
    if not _empty_dir(directory):
        raise BackupError(f"{directory} is not empty: give a new or empty folder for the backup")
    directory.mkdir(parents=True, exist_ok=True)
    url = make_url(settings.database.url)
    commands: list[str] = []
    if url.get_backend_name() == "sqlite":
        database = {"backend": "sqlite", "file": SQLITE_FILE, **_sqlite_snapshot(_sqlite_path(url),
                                                                                  directory / SQLITE_FILE)}
    else:
        dsn, env = _libpq(url)
        command = ["pg_dump", "--format=custom", "--no-owner", f"--file={directory / PG_FILE}", dsn]
        database = {"backend": "postgresql", "file": PG_FILE}
        if shutil.which("pg_dump") is None:
            shown = " ".join(shlex.quote(part) for part in command)
            commands.append(("PGPASSWORD=... " if env else "") + shown)
            database["pending"] = "pg_dump was not found here: run the command printed by `medfeedback backup`"
        else:
            done = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise BackupError(f"pg_dump failed ({done.returncode}): {done.stderr.strip()[:500]}")
            database["sha256"] = sha256_of(directory / PG_FILE)
            database["size"] = (directory / PG_FILE).stat().st_size
    files: dict[str, dict[str, Any]] = {}
    media_dir = settings.media.dir
    total = 0
    for source in _media_files(media_dir):
        relative = source.relative_to(media_dir).as_posix()
        target = directory / MEDIA / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copy2(source, target)
        except FileNotFoundError:  # removed meanwhile (retention): it is no longer evidence
            continue
        files[relative] = {"sha256": sha256_of(target), "size": target.stat().st_size}
        total += files[relative]["size"]
    if database["backend"] == "sqlite":
        missing = _evidence_problems(directory / SQLITE_FILE, directory / MEDIA, files)
        if missing:
            raise BackupError("the backup lacks evidence its database names: " + "; ".join(missing[:5]))
    _write_json(directory / MANIFEST, {"format": FORMAT, "created_at": now.isoformat(), "database": database,
                                       "media": files})
    return BackupDone(directory, database["backend"], len(files), total, commands)


def _sqlite_snapshot(source: Path, target: Path) -> dict[str, Any]:
    if not source.is_file():
        raise BackupError(f"database file {source} does not exist")
    # The online backup API: one consistent snapshot while the bot keeps writing (WAL readers never block it).
    with sqlite3.connect(source, timeout=30) as live, sqlite3.connect(target) as copy:
        live.backup(copy)
    live.close()
    copy.close()
    return {"sha256": sha256_of(target), "size": target.stat().st_size}


def _evidence_problems(database: Path, media: Path, files: dict[str, dict[str, Any]]) -> list[str]:
    """Evidence rows whose file is missing from `media` or whose SHA-256 differs."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        rows = connection.execute("SELECT id, stored_path, sha256 FROM review_media WHERE stored_path IS NOT NULL"
                                  ).fetchall()
    connection.close()
    problems = []
    for media_id, stored_path, sha256 in rows:
        entry = files.get(stored_path)
        if entry is None and (media / stored_path).is_file():
            entry = {"sha256": sha256_of(media / stored_path)}
        if entry is None:
            problems.append(f"evidence {media_id}: file {stored_path} is missing")
        elif sha256 and entry["sha256"] != sha256:
            problems.append(f"evidence {media_id}: file {stored_path} has another SHA-256")
    return problems


def read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST
    if not path.is_file():
        raise BackupError(f"{path} is missing: not a MedFeedback backup, or one that did not finish")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{path}: unknown format {manifest.get('format')!r} (expected {FORMAT})")
    return manifest


def verify(directory: Path, manifest: dict[str, Any] | None = None) -> list[str]:
    """Every file of the backup against its SHA-256 in the manifest; the mismatches (empty: all good)."""
    manifest = manifest or read_manifest(directory)
    problems = []
    database = manifest["database"]
    expected = [(directory / database["file"], database.get("sha256"), database["file"])]
    expected += [(directory / MEDIA / name, entry["sha256"], f"{MEDIA}/{name}")
                 for name, entry in manifest["media"].items()]
    for path, sha256, name in expected:
        if sha256 is None:
            problems.append(f"{name}: no SHA-256 in the manifest (the dump was not made)")
        elif not path.is_file():
            problems.append(f"{name}: missing")
        elif sha256_of(path) != sha256:
            problems.append(f"{name}: SHA-256 differs from the manifest")
    return problems


def restore(settings: Settings, directory: Path) -> RestoreDone:
    manifest = read_manifest(directory)
    if problems := verify(directory, manifest):
        raise BackupError("the backup is damaged, nothing was restored: " + "; ".join(problems[:10]))
    media_dir = settings.media.dir
    if not _empty_dir(media_dir):
        raise BackupError(f"media folder {media_dir} is not empty: restore goes into an empty location")
    url = make_url(settings.database.url)
    database = manifest["database"]
    commands: list[str] = []
    if database["backend"] == "sqlite":
        if url.get_backend_name() != "sqlite":
            raise BackupError("this is a SQLite backup, but database.url names PostgreSQL")
        target = _sqlite_path(url)
        if any(Path(f"{target}{suffix}").exists() for suffix in ("", "-wal", "-shm")):
            raise BackupError(f"database file {target} exists: restore goes into an empty location")
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(target.name + ".restoring")
        shutil.copyfile(directory / database["file"], temporary)
        if sha256_of(temporary) != database["sha256"]:
            temporary.unlink()
            raise BackupError("the database copy does not match its SHA-256: nothing was restored")
        with sqlite3.connect(temporary) as connection:
            verdict = connection.execute("PRAGMA integrity_check").fetchone()[0]
        connection.close()
        if verdict != "ok":
            temporary.unlink()
            raise BackupError(f"the restored database fails SQLite's integrity check: {verdict}")
        os.replace(temporary, target)
    else:
        if url.get_backend_name() == "sqlite":
            raise BackupError("this is a PostgreSQL backup, but database.url names SQLite")
        dsn, env = _libpq(url)
        commands.append(("PGPASSWORD=... " if env else "") + " ".join(shlex.quote(part) for part in [
            "pg_restore", "--no-owner", "--exit-on-error", f"--dbname={dsn}", str(directory / database["file"])]))
    for name, entry in manifest["media"].items():
        target = media_dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(directory / MEDIA / name, target)
        if sha256_of(target) != entry["sha256"]:
            raise BackupError(f"{target}: the restored copy does not match its SHA-256")
    if database["backend"] == "sqlite":
        if problems := _evidence_problems(_sqlite_path(url), media_dir, manifest["media"]):
            raise BackupError("restored, but evidence does not match: " + "; ".join(problems[:5]))
    return RestoreDone(database["backend"], len(manifest["media"]), commands)
