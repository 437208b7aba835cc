"""Reasons in plain words: a verdict's findings as lines in the reader's language, and their stored form."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bot.services.urgency.common import SHOWN_WORDS, Finding, Verdict
from bot.services.urgency.lexicon import Group


def group_reason(group: Group, words: list[str]) -> str:
    shown = ", ".join(words[:SHOWN_WORDS]) + (", …" if len(words) > SHOWN_WORDS else "")
    return f"{group.name.replace('_', ' ')} words: {shown}"



def explain(result: Verdict | Iterable[Finding | dict[str, Any]] | None, l10n: Any) -> list[str]:
    """The decisive facts of a verdict as lines in the reader's language, strongest first, then the alarming
    words that were set aside and why ("not counted: «взятку» — only asked as a question").

    Takes a Verdict, or its findings as stored (`findings_to_json`), and an L10n of the reader's language.
    """
    if result is None:  # a case made before findings were kept
        return []
    findings = result.findings if isinstance(result, Verdict) else tuple(
        item if isinstance(item, Finding) else finding_from_json(item) for item in result
    )
    lines = []
    for finding in findings:
        words = ", ".join(finding.words[:SHOWN_WORDS]) + (", …" if len(finding.words) > SHOWN_WORDS else "")
        if finding.kind == "group":
            key = f"urgency_reason.group.{finding.name}"
            lines.append(l10n(key, words=words) if l10n.has(key) else f"{finding.name.replace('_', ' ')}: {words}")
        elif finding.kind == "category":
            lines.append(l10n("urgency_reason.category", category=l10n(f"category.{finding.name}")))
        elif finding.kind == "kind":
            lines.append(l10n("urgency_reason.kind", kind=l10n(f"kind.{finding.name}")))
        elif finding.kind == "rating":
            lines.append(l10n("urgency_reason.rating", stars=finding.value))
        elif finding.kind == "points":
            lines.append(l10n("urgency_reason.points", points=finding.value))
        elif finding.kind == "spike":
            lines.append(l10n("urgency_reason.spike", count=l10n.count("complaints", int(finding.value))))
        elif finding.kind == "gratitude_crime":
            lines.append(l10n("urgency_reason.gratitude_crime"))
        elif finding.kind == "model":
            key = f"urgency_reason.model_{finding.name}"
            lines.append(l10n(key, percent=finding.value, words=words or l10n("urgency_reason.model_whole_text")))
        elif finding.kind == "ignored":
            lines.append(l10n("urgency_reason.ignored", words=words, why=l10n(f"urgency_reason.why.{finding.name}")))
    return lines


def findings_to_json(verdict: Verdict) -> list[dict[str, Any]]:
    """The findings as JSON-safe dicts, to store beside a case and explain later in any language."""
    return [
        {key: value for key, value in (("kind", f.kind), ("name", f.name), ("words", list(f.words)),
                                       ("group", f.group), ("value", f.value)) if value}
        for f in verdict.findings
    ]


def finding_from_json(data: dict[str, Any]) -> Finding:
    return Finding(str(data["kind"]), str(data.get("name", "")), tuple(data.get("words", ())),
                   str(data.get("group", "")), int(data.get("value", 0)))
