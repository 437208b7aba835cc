"""What the public sees: reviews and clinic answers screened at once (personal data and profanity masked), held
for a moderator when needed, then approved, rejected with a reason or edited; the original is never changed."""

from __future__ import annotations

import asyncio
import html
from dataclasses import dataclass
from datetime import datetime

from bot.cases import notices
from bot.config import Settings
from bot.keyboards import name_in
from bot.l10n import L10n, translator
from bot.services import clinics, moderation, ratings
from bot.services.pages import PUBLIC_KINDS
from storage.models import PublicStatus, Response, Review, ReviewStatus, Role, User
from storage.repositories import Repositories

REVIEW, ANSWER = "review", "answer"
ITEM_TEXT_CHARS = 3000


class QueueRefused(Exception):
    """The decision does not fit the item (decided already, gone, an unknown reason); `key` names the text."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def screen(text: str, language: str, keep_phones: tuple[str, ...] = ()) -> moderation.Public:
    """The public version of a text, with placeholders in the language it was written for."""
    return moderation.public_version(text, moderation.masking_placeholders(translator()[language]),
                                     keep_phones=keep_phones)


async def screened(text: str, language: str, keep_phones: tuple[str, ...] = ()) -> moderation.Public:
    """`screen` off the event loop: a long text of starred words takes up to 0.6 s to judge, and every other
    chat would wait meanwhile."""
    return await asyncio.to_thread(screen, text, language, keep_phones)


def held(public: moderation.Public, settings: Settings) -> bool:
    """Waits for a moderator: everything with the queue on (`moderation.queue`), otherwise only profanity."""
    return settings.moderation.queue or public.needs_moderator


async def prepare_review(review: Review, settings: Settings) -> moderation.Public:
    """Before the review is stored: its public text and whether the public may see it yet. A kind the public never
    sees (a report of a violation: the office's alone) waits for no moderator; it passes as a clean one always did,
    and nothing shows it (pages and clinic posts take only PUBLIC_KINDS)."""
    public = await screened(review.text or "", review.language)
    review.public_text = public.text
    waits = review.kind in PUBLIC_KINDS and held(public, settings)
    review.public_status = PublicStatus.PENDING if waits else PublicStatus.PUBLISHED
    return public


async def review_submitted(repo: Repositories, review: Review, public: moderation.Public, *, now: datetime,
                           settings: Settings) -> None:
    """After the review and its case are stored: a screening that changed or held the text goes on record, and a
    published review goes to its clinic."""
    if public.changed or review.public_status == PublicStatus.PENDING:
        await repo.audit.record(now, None, "moderation.screened", "review", review.id,
                                status=review.public_status.value, personal_data=list(public.personal_data),
                                profanity=len(public.profanity), queue=settings.moderation.queue)
    if review.public_status == PublicStatus.PUBLISHED:
        await clinics.review_published(repo, review, now, settings)


async def answer_given(repo: Repositories, review: Review, actor: int, text: str, *, now: datetime,
                       settings: Settings) -> Response:
    """A clinic's answer: screened like a review (but the clinic's own phone number from the directory stays),
    published at once or held, and on record either way."""
    clinic = await repo.directory.clinic(review.clinic_id)
    public = await screened(text, review.language, (clinic.phone,) if clinic and clinic.phone else ())
    waits = held(public, settings)
    response = Response(review_id=review.id, author_telegram_id=actor, author_role=Role.CLINIC_STAFF, text=text,
                        public_text=public.text,
                        public_status=PublicStatus.PENDING if waits else PublicStatus.PUBLISHED, created_at=now)
    repo.reviews.add(response)
    await repo.reviews.flush()
    await repo.audit.record(now, actor, "clinic.answered", "review", review.id, response=response.id,
                            status=response.public_status.value, personal_data=list(public.personal_data),
                            profanity=len(public.profanity))
    if not waits:
        await clinics.answer_published(repo, response, review, now, settings)
    return response


# --- The queue -----------------------------------------------------------------------------------------------


@dataclass
class Item:
    """One thing waiting (or just decided): a review, or a clinic's answer to one."""

    kind: str
    review: Review
    response: Response | None = None

    @property
    def id(self) -> int:
        return self.response.id if self.response is not None else self.review.id

    @property
    def public_status(self) -> PublicStatus:
        return (self.response or self.review).public_status

    @property
    def key(self) -> tuple[datetime, str, int]:
        return ((self.response or self.review).created_at, self.kind, self.id)


async def load(repo: Repositories, kind: str, item_id: int) -> Item | None:
    if kind == REVIEW:
        review = await repo.reviews.get(item_id)
        return Item(REVIEW, review) if review is not None else None
    response = await repo.moderation.response(item_id)
    if response is None or response.author_role != Role.CLINIC_STAFF:
        return None
    return Item(ANSWER, await repo.reviews.get(response.review_id), response)


async def waiting_count(repo: Repositories) -> int:
    return len(await repo.moderation.waiting(PUBLIC_KINDS))


async def next_item(repo: Repositories, after: Item | None = None) -> Item | None:
    """The oldest waiting item; with `after`, the one after it (round to the start at the end)."""
    waiting = await repo.moderation.waiting(PUBLIC_KINDS)
    if not waiting:
        return None
    chosen = waiting[0]
    if after is not None:
        later = [entry for entry in waiting if entry > after.key]
        chosen = later[0] if later else waiting[0]
    _, kind, item_id = chosen
    return await load(repo, kind, item_id)


def refusal(item: Item | None) -> str | None:
    """Why no decision can be made on the item any more (the text's key), or None while it waits. A review its
    author withdrew stays pending but is out of the queue: a card or an edit begun before the withdrawal must not
    publish it, post it to the clinic or tell the author it is public. Nor may a clinic's answer to it, held
    before the withdrawal: it would be published and sent to the resident who withdrew (and to the office)."""
    if item is None or (item.response is None and item.review.kind not in PUBLIC_KINDS):
        return "moderation.gone"  # a violation report held before such reports stopped waiting: never public
    if item.review.status == ReviewStatus.WITHDRAWN:
        return "moderation.withdrawn" if item.response is None else "moderation.review_withdrawn"
    if item.public_status != PublicStatus.PENDING:
        return "moderation.already_decided"
    return None


async def _waiting(repo: Repositories, kind: str, item_id: int) -> Item:
    item = await load(repo, kind, item_id)
    if (key := refusal(item)) is not None:
        raise QueueRefused(key)
    return item


async def _audit(repo: Repositories, item: Item, actor: int, action: str, now: datetime, **details: object) -> None:
    # On the review's history either way, so that /case shows what moderation did to its texts and answers.
    extra = {"response": item.response.id} if item.response is not None else {}
    await repo.audit.record(now, actor, action, "review", item.review.id, item=item.kind, **extra, **details)


async def _author(repo: Repositories, review: Review) -> User:
    return await repo.users.get(review.user_id)


async def approve(repo: Repositories, kind: str, item_id: int, actor: int, now: datetime,
                  settings: Settings) -> Item:
    item = await _waiting(repo, kind, item_id)
    if item.response is not None:
        item.response.public_status = PublicStatus.PUBLISHED
        await _audit(repo, item, actor, "moderation.approved", now)
        await clinics.answer_published(repo, item.response, item.review, now, settings, moderated=True)
        return item
    review = item.review
    review.public_status, review.updated_at = PublicStatus.PUBLISHED, now
    await _audit(repo, item, actor, "moderation.approved", now)
    await ratings.review_status_changed(repo, review, now=now, settings=settings)
    await notices.to_resident(repo, review, await _author(repo, review), "moderation:review", now,
                              key="moderation_notify.published")
    await clinics.review_published(repo, review, now, settings)
    return item


async def reject(repo: Repositories, kind: str, item_id: int, reason: str, actor: int, now: datetime,
                 settings: Settings) -> Item:
    if reason not in settings.moderation.reject_reasons:
        raise QueueRefused("moderation.unknown_reason")
    item = await _waiting(repo, kind, item_id)
    if item.response is not None:
        item.response.public_status = PublicStatus.HIDDEN
        await _audit(repo, item, actor, "moderation.rejected", now, reason=reason)
        await clinics.answer_rejected(repo, item.response, item.review, reason, now, settings)
        return item
    review = item.review
    review.public_status, review.updated_at = PublicStatus.HIDDEN, now
    await _audit(repo, item, actor, "moderation.rejected", now, reason=reason)
    await ratings.review_status_changed(repo, review, now=now, settings=settings)
    reason_text = translator(settings.locale.default)[review.language](f"moderation_reason.{reason}")
    await notices.to_resident(repo, review, await _author(repo, review), "moderation:review", now,
                              key="moderation_notify.rejected", reason=reason_text)
    return item


async def edit(repo: Repositories, kind: str, item_id: int, text: str, actor: int, now: datetime,
               settings: Settings) -> Item:
    """The moderator's words become the public text (screened again, in case they quote a phone number) and the
    item is published; the original text stays as it was."""
    item = await _waiting(repo, kind, item_id)
    target = item.response or item.review
    before = target.public_text
    clinic = await repo.directory.clinic(item.review.clinic_id) if item.response is not None else None
    # An answer edited by a moderator keeps the polyclinic's own published number, as the answer itself did.
    target.public_text = screen(text, item.review.language, (clinic.phone,) if clinic and clinic.phone else ()).text
    target.public_status = PublicStatus.PUBLISHED
    await _audit(repo, item, actor, "moderation.edited", now, before=before, after=target.public_text)
    if item.response is not None:
        await clinics.answer_published(repo, item.response, item.review, now, settings, moderated=True, edited=True)
        return item
    review = item.review
    review.updated_at = now
    await ratings.review_status_changed(repo, review, now=now, settings=settings)
    await notices.to_resident(repo, review, await _author(repo, review), "moderation:review", now,
                              key="moderation_notify.edited", text=html.escape(review.public_text))
    await clinics.review_published(repo, review, now, settings)
    return item


# --- What the moderator sees ---------------------------------------------------------------------------------


def _excerpt(text: str, limit: int = ITEM_TEXT_CHARS) -> str:
    return html.escape(text if len(text) <= limit else text[:limit].rstrip() + "…")


async def item_text(repo: Repositories, item: Item, l10n: L10n, settings: Settings, waiting: int) -> str:
    review = item.review
    clinic = await repo.directory.clinic(review.clinic_id)
    doctor = await repo.directory.doctor(review.doctor_id) if review.doctor_id else None
    lines = [l10n("moderation.title", count=waiting), ""]
    kind = l10n(f"kind.{review.kind}") + (f" · {l10n(f'category.{review.category}')}" if review.category else "")
    stars = l10n("flow.stars", n=review.rating) if review.rating else "—"
    if item.response is None:
        lines.append(l10n("moderation.review_header", reference=review.reference, kind=kind, stars=stars))
    else:
        lines.append(l10n("moderation.answer_header", reference=review.reference, kind=kind, stars=stars))
    lines.append(l10n("moderation.clinic", clinic=html.escape(name_in(clinic, l10n.language))))
    if doctor is not None:
        lines.append(l10n("moderation.doctor", doctor=html.escape(doctor.full_name)))
    target = item.response or review
    lines.append(l10n("moderation.date", date=target.created_at.astimezone(settings.zone).strftime("%d.%m.%Y %H:%M")))
    # Screened again to say why it waits; the moderator reads the public version, not the original.
    public = screen(target.text or "", review.language)
    if public.profanity:
        lines.append(l10n("moderation.why_profanity", count=len(public.profanity)))
    elif settings.moderation.queue:
        lines.append(l10n("moderation.why_queue"))
    elif item.response is None and review.kind == "complaint" and review.doctor_id is not None:
        lines.append(l10n("office.why_named_complaint"))  # moderation.hold_named_complaints
    if public.personal_data:
        hidden = ", ".join(moderation.masking_placeholders(l10n)[kind] for kind in public.personal_data)
        lines.append(l10n("moderation.masked", kinds=html.escape(hidden)))
    if item.response is not None:
        lines += ["", l10n("moderation.in_answer_to"), _excerpt(moderation.public_text_of(review, l10n), 500)]
    lines += ["", l10n("moderation.public_text"), _excerpt(target.public_text or "") or l10n("pages.voice_only")]
    return "\n".join(lines)


def outcome_text(item: Item, action: str, l10n: L10n, reason: str | None = None) -> str:
    """What the decided item's message says afterwards."""
    values = {"reference": item.review.reference, "item": l10n(f"moderation.item_{item.kind}")}
    if reason is not None:
        values["reason"] = l10n(f"moderation_reason.{reason}")
    return l10n(f"moderation.done_{action}", **values)
