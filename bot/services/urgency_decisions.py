"""The office teaches urgency: its "Urgent" / "Not urgent" verdicts, stored with who, when and the text, then
measured against the classifier and exported as labelled examples."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any
from zoneinfo import ZoneInfo

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.callbacks import UrgencyVerdict, UrgencyVerdictV1
from bot.l10n import L10n
from bot.services import urgency
from storage.models import Urgency, UrgencyDecision
from storage.repositories import Repositories

NAME_CHARS = 256


class UnknownCase(Exception):
    """The button names a case this installation does not have (forged, or from another bot)."""


@dataclass(frozen=True)
class Recorded:
    decision: UrgencyDecision
    reference: str


def buttons(case_id: int, l10n: L10n) -> list[InlineKeyboardButton]:
    """One row: "Not urgent", "Urgent" (for the alert card and /case)."""
    return [
        InlineKeyboardButton(text=l10n("urgency_decision.button_not_urgent"),
                             callback_data=UrgencyVerdictV1(case_id=case_id,
                                                            verdict=UrgencyVerdict.NOT_URGENT).pack()),
        InlineKeyboardButton(text=l10n("urgency_decision.button_urgent"),
                             callback_data=UrgencyVerdictV1(case_id=case_id, verdict=UrgencyVerdict.URGENT).pack()),
    ]


def keyboard(case_id: int, l10n: L10n) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[buttons(case_id, l10n)])


async def record_decision(repo: Repositories, *, case_id: int, urgent: bool, by_telegram_id: int,
                          by_name: str | None, now: datetime) -> Recorded:
    """Store the office's verdict on a case's review, with a snapshot of its text and language, and audit it."""
    case = await repo.reviews.case(case_id)
    if case is None:
        raise UnknownCase(case_id)
    review = await repo.reviews.get(case.review_id)
    decision = UrgencyDecision(
        review_id=review.id, urgent=urgent, decided_by=by_telegram_id,
        decided_by_name=(by_name or "")[:NAME_CHARS] or None, decided_at=now, text=review.text or "",
        language=review.language, classified_as=str(case.urgency),
    )
    repo.urgency_decisions.add(decision)
    await repo.audit.record(now, by_telegram_id, "case.urgency_decided", "case", case.id,
                            reference=review.reference, urgent=urgent, classified_as=str(case.urgency))
    await repo.session.flush()
    return Recorded(decision, review.reference)


def card_line(decision: UrgencyDecision, l10n: L10n, zone: ZoneInfo) -> str:
    """"Office's verdict: urgent, Aigerim, 01.12.2026 14:05" (for cards that show it)."""
    verdict = l10n("urgency_decision.verdict_urgent" if decision.urgent else "urgency_decision.verdict_not_urgent")
    return l10n("urgency_decision.card_line", verdict=verdict, name=decision.decided_by_name or decision.decided_by,
                when=decision.decided_at.astimezone(zone).strftime("%d.%m.%Y %H:%M"))


# --- Measuring the classifier against the office, and exporting the office's labels ----------------------------


def as_example(decision: UrgencyDecision) -> dict[str, Any]:
    """A labelled JSON line in the evaluation-set format ("expected" high for urgent, normal for not)."""
    return {
        "text": decision.text, "language": decision.language,
        "expected": Urgency.HIGH.value if decision.urgent else Urgency.NORMAL.value,
        "urgent": decision.urgent, "review_id": decision.review_id, "decided_by": decision.decided_by,
        "decided_at": decision.decided_at.isoformat(), "classified_as": decision.classified_as,
    }


def export(decisions: Sequence[UrgencyDecision], out: IO[str]) -> int:
    written = 0
    for decision in decisions:
        out.write(json.dumps(as_example(decision), ensure_ascii=False) + "\n")
        written += 1
    return written


def evaluate(rules: urgency.UrgencyRules, decisions: Sequence[UrgencyDecision]) -> dict[str, Any]:
    """Alerting precision and recall of today's rules (text and language only: what the office saw in the text)
    against the office's verdicts, overall and per language."""
    pairs: dict[str, list[tuple[str, str]]] = {}
    everything = []
    for decision in decisions:
        got = rules.classify(decision.text, language=decision.language if decision.language in urgency.LANGUAGES
                             else None).urgency
        pair = (Urgency.HIGH.value if decision.urgent else Urgency.NORMAL.value, got)
        everything.append(pair)
        pairs.setdefault(decision.language, []).append(pair)
    result = urgency.score(everything)
    result["languages"] = {language: urgency.score(found) for language, found in sorted(pairs.items())}
    return result
