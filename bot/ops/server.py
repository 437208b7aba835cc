"""HTTP routes /healthz, /readyz and /metrics: on the webhook server's app, or on a small listener of their own."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.ops.health import Health
from bot.ops.metrics import Metrics

log = logging.getLogger(__name__)


class OpsRoutes:
    def __init__(self, health: Health, metrics: Metrics | None = None,
                 pool: async_sessionmaker[AsyncSession] | None = None,
                 clock: Callable[[], datetime] | None = None, zone: Any = None) -> None:
        self.health, self.metrics, self.pool, self.clock, self.zone = health, metrics, pool, clock, zone

    def register(self, app: web.Application) -> None:
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        if self.metrics is not None:
            app.router.add_get("/metrics", self.metrics_page)

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(self, request: web.Request) -> web.Response:
        problems = await self.health.problems()
        if problems:
            return web.Response(status=503, text="not ready: " + "; ".join(problems) + "\n")
        return web.Response(text="ready\n")

    async def metrics_page(self, request: web.Request) -> web.Response:
        assert self.metrics is not None
        if self.pool is not None and self.clock is not None:
            await self.metrics.refresh(self.pool, self.clock(), self.zone)
        response = web.Response(body=self.metrics.render())
        response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        response.charset = "utf-8"
        return response


class OpsListener:
    """The routes on `host:port` of their own (polling mode, or a port apart from the webhook's)."""

    def __init__(self, routes: OpsRoutes, listen: str) -> None:
        self.routes = routes
        host, _, port = listen.rpartition(":")
        self.host, self.port = host.strip("[]"), int(port)
        self._runner: web.AppRunner | None = None

    async def start(self) -> bool:
        """False when the address is taken (another instance, another program): the bot runs on without these
        routes, and says so, rather than stop serving residents over an auxiliary port."""
        app = web.Application()
        self.routes.register(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, self.host, self.port).start()
        except OSError as error:
            await self._runner.cleanup()
            self._runner = None
            log.error("ops.listen: cannot listen on %s:%s (%s): /healthz, /readyz and /metrics are not served; set "
                      "ops.listen to a free host:port (each instance its own), or \"\" to turn it off",
                      self.host, self.port, error.strerror or error)
            return False
        log.info("health and metrics on http://%s:%s (/healthz, /readyz, /metrics)", self.host, self.port)
        return True

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
