"""The review draft kept in FSM data: which steps apply, which is next, and what Back and Edit undo."""

from __future__ import annotations

from typing import Any

Draft = dict[str, Any]

CRITERIA = ("attentiveness", "professionalism", "waiting", "conditions")
KINDS = ("gratitude", "complaint", "violation")
FORMAL_KINDS = ("complaint", "violation")

# The conversation, in order. Each step owns the draft fields it sets; a step is asked while it is not done.
STEPS = ("clinic", "target", "kind", "category", "rating", "criteria", "description", "evidence",
         "visibility", "phone", "preview")
FIELDS = {
    "clinic": ("clinic_id",),
    "target": ("target", "specialty_id", "doctor_id", "supersedes_id"),
    "kind": ("kind",),
    "category": ("category",),
    "rating": ("rating",),
    "criteria": ("criteria", "criteria_done"),
    "description": ("text", "voice", "description_done"),
    "evidence": ("media", "evidence_done", "album"),
    "visibility": ("anonymous",),
    "phone": ("phone_shared", "phone_done"),
    "preview": (),
}
# What must be asked again when a step changes: another clinic means another doctor, and so on.
DEPENDENTS = {"clinic": ("target",), "kind": ("category", "phone")}
# What the resident wrote or sent survives Back and Edit: the step is reopened with its content shown.
KEPT = {"text", "voice", "media"}


def applies(step: str, draft: Draft) -> bool:
    if step in ("category", "phone"):
        return draft.get("kind") in FORMAL_KINDS
    return True


def is_done(step: str, draft: Draft) -> bool:
    match step:
        case "clinic":
            return draft.get("clinic_id") is not None
        case "target":
            target = draft.get("target")
            return (target == "clinic" or (target == "doctor" and draft.get("doctor_id") is not None)
                    or (target == "unknown" and draft.get("specialty_id") is not None))
        case "kind" | "category" | "rating":
            return draft.get(step) is not None
        case "visibility":
            return draft.get("anonymous") is not None
        case "criteria" | "description" | "evidence" | "phone":
            return bool(draft.get(f"{step}_done"))
        case _:
            return False


def next_step(draft: Draft) -> str:
    """The first step still to be answered (the preview once everything is)."""
    return next(step for step in STEPS if applies(step, draft) and not is_done(step, draft))


def clear(draft: Draft, step: str) -> Draft:
    """The draft with `step` (and what depends on it) to be asked again."""
    cleared = dict(draft)
    for name in (step, *DEPENDENTS.get(step, ())):
        for field in FIELDS[name]:
            if field not in KEPT:
                cleared.pop(field, None)
    return cleared


def previous_step(draft: Draft, current: str) -> str | None:
    """The applicable step before `current`, which Back asks again; None at the first step."""
    earlier = [step for step in STEPS[: STEPS.index(current)] if applies(step, draft)]
    return earlier[-1] if earlier else None


def is_formal_appeal(draft: Draft) -> bool:
    return draft.get("kind") in FORMAL_KINDS
