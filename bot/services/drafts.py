"""The review draft kept in FSM data: which steps apply, which is next, and what Back and Edit undo."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Draft = dict[str, Any]

# Telegram clients cut a text longer than 4,096 characters into messages of that size (or a little less, at a
# space), sent at once: a part this long followed within a few seconds by another is one text, joined as it was cut.
TELEGRAM_TEXT_CHARS = 4096
SPLIT_PART_CHARS = 3500
SPLIT_WITHIN_SECONDS = 10

# A text this many words long, typed where a button is asked for (the polyclinic, the doctor, the stars), tells what
# happened: it is the start of the description, not an answer to the question.
STORY_WORDS = 7

CRITERIA = ("attentiveness", "professionalism", "waiting", "conditions")
KINDS = ("gratitude", "complaint", "violation")
FORMAL_KINDS = ("complaint", "violation")
# When it happened, and on whose behalf: what a formal appeal needs besides the text.
INCIDENT_WHEN = ("today", "yesterday", "date", "unknown")
BEHALF = ("self", "child", "parent", "other")

# The conversation, in order. Each step owns the draft fields it sets; a step is asked while it is not done.
# The description step takes text, voice and files together and is closed by saying when it happened; the
# preview holds the last choices (publication, on whose behalf, full name, phone), so the shortest complaint
# is eight actions from the menu.
STEPS = ("clinic", "target", "kind", "category", "rating", "criteria", "description", "when", "preview")
FIELDS = {
    "clinic": ("clinic_id",),
    # An earlier thank-you the review replaces (chosen with the kind) is one to this doctor: it goes with the doctor.
    "target": ("target", "specialty_id", "doctor_id", "supersedes_id"),
    "kind": ("kind", "category", "supersedes_id"),
    "category": ("category",),
    "rating": ("rating",),
    "criteria": ("criteria", "criteria_done"),
    "description": ("text", "voice", "media", "description_done", "album", "last_part", "text_from_captions",
                    "text_forwarded", "incident_when", "incident_date"),
    "when": ("incident_when", "incident_date"),
    "preview": (),
}
# What must be asked again when a step changes: another clinic means another doctor, and so on. Another doctor
# leaves what is sent and its stars as they were (the resident picked the wrong name), but not the detailed stars,
# which rated that doctor's attentiveness and skill.
DEPENDENTS = {"clinic": ("target",), "target": ("criteria",), "kind": ("category", "rating")}
# What the resident wrote or sent survives Back and Edit: the step is reopened with its content shown.
KEPT = {"text", "voice", "media"}


def applies(step: str, draft: Draft) -> bool:
    match step:
        case "category":
            # A complaint's category is chosen with its kind; a violation report's is asked next.
            return draft.get("kind") == "violation"
        case "rating":
            # A violation report goes to the prosecutor's office: it asks for no stars.
            return draft.get("kind") != "violation"
        case "criteria":
            # Only when the resident asked for it from the preview.
            return bool(draft.get("criteria_wanted"))
        case "when":
            return draft.get("incident_when") == "date"
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
        case "description":
            return bool(draft.get("description_done")) and has_content(draft)
        case "when":
            return draft.get("incident_date") is not None
        case "criteria":
            return bool(draft.get("criteria_done"))
        case _:
            return False


def next_step(draft: Draft) -> str:
    """The first step still to be answered (the preview once everything is)."""
    return next(step for step in STEPS if applies(step, draft) and not is_done(step, draft))


def clear(draft: Draft, step: str) -> Draft:
    """The draft with `step` (and what depends on it) to be asked again."""
    cleared = dict(draft)
    names = [step]
    for name in names:  # dependents of dependents too: another clinic means another doctor, so its detailed stars
        names += [dependent for dependent in DEPENDENTS.get(name, ()) if dependent not in names]
    for name in names:
        for field in FIELDS[name]:
            if field not in KEPT:
                cleared.pop(field, None)
    return cleared


def previous_step(draft: Draft, current: str) -> str | None:
    """The applicable step before `current`, which Back asks again; None at the first step."""
    earlier = [step for step in STEPS[: STEPS.index(current)] if applies(step, draft)]
    return earlier[-1] if earlier else None


def has_content(draft: Draft) -> bool:
    return bool(draft.get("text") or draft.get("voice") or draft.get("media"))


def is_formal_kind(draft: Draft) -> bool:
    return draft.get("kind") in FORMAL_KINDS


def is_formal_appeal(draft: Draft) -> bool:
    """A formal appeal, with the legal deadline: a violation report (a report of a crime is considered even without
    a name), or a complaint that names its appellant."""
    return draft.get("kind") == "violation" or (draft.get("kind") == "complaint" and bool(draft.get("appellant_name")))


def for_someone_else(draft: Draft) -> bool:
    """Written on behalf of a child, a parent or another person. The appellant is still the one who writes (an
    anonymous appeal is not considered): the name asked for is the writer's, the patient is `on_behalf`."""
    return draft.get("on_behalf", "self") != "self"


def join_parts(previous: str, part: str, *, together: bool, previous_part: int = TELEGRAM_TEXT_CHARS) -> str:
    """The description with one more message. Parts of a text Telegram split arrive together and are joined as
    they were cut; a message written later starts a new paragraph. A part shorter than Telegram's limit
    (`previous_part` characters) was cut by the client at a space it dropped, given back here when neither side has
    one ("…письмо." + "Прошу…"); a part of the full 4,096 was cut wherever it fell, mid-word too."""
    if not previous:
        return part
    if not together:
        return previous + "\n\n" + part
    dropped_space = previous_part < TELEGRAM_TEXT_CHARS and previous[-1:].strip() and part[:1].strip()
    return previous + (" " if dropped_space else "") + part


def continues_split(last: Mapping[str, Any] | None, sent_at: float) -> bool:
    """Whether a text sent at `sent_at` (seconds) is the next part of a text Telegram split, `last` being the part
    before it as {"length": characters, "at": seconds}."""
    last = last or {}
    return last.get("length", 0) >= SPLIT_PART_CHARS and 0 <= sent_at - last.get("at", 0) <= SPLIT_WITHIN_SECONDS


@dataclass(frozen=True)
class Appended:
    """A text message added to a text (the description, a text on offer): what the text is now, and the part's
    record (`last_part`) the next message is compared with. `refused` when the text would pass the limit: then
    the text is as it was before the run of parts this one belongs to (none of a split text is kept)."""

    text: str
    last_part: dict[str, Any]
    refused: bool

    @property
    def parts(self) -> int:
        return self.last_part.get("parts", 1)

    @property
    def total(self) -> int:
        """The refused characters: the whole run of parts, or the one message."""
        return self.last_part.get("total", 0)


def append_part(previous: str, last: Mapping[str, Any] | None, part: str, sent_at: float, limit: int) -> Appended:
    """`previous` with one more text message, sent at `sent_at`; `last` is the record of the message before.

    The parts of one split text are a run: the limit applies to the whole of it, not to each part, and the rest of
    a run already refused is refused with it, never kept starting mid-word."""
    last = last or {}
    together = continues_split(last, sent_at)
    parts = last.get("parts", 1) + 1 if together else 1
    record = {"at": sent_at, "length": len(part), "parts": parts}
    if together and last.get("refused"):
        return Appended(previous, {**last, **record, "total": last.get("total", 0) + len(part)}, True)
    run_start = last.get("run_start", len(previous)) if together else len(previous)
    combined = join_parts(previous, part, together=together,
                          previous_part=last.get("length", TELEGRAM_TEXT_CHARS))
    if len(combined) > limit:
        before = previous[:run_start].rstrip("\n")
        total = len(combined) - len(before) if together else len(part)
        return Appended(before, {**record, "run_start": len(before), "refused": True, "total": total}, True)
    return Appended(combined, {**record, "run_start": run_start}, False)


OFFER_FIELDS = ("pending_text", "pending_part", "name_offer", "offer_messages")


def drop_offer(draft: Draft) -> Draft:
    """The draft without texts on offer, once the resident decided about them."""
    for field in OFFER_FIELDS:
        draft.pop(field, None)
    return draft


def offer_left_behind(draft: Draft) -> Draft:
    """The draft as the resident leaves the preview with texts on offer (Edit, Back): the texts stay, to be asked
    about again when the preview is back; the questions asked so far are out of date."""
    return {key: value for key, value in draft.items() if key != "offer_messages"}


def asks_about_offer(draft: Draft, message_id: int) -> bool:
    """Whether the message is one of those asking about the texts on offer now (see `offer_messages`)."""
    return message_id in draft.get("offer_messages", ())


def with_clinic(draft: Draft, clinic_id: int) -> Draft:
    """The draft with its polyclinic chosen. A story typed where the polyclinic was asked ("I was at polyclinic 17
    yesterday, the therapist shouted") becomes part of the description only now: kept aside until then, so a story
    typed twice is not added twice. Its length was checked against the limit when it was typed."""
    chosen = {**draft, "clinic_id": clinic_id}
    story = chosen.pop("clinic_story", None)
    chosen.pop("clinic_story_part", None)
    if story and story not in (chosen.get("text") or ""):
        chosen["text"] = join_parts(chosen.get("text") or "", story, together=False)
    return chosen


def caption_as_text(draft: Draft, limit: int) -> Draft:
    """A draft with no typed text whose files carry captions: the captions are its description ("a photo, and the
    story in its caption"), so it is not refused as wordless; each file keeps its caption too. Every caption counts
    (photos sent one by one, each with its words), up to `limit` characters; once the resident types, the text is
    theirs."""
    if draft.get("text") and not draft.get("text_from_captions"):
        return draft
    text = ""
    for item in draft.get("media", []):
        caption = (item.get("caption") or "").strip()
        joined = join_parts(text, caption, together=False) if caption else text
        if len(joined) <= limit:
            text = joined
    if not text:
        return draft
    return {**draft, "text": text, "text_from_captions": True}


def caption_left_out(before: Draft, after: Draft, caption: str | None) -> bool:
    """Whether the caption of the file that made `before` into `after` (both through `caption_as_text`) is words of
    the description that did not fit beside the other captions: left out of the text, to be said so, as a typed
    text over the limit is. The file keeps it either way."""
    caption = (caption or "").strip()
    if not caption or (after.get("text") and not after.get("text_from_captions")):
        return False  # no words, or the text is typed: the caption is the file's alone
    return (after.get("text") or "") == (before.get("text") if before.get("text_from_captions") else "")


def files_joined(draft: Draft, files: list[dict[str, Any]], limit: int) -> tuple[Draft, list[tuple[str, int]]]:
    """The draft with `files` added after its own, one by one as the description step adds them (with no text
    typed, their captions join the description: `caption_as_text`), and each caption left out of it for want of
    room (`caption_left_out`), with the room there was: to be said so, wherever the files were sent (the step, the
    menu before the review began, a conversation set aside)."""
    left_out = []
    for item in files:
        before = caption_as_text(draft, limit)
        draft = caption_as_text({**draft, "media": [*draft.get("media", []), item]}, limit)
        if caption_left_out(before, draft, item.get("caption")):
            # The room left counts the paragraph break the caption would have joined the others with.
            room = limit - len(join_parts(draft.get("text") or "", "", together=False))
            left_out.append((item["caption"].strip(), max(room, 0)))
    return draft, left_out
