"""Polyclinics hear their feedback: chats linked by one-time codes, staff roles, reviews posted without the
resident's identity, answers that reach the resident and the clinic's page, escalation of unanswered complaints."""

from __future__ import annotations

import html
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.callbacks import ClinicAnswerV1
from bot.cases import cards as alerts
from bot.cases import notices
from bot.cases.cards import OPEN_STATUSES
from bot.cases.deadlines import WorkCalendar, local_date, term_started, work_calendar
from bot.config import Settings
from bot.keyboards import name_in
from bot.l10n import L10n, translator
from bot.services import moderation, outbox, privacy
from bot.services.pages import PUBLIC_KINDS
from storage.models import Case, CaseStatus, Clinic, LinkCode, PublicStatus, Response, Review, ReviewStatus, Role
from storage.repositories import Repositories

# The audit action recorded when a review is queued for its clinic; the first one starts the clinic's time to answer.
POSTED = "clinic.review_posted"
# Complaints and violation reports are formal appeals: they carry their reference and are escalated when unanswered.
FORMAL_KINDS = ("complaint", "violation")
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to confuse when typed from a screen
CODE_LENGTH = 10
POST_TEXT_CHARS = 3000  # of the public text in a post: the rest of the message is at most a few hundred characters
DISAGREEMENT_CHARS = 1500  # of a repeated appeal's reason for disagreeing; the review's text gets the rest of 3000
ANSWER_MAX_CHARS = 3500  # the resident's notice adds a header; Telegram takes 4096 characters
LIST_TEXT_CHARS = 200
TELEGRAM_ID_MAX = 2**63 - 1


class Refused(Exception):
    """An action that does not fit (a bad code, a bad command); `key` names the explanation in the locale files."""

    def __init__(self, key: str, **values: str) -> None:
        super().__init__(key)
        self.key, self.values = key, values


def chat_l10n(settings: Settings) -> L10n:
    """The language of the polyclinics' chats."""
    return translator(settings.locale.default)[settings.clinics.language]


def _calendar() -> WorkCalendar:
    return work_calendar()


def answer_due(posted_at: datetime, settings: Settings, calendar: WorkCalendar | None = None) -> date:
    """The last day a clinic has to answer a formal appeal posted to it: the n-th working day after posting."""
    calendar = calendar or _calendar()
    return calendar.add_working_days(local_date(posted_at, settings.zone), settings.clinics.answer_working_days)


# --- Linking a chat with an admin's one-time code -----------------------------------------------------------


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def shown_code(code: str) -> str:
    """ABCDE-FGHJK: easier to read out and to type."""
    return f"{code[:5]}-{code[5:]}"


def typed_code(text: str) -> str:
    return "".join(char for char in text.upper() if char.isalnum())


async def make_link_code(repo: Repositories, clinic: Clinic, actor: int, now: datetime,
                         settings: Settings) -> LinkCode:
    code = LinkCode(code=new_code(), clinic_id=clinic.id, created_by=actor, created_at=now,
                    expires_at=now + timedelta(hours=settings.clinics.link_code_hours))
    repo.clinics.add(code)
    await repo.clinics.flush()
    # The code itself is a secret that links a chat: the audit says that one was made, and until when.
    await repo.audit.record(now, actor, "clinic.link_code_made", "clinic", clinic.id,
                            expires_at=code.expires_at.isoformat())
    return code


async def link_chat(repo: Repositories, text: str, chat_id: int, actor: int, now: datetime,
                    settings: Settings) -> Clinic:
    """Link the chat to the code's clinic; a wrong, used or expired code changes nothing (Refused says which)."""
    if chat_id == settings.prosecutor.chat_id:
        # Refused before the code is used (it still links the clinic's own group): linked, the office's chat would
        # get the clinic's posts with an Answer button its administrators could use in the clinic's name.
        raise Refused("link.office_chat")
    code = typed_code(text)
    clinic_id = await repo.clinics.claim_code(code, chat_id, now) if code else None
    if clinic_id is None:
        known = await repo.clinics.code(code) if code else None
        if known is None:
            raise Refused("link.unknown")
        raise Refused("link.used" if known.used_at is not None else "link.expired")
    await repo.clinics.link(clinic_id, chat_id, actor, now)
    await repo.audit.record(now, actor, "clinic.chat_linked", "clinic", clinic_id, chat=chat_id)
    return await repo.directory.clinic(clinic_id)


# --- Staff roles --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grant:
    telegram_id: int
    role: Role
    clinic: Clinic | None


def is_telegram_id(word: str) -> bool:
    """ASCII digits within the 64 bits a Telegram id (and the database's integer) has: a mistyped 20-digit number
    or a superscript digit is a wrong argument, not a crash when stored."""
    return word.isascii() and word.isdigit() and int(word) <= TELEGRAM_ID_MAX


async def parse_grant(repo: Repositories, args: str | None) -> Grant:
    """`<telegram id> clinic_staff <clinic number or external id>` or `<telegram id> moderator|prosecutor|admin`."""
    parts = (args or "").split()
    roles = {role.value: role for role in Role}
    if len(parts) not in (2, 3) or not is_telegram_id(parts[0]) or parts[1] not in roles:
        raise Refused("admin.grant_usage")
    role = roles[parts[1]]
    if (role == Role.CLINIC_STAFF) != (len(parts) == 3):
        raise Refused("admin.grant_usage")
    clinic = None
    if role == Role.CLINIC_STAFF:
        clinic = await repo.clinics.find(parts[2])
        if clinic is None:
            raise Refused("admin.clinic_not_found", reference=html.escape(parts[2]))
    return Grant(int(parts[0]), role, clinic)


async def grant(repo: Repositories, given: Grant, actor: int, now: datetime) -> bool:
    """False when the person held the role already."""
    clinic_id = given.clinic.id if given.clinic else None
    if await repo.staff.has_role(given.telegram_id, given.role, clinic_id):
        return False
    await repo.staff.grant(given.telegram_id, given.role, now, clinic_id=clinic_id, by=actor)
    await repo.audit.record(now, actor, "staff.granted", "staff_role", None, telegram_id=given.telegram_id,
                            role=given.role.value, clinic_id=clinic_id)
    return True


async def revoke(repo: Repositories, given: Grant, actor: int, now: datetime) -> bool:
    """False when the person did not hold the role."""
    clinic_id = given.clinic.id if given.clinic else None
    if not await repo.staff.revoke(given.telegram_id, given.role, clinic_id):
        return False
    await repo.audit.record(now, actor, "staff.revoked", "staff_role", None, telegram_id=given.telegram_id,
                            role=given.role.value, clinic_id=clinic_id)
    return True


# --- Posting reviews to the clinic ---------------------------------------------------------------------------


def answer_keyboard(l10n: L10n, review_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
        text=l10n("clinic_post.answer_button"), callback_data=ClinicAnswerV1(review_id=review_id).pack())]])


def review_label(l10n: L10n, review: Review, settings: Settings) -> str:
    """How the clinic's chat names a review: its reference when it is a formal appeal (the post shows it), else
    its kind, stars and date (a gratitude carries no reference to the clinic)."""
    if review.kind in FORMAL_KINDS:
        return review.reference
    return l10n("clinic_post.label", kind=l10n(f"kind.{review.kind}"),
                stars=l10n("flow.stars", n=review.rating) if review.rating else "—",
                date=review.created_at.astimezone(settings.zone).strftime("%d.%m.%Y"))


async def post_text(repo: Repositories, review: Review, l10n: L10n, settings: Settings, *, forwarded: bool,
                    respond_by: date | None, disagreement: str | None = None) -> str:
    """The post: no name unless the resident chose to publish theirs, never a phone number or a Telegram id."""
    clinic = await repo.directory.clinic(review.clinic_id)
    doctor = await repo.directory.doctor(review.doctor_id) if review.doctor_id else None
    specialty = await repo.directory.specialty(review.specialty_id) if review.specialty_id else None
    case = await repo.reviews.case_of(review.id)
    title = ("clinic_post.repeated_title" if disagreement is not None
             else "clinic_post.forwarded_title" if forwarded
             else "clinic_post.title_appeal" if review.kind in FORMAL_KINDS else "clinic_post.title")
    lines = [l10n(title, clinic=html.escape(name_in(clinic, l10n.language)))]
    kind = l10n(f"kind.{review.kind}") + (f" · {l10n(f'category.{review.category}')}" if review.category else "")
    lines += [l10n("clinic_post.kind", value=kind),
              l10n("clinic_post.rating", value=l10n("flow.stars", n=review.rating) if review.rating else "—")]
    if doctor is not None:
        lines.append(l10n("clinic_post.doctor", value=html.escape(doctor.full_name)))
    elif specialty is not None:
        lines.append(l10n("clinic_post.specialty", value=html.escape(name_in(specialty, l10n.language))))
    lines.append(l10n("clinic_post.date", value=review.created_at.astimezone(settings.zone).strftime("%d.%m.%Y")))
    author = review.author_name if not review.anonymous and review.author_name else l10n("pages.anonymous")
    lines.append(l10n("clinic_post.author", value=html.escape(author)))
    if review.kind in FORMAL_KINDS:
        lines.append(l10n("clinic_post.reference", reference=review.reference))
        if case is not None and case.formal_appeal and case.due_date is not None:
            lines.append(l10n("clinic_post.legal_due", due=case.due_date.strftime("%d.%m.%Y")))
    if respond_by is not None:
        lines.append(l10n("clinic_post.respond_by", due=respond_by.strftime("%d.%m.%Y"),
                          days=l10n.count("working_days", settings.clinics.answer_working_days)))
    if forwarded and review.kind == "violation":
        # The office forwards the resident's report as it was written (personal data still hidden): a moderator's
        # edit changes only what the public sees, and a violation report is never public.
        text = moderation.public_version(review.text or "", moderation.masking_placeholders(l10n)).text
    else:
        text = moderation.public_text_of(review, l10n)
    # A repeated appeal's reason shares the text's room: the post stays one message within Telegram's limit.
    reason = _cut(disagreement, DISAGREEMENT_CHARS) if disagreement is not None else None
    shown = _cut(text, POST_TEXT_CHARS - len(reason or ""))
    lines += ["", html.escape(shown) if shown else l10n("pages.voice_only")]
    if reason is not None:
        # After the review, as the office's card has it: what was appealed, then what the resident says of the answer.
        lines += ["", l10n("clinic_post.disagreement", reason=html.escape(reason) or "—")]
    return "\n".join(lines)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit].rstrip() + "…"


async def recipients(repo: Repositories, clinic_id: int) -> list[int]:
    """The clinic's linked chats; a clinic without one hears through its staff's private chats with the bot."""
    chats = [chat.chat_id for chat in await repo.clinics.active_chats(clinic_id)]
    return chats or await repo.clinics.staff_of(clinic_id)


async def post_review(repo: Repositories, review: Review, now: datetime, settings: Settings, *,
                      forwarded: bool = False) -> int:
    """Queue the review (with its Answer button) for the clinic, once per chat and term; how many were queued.
    A repeated appeal (the resident disagreed with the office's answer) forwarded again is a post of its own, with
    what she disagrees with and an answer-by date counted from it: the first post's was for the first term."""
    targets = await recipients(repo, review.clinic_id)
    if not targets:
        return 0
    l10n = chat_l10n(settings)
    case = await repo.reviews.case_of(review.id)
    term = (case.reopened_count or 0) if case is not None and forwarded else 0
    started = term_started(review.created_at, case.reopened_at if term else None)
    first_posted = await repo.clinics.posted_at(review.id, POSTED, since=started)
    respond_by = answer_due(first_posted or now, settings) if review.kind in FORMAL_KINDS else None
    disagreement = await _disagreement(repo, review, l10n) if term else None
    text = await post_text(repo, review, l10n, settings, forwarded=forwarded, respond_by=respond_by,
                           disagreement=disagreement)
    markup = answer_keyboard(l10n, review.id)
    prefix = "clinic-forward" if forwarded else "clinic-review"
    suffix = f":term{term}" if term else ""  # the first term's key as it always was: posts queued before stay single
    extra = {"undelivered_notice": await _undelivered_notice(repo, review, settings)} if forwarded else {}
    queued = 0
    for chat_id in targets:
        queued += await outbox.enqueue(repo, chat_id=chat_id, kind="clinic_review", now=now, text=text,
                                       reply_markup=markup, review_id=review.id,
                                       dedupe_key=f"{prefix}:{review.reference}:{chat_id}{suffix}", **extra)
    if queued:
        await repo.audit.record(now, None, POSTED, "review", review.id, reference=review.reference, chats=targets,
                                forwarded=forwarded, term=term)
    return queued


async def _disagreement(repo: Repositories, review: Review, l10n: L10n) -> str:
    """The resident's reason for disagreeing with the answer (her latest), as the clinic may read it: personal data
    and profanity hidden as in the review's public text. The reason is never moderated or published: it is hers
    to the office, and the polyclinic reads it only to answer."""
    reasons = [entry for entry in await repo.reviews.history(review.id) if entry.action == "case.reopened"]
    reason = str((reasons[-1].details or {}).get("reason") or "") if reasons else ""
    return moderation.public_version(reason, moderation.masking_placeholders(l10n)).text


async def review_withdrawn(repo: Repositories, review: Review, now: datetime, settings: Settings) -> int:
    """Its author withdrew the review: each post of it in the clinic's chats says so, in place of what she wrote,
    and loses its Answer button (the review is on no page, and an answer would reach nobody)."""
    l10n = chat_l10n(settings)
    text = l10n("clinic_post.withdrawn", review=review_label(l10n, review, settings))
    edited = 0
    for chat_id in await repo.outbox.chats_given(review.id, "clinic_review"):
        edited += await outbox.edit_card(repo, chat_id=chat_id, review_id=review.id, now=now, text=text,
                                         reply_markup=None, card_kind="clinic_review",
                                         dedupe_key=f"clinic-withdrawn:{review.reference}:{chat_id}")
    return edited


async def _undelivered_notice(repo: Repositories, review: Review, settings: Settings) -> dict | None:
    """What the office is told, under the case's card, should Telegram refuse the forwarded post (the bot removed
    from the polyclinic's group): it had been told "forwarded", and would wait for an answer that cannot come. Queued
    by the relay when it blocks the post (see Relay._record)."""
    office = settings.prosecutor.chat_id
    if office is None:
        return None
    l10n = alerts.chat_l10n(settings)
    clinic = await repo.directory.clinic(review.clinic_id)
    return {"chat_id": office, "reply_to_message_id": outbox.shown_card(await repo.outbox.card_of(review.id, office)),
            "text": l10n("case_forward.undelivered", reference=review.reference,
                         clinic=html.escape(name_in(clinic, l10n.language)))}


async def review_published(repo: Repositories, review: Review, now: datetime, settings: Settings) -> int:
    """A review the public may now see: gratitude and complaints go to the clinic at once. Reports of violations
    are the prosecutor's office's: they reach the clinic when the office forwards them."""
    if review.kind not in PUBLIC_KINDS:
        return 0
    return await post_review(repo, review, now, settings)


async def forwarded(repo: Repositories, review: Review, now: datetime, settings: Settings) -> int:
    """The prosecutor's office forwarded the case: the clinic gets the review, whatever its kind."""
    return await post_review(repo, review, now, settings, forwarded=True)


async def was_posted(repo: Repositories, review_id: int) -> bool:
    """Staff answer only what their clinic was given (a forged button naming another review does nothing)."""
    return await repo.clinics.posted_at(review_id, POSTED) is not None


# --- Answers ----------------------------------------------------------------------------------------------


async def earlier_answer(repo: Repositories, review: Review) -> Response | None:
    """The clinic's latest answer to the review that the author got or a moderator has (one rejected is no answer)."""
    answers = [response for response in await repo.reviews.responses_to(review.id)
               if response.author_role == Role.CLINIC_STAFF and response.public_status != PublicStatus.HIDDEN]
    return answers[-1] if answers else None


async def author_hears(repo: Repositories, review: Review) -> bool:
    """Whether the clinic's answer reaches the review's author: not once they withdrew consent (only what the law
    requires of the office still goes) or were forgotten. Said to the staff, who would otherwise believe it did."""
    author = await repo.users.get(review.user_id)
    return author is not None and privacy.may_notify(review, author, "clinic-answer")


def unsent(key: str, hears: bool) -> str:
    """The wording of `key` for an answer its author will not receive (see author_hears)."""
    return key if hears else f"{key}_unsent"


async def tell_clinic(repo: Repositories, review: Review, response: Response, event: str, key: str, now: datetime,
                      settings: Settings, **values: str) -> None:
    """A word to the clinic about its answer (published, rejected) in its chats or, without one, to its author."""
    l10n = chat_l10n(settings)
    targets = [chat.chat_id for chat in await repo.clinics.active_chats(review.clinic_id)]
    if not targets and response.author_telegram_id is not None:
        targets = [response.author_telegram_id]
    text = l10n(key, review=review_label(l10n, review, settings), **values)
    for chat_id in targets:
        await outbox.enqueue(repo, chat_id=chat_id, kind="clinic_notice", now=now, text=text, review_id=review.id,
                             dedupe_key=f"clinic-{event}:{response.id}:{chat_id}")


async def answer_published(repo: Repositories, response: Response, review: Review, now: datetime,
                           settings: Settings, *, moderated: bool = False, edited: bool = False) -> None:
    """The answer is on the clinic's page now (pages read published responses): the resident gets it, the
    prosecutor's office too when it had forwarded the case, and the clinic hears when a moderator let it through;
    when the moderator rewrote it (`edited`), with the words the resident now reads, which are no longer theirs."""
    author = await repo.users.get(review.user_id)
    clinic = await repo.directory.clinic(review.clinic_id)
    resident_l10n = translator(settings.locale.default)[review.language]
    await notices.to_resident(repo, review, author, f"clinic-answer:{response.id}", now, key="clinic_notify.answer",
                              clinic=html.escape(name_in(clinic, resident_l10n.language)),
                              answer=html.escape(response.public_text or ""))
    hears = await author_hears(repo, review)
    if edited:
        await tell_clinic(repo, review, response, "answer-edited", unsent("clinic_chat.answer_published_edited", hears),
                          now, settings, answer=html.escape(response.public_text or ""))
    elif moderated:
        await tell_clinic(repo, review, response, "answer-published", unsent("clinic_chat.answer_published", hears),
                          now, settings)
    case = await repo.reviews.case_of(review.id)
    office = settings.prosecutor.chat_id
    if case is not None and case.status == CaseStatus.FORWARDED and office is not None:
        card = await repo.outbox.card_of(review.id, office)
        l10n = alerts.chat_l10n(settings)
        await outbox.enqueue(repo, chat_id=office, kind="clinic_answer", now=now, review_id=review.id,
                             reply_to_message_id=card.sent_message_id if card is not None else None,
                             dedupe_key=f"clinic-answer:{response.id}:{office}",
                             text=l10n("clinic_chat.office_answer", reference=review.reference,
                                       clinic=html.escape(name_in(clinic, l10n.language)),
                                       answer=html.escape(response.public_text or "")))


async def answer_rejected(repo: Repositories, response: Response, review: Review, reason: str, now: datetime,
                          settings: Settings) -> None:
    """The clinic hears why its answer is not published; a rejected correction, that its earlier published answer
    stays (else it may believe the page and the resident have no answer of it at all)."""
    l10n = chat_l10n(settings)
    earlier = [answer for answer in await repo.reviews.responses_to(review.id)
               if answer.id != response.id and answer.author_role == Role.CLINIC_STAFF
               and answer.public_status == PublicStatus.PUBLISHED and answer.created_at <= response.created_at]
    values = {"reason": l10n(f"moderation_reason.{reason}")}
    if earlier:
        values["date"] = earlier[-1].created_at.astimezone(settings.zone).strftime("%d.%m.%Y")
    key = "clinic_chat.answer_rejected_earlier_stays" if earlier else "clinic_chat.answer_rejected"
    await tell_clinic(repo, review, response, "answer-rejected", key, now, settings, **values)


# --- Escalation ---------------------------------------------------------------------------------------------


async def escalate(repo: Repositories, settings: Settings, calendar: WorkCalendar, now: datetime) -> list[Case]:
    """Mark the open formal appeals that their clinic has left unanswered past its working days as escalated
    (Case.escalated_at, audited with the day the answer was due), counting a repeated appeal from its own post.
    Idempotent: a case escalated in its present term is never escalated again. The office reads them in its
    morning message's own section (bot.cases.morning.remind), not in a message of their own."""
    today = local_date(now, settings.zone)
    escalated: list[Case] = []
    for case, posted_at in await repo.clinics.unanswered_posted_cases(POSTED, statuses=OPEN_STATUSES,
                                                                      kinds=FORMAL_KINDS):
        due = answer_due(posted_at, settings, calendar)
        if due >= today:
            continue
        case.escalated_at = now
        await repo.audit.record(now, None, "case.escalated", "review", case.review_id,
                                posted_at=posted_at.isoformat(), respond_by=due.isoformat())
        escalated.append(case)
    return escalated


# --- What staff see --------------------------------------------------------------------------------------------


@dataclass
class StaffListing:
    text: str
    buttons: list[tuple[str, int]]  # label, review id


async def staff_listing(repo: Repositories, telegram_id: int, l10n: L10n, settings: Settings,
                        limit: int = 10) -> StaffListing | None:
    """The latest reviews posted to the person's own clinics (and no other), or None for someone not on staff."""
    clinic_ids = await repo.clinics.clinics_of_staff(telegram_id)
    if not clinic_ids:
        return None
    rows = await repo.clinics.posted_reviews(clinic_ids, POSTED, limit=limit)
    clinics: Mapping[int, Clinic] = {cid: await repo.directory.clinic(cid) for cid in clinic_ids}
    names = ", ".join(html.escape(name_in(clinics[cid], l10n.language)) for cid in clinic_ids)
    if not rows:
        return StaffListing(l10n("staff_reviews.none", clinics=names), [])
    lines = [l10n("staff_reviews.title", clinics=names), ""]
    buttons = []
    for number, (review, answered) in enumerate(rows, 1):
        text = moderation.public_text_of(review, l10n)
        excerpt = text if len(text) <= LIST_TEXT_CHARS else text[:LIST_TEXT_CHARS].rstrip() + "…"
        withdrawn = review.status == ReviewStatus.WITHDRAWN  # nobody would read an answer: none is offered
        mark = ("staff_reviews.withdrawn" if withdrawn else "staff_reviews.answered" if answered
                else "staff_reviews.unanswered")
        lines.append(l10n("staff_reviews.entry", number=number, review=review_label(l10n, review, settings),
                          clinic=html.escape(name_in(clinics[review.clinic_id], l10n.language)), answered=l10n(mark),
                          text=html.escape(excerpt) or l10n("pages.voice_only")))
        if not withdrawn:
            buttons.append((l10n("staff_reviews.answer_button", number=number), review.id))
    return StaffListing("\n".join(lines), buttons)
