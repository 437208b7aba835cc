"""Applies Alembic migrations programmatically, on SQLite or PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        config.set_main_option("sqlalchemy.url", url)
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the database to `revision`; a no-op when it is already there."""

    def run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(run)


async def pending_migrations(engine: AsyncEngine) -> list[str]:
    """The revisions the code has and the database has not applied (empty: the schema is current)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())

    def missing(connection: Connection) -> list[str]:
        applied = set(MigrationContext.configure(connection).get_current_heads())
        wanted: list[str] = []
        for revision in script.walk_revisions():
            if revision.revision in applied:
                continue
            # A revision is applied when it is an ancestor of an applied head.
            if any(revision.revision in {r.revision for r in script.iterate_revisions(head, "base")}
                   for head in applied):
                continue
            wanted.append(revision.revision)
        return sorted(wanted)

    async with engine.connect() as connection:
        return await connection.run_sync(missing)
