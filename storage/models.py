"""The whole MedFeedback domain as SQLAlchemy 2 models: directory, people, reviews, cases, delivery, audit."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, Index, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.base import Base


class ReviewKind(StrEnum):
    GRATITUDE = "gratitude"
    COMPLAINT = "complaint"
    VIOLATION = "violation"


class ReviewStatus(StrEnum):
    """Where the review is in its handling (what the resident follows)."""

    SUBMITTED = "submitted"
    IN_PROGRESS = "in_progress"
    FORWARDED = "forwarded"
    NEEDS_INFO = "needs_info"
    ANSWERED = "answered"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class PublicStatus(StrEnum):
    """Whether the public may see it (separate from handling and from delivery)."""

    PENDING = "pending"
    PUBLISHED = "published"
    HIDDEN = "hidden"


class Urgency(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    NORMAL = "normal"


class CaseStatus(StrEnum):
    OPEN = "open"
    TAKEN = "taken"
    FORWARDED = "forwarded"
    WAITING_RESIDENT = "waiting_resident"
    CLOSED = "closed"
    REJECTED = "rejected"
    TRANSFERRED = "transferred"  # forwarded to another body (outside the office's competence): handling ends
    WITHDRAWN = "withdrawn"  # by the resident


class MediaKind(StrEnum):
    PHOTO = "photo"
    VIDEO = "video"
    DOCUMENT = "document"
    VOICE = "voice"
    AUDIO = "audio"
    VIDEO_NOTE = "video_note"
    ANIMATION = "animation"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    BLOCKED = "blocked"
    GROUPED = "grouped"  # delivered as part of a burst list, sent as the row named in payload["grouped_into"]


class Role(StrEnum):
    ADMIN = "admin"
    PROSECUTOR = "prosecutor"
    CLINIC_STAFF = "clinic_staff"
    MODERATOR = "moderator"


# --- Directory -------------------------------------------------------------------------------------------


class District(Base):
    __tablename__ = "districts"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    name_kk: Mapped[str] = mapped_column(String(200))
    name_ru: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))


class Clinic(Base):
    __tablename__ = "clinics"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    number: Mapped[int | None]
    name_kk: Mapped[str] = mapped_column(String(300))
    name_ru: Mapped[str] = mapped_column(String(300))
    name_en: Mapped[str] = mapped_column(String(300))
    district_id: Mapped[int | None] = mapped_column(ForeignKey("districts.id"), index=True)
    address: Mapped[str | None] = mapped_column(String(300))  # as the directory gives it (Russian)
    address_kk: Mapped[str | None] = mapped_column(String(300))
    address_en: Mapped[str | None] = mapped_column(String(300))
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    phone: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(default=True)
    approximate: Mapped[bool] = mapped_column(default=False)

    district: Mapped[District | None] = relationship(lazy="raise")


class Specialty(Base):
    __tablename__ = "specialties"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    name_kk: Mapped[str] = mapped_column(String(200))
    name_ru: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))


class Doctor(Base):
    __tablename__ = "doctors"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    specialty_id: Mapped[int] = mapped_column(ForeignKey("specialties.id"), index=True)
    full_name: Mapped[str] = mapped_column(String(300))
    active: Mapped[bool] = mapped_column(default=True)
    demo: Mapped[bool] = mapped_column(default=False)

    clinic: Mapped[Clinic] = relationship(lazy="raise")
    specialty: Mapped[Specialty] = relationship(lazy="raise")


# --- People ----------------------------------------------------------------------------------------------


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Null after /forget; the pseudonym then stands in for the person in cases and audit.
    telegram_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    pseudonym: Mapped[str | None] = mapped_column(String(64), unique=True)
    language: Mapped[str | None] = mapped_column(String(2))
    consent_version: Mapped[str | None] = mapped_column(String(16))
    consent_at: Mapped[datetime | None]
    consent_withdrawn_at: Mapped[datetime | None]
    first_name: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]

    @property
    def has_consent(self) -> bool:
        return self.consent_version is not None and self.consent_withdrawn_at is None


class StaffRole(Base):
    __tablename__ = "staff_roles"
    __table_args__ = (UniqueConstraint("telegram_id", "role", "clinic_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    telegram_id: Mapped[int] = mapped_column(BigInteger, index=True)
    role: Mapped[Role] = mapped_column(String(16))
    # Scope: the clinic a clinic-staff member answers for; null for city-wide roles.
    clinic_id: Mapped[int | None] = mapped_column(ForeignKey("clinics.id"))
    granted_by: Mapped[int | None] = mapped_column(BigInteger)
    granted_at: Mapped[datetime]


# --- Reviews and their handling --------------------------------------------------------------------------


class ReferenceCounter(Base):
    """Last reference number issued per year, so numbers are sequential and never reused."""

    __tablename__ = "reference_counters"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_number: Mapped[int] = mapped_column(default=0)


class Review(Base):
    __tablename__ = "reviews"
    __table_args__ = (
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
        Index("ix_reviews_user_created", "user_id", "created_at"),
        Index("ix_reviews_doctor_status", "doctor_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    doctor_id: Mapped[int | None] = mapped_column(ForeignKey("doctors.id"))
    # Set when the resident knew only the specialty, or copied from the doctor.
    specialty_id: Mapped[int | None] = mapped_column(ForeignKey("specialties.id"))
    kind: Mapped[ReviewKind] = mapped_column(String(16))
    category: Mapped[str | None] = mapped_column(String(64))
    rating: Mapped[int | None]  # none for a violation report: it asks for no stars and counts in no rating
    criteria: Mapped[dict] = mapped_column(default=dict)
    text: Mapped[str] = mapped_column(Text, default="")
    # A text forwarded from another chat is someone's words, not necessarily the resident's testimony: the office's
    # card says so.
    text_forwarded: Mapped[bool] = mapped_column(default=False, server_default=false())
    # What the public sees after masking and moderation; the original text is never overwritten.
    public_text: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(2))
    anonymous: Mapped[bool] = mapped_column(default=True)
    author_name: Mapped[str | None] = mapped_column(String(200))
    phone_shared: Mapped[bool] = mapped_column(default=False)
    status: Mapped[ReviewStatus] = mapped_column(String(16), default=ReviewStatus.SUBMITTED)
    public_status: Mapped[PublicStatus] = mapped_column(String(16), default=PublicStatus.PENDING)
    fraud_flag: Mapped[bool] = mapped_column(default=False)
    # The earlier review this one updates (one review per user per doctor per window).
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("reviews.id"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # What a formal appeal needs (migration 0007). The appellant's full name is seen by the prosecutor's office
    # only: never by the polyclinic or the public. incident_when: today / yesterday / date / unknown.
    incident_when: Mapped[str | None] = mapped_column(String(16))
    incident_date: Mapped[date | None] = mapped_column(Date)
    on_behalf: Mapped[str | None] = mapped_column(String(16))
    outcome_wanted: Mapped[str | None] = mapped_column(Text)
    appellant_name: Mapped[str | None] = mapped_column(String(300))
    # Set when the retention period ran out: texts, names and evidence files were removed, the figures kept.
    content_removed_at: Mapped[datetime | None]

    media: Mapped[list[ReviewMedia]] = relationship(
        back_populates="review", lazy="raise", order_by="ReviewMedia.position"
    )


class ReviewMedia(Base):
    __tablename__ = "review_media"
    __table_args__ = (UniqueConstraint("review_id", "file_unique_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id"), index=True)
    position: Mapped[int]
    kind: Mapped[MediaKind] = mapped_column(String(16))
    file_id: Mapped[str] = mapped_column(String(256))
    file_unique_id: Mapped[str] = mapped_column(String(128))
    size: Mapped[int | None]
    mime: Mapped[str | None] = mapped_column(String(128))
    sha256: Mapped[str | None] = mapped_column(String(64))
    stored_path: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime]
    # The resident's own caption under the file ("the receipt for 5000 tenge"), kept with it (migration 0007).
    caption: Mapped[str | None] = mapped_column(Text)

    review: Mapped[Review] = relationship(back_populates="media", lazy="raise")


class Case(Base):
    """The prosecutor's office handling of one review."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id"), unique=True)
    urgency: Mapped[Urgency] = mapped_column(String(16))
    reasons: Mapped[list] = mapped_column(default=list)
    formal_appeal: Mapped[bool] = mapped_column(default=False)
    status: Mapped[CaseStatus] = mapped_column(String(24), default=CaseStatus.OPEN)
    assignee_telegram_id: Mapped[int | None] = mapped_column(BigInteger)
    due_date: Mapped[date | None] = mapped_column(Date)
    extended: Mapped[bool] = mapped_column(default=False)
    extension_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    # Set when the polyclinic left a complaint unanswered past its working-day limit.
    escalated_at: Mapped[datetime | None]
    # Issue 10. The due date was counted over a year the published calendar does not cover (recomputed when added).
    due_provisional: Mapped[bool] = mapped_column(default=False, server_default=false())
    # When an ordinary (not urgent) case was listed in the office's daily "new appeals" message.
    listed_at: Mapped[datetime | None]
    # The last time the resident disagreed with the answer and the case opened again; and how many times.
    reopened_at: Mapped[datetime | None]
    reopened_count: Mapped[int] = mapped_column(default=0, server_default="0")
    # Where the office forwarded the case: "clinic" or a body from prosecutor.forward_bodies, and when.
    forwarded_to: Mapped[str | None] = mapped_column(String(64))
    forwarded_at: Mapped[datetime | None]

    # What decided the urgency, as bot.services.urgency.findings_to_json: urgency.explain puts it into words in
    # the reader's language (None for cases made before it was kept).
    urgency_findings: Mapped[list | None]


class Response(Base):
    """An answer to a review: by the prosecutor's office or by the clinic."""

    __tablename__ = "responses"

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id"), index=True)
    author_telegram_id: Mapped[int | None] = mapped_column(BigInteger)
    author_role: Mapped[Role] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    public_text: Mapped[str | None] = mapped_column(Text)
    public_status: Mapped[PublicStatus] = mapped_column(String(16), default=PublicStatus.PENDING)
    created_at: Mapped[datetime]


# --- Delivery, audit, idempotency ------------------------------------------------------------------------


class OutboxMessage(Base):
    """A message that must reach a chat; written in the business transaction, sent by the relay."""

    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),
                      Index("ix_outbox_chat_sent", "chat_id", "sent_at"), Index("ix_outbox_sent", "sent_at"),
                      Index("ix_outbox_maybe_sent", "maybe_sent_at"),
                      # Leases: the chats some relay holds (claims), a chat's live leases (every send's renewal).
                      Index("ix_outbox_lease", "lease_until"), Index("ix_outbox_chat_lease", "chat_id", "lease_until"),
                      # A chat's sends of unknown outcome, counted in its pace before every send: without it SQLite
                      # read every row the chat was ever sent (145 ms at 100,000).
                      Index("ix_outbox_chat_maybe_sent", "chat_id", "maybe_sent_at"),
                      # The card an officer's reply refers to, and a review's cards (edits, forgetting a person).
                      Index("ix_outbox_chat_message", "chat_id", "sent_message_id"),
                      Index("ix_outbox_review", "review_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    # Makes enqueueing idempotent (e.g. "alert:AL-2026-000123:-100123").
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict]
    review_id: Mapped[int | None] = mapped_column(ForeignKey("reviews.id"))
    status: Mapped[OutboxStatus] = mapped_column(String(16), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    # Which relay the lease is for (Relay.holder): a relay renews only its own, and stops sending a chat whose rows
    # another relay took over after that lease ran out.
    lease_holder: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    # When a relay last began to send the row: if its lease then runs out unreleased, that send may have reached
    # Telegram, and the next one is marked as a possible repeat of it.
    attempted_at: Mapped[datetime | None]
    # When such an attempt of unknown outcome was found: it is counted in the pace from then on.
    maybe_sent_at: Mapped[datetime | None]
    # Messages Telegram counts for it (an album of five is five; a row sent inside a burst list, none).
    weight: Mapped[int] = mapped_column(default=1, server_default="1")


class AuditLog(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    actor_telegram_id: Mapped[int | None] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[int | None]
    details: Mapped[dict] = mapped_column(default=dict)


class ProcessedUpdate(Base):
    """Telegram redelivers updates; recording the id in the update's transaction makes handling idempotent."""

    __tablename__ = "processed_updates"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    processed_at: Mapped[datetime]


class FsmRecord(Base):
    """Conversation state kept in the database, so a conversation survives a restart."""

    __tablename__ = "fsm_records"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    state: Mapped[str | None] = mapped_column(String(200))
    data: Mapped[dict] = mapped_column(default=dict)
    updated_at: Mapped[datetime]


# --- Ratings (precomputed, so that top lists never aggregate raw reviews) ----------------------------------

# The optional per-criterion stars of a review (bot.services.drafts.CRITERIA asks them; a test keeps both equal).
CRITERIA = ("attentiveness", "professionalism", "waiting", "conditions")


class RatingSums:
    """What a stats row adds up over the reviews that count: weighted sums for the score, plain counts for display."""

    review_count: Mapped[int] = mapped_column(default=0)
    # Each review weighs 1, or 2^(age/half-life) relative to a fixed epoch when recent reviews weigh more.
    weight_sum: Mapped[float] = mapped_column(default=0.0)
    rating_sum: Mapped[float] = mapped_column(default=0.0)
    stars_1: Mapped[int] = mapped_column(default=0)
    stars_2: Mapped[int] = mapped_column(default=0)
    stars_3: Mapped[int] = mapped_column(default=0)
    stars_4: Mapped[int] = mapped_column(default=0)
    stars_5: Mapped[int] = mapped_column(default=0)
    attentiveness_sum: Mapped[int] = mapped_column(default=0)
    attentiveness_count: Mapped[int] = mapped_column(default=0)
    professionalism_sum: Mapped[int] = mapped_column(default=0)
    professionalism_count: Mapped[int] = mapped_column(default=0)
    waiting_sum: Mapped[int] = mapped_column(default=0)
    waiting_count: Mapped[int] = mapped_column(default=0)
    conditions_sum: Mapped[int] = mapped_column(default=0)
    conditions_count: Mapped[int] = mapped_column(default=0)
    # The Bayesian average, refreshed whenever the sums or the prior they shrink toward change.
    score: Mapped[float] = mapped_column(default=0.0)


class DoctorStats(RatingSums, Base):
    __tablename__ = "doctor_stats"

    doctor_id: Mapped[int] = mapped_column(ForeignKey("doctors.id"), primary_key=True, autoincrement=False)
    # The doctor's specialty when the row last changed, so that the ranking index covers a specialty without a join.
    specialty_id: Mapped[int] = mapped_column(ForeignKey("specialties.id"))


class ClinicStats(RatingSums, Base):
    __tablename__ = "clinic_stats"

    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), primary_key=True, autoincrement=False)


class RatingPrior(Base):
    """The mean a score shrinks toward: one row per specialty (doctors' reviews) and one for the city (all)."""

    __tablename__ = "rating_priors"

    scope: Mapped[str] = mapped_column(String(16), primary_key=True)  # "specialty" or "city"
    scope_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)  # 0 for the city
    review_count: Mapped[int] = mapped_column(default=0)
    weight_sum: Mapped[float] = mapped_column(default=0.0)
    rating_sum: Mapped[float] = mapped_column(default=0.0)


class CountedReview(Base):
    """A review that is in the stats now, with the weight it was added with: makes every change idempotent."""

    __tablename__ = "counted_reviews"

    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id"), primary_key=True, autoincrement=False)
    weight: Mapped[float]


# Ties on score go to the doctor with more reviews, then the earlier one in the directory; the index serves the
# whole ORDER BY, so a page of the top list reads a few index entries and nothing else.
Index("ix_doctor_stats_ranking", DoctorStats.specialty_id, DoctorStats.score.desc(), DoctorStats.review_count.desc(),
      DoctorStats.doctor_id)
Index("ix_doctor_stats_score", DoctorStats.score.desc(), DoctorStats.review_count.desc(), DoctorStats.doctor_id)
# "Is this review superseded by a later one?" is asked for every change of a review.
Index("ix_reviews_supersedes_id", Review.supersedes_id)


# --- Clinics' chats, digests (issue 6) ----------------------------------------------------------------


class ClinicChat(Base):
    """A polyclinic's Telegram group, linked by an admin's one-time code: it receives that clinic's reviews."""

    __tablename__ = "clinic_chats"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    linked_by: Mapped[int | None] = mapped_column(BigInteger)
    linked_at: Mapped[datetime]
    active: Mapped[bool] = mapped_column(default=True)


class LinkCode(Base):
    """A one-time code an admin makes; entered in a group, it links that group to the clinic."""

    __tablename__ = "link_codes"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"))
    created_by: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_in_chat: Mapped[int | None] = mapped_column(BigInteger)


class DigestRun(Base):
    """A digest period queued for a chat: recorded so a period is sent once, even across downtime."""

    __tablename__ = "digest_runs"
    __table_args__ = (UniqueConstraint("chat_id", "period_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    audience: Mapped[str] = mapped_column(String(16))  # "prosecutor" or "clinic"
    chat_id: Mapped[int] = mapped_column(BigInteger)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    queued_at: Mapped[datetime]


# --- The office's people (issue 10) ----------------------------------------------------------------------


class OfficePerson(Base):
    """Someone who acted in the prosecutor's chat, as Telegram last showed them: cards and history name people by
    this, never by their Telegram id."""

    __tablename__ = "office_people"

    telegram_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    full_name: Mapped[str] = mapped_column(String(300))
    username: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime]

class UrgencyDecision(Base):
    """The office's own verdict on a review's urgency ("Urgent" / "Not urgent"), with who gave it and when, and a
    snapshot of the text and its language: the labelled examples the classifier is measured and taught on.

    Every press is kept (the office may change its mind); the latest per review is its verdict.
    """

    __tablename__ = "urgency_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id"), index=True)
    urgent: Mapped[bool]
    decided_by: Mapped[int] = mapped_column(BigInteger)
    decided_by_name: Mapped[str | None] = mapped_column(String(256))
    decided_at: Mapped[datetime]
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8))
    # The level the classifier had given, to see where the office disagrees.
    classified_as: Mapped[str] = mapped_column(String(16))


class DirectoryVersion(Base):
    """One row: bumped by every directory import, so each process knows when to build its search index again
    without counting the directory's rows."""

    __tablename__ = "directory_version"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(default=0)
    changed_at: Mapped[datetime | None]

# The public pages' lists (newest published reviews of a clinic or a doctor, and how many there are) read these
# alone, without touching the table: at 1M reviews a clinic's page would otherwise sort tens of thousands of rows.
Index("ix_reviews_clinic_public", Review.clinic_id, Review.public_status, Review.created_at, Review.id, Review.kind)
Index("ix_reviews_doctor_public", Review.doctor_id, Review.public_status, Review.created_at, Review.id, Review.kind)

# --- Operations (issue 13) ---------------------------------------------------------------------------

# Every /metrics scrape counts reviews by kind and open cases by urgency: from these indexes alone, not the tables.
Index("ix_reviews_kind", Review.kind)
Index("ix_cases_status_urgency", Case.status, Case.urgency)
