"""What residents do outside the review conversation that the first build did not plan, found by a tester acting
as them: leaving an answer to the office by another command, opening an appeal a week later in My appeals, a story
typed after looking at the top list, a forged link, a voice note where the reason is asked for."""

from __future__ import annotations

import pytest
from aiogram.methods import SendDocument
from sqlalchemy import select

from bot.l10n import Translator
from bot.services import moderation_queue
from storage.models import Case, Clinic, Doctor, PublicStatus, Response, Review, Role
from storage.repositories import Repositories
from tests.conftest import App
from tests.flows import (
    RU,
    choose_kind,
    clinic_17,
    describe,
    one,
    plain,
    resident,
    submit_quick_review,
    therapist_of,
    to_kind_step,
)
from tests.test_alerts import CHAT, card_in_chat, prosecutor, relay_for, submit_violation, write_and_send

pytestmark = pytest.mark.usefixtures("demo_directory")
T = Translator()
KK = T["kk"]


async def my_card(person, reference: str):
    await person.command("my")
    return await person.press(reference)


# --- My appeals --------------------------------------------------------------------------------------------


async def test_my_appeals_card_never_shows_a_clinic_answer_the_moderator_rejected(app: App) -> None:
    """A polyclinic answered rudely; the moderator rejected the answer (the resident was never sent it). Opening
    the appeal in My appeals must not show the rejected words either."""
    person = await resident(app, 5001)
    await submit_quick_review(app, person, kind="gratitude")
    [review] = await one(app, select(Review))
    app.settings.moderation.queue = True  # every clinic answer waits for a moderator
    async with app.pool() as session, session.begin():
        repo = Repositories(session)
        stored = await repo.reviews.get(review.id)
        response = await moderation_queue.answer_given(repo, stored, 777, "Сами вы дурак, не пишите сюда",
                                                       now=app.clock.now, settings=app.settings)
    async with app.pool() as session, session.begin():
        await moderation_queue.reject(Repositories(session), moderation_queue.ANSWER, response.id,
                                      app.settings.moderation.reject_reasons[0], 9001, app.clock.now, app.settings)
    async with app.pool() as session:
        assert (await session.get(Response, response.id)).public_status == PublicStatus.HIDDEN
    reply = await my_card(person, review.reference)
    assert "дурак" not in " ".join(reply.texts)


async def test_my_appeals_card_keeps_the_masking_the_answer_notice_had(app: App) -> None:
    """The clinic's answer named another patient's phone; the notice the resident got masked it (the clinic is told
    so). The card in My appeals must mask it too, not print the original."""
    person = await resident(app, 5002)
    await submit_quick_review(app, person, kind="gratitude")
    [review] = await one(app, select(Review))
    async with app.pool() as session, session.begin():
        session.add(Response(review_id=review.id, author_role=Role.CLINIC_STAFF,
                             text="Спасибо! Позвоните нашей пациентке Асель: +7 701 555 44 33",
                             public_text=f"Спасибо! Позвоните нашей пациентке Асель: {RU('masking.phone')}",
                             public_status=PublicStatus.PUBLISHED, created_at=app.clock.now))
    reply = await my_card(person, review.reference)
    assert "555 44 33" not in " ".join(reply.texts)


# --- Top specialists and search ----------------------------------------------------------------------------


async def test_a_story_typed_after_looking_at_the_top_is_offered_as_a_review(app: App) -> None:
    """She looked at the top list, went back to the main menu, then typed what happened to her. She should get the
    usual offer to start a review with it, not a specialty search."""
    person = await resident(app, 5010)
    await person.command("top")
    await person.press(RU("menu.home"))
    reply = await person.send("Вчера в поликлинике 17 мне нагрубили в регистратуре, хочу пожаловаться")
    assert reply.text == RU("menu_offer.prompt")


# --- Deep links ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", ["page-doctor-99999999999999999999", "doctor-99999999999999999999",
                                     "page-clinic-99999999999999999999"])
async def test_a_forged_link_with_a_huge_number_is_answered_politely(app: App, payload: str) -> None:
    person = await resident(app, 5021)
    reply = await person.command("start", payload)
    assert reply.texts and RU("errors.generic") not in reply.texts


# --- Voice notes and stickers where text is expected ------------------------------------------------------


async def test_a_voice_note_as_the_reason_for_disagreeing_is_asked_for_in_words(app: App) -> None:
    await office_did(app, 5030, "alert.button_close", "Проверка проведена, нарушений не выявлено.")
    person = app.user(5030)
    answer = [m for m in person.bot_messages() if m.reply_markup and "Проверка проведена" in (m.text or "")][-1]
    await person.press(RU("case_notify.disagree_button") if RU.has("case_resident.disagree_button")
                       else [b.text for row in answer.reply_markup.inline_keyboard for b in row][-1], message=answer)
    reply = await person.voice()
    # There are no buttons under the question: "use the buttons" leaves an elderly person stuck. She must be told
    # to write the reason (or the voice taken).
    assert reply.texts == [RU("case_resident.reason_in_words")]



async def case_of(app: App, review_id: int) -> Case:
    async with app.pool() as session:
        return await session.scalar(select(Case).where(Case.review_id == review_id))


async def appeal_card(app: App, user_id: int):
    reference = await submit_violation(app, user_id, photos=False)
    relay = relay_for(app)
    await relay.run_once()
    person = app.user(user_id)
    await person.command("my")
    card = await person.press(reference)
    return person, reference, relay, card


async def test_after_add_information_then_top_a_typed_specialty_is_not_sent_to_the_prosecutor(app: App) -> None:
    """She pressed "Add information" on her appeal, changed her mind, opened Top specialists from the menu and
    typed the specialty she wanted. That word must search the specialties, not be filed with her appeal."""
    person, _reference, relay, _card = await appeal_card(app, 5040)
    await person.press(RU("case_resident.add_button"))
    await person.command("top")
    reply = await person.send("кардиолог")
    app.clock.advance(seconds=5)
    await relay.run_once()
    to_office = [getattr(call, "text", "") or "" for call in app.session.sent_messages(CHAT)]
    assert not any("кардиолог" in text for text in to_office), "the specialty was sent to the prosecutor's office"
    assert reply.text == RU("top_search.found"), reply.texts


async def test_after_i_disagree_then_language_change_a_thank_you_does_not_reopen_the_case(app: App) -> None:
    """She pressed "I disagree", then thought better of it and changed the language from the menu; the bot showed
    the main menu. Her next words ("рахмет") must not reopen the case as her reason for disagreeing."""
    await office_did(app, 5041, "alert.button_close", "Проверка проведена, нарушений не выявлено.")
    person = app.user(5041)
    answer = [m for m in person.bot_messages() if m.reply_markup and "Проверка проведена" in (m.text or "")][-1]
    await person.press(RU("case_notify.disagree_button"), message=answer)
    await person.command("language")
    reply = await person.press("Қазақша")
    assert KK("menu.title") in reply.texts
    [review] = await one(app, select(Review))
    assert (await case_of(app, review.id)).status == "closed"
    await person.send("Рахмет, бәрі жақсы")
    assert (await case_of(app, review.id)).status == "closed", "her thanks reopened the case as a disagreement"


async def office_did(app: App, user_id: int, button: str, words: str) -> str:
    """A violation report of the resident's, and the office's question, rejection or answer (`button`) with
    `words`, delivered; returns the reference."""
    reference = await submit_violation(app, user_id, photos=False)
    relay = relay_for(app)
    await relay.run_once()
    await write_and_send(prosecutor(app), RU(button), words, card_in_chat(app).message_id)
    app.clock.advance(seconds=5)
    await relay.run_once()
    return reference


async def answered_with_a_document(app: App, user_id: int) -> str:
    """A violation report of the resident's, answered by the office with a PDF and a text; returns the reference."""
    reference = await submit_violation(app, user_id, photos=False)
    relay = relay_for(app)
    await relay.run_once()
    clerk = prosecutor(app)
    await clerk.press(RU("alert.button_close"), message=card_in_chat(app).message_id)
    await clerk.document(b"%PDF-1.4 official answer letter", file_name="answer.pdf")
    await clerk.send("Проверка проведена, ответ во вложении.")
    await clerk.press(RU("case_draft.button_send"))
    app.clock.advance(seconds=5)
    await relay.run_once()
    return reference


# --- Opening an old appeal a week later ---------------------------------------------------------------------


async def test_a_week_later_the_card_shows_the_question_the_office_asked(app: App) -> None:
    """The office asked her something; the message is lost among a week of chats. She opens My appeals: the card
    says information was requested, and must say what was asked."""
    reference = await office_did(app, 5090, "alert.button_ask", "Укажите ФИО врача и номер кабинета.")
    app.clock.advance(days=7)
    person = app.user(5090)
    card = await my_card(person, reference)
    assert "Укажите ФИО врача и номер кабинета." in " ".join(card.texts), card.texts


async def test_answering_the_question_from_my_appeals_gives_the_case_back_to_the_office(app: App) -> None:
    """...so she answers from the card with "Add information" and presses Done. The office asked and she answered:
    the case must no longer wait for her."""
    reference = await office_did(app, 5091, "alert.button_ask", "Укажите номер кабинета.")
    [review] = await one(app, select(Review))
    assert (await case_of(app, review.id)).status == "waiting_resident"
    person = app.user(5091)
    card = await my_card(person, reference)
    await person.press(RU("case_resident.add_button"), message=card.messages[-1])
    await person.send("Кабинет 214")
    await person.press(RU("reply.done"))
    assert (await case_of(app, review.id)).status != "waiting_resident"


async def test_a_week_later_the_card_of_a_rejected_appeal_says_why(app: App) -> None:
    reference = await office_did(app, 5092, "alert.button_reject", "Доводы не подтвердились: приём был бесплатным.")
    app.clock.advance(days=7)
    person = app.user(5092)
    card = await my_card(person, reference)
    assert "Доводы не подтвердились" in " ".join(card.texts), card.texts


@pytest.mark.parametrize("kind", ["doctor", "clinic"])
async def test_a_review_link_to_a_doctor_or_clinic_no_longer_listed_says_so(app: App, kind: str) -> None:
    """A shared "Leave a review about this doctor" link from last year; the doctor has left the polyclinic (or the
    polyclinic was taken off the directory)."""
    clinic = await clinic_17(app)
    doctor = await therapist_of(app, clinic)
    async with app.pool() as session, session.begin():
        row = await session.get(Doctor, doctor.id) if kind == "doctor" else await session.get(Clinic, clinic.id)
        row.active = False
    person = await resident(app, 5020)
    reply = await person.command("start", f"{kind}-{doctor.id if kind == 'doctor' else clinic.id}")
    assert reply.texts == [RU(f"{kind}_page.gone"), RU("menu.title")]


async def test_a_week_later_the_card_of_an_answered_appeal_gives_the_attached_document_again(app: App) -> None:
    reference = await answered_with_a_document(app, 5093)
    app.clock.advance(days=7)
    card = await my_card(app.user(5093), reference)
    assert "ответ во вложении" in " ".join(card.texts)
    [document] = [call for call in card.calls if type(call).__name__ == "SendDocument"]
    assert document.caption == RU("case_notify.attachment", reference=reference)


# --- The second reading of these mends ----------------------------------------------------------------------


async def gone_doctor(app: App) -> int:
    doctor = await therapist_of(app, await clinic_17(app))
    async with app.pool() as session, session.begin():
        (await session.get(Doctor, doctor.id)).active = False
    return doctor.id


async def test_gone_link_in_the_middle_of_a_review_offers_the_unfinished_review(app: App) -> None:
    person = await resident(app, 6001)
    await to_kind_step(app, person)  # a draft with a clinic and a doctor
    doctor_id = await gone_doctor(app)
    reply = await person.command("start", f"doctor-{doctor_id}")
    # README: "a deep link in the middle of a review asks: You have an unfinished review"
    assert RU("unfinished.prompt") in reply.texts, reply.texts


async def test_gone_link_for_a_newcomer_says_so_after_consent(app: App) -> None:
    doctor_id = await gone_doctor(app)
    person = app.user(6002, language_code="ru")
    await person.command("start", f"doctor-{doctor_id}")
    await person.press("Русский")
    reply = await person.press(RU("consent.accept"))
    # README: "a link to a doctor or polyclinic no longer in the directory says so, then shows the menu"
    assert RU("doctor_page.gone") in reply.texts, reply.texts



async def test_submitting_a_week_later_about_a_doctor_removed_meanwhile_says_so(app: App) -> None:
    """She wrote a thank-you to the therapist of No. 17 and left it at the preview. Meanwhile the admins removed
    that doctor from the directory (left the polyclinic). A week later she presses ✅ Отправить: she was told "Ваша
    благодарность ... будет учтена в рейтинге врача", of a doctor no page, list or search shows any more. She is
    told, as a shared link to that doctor is, that the doctor is no longer listed, before anything is promised."""
    person = await resident(app, 6004)
    await to_kind_step(app, person)
    await choose_kind(person, "gratitude", stars="5⭐")
    await describe(person, "Спасибо доктору, очень внимательная")
    await gone_doctor(app)
    app.clock.advance(days=8)
    reply = await person.press(RU("preview.submit"))
    said = " ".join(reply.texts)
    assert RU("doctor_page.gone") in said and "рейтинге врача" not in said, reply.texts
    assert await one(app, select(Review)) == []
    # What she wrote and chose is kept: she says whom it is about again (the polyclinic itself), and is back at the
    # preview with her kind and stars, as after changing the doctor there.
    assert [RU("target.clinic")] in reply.buttons, reply.buttons
    preview = await person.press(RU("target.clinic"))
    assert "Спасибо доктору, очень внимательная" in preview.text and "5⭐" in preview.text, preview.text
    await person.press(RU("preview.submit"))
    [review] = await one(app, select(Review))
    assert (review.doctor_id, review.text) == (None, "Спасибо доктору, очень внимательная")


async def test_submitting_about_a_polyclinic_removed_meanwhile_asks_for_another(app: App) -> None:
    person = await resident(app, 6005)
    await to_kind_step(app, person, about_doctor=False)
    await choose_kind(person, "gratitude", stars="5⭐")
    await describe(person, "Спасибо всем в регистратуре")
    clinic = await clinic_17(app)
    async with app.pool() as session, session.begin():
        (await session.get(Clinic, clinic.id)).active = False
    reply = await person.press(RU("preview.submit"))
    assert "\n".join([RU("clinic_page.gone"), RU("preview.clinic_gone")]) in reply.texts, reply.texts
    assert reply.texts[-1] == plain(RU("clinic.prompt")) and await one(app, select(Review)) == []

@pytest.mark.parametrize("payload", ["doctor-²", "page-clinic-²", "page-top-²"])
async def test_a_superscript_digit_in_a_link_is_unknown_not_a_crash(app: App, payload: str) -> None:
    person = await resident(app, 6003)
    reply = await person.command("start", payload)
    assert RU("errors.generic") not in reply.texts, reply.texts


async def test_an_unknown_command_while_disagreeing_ends_it_and_is_not_asked_for_a_reason(app: App) -> None:
    await office_did(app, 6004, "alert.button_close", "Проверка проведена, нарушений не выявлено.")
    person = app.user(6004)
    answer = [m for m in person.bot_messages() if m.reply_markup and "Проверка проведена" in (m.text or "")][-1]
    await person.press(RU("case_notify.disagree_button"), message=answer)
    reply = await person.send("/hepl")
    assert reply.texts == [RU("reply.left"), RU("errors.unexpected_input")], reply.texts


async def test_a_document_telegram_no_longer_has_does_not_lose_the_card(app: App) -> None:
    reference = await answered_with_a_document(app, 6005)
    app.session.fail_next(SendDocument, error_code=400,
                          description="Bad Request: wrong file identifier/HTTP URL specified", times=5)
    card = await my_card(app.user(6005), reference)
    assert RU("errors.generic") not in card.texts, card.texts
    assert any("ответ во вложении" in text for text in card.texts), card.texts


async def test_the_document_comes_after_the_card_it_belongs_to(app: App) -> None:
    reference = await answered_with_a_document(app, 6006)
    card = await my_card(app.user(6006), reference)
    names = [type(call).__name__ for call in card.calls if type(call).__name__.startswith("Send")]
    assert names.index("SendDocument") > names.index("SendMessage"), names


async def test_an_old_unscreened_clinic_answer_is_masked_on_the_card(app: App) -> None:
    person = await resident(app, 6007)
    await submit_quick_review(app, person, kind="gratitude")
    [review] = await one(app, select(Review))
    async with app.pool() as session, session.begin():
        session.add(Response(review_id=review.id, author_role=Role.CLINIC_STAFF,
                             text="Позвоните пациентке Асель: +7 701 555 44 33", public_text=None,
                             public_status=PublicStatus.PUBLISHED, created_at=app.clock.now))
    reply = await my_card(person, review.reference)
    assert "555 44 33" not in " ".join(reply.texts), reply.texts


async def test_help_while_answering_the_office_does_not_end_the_answer(app: App) -> None:
    await office_did(app, 6008, "alert.button_ask", "Пришлите фото талона.")
    [review] = await one(app, select(Review))
    person = app.user(6008)
    notice = [m for m in person.bot_messages() if m.reply_markup and "талона" in (m.text or "")][-1]
    await person.press(RU("notify.reply_button"), message=notice)
    await person.send("Талон был на 10:00")
    reply = await person.command("help")
    status = (await case_of(app, review.id)).status
    assert RU("reply.left") not in reply.texts and status == "waiting_resident", (status, reply.texts[0])


async def test_add_information_then_done_with_nothing_sent_keeps_the_case_waiting(app: App) -> None:
    reference = await office_did(app, 6009, "alert.button_ask", "Укажите номер кабинета.")
    [review] = await one(app, select(Review))
    person = app.user(6009)
    card = await my_card(person, reference)
    await person.press(RU("case_resident.add_button"), message=card.messages[-1])
    reply = await person.press(RU("reply.done"))
    assert (await case_of(app, review.id)).status == "waiting_resident", reply.texts


async def test_a_long_question_and_a_long_answer_still_open_the_card(app: App) -> None:
    from tests.test_alerts import write_and_send
    question = "Уточните, пожалуйста, обстоятельства. " * 60  # ~2300 characters, under the office's 3500
    reference = await office_did(app, 6010, "alert.button_ask", question.strip())
    relay = relay_for(app)
    await write_and_send(prosecutor(app), RU("alert.button_close"), ("Проверка проведена. " * 110).strip(),
                         card_in_chat(app).message_id)
    app.clock.advance(seconds=5)
    await relay.run_once()
    card = await my_card(app.user(6010), reference)
    assert RU("errors.generic") not in card.texts, card.texts


# --- What people call a specialty -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("typed", "expected", "language"), [
    ("окулист", "офтальмолог", "ru"),
    ("зубной врач", "стоматолог", "ru"),
    ("көз дәрігері", "офтальмолог", "kk"),
    ("тіс дәрігері", "стоматолог", "kk"),
    ("детский хирург", "балалар хирургы", "kk"),  # the entry of more words wins over "детский"
    ("хирург для ребенка", "детский хирург", "ru"),  # asked for a child: the children's specialty
])
async def test_everyday_names_of_specialties_find_them(app: App, typed: str, expected: str, language: str) -> None:
    button = {"ru": "Русский", "kk": "Қазақша"}[language]
    person = await resident(app, 5011, language, button)
    await person.command("top")
    reply = await person.send(typed)
    assert reply.buttons and reply.buttons[0] == [expected], (reply.text, reply.buttons)


def test_a_short_everyday_word_is_a_whole_word_and_a_word_in_many_names_finds_none() -> None:
    from types import SimpleNamespace

    from bot.services import specialty_words

    def specialty(external_id: str, name: str):
        return SimpleNamespace(external_id=external_id, name_kk=name, name_ru=name, name_en=name)

    names = [specialty("specialty:otolaryngologist", "оториноларинголог"), specialty("specialty:surgeon", "хирург"),
             specialty("specialty:general-practitioner", "врач общей практики"),
             specialty("specialty:laboratory-physician", "врач лаборатории")]
    assert [s.external_id for s in specialty_words.find("болит ухо", names)] == ["specialty:otolaryngologist"]
    assert specialty_words.find("уход за лежачим", names) == []  # "ухо" is not "уход"
    assert specialty_words.find("vrach", names) == []  # in two names: tells neither apart
    assert specialty_words.find("нужен хороший врач", names) == []  # no specialty named at all
    assert specialty_words.find("best doctor near me", names) == []


async def test_an_appeal_written_in_kazakh_from_a_russian_phone_is_answered_in_kazakh(app: App) -> None:
    """Her phone is in Russian, so the bot speaks Russian, but she writes the complaint in Kazakh: the law wants
    the answer in the appeal's language, and the office's card said "written in Russian: answer in Russian"."""
    from tests.test_alerts import card_in_chat, relay_for, submit_violation

    text = "Дәрігер анамнан анықтама үшін 20000 теңге пара сұрады, әйтпесе қабылдамаймын деді."
    await submit_violation(app, 5100, text=text, photos=False)
    await relay_for(app).run_once()
    card = card_in_chat(app).text
    assert text in card and RU("case_card.language", language=RU("case_language.kk")) in card, card
    # A Russian text naming a Kazakh place stays Russian.
    await submit_violation(app, 5101, text="Врач на приёме в Әуезов ауданы требовал у меня деньги за справку.",
                           photos=False)
    await relay_for(app).run_once()
    assert RU("case_card.language", language=RU("case_language.ru")) in card_in_chat(app).text


def test_names_in_kazakh_letters_do_not_make_a_russian_text_kazakh() -> None:
    from bot.services.text_language import written_in

    assert written_in("Терапевт Жұмабекова Гүлнұр Сәкенқызы грубо разговаривала и отказалась принять", "ru") == "ru"
    assert written_in("Жұмабекова дәрігер маған дөрекі сөйледі, анама көмектеспеді", "ru") == "kk"
