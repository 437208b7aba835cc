"""The resident's side of a case: more information (asked for or not), "That settles it / I disagree" under an
answer (disagreeing reopens the case in the office's chat), and withdrawing an open appeal."""

from __future__ import annotations

import html
from datetime import datetime

from bot.cases import cards as alerts
from bot.cases.actions import answers_given, audit_case, questions_asked
from bot.cases.cards import OPEN_STATUSES, CaseView
from bot.cases.deadlines import due_and_provisional, work_calendar
from bot.cases.lists import office_card_text, show_on_card
from bot.config import Settings
from bot.l10n import L10n
from bot.ops.logs import bind_reference
from bot.services import clinics, outbox, pages, ratings
from bot.states import CaseReply
from storage.models import CaseStatus, Review, ReviewMedia, ReviewStatus, User
from storage.repositories import OpsRepo, Repositories


async def _own_case(repo: Repositories, case_id: int, user_id: int) -> CaseView | None:
    case = await repo.reviews.case(case_id)
    if case is None:
        return None
    view = await alerts.load(repo, case)
    return view if view.review.user_id == user_id else None


async def _office_card_reply_to(repo: Repositories, view: CaseView, settings: Settings) -> int | None:
    chat_id = settings.prosecutor.chat_id
    card = await repo.outbox.card_of(view.review.id, chat_id) if chat_id is not None else None
    return card.sent_message_id if card is not None else None


async def resident_added(repo: Repositories, case_id: int, user_id: int, now: datetime, settings: Settings,
                         text: str | None = None, media: list[dict] | None = None, *,
                         asked: bool = True) -> CaseView | None:
    """More information from the resident joins the case and reaches the chat, under the card: asked for by the
    office (`asked`), or added on their own from My reviews to any open case. A file keeps her caption, as the
    review's own files do, and the office reads it with the file (`text` is what she typed, not a caption)."""
    case = await repo.reviews.case(case_id)
    if case is None or (case.status != CaseStatus.WAITING_RESIDENT if asked else case.status not in OPEN_STATUSES):
        return None
    view = await alerts.load(repo, case)
    if view.review.user_id != user_id:
        return None
    bind_reference(view.review.reference)
    chat_id = settings.prosecutor.chat_id
    reply_to = await _office_card_reply_to(repo, view, settings)
    l10n = alerts.chat_l10n(settings)
    number = await repo.audit.count("case.resident_added", "review", view.review.id) + 1
    key = f"resident:{view.review.reference}:{number}"
    captions = [item["caption"] for item in media or [] if item.get("caption")]
    await repo.audit.record(now, view.author.telegram_id, "case.resident_added", "review", view.review.id,
                            text=text or "\n".join(captions), files=len(media or []), asked=asked)
    if chat_id is not None and text:
        # The resident may write as much as Telegram takes (4,096 characters): with the header that is more than
        # one message, so it goes in as many as it needs, never refused by Telegram and lost.
        header = l10n("alert.resident_added" if asked else "case_office.resident_added_unasked",
                      reference=view.review.reference, text="").rstrip("\n")
        for number_of_piece, piece in enumerate(pages.text_block(header + "\n", text)):
            await outbox.enqueue(repo, chat_id=chat_id, kind="resident_reply", now=now, text=piece,
                                 dedupe_key=f"{key}:text" + (f":{number_of_piece}" if number_of_piece else ""),
                                 review_id=view.review.id, reply_to_message_id=reply_to)
    # The files join the case whether or not a prosecutor's chat is configured; the chat gets them when it is.
    rows = [_media_row(view.review.id, len(view.media) + index, item, now) for index, item in enumerate(media or [])]
    repo.reviews.add(*rows)
    if chat_id is not None and rows:
        caption = l10n("alert.resident_added_files", reference=view.review.reference)
        for batch_number, batch in enumerate(alerts.evidence_batches(rows, caption)):
            await outbox.enqueue(repo, chat_id=chat_id, kind="resident_reply", now=now, media=batch,
                                 dedupe_key=f"{key}:media:{batch_number}", review_id=view.review.id,
                                 reply_to_message_id=reply_to)
    return view


def _media_row(review_id: int, position: int, item: dict, now: datetime) -> ReviewMedia:
    return ReviewMedia(review_id=review_id, position=position, kind=item["kind"], file_id=item["file_id"],
                       file_unique_id=item["file_unique_id"], size=item.get("size"), mime=item.get("mime"),
                       sha256=item.get("sha256"), stored_path=item.get("stored_path"), created_at=now,
                       caption=item.get("caption"))


async def resident_finished(repo: Repositories, case_id: int, now: datetime) -> None:
    case = await repo.reviews.case(case_id)
    if case is not None and case.status == CaseStatus.WAITING_RESIDENT:
        case.status = CaseStatus.TAKEN if case.assignee_telegram_id else CaseStatus.OPEN
        review = await repo.reviews.get(case.review_id)
        review.status, review.updated_at = ReviewStatus.IN_PROGRESS, now


async def awaits_answer(repo: Repositories, case_id: int, user_id: int) -> bool:
    """The case is this resident's and waits for their answer to the office's question."""
    case = await repo.reviews.case(case_id)
    if case is None or case.status != CaseStatus.WAITING_RESIDENT:
        return False
    review = await repo.reviews.get(case.review_id)
    return review.user_id == user_id


async def open_question(repo: Repositories, case_id: int) -> int:
    """The number of the office's question an answer in the case is to now (its latest; 0 for none)."""
    case = await repo.reviews.case(case_id)
    return await questions_asked(repo, case.review_id) if case is not None else 0


async def answer_stands(repo: Repositories, case_id: int, answered: object) -> bool:
    """An answer recorded in a conversation (`answered`: the number of the question it was to) is to the question
    open now. A second question of the same case needs its own: the first's answer does not give the case back.
    True, kept by a conversation begun before questions were told apart, counts as it did then."""
    if answered is True:
        return True
    return bool(answered) and answered == await open_question(repo, case_id)


async def finish_if_answered(repo: Repositories, case_id: int, answered: object, now: datetime) -> None:
    """A conversation with the office's open question answered ends some other way than Done: the case is the
    office's again, as after Done (else it waited for the resident, who had answered)."""
    if await answer_stands(repo, case_id, answered):
        await resident_finished(repo, case_id, now)


async def answers_left_count_as_given(repo: Repositories, before: datetime, now: datetime) -> None:
    """An answer to the office in a conversation left without Done since `before`, which retention is about to
    drop, counts as given, as every other way out of it does (else the case waited for an answer she gave)."""
    for case_id, answered in await OpsRepo(repo.session).answered_in_stale(before, CaseReply.adding.state):
        await finish_if_answered(repo, case_id, answered, now)


async def verdict_applies(repo: Repositories, case_id: int, user_id: int, answer: int) -> CaseView | None:
    """The resident's button is about the latest answer of a case still closed with it, and it is theirs."""
    view = await _own_case(repo, case_id, user_id)
    if view is None or view.case.status != CaseStatus.CLOSED:
        return None
    return view if await answers_given(repo, view.review.id) == answer else None


async def disputed(repo: Repositories, case_id: int, user_id: int, answer: int) -> CaseView | None:
    """The resident's case, open again by their disagreement with this answer, its latest (a button under it pressed
    again; once answered anew, the button is about an earlier answer)."""
    view = await _own_case(repo, case_id, user_id)
    if view is None or view.case.status not in OPEN_STATUSES or await answers_given(repo, view.review.id) != answer:
        return None
    history = await repo.reviews.history(view.review.id)
    return view if any(entry.action == "case.reopened" and (entry.details or {}).get("answer") == answer
                       for entry in history) else None


async def settled(repo: Repositories, case_id: int, user_id: int, answer: int, now: datetime) -> CaseView | None:
    view = await verdict_applies(repo, case_id, user_id, answer)
    if view is None:
        return None
    if await repo.audit.count("case.settled", "review", view.review.id) < answer:
        await audit_case(repo, view, view.author.telegram_id, "case.settled", now, answer=answer)
    return view


async def reopen(repo: Repositories, case_id: int, user_id: int, answer: int, reason: str, now: datetime,
                 settings: Settings) -> CaseView | None:
    """The resident disagrees with the answer: the case is open again, and the office's chat gets a new card,
    marked as reopened, with the reason and the history so far."""
    view = await verdict_applies(repo, case_id, user_id, answer)
    if view is None:
        return None
    case = view.case
    case.status = CaseStatus.TAKEN if case.assignee_telegram_id else CaseStatus.OPEN
    case.closed_at, case.reopened_at, case.reopened_count = None, now, (case.reopened_count or 0) + 1
    view.review.status, view.review.updated_at = ReviewStatus.IN_PROGRESS, now
    due = {}
    if case.formal_appeal:  # a repeated appeal: its own term, from today (deadlines.term_started)
        case.due_date, case.due_provisional = due_and_provisional(now, settings.zone, work_calendar(),
                                                                  settings.feedback.appeal_working_days)
        case.extended = False  # and it may be extended once, as the first could
        due = {"due": case.due_date.isoformat()}
    await audit_case(repo, view, view.author.telegram_id, "case.reopened", now, reason=reason, answer=answer, **due)
    view = await alerts.load(repo, case)
    chat_id = settings.prosecutor.chat_id
    if chat_id is not None:
        l10n = alerts.chat_l10n(settings)
        await repo.reviews.flush()  # the reopening just recorded is the disagreement the card shows
        text = await office_card_text(repo, view, l10n, settings)
        await outbox.enqueue(repo, chat_id=chat_id, kind="alert", now=now, text=text,
                             reply_markup=alerts.card_keyboard(view, l10n), review_id=view.review.id,
                             case_id=case.id, reference=view.review.reference,
                             summary=alerts.summary_line(view, l10n),
                             dedupe_key=f"alert:{view.review.reference}:{chat_id}:reopened:{case.reopened_count}")
        # The card keeps what fits one message, and a long reason may not: then it follows the card whole, in as
        # many messages as it needs, so the office reads all of what the resident disagrees with.
        if html.escape(reason) not in text:
            header = f"<b>{view.review.reference}</b> " + l10n("case_office.disagreement", reason="").rstrip()
            for number, piece in enumerate(pages.text_block(header, reason)):
                await outbox.enqueue(repo, chat_id=chat_id, kind="resident_reply", now=now, text=piece,
                                     review_id=view.review.id,
                                     dedupe_key=f"reason:{view.review.reference}:{case.reopened_count}:{number}")
    return view


def reopened_text(view: CaseView, l10n: L10n) -> str:
    """What the resident reads once her disagreement is stored: the case is open again, and, for a formal appeal,
    by when the office now has to answer."""
    text = l10n("case_resident.reopened", reference=view.review.reference)
    if view.case.formal_appeal and view.case.due_date is not None:
        text += "\n" + l10n("case_resident.reopened_due", due=view.case.due_date.strftime("%d.%m.%Y"))
    return text


async def withdraw(repo: Repositories, review: Review, user: User, now: datetime, settings: Settings) -> bool:
    """The resident withdraws an open appeal: recorded, the rating no longer counts it, the office is told."""
    case = await repo.reviews.case_of(review.id)
    if review.user_id != user.id or review.status == ReviewStatus.WITHDRAWN:
        return False
    if case is None or case.status not in OPEN_STATUSES:  # a gratitude is no appeal: nothing to withdraw
        return False
    review.status, review.updated_at = ReviewStatus.WITHDRAWN, now
    await repo.audit.record(now, user.telegram_id, "case.withdrawn", "review", review.id, reference=review.reference)
    await ratings.review_status_changed(repo, review, now=now, settings=settings)
    case.status, case.closed_at = CaseStatus.WITHDRAWN, now
    # The card in the office's chat says so, and offers no more actions: nobody is left to answer. So does the
    # review's post in the clinic's chat, which would otherwise go on asking for an answer.
    await show_on_card(repo, settings, case, now, "withdrawn")
    await clinics.review_withdrawn(repo, review, now, settings)
    chat_id = settings.prosecutor.chat_id
    if chat_id is not None:
        view = await alerts.load(repo, case)
        l10n = alerts.chat_l10n(settings)
        await outbox.enqueue(repo, chat_id=chat_id, kind="resident_reply", now=now, review_id=review.id,
                             reply_to_message_id=await _office_card_reply_to(repo, view, settings),
                             dedupe_key=f"withdrawn:{review.reference}:{chat_id}",
                             text=l10n("case_office.withdrawn", reference=review.reference))
    return True
