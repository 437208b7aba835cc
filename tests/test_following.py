"""A resident following their reviews and a polyclinic's staff answering them, found by a tester acting as an
elderly resident (or the relative writing for them) and as the clinic's staff: the reference number typed as people
type it, My appeals after a withdrawal, an old Answer button under an appeal its author withdrew."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.l10n import Translator
from storage.models import Review
from tests.conftest import App
from tests.flows import RU, one, plain, resident, submit_quick_review

pytestmark = pytest.mark.usefixtures("demo_directory")
T = Translator()
KK, EN = T["kk"], T["en"]


# --- Following a review by its reference number ------------------------------------------------------------


@pytest.mark.parametrize("typed", [
    "AL-2026-000001", "al-2026-000001", "AL 2026 000001", "№ AL-2026-000001", "AL–2026–000001", "AL-2026-1",
    "АЛ-2026-000001",  # typed on the Russian keyboard: Cyrillic А and Л
    "АL-2026-000001",  # a Cyrillic А that looks the same
    "фд-2026-000001",  # the keys of A and L with the keyboard left in Russian
    " AL2026000001 ",
])
async def test_a_reference_typed_at_the_menu_opens_its_card(app: App, typed: str) -> None:
    """The receipt said "reference number AL-2026-000001"; a week later her son types it to see how it stands. The
    bot offered to start a new review with the number as its text."""
    person = await resident(app, 5101)
    await submit_quick_review(app, person, kind="complaint")
    reply = await person.send(typed)
    assert plain(RU("my.card_title", reference="AL-2026-000001")) in plain(reply.texts[0]), reply.texts
    assert RU("menu_offer.prompt") not in reply.texts
    assert [RU("my.back_to_list")] in reply.buttons
    # Nothing was kept as the start of a review.
    reply = await person.command("review")
    assert "AL-2026" not in " ".join(reply.texts)


async def test_a_reference_after_my_opens_its_card_in_the_language_chosen_since(app: App) -> None:
    person = await resident(app, 5102)
    await submit_quick_review(app, person, kind="complaint")
    await person.command("language")
    await person.press("Қазақша")
    reply = await person.command("my", "al 2026 1")
    assert plain(KK("my.card_title", reference="AL-2026-000001")) in plain(reply.texts[0])
    assert [KK("my.back_to_list")] in reply.buttons


async def test_someone_elses_reference_shows_nothing_of_it(app: App) -> None:
    """A neighbour's receipt, or a digit typed wrong: the bot must not show whose it is or what it says, only that
    it is not among this person's, and their own list."""
    neighbour = await resident(app, 5103)
    await submit_quick_review(app, neighbour, kind="complaint")
    stranger = await resident(app, 5104, language="en", button="English")
    reply = await stranger.send("AL-2026-000001")
    assert reply.texts == [EN("my.reference_unknown", reference="AL-2026-000001"), EN("my.empty")]
    # One with a review of their own is shown their own list under the refusal, and nothing of the neighbour's.
    person = await resident(app, 5106)
    await submit_quick_review(app, person, kind="gratitude")
    [_, own] = await one(app, select(Review).order_by(Review.id))
    for reply in (await person.send("AL-2026-000001"), await person.command("my", "AL-2026-000001")):
        assert reply.texts[0] == RU("my.reference_unknown", reference="AL-2026-000001")
        assert reply.text == RU("my.title", total=1, page=1, pages=1)
        assert reply.buttons[0][0].startswith(own.reference)
        assert "Нормально" not in " ".join(reply.texts) and RU("status.submitted") not in reply.texts[0]


async def test_a_number_in_a_story_is_still_a_story(app: App) -> None:
    person = await resident(app, 5105)
    reply = await person.send("Моё обращение AL-2026-000001 так и не рассмотрели, врач опять нагрубил")
    assert reply.text == RU("menu_offer.prompt")


async def test_a_page_button_past_the_end_of_my_appeals_shows_the_last_page(app: App) -> None:
    """A page button naming a page the list does not have (forged, or kept from a list that was longer) said
    "page 6 of 1" above no appeal at all, with only a Previous button."""
    person = await resident(app, 5108)
    await submit_quick_review(app, person, kind="complaint")
    reply = await person.press_data("mr:5")
    assert reply.text == RU("my.title", total=1, page=1, pages=1)
    assert reply.buttons == [["AL-2026-000001 · " + RU("status.submitted")], [RU("menu.home")]]

# --- The polyclinic's staff and an appeal its author withdrew ------------------------------------------------


async def posted_complaint(app: App):
    """A complaint posted to No. 17's group: the staff member of its group, the resident, the reference, the post."""
    from tests.test_clinics import CLINIC_CHAT, RESIDENT, deliver, link_group, posts_in, submit_about_clinic

    staff = await link_group(app)
    person = await resident(app, RESIDENT)
    reference = await submit_about_clinic(app, person, text="Долго ждали в регистратуре.")
    await deliver(app)
    [post] = posts_in(app, CLINIC_CHAT)
    return staff, person, reference, post


async def withdraw(person, reference: str) -> None:
    card = await person.command("my", reference)
    reply = await person.press(RU("case_resident.withdraw_button"), message=card.messages[-1])
    reply = await person.press(RU("case_resident.withdraw_yes"), message=reply.messages[-1])
    assert RU("case_resident.withdrawn", reference=reference) in reply.texts


async def test_the_answer_button_under_a_withdrawn_appeal_says_so_and_stores_nothing(app: App) -> None:
    """The resident withdrew the appeal; in the polyclinic's group its post still has the Answer button. Pressed,
    the bot asked for the answer and then said it was published and sent, while the review is on no page."""
    from storage.models import Response
    from tests.test_clinics import RESIDENT, deliver, texts_to

    staff, person, reference, post = await posted_complaint(app)
    await withdraw(person, reference)
    reply = await staff.press(RU("clinic_post.answer_button"), message=post.message_id)
    assert reply.callback_answers == [RU("clinic_answer.withdrawn", review=reference)]
    assert reply.texts == []
    await staff.send("Приносим извинения, разберёмся.")
    assert await one(app, select(Response)) == []
    await deliver(app)
    assert not [text for text in texts_to(app, RESIDENT) if "Приносим" in text]


async def test_an_answer_begun_before_the_withdrawal_is_not_sent_after_it(app: App) -> None:
    from storage.models import Response

    staff, person, reference, post = await posted_complaint(app)
    await staff.press(RU("clinic_post.answer_button"), message=post.message_id)
    await withdraw(person, reference)
    reply = await staff.send("Приносим извинения, разберёмся.")
    assert reply.texts == [RU("clinic_answer.withdrawn", review=reference)]
    assert await one(app, select(Response)) == []


async def test_the_staffs_list_marks_a_withdrawn_appeal_and_offers_no_answer_to_it(app: App) -> None:
    from tests.test_clinics import ADMIN, STAFF

    _, person, reference, _ = await posted_complaint(app)
    await app.user(ADMIN).command("grant", f"{STAFF} clinic_staff 17")
    await withdraw(person, reference)
    reply = await app.user(STAFF).command("reviews")
    assert f"{reference} · Городская поликлиника №17 · {RU('staff_reviews.withdrawn')}" in reply.text
    assert reply.buttons == []


# --- What the card's history says ------------------------------------------------------------------------------


async def test_the_cards_history_says_what_happened_not_updated_again_and_again(app: App) -> None:
    """Her appeal's card read "registered", then "updated" twice the same minute, and "updated" again when the
    polyclinic answered: the bot's own screening, the post to the polyclinic and the answer's record. She asked
    what had been changed, and by whom."""
    from tests.test_clinics import deliver

    staff, person, reference, post = await posted_complaint(app)
    await staff.press(RU("clinic_post.answer_button"), message=post.message_id)
    await staff.send("Приносим извинения, разберёмся.")
    await deliver(app)
    card = " ".join((await person.command("my", reference)).texts)
    assert RU("history.other") not in card, card
    assert RU("history.clinic.review_posted") in card
    assert card.count("•") == 2  # registered, sent to the polyclinic; the answer is shown as the answer
    assert "Приносим извинения, разберёмся." in card


async def test_the_cards_history_says_a_moderator_published_it(app: App) -> None:
    app.settings.moderation.queue = True
    person = await resident(app, 5107)
    await submit_quick_review(app, person, kind="gratitude")
    moderator = app.user(9001)
    await moderator.command("moderation")
    await moderator.press(RU("moderation.button_ok"))
    card = " ".join((await person.command("my", "AL-2026-000001")).texts)
    assert RU("history.moderation.approved") in card and RU("history.other") not in card, card


# --- Answering twice -----------------------------------------------------------------------------------------


async def test_answer_pressed_again_after_an_answer_says_the_clinic_already_answered(app: App) -> None:
    """A colleague presses Answer under a post the clinic answered yesterday: nothing said so, and the resident got a
    second, different answer from the same polyclinic. The prompt now says when the clinic answered; a new answer is
    still taken (a correction, an addition) and the author gets it too."""
    from storage.models import Response
    from tests.test_clinics import CLINIC_CHAT

    staff, _, reference, post = await posted_complaint(app)
    first = await staff.press(RU("clinic_post.answer_button"), message=post.message_id)
    assert RU("clinic_answer.answered_before", date="26.11.2026") not in first.text
    await staff.send("Приносим извинения, разберёмся.")
    app.clock.advance(days=1)
    colleague = app.user(8160, chat_id=CLINIC_CHAT, first_name="Асель")
    app.session.set_chat_member(CLINIC_CHAT, 8160, "administrator")
    reply = await colleague.press(RU("clinic_post.answer_button"), message=post.message_id)
    assert reply.text == RU("clinic_answer.prompt", name="Асель", review=reference, limit=3500) + "\n\n" + RU(
        "clinic_answer.answered_before", date="26.11.2026")
    reply = await colleague.send("Дополнение: заведующая свяжется с вами.")
    assert reply.text == RU("clinic_answer.published", review=reference)
    assert len(await one(app, select(Response))) == 2


# --- My appeals after the polyclinic answered ---------------------------------------------------------------


async def test_my_appeals_list_shows_which_the_polyclinic_answered(app: App) -> None:
    """The polyclinic answered her complaint; a week later her list still read only "Registered", as on the first
    day, and she believed nobody had looked at it. An answer held for the moderator is not marked: she has not got
    it."""
    from tests.test_clinics import deliver

    staff, person, reference, post = await posted_complaint(app)
    await staff.press(RU("clinic_post.answer_button"), message=post.message_id)
    app.settings.moderation.queue = True
    await staff.send("Ждите звонка заведующей.")
    reply = await person.command("my")
    assert reply.buttons[0] == [RU("my.list_item", reference=reference, status=RU("status.submitted"))]
    app.settings.moderation.queue = False
    await staff.press(RU("clinic_post.answer_button"), message=post.message_id)
    await staff.send("Приносим извинения, разберёмся.")
    await deliver(app)
    app.clock.advance(days=7)
    reply = await person.command("my")
    assert reply.buttons[0] == [RU("my.list_item_answered", reference=reference, status=RU("status.submitted"))]


async def test_a_reference_typed_after_looking_at_the_top_list_opens_its_card(app: App) -> None:
    """She looked at the top specialists, then typed her number: it was searched for as a specialty, "not found"."""
    person = await resident(app, 5109)
    await submit_quick_review(app, person, kind="complaint")
    await person.command("top")
    reply = await person.send("AL-2026-000001")
    assert plain(RU("my.card_title", reference="AL-2026-000001")) in plain(reply.texts[0]), reply.texts
    # The specialty search still takes what is typed next.
    await person.command("top")
    reply = await person.send("окулист")
    assert reply.text != RU("top_search.not_found")
