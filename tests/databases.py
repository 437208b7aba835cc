"""A PostgreSQL schema of one's own, for the tests (tests/conftest.py) and the benches (bench/): created on entry,
dropped with everything in it on exit, so that no run sees another's rows."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.engine import make_engine


class PostgresSchema:
    """`async with PostgresSchema(url) as schema: engine = schema.engine()`: every engine it opens works in the new
    schema (through `search_path`), on the server and database `url` names."""

    def __init__(self, url: str, prefix: str = "t") -> None:
        self.url = url
        self.name = f"{prefix}_{uuid.uuid4().hex[:12]}"

    async def __aenter__(self) -> PostgresSchema:
        self._admin = make_engine(self.url)
        try:
            async with self._admin.begin() as connection:
                await connection.execute(text(f'CREATE SCHEMA "{self.name}"'))
        except BaseException:
            await self._admin.dispose()
            raise
        return self

    def engine(self, **kwargs: Any) -> AsyncEngine:
        return make_engine(self.url, connect_args={"server_settings": {"search_path": self.name}}, **kwargs)

    async def __aexit__(self, *exc: object) -> None:
        try:
            async with self._admin.begin() as connection:
                await connection.execute(text(f'DROP SCHEMA "{self.name}" CASCADE'))
        finally:
            await self._admin.dispose()
