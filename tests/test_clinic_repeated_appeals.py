"""A repeated appeal at the polyclinic: the resident disagreed with the office's answer, and the office forwards the
case to the polyclinic again. The polyclinic gets a post of its own (what the resident disagrees with, masked, and
a new answer-by date), and an unanswered one is escalated counting from it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.scheduler import escalate_unanswered, morning_reminders, weekly_digests
from storage.models import Case, OutboxMessage
from tests.conftest import App
from tests.flows import RU, one, plain, resident
from tests.test_alerts import CHAT, card_in_chat
from tests.test_alerts import prosecutor as office_member
from tests.test_clinics import (
    ADMIN,
    CLINIC_CHAT,
    STAFF,
    almaty_morning,
    deliver,
    link_group,
    posts_in,
    submit_about_clinic,
)
from tests.test_staff_misuse import deliver_all, office_card, office_sends

pytestmark = pytest.mark.usefixtures("demo_directory")
CLINIC = "Городская поликлиника №17"
REASON = "Ничего не проверяли, врач звонил мне с 87011234567 и опять требует деньги."


async def forward_to_clinic(app: App, card) -> None:
    officer = office_member(app)
    chooser = await officer.press(RU("alert.button_fwd"), message=card.message_id)
    await officer.press(CLINIC, message=chooser.messages[-1].message_id)
    await deliver_all(app)


async def repeated_appeal_forwarded_again(app: App, meanwhile: Callable[[], Awaitable[None]] | None = None) -> str:
    """Forwarded to No. 17's linked group, answered there and by the office, disputed on Monday 7 December, and
    forwarded to the polyclinic again that day: the reference. `meanwhile` runs after the office's answer, before
    the disagreement."""
    staff = await link_group(app)
    reference, card = await office_card(app)
    await forward_to_clinic(app, card)
    [post] = posts_in(app, CLINIC_CHAT)
    await staff.press(RU("clinic_post.answer_button"), message=post.message_id)
    await staff.send("Проверка проведена, нарушений не выявлено.")
    await deliver(app)
    await disputed_and_forwarded_again(app, card, meanwhile)
    await deliver(app)
    return reference


async def disputed_and_forwarded_again(app: App, card, meanwhile: Callable[[], Awaitable[None]] | None = None) -> None:
    """The office answers the case; the resident disputes it on Monday 7 December, and the office forwards the
    repeated appeal to the polyclinic again that day. `meanwhile` runs after the answer, before the disagreement."""
    await office_sends(app, card, "alert.button_close", "Проверка проведена, нарушений не выявлено.")
    answer = [m for m in app.session.history(3001) if m.text and "нарушений не выявлено" in m.text][-1]
    if meanwhile is not None:
        await meanwhile()
    app.clock.now = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)  # Monday, 11:00 in Almaty
    person = app.user(3001)
    await person.press(RU("case_notify.disagree_button"), message=answer.message_id)
    await person.send(REASON)
    await deliver_all(app)
    await forward_to_clinic(app, card_in_chat(app))


async def test_a_repeated_appeal_forwarded_again_reaches_the_polyclinic_with_the_disagreement(app: App) -> None:
    reference = await repeated_appeal_forwarded_again(app)
    posts = posts_in(app, CLINIC_CHAT)
    assert len(posts) == 2, [post.text for post in posts]
    first, repeated = posts
    assert repeated.text.startswith(plain(RU("clinic_post.repeated_title", clinic=CLINIC)))
    assert reference in repeated.text
    # What the resident disagrees with, her phone number hidden as in the review itself.
    masked = REASON.replace("87011234567", RU("masking.phone"))
    assert plain(RU("clinic_post.disagreement", reason=masked)) in repeated.text
    assert "87011234567" not in repeated.text
    # Five working days from this post (Tue 8 … Mon 14 December), not from the first one in November.
    days = RU.count("working_days", app.settings.clinics.answer_working_days)
    assert plain(RU("clinic_post.respond_by", due="14.12.2026", days=days)) in repeated.text
    assert plain(RU("clinic_post.respond_by", due="03.12.2026", days=days)) in first.text


async def test_a_repeated_appeal_left_unanswered_by_the_polyclinic_is_escalated_from_its_new_post(app: App) -> None:
    """The polyclinic answered in the first term: that answer neither stops the repeated appeal's escalation nor
    hides it from the office's morning."""
    reference = await repeated_appeal_forwarded_again(app)
    app.clock.now = almaty_morning(14)
    assert await escalate_unanswered(app.pool, app.settings, app.clock) == 0
    app.clock.now = almaty_morning(15)
    assert await escalate_unanswered(app.pool, app.settings, app.clock) == 1
    assert await escalate_unanswered(app.pool, app.settings, app.clock) == 0
    [case] = await one(app, select(Case))
    assert case.escalated_at == almaty_morning(15)
    await morning_reminders(app.pool, app.settings, app.clock)
    [morning] = await one(app, select(OutboxMessage).where(OutboxMessage.chat_id == CHAT,
                                                           OutboxMessage.dedupe_key == "morning:2026-12-15"))
    days = RU.count("working_days", app.settings.clinics.answer_working_days)
    section = RU("clinic_escalation.title", count=1, days=days)
    assert section in morning.payload["text"] and reference in morning.payload["text"].split(section)[1]


async def test_a_repeated_appeal_the_polyclinic_answers_again_is_not_escalated(app: App) -> None:
    await repeated_appeal_forwarded_again(app)
    staff = app.user(STAFF, chat_id=CLINIC_CHAT)
    repeated = posts_in(app, CLINIC_CHAT)[-1]
    await staff.press(RU("clinic_post.answer_button"), message=repeated.message_id)
    await staff.send("Провели повторную проверку, врач отстранён.")
    app.clock.now = almaty_morning(15)
    assert await escalate_unanswered(app.pool, app.settings, app.clock) == 0


def staff_entry(text: str, reference: str) -> str:
    """The line of /reviews that names the appeal (its mark of answered or not is on it)."""
    [line] = [line for line in text.splitlines() if reference in line]
    return line


async def test_a_repeated_appeal_is_awaiting_an_answer_in_the_staffs_list_until_the_polyclinic_answers_again(
        app: App) -> None:
    """The first term's answer is no answer to the resident's disagreement: /reviews says the repeated appeal waits
    for one, and that it has one once the polyclinic answers its new post."""
    reference = await repeated_appeal_forwarded_again(app)
    await app.user(ADMIN).command("grant", f"{STAFF} clinic_staff 17")
    staff = app.user(STAFF)
    listing = await staff.command("reviews")
    assert staff_entry(listing.text, reference).endswith(RU("staff_reviews.unanswered")), listing.text
    group = app.user(STAFF, chat_id=CLINIC_CHAT)
    await group.press(RU("clinic_post.answer_button"), message=posts_in(app, CLINIC_CHAT)[-1].message_id)
    await group.send("Провели повторную проверку, врач отстранён.")
    listing = await staff.command("reviews")
    assert staff_entry(listing.text, reference).endswith(RU("staff_reviews.answered")), listing.text


async def office_line(app: App, reference: str) -> str:
    """The appeal's line in the office's /cases."""
    listing = await office_member(app).command("cases")
    [line] = [line for line in listing.text.splitlines() if reference in line]
    return line


async def staff_answers(app: App, text: str) -> None:
    """The polyclinic answers its latest post, in its group; the answer reaches the office."""
    staff = app.user(STAFF, chat_id=CLINIC_CHAT)
    await staff.press(RU("clinic_post.answer_button"), message=posts_in(app, CLINIC_CHAT)[-1].message_id)
    await staff.send(text)
    await deliver_all(app)


async def test_the_polyclinic_did_not_answer_mark_in_cases_is_of_the_present_term_and_goes_once_it_answers(
        app: App) -> None:
    silent = RU("clinic_escalation.mark")
    await link_group(app)
    reference, card = await office_card(app)  # Thu 26 November
    await forward_to_clinic(app, card)
    app.clock.now = almaty_morning(4)
    assert await escalate_unanswered(app.pool, app.settings, app.clock) == 1
    assert (await office_line(app, reference)).endswith(silent)
    await staff_answers(app, "Проверка проведена, нарушений не выявлено.")
    line = await office_line(app, reference)
    assert silent not in line and RU("case_office.line_clinic_answered") in line, line

    # The resident disagrees with the office's answer: a term of its own, in which the polyclinic is late only once
    # five working days from its new post have passed, and answered only by an answer given in it.
    await disputed_and_forwarded_again(app, card)
    line = await office_line(app, reference)
    assert silent not in line and RU("case_office.line_clinic_answered") not in line, line
    app.clock.now = almaty_morning(8)
    await morning_reminders(app.pool, app.settings, app.clock)
    morning = await one(app, select(OutboxMessage).where(OutboxMessage.chat_id == CHAT,
                                                         OutboxMessage.dedupe_key == "morning:2026-12-08"))
    assert all(reference not in message.payload["text"] for message in morning)
    app.clock.now = almaty_morning(15)
    assert await escalate_unanswered(app.pool, app.settings, app.clock) == 1
    assert (await office_line(app, reference)).endswith(silent)
    await staff_answers(app, "Провели повторную проверку, врач отстранён.")
    line = await office_line(app, reference)
    assert silent not in line and RU("case_office.line_clinic_answered") in line, line


async def test_a_repeated_appeal_posted_again_comes_first_in_the_staffs_list_however_many_came_since_the_first_post(
        app: App) -> None:
    """Ten gratitudes posted to No. 17 after the appeal's first post and before its repeated one: the list (ten a
    page) orders by the latest post, so the disagreement waiting for an answer is first, not off the list."""
    gratitudes = []

    async def ten_gratitudes() -> None:
        for number in range(10):
            person = await resident(app, 2101 + number)
            gratitudes.append(await submit_about_clinic(app, person, kind="gratitude",
                                                        text=f"Спасибо участковому, приём №{number + 1}."))
            app.clock.advance(minutes=1)
        await deliver(app)

    reference = await repeated_appeal_forwarded_again(app, meanwhile=ten_gratitudes)
    await app.user(ADMIN).command("grant", f"{STAFF} clinic_staff 17")
    listing = await app.user(STAFF).command("reviews")
    assert sum(len(row) for row in listing.buttons) == 10, listing.text
    assert staff_entry(listing.text, reference).endswith(RU("staff_reviews.unanswered")), listing.text
    # The rest as before: the latest posted first; the first gratitude, the oldest post now, is left off.
    shown = [listing.text.index(reference), *(listing.text.index(f"приём №{n}.") for n in range(10, 1, -1))]
    assert shown == sorted(shown), listing.text
    assert "приём №1." not in listing.text, listing.text


async def digest_texts(app: App, period: str) -> list[str]:
    """The texts of the weekly digests queued for the period ("07.12.2026 – 13.12.2026"), the office's and the
    polyclinic's."""
    rows = await one(app, select(OutboxMessage).where(OutboxMessage.kind == "digest"))
    return [row.payload["text"] for row in rows if period in (row.payload.get("text") or "")]


async def test_a_first_terms_escalation_is_not_counted_by_the_escalated_filter_nor_the_digests_of_a_repeated_appeal(
        app: App) -> None:
    """Escalated on 4 December, answered by the office, disputed on the 7th: the case's line has no mark, and
    `/cases escalated` and the week's digests no longer count it; escalated again in its own term, they do."""
    await link_group(app)
    reference, card = await office_card(app)  # Thu 26 November
    await forward_to_clinic(app, card)
    app.clock.now = almaty_morning(4)
    assert await escalate_unanswered(app.pool, app.settings, app.clock) == 1
    await disputed_and_forwarded_again(app, card)
    assert RU("clinic_escalation.mark") not in await office_line(app, reference)
    listing = await office_member(app).command("cases", "escalated")
    assert reference not in listing.text, listing.text

    app.clock.now = datetime(2026, 12, 14, 4, 5, tzinfo=UTC)  # Monday 09:05 in Almaty: the week's digests
    await weekly_digests(app.pool, app.settings, app.clock)
    office, clinic = await digest_texts(app, "07.12.2026 – 13.12.2026")
    assert plain(RU("reports.cases_escalated", count=0)) in plain(office), office
    assert reference not in office
    assert plain(RU("reports.clinic_escalated", count=1)) not in plain(clinic), clinic

    # Its own post left unanswered past five working days: escalated in the present term, and counted.
    app.clock.now = almaty_morning(15)
    assert await escalate_unanswered(app.pool, app.settings, app.clock) == 1
    listing = await office_member(app).command("cases", "escalated")
    assert reference in listing.text, listing.text
    stats = await office_member(app).command("stats", "7d")
    assert plain(RU("reports.cases_escalated", count=1)) in stats.texts[0], stats.texts[0]
    assert plain(RU("reports.escalated_line", reference=reference, clinic=CLINIC, when="15.12.2026")) in stats.texts[0]


async def test_the_escalated_filter_of_cases_lists_the_cases_marked_as_the_polyclinic_silent(app: App) -> None:
    """`/cases escalated` lists what the ⚠️ mark says: escalated in the present term and unanswered in it. It kept
    listing a case once the polyclinic answered, and a repeated appeal for the first term's escalation, each shown
    there without the mark it was listed for."""
    def listed(text: str) -> bool:
        return any(reference in line for line in text.splitlines())

    async def escalated_list() -> str:
        return (await office_member(app).command("cases", "escalated")).text

    await link_group(app)
    reference, card = await office_card(app)  # Thu 26 November
    await forward_to_clinic(app, card)
    app.clock.now = almaty_morning(4)
    assert await escalate_unanswered(app.pool, app.settings, app.clock) == 1
    assert listed(await escalated_list())
    await staff_answers(app, "Проверка проведена, нарушений не выявлено.")
    assert not listed(await escalated_list())

    # The resident disagrees; the repeated appeal is posted again and is not late yet: not listed for the first term.
    await disputed_and_forwarded_again(app, card)
    assert not listed(await escalated_list())
    app.clock.now = almaty_morning(15)
    assert await escalate_unanswered(app.pool, app.settings, app.clock) == 1
    listing = await escalated_list()
    assert listed(listing)
    [line] = [line for line in listing.splitlines() if reference in line]
    assert line.endswith(RU("clinic_escalation.mark")), line
