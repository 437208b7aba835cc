"""Log set-up: text or JSON lines, each line about an update carrying its update_id and the review's reference.

The update's context lives in contextvars: the outer `UpdateObserver` middleware (bot/ops/metrics.py) sets the
update_id for the whole of the update's handling, and whoever first knows the review (a submission, a case
button) calls `bind_reference`. A logging filter copies both onto every record, so no log call has to name
them, and a line never needs a person's name, phone, text or Telegram id to be traceable.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

current_update: ContextVar[int | None] = ContextVar("current_update", default=None)
current_reference: ContextVar[str | None] = ContextVar("current_reference", default=None)

HANDLER_NAME = "medfeedback"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(context)s%(message)s"
# Loggers that speak about every update or request at INFO; their useful lines are warnings.
QUIET = ("aiogram.event", "alembic", "apscheduler.executors.default", "apscheduler.scheduler", "aiohttp.access")


def bind_reference(reference: str | None) -> None:
    """Name the review the current update is about; later lines of this update carry it."""
    if reference:
        current_reference.set(reference)


class UpdateContext(logging.Filter):
    """Puts `update_id`, `reference` and a ready `context` prefix ("update=12 ref=AL-2026-000001 ") on records."""

    def filter(self, record: logging.LogRecord) -> bool:
        update_id, reference = current_update.get(), current_reference.get()
        record.update_id, record.reference = update_id, reference
        parts = []
        if update_id is not None:
            parts.append(f"update={update_id}")
        if reference:
            parts.append(f"ref={reference}")
        record.context = " ".join(parts) + " " if parts else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, update_id, reference, error."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("update_id", "reference"):
            if (value := getattr(record, key, None)) is not None:
                entry[key] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(log_format: str = "text", level: str = "INFO", stream: TextIO | None = None) -> logging.Handler:
    """Write `log_format` lines to `stream` (stderr) from the root logger, replacing an earlier call's handler
    (and no one else's: a test runner's capture stays)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(UpdateContext())
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    handler.set_name(HANDLER_NAME)
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == HANDLER_NAME:
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    return handler
