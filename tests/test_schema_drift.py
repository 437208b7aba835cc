"""The Alembic migrations build exactly the schema the models describe, on SQLite and on PostgreSQL.

Written without naming any migration, so it keeps holding as migrations are added: the database the `engine`
fixture migrated to the head is compared with `Base.metadata` by Alembic's autogenerate comparison, which is
what `alembic revision --autogenerate` would turn into a new migration. Any difference is a migration missing.
"""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.migrate import alembic_config, pending_migrations
from storage.models import Base
from tests.conftest import BACKENDS


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def _differences(connection) -> list:
    context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": False,
                                                            "target_metadata": Base.metadata})
    return compare_metadata(context, Base.metadata)


async def test_the_migrations_build_exactly_the_models_schema(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        differences = await connection.run_sync(_differences)
    assert differences == [], "the models and the migrations differ; write the migration for:\n" + "\n".join(
        map(repr, differences))


async def test_the_migrated_database_has_every_table_and_one_head(engine: AsyncEngine) -> None:
    # The comparison above is only as good as its inputs: every model table must really be there ...
    async with engine.connect() as connection:
        tables = set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
    assert set(Base.metadata.tables) <= tables
    # ... and the migrations must form one line, which the database has reached.
    assert len(ScriptDirectory.from_config(alembic_config()).get_heads()) == 1
    assert await pending_migrations(engine) == []
