"""An officer's answer to the resident, written deliberately: the words (typed, a template, or a file's caption, with
the act attached), the preview of exactly what the resident will get, and Send / Edit / Cancel."""

from __future__ import annotations

import asyncio
import html
from datetime import datetime
from functools import partial

from aiogram import Bot, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, Filter, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import (
    CallbackQuery,
    ChatMemberAdministrator,
    ChatMemberOwner,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from aiogram.types import User as TelegramUser

from bot.callbacks import AlertAction, CaseDraftV1, CaseTemplateV1, DraftAction
from bot.cases import actions, templates
from bot.cases import cards as alerts
from bot.cases.cards import OPEN_STATUSES, CaseView
from bot.filters import HasText, InChat
from bot.l10n import translator
from bot.services import text_language
from bot.services.access import MembershipUnknown
from bot.states import ProsecutorInput
from bot.unit_of_work import AfterCommit
from handlers.long_texts import refused_length
from handlers.prosecutor.chat import CASE_MESSAGE_KINDS, WORDS_LIMIT, OfficeChat, drop_buttons
from storage.repositories import Repositories

WRITING = {AlertAction.ASK: ProsecutorInput.ask, AlertAction.CLOSE: ProsecutorInput.close,
           AlertAction.REJECT: ProsecutorInput.reject, AlertAction.EXTEND: ProsecutorInput.extend}
# An officer's draft forgotten (sent, cancelled, or the case closed meanwhile): every field a draft keeps.
NO_DRAFT = {"action": None, "case_id": None, "words": None, "words_message": None, "file": None,
            "answers_before": None, "words_parts": None, "preview_message": None}
PARTS_JOINED_BY = "\n\n"  # a text sent after the preview joins the draft as a paragraph of its own


def draft_parts(data: dict) -> list[list]:
    """The draft's words as [message id, text] parts, in order: the one message (or template, id None) that gave
    them, and the texts sent after the preview that joined it. An edit of any of those messages changes its part."""
    if data.get("words_parts"):
        return [list(part) for part in data["words_parts"]]
    return [[(data.get("words_message") or {}).get("message_id"), data.get("words") or ""]]


async def forget_draft(state: FSMContext) -> None:
    """The officer's draft is over (sent, cancelled, refused, or overtaken): no step waits, no field is left."""
    await state.set_state(None)
    await state.update_data(**NO_DRAFT)


class HasDocumentOrPhoto(Filter):
    """What an answer may carry besides its text."""

    async def __call__(self, message: Message) -> bool:
        return message.document is not None or bool(message.photo)


def language_of(office_chat: OfficeChat, view: CaseView) -> str:
    return office_chat.l10n(f"case_language.{view.review.language}")


def draft_keyboard(office_chat: OfficeChat, case_id: int) -> InlineKeyboardMarkup:
    l10n = office_chat.l10n
    return InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text=l10n(f"case_draft.button_{action.value}"),
                             callback_data=CaseDraftV1(case_id=case_id, action=action).pack())
        for action in (DraftAction.SEND, DraftAction.EDIT, DraftAction.CANCEL)]])


def templates_keyboard(office_chat: OfficeChat, case_id: int) -> InlineKeyboardMarkup | None:
    rows = [[InlineKeyboardButton(text=template.titles[office_chat.l10n.language], callback_data=CaseTemplateV1(
        case_id=case_id, template=template.id).pack())] for template in templates.answer_templates()]
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


async def posts_anonymously(office_chat: OfficeChat, bot: Bot, person: TelegramUser) -> bool:
    """An administrator with "Remain anonymous" on: presses come from them, messages from the group itself, so
    their words would be taken by no draft."""
    try:
        member = await bot.get_chat_member(office_chat.office, person.id)
    except TelegramAPIError:
        return False
    return isinstance(member, ChatMemberAdministrator | ChatMemberOwner) and bool(member.is_anonymous)


async def prompt_for_words(office_chat: OfficeChat, message: Message, view: CaseView, action: AlertAction,
                           person: TelegramUser, bot: Bot) -> None:
    """Asked on the card's button (Answer, Ask, Reject, Extend): the words next, in the appeal's language."""
    l10n = office_chat.l10n
    text = l10n(f"case_draft.prompt_{action.value}", name=html.escape(person.full_name),
                reference=view.review.reference, language=language_of(office_chat, view))
    if await posts_anonymously(office_chat, bot, person):
        text += "\n\n" + l10n("case_draft.anonymous_admin")
    markup = templates_keyboard(office_chat, view.case.id) if action == AlertAction.CLOSE else None
    await message.answer(text, reply_markup=markup)


async def show_preview(office_chat: OfficeChat, bot: Bot, chat_id: int, view: CaseView, data: dict,
                       state: FSMContext) -> None:
    """Exactly what the resident will receive, with the appeal's language and a reminder to answer in it. The
    preview shown before (the draft has changed since) loses its buttons: Send under it would send other words."""
    l10n = office_chat.l10n
    await bot.send_message(chat_id, l10n("case_draft.preview_head", reference=view.review.reference,
                                         language=language_of(office_chat, view)))
    # The law wants the answer in the appeal's language: words plainly in another are pointed out before Send
    # (short words, names and mixed texts are not judged; the officer decides).
    # Told as the appeal's own language is (official Russian's words are all in the dictionary, everyday or not;
    # the appeal's language when unsure). A dictionary looks up each word: in a worker thread, off the loop.
    written = await asyncio.to_thread(text_language.written_in, data["words"], view.review.language)
    if written != view.review.language:
        await bot.send_message(chat_id, l10n("case_draft.language_mismatch", written=l10n(
            f"case_language.{written}"), language=language_of(office_chat, view)))
    attachment = data.get("file")
    if attachment:
        caption = alerts_caption(view)
        send = bot.send_photo if attachment["kind"] == "photo" else bot.send_document
        await send(chat_id, attachment["file_id"], caption=caption)
    preview = actions.resident_preview(view, data["action"], data["words"], office_chat.settings)
    shown = await bot.send_message(chat_id, preview, reply_markup=draft_keyboard(office_chat, view.case.id))
    if (earlier := (await state.get_data()).get("preview_message")) is not None:
        try:
            await bot.edit_message_reply_markup(chat_id=chat_id, message_id=earlier, reply_markup=None)
        except TelegramAPIError:
            pass  # already without buttons, too old to edit, or not now: Send under it is refused anyway
    await state.update_data(preview_message=shown.message_id)


def alerts_caption(view: CaseView) -> str:
    return translator()[view.review.language]("case_notify.attachment", reference=view.review.reference)


def register(router: Router, office_chat: OfficeChat) -> None:
    settings, l10n = office_chat.settings, office_chat.l10n
    allowed, pressed_in_office = office_chat.allowed, office_chat.pressed_in_office

    @router.callback_query(CaseTemplateV1.filter())
    async def template_chosen(query: CallbackQuery, callback_data: CaseTemplateV1, bot: Bot, repo: Repositories,
                              state: FSMContext, now: datetime) -> None:
        if not await pressed_in_office(query, bot, repo, now):
            return
        data = await state.get_data()
        chosen = templates.template(callback_data.template)
        if (await state.get_state() != ProsecutorInput.close.state or data.get("case_id") != callback_data.case_id
                or chosen is None):
            await query.answer(l10n("case_draft.stale"), show_alert=True)
            return
        case = await repo.reviews.case(callback_data.case_id)
        if case is None or case.status not in OPEN_STATUSES:  # a colleague answered it meanwhile
            await forget_draft(state)
            await query.answer(l10n("cases.already_closed"), show_alert=True)
            return
        view = await alerts.load(repo, case)
        await query.answer()
        # In the appeal's language, whatever the chat's: the law wants the answer in it.
        data.update(words=chosen.texts[view.review.language])
        await state.set_state(ProsecutorInput.preview)
        await state.update_data(words=data["words"], words_message=None)  # a template's words: no message gave them
        await show_preview(office_chat, bot, query.message.chat.id, view, data, state)

    @router.message(Command("cancel"))
    async def cancel(message: Message, state: FSMContext) -> None:
        await forget_draft(state)
        await message.reply(l10n("case_draft.cancelled"))

    @router.message(StateFilter(ProsecutorInput.ask, ProsecutorInput.close, ProsecutorInput.reject,
                                ProsecutorInput.extend), HasText())
    async def words_given(message: Message, state: FSMContext, bot: Bot, repo: Repositories, now: datetime) -> None:
        if message.reply_to_message is not None:
            card = await repo.outbox.by_sent_message(message.chat.id, message.reply_to_message.message_id)
            case = await repo.reviews.case((await state.get_data()).get("case_id") or 0)
            if (card is not None and card.kind in CASE_MESSAGE_KINDS and case is not None
                    and card.review_id != case.review_id):
                raise SkipHandler  # a remark on another case's card is discussion, never this draft's words
        if (length := await refused_length(state, message, WORDS_LIMIT)) is not None:
            await message.reply(l10n("case_draft.too_long", length=length, limit=WORDS_LIMIT))
            return
        await words_or_file(message, state, bot, repo, now, message.text.strip(), None)

    @router.message(StateFilter(ProsecutorInput.preview), HasText())
    async def words_added(message: Message, state: FSMContext, bot: Bot, repo: Repositories, now: datetime) -> None:
        # A text the officer sends once the preview is shown is most likely the rest of the answer: it joins the
        # draft, with a fresh preview (else Send gave the resident the first part, and the officer believed all went).
        # A Reply to anything but the preview is discussion, offered as a note (notes.reply_to_card).
        data = await state.get_data()
        if message.reply_to_message is not None and message.reply_to_message.message_id != data.get(
                "preview_message"):
            raise SkipHandler
        if (length := await refused_length(state, message, WORDS_LIMIT)) is not None:
            await message.reply(l10n("case_draft.too_long", length=length, limit=WORDS_LIMIT))
            return
        parts = [*draft_parts(data), [message.message_id, message.text.strip()]]
        words = PARTS_JOINED_BY.join(text for _, text in parts)
        if len(words) > WORDS_LIMIT:
            await message.reply(l10n("case_draft.added_too_long", length=len(words), limit=WORDS_LIMIT))
            return
        await words_or_file(message, state, bot, repo, now, words, None, parts=parts)

    @router.message(StateFilter(ProsecutorInput.close, ProsecutorInput.preview), HasDocumentOrPhoto())
    async def file_given(message: Message, state: FSMContext, bot: Bot, repo: Repositories, now: datetime) -> None:
        data = await state.get_data()
        if await state.get_state() == ProsecutorInput.preview.state and (
                message.media_group_id is None or data.get("file_album") != message.media_group_id):
            if data.get("action") != AlertAction.CLOSE.value or message.media_group_id is not None:
                raise SkipHandler  # a file posted in the chat while the draft is shown: the chat's own conversation
            # Right after the answer's preview, most likely the act meant for it: said not attached, and how, or
            # Send would give the resident the answer without it and the officer believing it went.
            await message.reply(l10n("case_draft.file_after_preview"))
            return
        if message.media_group_id is not None and data.get("file_album") == message.media_group_id:
            # An album's other pages: the answer carries one file (the first, with the caption), said once.
            if not data.get("file_album_told"):
                await state.update_data(file_album_told=True)
                await message.reply(l10n("case_draft.one_file"))
            return
        await state.update_data(file_album=message.media_group_id, file_album_told=False)
        attachment = ({"kind": "photo", "file_id": message.photo[-1].file_id} if message.photo
                      else {"kind": "document", "file_id": message.document.file_id})
        await words_or_file(message, state, bot, repo, now, (message.caption or "").strip(), attachment,
                            replaces=bool(data.get("file")))

    @router.message(StateFilter(ProsecutorInput.ask, ProsecutorInput.reject, ProsecutorInput.extend),
                    HasDocumentOrPhoto())
    async def file_where_text_is_wanted(message: Message, state: FSMContext) -> None:
        # A question, a reason for rejecting or for extending reaches the resident as text: a file would be lost.
        # Said once for an album.
        if message.media_group_id is not None:
            if (await state.get_data()).get("file_album") == message.media_group_id:
                return
            await state.update_data(file_album=message.media_group_id)
        await message.reply(l10n("case_draft.text_only"))

    async def words_or_file(message: Message, state: FSMContext, bot: Bot, repo: Repositories, now: datetime,
                            words: str, attachment: dict | None, replaces: bool = False,
                            parts: list | None = None) -> None:
        try:
            if not await allowed(bot, repo, message.from_user, now):
                await message.reply(l10n("alert.refused"))
                return
        except MembershipUnknown:
            await message.reply(l10n("alert.membership_unknown"))  # the draft waits for the same words again
            return
        data = await state.get_data()
        case = await repo.reviews.case(data.get("case_id") or 0)
        if case is None or case.status not in OPEN_STATUSES:
            await forget_draft(state)
            await message.reply(l10n("cases.already_closed"))
            return
        if len(words) > WORDS_LIMIT:
            await message.reply(l10n("case_draft.too_long", length=len(words), limit=WORDS_LIMIT))
            return
        if attachment is not None:
            await state.update_data(file=attachment)
            data["file"] = attachment
            if replaces:  # one file per answer: the officer who sent two knows which one goes (said once it does)
                await message.reply(l10n("case_draft.file_replaced"))
        if not words and not data.get("words"):
            await message.reply(l10n("case_draft.file_kept"))  # a file alone is no answer: its text comes next
            return
        data["words"] = words or data["words"]
        # Which message gave the words, for this case: a correction of it before Send updates this draft only.
        given_by = {"message_id": message.message_id, "case_id": case.id} if words else data.get("words_message")
        await state.update_data(words=data["words"], words_message=given_by, words_parts=parts)
        if parts is not None:
            await message.reply(l10n("case_draft.added"))
        await state.set_state(ProsecutorInput.preview)
        await show_preview(office_chat, bot, message.chat.id, await alerts.load(repo, case), data, state)

    @router.edited_message(InChat(settings.prosecutor.chat_id), StateFilter(ProsecutorInput.preview))
    async def words_edited(message: Message, state: FSMContext, bot: Bot, repo: Repositories) -> None:
        # The officer corrects the message that gave the draft's words (a text, or a file's caption) before
        # pressing Send: the draft follows (else Send would send the words they corrected), and the preview is
        # shown again. Only that message, for the draft of its own case.
        data = await state.get_data()
        given_by = data.get("words_message") or {}
        edited = (message.text or message.caption or "").strip()
        parts = draft_parts(data)
        mine = [part for part in parts if part[0] == message.message_id]
        if given_by.get("case_id") != data.get("case_id") or not mine or not edited:
            return
        mine[0][1] = edited
        words = PARTS_JOINED_BY.join(text for _, text in parts)
        if len(words) > WORDS_LIMIT:
            await message.reply(l10n("case_draft.too_long", length=len(words), limit=WORDS_LIMIT))
            return
        case = await repo.reviews.case(data.get("case_id") or 0)
        if case is None or case.status not in OPEN_STATUSES:
            return
        await state.update_data(words=words, words_parts=parts if data.get("words_parts") else None)
        await show_preview(office_chat, bot, message.chat.id, await alerts.load(repo, case), {**data, "words": words},
                           state)

    @router.callback_query(CaseDraftV1.filter())
    async def draft_decided(query: CallbackQuery, callback_data: CaseDraftV1, bot: Bot, repo: Repositories,
                            state: FSMContext, now: datetime, after_commit: AfterCommit) -> None:
        if not await pressed_in_office(query, bot, repo, now):
            return
        data = await state.get_data()
        # The draft lives in the presser's own conversation: a colleague's press, or a press after Send, finds none.
        if await state.get_state() != ProsecutorInput.preview.state or data.get("case_id") != callback_data.case_id:
            await query.answer(l10n("case_draft.stale"), show_alert=True)
            return
        action = AlertAction(data["action"])
        if callback_data.action == DraftAction.CANCEL:
            await forget_draft(state)
            await query.answer()
            after_commit(drop_buttons(query.message))
            after_commit(partial(query.message.answer, l10n("case_draft.cancelled")))
            return
        if callback_data.action == DraftAction.EDIT:
            await state.set_state(WRITING[action])
            await state.update_data(words=None, words_message=None, words_parts=None, preview_message=None)
            await query.answer()
            await query.message.edit_reply_markup(reply_markup=None)
            await query.message.answer(l10n("case_draft.edit"))
            return
        if data.get("preview_message") not in (None, query.message.message_id):
            # Send under an earlier preview (pressed before its buttons went): the draft has changed since, and the
            # resident would get words that preview did not show.
            await query.answer(l10n("case_draft.outdated"), show_alert=True)
            return
        case = await repo.reviews.case(callback_data.case_id)
        if (case is not None and data.get("answers_before") is not None
                and await actions.answers_given(repo, case.review_id) != data["answers_before"]):
            await forget_draft(state)
            reference = (await repo.reviews.get(case.review_id)).reference
            await query.answer(l10n("case_draft.overtaken", reference=reference), show_alert=True)
            after_commit(drop_buttons(query.message))
            return
        actor, words = query.from_user.id, data["words"]
        try:
            if action == AlertAction.CLOSE:
                view = await actions.close(repo, callback_data.case_id, actor, words, now, attachment=data.get("file"))
            elif action == AlertAction.ASK:
                view = await actions.ask(repo, callback_data.case_id, actor, words, now)
            elif action == AlertAction.REJECT:
                view = await actions.reject(repo, callback_data.case_id, actor, words, now)
            else:
                view = await actions.extend(repo, callback_data.case_id, actor, words, now, settings)
        except actions.CaseActionRefused as refusal:
            await forget_draft(state)
            await query.answer(l10n(refusal.key, **refusal.values), show_alert=True)
            return
        await forget_draft(state)
        await query.answer()
        after_commit(drop_buttons(query.message))
        after_commit(partial(query.message.answer, l10n(f"alert.done_{action.value}",
                                                        reference=view.review.reference)))
        after_commit(await office_chat.refresh_known(bot, repo, view, data.get("card_message")))

