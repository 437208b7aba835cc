"""The Repositories facade injected into handlers, bound to the update's one transaction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from storage.repositories.audit import AuditRepo
from storage.repositories.caseload import CaseloadRepo
from storage.repositories.clinics import ClinicRepo
from storage.repositories.conversations import FsmRepo
from storage.repositories.directory import DirectoryRepo
from storage.repositories.moderation import ModerationRepo
from storage.repositories.outbox import OutboxRepo
from storage.repositories.privacy import PrivacyRepo
from storage.repositories.ratings import RatingRepo
from storage.repositories.reports import ReportRepo
from storage.repositories.reviews import ReviewRepo
from storage.repositories.staff import StaffRepo
from storage.repositories.updates import UpdateRepo
from storage.repositories.urgency_decisions import UrgencyDecisionRepo
from storage.repositories.users import UserRepo


class Repositories:
    """Everything a handler may touch in the database, bound to the update's one transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.updates = UpdateRepo(session)
        self.users = UserRepo(session)
        self.staff = StaffRepo(session)
        self.audit = AuditRepo(session)
        self.directory = DirectoryRepo(session)
        self.fsm = FsmRepo(session)
        self.reviews = ReviewRepo(session)
        self.outbox = OutboxRepo(session)
        self.ratings = RatingRepo(session)
        self.privacy = PrivacyRepo(session)
        self.clinics = ClinicRepo(session)
        self.moderation = ModerationRepo(session)
        self.reports = ReportRepo(session)
        self.caseload = CaseloadRepo(session)

        self.urgency_decisions = UrgencyDecisionRepo(session)
