"""The prosecutor's chat: card buttons, deliberate answers (write → preview → Send), internal notes, take-over,
forwarding, /cases, /case and /help; only members of the chat or holders of the role may act."""

from __future__ import annotations

import asyncio
import html
import logging
from datetime import datetime
from functools import partial

from aiogram import Bot, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.filters import Command, CommandObject, ExceptionTypeFilter, Filter, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import (
    CallbackQuery,
    ChatMemberAdministrator,
    ChatMemberOwner,
    ErrorEvent,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from aiogram.types import User as TelegramUser

from bot.callbacks import (
    AlertAction,
    AlertActionV1,
    CaseDraftV1,
    CaseForwardV1,
    CaseListV1,
    CaseNoteV1,
    CaseTakeOverV1,
    CaseTemplateV1,
    DraftAction,
)
from bot.cases import actions, lists, templates
from bot.cases import cards as alerts
from bot.cases.cards import OPEN_STATUSES, CaseView
from bot.cases.deadlines import local_date
from bot.config import Settings
from bot.filters import HasText, InChat
from bot.keyboards import name_in
from bot.l10n import translator
from bot.services import text_language
from bot.services.access import Memberships, MembershipUnknown, ProsecutorAccess
from bot.services.outbox import shown_card
from bot.services.reviews import work_calendar
from bot.states import ProsecutorInput
from bot.unit_of_work import AfterCommit
from handlers.long_texts import refused_length
from storage.repositories import Repositories

log = logging.getLogger(__name__)

WRITING = {AlertAction.ASK: ProsecutorInput.ask, AlertAction.CLOSE: ProsecutorInput.close,
           AlertAction.REJECT: ProsecutorInput.reject, AlertAction.EXTEND: ProsecutorInput.extend}
TEXT_PART = 3500
WORDS_LIMIT = 3500  # the resident's notice adds a header; Telegram takes 4096 characters
NOTES_KEPT = 10  # replies offered as notes, per person, that can still be saved
# An officer's draft forgotten (sent, cancelled, or the case closed meanwhile): every field a draft keeps.
NO_DRAFT = {"action": None, "case_id": None, "words": None, "words_message": None, "file": None,
            "answers_before": None}
# The bot's messages in the chat that are about one case: its card, its evidence, and what the resident sent or did
# (answers, additions, a withdrawal). A Reply on any of them is talk about that case, never a word to the resident.
CASE_MESSAGE_KINDS = ("alert", "alert_media", "resident_reply")


async def forget_draft(state: FSMContext) -> None:
    """The officer's draft is over (sent, cancelled, refused, or overtaken): no step waits, no field is left."""
    await state.set_state(None)
    await state.update_data(**NO_DRAFT)


class RepliesToSomething(Filter):
    async def __call__(self, message: Message) -> bool:
        return message.reply_to_message is not None


class HasDocumentOrPhoto(Filter):
    """What an answer may carry besides its text."""

    async def __call__(self, message: Message) -> bool:
        return message.document is not None or bool(message.photo)


async def refresh_card(bot: Bot, view: CaseView, text: str, settings: Settings, chat_id: int,
                       message_id: int) -> None:
    """Show the new status and assignee on the card (`text` from lists.office_card_text, read before the commit);
    an old or deleted card is not worth failing for."""
    l10n = alerts.chat_l10n(settings)
    try:
        await bot.edit_message_text(text, chat_id=chat_id, message_id=message_id,
                                    reply_markup=alerts.card_keyboard(view, l10n))
    except TelegramBadRequest as error:
        log.info("card %s of %s not edited: %s", message_id, view.review.reference, error)


def _drop_buttons(message: Message | None):
    async def drop() -> None:
        if message is None:
            return
        try:
            await message.edit_reply_markup(reply_markup=None)
        except TelegramBadRequest:
            pass  # already without buttons, or too old to edit

    return drop


def make_router(settings: Settings, memberships: Memberships | None = None) -> Router:
    router = Router(name="prosecutor")
    access = ProsecutorAccess(settings.prosecutor.chat_id, settings.prosecutor.membership_cache_seconds, memberships)
    # Every message handler here is for the office's chat: one check of the router spares every other chat's
    # messages (all of the residents') the checks of each handler's filters.
    router.message.filter(InChat(settings.prosecutor.chat_id))
    l10n = alerts.chat_l10n(settings)
    office = settings.prosecutor.chat_id

    async def allowed(bot: Bot, repo: Repositories, person: TelegramUser, now: datetime) -> bool:
        """A member of the office's chat or the role; remembered by name for cards and history."""
        if not await access.allowed(bot, repo, person.id):
            return False
        await actions.remember_person(repo, person.id, person.full_name, person.username, now)
        return True

    async def pressed_in_office(query: CallbackQuery, bot: Bot, repo: Repositories, now: datetime) -> bool:
        # Buttons act only under the office's own messages: a copy forwarded elsewhere, or forged data, does nothing.
        in_office_chat = query.message is not None and query.message.chat.id == office
        try:
            if not in_office_chat or not await allowed(bot, repo, query.from_user, now):
                await query.answer(l10n("alert.refused"), show_alert=True)
                return False
        except MembershipUnknown:
            await query.answer(l10n("alert.membership_unknown"), show_alert=True)
            return False
        return True

    async def card_message_of(repo: Repositories, view: CaseView) -> int | None:
        # A case still shown only inside a burst list has no card to edit: the list is not turned into one.
        return shown_card(await repo.outbox.card_of(view.review.id, office)) if office is not None else None

    async def refresh_known(bot: Bot, repo: Repositories, view: CaseView, *also: int | None):
        """What to send after the commit (never a query then): the case's card, and the message the button was
        under if it is another, show the change."""
        targets = {message_id for message_id in (await card_message_of(repo, view), *also) if message_id}
        text = await lists.office_card_text(repo, view, l10n, settings) if targets else ""

        async def send() -> None:
            for message_id in sorted(targets):
                await refresh_card(bot, view, text, settings, office, message_id)

        return send

    def language_of(view: CaseView) -> str:
        return l10n(f"case_language.{view.review.language}")

    def draft_keyboard(case_id: int) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup(inline_keyboard=[[
            InlineKeyboardButton(text=l10n(f"case_draft.button_{action.value}"),
                                 callback_data=CaseDraftV1(case_id=case_id, action=action).pack())
            for action in (DraftAction.SEND, DraftAction.EDIT, DraftAction.CANCEL)]])

    def templates_keyboard(case_id: int) -> InlineKeyboardMarkup | None:
        rows = [[InlineKeyboardButton(text=template.titles[l10n.language], callback_data=CaseTemplateV1(
            case_id=case_id, template=template.id).pack())] for template in templates.answer_templates()]
        return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None

    async def posts_anonymously(bot: Bot, person: TelegramUser) -> bool:
        """An administrator with "Remain anonymous" on: presses come from them, messages from the group itself, so
        their words would be taken by no draft."""
        try:
            member = await bot.get_chat_member(office, person.id)
        except TelegramAPIError:
            return False
        return isinstance(member, ChatMemberAdministrator | ChatMemberOwner) and bool(member.is_anonymous)

    async def prompt_for_words(message: Message, view: CaseView, action: AlertAction, person: TelegramUser,
                               bot: Bot) -> None:
        text = l10n(f"case_draft.prompt_{action.value}", name=html.escape(person.full_name),
                    reference=view.review.reference, language=language_of(view))
        if await posts_anonymously(bot, person):
            text += "\n\n" + l10n("case_draft.anonymous_admin")
        markup = templates_keyboard(view.case.id) if action == AlertAction.CLOSE else None
        await message.answer(text, reply_markup=markup)

    async def show_preview(bot: Bot, chat_id: int, view: CaseView, data: dict) -> None:
        """Exactly what the resident will receive, with the appeal's language and a reminder to answer in it."""
        await bot.send_message(chat_id, l10n("case_draft.preview_head", reference=view.review.reference,
                                             language=language_of(view)))
        # The law wants the answer in the appeal's language: words plainly in another are pointed out before Send
        # (short words, names and mixed texts are not judged; the officer decides).
        # Told as the appeal's own language is (official Russian's words are all in the dictionary, everyday or not;
        # the appeal's language when unsure). A dictionary looks up each word: in a worker thread, off the loop.
        written = await asyncio.to_thread(text_language.written_in, data["words"], view.review.language)
        if written != view.review.language:
            await bot.send_message(chat_id, l10n("case_draft.language_mismatch", written=l10n(
                f"case_language.{written}"), language=language_of(view)))
        attachment = data.get("file")
        if attachment:
            caption = alerts_caption(view)
            send = bot.send_photo if attachment["kind"] == "photo" else bot.send_document
            await send(chat_id, attachment["file_id"], caption=caption)
        preview = actions.resident_preview(view, data["action"], data["words"], settings)
        await bot.send_message(chat_id, preview, reply_markup=draft_keyboard(view.case.id))

    def alerts_caption(view: CaseView) -> str:
        return translator()[view.review.language]("case_notify.attachment", reference=view.review.reference)

    # --- The card's buttons -------------------------------------------------------------------------------

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
            await prompt_for_words(query.message, view, action, query.from_user, bot)
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
            after_commit(_drop_buttons(query.message))
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
            after_commit(_drop_buttons(query.message))
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
        after_commit(_drop_buttons(query.message))
        after_commit(partial(query.message.answer, l10n("case_forward.done", reference=view.review.reference,
                                                        destination=destination)))
        after_commit(await refresh_known(bot, repo, view))

    # --- Writing to the resident: words → preview → Send / Edit / Cancel ------------------------------------

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
        await show_preview(bot, query.message.chat.id, view, data)

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
                            words: str, attachment: dict | None, replaces: bool = False) -> None:
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
        await state.update_data(words=data["words"], words_message=given_by)
        await state.set_state(ProsecutorInput.preview)
        await show_preview(bot, message.chat.id, await alerts.load(repo, case), data)

    @router.edited_message(InChat(settings.prosecutor.chat_id), StateFilter(ProsecutorInput.preview))
    async def words_edited(message: Message, state: FSMContext, bot: Bot, repo: Repositories) -> None:
        # The officer corrects the message that gave the draft's words (a text, or a file's caption) before
        # pressing Send: the draft follows (else Send would send the words they corrected), and the preview is
        # shown again. Only that message, for the draft of its own case.
        data = await state.get_data()
        given_by = data.get("words_message") or {}
        words = (message.text or message.caption or "").strip()
        if given_by != {"message_id": message.message_id, "case_id": data.get("case_id")} or not words:
            return
        if len(words) > WORDS_LIMIT:
            await message.reply(l10n("case_draft.too_long", length=len(words), limit=WORDS_LIMIT))
            return
        case = await repo.reviews.case(data.get("case_id") or 0)
        if case is None or case.status not in OPEN_STATUSES:
            return
        await state.update_data(words=words)
        await show_preview(bot, message.chat.id, await alerts.load(repo, case), {**data, "words": words})

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
            after_commit(_drop_buttons(query.message))
            after_commit(partial(query.message.answer, l10n("case_draft.cancelled")))
            return
        if callback_data.action == DraftAction.EDIT:
            await state.set_state(WRITING[action])
            await state.update_data(words=None, words_message=None)
            await query.answer()
            await query.message.edit_reply_markup(reply_markup=None)
            await query.message.answer(l10n("case_draft.edit"))
            return
        case = await repo.reviews.case(callback_data.case_id)
        if (case is not None and data.get("answers_before") is not None
                and await actions.answers_given(repo, case.review_id) != data["answers_before"]):
            await forget_draft(state)
            reference = (await repo.reviews.get(case.review_id)).reference
            await query.answer(l10n("case_draft.overtaken", reference=reference), show_alert=True)
            after_commit(_drop_buttons(query.message))
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
        after_commit(_drop_buttons(query.message))
        after_commit(partial(query.message.answer, l10n(f"alert.done_{action.value}",
                                                        reference=view.review.reference)))
        after_commit(await refresh_known(bot, repo, view, data.get("card_message")))

    # --- Discussion: a reply to a card is never an answer; it may be kept as an internal note ---------------

    @router.message(RepliesToSomething(), HasText())
    async def reply_to_card(message: Message, bot: Bot, repo: Repositories, state: FSMContext,
                            now: datetime) -> None:
        card = await repo.outbox.by_sent_message(message.chat.id, message.reply_to_message.message_id)
        if card is None or card.kind not in CASE_MESSAGE_KINDS or card.review_id is None:
            return  # an ordinary conversation in the chat
        if not await allowed(bot, repo, message.from_user, now):
            return  # discussion among others: nothing to offer
        case = await repo.reviews.case_of(card.review_id)
        if case is None:
            return
        notes = dict((await state.get_data()).get("notes") or {})
        notes[str(message.message_id)] = message.text.strip()[:WORDS_LIMIT]
        await state.update_data(notes=dict(list(notes.items())[-NOTES_KEPT:]))
        markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
            text=l10n("case_note.button"), callback_data=CaseNoteV1(case_id=case.id,
                                                                    message_id=message.message_id).pack())]])
        await message.reply(l10n("case_note.offer"), reply_markup=markup)

    @router.callback_query(CaseNoteV1.filter())
    async def save_note(query: CallbackQuery, callback_data: CaseNoteV1, bot: Bot, repo: Repositories,
                        state: FSMContext, now: datetime, after_commit: AfterCommit) -> None:
        if not await pressed_in_office(query, bot, repo, now):
            return
        notes = dict((await state.get_data()).get("notes") or {})
        text = notes.pop(str(callback_data.message_id), None)
        if text is None:  # someone else's reply, or saved already
            await query.answer(l10n("case_note.gone"), show_alert=True)
            return
        try:
            view = await actions.note(repo, callback_data.case_id, query.from_user.id, text, now)
        except actions.CaseActionRefused as refusal:
            await query.answer(l10n(refusal.key, **refusal.values), show_alert=True)
            return
        await state.update_data(notes=notes)
        await query.answer()
        after_commit(partial(query.message.edit_text, l10n("case_note.saved", reference=view.review.reference,
                                                           name=html.escape(query.from_user.full_name))))

    # --- Lists, one case, help ------------------------------------------------------------------------------

    @router.errors(ExceptionTypeFilter(MembershipUnknown))
    async def membership_unknown(event: ErrorEvent) -> None:
        """A command in the office's chat (/cases, /case, /help, /stats, /export) from someone Telegram could not be
        asked about just now: told so, as a press is, instead of the silence of an error only logged."""
        message = event.update.message
        if message is None or message.chat.id != office:
            raise SkipHandler  # another chat's: the catch-all's generic apology
        await message.answer(l10n("alert.membership_unknown"))

    @router.message(Command("help"))
    async def office_help(message: Message, bot: Bot, repo: Repositories, now: datetime) -> None:
        if not await allowed(bot, repo, message.from_user, now):
            return
        await message.answer(l10n("case_office.help",
                                  days=l10n.count("working_days", settings.prosecutor.remind_days_before)))

    @router.message(Command("cases"))
    async def list_cases(message: Message, command: CommandObject, bot: Bot, repo: Repositories,
                         now: datetime) -> None:
        if not await allowed(bot, repo, message.from_user, now):
            return
        text, markup = await lists.list_page(repo, settings, command.args, 0, message.from_user.id,
                                             local_date(now, settings.zone))
        await message.answer(text, reply_markup=markup)

    @router.callback_query(CaseListV1.filter())
    async def list_turned(query: CallbackQuery, callback_data: CaseListV1, bot: Bot, repo: Repositories,
                          now: datetime) -> None:
        if not await pressed_in_office(query, bot, repo, now):
            return
        await query.answer()
        text, markup = await lists.list_page(repo, settings, callback_data.query.replace("=", ":"),
                                             max(callback_data.page, 0), query.from_user.id,
                                             local_date(now, settings.zone))
        await query.message.edit_text(text, reply_markup=markup)

    @router.message(Command("case"))
    async def one_case(message: Message, command: CommandObject, bot: Bot, repo: Repositories,
                       now: datetime) -> None:
        if not await allowed(bot, repo, message.from_user, now):
            return
        if not command.args:
            await message.answer(l10n("cases.usage"))
            return
        if lists.phone_digits(command.args):  # a phone number names a person, not one case: their appeals, listed
            text, markup = await lists.list_page(repo, settings, f"all {command.args}", 0, message.from_user.id,
                                                 local_date(now, settings.zone))
            await message.answer(text, reply_markup=markup)
            return
        text, markup = await lists.one_case(repo, settings, command.args, local_date(now, settings.zone))
        await message.answer(text, reply_markup=markup)

    return router
