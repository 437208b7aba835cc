"""All routers in the order they are tried: features first, catch-alls last."""

from __future__ import annotations

from aiogram import Router

from bot.config import Settings
from handlers import errors, start


def get_routers(settings: Settings) -> list[Router]:
    return [start.make_router(settings), errors.make_router()]
