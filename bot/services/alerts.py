"""Moved to bot.cases.cards (issue 10: case handling has its own corner); this name is kept only so that code
still importing bot.services.alerts keeps working until it is changed."""

from bot.cases.cards import *  # noqa: F403
