"""Retention: what the consent text promises is kept no longer than promised (settings `retention.*`).

Daily, in small transactions:
- a review whose case was closed (or rejected) `closed_case_years` ago, or that had no case and was submitted that
  long ago, loses its content: its text and public text, the published name, the appellant's name and wanted
  outcome, its answers' texts, the extension reason, the text kept with the office's urgency verdicts, and its
  evidence rows and files (a file another review still uses stays). Kind, category, stars, clinic,
  doctor and dates stay, so statistics and ratings do not change. A case still open is never touched, whatever its
  age: the law requires the record of an appeal under consideration.
- a conversation left half-way (`fsm_records`) is dropped after `draft_days`;
- the text of a delivered message is cleared after `delivered_days` (the row, who got what and when, stays),
  except for messages about a case still open.
Each removal is audited ("retention.content_removed" on the review, which /mydata lists in its history), and
/mydata shows every review's `kept_until`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from storage.models import Case, Review
from storage.repositories import OpsRepo, Repositories

log = logging.getLogger(__name__)

BATCH = 200
CONTENT_REMOVED = "retention.content_removed"


@dataclass
class RetentionRun:
    reviews: int = 0
    files: int = 0
    drafts: int = 0
    messages: int = 0


def years_before(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year - years, day=28)


def kept_until(review: Review, case: Case | None, settings: Settings) -> date | None:
    """The day after which the review's content is removed; None while its case is open (kept as long as open)."""
    years = settings.retention.closed_case_years
    if case is None:
        start = review.created_at
    elif case.closed_at is not None and case.status in OpsRepo.CLOSED:
        start = case.closed_at
    else:
        return None
    return years_before(start, -years).astimezone(settings.zone).date()


async def run(pool: async_sessionmaker[AsyncSession], settings: Settings,
              clock: Callable[[], datetime]) -> RetentionRun:
    """One retention pass; safe to run twice, late, or on two instances (each batch re-reads what is left)."""
    now = clock()
    retention = settings.retention
    done = RetentionRun()
    cutoff = years_before(now, retention.closed_case_years)
    while True:
        async with pool() as session, session.begin():
            repo = Repositories(session)
            ops = OpsRepo(session)
            reviews = await ops.expired_reviews(cutoff, BATCH)
            unused: list[str] = []
            for review in reviews:
                paths, answers = await ops.remove_content(review, now)
                unused += paths
                await repo.audit.record(now, None, CONTENT_REMOVED, "review", review.id, reference=review.reference,
                                        files=len(paths), answers=answers, years=retention.closed_case_years)
        # Files go only after the rows that named them are gone for good (a rollback keeps both).
        done.files += await asyncio.to_thread(_delete_files, settings.media.dir, unused)
        done.reviews += len(reviews)
        if len(reviews) < BATCH:
            break
    async with pool() as session, session.begin():
        ops = OpsRepo(session)
        # An answer to the office left without Done was counted as given just before (bot.scheduler.apply_retention).
        done.drafts = await ops.drop_stale_drafts(now - timedelta(days=retention.draft_days))
        done.messages = await ops.clear_delivered(now - timedelta(days=retention.delivered_days))
    if done.reviews or done.drafts or done.messages:
        log.info("retention: content of %s review(s) and %s file(s) removed, %s draft(s) dropped, %s delivered "
                 "message text(s) cleared", done.reviews, done.files, done.drafts, done.messages)
    return done


def _delete_files(media_dir: Path, paths: list[str]) -> int:
    deleted = 0
    root = media_dir.resolve()
    for relative in paths:
        path = (media_dir / relative).resolve()
        if root not in path.parents:  # a stored path never leaves the media folder; never delete outside it
            continue
        try:
            path.unlink()
            deleted += 1
        except FileNotFoundError:
            pass
    return deleted
