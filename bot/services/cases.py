"""Moved to bot.cases.handling (issue 10: case handling has its own corner); this name is kept only so that code
still importing bot.services.cases keeps working until it is changed."""

from bot.cases.handling import *  # noqa: F403
