"""Steps 3-4: what is sent (kind and category on one screen), the stars, and the criteria when asked for."""

from __future__ import annotations

from datetime import datetime

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot import keyboards
from bot.callbacks import CategoryPick, Flow, FlowAction, KindPick, StarsPick
from bot.config import Settings
from bot.filters import HasText
from bot.l10n import L10n
from bot.services import drafts, reviews
from bot.states import ReviewForm
from handlers.feedback.description import kept_story
from handlers.feedback.step import Step, ask_rating, hint, step_maker
from storage.models import ReviewKind, User
from storage.repositories import Repositories


async def asked_about_previous(step: Step, draft: drafts.Draft) -> bool:
    """A thank-you to a doctor the resident thanked within `feedback.same_doctor_days`: asked whether it updates that
    one (at the kind step, whose handlers take the answer); False when there is nothing to ask. A complaint is always
    a new appeal; only a rating (a gratitude) may replace an earlier one."""
    feedback = step.settings.feedback
    if draft.get("kind") != ReviewKind.GRATITUDE or not draft.get("doctor_id"):
        return False
    previous = await reviews.previous_of_doctor(step.repo, step.user, draft["doctor_id"], step.now,
                                                feedback.same_doctor_days, (ReviewKind.GRATITUDE,))
    if previous is None:
        return False
    l10n = step.l10n
    await step.save({**draft, "pending_previous": previous.id})
    await step.state.set_state(ReviewForm.kind)
    await step.show(l10n("previous.found", reference=previous.reference,
                         date=l10n.day(previous.created_at.astimezone(step.settings.zone)),
                         days=l10n.count("within_days", feedback.same_doctor_days)),
                    keyboards.make_previous_review_keyboard(l10n))
    return True


def register(private: Router, settings: Settings) -> None:
    step_of = step_maker(settings)
    categories = set(settings.feedback.categories)

    @private.callback_query(KindPick.filter(F.kind.in_(drafts.KINDS)), StateFilter(ReviewForm.kind))
    async def kind_chosen(query: CallbackQuery, callback_data: KindPick, state: FSMContext, repo: Repositories,
                          l10n: L10n, user: User | None, now: datetime) -> None:
        kind, category = callback_data.kind, callback_data.category or None
        if (kind == "complaint" and category not in categories) or (kind == "gratitude" and category) or (
                category is not None and category not in categories):
            await query.answer(l10n("errors.stale_button"), show_alert=True)
            return
        await query.answer()
        step = step_of(query, state, repo, l10n, user, now)
        draft = {**drafts.clear(await step.draft(), "kind"), "kind": kind}
        if category:
            draft["category"] = category
        if not await asked_about_previous(step, draft):
            await step.advance(draft)

    @private.callback_query(Flow.filter(F.action.in_({FlowAction.UPDATE_PREVIOUS, FlowAction.OTHER_DOCTOR})),
                            StateFilter(ReviewForm.kind))
    async def previous_decided(query: CallbackQuery, callback_data: Flow, state: FSMContext, repo: Repositories,
                               l10n: L10n, user: User | None, now: datetime) -> None:
        step = step_of(query, state, repo, l10n, user, now)
        draft = await step.draft()
        previous_id = draft.pop("pending_previous", None)
        if previous_id is None:
            await query.answer(l10n("errors.stale_button"), show_alert=True)
            return
        await query.answer()
        if callback_data.action == FlowAction.UPDATE_PREVIOUS:
            await step.advance({**draft, "supersedes_id": previous_id})
        else:
            await step.advance({**draft})

    @private.callback_query(CategoryPick.filter(F.category.in_(settings.feedback.categories)),
                            StateFilter(ReviewForm.category))
    async def category_chosen(query: CallbackQuery, callback_data: CategoryPick, state: FSMContext,
                              repo: Repositories, l10n: L10n, user: User | None, now: datetime) -> None:
        await query.answer()
        step = step_of(query, state, repo, l10n, user, now)
        await step.advance({**await step.draft(), "category": callback_data.category})

    @private.callback_query(StarsPick.filter((F.criterion == "overall") & F.stars.in_(range(1, 6))),
                            StateFilter(ReviewForm.rating))
    async def rating_chosen(query: CallbackQuery, callback_data: StarsPick, state: FSMContext, repo: Repositories,
                            l10n: L10n, user: User | None, now: datetime) -> None:
        await query.answer()
        step = step_of(query, state, repo, l10n, user, now)
        await step.advance({**await step.draft(), "rating": callback_data.stars})

    @private.message(StateFilter(ReviewForm.rating), HasText())
    async def rating_typed(message: Message, state: FSMContext, repo: Repositories, l10n: L10n,
                           user: User | None, now: datetime) -> None:
        step = step_of(message, state, repo, l10n, user, now)
        digits = message.text.strip().rstrip("⭐*")
        if digits in {"1", "2", "3", "4", "5"}:
            await step.advance({**await step.draft(), "rating": int(digits)})
        elif await kept_story(step, message):
            await ask_rating(step.anew(), await step.draft())
        else:
            await hint(step)

    @private.callback_query(StarsPick.filter(F.criterion.in_(drafts.CRITERIA) & F.stars.in_(range(6))),
                            StateFilter(ReviewForm.criteria))
    async def criterion_chosen(query: CallbackQuery, callback_data: StarsPick, state: FSMContext,
                               repo: Repositories, l10n: L10n, user: User | None, now: datetime) -> None:
        step = step_of(query, state, repo, l10n, user, now)
        draft = await step.draft()
        answered = dict(draft.get("criteria", {}))
        expected = next((name for name in drafts.CRITERIA if name not in answered), None)
        if callback_data.criterion != expected:
            await query.answer(l10n("errors.stale_button"), show_alert=True)
            return
        await query.answer()
        answered[expected] = callback_data.stars or None
        done = len(answered) == len(drafts.CRITERIA)
        await step.advance({**draft, "criteria": answered, "criteria_done": done})

    @private.callback_query(Flow.filter(F.action == FlowAction.SKIP), StateFilter(ReviewForm.criteria))
    async def criteria_skipped(query: CallbackQuery, state: FSMContext, repo: Repositories, l10n: L10n,
                               user: User | None, now: datetime) -> None:
        await query.answer()
        step = step_of(query, state, repo, l10n, user, now)
        await step.advance({**await step.draft(), "criteria_done": True})
