"""My reviews: the resident's submissions with their status and answers, paginated, each opening a card."""

from __future__ import annotations

import html
from datetime import datetime

from aiogram import F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject, Filter, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.callbacks import MenuAction, MenuChoice, MyAppeal, MyAppealAction, MyReviewOpen, MyReviewsPage
from bot.cases.cards import OPEN_STATUSES
from bot.config import Settings
from bot.filters import PrivateChat
from bot.keyboards import PAGE_SIZE, make_back_to_list_keyboard, make_my_reviews_keyboard, name_in
from bot.l10n import L10n
from bot.references import number_after_sign, reference_of, typed_reference
from bot.services import moderation, moderation_queue, pages
from bot.services.privacy import INTERNAL_ACTIONS
from bot.states import ReviewForm, TopSearch
from handlers.feedback.entry import has_unfinished
from handlers.side_conversation import offer_unfinished
from storage.models import AuditLog, PublicStatus, Review, ReviewStatus, Role, User
from storage.repositories import Repositories


async def list_text_and_keyboard(repo: Repositories, user: User | None, l10n: L10n, page: int):
    if user is None:
        return l10n("my.empty"), None
    shown, total = await repo.reviews.page_of_user(user.id, page * PAGE_SIZE, PAGE_SIZE)
    if total == 0:
        return l10n("my.empty"), None
    pages = (total + PAGE_SIZE - 1) // PAGE_SIZE
    if page >= pages:  # a page button the list no longer (or never) had: its last page, not an empty one
        page = pages - 1
        shown, total = await repo.reviews.page_of_user(user.id, page * PAGE_SIZE, PAGE_SIZE)
    # Marked on the list, so that a week later it is plain which the polyclinic answered (the notice is far up).
    answered = await repo.ratings.published_answers_to([review.id for review in shown], role=Role.CLINIC_STAFF)
    return (l10n("my.title", total=total, page=page + 1, pages=pages),
            make_my_reviews_keyboard(l10n, shown, page, total, answered.keys()))


# The bot's own bookkeeping on a review, which the resident would read as "updated" for nothing: the screening of
# its text, the record of a clinic's answer and its moderation (a published answer is on the card as the answer).
NOT_THE_RESIDENTS = frozenset({"moderation.screened", "clinic.answered"})


def residents_entry(entry: AuditLog) -> bool:
    if entry.action in INTERNAL_ACTIONS or entry.action in NOT_THE_RESIDENTS:
        return False  # the office's internal notes are not the resident's to read either
    return (entry.details or {}).get("item") != moderation_queue.ANSWER


# The history entries whose words were sent to the resident, and the detail that holds them.
TOLD_THE_RESIDENT = {"case.asked": "question", "case.rejected": "reason", "case.extended": "reason"}


async def card_parts(repo: Repositories, review: Review, l10n: L10n, settings: Settings) -> list[str]:
    """The card, split into messages within Telegram's limit so a long text is never cut."""
    zone, language = settings.zone, l10n.language
    clinic = await repo.directory.clinic(review.clinic_id)
    lines = [l10n("my.card_title", reference=review.reference),
             l10n("my.card_date", when=review.created_at.astimezone(zone).strftime("%d.%m.%Y %H:%M")),
             l10n("preview.clinic", value=html.escape(name_in(clinic, language)))]
    if review.doctor_id:
        doctor = await repo.directory.doctor(review.doctor_id)
        lines.append(l10n("preview.doctor", value=html.escape(doctor.full_name)))
    kind = l10n(f"kind.{review.kind}") + (f" · {l10n(f'category.{review.category}')}" if review.category else "")
    lines += [l10n("preview.kind", value=kind),
              l10n("preview.rating", value=l10n("flow.stars", n=review.rating) if review.rating else "—"),
              l10n("my.card_status", status=l10n(f"status.{review.status}")),
              l10n("preview.evidence", count=len(review.media))]
    case = await repo.reviews.case_of(review.id)
    if case is not None and case.due_date is not None:
        lines.append(l10n("my.card_due", due=case.due_date.strftime("%d.%m.%Y")))
    lines.append(l10n("my.card_history"))
    # Every entry, answer and the text are blocks of their own: whole in one message where they fit, a long one
    # (the office may write 3,500 characters each time) cut at a space, never making a message Telegram refuses.
    blocks: list[str] = []
    for entry in await repo.reviews.history(review.id):
        if not residents_entry(entry):
            continue
        line = l10n("my.history_line", when=entry.at.astimezone(zone).strftime("%d.%m.%Y %H:%M"),
                    event=l10n(f"history.{entry.action}") if l10n.has(f"history.{entry.action}")
                    else l10n("history.other"))
        # What the office said to the resident (its question, why it rejected or extended): theirs to read again a
        # week later, when the notice is far up the chat.
        said = (entry.details or {}).get(TOLD_THE_RESIDENT.get(entry.action, ""))
        blocks += pages.text_block(line, str(said)) if said else [line]
    for response in await repo.reviews.responses_to(review.id):
        clinics_answer = response.author_role == Role.CLINIC_STAFF
        if clinics_answer and response.public_status != PublicStatus.PUBLISHED:
            continue  # held for the moderator or rejected: never sent to the resident, so not shown here either
        # As the resident received it: a clinic's answer with others' personal data masked.
        text = moderation.public_text_of(response, l10n) if clinics_answer else response.text
        title = l10n("my.answer", who=l10n(f"role.{response.author_role}"),
                     when=response.created_at.astimezone(zone).strftime("%d.%m.%Y"), text="").rstrip("\n")
        blocks += pages.text_block(title, text)
    if review.text:
        blocks += pages.text_block(l10n("my.card_text", text="").rstrip(), review.text)
    return pages.pack("\n".join(lines), blocks)


async def answer_files(message: Message, repo: Repositories, review: Review, l10n: L10n) -> None:
    """The office's answers' documents (an official letter, an act), which the notices carried: given again, below
    the card. One Telegram no longer has is said to be unavailable; the card is already there either way."""
    caption = l10n("case_notify.attachment", reference=review.reference)
    for entry in await repo.reviews.history(review.id):
        details = entry.details or {}
        if entry.action != "case.closed" or not details.get("attachment_file_id"):
            continue
        send = message.answer_photo if details.get("attachment") == "photo" else message.answer_document
        try:
            await send(details["attachment_file_id"], caption=caption)
        except TelegramBadRequest:
            await message.answer(l10n("my.file_unavailable"))


class NumberAfterSign(Filter):
    """A message that is "№ 123" alone; gives the number."""

    async def __call__(self, message: Message) -> bool | dict[str, int]:
        number = number_after_sign(message.text) if message.text else None
        return {"number": number} if number else False


class TypedReference(Filter):
    """A message that is a reference number alone, in the forms people type it; gives it as stored."""

    async def __call__(self, message: Message) -> bool | dict[str, str]:
        reference = typed_reference(message.text) if message.text else None
        return {"reference": reference} if reference else False


# The reference the receipt gave, typed to see how the review stands (at the menu, or after /my): its card, when
# it is the person's own; someone else's is never shown, nor said to exist.
async def card_by_reference(message: Message, reference: str, repo: Repositories, user: User | None,
                            l10n: L10n, settings: Settings) -> None:
    found = await repo.reviews.by_reference(reference) if user is not None else None
    if found is None or found.user_id != user.id:
        await message.answer(l10n("my.reference_unknown", reference=reference))
        text, markup = await list_text_and_keyboard(repo, user, l10n, 0)
        await message.answer(text, reply_markup=markup)
        return
    await send_card(message, repo, await repo.reviews.of_user(found.id, user.id), l10n, 0, settings)


async def card_by_number(message: Message, number: int, repo: Repositories, user: User | None, l10n: L10n,
                         settings: Settings, now: datetime) -> bool:
    """"№ 123": the card of her appeal so numbered (this year's, or last year's in January), if she has one."""
    year = now.astimezone(settings.zone).year
    for reference in (reference_of(year, number), reference_of(year - 1, number)):
        found = await repo.reviews.by_reference(reference) if user is not None else None
        if found is not None and found.user_id == user.id:
            await send_card(message, repo, await repo.reviews.of_user(found.id, user.id), l10n, 0, settings)
            return True
    return False


async def send_card(message: Message, repo: Repositories, review: Review, l10n: L10n, page: int,
                    settings: Settings) -> None:
    parts = await card_parts(repo, review, l10n, settings)
    for part in parts[:-1]:
        await message.answer(part)
    markup = make_back_to_list_keyboard(l10n, page)
    case = await repo.reviews.case_of(review.id)
    if review.status != ReviewStatus.WITHDRAWN and case is not None and case.status in OPEN_STATUSES:
        # An open appeal: the resident may add to it, or withdraw it (recorded, the office told).
        markup = InlineKeyboardMarkup(inline_keyboard=[[
            InlineKeyboardButton(text=l10n("case_resident.add_button"), callback_data=MyAppeal(
                review_id=review.id, action=MyAppealAction.ADD).pack()),
            InlineKeyboardButton(text=l10n("case_resident.withdraw_button"), callback_data=MyAppeal(
                review_id=review.id, action=MyAppealAction.WITHDRAW).pack())], *markup.inline_keyboard])
    await message.answer(parts[-1], reply_markup=markup)
    await answer_files(message, repo, review, l10n)


def make_in_review_router(settings: Settings) -> Router:
    """Tried before the review conversation: a reference typed alone while a review is in progress."""
    router = Router(name="my_reviews-in-review")
    router.message.filter(PrivateChat(), StateFilter(ReviewForm))

    # A week later she types the number her receipt gave, to see how that appeal stands: its card, not words of the
    # unfinished review (published with it), nor a polyclinic's number. The review is kept and offered to go on with;
    # one just begun, with nothing chosen or written yet, is let go instead (there is nothing to continue).
    @router.message(TypedReference())
    async def reference_typed(message: Message, reference: str, state: FSMContext, repo: Repositories,
                              user: User | None, l10n: L10n) -> None:
        await card_by_reference(message, reference, repo, user, l10n, settings)
        if await has_unfinished(state):
            await offer_unfinished(message, l10n)
        else:
            await state.clear()

    return router


def make_router(settings: Settings) -> Router:
    router = Router(name="my_reviews")
    router.message.filter(PrivateChat())
    router.callback_query.filter(PrivateChat())

    @router.callback_query(MenuChoice.filter(F.action == MenuAction.MY_REVIEWS))
    async def from_menu(query: CallbackQuery, repo: Repositories, user: User | None, l10n: L10n) -> None:
        await query.answer()
        text, markup = await list_text_and_keyboard(repo, user, l10n, 0)
        await query.message.answer(text, reply_markup=markup)

    @router.message(Command("my"))
    async def my_command(message: Message, command: CommandObject, repo: Repositories, user: User | None,
                         l10n: L10n) -> None:
        if reference := typed_reference(command.args or ""):
            await card_by_reference(message, reference, repo, user, l10n, settings)
            return
        text, markup = await list_text_and_keyboard(repo, user, l10n, 0)
        await message.answer(text, reply_markup=markup)

    @router.callback_query(MyReviewsPage.filter())
    async def page(query: CallbackQuery, callback_data: MyReviewsPage, repo: Repositories, user: User | None,
                   l10n: L10n) -> None:
        await query.answer()
        text, markup = await list_text_and_keyboard(repo, user, l10n, max(callback_data.page, 0))
        await query.message.answer(text, reply_markup=markup)

    @router.callback_query(MyReviewOpen.filter())
    async def open_card(query: CallbackQuery, callback_data: MyReviewOpen, repo: Repositories,
                        user: User | None, l10n: L10n) -> None:
        review = await repo.reviews.of_user(callback_data.review_id, user.id) if user else None
        if review is None:  # someone else's review, or a forged id: nothing is shown
            await query.answer(l10n("errors.stale_button"), show_alert=True)
            return
        await query.answer()
        await send_card(query.message, repo, review, l10n, callback_data.page, settings)

    # At the menu, or where the top list would search specialties (handlers/top.py leaves a reference to this).
    @router.message(StateFilter(None, TopSearch.specialty), TypedReference())
    async def reference_typed(message: Message, reference: str, repo: Repositories, user: User | None,
                              l10n: L10n) -> None:
        await card_by_reference(message, reference, repo, user, l10n, settings)

    # "№ 123" at the menu is her appeal AL-2026-000123 when she has one so numbered (this year's, or last year's in
    # January); else it is what it was, a polyclinic's number or words offered as a review (the fallback router).
    @router.message(StateFilter(None), NumberAfterSign())
    async def number_typed(message: Message, number: int, repo: Repositories, user: User | None, l10n: L10n,
                           now: datetime) -> None:
        if not await card_by_number(message, number, repo, user, l10n, settings, now):
            raise SkipHandler

    return router
