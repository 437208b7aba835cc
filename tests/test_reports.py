"""Weekly digests (prosecutor's chat and clinic chats, with the chart, once per period even across downtime),
/stats and /export in the prosecutor's chat, and `medfeedback export` to XLSX and CSV."""

from __future__ import annotations

import asyncio
import csv
import html
import io
import itertools
import re
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiogram.methods import SendDocument, SendMessage, SendPhoto
from openpyxl import load_workbook
from sqlalchemy import select, update

from bot.cases import actions
from bot.cases import cards as alerts
from bot.cases.deadlines import term_started
from bot.scheduler import make_scheduler, weekly_digests
from bot.services import digests, exports, report_chart, reports, reviews
from bot.services.reports import Period
from storage.models import (
    AuditLog,
    Case,
    Clinic,
    ClinicChat,
    ClinicStats,
    DigestRun,
    OutboxMessage,
    Response,
    Review,
)
from storage.repositories import Repositories
from tests.conftest import BACKENDS, App
from tests.flows import RU, one

pytestmark = pytest.mark.usefixtures("demo_directory")
ROOT = Path(__file__).parents[1]
CHAT = -1001234567890  # the conftest settings' prosecutor chat
CLINIC_CHAT, OTHER_CLINIC_CHAT = -1005550000017, -1005550000005
PROSECUTOR, STRANGER = 7001, 7002
ALMATY = ZoneInfo("Asia/Almaty")
PNG = b"\x89PNG\r\n\x1a\n"
WEEK = Period(date(2026, 11, 16), date(2026, 11, 22))  # Monday to Sunday; its digest is due Mon 23 Nov, 09:00
_people = itertools.count(60_000)


def local(day: str, hour: int = 11) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=ALMATY)


def visible(text: str) -> str:
    """What Telegram shows of an HTML text."""
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def relay_for(app: App):
    from bot.services.relay import Relay

    return Relay(app.bot, app.pool, app.clock, app.settings.admins, group_alerts=alerts.group_alerts_for(app.settings))


async def clinic(app: App, number: int) -> Clinic:
    return (await one(app, select(Clinic).where(Clinic.number == number)))[0]


async def submit(app: App, where: Clinic, kind: str, rating: int, when: datetime, *, category: str | None = None,
                 text: str = "Приём прошёл как обычно.", files: int = 0) -> reviews.Submitted:
    """A review as the conversation submits it (review, case, ratings, alert), at a moment of our choosing."""
    draft = {"clinic_id": where.id, "kind": kind, "category": category, "rating": rating, "text": text,
             "anonymous": True, "appellant_name": "Житель Алматы",  # complaints are formal appeals here
             "media": [{"kind": "photo", "file_id": f"f-{n}", "file_unique_id": f"u-{when.timestamp()}-{n}"}
                       for n in range(files)]}
    async with app.pool() as session, session.begin():
        repo = Repositories(session)
        person = await repo.users.get_or_create(next(_people), when, first_name="Житель")
        return await reviews.submit(repo, person, draft, now=when, settings=app.settings, language="ru")


async def answer(app: App, submitted: reviews.Submitted, when: datetime) -> None:
    async with app.pool() as session, session.begin():
        await actions.remember_person(Repositories(session), PROSECUTOR, "Ержан Прокуроров", "erzhan_p", when)
        await actions.close(Repositories(session), submitted.case.id, PROSECUTOR, "Проверка проведена.", when)


async def two_weeks_of_reviews(app: App) -> dict[str, Clinic]:
    """No. 17 falls from 5.00 to 3.00 stars, No. 5 rises from 2.00 to 5.00, No. 21 has an old overdue complaint that
    was escalated, and one complaint each week is answered in the digest's week."""
    c17, c5, c21 = await clinic(app, 17), await clinic(app, 5), await clinic(app, 21)
    old = await submit(app, c21, "complaint", 1, local("2026-10-01"), category="waiting", text="Очередь три часа.")
    async with app.pool() as session, session.begin():
        await session.execute(update(Case).where(Case.id == old.case.id)
                              .values(escalated_at=local("2026-10-30").astimezone(UTC)))
    for day in ("2026-11-09", "2026-11-10", "2026-11-11"):  # the week before
        await submit(app, c17, "gratitude", 5, local(day), text="Спасибо врачу!")
    before = [await submit(app, c5, "complaint", 2, local(day), category="waiting", text="Долго ждали.")
              for day in ("2026-11-12", "2026-11-13", "2026-11-15")]
    rude = [await submit(app, c17, "complaint", 2, local(day), category="rudeness", text="Регистратор нагрубил.")
            for day in ("2026-11-16", "2026-11-17")]
    await submit(app, c17, "gratitude", 5, local("2026-11-18"), text="Хороший терапевт.")
    for day in ("2026-11-18", "2026-11-19", "2026-11-22"):
        await submit(app, c5, "gratitude", 5, local(day, 23), text="Всё отлично.")
    await submit(app, c21, "violation", 1, local("2026-11-20"), category="sanitary", text="Грязно в коридорах.")
    await answer(app, rude[0], local("2026-11-20"))
    await answer(app, before[0], local("2026-11-18"))
    await submit(app, c17, "gratitude", 5, local("2026-11-23", 8))  # after the week: not in it
    return {"17": c17, "5": c5, "21": c21}


async def expected_figures(app: App, period: Period, clinic_id: int | None = None) -> dict[str, int]:
    """The digest's numbers worked out here from the stored rows, independently of the report's SQL."""
    start, end = period.bounds(ALMATY)
    previous_start, _ = period.previous().bounds(ALMATY)
    # A clinic's own figures count only what was posted to it (an unforwarded violation report is the office's).
    posted = set(await one(app, select(AuditLog.entity_id).where(AuditLog.action == "clinic.review_posted")))
    all_reviews = {r.id: r for r in await one(app, select(Review))
                   if clinic_id is None or (r.clinic_id == clinic_id and r.id in posted)}
    in_period = [r for r in all_reviews.values() if start <= r.created_at < end]
    first_answer: dict[int, datetime] = {}
    for response in await one(app, select(Response)):
        first_answer[response.review_id] = min(first_answer.get(response.review_id, response.created_at),
                                               response.created_at)
    all_cases = [c for c in await one(app, select(Case)) if c.review_id in all_reviews]
    still_open = [c for c in all_cases if c.created_at < end and (c.closed_at is None or c.closed_at >= end)]
    return {
        "reviews": len(in_period),
        "previous": sum(previous_start <= r.created_at < start for r in all_reviews.values()),
        **{kind: sum(r.kind == kind for r in in_period) for kind in ("gratitude", "complaint", "violation")},
        "registered": sum(start <= c.created_at < end for c in all_cases),
        "answered": sum(start <= first_answer[c.review_id] < end for c in all_cases if c.review_id in first_answer),
        "open": len(still_open),
        "unanswered": sum(first_answer.get(c.review_id, end) >= end for c in still_open),
        "overdue": sum(c.due_date is not None and c.due_date <= period.last for c in still_open),
        # Escalated in the term the case stood in at the end: a repeated appeal's first-term escalation is not.
        "escalated": sum(c.escalated_at is not None and c.escalated_at < end
                         and (c.escalated_at >= term_started(all_reviews[c.review_id].created_at, c.reopened_at)
                              or (c.reopened_at is not None and c.reopened_at >= end)) for c in still_open),
    }


def sent_photos(app: App, chat_id: int) -> list[bytes]:
    """The bytes of every photo the bot uploaded to a chat (the recording session keeps uploads as files)."""
    photos = []
    for call, outcome in zip(app.session.calls, app.session.outcomes, strict=True):
        if isinstance(call, SendPhoto) and call.chat_id == chat_id and not isinstance(outcome, BaseException):
            photos.append(app.session.files[outcome.photo[-1].file_id].data)
    return photos


def sent_texts(app: App, chat_id: int) -> list[str]:
    return [visible(call.text) for call in app.session.sent_messages(chat_id) if isinstance(call, SendMessage)]


async def digest_rows(app: App, chat_id: int | None = None) -> list[OutboxMessage]:
    query = select(OutboxMessage).where(OutboxMessage.kind == "digest").order_by(OutboxMessage.id)
    rows = await one(app, query)
    return [row for row in rows if chat_id is None or row.chat_id == chat_id]


# --- The prosecutor's weekly digest ---------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_the_weekly_digest_states_the_stored_figures_and_sends_its_chart(app: App, backend: str) -> None:
    clinics = await two_weeks_of_reviews(app)
    app.clock.now = local("2026-11-23", 9).astimezone(UTC) + timedelta(minutes=5)  # the Monday after the week
    assert await weekly_digests(app.pool, app.settings, app.clock) == 1
    [_, chart_row] = await digest_rows(app)
    assert chart_row.payload["media"][0]["kind"] == "photo" and "file_id" not in chart_row.payload["media"][0]
    await relay_for(app).run_once()
    [digest] = [text for text in sent_texts(app, CHAT) if text.startswith("📊")]
    assert digest.splitlines()[0] == visible(RU("reports.digest_title", period="16.11.2026 – 22.11.2026"))
    # The numbers, worked out from the stored rows; and, so that both cannot be wrong alike, by hand.
    figures = await expected_figures(app, WEEK)
    assert figures == {"reviews": 7, "previous": 6, "gratitude": 4, "complaint": 2, "violation": 1, "registered": 3,
                       "answered": 2, "open": 5, "unanswered": 5, "overdue": 1, "escalated": 1}
    expected_lines = [
        RU("reports.reviews_total", count=figures["reviews"], previous=figures["previous"]),
        RU("reports.by_kind", gratitude=figures["gratitude"], complaint=figures["complaint"],
           violation=figures["violation"]),
        RU("reports.category_line", category=RU("category.rudeness"), count=2),
        RU("reports.category_line", category=RU("category.sanitary"), count=1),
        RU("reports.clinic_line", clinic=clinics["17"].name_ru, count=3, complaints=2),
        RU("reports.clinic_line", clinic=clinics["5"].name_ru, count=3, complaints=0),
        RU("reports.clinic_line", clinic=clinics["21"].name_ru, count=1, complaints=1),
        RU("reports.cases_registered", count=figures["registered"]),
        RU("reports.cases_answered", count=figures["answered"]),
        RU("reports.cases_open", count=figures["open"], unanswered=figures["unanswered"]),
        RU("reports.cases_overdue", count=figures["overdue"]),
        RU("reports.cases_escalated", count=figures["escalated"]),
        # No. 5 went from 2.00 to 5.00 stars, No. 17 from 5.00 to 3.00 (three reviews or more in both weeks).
        RU("reports.change_up_line", clinic=clinics["5"].name_ru, now="5,00", before="2,00", delta="+3,00"),
        RU("reports.change_down_line", clinic=clinics["17"].name_ru, now="3,00", before="5,00", delta="−2,00"),
    ]
    lines = digest.splitlines()
    for line in expected_lines:
        assert visible(line) in lines, line
    [escalated] = [line for line in lines if line.startswith("• AL-")]
    assert "AL-2026-000001" in escalated and clinics["21"].name_ru in escalated
    # Best and worst by score: the stored scores of the clinics with enough counting reviews, best first.
    ranked = sorted([s for s in await one(app, select(ClinicStats)) if s.review_count >= 3],
                    key=lambda s: -s.score)
    names = {c.id: c.name_ru for c in clinics.values()}
    assert {s.clinic_id for s in ranked} == {clinics["5"].id, clinics["17"].id}  # No. 21 has only 2 reviews
    best = RU("reports.score_line", place=1, clinic=names[ranked[0].clinic_id],
              score=f"{ranked[0].score:.2f}".replace(".", ","), count=ranked[0].review_count)
    worst = RU("reports.score_line", place=1, clinic=names[ranked[1].clinic_id],
               score=f"{ranked[1].score:.2f}".replace(".", ","), count=ranked[1].review_count)
    assert lines[lines.index(visible(RU("reports.best_title"))) + 1] == best
    assert lines[lines.index(visible(RU("reports.worst_title"))) + 1] == worst
    # Then the chart, uploaded from the file the outbox row names.
    [chart] = sent_photos(app, CHAT)
    assert chart.startswith(PNG) and len(chart) > 10_000
    [photo_call] = [c for c in app.session.calls if isinstance(c, SendPhoto)]
    assert photo_call.caption == RU("reports.chart_caption", period="28.09.2026 – 22.11.2026")  # eight weeks
    assert await asyncio.to_thread(Path(chart_row.payload["media"][0]["path"]).read_bytes) == chart
    [run] = await one(app, select(DigestRun))
    assert (run.audience, run.chat_id, run.period_start, run.period_end) == ("prosecutor", CHAT, WEEK.first,
                                                                             WEEK.last)


async def test_the_chart_counts_complaints_per_clinic_per_week_with_a_trend(app: App) -> None:
    c17, c5 = await clinic(app, 17), await clinic(app, 5)
    for day in ("2026-11-03", "2026-11-10", "2026-11-11", "2026-11-17", "2026-11-18", "2026-11-19"):
        await submit(app, c17, "complaint", 2, local(day), category="rudeness")
    await submit(app, c5, "violation", 1, local("2026-11-18"), category="sanitary")
    await submit(app, c5, "gratitude", 5, local("2026-11-18"))  # not a complaint: not in the chart
    async with app.pool() as session, session.begin():
        report = await reports.city_report(Repositories(session), app.settings, WEEK)
    chart = report.chart
    assert chart.weeks == ["28.09", "05.10", "12.10", "19.10", "26.10", "02.11", "09.11", "16.11"]
    assert chart.series == [("№17", [0, 0, 0, 0, 0, 1, 2, 3]), ("№5", [0, 0, 0, 0, 0, 0, 0, 1])]
    assert chart.totals == [0, 0, 0, 0, 0, 1, 2, 4]
    # Least squares through (0, 0) ... (7, 4): the slope is the sum of (x - 3.5)·y over the sum of (x - 3.5)².
    slope = chart.trend[1] - chart.trend[0]
    assert slope == pytest.approx((1.5 * 1 + 2.5 * 2 + 3.5 * 4) / 42)
    assert chart.trend_label == RU("reports.chart.trend", slope="+0,49")
    assert chart.trend[-1] > chart.trend[0]
    assert report_chart.render_chart(chart).startswith(PNG)


async def test_a_long_list_of_clinics_is_cut_to_one_message(app: App) -> None:
    everyone = await one(app, select(Clinic).order_by(Clinic.id))
    assert len(everyone) > reports.LIST_AT_MOST
    for where in everyone:
        await submit(app, where, "complaint", 2, local("2026-11-17"), category="waiting")
    async with app.pool() as session, session.begin():
        report = await reports.city_report(Repositories(session), app.settings, WEEK)
    assert len(report.text) <= 4096
    lines = report.text.splitlines()
    assert RU("reports.more", count=len(everyone) - reports.LIST_AT_MOST) in lines
    assert sum(line.startswith("• Городская поликлиника") for line in lines) == reports.LIST_AT_MOST


# --- Missed digests --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_digests_missed_while_the_bot_was_down_are_sent_once_each(app: App, backend: str) -> None:
    await submit(app, await clinic(app, 17), "complaint", 2, local("2026-10-28"), category="rudeness")
    app.clock.now = local("2026-11-02", 9).astimezone(UTC) + timedelta(minutes=30)  # Monday, the scheduled run
    assert await weekly_digests(app.pool, app.settings, app.clock) == 1  # never sent before: the latest week only
    assert await weekly_digests(app.pool, app.settings, app.clock) == 0
    # The bot is down from Monday 2 November until Thursday 26 November: the digests of 9, 16 and 23 November
    # were never sent.
    app.clock.now = local("2026-11-26", 10).astimezone(UTC)
    assert await weekly_digests(app.pool, app.settings, app.clock) == 3
    assert await weekly_digests(app.pool, app.settings, app.clock) == 0  # running again adds nothing
    runs = await one(app, select(DigestRun).order_by(DigestRun.period_start))
    assert [(r.period_start, r.period_end) for r in runs] == [
        (date(2026, 10, 26), date(2026, 11, 1)), (date(2026, 11, 2), date(2026, 11, 8)),
        (date(2026, 11, 9), date(2026, 11, 15)), (date(2026, 11, 16), date(2026, 11, 22))]
    assert len(await digest_rows(app, CHAT)) == 8  # a text and a chart for each period
    relay = relay_for(app)
    await relay.run_once()
    titles = [text.splitlines()[0] for text in sent_texts(app, CHAT) if text.startswith("📊")]
    assert titles == [visible(RU("reports.digest_title", period=p)) for p in (
        "26.10.2026 – 01.11.2026", "02.11.2026 – 08.11.2026", "09.11.2026 – 15.11.2026", "16.11.2026 – 22.11.2026")]
    assert len(sent_photos(app, CHAT)) == 4 and all(png.startswith(PNG) for png in sent_photos(app, CHAT))
    # Each digest counts its own week: the complaint of 28 October is in the first one only.
    first = next(text for text in sent_texts(app, CHAT) if text.startswith("📊"))
    assert visible(RU("reports.by_kind", gratitude=0, complaint=1, violation=0)) in first.splitlines()
    # On time again: Monday 30 November, 09:00 exactly, the one new week.
    app.clock.now = local("2026-11-30", 9).astimezone(UTC)
    assert await weekly_digests(app.pool, app.settings, app.clock) == 1
    await relay.run_once()
    assert len([t for t in sent_texts(app, CHAT) if t.startswith("📊")]) == 5
    # Two runs at once (a second instance) still queue each period once.
    app.clock.now = local("2026-12-07", 9).astimezone(UTC)
    assert sum(await asyncio.gather(weekly_digests(app.pool, app.settings, app.clock),
                                    weekly_digests(app.pool, app.settings, app.clock))) == 1
    assert len(await one(app, select(DigestRun))) == 6


async def test_a_long_downtime_sends_only_the_last_four_digests(app: App) -> None:
    app.clock.now = local("2026-09-07", 9).astimezone(UTC)
    assert await weekly_digests(app.pool, app.settings, app.clock) == 1
    app.clock.now = local("2026-11-26", 10).astimezone(UTC)  # eleven digest days later
    assert await weekly_digests(app.pool, app.settings, app.clock) == 4
    starts = [r.period_start for r in await one(app, select(DigestRun).order_by(DigestRun.period_start))]
    assert starts == [date(2026, 8, 31), date(2026, 10, 26), date(2026, 11, 2), date(2026, 11, 9),
                      date(2026, 11, 16)]


async def test_a_start_up_sends_the_latest_digest_only_to_a_chat_the_bot_already_wrote_to(app: App) -> None:
    # A new installation started on a Thursday: nothing was ever sent to the office's chat, so no digest yet.
    app.clock.now = local("2026-11-12", 10).astimezone(UTC)
    assert await weekly_digests(app.pool, app.settings, app.clock, on_schedule=False) == 0
    # An urgent alert reaches the chat that Thursday; the bot is down over Monday's digest time and starts on
    # Tuesday: the digest of the week the bot was serving the chat is due, and is sent then (once).
    await submit(app, await clinic(app, 17), "violation", 1, app.clock.now, category="extortion",
                 text="Врач требовал взятку.")
    assert await one(app, select(OutboxMessage).where(OutboxMessage.kind == "alert"))
    app.clock.now = local("2026-11-17", 10).astimezone(UTC)
    assert await weekly_digests(app.pool, app.settings, app.clock, on_schedule=False) == 1
    assert await weekly_digests(app.pool, app.settings, app.clock, on_schedule=False) == 0
    [run] = await one(app, select(DigestRun))
    assert (run.period_start, run.period_end) == (date(2026, 11, 9), date(2026, 11, 15))


async def test_the_scheduler_runs_the_digest_weekly_at_the_configured_local_time_and_at_start_up(
        app: App, tmp_path: Path) -> None:
    from bot.config import load_settings

    settings = load_settings(tmp_path / "empty.toml", telegram={"token": "123456:TEST-token"},
                             database={"url": app.settings.database.url}, digest={"weekday": "fri", "time": "17:30"})
    scheduler = make_scheduler(settings, app.pool, relay_for(app), app.clock)
    scheduler.start(paused=True)
    try:
        jobs = {job.id: job for job in scheduler.get_jobs()}
        weekly, at_start = jobs["weekly-digests"], jobs["missed-digests"]
        assert weekly.func is weekly_digests and at_start.func is weekly_digests
        assert at_start.kwargs == {"on_schedule": False} and weekly.kwargs == {}
        assert weekly.coalesce and weekly.max_instances == 1 and weekly.misfire_grace_time >= 3600
        fires = weekly.trigger.get_next_fire_time(None, datetime(2026, 11, 26, 5, 0, tzinfo=UTC))
        assert fires == datetime(2026, 11, 27, 17, 30, tzinfo=ALMATY)  # Friday, Almaty time, whatever the machine's
    finally:
        scheduler.shutdown(wait=False)
    # Friday 17:30 digests cover Friday to Thursday.
    known = datetime(2026, 1, 1, tzinfo=UTC)
    assert digests.due_periods(datetime(2026, 11, 27, 12, 29, tzinfo=UTC), settings, after=None, since=known,
                               at_most=1) == [Period(date(2026, 11, 13), date(2026, 11, 19))]
    assert digests.due_periods(datetime(2026, 11, 27, 12, 30, tzinfo=UTC), settings, after=None, since=known,
                               at_most=1) == [Period(date(2026, 11, 20), date(2026, 11, 26))]


# --- Clinic chats ----------------------------------------------------------------------------------------------


async def test_each_linked_clinic_chat_gets_its_own_digest(app: App) -> None:
    c17, c5 = await clinic(app, 17), await clinic(app, 5)
    async with app.pool() as session, session.begin():
        session.add_all([
            ClinicChat(clinic_id=c17.id, chat_id=CLINIC_CHAT, linked_at=local("2026-11-20"), active=True),
            ClinicChat(clinic_id=c5.id, chat_id=OTHER_CLINIC_CHAT, linked_at=local("2026-11-01"), active=False),
        ])
    clinics = await two_weeks_of_reviews(app)
    # Reports of violations about No. 17 that the office never forwarded: in the office's figures, never in No. 17's.
    for day in ("2026-11-17", "2026-11-19"):
        await submit(app, c17, "violation", 1, local(day), category="extortion", text="Требовали взятку.")
    app.clock.now = local("2026-11-23", 9).astimezone(UTC)
    assert await weekly_digests(app.pool, app.settings, app.clock) == 2  # the prosecutor's and No. 17's
    assert await weekly_digests(app.pool, app.settings, app.clock) == 0
    await relay_for(app).run_once()
    c17 = clinics["17"]
    title = visible(RU("reports.clinic_digest_title", clinic=c17.name_ru, period=WEEK.label()))
    [digest] = [text for text in sent_texts(app, CLINIC_CHAT) if text.startswith(title)]  # besides the posts
    figures = await expected_figures(app, WEEK, c17.id)
    assert (figures["reviews"], figures["previous"], figures["registered"], figures["answered"],
            figures["unanswered"], figures["overdue"]) == (3, 3, 2, 1, 1, 0)
    assert figures["violation"] == 0 and (await expected_figures(app, WEEK))["violation"] == 3
    [stats] = await one(app, select(ClinicStats).where(ClinicStats.clinic_id == c17.id))
    lines = digest.splitlines()
    assert lines[0] == visible(RU("reports.clinic_digest_title", clinic=c17.name_ru, period=WEEK.label()))
    for line in (RU("reports.reviews_total", count=figures["reviews"], previous=figures["previous"]),
                 RU("reports.by_kind", gratitude=figures["gratitude"], complaint=figures["complaint"],
                    violation=figures["violation"]),
                 RU("reports.category_line", category=RU("category.rudeness"), count=2),
                 RU("reports.clinic_complaints", received=figures["registered"], answered=figures["answered"],
                    unanswered=figures["unanswered"], overdue=figures["overdue"]),
                 RU("reports.clinic_score", score=f"{stats.score:.2f}".replace(".", ","), count=stats.review_count),
                 RU("reports.clinic_average", now="3,00", before="5,00", delta="−2,00")):
        assert visible(line) in lines, line
    # Nothing about other polyclinics reaches this chat.
    assert clinics["5"].name_ru not in digest and clinics["21"].name_ru not in digest
    [chart] = sent_photos(app, CLINIC_CHAT)
    assert chart.startswith(PNG)
    assert sent_texts(app, OTHER_CLINIC_CHAT) == []  # unlinked (inactive): no digest
    runs = {(r.audience, r.chat_id) for r in await one(app, select(DigestRun))}
    assert runs == {("prosecutor", CHAT), ("clinic", CLINIC_CHAT)}


async def test_a_clinic_chat_linked_during_the_downtime_gets_only_the_weeks_since(app: App) -> None:
    c17 = await clinic(app, 17)
    async with app.pool() as session, session.begin():
        session.add(ClinicChat(clinic_id=c17.id, chat_id=CLINIC_CHAT, linked_at=local("2026-11-10"), active=True))
    app.clock.now = local("2026-11-26", 10).astimezone(UTC)
    await weekly_digests(app.pool, app.settings, app.clock)
    starts = [r.period_start for r in await one(app, select(DigestRun).where(DigestRun.chat_id == CLINIC_CHAT)
                                                .order_by(DigestRun.period_start))]
    assert starts == [date(2026, 11, 9), date(2026, 11, 16)]  # due 16 and 23 November, after it was linked


# --- The outbox carries our own files --------------------------------------------------------------------------


async def test_the_outbox_uploads_a_file_by_path_and_blocks_a_missing_one_without_holding_the_chat(
        app: App, tmp_path: Path) -> None:
    from bot.services import outbox

    picture = tmp_path / "chart.png"
    picture.write_bytes(PNG + b"rest of the picture")
    async with app.pool() as session, session.begin():
        repo = Repositories(session)
        await outbox.enqueue(repo, chat_id=CHAT, kind="digest", dedupe_key="gone", now=app.clock.now,
                             media=[{"kind": "photo", "path": str(tmp_path / "deleted.png")}])
        await outbox.enqueue(repo, chat_id=CHAT, kind="digest", dedupe_key="there", now=app.clock.now,
                             media=[{"kind": "photo", "path": str(picture), "caption": RU("reports.chart.title")}])
    await relay_for(app).run_once()
    app.clock.advance(seconds=1)
    await relay_for(app).run_once()
    assert sent_photos(app, CHAT) == [PNG + b"rest of the picture"]
    gone = (await one(app, select(OutboxMessage).where(OutboxMessage.dedupe_key == "gone")))[0]
    assert gone.status == "blocked" and "deleted.png" in gone.last_error


# --- /stats and /export ----------------------------------------------------------------------------------------


def prosecutor(app: App, user_id: int = PROSECUTOR):
    return app.user(user_id, chat_id=CHAT, first_name="Прокурор")


async def test_stats_with_a_period_answers_with_the_figures_and_the_chart(app: App) -> None:
    clinics = await two_weeks_of_reviews(app)
    reply = await prosecutor(app).command("stats", "2026-11-16..2026-11-22")
    [text, caption] = reply.texts
    lines = text.splitlines()
    assert lines[0] == visible(RU("reports.stats_title", period="16.11.2026 – 22.11.2026"))
    assert visible(RU("reports.reviews_total", count=7, previous=6)) in lines
    assert visible(RU("reports.cases_answered", count=2)) in lines
    assert visible(RU("reports.clinic_line", clinic=clinics["17"].name_ru, count=3, complaints=2)) in lines
    assert caption == RU("reports.chart_caption", period="28.09.2026 – 22.11.2026")
    photo = reply.messages[-1].photo[-1]
    assert app.session.files[photo.file_id].data.startswith(PNG)
    # The default is the last seven days, today included (the clock says 26 November).
    reply = await prosecutor(app).command("stats")
    assert reply.texts[0].splitlines()[0] == visible(RU("reports.stats_title", period="20.11.2026 – 26.11.2026"))
    assert visible(RU("reports.reviews_total", count=3, previous=7)) in reply.texts[0].splitlines()
    reply = await prosecutor(app).command("stats", "2026-11")
    assert reply.texts[0].splitlines()[0] == visible(RU("reports.stats_title", period="01.11.2026 – 30.11.2026"))
    assert visible(RU("reports.reviews_total", count=14, previous=1)) in reply.texts[0].splitlines()


@pytest.mark.parametrize("period", ["last week", "2026-13", "2026-11-30..2026-11-01", "0d", "400d",
                                    "2026-02-30"])
async def test_stats_and_export_with_a_bad_period_explain_the_format(app: App, period: str) -> None:
    usage = RU("reports.usage", max=reports.MAX_PERIOD_DAYS)
    for command in ("stats", "export"):
        reply = await prosecutor(app).command(command, period)
        assert reply.texts == [usage]
        assert not any(isinstance(call, SendPhoto | SendDocument) for call in reply.calls)


async def test_stats_and_export_refuse_strangers_and_other_chats(app: App) -> None:
    await two_weeks_of_reviews(app)
    app.session.set_chat_member(CHAT, STRANGER, "left")
    for command in ("stats", "export"):
        assert (await prosecutor(app, STRANGER).command(command)).texts == []
        # A member of the office, but in another group: the commands work only in the office's chat.
        assert (await app.user(PROSECUTOR, chat_id=-1009999).command(command)).calls == []


def xlsx_rows(data: bytes) -> list[list]:
    workbook = load_workbook(io.BytesIO(data))
    return [list(row) for row in workbook.active.iter_rows(values_only=True)]


async def reviews_for_export(app: App) -> dict[str, reviews.Submitted]:
    c17, c5 = await clinic(app, 17), await clinic(app, 5)
    made = {
        "answered": await submit(app, c17, "complaint", 2, local("2026-11-16", 10), category="rudeness",
                                 text="Регистратор нагрубил.", files=2),
        "formula": await submit(app, c5, "violation", 1, local("2026-11-17", 9), category="extortion",
                                text='=HYPERLINK("http://evil.example","click") врач требовал деньги'),
        "thanks": await submit(app, c17, "gratitude", 5, local("2026-11-18", 15), text="Спасибо!"),
    }
    await submit(app, c17, "gratitude", 4, local("2026-11-23", 1))  # outside the period
    await answer(app, made["answered"], local("2026-11-20", 12))
    async with app.pool() as session, session.begin():
        await session.execute(update(Review).where(Review.id == made["thanks"].review.id)
                              .values(public_text="Спасибо! (опубликовано)"))
    return made


def check_export_rows(rows: list[list], made: dict[str, reviews.Submitted]) -> None:
    """The rows of the 16-22 November export as the XLSX holds them (CSV rows are compared as text)."""
    header, *body = rows
    assert header == [RU(f"reports.column.{column}") for column in exports.EXPORT_COLUMNS]
    assert len(header) == 19
    assert [row[0] for row in body] == [made[k].review.reference for k in ("answered", "formula", "thanks")]
    answered = dict(zip(header, body[0], strict=True))
    column = {name: RU(f"reports.column.{name}") for name in exports.EXPORT_COLUMNS}
    case = made["answered"].case
    assert answered[column["registered_at"]] == local("2026-11-16", 10).replace(tzinfo=None)  # Almaty wall clock
    assert answered[column["clinic"]] == "Городская поликлиника №17"
    assert answered[column["doctor"]] is None
    assert answered[column["kind"]] == RU("reports.kind.complaint")
    assert answered[column["category"]] == RU("category.rudeness")
    assert answered[column["rating"]] == 2
    assert answered[column["urgency"]] == RU(f"urgency.{case.urgency}")
    assert answered[column["reasons"]] == (alerts.plain_reasons(case.reasons, RU) or None)
    assert answered[column["status"]] == RU("status.answered")
    assert answered[column["case_status"]] == RU("case_status.closed")
    assert answered[column["assignee"]] == "Ержан Прокуроров (@erzhan_p)"  # a name, never a Telegram id
    assert answered[column["due_date"]].date() == case.due_date  # openpyxl reads every date cell as a datetime
    assert answered[column["extended"]] == RU("reports.value.no")
    assert answered[column["answered_on"]] == local("2026-11-20", 12).replace(tzinfo=None)
    assert answered[column["escalated_at"]] is None
    assert answered[column["evidence"]] == 2
    assert answered[column["text"]] == "Регистратор нагрубил."
    formula = dict(zip(header, body[1], strict=True))
    assert formula[column["text"]].startswith("=HYPERLINK")  # kept as text, never a formula (checked below)
    assert formula[column["urgency"]] == RU("urgency.critical")
    assert formula[column["kind"]] == RU("reports.kind.violation")
    thanks = dict(zip(header, body[2], strict=True))
    assert (thanks[column["case_status"]], thanks[column["due_date"]], thanks[column["evidence"]]) == (None, None, 0)
    assert thanks[column["public_text"]] == "Спасибо! (опубликовано)"


async def test_export_in_the_chat_sends_an_xlsx_of_the_period(app: App) -> None:
    made = await reviews_for_export(app)
    reply = await prosecutor(app).command("export", "2026-11-16..2026-11-22")
    [document] = reply.messages
    assert document.document.file_name == "medfeedback-2026-11-16-2026-11-22.xlsx"
    assert document.caption == RU("reports.export_caption", period="16.11.2026 – 22.11.2026", count=3)
    data = app.session.files[document.document.file_id].data
    check_export_rows(xlsx_rows(data), made)
    sheet = load_workbook(io.BytesIO(data)).active
    assert sheet.title == RU("reports.sheet")
    # The public and the original texts are strings, never formulas (one of them starts with "=").
    texts = [cell for column in ("R", "S") for cell in sheet[column][1:] if cell.value is not None]
    assert texts and all(cell.data_type == "s" for cell in texts)


async def test_export_of_a_period_without_reviews_says_so_and_sends_no_file(app: App) -> None:
    await reviews_for_export(app)  # all in the second half of November
    reply = await prosecutor(app).command("export", "2026-10")
    assert reply.texts == [RU("reports.export_empty", period="01.10.2026 – 31.10.2026")]
    assert not any(isinstance(call, SendDocument) for call in reply.calls)


async def test_the_command_line_export_writes_the_same_rows_as_xlsx_and_csv(app: App, tmp_path: Path) -> None:
    from bot.__main__ import build_parser, dispatch

    made = await reviews_for_export(app)
    config = tmp_path / "export.toml"
    config.write_text(f'[database]\nurl = "{app.settings.database.url}"\n')
    outputs = {}
    # CSV through the installed entry point, as an operator runs it (a process of its own: about 5 s, mostly
    # importing aiogram); XLSX through the same parser and code in this process.
    out = tmp_path / "reviews.csv"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--config", str(config), "export", "--from", "2026-11-16", "--to", "2026-11-22",
        "--format", "csv", "--out", str(out), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, stderr.decode()
    assert stdout.decode().strip() == f"exported 3 reviews registered 16.11.2026 – 22.11.2026 to {out} (csv)"
    outputs["csv"] = await asyncio.to_thread(out.read_bytes)
    out = tmp_path / "reviews.xlsx"  # the format follows the extension when --format is left out
    args = build_parser().parse_args(["export", "--from", "2026-11-16", "--to", "2026-11-22", "--out", str(out)])
    assert await dispatch(args, app.settings) == 0
    outputs["xlsx"] = await asyncio.to_thread(out.read_bytes)
    rows = xlsx_rows(outputs["xlsx"])
    check_export_rows(rows, made)
    assert outputs["csv"].startswith("\ufeff".encode())  # the BOM: Excel then reads UTF-8
    csv_rows = list(csv.reader(io.StringIO(outputs["csv"].decode("utf-8-sig"))))

    def as_text(value: object) -> str:
        if value is None:
            return ""
        if isinstance(value, datetime):
            return f"{value:%d.%m.%Y}" if value.time() == datetime.min.time() else f"{value:%d.%m.%Y %H:%M}"
        return str(value)

    # The same rows, cell by cell; a text that would run as a formula in Excel is quoted in the CSV.
    expected = [["'" + text if text.startswith("=") else text for text in map(as_text, row)] for row in rows]
    assert csv_rows == expected
    assert csv_rows[2][-1].startswith("'=HYPERLINK") and rows[2][-1].startswith("=HYPERLINK")
    assert csv_rows[1][1] == "16.11.2026 10:00"


async def test_the_command_line_export_refuses_a_reversed_period(app: App, tmp_path: Path) -> None:
    from bot.__main__ import build_parser, dispatch

    args = build_parser().parse_args(["export", "--from", "2026-11-22", "--to", "2026-11-16", "--out",
                                      str(tmp_path / "x.xlsx")])
    assert await dispatch(args, app.settings) == 2
    assert not (tmp_path / "x.xlsx").exists()


# --- Periods ---------------------------------------------------------------------------------------------------


def test_periods_are_parsed_in_local_days() -> None:
    today = date(2026, 11, 26)
    assert reports.parse_period(None, today) == Period(date(2026, 11, 20), today)
    assert reports.parse_period("30d", today) == Period(date(2026, 10, 28), today)
    assert reports.parse_period("2026-02", today) == Period(date(2026, 2, 1), date(2026, 2, 28))
    assert reports.parse_period("2026-11-05", today) == Period(date(2026, 11, 5), date(2026, 11, 5))
    assert reports.parse_period("2026-11-01..2026-11-26", today) == Period(date(2026, 11, 1), today)
    assert WEEK.previous() == Period(date(2026, 11, 9), date(2026, 11, 15))
    assert WEEK.bounds(ALMATY) == (datetime(2026, 11, 15, 19, 0, tzinfo=UTC), datetime(2026, 11, 22, 19, 0, tzinfo=UTC))
    for bad in ("week", "2026-13", "0d", "367d", "2026-11-30..2026-11-01"):
        with pytest.raises(reports.PeriodError):
            reports.parse_period(bad, today)
    assert reports.parse_period("2000-01-01..2026-11-26", today, max_days=None).days > 366
    assert timedelta(days=WEEK.days) == timedelta(days=7)


def test_a_bad_digest_setting_stops_start_up_with_one_line_naming_it(tmp_path: Path) -> None:
    from bot.config import ConfigError, load_settings

    config = tmp_path / "config.toml"
    for section, key in (('[digest]\nweekday = "monday"\n', "digest.weekday"),
                         ('[digest]\ntime = "9am"\n', "digest.time")):
        config.write_text(section)
        with pytest.raises(ConfigError, match=rf"^setting {re.escape(key)} .*MEDFEEDBACK_DIGEST__") as error:
            load_settings(config)
        assert "\n" not in str(error.value)
    config.write_text('[digest]\nweekday = "sun"\ntime = "18:45"\n')
    assert (load_settings(config).digest.weekday, load_settings(config).digest.time) == ("sun", "18:45")
