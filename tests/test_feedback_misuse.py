"""What residents do in the review conversation that it was not first built for, found by a tester acting as them:
a full name typed in lower case, texts and photos sent before the last offer was answered (a long text Telegram
split, an album), an old button pressed in the middle of a new review."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.callbacks import Flow, FlowAction
from storage.models import Review, ReviewMedia
from tests.conftest import App
from tests.flows import (
    PHOTO_A,
    PHOTO_B,
    RU,
    choose_kind,
    describe,
    kind_button,
    one,
    resident,
    to_description_step,
    to_kind_step,
)
from tests.test_alerts import CHAT, card_in_chat, prosecutor, relay_for, submit_violation, write_and_send

WITHIN_15 = RU.count("within_working_days", 15)  # "в течение 15 рабочих дней"

pytestmark = pytest.mark.usefixtures("demo_directory")
ADD, LEAVE_OUT = RU("description.add"), RU("description.leave_out")
YES, NO = RU("menu_offer.start"), RU("menu_offer.menu")


async def gratitude_to_polyclinic_17_submitted(person) -> None:
    """From the polyclinic step with the description already written: "17", the clinic itself, a gratitude, five
    stars, today, submitted."""
    await person.send("17")
    await person.press(RU("target.clinic"))
    await person.press(kind_button("gratitude"))
    await person.press("5⭐")
    await person.press(RU("when.today"))
    await person.press(RU("preview.submit"))


async def complaint_at_preview(app: App, user_id: int):
    """A complaint about polyclinic 17 in general, at the preview that asks for the full name."""
    person = await resident(app, user_id)
    await to_kind_step(app, person, about_doctor=False)
    await choose_kind(person, "complaint")
    reply = await describe(person, "Нагрубили в регистратуре")
    assert RU("preview.appellant_missing", days=WITHIN_15) in reply.text
    return person


async def test_a_full_name_typed_in_lower_case_is_asked_about_and_never_offered_to_the_public_text(app: App) -> None:
    person = await complaint_at_preview(app, 4001)
    reply = await person.send("иванова айгуль сериковна")
    assert reply.text == RU("preview.name_or_text", name="Иванова Айгуль Сериковна")
    assert reply.buttons == [[RU("preview.take_name")], [ADD, LEAVE_OUT]]
    question = person.last_message
    reply = await person.press(RU("preview.take_name"))
    assert RU("preview.appellant", name="Иванова Айгуль Сериковна", days=WITHIN_15) in reply.text
    again = await person.press_data(Flow(action=FlowAction.TAKE_NAME).pack(), message=question)
    assert again.callback_answers == [RU("errors.stale_button")]  # decided once
    await person.press(RU("preview.submit"))
    [review] = await one(app, select(Review))
    assert review.appellant_name == "Иванова Айгуль Сериковна"
    assert "иванова" not in review.text.lower() and "иванова" not in (review.public_text or "").lower()


async def test_two_lower_case_words_of_a_story_go_to_the_description_when_the_resident_says_so(app: App) -> None:
    person = await complaint_at_preview(app, 4002)
    reply = await person.send("очень долго ждали")
    assert reply.text == RU("preview.name_or_text", name="Очень Долго Ждали")
    reply = await person.press(ADD)
    assert "очень долго ждали" in reply.text and RU("preview.appellant_missing", days=WITHIN_15) in reply.text


@pytest.mark.parametrize(("typed", "name"), [
    ("Иванова А. С.", "Иванова А.С."),
    ("Мамедова Севиль Ахмед кызы", "Мамедова Севиль Ахмед кызы"),
    ("А.С. Иванова", "А.С. Иванова"),
])
async def test_a_full_name_with_initials_or_a_separate_kyzy_is_taken_at_once(app: App, typed: str, name: str) -> None:
    person = await complaint_at_preview(app, 4003)
    reply = await person.send(typed)
    assert RU("preview.appellant", name=name, days=WITHIN_15) in reply.text


@pytest.mark.parametrize(("typed", "name"), [
    ("сейт-али жанна қайратқызы", "Сейт-Али Жанна Қайратқызы"),
    ("Иванова айгуль", "Иванова Айгуль"),  # odd capitals
])
async def test_a_name_asked_for_with_the_button_may_be_typed_in_any_case(app: App, typed: str, name: str) -> None:
    person = await complaint_at_preview(app, 4004)
    await person.press(RU("preview.enter_name"))
    reply = await person.send(typed)
    assert RU("preview.appellant", name=name, days=WITHIN_15) in reply.text


async def test_two_texts_sent_at_the_preview_before_deciding_are_added_together_by_either_offer(app: App) -> None:
    person = await resident(app, 4005)
    await to_description_step(app, person)
    await describe(person, "Спасибо доктору")
    await person.send("Она очень внимательная.")
    first_offer = person.last_message
    reply = await person.send("И медсестра тоже.")
    assert reply.text == RU("description.offer_add", length=len("Она очень внимательная.\n\nИ медсестра тоже."))
    reply = await person.press(ADD, message=first_offer)
    assert "Она очень внимательная.\n\nИ медсестра тоже." in reply.text
    reply = await person.press(ADD)  # the second offer: both texts are in already
    assert reply.callback_answers == [RU("errors.stale_button")]
    await person.press(RU("preview.submit"), message=first_offer)  # it became the preview
    [review] = await one(app, select(Review))
    assert review.text == "Спасибо доктору\n\nОна очень внимательная.\n\nИ медсестра тоже."


async def test_a_long_text_telegram_split_at_the_preview_is_added_whole(app: App) -> None:
    person = await resident(app, 4006)
    await to_description_step(app, person)
    await describe(person, "Спасибо доктору")
    await person.send("б" * 4096)
    await person.send("и ещё хочу добавить важное")  # the rest of the same paste, a second later
    await person.press(ADD)
    await person.press(RU("preview.submit"))
    [review] = await one(app, select(Review))
    assert review.text == "Спасибо доктору\n\n" + "б" * 4096 + "и ещё хочу добавить важное"


async def test_a_long_text_telegram_split_at_the_menu_starts_the_review_whole(app: App) -> None:
    person = await resident(app, 4007)
    head = "Начало истории. " + "а" * 4080
    await person.send(head)
    reply = await person.send("конец истории про врача")
    assert reply.text == RU("menu_offer.prompt")
    await person.press(YES)
    await gratitude_to_polyclinic_17_submitted(person)
    [review] = await one(app, select(Review))
    assert review.text == head + "конец истории про врача"


async def test_a_story_and_a_photo_at_the_menu_a_day_apart_are_two_offers_not_one(app: App) -> None:
    app.updates.now = lambda: app.clock.now  # messages dated by the test's clock
    person = await resident(app, 4008)
    await person.send("Вчера писала, но передумала")
    app.clock.advance(days=1)
    await person.send("Хочу поблагодарить терапевта")
    await person.press(YES)
    await person.send("17")
    await person.press(RU("target.clinic"))
    await person.press(kind_button("gratitude"))
    reply = await person.press("5⭐")
    assert "Хочу поблагодарить терапевта" in reply.text and "передумала" not in reply.text


async def test_an_album_at_the_menu_is_one_offer_keeping_every_photo_and_its_caption(app: App) -> None:
    person = await resident(app, 4009)
    reply = await person.album([PHOTO_A, PHOTO_B, PHOTO_A + b"x"], caption="Грязь в коридоре")
    assert reply.texts.count(RU("menu_offer.prompt")) == 1
    await person.press(YES)
    await person.send("17")
    await person.press(RU("target.clinic"))
    await person.press(kind_button("complaint", "sanitary"))
    await person.press("2⭐")
    await describe(person, "Грязно")
    await person.press(RU("preview.submit"))
    media = await one(app, select(ReviewMedia).order_by(ReviewMedia.id))
    assert len(media) == 3 and media[0].caption == "Грязь в коридоре"


async def test_an_old_menu_offer_pressed_in_the_middle_of_a_review_leaves_the_review_alone(app: App) -> None:
    person = await resident(app, 4010)
    await person.send("Хочу пожаловаться")
    old_offer = person.last_message
    await person.command("review")
    await person.send("17")
    await person.press(RU("target.clinic"))
    await person.press(kind_button("gratitude"))
    await person.press("5⭐")
    await person.send("Очень хорошая поликлиника, спасибо")
    await person.photo(PHOTO_A)
    for button in (NO, YES):
        reply = await person.press(button, message=old_offer)
        assert reply.callback_answers == [RU("errors.stale_button")] and reply.texts == []
    assert (await person.command("start")).text == RU("unfinished.prompt")


async def office_asks(app: App, user_id: int):
    """A violation report of the resident, and the office's question about it; returns the relay, the question."""
    await submit_violation(app, user_id, photos=False)
    relay = relay_for(app)
    await relay.run_once()
    await write_and_send(prosecutor(app), RU("alert.button_ask"), "Укажите дату приёма.", card_in_chat(app).message_id)
    await relay.run_once()
    question = [m for m in app.session.history(user_id) if m.text and "Укажите" in m.text][-1]
    return relay, question


def replying_to(person, text: str, question):
    """A text sent with Telegram's own Reply on `question` (what many do instead of pressing its button)."""
    update = person.factory.text(text, user=person.user, chat=person.chat)
    return update.model_copy(update={"message": update.message.model_copy(update={"reply_to_message": question})})


async def told_the_office(app: App, relay, words: str) -> bool:
    app.clock.advance(seconds=5)
    await relay.run_once()
    return any(words in (getattr(call, "text", None) or "") for call in app.session.sent_messages(CHAT))


async def test_answering_the_office_with_its_button_keeps_a_review_being_written(app: App) -> None:
    relay, question = await office_asks(app, 4011)
    person = app.user(4011)
    await person.command("start")  # the menu, below the question
    await to_description_step(app, person)
    await person.send("Вторая история: медсестра была очень внимательна")
    await person.photo(PHOTO_A)
    await person.press(RU("notify.reply_button"), message=question.message_id)
    await person.send("20 ноября")
    reply = await person.press(RU("reply.done"))
    assert reply.texts[-1] == RU("unfinished.prompt")  # the review set aside for the answer is offered back
    assert await told_the_office(app, relay, "20 ноября")
    reply = await person.press(RU("unfinished.resume"))
    assert "Вторая история" in reply.text and "20 ноября" not in reply.text


async def test_a_telegram_reply_to_the_offices_question_answers_it_at_the_menu_and_in_a_review(app: App) -> None:
    relay, question = await office_asks(app, 4012)
    person = app.user(4012)
    reply = await person.feed(replying_to(person, "Приём был 20 ноября", question))
    assert reply.text == RU("reply.received") and reply.buttons == [[RU("reply.done")]]
    assert await told_the_office(app, relay, "Приём был 20 ноября")
    await person.press(RU("reply.done"))
    # Once more, in the middle of a review: the answer goes to the office, not into the review.
    await write_and_send(prosecutor(app), RU("alert.button_ask"), "Укажите время.", card_in_chat(app).message_id)
    await relay.run_once()
    question = [m for m in app.session.history(4012) if m.text and "Укажите время" in m.text][-1]
    await person.command("start")
    await to_description_step(app, person)
    await person.send("Отдельная благодарность врачу")
    await person.feed(replying_to(person, "В 10 утра", question))
    assert await told_the_office(app, relay, "В 10 утра")
    reply = await person.press(RU("reply.done"))
    assert reply.texts[-1] == RU("unfinished.prompt")
    reply = await person.press(RU("unfinished.resume"))
    assert "Отдельная благодарность врачу" in reply.text and "В 10 утра" not in reply.text


async def test_a_telegram_reply_to_a_question_already_answered_says_so(app: App) -> None:
    _relay, question = await office_asks(app, 4013)
    person = app.user(4013)
    await person.press(RU("notify.reply_button"), message=question.message_id)
    await person.send("20 ноября")
    await person.press(RU("reply.done"))
    reply = await person.feed(replying_to(person, "и ещё кое-что", question))
    assert reply.text == RU("reply.not_waiting")


async def test_a_photo_or_an_album_sent_at_the_preview_joins_the_files_and_the_preview_is_shown_again(
        app: App) -> None:
    person = await resident(app, 4014)
    await to_description_step(app, person)
    await describe(person, "Спасибо")
    reply = await person.photo(PHOTO_A, caption="вот ещё фото")
    assert RU("preview.evidence", count=1) in reply.text and RU("preview.submit") in str(reply.buttons)
    reply = await person.album([PHOTO_B, PHOTO_B + b"y"])
    sent = [call for call in reply.calls if type(call).__name__ == "SendMessage"]
    assert len(sent) == 1  # one preview for the album, edited as its items arrive
    assert RU("preview.evidence", count=3) in person.last_message.text
    await person.press(RU("preview.submit"))
    media = await one(app, select(ReviewMedia).order_by(ReviewMedia.id))
    assert len(media) == 3 and media[0].caption == "вот ещё фото"


async def test_a_photo_whose_caption_tells_the_story_is_the_description(app: App) -> None:
    person = await resident(app, 4015)
    await to_description_step(app, person)
    story = "Врач очень внимательный, спасибо ей большое"
    reply = await person.photo(PHOTO_A, caption=story)
    assert RU("description.received", length=len(story), files=1, limit=10) in reply.text
    reply = await person.press(RU("when.today"))
    assert reply.callback_answers != [RU("description.required")]
    await person.press(RU("preview.submit"))
    [review] = await one(app, select(Review))
    [photo] = await one(app, select(ReviewMedia))
    assert review.text == story and photo.caption == story


async def test_an_album_past_the_file_limit_says_what_was_left_out_once(app: App) -> None:
    person = await resident(app, 4016)
    await to_description_step(app, person)
    await person.send("Текст жалобы")
    for i in range(3):
        await person.photo(PHOTO_A + bytes([i]))
    reply = await person.album([PHOTO_B + bytes([i]) for i in range(10)])
    assert reply.texts.count(RU("evidence.limit", limit=10)) == 1
    assert RU("preview.evidence", count=10) in (await person.press(RU("when.today"))).text
    await person.press(RU("preview.submit"))
    assert len(await one(app, select(ReviewMedia))) == 10


async def test_a_long_message_and_a_quick_second_one_are_joined_with_the_space_the_client_dropped(
        app: App) -> None:
    person = await resident(app, 4017)
    await to_description_step(app, person)
    long_text = ("Длинное письмо. " * 230).strip()  # 3,679 characters: a client cuts a longer text about here
    await person.send(long_text)
    await person.send("Прошу принять меры.")
    await person.press(RU("when.today"))
    await person.press(RU("preview.submit"))
    [review] = await one(app, select(Review))
    assert review.text == long_text + " Прошу принять меры."


async def test_a_story_typed_where_the_polyclinic_is_asked_is_kept_for_the_description(app: App) -> None:
    person = await resident(app, 4018)
    await person.press(RU("menu.leave_feedback"))
    story = "Я вчера была в 17 поликлинике у терапевта, она на меня накричала"
    reply = await person.send(story)
    assert reply.text.startswith("Городская поликлиника №17")
    await person.press(RU("target.clinic"))
    await person.press(kind_button("complaint", "rudeness"))
    reply = await person.press("2⭐")
    assert story in reply.text


# --- The second reading's cases: what the first mends still lost -------------------------------------------------


async def test_yes_it_is_my_name_takes_the_name_alone_and_offers_the_other_texts_again(app: App) -> None:
    person = await complaint_at_preview(app, 4019)
    story = "мы очень долго ждали в коридоре"
    await person.send(story)  # offered to the description, not yet decided
    reply = await person.send("иванова айгуль сериковна")
    assert reply.text == RU("preview.name_or_text", name="Иванова Айгуль Сериковна")
    reply = await person.press(RU("preview.take_name"))
    assert RU("preview.appellant", name="Иванова Айгуль Сериковна", days=WITHIN_15) in reply.texts[0]
    assert reply.texts[-1] == RU("description.offer_add", length=len(story))  # the story is still on offer
    await person.press(ADD)
    await person.press(RU("preview.submit"))
    [review] = await one(app, select(Review))
    assert review.appellant_name == "Иванова Айгуль Сериковна"
    assert story in review.text and "иванова" not in review.text.lower()


async def test_start_review_and_cancel_while_answering_the_office_keep_the_review_being_written(app: App) -> None:
    relay, question = await office_asks(app, 4021)
    person = app.user(4021)
    await person.command("start")
    await to_description_step(app, person)
    await person.send("Третья история: врач был очень вежлив")
    for leave in ("start", "review", "cancel"):
        await person.press(RU("notify.reply_button"), message=question.message_id)
        reply = await person.command(leave)
        assert reply.texts[-1] == RU("unfinished.prompt"), leave
        if leave == "cancel":
            assert reply.texts[0] == RU("reply.left")
    reply = await person.press(RU("unfinished.resume"))
    assert "Третья история" in reply.text
    app.clock.advance(seconds=5)
    await relay.run_once()
    added = RU("alert.resident_added", reference="AL", text="").split("AL")[-1].strip()
    assert not [call for call in app.session.sent_messages(CHAT) if added in (getattr(call, "text", None) or "")]


async def test_the_phone_keyboards_back_while_answering_the_office_goes_back_instead_of_to_the_office(
        app: App) -> None:
    relay, question = await office_asks(app, 4022)
    person = app.user(4022)
    await person.command("start")
    await to_kind_step(app, person, about_doctor=False)
    await choose_kind(person, "complaint")
    await describe(person, "Нагрубили в регистратуре")  # the preview, with the phone keyboard below it
    await person.press(RU("notify.reply_button"), message=question.message_id)
    reply = await person.send(RU("flow.back"))
    assert reply.texts == [RU("reply.left"), RU("unfinished.prompt")]
    assert not await told_the_office(app, relay, RU("flow.back"))
    reply = await person.press(RU("unfinished.resume"))
    assert "Нагрубили в регистратуре" in reply.text


async def test_a_telegram_reply_to_an_answered_question_in_the_middle_of_a_review_goes_into_the_review(
        app: App) -> None:
    _relay, question = await office_asks(app, 4023)
    person = app.user(4023)
    await person.press(RU("notify.reply_button"), message=question.message_id)
    await person.send("20 ноября")
    await person.press(RU("reply.done"))
    await person.command("start")
    await to_description_step(app, person)
    reply = await person.feed(replying_to(person, "Врач был внимателен", question))
    assert RU("description.received", length=len("Врач был внимателен"), files=0, limit=10) in reply.text


async def test_texts_at_the_menu_past_the_limit_are_refused_there_and_the_rest_starts_the_review(app: App) -> None:
    person = await resident(app, 4024)
    first, second, third = "а" * 3000, "б" * 3000, "в" * 3000
    await person.send(first)
    await person.send(second)
    reply = await person.send(third)
    assert reply.text == RU("description.too_long", length=3000, limit=8000 - 6002)
    await person.press(YES)
    await gratitude_to_polyclinic_17_submitted(person)
    [review] = await one(app, select(Review))
    assert review.text == first + "\n\n" + second


async def test_a_text_too_long_to_add_stays_on_offer_so_it_can_still_be_left_out(app: App) -> None:
    person = await resident(app, 4025)
    await to_description_step(app, person)
    await describe(person, "д" * 7990)
    await person.send("И ещё одна важная подробность о приёме")
    reply = await person.press(ADD)
    assert reply.callback_answers[0].startswith(RU("description.too_long_added", length=8030, limit=8000)[:20])
    reply = await person.press(LEAVE_OUT)
    assert reply.callback_answers != [RU("errors.stale_button")]


async def stories_at_the_polyclinic_step(app: App, user_id: int, *texts: str) -> str:
    """The texts typed where the polyclinic is asked, then "17": the description step's text."""
    person = await resident(app, user_id)
    await person.press(RU("menu.leave_feedback"))
    for text in texts:
        await person.send(text)
    await person.send("17")
    await person.press(RU("target.clinic"))
    await person.press(kind_button("complaint", "rudeness"))
    await person.press("2⭐")
    await person.press(RU("when.today"))
    await person.press(RU("preview.submit"))
    [review] = await one(app, select(Review))
    return review.text


async def test_a_story_typed_twice_where_the_polyclinic_is_asked_is_kept_once(app: App) -> None:
    story = "Была у терапевта вчера днём и она на меня накричала"
    assert await stories_at_the_polyclinic_step(app, 4026, story, story) == story


async def test_two_stories_typed_where_the_polyclinic_is_asked_are_both_kept(app: App) -> None:
    first = "Была у терапевта вчера днём и она на меня накричала"
    second = "Потом в регистратуре мне тоже очень нагрубили"
    assert await stories_at_the_polyclinic_step(app, 4031, first, second) == first + "\n\n" + second


async def test_a_long_story_telegram_split_where_the_polyclinic_is_asked_is_kept_whole(app: App) -> None:
    head = ("Длинная история про приём. " * 160)[:4096]
    assert await stories_at_the_polyclinic_step(app, 4032, head, "и конец") == head + "и конец"


async def test_files_at_the_menu_past_the_limit_are_said_to_be_left_out(app: App) -> None:
    person = await resident(app, 4027)
    await person.album([PHOTO_A + bytes([i]) for i in range(10)])
    reply = await person.album([PHOTO_B + bytes([i]) for i in range(2)])
    assert reply.texts == [RU("evidence.limit", limit=10)]


async def test_photos_sent_one_by_one_each_with_its_words_all_make_the_description(app: App) -> None:
    person = await resident(app, 4028)
    await to_description_step(app, person)
    await person.photo(PHOTO_A, caption="Грязь в коридоре")
    await person.photo(PHOTO_B, caption="И в туалете")
    await person.press(RU("when.today"))
    await person.press(RU("preview.submit"))
    [review] = await one(app, select(Review))
    assert review.text == "Грязь в коридоре\n\nИ в туалете"


async def test_a_text_left_on_offer_by_an_edit_is_asked_about_again_on_the_preview_and_old_buttons_are_stale(
        app: App) -> None:
    person = await resident(app, 4029)
    await to_description_step(app, person)
    await describe(person, "Спасибо доктору")
    await person.send("И медсестре Гульнаре отдельное спасибо")
    old_offer = person.last_message
    preview = [m for m in app.session.history(4029) if m.text and RU("preview.submit") in str(m.reply_markup)][-1]
    await person.press(RU("preview.edit_description"), message=preview)  # the offer left unanswered
    reply = await person.press(RU("when.today"), message=preview)
    assert reply.texts[-1] == RU("description.offer_add", length=len("И медсестре Гульнаре отдельное спасибо"))
    assert (await person.press(ADD, message=old_offer)).callback_answers == [RU("errors.stale_button")]
    await person.press(ADD)
    await person.press(RU("preview.submit"), message=preview)
    [review] = await one(app, select(Review))
    assert review.text == "Спасибо доктору\n\nИ медсестре Гульнаре отдельное спасибо"


async def test_an_older_question_cannot_publish_or_take_a_name_typed_after_it(app: App) -> None:
    person = await complaint_at_preview(app, 4030)
    await person.send("мы очень долго ждали в коридоре")
    story_offer = person.last_message
    await person.send("иванова айгуль")
    first_name_question = person.last_message
    await person.send("петрова анна")
    for old in (story_offer, first_name_question):
        for button in (ADD, RU("preview.take_name")) if old is first_name_question else (ADD,):
            reply = await person.press(button, message=old)
            assert reply.callback_answers == [RU("errors.stale_button")]
    reply = await person.press(RU("preview.take_name"))
    assert RU("preview.appellant", name="Петрова Анна", days=WITHIN_15) in reply.texts[0]
    await person.press(LEAVE_OUT)  # the story and the first name, asked about again
    await person.press(RU("preview.submit"))
    [review] = await one(app, select(Review))
    assert review.appellant_name == "Петрова Анна" and "иванова" not in review.text.lower()


async def test_an_answer_to_the_office_left_by_cancel_or_start_goes_back_to_the_office_as_after_done(
        app: App) -> None:
    from storage.models import Case, CaseStatus

    _relay, question = await office_asks(app, 4033)
    person = app.user(4033)
    await person.command("cancel")  # nothing sent yet: the question still waits for the answer
    [case] = await one(app, select(Case))
    assert case.status == CaseStatus.WAITING_RESIDENT
    await person.press(RU("notify.reply_button"), message=question.message_id)
    await person.send("20 ноября")
    reply = await person.command("cancel")
    assert reply.texts[0] == RU("reply.left")
    [case] = await one(app, select(Case))
    assert case.status != CaseStatus.WAITING_RESIDENT


# --- Coming back days later, and days typed around New Year --------------------------------------------------------


async def test_a_review_resumed_a_week_later_does_not_call_last_week_today(app: App) -> None:
    """On Thursday she wrote a thank-you and pressed "Сегодня"; at the preview she put the phone down. A week later
    she comes back and would read "📅 Когда: Сегодня, 26.11.2026" on 3 December: an elderly reader takes "Сегодня"
    at its word. The preview names the day alone once it is past."""
    person = await resident(app, 2001)
    await to_kind_step(app, person)
    await choose_kind(person, "gratitude", stars="5⭐")
    await describe(person, "Спасибо доктору, очень внимательная")
    app.clock.advance(days=7)
    await person.command("start")
    reply = await person.press(RU("unfinished.resume"))
    preview = reply.text or person.last_text
    assert "26.11.2026" in preview
    assert RU("when.today") not in preview, preview


async def test_a_review_resumed_the_next_day_calls_it_yesterday(app: App) -> None:
    """"Сегодня" pressed in the evening is "Вчера" the next morning, as long as that is true."""
    person = await resident(app, 2002)
    await to_kind_step(app, person)
    await choose_kind(person, "gratitude", stars="5⭐")
    await describe(person, "Спасибо доктору, очень внимательная")
    app.clock.advance(days=1)
    await person.command("start")
    reply = await person.press(RU("unfinished.resume"))
    preview = reply.text or person.last_text
    assert RU("preview.when_day", label=RU("when.yesterday"), day="26.11.2026") in preview, preview


async def test_a_day_typed_without_the_year_in_early_january_is_last_december(app: App) -> None:
    """On 3 January 2027 she reports a visit on 30 December, typing "30.12" at "📅 Другой день", as the bot's
    example (day and month) allows. Read as 30.12.2027 it was refused as a future day ("Это не похоже на прошедшую
    дату"): a day and month still to come this year is last year's, 30.12.2026."""
    app.clock.now = datetime(2027, 1, 3, 6, 0, tzinfo=UTC)
    person = await resident(app, 2001)
    await to_kind_step(app, person)
    await choose_kind(person, "complaint")
    await person.send("Врач не принял маму, хотя мы были записаны.")
    await person.press(RU("when.date"))
    reply = await person.send("30.12")
    assert RU("when.not_a_date") not in reply.texts, reply.texts
    assert "30.12.2026" in " ".join([*reply.texts, person.last_text or ""])
