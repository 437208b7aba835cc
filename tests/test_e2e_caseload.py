"""The office's caseload end to end, the real process over HTTP against the fake Bot API: an ordinary complaint
written in Kazakh is answered in the office's chat (Answer → text → preview → Send), the resident disagrees with a
reason, the case opens again in the chat (marked, with its history), is answered again and closed, and every
notice the resident gets is in Kazakh."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from bot.l10n import Translator
from tests.e2e_support import CHAT, database, load_directory, shown_to, start_bot, webhook_settings
from tests.fakes.fake_api import Call, FakeTelegramAPI
from tests.fakes.process import free_port

RESIDENT, OFFICER = 6101, 7101
T = Translator()
KK, RU = T["kk"], T["ru"]  # the resident's language, and the office chat's (prosecutor.language defaults to ru)
COMPLAINT = "Тіркеу бөлімінде екі сағат кезекте күттім, ешкім ештеңе түсіндірмеді."
FIRST_ANSWER = "Тексеру жүргізілді: кезек туралы дерек расталмады."
REASON = "Мен екі сағат күттім, расталмады деу дұрыс емес."
SECOND_ANSWER = "Қайта тексерілді: кезек ұзақ болғаны расталды, емханаға ескерту жасалды."


@pytest.fixture
async def api():
    fake = FakeTelegramAPI("123456:TEST-token")
    fake.webhook_timeout = 60.0
    async with fake as api:
        yield api


def buttons_of(message: dict) -> list[str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return [button["text"] for row in rows for button in row]


def to_chat(chat_id: int, *words: str):
    """A message the bot sent or edited in the chat, with all the words in its text."""
    def matches(call: Call) -> bool:
        text = call.params.get("text") or ""
        return (call.method in ("sendMessage", "editMessageText") and str(call.params.get("chat_id")) == str(chat_id)
                and all(word in text for word in words))
    return matches


class Person:
    """One person over HTTP, in a chat: a message or a tap, then what the bot shows for it."""

    def __init__(self, api: FakeTelegramAPI, user: int, chat: int | None = None) -> None:
        self.api, self.user, self.chat = api, user, chat if chat is not None else user

    async def _after(self, act, *words: str, count: int = 1) -> dict:
        mark = len(self.api.calls)
        act()
        call = await self.api.wait_for(to_chat(self.chat, *words) if words else shown_to(self.chat), since=mark,
                                       timeout=90, count=count)
        return self.message_of(call)

    def message_of(self, call: Call) -> dict:
        """The message as the chat shows it now (to press its buttons), with the text as the bot sent it ("html")."""
        sent = call.params.get("text") or ""
        visible = html.unescape(re.sub(r"</?[a-z]+[^>]*>", "", sent)).strip()
        if call.method == "editMessageText":
            key = int(call.params["message_id"])
            shown = next(m for m in self.api.bot_messages(self.chat) if m["message_id"] == key)
        else:
            shown = [m for m in self.api.bot_messages(self.chat) if m.get("text") == visible][-1]
        return {**shown, "html": sent}

    async def say(self, text: str, *words: str, count: int = 1) -> dict:
        return await self._after(lambda: self.api.send_text(self.user, text, None if self.chat == self.user
                                                            else self.chat), *words, count=count)

    async def tap(self, button: str, *words: str, message: dict | None = None, count: int = 1) -> dict:
        message = message or self.api.bot_messages(self.chat)[-1]
        return await self._after(lambda: self.api.press(self.user, message, button), *words, count=count)


async def complain_about_17(resident: Person, l10n, clinic_name: str, text: str, full_name: str) -> dict:
    """From /start in the resident's language: a formal complaint about waiting at polyclinic No. 17, with the
    appellant's full name, submitted; returns the receipt."""
    await resident.say("/start")
    await resident.tap(l10n("consent.accept"), l10n("menu.title"))
    await resident.tap(l10n("menu.leave_feedback"))
    await resident.say("17", clinic_name)
    await resident.tap(l10n("target.clinic"))
    await resident.tap(l10n("kind.complaint_about", category=l10n("category.waiting")))
    await resident.tap("3⭐")
    await resident.say(text)
    await resident.tap(l10n("when.today"), count=2)  # the phone keyboard, then the preview
    await resident.say(full_name)  # the appellant's name: a formal appeal
    return await resident.tap(l10n("preview.submit"), "AL-")


def reference_of(text: str) -> str:
    return re.search(r"AL-\d{4}-\d{6}", text).group()


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_a_kazakh_complaint_is_answered_disputed_reopened_and_closed_again_over_http(
        api: FakeTelegramAPI, tmp_path: Path, mode: str) -> None:
    async with database("sqlite", tmp_path) as db:
        load_directory(api, tmp_path, db)
        bot = await start_bot(api, tmp_path, db, **(webhook_settings(free_port()) if mode == "webhook" else {}))
        try:
            api.add_user(RESIDENT, "Айгүл", "kk")
            api.add_user(OFFICER, "Ержан", "ru", username="erzhan_p")
            resident, clerk = Person(api, RESIDENT), Person(api, OFFICER, CHAT)

            # The resident, in Kazakh from the first screen: an ordinary complaint about polyclinic No. 17.
            receipt = await complain_about_17(resident, KK, "№17 қалалық емхана", COMPLAINT, "Серікова Айгүл Бекқызы")
            reference = reference_of(receipt["html"])

            async def send_answer(preview: dict, card: dict, answer: str) -> dict:
                """Send on the preview: the card is edited to show the case closed, and the resident gets the
                answer in Kazakh; returns that message."""
                mark = len(api.calls)
                await clerk.tap(RU("case_draft.button_send"), RU("alert.done_close", reference=reference),
                                message=preview)
                await api.wait_for(lambda c: c.method == "editMessageText" and c.params.get("message_id")
                                   == card["message_id"] and RU("case_status.closed") in c.params.get("text", ""),
                                   since=mark, timeout=90)
                told = resident.message_of(await api.wait_for(to_chat(RESIDENT, answer), since=mark, timeout=90))
                assert told["html"] == KK("notify.answer", reference=reference, answer=answer)
                return told
            assert KK("submitted.title_appeal") in receipt["html"], receipt["html"]
            # Ordinary: no card arrives at once (it would come with the morning's "new appeals").
            assert not [m for m in api.bot_messages(CHAT) if reference in (m.get("text") or "")]

            # The office finds it in its working list and opens it: the card says it is written in Kazakh.
            listing = await clerk.say("/cases", reference)
            assert RU("alert.button_open", reference=reference) in buttons_of(listing)
            card = await clerk.tap(RU("alert.button_open", reference=reference), reference, message=listing)
            assert RU("case_card.language", language=RU("case_language.kk")) in card["html"]
            assert RU("urgency.normal") in card["html"] and COMPLAINT in card["html"]
            assert str(RESIDENT) not in card["html"]

            # Answer → the text → a preview exactly as the resident will read it, in Kazakh → Send.
            await clerk.tap(RU("alert.button_close"), message=card)
            mark = len(api.calls)
            api.send_text(OFFICER, FIRST_ANSWER, CHAT)
            preview_call = await api.wait_for(to_chat(CHAT, FIRST_ANSWER), since=mark, timeout=90)
            head = next(c for c in api.calls[mark:] if to_chat(CHAT, RU("case_language.kk"))(c))
            assert reference in head.params["text"]
            preview = clerk.message_of(preview_call)
            assert preview["html"] == KK("notify.answer", reference=reference, answer=FIRST_ANSWER)
            assert buttons_of(preview) == [RU("case_draft.button_send"), RU("case_draft.button_edit"),
                                           RU("case_draft.button_cancel")]
            # Nothing reached the resident before Send.
            assert not [c for c in api.calls if to_chat(RESIDENT, FIRST_ANSWER)(c)]
            # The card shows the case closed, and the resident gets the answer in Kazakh with their two buttons.
            answer = await send_answer(preview, card, FIRST_ANSWER)
            assert buttons_of(answer) == [KK("case_notify.settled_button"), KK("case_notify.disagree_button")]

            # "I disagree", with a reason: the case opens again.
            prompt = await resident.tap(KK("case_notify.disagree_button"), message=answer)
            assert prompt["html"] == KK("case_resident.disagree_prompt")
            mark = len(api.calls)
            told = await resident.say(REASON, KK("case_resident.reopened", reference=reference))
            # A formal appeal's disagreement is a repeated appeal: its own due date, told with it.
            reopened_line, due_line = told["html"].split("\n")
            assert reopened_line == KK("case_resident.reopened", reference=reference)
            any_day = re.escape(KK("case_resident.reopened_due", due="DUE")).replace("DUE", r"\d\d\.\d\d\.\d{4}")
            assert re.fullmatch(any_day, due_line), due_line
            reopened_told = told["html"]
            # In the office's chat: a new card, marked reopened, with the reason and the history by name.
            reopened_call = await api.wait_for(to_chat(CHAT, reference, RU("case_card.reopened", count=1)),
                                               since=mark, timeout=90)
            reopened = clerk.message_of(reopened_call)
            assert reopened["message_id"] != card["message_id"]
            assert RU("case_office.disagreement", reason=REASON) in reopened["html"]
            assert RU("cases.history") in reopened["html"] and RU("case_history.case.closed") in reopened["html"]
            assert FIRST_ANSWER in reopened["html"] and RU("case_history.case.reopened") in reopened["html"]
            assert "Ержан (@erzhan_p)" in reopened["html"] and str(RESIDENT) not in reopened["html"]
            assert RU("alert.button_close") in buttons_of(reopened)
            # The old answer's buttons change nothing now: the appeal is open again, she is told.
            mark = len(api.calls)
            api.press(RESIDENT, answer, KK("case_notify.settled_button"))
            await api.wait_for(lambda c: c.method == "answerCallbackQuery" and c.params.get("text") == KK(
                "case_resident.disagreed_already", reference=reference), since=mark, timeout=90)
            # Open again, held by the officer who answered.
            assert await db.rows("SELECT status, reopened_count FROM cases") == [("taken", 1)]

            # Answered again on the reopened card, and closed.
            await clerk.tap(RU("alert.button_close"), message=reopened)
            preview = await clerk.say(SECOND_ANSWER, SECOND_ANSWER)
            assert preview["html"] == KK("notify.answer", reference=reference, answer=SECOND_ANSWER)
            second = await send_answer(preview, reopened, SECOND_ANSWER)
            done = await resident.tap(KK("case_notify.settled_button"), KK("case_resident.settled",
                                                                           reference=reference), message=second)
            assert done["html"] == KK("case_resident.settled", reference=reference)
            await db.eventually("SELECT count(*) FROM audit_log WHERE action = 'case.settled'",
                                lambda rows: rows[0][0] == 1)
        finally:
            assert await bot.stop() == 0, bot.output()
        [(status, reopened_count, language)] = await db.rows(
            "SELECT c.status, c.reopened_count, r.language FROM cases c JOIN reviews r ON r.id = c.review_id")
        actions = [row[0] for row in await db.rows("SELECT action FROM audit_log WHERE action LIKE 'case.%' "
                                                   "ORDER BY id")]
    assert (status, reopened_count, language) == ("closed", 1, "kk")
    assert actions == ["case.closed", "case.reopened", "case.closed", "case.settled"]
    # Everything the resident was told after the receipt, each once and in Kazakh.
    told = [c.params["text"] for c in api.calls_of("sendMessage") if str(c.params.get("chat_id")) == str(RESIDENT)]
    after_receipt = told[told.index(receipt["html"]) + 1:]
    assert after_receipt == [
        KK("menu.title"),  # the menu, back under the receipt
        KK("notify.answer", reference=reference, answer=FIRST_ANSWER),
        KK("case_resident.disagree_prompt"),
        reopened_told,
        KK("notify.answer", reference=reference, answer=SECOND_ANSWER),
        KK("case_resident.settled", reference=reference)]
