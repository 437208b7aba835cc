"""The case card's buttons in the office's chat: the full text, the card shown again, taking a case (and taking it
over from a colleague), forwarding it, and the start of an answer (its words are asked for in drafts)."""

from __future__ import annotations

import html
from datetime import datetime
from functools import partial

from aiogram import Bot, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup

from bot.callbacks import AlertAction, AlertActionV1, CaseForwardV1, CaseTakeOverV1
from bot.cases import actions, lists
from bot.cases import cards as alerts
from bot.cases.cards import OPEN_STATUSES
from bot.cases.deadlines import local_date
from bot.keyboards import name_in
from bot.services.reviews import work_calendar
from bot.unit_of_work import AfterCommit
from handlers.prosecutor.chat import OfficeChat, drop_buttons
from handlers.prosecutor.drafts import NO_DRAFT, WRITING, prompt_for_words
from storage.repositories import Repositories

TEXT_PART = 3500


def register(router: Router, office_chat: OfficeChat) -> None:
    settings, l10n, office = office_chat.settings, office_chat.l10n, office_chat.office
    pressed_in_office, refresh_known = office_chat.pressed_in_office, office_chat.refresh_known


    @router.callback_query(AlertActionV1.filter())
    async def alert_button(query: CallbackQuery, callback_data: AlertActionV1, bot: Bot, repo: Repositories,
                           state: FSMContext, now: datetime, after_commit: AfterCommit) -> None:
        if not await pressed_in_office(query, bot, repo, now):
            return
        case = await repo.reviews.case(callback_data.case_id)
        if case is None:  # forged or from another installation
            await query.answer(l10n("cases.unknown"), show_alert=True)
            return
        view = await alerts.load(repo, case)
        action = callback_data.action
        if action == AlertAction.FULL_TEXT:
            await query.answer()
            text = view.review.text
            for start in range(0, len(text), TEXT_PART):
                await query.message.answer(l10n("alert.full_text", reference=view.review.reference,
                                                text=html.escape(text[start:start + TEXT_PART])))
            return
        if action == AlertAction.OPEN:
            await query.answer()
            card = await query.message.answer(await lists.office_card_text(repo, view, l10n, settings),
                                              reply_markup=alerts.card_keyboard(view, l10n))
            if await repo.outbox.card_of(view.review.id, office) is None:
                await repo.outbox.record_card(view.review.id, case.id, office, card.message_id,
                                              view.review.reference, now)
            else:
                await repo.outbox.point_card_to(view.review.id, office, card.message_id)
            return
        if case.status not in OPEN_STATUSES:
            await query.answer(l10n("cases.already_closed"), show_alert=True)
            return
        if action in WRITING:
            # Said before the reason is typed, not after.
            if action == AlertAction.EXTEND and (refusal := actions.extension_refused(view, now, settings)):
                await query.answer(l10n(refusal.key, **refusal.values), show_alert=True)
                return
            await state.set_state(WRITING[action])
            # The answers given so far: a draft overtaken by a colleague's answer (and the resident's disagreement,
            # which opened the case again) is not sent as if nothing had happened since.
            await state.update_data({**NO_DRAFT, "action": action.value, "case_id": case.id,
                                     "card_message": query.message.message_id,
                                     "answers_before": await actions.answers_given(repo, case.review_id)})
            await query.answer()
            await prompt_for_words(office_chat, query.message, view, action, query.from_user, bot)
            return
        if action == AlertAction.TAKE:
            await take(query, bot, repo, now, after_commit, case.id, None)
            return
        if action == AlertAction.FORWARD:
            await query.answer()
            destinations = [("clinic", html.escape(name_in(view.clinic, l10n.language)))] + [
                (body, alerts.destination_name(body, l10n)) for body in settings.prosecutor.forward_bodies]
            rows = [[InlineKeyboardButton(text=name, callback_data=CaseForwardV1(
                case_id=case.id, destination=destination).pack())] for destination, name in destinations]
            by = actions.forward_by(view, settings, work_calendar())
            # Past the last day the prompt says so, rather than showing a day gone as one still to come.
            key = "case_forward.choose_late" if by < local_date(now, settings.zone) else "case_forward.choose"
            await query.message.answer(l10n(key, reference=view.review.reference, by=by.strftime("%d.%m.%Y")),
                                       reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))
            return

    async def take(query: CallbackQuery, bot: Bot, repo: Repositories, now: datetime, after_commit: AfterCommit,
                   case_id: int, take_over_from: int | None) -> None:
        try:
            view = await actions.take(repo, case_id, query.from_user.id, now, take_over_from=take_over_from)
        except actions.TakeOverNeeded as held:
            await query.answer()
            case = await repo.reviews.case(case_id)
            review = await repo.reviews.get(case.review_id)
            markup = InlineKeyboardMarkup(inline_keyboard=[[
                InlineKeyboardButton(text=l10n("case_actions.take_over_yes"), callback_data=CaseTakeOverV1(
                    case_id=case_id, previous=held.previous).pack()),
                InlineKeyboardButton(text=l10n("case_actions.take_over_no"), callback_data=CaseTakeOverV1(
                    case_id=case_id, previous=0).pack())]])
            await query.message.answer(l10n("case_actions.take_over_question", reference=review.reference,
                                            name=html.escape(held.name)), reply_markup=markup)
            return
        except actions.CaseActionRefused as refusal:
            await query.answer(l10n(refusal.key, **refusal.values), show_alert=True)
            return
        if take_over_from is not None:
            await query.answer()
            previous = await actions.name_of(repo, take_over_from, l10n)
            after_commit(partial(query.message.answer, l10n(
                "case_actions.taken_over", reference=view.review.reference,
                name=html.escape(view.assignee_name or ""), previous=previous)))
            after_commit(drop_buttons(query.message))
        else:
            after_commit(partial(query.answer, l10n("alert.done_take")))
        after_commit(await refresh_known(bot, repo, view,
                                         query.message.message_id if take_over_from is None else None))

    @router.callback_query(CaseTakeOverV1.filter())
    async def take_over(query: CallbackQuery, callback_data: CaseTakeOverV1, bot: Bot, repo: Repositories,
                        now: datetime, after_commit: AfterCommit) -> None:
        if not await pressed_in_office(query, bot, repo, now):
            return
        if callback_data.previous == 0:
            await query.answer(l10n("alert.cancelled"))
            after_commit(drop_buttons(query.message))
            return
        await take(query, bot, repo, now, after_commit, callback_data.case_id, callback_data.previous)

    @router.callback_query(CaseForwardV1.filter())
    async def forward_to(query: CallbackQuery, callback_data: CaseForwardV1, bot: Bot, repo: Repositories,
                         now: datetime, after_commit: AfterCommit) -> None:
        if not await pressed_in_office(query, bot, repo, now):
            return
        try:
            view = await actions.forward(repo, callback_data.case_id, query.from_user.id, now, settings,
                                       callback_data.destination, delivered=callback_data.confirmed)
        except actions.DeliveryUnconfirmed:
            await query.answer()
            case = await repo.reviews.case(callback_data.case_id)
            view = await alerts.load(repo, case)
            markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
                text=l10n("case_forward.confirm_button"), callback_data=CaseForwardV1(
                    case_id=case.id, destination="clinic", confirmed=True).pack())]])
            await query.message.answer(l10n("case_forward.no_chat", reference=view.review.reference,
                                            clinic=html.escape(name_in(view.clinic, l10n.language))),
                                       reply_markup=markup)
            return
        except actions.CaseActionRefused as refusal:
            await query.answer(l10n(refusal.key, **refusal.values), show_alert=True)
            return
        await query.answer()
        destination = (html.escape(name_in(view.clinic, l10n.language)) if callback_data.destination == "clinic"
                       else alerts.destination_name(callback_data.destination, l10n))
        after_commit(drop_buttons(query.message))
        after_commit(partial(query.message.answer, l10n("case_forward.done", reference=view.review.reference,
                                                        destination=destination)))
        after_commit(await refresh_known(bot, repo, view))

