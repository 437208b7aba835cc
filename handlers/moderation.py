"""The moderator's queue, in a private chat: /moderation shows what waits, one item at a time, with Approve, Reject
(with a reason) and Edit; only moderators and administrators may use it."""

from __future__ import annotations

from datetime import datetime

from aiogram import Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.callbacks import ModerationAction, ModerationReason, ModerationVerdict, QueueItem
from bot.config import Settings
from bot.filters import HasText, PrivateChat
from bot.l10n import L10n
from bot.services import clinics, moderation_queue
from bot.services.access import is_moderator
from bot.services.moderation_queue import Item
from bot.states import ModerationInput
from handlers.long_texts import refused_length
from storage.repositories import Repositories

KINDS = {QueueItem.REVIEW: moderation_queue.REVIEW, QueueItem.ANSWER: moderation_queue.ANSWER}
BUTTON_KINDS = {kind: button for button, kind in KINDS.items()}
EDIT_MAX_CHARS = clinics.ANSWER_MAX_CHARS  # the resident's notice quotes the new text within Telegram's limit


def make_item_keyboard(l10n: L10n, item: Item) -> InlineKeyboardMarkup:
    def button(action: ModerationVerdict) -> InlineKeyboardButton:
        return InlineKeyboardButton(text=l10n(f"moderation.button_{action.value}"), callback_data=ModerationAction(
            item=BUTTON_KINDS[item.kind], item_id=item.id, action=action).pack())

    return InlineKeyboardMarkup(inline_keyboard=[
        [button(ModerationVerdict.APPROVE), button(ModerationVerdict.REJECT)],
        [button(ModerationVerdict.EDIT), button(ModerationVerdict.NEXT)]])


def make_reasons_keyboard(l10n: L10n, item: Item, reasons: list[str]) -> InlineKeyboardMarkup:
    rows = [[InlineKeyboardButton(text=l10n(f"moderation_reason.{reason}"), callback_data=ModerationReason(
        item=BUTTON_KINDS[item.kind], item_id=item.id, reason=reason).pack())] for reason in reasons]
    rows.append([InlineKeyboardButton(text=l10n("moderation.button_back"), callback_data=ModerationAction(
        item=BUTTON_KINDS[item.kind], item_id=item.id, action=ModerationVerdict.SHOW).pack())])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def make_router(settings: Settings) -> Router:
    router = Router(name="moderation")
    router.message.filter(PrivateChat())
    router.callback_query.filter(PrivateChat())

    async def show(message: Message, repo: Repositories, l10n: L10n, item: Item | None, *,
                   replace: bool = False) -> None:
        """The item with its buttons (or that nothing waits): in place of the pressed message, or as a new one."""
        if item is None:
            text, markup = l10n("moderation.empty"), None
        else:
            waiting = await moderation_queue.waiting_count(repo)
            text = await moderation_queue.item_text(repo, item, l10n, settings, waiting)
            markup = make_item_keyboard(l10n, item)
        if replace:
            try:
                await message.edit_text(text, reply_markup=markup)
                return
            except TelegramBadRequest as error:
                if "not modified" in str(error):
                    return
        await message.answer(text, reply_markup=markup)

    async def decided(message: Message, repo: Repositories, l10n: L10n, item: Item, text: str) -> None:
        """The decided item's message says what was done; the next one comes below it."""
        try:
            await message.edit_text(text, reply_markup=None)
        except TelegramBadRequest:
            await message.answer(text)
        await show(message, repo, l10n, await moderation_queue.next_item(repo, after=item))

    async def end_unfinished_edit(state: FSMContext) -> None:
        """Moving on in the queue ends an edit left unfinished (the item keeps waiting): otherwise the moderator's
        next stray message would become the public text of an item no longer on screen, and publish it."""
        if await state.get_state() == ModerationInput.editing.state:
            await state.clear()

    @router.message(Command("moderation"))
    async def open_queue(message: Message, repo: Repositories, state: FSMContext, l10n: L10n) -> None:
        if not await is_moderator(repo, settings.admins, message.from_user.id):
            await message.answer(l10n("moderation.refused"))
            return
        await end_unfinished_edit(state)
        await show(message, repo, l10n, await moderation_queue.next_item(repo))

    @router.callback_query(ModerationAction.filter())
    async def action_pressed(query: CallbackQuery, callback_data: ModerationAction, repo: Repositories,
                             state: FSMContext, l10n: L10n, now: datetime) -> None:
        if not await is_moderator(repo, settings.admins, query.from_user.id):
            await query.answer(l10n("moderation.refused"), show_alert=True)
            return
        await end_unfinished_edit(state)
        kind, action = KINDS[callback_data.item], callback_data.action
        item = await moderation_queue.load(repo, kind, callback_data.item_id)
        if item is None:
            await query.answer(l10n("moderation.gone"), show_alert=True)
            return
        if action == ModerationVerdict.NEXT:
            await query.answer()
            await show(query.message, repo, l10n, await moderation_queue.next_item(repo, after=item), replace=True)
            return
        if (refusal := moderation_queue.refusal(item)) is not None:
            await query.answer(l10n(refusal), show_alert=True)
            await show(query.message, repo, l10n, await moderation_queue.next_item(repo, after=item), replace=True)
            return
        if action == ModerationVerdict.SHOW:
            await query.answer()
            await show(query.message, repo, l10n, item, replace=True)
        elif action == ModerationVerdict.REJECT:
            await query.answer()
            await query.message.edit_reply_markup(
                reply_markup=make_reasons_keyboard(l10n, item, settings.moderation.reject_reasons))
        elif action == ModerationVerdict.EDIT:
            await state.set_state(ModerationInput.editing)
            await state.set_data({"kind": kind, "item_id": item.id})
            await query.answer()
            await query.message.answer(l10n("moderation.edit_prompt", item=l10n(f"moderation.item_{kind}"),
                                            reference=item.review.reference, limit=EDIT_MAX_CHARS))
        else:
            item = await moderation_queue.approve(repo, kind, item.id, query.from_user.id, now, settings)
            await query.answer(l10n("moderation.approved"))
            await decided(query.message, repo, l10n, item, moderation_queue.outcome_text(item, "approved", l10n))

    @router.callback_query(ModerationReason.filter())
    async def reason_chosen(query: CallbackQuery, callback_data: ModerationReason, repo: Repositories,
                            state: FSMContext, l10n: L10n, now: datetime) -> None:
        if not await is_moderator(repo, settings.admins, query.from_user.id):
            await query.answer(l10n("moderation.refused"), show_alert=True)
            return
        await end_unfinished_edit(state)
        try:
            item = await moderation_queue.reject(repo, KINDS[callback_data.item], callback_data.item_id,
                                                 callback_data.reason, query.from_user.id, now, settings)
        except moderation_queue.QueueRefused as refusal:
            await query.answer(l10n(refusal.key), show_alert=True)
            return
        await query.answer(l10n("moderation.rejected"))
        await decided(query.message, repo, l10n, item,
                      moderation_queue.outcome_text(item, "rejected", l10n, reason=callback_data.reason))

    @router.message(StateFilter(ModerationInput.editing), Command("cancel"))
    async def cancel_edit(message: Message, state: FSMContext, l10n: L10n) -> None:
        await state.clear()
        await message.answer(l10n("moderation.edit_cancelled"))

    @router.message(StateFilter(ModerationInput.editing), HasText())
    async def new_text(message: Message, state: FSMContext, repo: Repositories, l10n: L10n, now: datetime) -> None:
        text = message.text.strip()
        if (length := await refused_length(state, message, EDIT_MAX_CHARS)) is not None:
            await message.answer(l10n("moderation.edit_too_long", length=length, limit=EDIT_MAX_CHARS))
            return  # still editing
        data = await state.get_data()
        await state.clear()
        if not await is_moderator(repo, settings.admins, message.from_user.id):
            await message.answer(l10n("moderation.refused"))
            return
        try:
            item = await moderation_queue.edit(repo, data["kind"], data["item_id"], text, message.from_user.id, now,
                                               settings)
        except moderation_queue.QueueRefused as refusal:
            await message.answer(l10n(refusal.key))
            return
        await message.answer(moderation_queue.outcome_text(item, "edited", l10n))
        await show(message, repo, l10n, await moderation_queue.next_item(repo, after=item))

    return router
