"""Residents' data rights: a copy of everything stored about them, forgetting them, withdrawing consent."""

from __future__ import annotations

import html
import json
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.cases import cards as alerts
from bot.config import Settings
from bot.l10n import L10n
from bot.ops import retention
from bot.services import people
from storage.models import AuditLog, Review, ReviewKind, User
from storage.repositories import Repositories

EXPORT_FORMAT = "medfeedback-personal-data/1"
PSEUDONYM_PREFIX = "forgotten-"
# Answering a formal appeal is a legal duty (Administrative Procedure Code, art. 76: the decision, a refusal, an
# extension of the term, a forwarding to another body are told to the applicant), so these notices still go out
# after consent is withdrawn, and so does the office's question ("ask:N"), without which the appeal it is
# considering cannot be answered (else the office was told "sent" and waited in vain); everything else (taken in
# work, moderation news) does not.
LEGAL_NOTICES = frozenset({"answer", "rejected", "extended", "status:forwarded", "ask"})
FORMAL_KINDS = frozenset({ReviewKind.COMPLAINT, ReviewKind.VIOLATION})
INTERNAL_ACTIONS = frozenset({"case.note"})  # the office's internal notes (handlers.my_reviews hides them too)
# Audit details under such names may identify someone else (staff, chats): they never leave in a person's copy.
IDENTITY_KEY = re.compile(r"telegram|actor|chat|assignee|author|user|(^|_)by$")


# --- Consent ---------------------------------------------------------------------------------------------


def consent_state(user: User | None) -> str:
    """`given`, `outdated` (given for an earlier text), `withdrawn` or `none`."""
    if user is None or user.consent_version is None:
        return "none"
    if user.consent_withdrawn_at is not None:
        return "withdrawn"
    return "given" if user.consent_version == people.CONSENT_VERSION else "outdated"


async def withdraw_consent(repo: Repositories, user: User, now: datetime) -> bool:
    """Record the withdrawal; False when there was no consent in force to withdraw."""
    if not user.has_consent:
        return False
    user.consent_withdrawn_at = now
    await repo.audit.record(now, user.telegram_id, "consent.withdrawn", "user", user.id,
                            version=user.consent_version)
    # What was queued before and consent no longer covers ("taken in work") is not delivered after "no more news".
    waiting = await repo.privacy.notices_waiting_for(user.telegram_id, now)
    await repo.privacy.drop_messages([message for message, review in waiting
                                      if not may_notify(review, user, _event_of(message.dedupe_key))])
    return True


def _event_of(dedupe_key: str | None) -> str:
    """The event a notice's dedupe key names ("notify:AL-2026-000123:status:taken" -> "status:taken")."""
    return (dedupe_key or "").split(":", 2)[-1]


def _is_legal(event: str) -> bool:
    """"answer", "answer:2", "ask:1", "status:forwarded" are; "status:taken" is not (see LEGAL_NOTICES)."""
    parts = event.split(":")
    return any(":".join(parts[:size]) in LEGAL_NOTICES for size in range(1, len(parts) + 1))


def may_notify(review: Review, author: User, event: str) -> bool:
    """Whether a notice about `event` may be queued for the review's author (see LEGAL_NOTICES)."""
    if author.telegram_id is None:  # forgotten: there is nobody to tell
        return False
    if author.consent_withdrawn_at is None:
        return True
    return review.kind in FORMAL_KINDS and _is_legal(event)


# --- The person's copy (/mydata) ---------------------------------------------------------------------------


async def export(repo: Repositories, user: User, *, now: datetime, settings: Settings) -> dict[str, Any]:
    """Everything stored about the person, as JSON-ready data; times in the city's zone, ISO 8601."""
    zone = settings.zone
    language = user.language or settings.locale.default
    reviews = await repo.privacy.reviews_of(user.id)
    review_ids = [review.id for review in reviews]
    cases = await repo.privacy.cases_of(review_ids)
    responses = await repo.privacy.responses_to(review_ids)
    entries = await repo.privacy.audit_about(user.id, review_ids)
    others = {entry.actor_telegram_id for entry in entries} - {None, user.telegram_id}
    roles = await repo.privacy.roles_of_people(sorted(others)) if others else {}
    references = {review.id: review.reference for review in reviews}

    def history(entity: str, entity_id: int) -> list[dict[str, Any]]:
        # The office's internal notes are its own working papers, not the person's data.
        return [_history_entry(entry, user, roles, settings.admins, zone) for entry in entries
                if entry.entity == entity and entry.entity_id == entity_id and entry.action not in INTERNAL_ACTIONS]

    items = []
    for review in reviews:
        clinic = await repo.directory.clinic(review.clinic_id)
        doctor = await repo.directory.doctor(review.doctor_id) if review.doctor_id else None
        specialty = await repo.directory.specialty(review.specialty_id) if review.specialty_id else None
        case = cases.get(review.id)
        items.append({
            "reference": review.reference,
            "submitted_at": _time(review.created_at, zone),
            "updated_at": _time(review.updated_at, zone),
            "updates_review": references.get(review.supersedes_id) if review.supersedes_id else None,
            "clinic": getattr(clinic, f"name_{language}") if clinic else None,
            "doctor": doctor.full_name if doctor else None,
            "specialty": getattr(specialty, f"name_{language}") if specialty else None,
            "kind": review.kind,
            "category": review.category,
            "rating": review.rating,
            "criteria": review.criteria,
            "text": review.text,
            "public_text": review.public_text,
            "language": review.language,
            "anonymous": review.anonymous,
            "published_name": review.author_name,
            "phone_shared": review.phone_shared,
            "appellant_name": review.appellant_name,
            "incident": {"when": review.incident_when,
                         "date": review.incident_date.isoformat() if review.incident_date else None},
            "on_behalf": review.on_behalf,
            "outcome_wanted": review.outcome_wanted,
            "status": review.status,
            "public_status": review.public_status,
            # Retention (settings retention.*): the content goes after this day; null while the case is open.
            "kept_until": _day(retention.kept_until(review, case, settings)),
            "content_removed_at": _time(review.content_removed_at, zone),
            # What each file is and its fingerprint; where it lies on the server is not the person's data.
            "evidence": [{"kind": item.kind, "size": item.size, "mime": item.mime, "sha256": item.sha256,
                          "caption": item.caption, "added_at": _time(item.created_at, zone)}
                         for item in review.media],
            "case": None if case is None else {
                "status": case.status,
                "formal_appeal": case.formal_appeal,
                "due_date": _day(case.due_date),
                "extended": case.extended,
                "extension_reason": case.extension_reason,
                "closed_at": _time(case.closed_at, zone),
            },
            "answers": [{"by": response.author_role, "at": _time(response.created_at, zone), "text": response.text,
                         "public_text": response.public_text}
                        for response in responses if response.review_id == review.id],
            "history": history("review", review.id),
        })
    return {
        "format": EXPORT_FORMAT,
        "exported_at": _time(now, zone),
        "profile": {
            "telegram_id": user.telegram_id,
            "language": user.language,
            "first_name": user.first_name,
            "phone": user.phone,
            "registered_at": _time(user.created_at, zone),
            "consent": {"version": user.consent_version, "given_at": _time(user.consent_at, zone),
                        "withdrawn_at": _time(user.consent_withdrawn_at, zone)},
        },
        "reviews": items,
        "account_history": history("user", user.id),
    }


def summary(data: dict[str, Any], l10n: L10n, limit: int = 15) -> str:
    """The export in a few lines a person can read, in their language (the JSON file holds everything)."""
    profile = data["profile"]
    consent = profile.get("consent") or {}
    yes, no = l10n("common.yes"), l10n("common.no")
    lines = [l10n("privacy.summary_title"),
             l10n("privacy.summary_profile", name=html.escape(profile.get("first_name") or "—"),
                  language=l10n(f"language.{profile['language']}") if profile.get("language") else "—",
                  phone=yes if profile.get("phone") else no),
             l10n("privacy.summary_consent_given", version=consent["version"], when=consent["given_at"][:10])
             if consent.get("given_at") and not consent.get("withdrawn_at")
             else l10n("privacy.summary_consent_none"),
             l10n("privacy.summary_reviews", count=len(data["reviews"]))]
    for review in data["reviews"][:limit]:
        kind = l10n(f"kind.{review['kind']}")
        lines.append(l10n("privacy.summary_review", reference=review["reference"], when=review["submitted_at"][:10],
                          kind=kind, clinic=html.escape(review.get("clinic") or "—"),
                          status=l10n(f"status.{review['status']}"), files=len(review.get("evidence") or [])))
    if len(data["reviews"]) > limit:
        lines.append(l10n("privacy.summary_more", count=len(data["reviews"]) - limit))
    return "\n".join(lines)


def export_bytes(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")


def export_file_name(now: datetime, zone: ZoneInfo) -> str:
    return f"medfeedback-data-{now.astimezone(zone).date().isoformat()}.json"


def _history_entry(entry: AuditLog, user: User, roles: dict[int, list[str]], admins: list[int],
                   zone: ZoneInfo) -> dict[str, Any]:
    return {"at": _time(entry.at, zone), "action": entry.action,
            "by": _who(entry.actor_telegram_id, entry.action, user, roles, admins),
            "details": {key: value for key, value in (entry.details or {}).items() if not IDENTITY_KEY.search(key)}}


def _who(actor: int | None, action: str, user: User, roles: dict[int, list[str]], admins: list[int]) -> str:
    """The person themselves, the system, or a role: never another person's Telegram id."""
    if actor is None:
        return "system"
    if actor == user.telegram_id:
        return "you"
    if roles.get(actor):
        return ", ".join(sorted(roles[actor]))
    if actor in admins:
        return "admin"
    # Case actions come only from the prosecutor's chat, whose members act without a stored role.
    return "prosecutor" if action.startswith("case.") else "staff"


def _time(moment: datetime | None, zone: ZoneInfo) -> str | None:
    return moment.astimezone(zone).isoformat() if moment is not None else None


def _day(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None


# --- Forgetting (/forget) ----------------------------------------------------------------------------------


@dataclass
class Forgotten:
    pseudonym: str
    reviews: int
    conversations: int
    messages: int


async def forget(repo: Repositories, user: User, *, now: datetime, settings: Settings) -> Forgotten:
    """Remove who the person is, in the caller's transaction; what they reported stays, anonymous.

    Kept: the reviews' content, cases, answers, evidence files, statistics and the audit log (without the
    person's Telegram id). Gone: the Telegram id (replaced by a pseudonym), name, phone, language, the
    published name, conversation drafts and every message queued or sent to their chat.
    """
    telegram_id = user.telegram_id
    assert telegram_id is not None, "forgotten already"
    pseudonym = PSEUDONYM_PREFIX + secrets.token_hex(8)
    user.telegram_id, user.pseudonym = None, pseudonym
    user.first_name = user.phone = user.language = None
    if user.has_consent:  # nothing is processed for the person any more
        user.consent_withdrawn_at = now
    reviews = await repo.privacy.anonymise_reviews(user.id)
    conversations = await repo.privacy.drop_conversations(telegram_id)
    messages = await repo.privacy.drop_messages_to(telegram_id, now)
    await repo.privacy.drop_actor(telegram_id)
    await _redraw_alert_cards(repo, user, settings)
    await repo.audit.record(now, None, "user.forgotten", "user", user.id, pseudonym=pseudonym, reviews=reviews,
                            conversations=conversations, messages=messages)
    return Forgotten(pseudonym, reviews, conversations, messages)


async def _redraw_alert_cards(repo: Repositories, user: User, settings: Settings) -> None:
    """The stored text of the prosecutor's alert cards named the person: redraw it as a forgotten author's, so a
    card still queued goes out without the name and phone, and no stored copy keeps them."""
    reviews = await repo.privacy.reviews_of(user.id)
    cards = await repo.privacy.alert_cards_of([review.id for review in reviews])
    if not cards:
        return
    l10n = alerts.chat_l10n(settings)
    for card in cards:
        case = await repo.reviews.case_of(card.review_id)
        if case is None:
            continue
        view = await alerts.load(repo, case)
        card.payload = {**card.payload, "text": alerts.card_text(view, l10n, settings.zone)}
