"""Moved to bot.cases.deadlines (issue 10: case handling has its own corner); this name is kept only so that code
still importing bot.services.deadlines keeps working until it is changed."""

from bot.cases.deadlines import *  # noqa: F403
