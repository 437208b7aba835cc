"""What the public sees: personal data masked in public texts, profanity held, the moderator's queue (approve, reject
with a reason, edit) with the resident told in their language, and ratings counting only approved reviews."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from bot.callbacks import MyReviewOpen
from bot.config import ConfigError, load_settings
from bot.l10n import Translator
from bot.services import ratings
from storage.models import AuditLog, Case, ClinicStats, CountedReview, OutboxMessage, Response, Review
from storage.repositories import Repositories
from tests.conftest import BACKENDS, App
from tests.flows import RU, choose_clinic_17, clinic_17, describe, one, plain, resident
from tests.test_clinics import (
    ADMIN,
    CLINIC_CHAT,
    OFFICE,
    STAFF,
    deliver,
    link_group,
    posts_in,
    submit_about_clinic,
    texts_to,
)
from tests.test_ratings import assert_incremental_equals_rebuilt, build_world, random_history

T = Translator()
EN, KK = T["en"], T["kk"]
MODERATOR = 8200
with_directory = pytest.mark.usefixtures("demo_directory")


async def clinic_reviews_page(app: App, person) -> str:
    clinic = await clinic_17(app)
    await person.command("start", f"page-clinic-{clinic.id}")
    # "💬 Reviews (N)": pressed whatever N is.
    return (await person.press(RU("clinic_page.reviews_button", count=0).split(" (")[0])).text


async def moderator(app: App):
    """A moderator made by an admin's /grant (not in settings.admins)."""
    await app.user(ADMIN).command("grant", f"{MODERATOR} moderator")
    return app.user(MODERATOR)


async def review_of(app: App, reference: str) -> Review:
    return (await one(app, select(Review).where(Review.reference == reference)))[0]


async def withdraw(person, review: Review) -> None:
    """The author withdraws the review from "My reviews", as a resident does."""
    opened = await person.press_data(MyReviewOpen(review_id=review.id).pack())
    await person.press(RU("case_resident.withdraw_button"), message=opened.messages[-1])
    reply = await person.press(RU("case_resident.withdraw_yes"))
    assert RU("case_resident.withdrawn", reference=review.reference) in reply.texts


# --- Personal data -----------------------------------------------------------------------------------------------


@with_directory
@pytest.mark.parametrize(("kind", "written"), [
    ("phone", "+7 701 123 45 67"),
    ("iin", "900101300123"),
    ("email", "aigul.n@mail.kz"),
    ("card", "4400 4301 2345 6789"),
])
async def test_each_kind_of_personal_data_is_masked_in_what_the_public_and_the_clinic_see(
        app: App, kind: str, written: str) -> None:
    await link_group(app)
    person = await resident(app, 2001)
    text = f"Спасибо врачу! Мои данные для связи: {written}."
    reference = await submit_about_clinic(app, person, kind="gratitude", text=text)
    review = await review_of(app, reference)
    assert review.text == text  # the original, kept for the prosecutor's office
    assert review.public_text == f"Спасибо врачу! Мои данные для связи: {RU(f'masking.{kind}')}."
    assert review.public_status == "published"  # personal data alone does not hold a review
    page = await clinic_reviews_page(app, person)
    assert RU(f"masking.{kind}") in page and written not in page
    await deliver(app)
    [post] = posts_in(app, CLINIC_CHAT)
    assert RU(f"masking.{kind}") in post.text and written not in post.text
    [entry] = await one(app, select(AuditLog).where(AuditLog.action == "moderation.screened"))
    assert entry.details["personal_data"] == [kind] and entry.details["status"] == "published"


@with_directory
async def test_placeholders_are_in_the_language_of_the_review(app: App) -> None:
    person = await resident(app, 2002, "kk", "Қазақша")
    await person.press(KK("menu.leave_feedback"))
    await choose_clinic_17(person, "17", KK, "№17 қалалық емхана")
    await person.press(KK("target.clinic"))
    await person.press(KK("kind.gratitude"))
    await person.press("5⭐")
    await describe(person, "Рахмет! Телефоным 87011234567, ЖСН 900101300123.", l10n=KK)
    await person.press(KK("preview.submit"))
    [review] = await one(app, select(Review))
    assert review.public_text == f"Рахмет! Телефоным {KK('masking.phone')}, ЖСН {KK('masking.iin')}."


# --- Profanity, with the queue off --------------------------------------------------------------------------------


@with_directory
async def test_profanity_holds_a_review_until_a_moderator_approves_it(app: App) -> None:
    await link_group(app)
    person = await resident(app, 2003)
    reference = await submit_about_clinic(app, person, text="Регистратор — сука, нахамила мне.")
    assert RU("moderation_receipt.held") in person.all_texts()[-2]  # the receipt, before the menu
    review = await review_of(app, reference)
    assert (review.public_status, review.public_text) == ("pending", "Регистратор — с***, нахамила мне.")
    assert "нахамила" not in await clinic_reviews_page(app, person)
    await deliver(app)
    assert posts_in(app, CLINIC_CHAT) == []

    checker = await moderator(app)
    reply = await checker.command("moderation")
    assert reference in reply.text and RU("moderation.why_profanity", count=1) in reply.text
    assert "Регистратор — с***, нахамила мне." in reply.text and "сука" not in reply.text
    reply = await checker.press(RU("moderation.button_ok"))
    assert reply.texts[0] == RU("moderation.done_approved", item=RU("moderation.item_review"), reference=reference)
    assert reply.text == RU("moderation.empty")
    review = await review_of(app, reference)
    assert review.public_status == "published" and review.text == "Регистратор — сука, нахамила мне."
    assert "Регистратор — с***, нахамила мне." in await clinic_reviews_page(app, person)
    await deliver(app)
    [post] = posts_in(app, CLINIC_CHAT)
    assert "с***" in post.text and "сука" not in post.text
    assert post.text.startswith(plain(RU("clinic_post.title_appeal", clinic="Городская поликлиника №17")))
    # A complaint is an appeal in what the resident is told too.
    assert RU("moderation_notify.published_appeal", reference=reference) in texts_to(app, 2003)


# --- The moderator queue: each outcome, and the resident's notice --------------------------------------------------


@with_directory
@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_approve_reject_with_reason_and_edit_each_tell_the_resident(app: App, backend: str) -> None:
    app.settings.moderation.queue = True
    await link_group(app)
    first = await submit_about_clinic(app, await resident(app, 2011), kind="gratitude", text="Хороший врач.")
    english = await resident(app, 2012, "en", "English", first_name="Dana")
    await english.press(EN("menu.leave_feedback"))
    await choose_clinic_17(english, "17", EN, "City Polyclinic No. 17")
    await english.press(EN("target.clinic"))
    await english.press(EN("kind.gratitude"))
    await english.press("4⭐")
    await describe(english, "The nurse is an idiot.", l10n=EN)
    reply = await english.press(EN("preview.submit"))
    second = next(word for text in reply.texts for word in text.split() if word.startswith("AL-"))
    assert EN("moderation_receipt.held") in "\n".join(reply.texts)
    third = await submit_about_clinic(app, await resident(app, 2013), kind="gratitude",
                                      text="Врач молодец, а медсестра дура, пишите мне на a@b.kz")
    await deliver(app)
    assert posts_in(app, CLINIC_CHAT) == []  # nothing public before a moderator decides

    checker = await moderator(app)
    reply = await checker.command("moderation")
    assert reply.text.startswith(plain(RU("moderation.title", count=3))) and first in reply.text
    assert RU("moderation.why_queue") in reply.text
    await checker.press(RU("moderation.button_ok"))
    reply = await checker.press(RU("moderation.button_no"))  # the second one is shown now
    assert [RU(f"moderation_reason.{reason}") for reason in app.settings.moderation.reject_reasons] == [
        row[0] for row in reply.buttons[:-1]]
    reply = await checker.press(RU("moderation_reason.insults"))
    assert reply.texts[0] == RU("moderation.done_rejected", item=RU("moderation.item_review"), reference=second,
                                reason=RU("moderation_reason.insults"))
    assert third in reply.text
    await checker.press(RU("moderation.button_ed"))
    reply = await checker.send("Врач молодец.")
    assert reply.texts[0] == RU("moderation.done_edited", item=RU("moderation.item_review"), reference=third)
    assert reply.text == RU("moderation.empty")

    stored = {reference: await review_of(app, reference) for reference in (first, second, third)}
    assert [(stored[r].public_status, stored[r].public_text) for r in (first, second, third)] == [
        ("published", "Хороший врач."), ("hidden", "The nurse is an idiot."), ("published", "Врач молодец.")]
    assert stored[third].text == "Врач молодец, а медсестра дура, пишите мне на a@b.kz"  # the original stays
    await deliver(app)
    assert RU("moderation_notify.published", reference=first) in texts_to(app, 2011)
    assert EN("moderation_notify.rejected", reference=second, reason=EN("moderation_reason.insults")) in texts_to(
        app, 2012)  # in the language of the review
    assert RU("moderation_notify.edited", reference=third, text="Врач молодец.") in texts_to(app, 2013)
    assert sorted(post.text.split("\n")[-1] for post in posts_in(app, CLINIC_CHAT)) == ["Врач молодец.",
                                                                                       "Хороший врач."]
    audit = await one(app, select(AuditLog).where(AuditLog.action.like("moderation.%"),
                                                  AuditLog.action != "moderation.screened").order_by(AuditLog.id))
    assert [(entry.action, entry.actor_telegram_id) for entry in audit] == [
        ("moderation.approved", MODERATOR), ("moderation.rejected", MODERATOR), ("moderation.edited", MODERATOR)]
    assert audit[1].details["reason"] == "insults"
    assert (audit[2].details["before"], audit[2].details["after"]) == (
        "Врач молодец, а медсестра дура, пишите мне на [e-mail скрыт]", "Врач молодец.")


@with_directory
async def test_a_rejected_answer_is_not_published_and_the_clinic_is_told_why(app: App) -> None:
    app.settings.moderation.queue = True
    staff = await link_group(app)
    person = await resident(app, 2021)
    reference = await submit_about_clinic(app, person, text="Нагрубили в регистратуре.")
    checker = app.user(ADMIN)  # an admin moderates too
    await checker.command("moderation")
    await checker.press(RU("moderation.button_ok"))
    await deliver(app)
    [post] = posts_in(app, CLINIC_CHAT)
    await staff.press(RU("clinic_post.answer_button"), message=post.message_id)
    await staff.send("Это неправда, пациентка сама кричала.")
    await checker.command("moderation")
    await checker.press(RU("moderation.button_no"))
    await checker.press(RU("moderation_reason.insults"))
    [response] = await one(app, select(Response))
    assert response.public_status == "hidden"
    await deliver(app)
    assert RU("clinic_chat.answer_rejected", review=reference, reason=RU("moderation_reason.insults")) in texts_to(
        app, CLINIC_CHAT)
    assert not [text for text in texts_to(app, 2021) if "неправда" in text]

    await staff.press(RU("clinic_post.answer_button"), message=post.message_id)
    await staff.send("Приносим извинения, с регистратором проведена беседа. Звоните 87011234567.")
    await checker.command("moderation")
    await checker.press(RU("moderation.button_ed"))
    await checker.send("Приносим извинения, с регистратором проведена беседа.")
    responses = await one(app, select(Response).order_by(Response.id))
    assert [(r.public_status, r.public_text) for r in responses] == [
        ("hidden", "Это неправда, пациентка сама кричала."),
        ("published", "Приносим извинения, с регистратором проведена беседа.")]
    assert responses[1].text.endswith("Звоните 87011234567.")
    await deliver(app)
    assert RU("clinic_notify.answer_appeal", clinic="Городская поликлиника №17", reference=reference,
              answer="Приносим извинения, с регистратором проведена беседа.") in texts_to(app, 2021)
    assert STAFF not in [row.chat_id for row in await one(app, select(OutboxMessage))]


@with_directory
async def test_a_rejected_correction_tells_the_clinic_its_earlier_answer_stays_published(app: App) -> None:
    """The clinic's first answer was approved; its second (a correction) rejected: it read only "your answer is not
    published", and could believe the resident and the page had no answer from it at all."""
    app.settings.moderation.queue = True
    staff = await link_group(app)
    person = await resident(app, 2021)
    reference = await submit_about_clinic(app, person, text="Нагрубили в регистратуре.")
    checker = app.user(ADMIN)
    await checker.command("moderation")
    await checker.press(RU("moderation.button_ok"))
    await deliver(app)
    [post] = posts_in(app, CLINIC_CHAT)
    await staff.press(RU("clinic_post.answer_button"), message=post.message_id)
    await staff.send("Приносим извинения, с регистратором проведена беседа.")
    await checker.command("moderation")
    await checker.press(RU("moderation.button_ok"))
    await staff.press(RU("clinic_post.answer_button"), message=post.message_id)
    await staff.send("Уточняем: пациентка сама кричала.")
    await checker.command("moderation")
    await checker.press(RU("moderation.button_no"))
    await checker.press(RU("moderation_reason.insults"))
    await deliver(app)
    told = texts_to(app, CLINIC_CHAT)
    assert RU("clinic_chat.answer_rejected_earlier_stays", review=reference, reason=RU("moderation_reason.insults"),
              date="26.11.2026") in told
    assert RU("clinic_chat.answer_rejected", review=reference, reason=RU("moderation_reason.insults")) not in told
    assert [r.public_status for r in await one(app, select(Response).order_by(Response.id))] == ["published",
                                                                                                "hidden"]


@with_directory
async def test_a_clinic_whose_answer_a_moderator_rewrote_is_told_so_with_the_text_published(app: App) -> None:
    """Not "the moderator approved your answer": the staff must know the resident read other words than theirs."""
    _, _, checker, reference, _ = await _answer_held_for_moderation(
        app, 2107, "Пациентка сама виновата, но мы проведём беседу с регистратором.")
    await checker.command("moderation")
    await checker.press(RU("moderation.button_ed"))
    await checker.send("Мы проведём беседу с регистратором.")
    await deliver(app)
    told = texts_to(app, CLINIC_CHAT)
    assert RU("clinic_chat.answer_published_edited", review=reference,
              answer="Мы проведём беседу с регистратором.") in told
    assert RU("clinic_chat.answer_published", review=reference) not in told


@with_directory
async def test_only_moderators_may_moderate(app: App) -> None:
    person = await resident(app, 2031)
    reference = await submit_about_clinic(app, person, text="Регистратор — сука.")
    review = await review_of(app, reference)
    assert (await person.command("moderation")).texts == [RU("moderation.refused")]
    for data in (f"mq:r:{review.id}:ok", f"mq:r:{review.id}:ed", f"mqr:r:{review.id}:insults"):
        assert (await person.press_data(data)).callback_answers == [RU("moderation.refused")]
    assert (await review_of(app, reference)).public_status == "pending"
    assert await one(app, select(AuditLog).where(AuditLog.action.in_(
        ["moderation.approved", "moderation.rejected", "moderation.edited"]))) == []
    # A moderator's stale button for a decided review changes nothing either.
    checker = await moderator(app)
    await checker.command("moderation")
    await checker.press(RU("moderation.button_ok"))
    reply = await checker.press_data(f"mqr:r:{review.id}:insults")
    assert reply.callback_answers == [RU("moderation.already_decided")]
    assert (await review_of(app, reference)).public_status == "published"


@with_directory
async def test_a_card_approved_after_its_author_withdrew_the_review_publishes_nothing(app: App) -> None:
    """The moderator's card was on screen while the author withdrew the complaint from "My reviews"."""
    await link_group(app)
    person = await resident(app, 2101)
    reference = await submit_about_clinic(app, person, text="Регистратор — сука, нахамила мне.")
    checker = await moderator(app)
    card = await checker.command("moderation")
    assert reference in card.text
    await withdraw(person, await review_of(app, reference))
    reply = await checker.press(RU("moderation.button_ok"), message=card.messages[-1])
    assert reply.callback_answers == [RU("moderation.withdrawn")]
    assert reply.text == RU("moderation.empty")  # the queue moved on: it no longer lists the withdrawn review
    assert (await review_of(app, reference)).public_status == "pending"
    await deliver(app)
    assert posts_in(app, CLINIC_CHAT) == []
    assert not [text for text in texts_to(app, 2101) if "опубликован" in text]


async def _answer_held_for_moderation(app: App, resident_id: int, answer: str):
    """A complaint published by a moderator and posted to the clinic, and the clinic's answer to it held for one."""
    app.settings.moderation.queue = True
    staff = await link_group(app)
    person = await resident(app, resident_id)
    reference = await submit_about_clinic(app, person, text="Нагрубили в регистратуре.")
    checker = await moderator(app)
    await checker.command("moderation")
    await checker.press(RU("moderation.button_ok"))
    await deliver(app)
    [post] = posts_in(app, CLINIC_CHAT)
    await staff.press(RU("clinic_post.answer_button"), message=post.message_id)
    await staff.send(answer)
    [response] = await one(app, select(Response))
    assert response.public_status == "pending"
    return person, staff, checker, reference, post


@with_directory
@pytest.mark.parametrize("decision", ["approve", "reject", "edit"])
async def test_an_answer_to_a_review_its_author_withdrew_is_never_published_nor_sent(app: App, decision: str) -> None:
    """The clinic answered a complaint, the answer waited for a moderator, and the resident withdrew the complaint
    meanwhile: the moderator's card still approved the answer, which was published and sent to the resident who had
    withdrawn (and to the office). Now the decision is refused with a word of why, nothing is stored or sent, and
    the answer leaves the queue."""
    person, _, checker, reference, _ = await _answer_held_for_moderation(app, 2111, "Это неправда, всё было вежливо.")
    card = await checker.command("moderation")
    assert plain(RU("moderation.answer_header", reference=reference, kind=RU("kind.complaint") + " · "
              + RU("category.rudeness"), stars=RU("flow.stars", n=2))) in card.text
    # Begun on the card before the withdrawal (Edit, Reject), or pressed on it after.
    if decision == "edit":
        await checker.press(RU("moderation.button_ed"), message=card.messages[-1])
        await withdraw(person, await review_of(app, reference))
        reply = await checker.send("Всё было вежливо.")
        assert reply.texts == [RU("moderation.review_withdrawn")]
    elif decision == "reject":
        reasons = await checker.press(RU("moderation.button_no"), message=card.messages[-1])
        await withdraw(person, await review_of(app, reference))
        reply = await checker.press(RU("moderation_reason.insults"), message=reasons.messages[-1])
        assert reply.callback_answers == [RU("moderation.review_withdrawn")]
    else:
        await withdraw(person, await review_of(app, reference))
        reply = await checker.press(RU("moderation.button_ok"), message=card.messages[-1])
        assert reply.callback_answers == [RU("moderation.review_withdrawn")]
        assert reply.text == RU("moderation.empty")  # the queue moved on
    [response] = await one(app, select(Response))
    assert (response.public_status, response.public_text) == ("pending", "Это неправда, всё было вежливо.")
    assert (await checker.command("moderation")).text == RU("moderation.empty")
    await deliver(app)
    assert not [text for text in texts_to(app, 2111) if "неправда" in text or "вежливо" in text]
    assert not [text for text in texts_to(app, CLINIC_CHAT) if reference in text and (
        "одобрил" in text or "отклонил" in text)]
    assert not [text for text in texts_to(app, OFFICE) if "вежливо" in text]
    assert await one(app, select(AuditLog).where(AuditLog.action.in_(
        ["moderation.approved", "moderation.rejected", "moderation.edited"]), AuditLog.details["item"].as_string()
        == "answer")) == []


@with_directory
async def test_a_withdrawn_review_cannot_be_answered_from_its_old_post(app: App) -> None:
    """The clinic's post of the complaint stays in its chat after the resident withdrew it: its Answer button, or an
    answer begun before the withdrawal, stored an answer to a withdrawn review and sent it to the resident."""
    await link_group(app)
    staff = app.user(STAFF, chat_id=CLINIC_CHAT, first_name="Гульнара")
    person = await resident(app, 2112)
    reference = await submit_about_clinic(app, person, text="Нагрубили в регистратуре.")
    await deliver(app)
    [post] = posts_in(app, CLINIC_CHAT)
    # Begun before the withdrawal, sent after it.
    await staff.press(RU("clinic_post.answer_button"), message=post.message_id)
    await withdraw(person, await review_of(app, reference))
    reply = await staff.send("Приносим извинения.")
    assert reply.texts == [RU("clinic_answer.withdrawn", review=reference)]
    # Pressed after it.
    reply = await staff.press(RU("clinic_post.answer_button"), message=post.message_id)
    assert reply.callback_answers == [RU("clinic_answer.withdrawn", review=reference)]
    assert not [text for text in reply.texts if "Приносим" in text]
    assert await one(app, select(Response)) == []
    await deliver(app)
    assert not [text for text in texts_to(app, 2112) if "извинения" in text]


@with_directory
async def test_an_edit_sent_after_its_author_withdrew_the_review_publishes_nothing(app: App) -> None:
    """The moderator pressed Edit and was typing the cleaned text when the author withdrew the complaint."""
    await link_group(app)
    person = await resident(app, 2102)
    reference = await submit_about_clinic(app, person, text="Регистратор — сука, нахамила мне.")
    checker = await moderator(app)
    await checker.command("moderation")
    await checker.press(RU("moderation.button_ed"))
    await withdraw(person, await review_of(app, reference))
    reply = await checker.send("Регистратор нахамила мне.")
    assert reply.texts == [RU("moderation.withdrawn")]
    review = await review_of(app, reference)
    assert (review.public_status, review.public_text) == ("pending", "Регистратор — с***, нахамила мне.")
    await deliver(app)
    assert posts_in(app, CLINIC_CHAT) == []
    assert not [text for text in texts_to(app, 2102) if "опубликован" in text]


@with_directory
async def test_moving_on_in_the_queue_ends_an_unfinished_edit_and_a_stray_message_changes_nothing(app: App) -> None:
    """Edit pressed on review A, then Next, then Approve on B: the remark typed afterwards is not A's new text."""
    app.settings.moderation.queue = True
    first = await submit_about_clinic(app, await resident(app, 2105), kind="gratitude", text="Спасибо А.")
    await submit_about_clinic(app, await resident(app, 2106), kind="gratitude", text="Спасибо Б.")
    checker = await moderator(app)
    card = await checker.command("moderation")
    prompt = await checker.press(RU("moderation.button_ed"), message=card.messages[-1])
    assert prompt.texts == [RU("moderation.edit_prompt", item=RU("moderation.item_review"), reference=first,
                               limit=3500)]  # which item the next message will change
    await checker.press(RU("moderation.button_nx"), message=card.messages[-1])
    await checker.press(RU("moderation.button_ok"), message=card.messages[-1])
    await checker.send("а где второй?")
    review = await review_of(app, first)
    assert (review.public_status, review.public_text) == ("pending", "Спасибо А.")


@with_directory
@pytest.mark.parametrize("queue", [False, True])
async def test_a_violation_report_waits_for_no_moderator_and_is_never_called_published(app: App, queue: bool) -> None:
    """A report of a violation is never public (not on the pages, not posted to the polyclinic): a swear word in it,
    or the queue being on, holds nothing, and its author is never told their words were published."""
    app.settings.moderation.queue = queue
    await link_group(app)
    person = await resident(app, 2104)
    text = "Врач, сука, требовал деньги за направление."
    reference = await submit_about_clinic(app, person, kind="violation", category="extortion", text=text)
    checker = await moderator(app)
    assert (await checker.command("moderation")).text == RU("moderation.empty")
    review = await review_of(app, reference)
    [case] = await one(app, select(Case).where(Case.review_id == review.id))
    assert case.formal_appeal and review.text == text  # the office's appeal, as written
    await deliver(app)
    assert any(reference in message.text for message in app.session.history(OFFICE))
    assert posts_in(app, CLINIC_CHAT) == []
    assert not [notice for notice in texts_to(app, 2104) if "опубликован" in notice]


@with_directory
async def test_a_violation_report_held_before_such_reports_stopped_waiting_is_not_decided_from_its_card(
        app: App) -> None:
    """One stored as waiting by an earlier version: out of the queue, and a card still on screen changes nothing."""
    person = await resident(app, 2108)
    reference = await submit_about_clinic(app, person, kind="violation", category="extortion",
                                          text="Врач требовал деньги за направление.")
    async with app.pool() as session, session.begin():
        stored = await session.scalar(select(Review).where(Review.reference == reference))
        stored.public_status = "pending"
    checker = await moderator(app)
    assert (await checker.command("moderation")).text == RU("moderation.empty")
    reply = await checker.press_data(f"mq:r:{stored.id}:ok")
    assert reply.callback_answers == [RU("moderation.gone")]
    assert (await review_of(app, reference)).public_status == "pending"
    await deliver(app)
    assert not [text for text in texts_to(app, 2108) if "опубликован" in text]


# --- Ratings ----------------------------------------------------------------------------------------------------


async def clinic_count(app: App) -> int:
    clinic = await clinic_17(app)
    async with app.pool() as session:
        stats = await session.get(ClinicStats, clinic.id)
    return stats.review_count if stats else 0


@with_directory
@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_with_the_queue_on_ratings_count_only_approved_reviews(app: App, backend: str) -> None:
    app.settings.moderation.queue = True
    approved = await submit_about_clinic(app, await resident(app, 2041), kind="gratitude", text="Отлично.")
    rejected = await submit_about_clinic(app, await resident(app, 2042), kind="gratitude", text="Плохо.")
    waiting = await submit_about_clinic(app, await resident(app, 2043), kind="gratitude", text="Нормально.")
    assert await clinic_count(app) == 0 and await one(app, select(CountedReview)) == []
    checker = await moderator(app)
    await checker.command("moderation")
    await checker.press(RU("moderation.button_ok"))
    await checker.press(RU("moderation.button_no"))
    await checker.press(RU("moderation_reason.off_topic"))
    counted = {row.review_id for row in await one(app, select(CountedReview))}
    assert counted == {(await review_of(app, approved)).id}
    assert await clinic_count(app) == 1
    assert (await review_of(app, rejected)).public_status == "hidden"
    assert (await review_of(app, waiting)).public_status == "pending"
    # The stats kept step by step are exactly what a rebuild from the raw reviews gives under the same rule.
    await assert_incremental_equals_rebuilt(app.pool, app.settings, app.clock.now)
    async with app.pool() as session, session.begin():
        rebuilt = await ratings.rebuild(Repositories(session), now=app.clock.now, settings=app.settings)
    assert rebuilt.counted == 1
    # With the queue off the same reviews count unless hidden: the waiting one joins on a rebuild.
    app.settings.moderation.queue = False
    async with app.pool() as session, session.begin():
        assert (await ratings.rebuild(Repositories(session), now=app.clock.now, settings=app.settings)).counted == 2


@pytest.mark.parametrize("seed", [11, 12])
async def test_with_the_queue_on_incremental_stats_equal_a_rebuild_after_a_random_history(
        pool, settings, seed: int) -> None:
    settings.moderation.queue = True
    world = await build_world(pool, settings)
    now = await random_history(world, seed)
    async with pool() as session:
        counted = (await session.scalars(select(CountedReview.review_id))).all()
        statuses = {review.id: review.public_status for review in (await session.scalars(select(Review))).all()}
    assert counted and all(statuses[review_id] == "published" for review_id in counted)
    assert any(status == "pending" for status in statuses.values())
    await assert_incremental_equals_rebuilt(pool, settings, now)


def test_reject_reasons_must_be_short_ids(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[moderation]\nreject_reasons = ["Rude words"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"moderation\.reject_reasons"):
        load_settings(path)
