"""Start-up's objects kept out of the garbage collector's passes.

By the time the bot takes its first update it holds some 300,000 objects that live as long as the process: aiogram's
and pydantic's models, SQLAlchemy's mappers, the locale files, the search index, the Russian dictionary. CPython's
full collection walks every one of them each time enough new objects have outlived the younger generations. In the
review flow (100 residents, 1,800 updates, a gc callback timing each pass) that was 2 full passes of 230 ms each, an
update in that moment waiting for them, and 700 ms of collection in all (0.39 ms an update). `gc.freeze()` moves
every object alive now into a permanent generation that no pass visits: then 4 full passes of at most 19 ms, 243 ms
in all (0.13 ms an update). bench/flow.py's updates/s do not tell the two apart (the difference is within its noise);
what goes is the quarter-second stall.

Objects frozen are still freed when their last reference goes; only a reference cycle among them is never collected.
Start-up's garbage is collected first, and what start-up leaves behind is meant to live anyway.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)


def settle() -> int:
    """Collect start-up's garbage, then freeze what is left; returns how many objects are now frozen. Called again
    after a late part of start-up (the urgency classifier's warm-up), it freezes what that part added."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.info("start-up's %d objects kept out of garbage collection passes", frozen)
    return frozen
