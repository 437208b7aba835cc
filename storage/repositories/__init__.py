"""Repositories named by intent, and the Repositories facade injected into handlers. All SQL lives here.

One module per aggregate; every name stays importable from `storage.repositories`."""

from __future__ import annotations

from storage.repositories._shared import _insert_ignoring_duplicates
from storage.repositories.audit import AuditRepo
from storage.repositories.caseload import CaseloadRepo, _spellings
from storage.repositories.clinics import ClinicRepo
from storage.repositories.conversations import (
    _CONVERSATIONS,
    _FORGET_CONVERSATION,
    Conversation,
    FsmRepo,
    _save_conversation,
)
from storage.repositories.directory import DIRECTORY_MODELS, DirectoryRepo
from storage.repositories.facade import Repositories
from storage.repositories.moderation import ModerationRepo
from storage.repositories.ops import _AUDIT_KEEPS, OpsFigures, OpsRepo
from storage.repositories.outbox import _DONE, CLAIM_LOCK, OutboxRepo
from storage.repositories.privacy import PrivacyRepo
from storage.repositories.ratings import (
    RATINGS_LOCK,
    RatingRepo,
    _add_to_stats,
    _aggregates,
    _bayesian,
    _is_superseded,
    _published_answer,
    _superseded_by,
    _supersedes,
    _top_doctors_query,
    _within,
)
from storage.repositories.reports import ReportRepo
from storage.repositories.reviews import ReviewRepo
from storage.repositories.staff import StaffRepo
from storage.repositories.updates import UpdateRepo, _Prefixed, _record_update
from storage.repositories.urgency_decisions import UrgencyDecisionRepo
from storage.repositories.users import _PEOPLE, UserRepo

__all__ = [
    "CLAIM_LOCK",
    "DIRECTORY_MODELS",
    "RATINGS_LOCK",
    "_AUDIT_KEEPS",
    "_CONVERSATIONS",
    "_DONE",
    "_FORGET_CONVERSATION",
    "_PEOPLE",
    "AuditRepo",
    "CaseloadRepo",
    "ClinicRepo",
    "Conversation",
    "DirectoryRepo",
    "FsmRepo",
    "ModerationRepo",
    "OpsFigures",
    "OpsRepo",
    "OutboxRepo",
    "PrivacyRepo",
    "RatingRepo",
    "ReportRepo",
    "Repositories",
    "ReviewRepo",
    "StaffRepo",
    "UpdateRepo",
    "UrgencyDecisionRepo",
    "UserRepo",
    "_Prefixed",
    "_add_to_stats",
    "_aggregates",
    "_bayesian",
    "_insert_ignoring_duplicates",
    "_is_superseded",
    "_published_answer",
    "_record_update",
    "_save_conversation",
    "_spellings",
    "_superseded_by",
    "_supersedes",
    "_top_doctors_query",
    "_within",
]
