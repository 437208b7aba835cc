"""Polyclinics' side: /link in a group, the Answer button and the answer itself, and /reviews for their staff."""

from __future__ import annotations

import html
from datetime import datetime
from functools import partial

from aiogram import Bot, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject, Filter, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import BaseStorage
from aiogram.types import (
    CallbackQuery,
    ChatMemberAdministrator,
    ChatMemberOwner,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)

from bot.callbacks import ClinicAnswerV1, buttons_under
from bot.config import Settings
from bot.filters import GroupChat, HasEvidence, HasText, PrivateChat
from bot.keyboards import name_in
from bot.l10n import L10n
from bot.services import clinic_links, clinics, moderation_queue
from bot.services.access import ClinicAccess, Memberships
from bot.states import ClinicAnswer
from bot.unit_of_work import AfterCommit
from handlers.long_texts import refused_length
from storage.fsm import move_chat_conversations
from storage.models import PublicStatus, ReviewStatus, Role
from storage.repositories import Repositories


class ChatMigrated(Filter):
    async def __call__(self, message: Message) -> bool:
        return bool(message.migrate_to_chat_id or message.migrate_from_chat_id)


def replied_post(message: Message) -> int | None:
    """The review whose post (the message with its one Answer button) the message replies to with Telegram's
    Reply; None for a list of several (/reviews), which names no one review."""
    reviews = {button.review_id for button in buttons_under(message.reply_to_message, ClinicAnswerV1)}
    return reviews.pop() if len(reviews) == 1 else None


def make_router(settings: Settings, memberships: Memberships | None = None) -> Router:
    router = Router(name="clinic")
    access = ClinicAccess(settings.clinics.membership_cache_seconds, memberships)
    chat_l10n = clinics.chat_l10n(settings)

    async def may_answer(bot: Bot, repo: Repositories, user_id: int, clinic_id: int, chat_id: int) -> bool:
        """Staff of that clinic; in its linked chat also the chat's administrators, and every member only when
        clinics.members_may_answer opens it: a plain member must not publish in the clinic's name by default."""
        if not await access.may_answer(bot, repo, user_id, clinic_id, chat_id):
            return False
        if settings.clinics.members_may_answer or await repo.staff.has_role(user_id, Role.CLINIC_STAFF, clinic_id):
            return True
        try:
            member = await bot.get_chat_member(chat_id, user_id)
        except TelegramAPIError:
            return False
        return isinstance(member, ChatMemberOwner | ChatMemberAdministrator)

    def words_for(chat_type: str | None, l10n: L10n) -> L10n:
        """In a clinic's group the chat's language; in a private chat the person's own."""
        return l10n if chat_type == "private" else chat_l10n

    @router.message(GroupChat(), Command("link"))
    async def link(message: Message, command: CommandObject, repo: Repositories, now: datetime) -> None:
        if not command.args:
            await message.reply(chat_l10n("link.usage"))
            return
        try:
            clinic = await clinics.link_chat(repo, command.args, message.chat.id, message.from_user.id, now, settings)
        except clinics.Refused as refusal:
            await message.reply(chat_l10n(refusal.key, **refusal.values))
            return
        await message.reply(chat_l10n("link.done", clinic=html.escape(name_in(clinic, chat_l10n.language)),
                                      days=chat_l10n.count("working_days", settings.clinics.answer_working_days)))

    @router.message(Command("link"), PrivateChat())
    async def link_in_private(message: Message, l10n: L10n) -> None:
        await message.answer(l10n("link.only_in_group"))

    @router.callback_query(ClinicAnswerV1.filter())
    async def answer_pressed(query: CallbackQuery, callback_data: ClinicAnswerV1, bot: Bot, repo: Repositories,
                             state: FSMContext, l10n: L10n) -> None:
        chat = query.message.chat if query.message is not None else None
        words = words_for(chat.type if chat else None, l10n)
        review = await repo.reviews.get(callback_data.review_id)
        # Never trusted: the review must have been given to a clinic the person answers for, here.
        if (chat is None or review is None or not await clinics.was_posted(repo, review.id)
                or not await may_answer(bot, repo, query.from_user.id, review.clinic_id, chat.id)):
            await query.answer(words("clinic_answer.refused"), show_alert=True)
            return
        if review.status == ReviewStatus.WITHDRAWN:  # the post stays in the chat after its author withdrew it
            await query.answer(words("clinic_answer.withdrawn", review=clinics.review_label(words, review, settings)),
                               show_alert=True)
            return
        await state.set_state(ClinicAnswer.writing)
        await state.set_data({"review_id": review.id})
        await query.answer()
        hears = await clinics.author_hears(repo, review)
        prompt = words(clinics.unsent("clinic_answer.prompt", hears), name=html.escape(query.from_user.full_name),
                       review=clinics.review_label(words, review, settings), limit=clinics.ANSWER_MAX_CHARS)
        if (earlier := await clinics.earlier_answer(repo, review)) is not None:
            # Said, so that a colleague does not send the author a second answer believing there was none; one that
            # is meant (a correction, an addition) is still taken.
            prompt += "\n\n" + words(clinics.unsent("clinic_answer.answered_before", hears),
                                      date=earlier.created_at.astimezone(settings.zone).strftime("%d.%m.%Y"))
        await bot.send_message(chat.id, prompt)

    @router.message(StateFilter(ClinicAnswer.writing), Command("cancel"))
    async def cancel(message: Message, state: FSMContext, l10n: L10n) -> None:
        await state.clear()
        await message.reply(words_for(message.chat.type, l10n)("clinic_answer.cancelled"))

    @router.message(StateFilter(ClinicAnswer.writing), HasText())
    async def answer_written(message: Message, state: FSMContext, bot: Bot, repo: Repositories, l10n: L10n,
                             now: datetime, after_commit: AfterCommit) -> None:
        words = words_for(message.chat.type, l10n)
        text = message.text.strip()
        data = await state.get_data()
        other = replied_post(message)
        if other is not None and other != data.get("review_id"):
            # Telegram's Reply on another review's post: meant for that one, never stored under this one.
            review = await repo.reviews.get(data.get("review_id", 0))
            label = clinics.review_label(words, review, settings) if review else ""
            await message.reply(words("clinic_answer.other_post", review=label))
            return
        if (length := await refused_length(state, message, clinics.ANSWER_MAX_CHARS)) is not None:
            await message.reply(words("clinic_answer.too_long", length=length, limit=clinics.ANSWER_MAX_CHARS))
            return  # still writing: a shorter text is the answer
        await state.clear()
        review = await repo.reviews.get(data.get("review_id", 0))
        # Checked again: the role may have been revoked, or the person may have left the chat, since the press.
        if review is None or not await may_answer(bot, repo, message.from_user.id, review.clinic_id,
                                                  message.chat.id):
            await message.reply(words("clinic_answer.refused"))
            return
        if review.status == ReviewStatus.WITHDRAWN:  # withdrawn while the answer was being written
            await message.reply(words("clinic_answer.withdrawn", review=clinics.review_label(words, review, settings)))
            return
        response = await moderation_queue.answer_given(repo, review, message.from_user.id, text, now=now,
                                                       settings=settings)
        key = "clinic_answer.published" if response.public_status == PublicStatus.PUBLISHED else "clinic_answer.held"
        key = clinics.unsent(key, await clinics.author_hears(repo, review))
        reply = words(key, review=clinics.review_label(words, review, settings))
        if response.public_text is not None and response.public_text != text:
            # Told, so that the staff know the resident will not see a number they wrote (their own clinic's
            # published number stays).
            reply += "\n" + words("case_clinic.masked")
        if message.chat.type != "private":
            # Remembered, so that a correction made to it with Telegram's edit is answered: it cannot change what
            # the resident already got, or what the moderator was given.
            await state.set_data({"answered": {"message_id": message.message_id, "review_id": review.id,
                                               "published": response.public_status == PublicStatus.PUBLISHED}})
        after_commit(partial(message.reply, reply))  # "published" is a stored fact: said once it is committed

    @router.edited_message(GroupChat(), HasText())
    async def answer_edited(message: Message, state: FSMContext, l10n: L10n) -> None:
        answered = (await state.get_data()).get("answered") or {}
        if answered.get("message_id") != message.message_id:
            raise SkipHandler
        key = "clinic_answer.edit_not_applied" if answered.get("published") else "clinic_answer.edit_not_applied_held"
        await message.reply(words_for(message.chat.type, l10n)(key))

    @router.message(GroupChat(), ChatMigrated())
    async def group_upgraded(message: Message, bot: Bot, repo: Repositories, now: datetime,
                             fsm_storage: BaseStorage) -> None:
        # Telegram's two service messages of an upgrade to a supergroup, one in each chat: whichever comes first
        # moves the link, and the conversations begun in the group with it (an answer asked for just before is
        # sent in the supergroup, under its new id). In this update's transaction, or at once when Redis keeps them.
        old, new = ((message.chat.id, message.migrate_to_chat_id) if message.migrate_to_chat_id
                    else (message.migrate_from_chat_id, message.chat.id))
        await clinic_links.chat_moved(repo, old, new, now)
        await move_chat_conversations(fsm_storage, bot.id, old, new)

    @router.message(StateFilter(ClinicAnswer.writing), HasEvidence())
    async def file_for_answer(message: Message, l10n: L10n) -> None:
        # The answer is published on the clinic's page and sent to the resident as text: a file would be lost.
        await message.reply(words_for(message.chat.type, l10n)("clinic_answer.text_only"))

    @router.message(GroupChat(), StateFilter(None), HasText())
    async def reply_on_post(message: Message, state: FSMContext, bot: Bot, repo: Repositories, l10n: L10n) -> None:
        # Telegram's Reply on a post, the way people answer in a chat: the staff are told how the resident gets an
        # answer, instead of believing they answered; once a post and person, so that colleagues talking under it
        # are not told again and again. Others' replies there are the chat's own conversation.
        review_id = replied_post(message)
        review = await repo.reviews.get(review_id) if review_id is not None else None
        told = list((await state.get_data()).get("told_how_to_answer") or [])
        if review is None or review.id in told or not await may_answer(bot, repo, message.from_user.id,
                                                                      review.clinic_id, message.chat.id):
            raise SkipHandler
        await state.update_data(told_how_to_answer=[*told, review.id][-20:])
        words = words_for(message.chat.type, l10n)
        await message.reply(words("clinic_answer.press_answer", review=clinics.review_label(words, review, settings)))

    @router.message(Command("reviews"), GroupChat())
    async def staff_reviews_in_group(message: Message, repo: Repositories, l10n: L10n) -> None:
        # The list is the person's own (every clinic they answer for): given in private, never to the group. Said
        # in a clinic's own group; elsewhere (the office's chat) the command is not the clinics'.
        if await repo.clinics.chat(message.chat.id) is None:
            raise SkipHandler
        await message.reply(words_for(message.chat.type, l10n)("staff_reviews.in_private"))

    @router.message(Command("reviews"), PrivateChat())
    async def staff_reviews(message: Message, repo: Repositories, l10n: L10n) -> None:
        listing = await clinics.staff_listing(repo, message.from_user.id, l10n, settings)
        if listing is None:
            await message.answer(l10n("staff_reviews.refused"))
            return
        buttons = [[InlineKeyboardButton(text=label, callback_data=ClinicAnswerV1(review_id=review_id).pack())]
                   for label, review_id in listing.buttons]
        await message.answer(listing.text, reply_markup=InlineKeyboardMarkup(inline_keyboard=buttons) if buttons
                             else None)

    return router
