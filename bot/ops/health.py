"""Liveness and readiness: what /healthz and /readyz answer, from heartbeats the running parts touch.

/healthz says the process and its event loop answer. /readyz says it can do its work now: the database answers
a cheap query and its migrations are current, the outbox relay and the scheduler have made a pass recently, and
Telegram has answered a call within `telegram_stale` seconds. A supervisor restarts on /healthz, a load balancer
routes on /readyz; not ready is a 503 with one short line per reason.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from storage.migrate import pending_migrations

HEARTBEATS = ("relay", "scheduler")


@dataclass
class Health:
    engine: AsyncEngine | None = None
    telegram_stale: float = 300.0
    heartbeat_stale: float = 120.0
    database_timeout: float = 2.0
    clock: Callable[[], float] = time.monotonic
    required: tuple[str, ...] = HEARTBEATS
    _beats: dict[str, float] = field(default_factory=dict)
    _telegram: float | None = None
    _migrated: bool = False
    stopping: bool = False

    def beat(self, name: str) -> None:
        """A part (the relay, the scheduler) made a pass just now."""
        self._beats[name] = self.clock()

    def telegram_answered(self) -> None:
        self._telegram = self.clock()

    def telegram_age(self) -> float | None:
        """Seconds since Telegram last answered (None: never)."""
        return None if self._telegram is None else self.clock() - self._telegram

    def beating(self, name: str, work: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        """`work` wrapped so that each pass that returns (not one that raises) is a heartbeat of `name`."""

        async def wrapped(*args: Any, **kwargs: Any) -> Any:
            result = await work(*args, **kwargs)
            self.beat(name)
            return result

        return wrapped

    async def problems(self) -> list[str]:
        """Why the process is not ready; empty when it is."""
        now = self.clock()
        problems: list[str] = []
        if self.stopping:
            problems.append("stopping")
        problems += await self._database_problems()
        for name in self.required:
            last = self._beats.get(name)
            if last is None:
                problems.append(f"{name}: no pass yet")
            elif now - last > self.heartbeat_stale:
                problems.append(f"{name}: no pass for {now - last:.0f} s")
        if self._telegram is None:
            problems.append("telegram: no answer yet")
        elif now - self._telegram > self.telegram_stale:
            problems.append(f"telegram: no answer for {now - self._telegram:.0f} s")
        return problems

    async def _database_problems(self) -> list[str]:
        if self.engine is None:
            return []
        try:
            async with asyncio.timeout(self.database_timeout):
                if self._migrated:
                    async with self.engine.connect() as connection:
                        await connection.exec_driver_sql("SELECT 1")
                else:
                    pending = await pending_migrations(self.engine)
                    if pending:
                        return [f"database: {len(pending)} migration(s) not applied ({', '.join(pending)})"]
                    self._migrated = True  # the code's head cannot change while the process runs
        except TimeoutError:
            return [f"database: no answer within {self.database_timeout:g} s"]
        except Exception as error:
            return [f"database: {type(error).__name__}"]
        return []
