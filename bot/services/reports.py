"""Digests for the prosecutor's chat and the clinics' chats, /stats, and spreadsheet exports of reviews and cases."""

from __future__ import annotations

import asyncio
import csv
import html
import io
import os
import re
import tempfile
import uuid
from calendar import monthrange
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.cases import cards as alerts
from bot.cases.cards import OPEN_STATUSES
from bot.config import WEEKDAYS, Settings
from bot.l10n import L10n, translator
from bot.services import cells, outbox
from storage.models import ReviewKind
from storage.repositories import Repositories

CHART_WEEKS = 8  # a digest's chart: complaints per week over this many weeks, ending with the digest's week
CATCH_UP_PERIODS = 4  # after downtime, at most this many missed weekly digests per chat are sent
CHART_CLINICS = 6  # polyclinics drawn separately in the city's chart; the others are one "other" band
LIST_AT_MOST = 15  # polyclinics or categories listed in a digest before "…and N more"
RANKED_AT_MOST = 3  # best, worst, most improved and most worsened polyclinics
ESCALATED_AT_MOST = 10
NAME_CHARS = 80  # a polyclinic's name in a digest line (names may be up to 300 characters)
SCHEDULE_GRACE = timedelta(hours=1)  # as the scheduler's misfire grace time: a run this late is still on time
MESSAGE_LIMIT = 4000  # Telegram takes 4096 visible characters; the HTML tags count here too
MAX_PERIOD_DAYS = 366  # /stats and /export in the chat; the command line has no limit
COMPLAINTS = (ReviewKind.COMPLAINT, ReviewKind.VIOLATION)
EXPORT_COLUMNS = (
    "reference", "registered_at", "clinic", "doctor", "kind", "category", "rating", "urgency", "reasons", "status",
    "case_status", "assignee", "due_date", "extended", "answered_on", "escalated_at", "evidence", "public_text",
    "text",
)  # fmt: skip
# Widths of the spreadsheet's columns, in characters (Excel's unit), in the order above.
EXPORT_WIDTHS = (16, 17, 30, 28, 16, 30, 8, 16, 40, 18, 22, 14, 12, 10, 17, 17, 10, 60, 60)
_CONTROL_CHARACTERS = re.compile(r"[\000-\010\013\014\016-\037]")  # what XLSX cannot hold


class PeriodError(ValueError):
    """A period the commands do not understand; the chat gets the usage text."""


# --- Periods ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Calendar days in the configured time zone, both ends included."""

    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """[start, end) as moments: local midnight of the first day and of the day after the last."""
        return (datetime.combine(self.first, time(), tzinfo=zone),
                datetime.combine(self.last + timedelta(days=1), time(), tzinfo=zone))

    def previous(self) -> Period:
        """What "change since" compares with: the month before a calendar month, else as many days just before."""
        day_before = self.first - timedelta(days=1)
        if self.first.day == 1 and self.last == self.first.replace(day=monthrange(self.first.year,
                                                                                  self.first.month)[1]):
            return Period(day_before.replace(day=1), day_before)
        return Period(self.first - timedelta(days=self.days), day_before)

    def label(self) -> str:
        if self.first == self.last:
            return f"{self.first:%d.%m.%Y}"
        return f"{self.first:%d.%m.%Y} – {self.last:%d.%m.%Y}"


def parse_period(text: str | None, today: date, *, max_days: int | None = MAX_PERIOD_DAYS) -> Period:
    """`7d` (the last 7 days, today included), `2026-11` (a month), `2026-11-05` (a day),
    `2026-11-01..2026-11-26` (both days included); nothing means the last 7 days."""
    text = (text or "").strip().lower()
    try:
        if not text:
            period = Period(today - timedelta(days=6), today)
        elif match := re.fullmatch(r"(\d{1,4})\s*[dд]", text):
            days = int(match.group(1))
            if days < 1:
                raise PeriodError(text)
            period = Period(today - timedelta(days=days - 1), today)
        elif match := re.fullmatch(r"(\d{4})-(\d{2})", text):
            year, month = int(match.group(1)), int(match.group(2))
            period = Period(date(year, month, 1), date(year, month, monthrange(year, month)[1]))
        elif match := re.fullmatch(r"(\d{4}-\d{2}-\d{2})\s*\.\.\s*(\d{4}-\d{2}-\d{2})", text):
            period = Period(date.fromisoformat(match.group(1)), date.fromisoformat(match.group(2)))
        elif re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            period = Period(date.fromisoformat(text), date.fromisoformat(text))
        else:
            raise PeriodError(text)
    except ValueError as error:  # a month 13, a 31st of November
        raise PeriodError(text) from error
    if period.last < period.first or (max_days is not None and period.days > max_days):
        raise PeriodError(text)
    return period


def local_today(now: datetime, zone: ZoneInfo) -> date:
    return now.astimezone(zone).date()


def digest_time(settings: Settings) -> time:
    hour, minute = (int(part) for part in settings.digest.time.split(":"))
    return time(hour, minute)


def send_moment(day: date, settings: Settings) -> datetime:
    return datetime.combine(day, digest_time(settings), tzinfo=settings.zone)


def latest_send_day(now: datetime, settings: Settings) -> date:
    """The last digest day whose sending time has come by `now`."""
    today = local_today(now, settings.zone)
    day = today - timedelta(days=(today.weekday() - WEEKDAYS.index(settings.digest.weekday)) % 7)
    return day if send_moment(day, settings) <= now else day - timedelta(days=7)


def week_before(send_day: date) -> Period:
    """A digest covers the seven days before the day it is sent."""
    return Period(send_day - timedelta(days=7), send_day - timedelta(days=1))


def due_periods(now: datetime, settings: Settings, *, after: date | None, since: datetime | None = None,
                at_most: int = CATCH_UP_PERIODS) -> list[Period]:
    """The weekly periods whose digest had fallen due by `now`, oldest first, the latest `at_most` of them: those
    after `after` (the first day of the chat's last recorded period); for a chat that never had one, those due since
    `since` (when the chat became known), and none when that is not known either."""
    if after is None and since is None:
        return []
    day = latest_send_day(now, settings)
    periods: list[Period] = []
    while len(periods) < at_most:
        period = week_before(day)
        if period.first <= (after or date.min) or (after is None and send_moment(day, settings) < since):
            break
        periods.append(period)
        day -= timedelta(days=7)
    return periods[::-1]


# --- What a report says -------------------------------------------------------------------------------------


@dataclass
class Chart:
    """Complaints per week, as the PNG shows them (every text already in the chat's language)."""

    title: str
    y_label: str
    weeks: list[str]  # the first day of each week, "dd.mm"
    series: list[tuple[str, list[int]]]  # a polyclinic (or "other") and its count in each week
    totals: list[int]
    total_label: str
    trend: list[float]  # the least-squares line through the weekly totals
    trend_label: str
    empty_note: str
    caption: str


@dataclass
class Report:
    text: str
    chart: Chart


def _number(value: float, l10n: L10n, digits: int = 2) -> str:
    return f"{value:.{digits}f}".replace(".", l10n("reports.decimal_point"))


def _count(value: int, l10n: L10n) -> str:
    """A count as the chat's language writes it: "2 334" in ru and kk, "2,334" in en (a city's year runs to
    thousands)."""
    return l10n.number(value, 0)


def _signed(value: float, l10n: L10n) -> str:
    return ("+" if value >= 0 else "−") + _number(abs(value), l10n)


def _name(clinic: Any, l10n: L10n) -> str:
    name = getattr(clinic, f"name_{l10n.language}")
    return html.escape(name if len(name) <= NAME_CHARS else name[:NAME_CHARS - 1].rstrip() + "…")


def _category(code: str | None, l10n: L10n) -> str:
    if code is None:
        return "—"
    return l10n(f"category.{code}") if l10n.has(f"category.{code}") else code


def _bounded(lines: list[str], limit: int, l10n: L10n) -> list[str]:
    if len(lines) <= limit:
        return lines
    return [*lines[:limit], l10n("reports.more", count=_count(len(lines) - limit, l10n))]


def _fit(compose: Callable[[int], list[str]]) -> str:
    """The text with as many list lines as fit in one message; at worst, whole lines dropped from the end."""
    for limit in (LIST_AT_MOST, 8, 4, 0):
        lines = compose(limit)
        text = "\n".join(lines)
        if len(text) <= MESSAGE_LIMIT:
            return text
    while len(text) > MESSAGE_LIMIT and len(lines) > 1:  # each line is whole HTML, so this never breaks a tag
        lines.pop()
        text = "\n".join(lines)
    return text


def _trend(totals: Sequence[int]) -> list[float]:
    """The least-squares straight line through the weekly totals (flat for a single week)."""
    count = len(totals)
    mean_x, mean_y = (count - 1) / 2, sum(totals) / count
    spread = sum((x - mean_x) ** 2 for x in range(count))
    slope = sum((x - mean_x) * (y - mean_y) for x, y in enumerate(totals)) / spread if spread else 0.0
    return [mean_y + slope * (x - mean_x) for x in range(count)]


async def _chart(repo: Repositories, settings: Settings, l10n: L10n, period: Period,
                 clinic_id: int | None = None) -> Chart:
    """Complaints and violations per week, by polyclinic, over at least CHART_WEEKS weeks ending with the period."""
    zone = settings.zone
    weeks = min(53, max(CHART_WEEKS, -(-period.days // 7)))
    first_day = period.last + timedelta(days=1) - timedelta(days=7 * weeks)
    window = Period(first_day, period.last)
    counts: defaultdict[int, list[int]] = defaultdict(lambda: [0] * weeks)
    for clinic, moment in await repo.reports.registered_times(*window.bounds(zone), kinds=COMPLAINTS,
                                                              clinic_id=clinic_id):
        counts[clinic][(local_today(moment, zone) - first_day).days // 7] += 1
    ordered = sorted(counts, key=lambda clinic: (-sum(counts[clinic]), clinic))
    shown, others = ordered[:CHART_CLINICS], ordered[CHART_CLINICS:]
    clinics = await repo.reports.clinics([clinic_id] if clinic_id is not None else shown)

    def short(clinic: Any) -> str:
        if clinic.number is not None:
            return l10n("reports.chart.clinic_number", number=clinic.number)
        name = getattr(clinic, f"name_{l10n.language}")
        return name if len(name) <= 24 else name[:23] + "…"

    series = [(short(clinics[clinic]), counts[clinic]) for clinic in shown]
    if others:
        series.append((l10n("reports.chart.other", count=len(others)),
                       [sum(counts[clinic][week] for clinic in others) for week in range(weeks)]))
    totals = [sum(values[week] for _, values in series) for week in range(weeks)]
    trend = _trend(totals)
    slope = trend[1] - trend[0] if weeks > 1 else 0.0
    if clinic_id is None:
        title, caption = l10n("reports.chart.title"), l10n("reports.chart_caption", period=window.label())
    else:
        name = getattr(clinics[clinic_id], f"name_{l10n.language}")
        title = l10n("reports.chart.clinic_title", clinic=short(clinics[clinic_id]))
        caption = l10n("reports.clinic_chart_caption", clinic=html.escape(name[:NAME_CHARS]), period=window.label())
    return Chart(title=title, y_label=l10n("reports.chart.y_label"),
                 weeks=[f"{first_day + timedelta(days=7 * week):%d.%m}" for week in range(weeks)],
                 series=series, totals=totals, total_label=l10n("reports.chart.total"), trend=trend,
                 trend_label=l10n("reports.chart.trend", slope=_signed(slope, l10n)),
                 empty_note=l10n("reports.chart.empty"), caption=caption)


def _kinds_line(counted: Counter[str], l10n: L10n) -> str:
    return l10n("reports.by_kind", **{kind.value: _count(counted[kind], l10n) for kind in ReviewKind})


def _category_lines(categories: Counter[str | None], l10n: L10n) -> list[str]:
    ordered = sorted(categories.items(), key=lambda item: (-item[1], item[0] or ""))
    return [l10n("reports.category_line", category=_category(code, l10n), count=_count(count, l10n))
            for code, count in ordered]


async def _changes(repo: Repositories, settings: Settings, period: Period,
                   clinic_id: int | None = None) -> tuple[dict[int, tuple[int, float]], dict[int, tuple[int, float]]]:
    """Per clinic: (reviews, mean stars) in the period and in the one before, of the reviews the ratings count."""
    now = await repo.reports.average_ratings(*period.bounds(settings.zone), clinic_id=clinic_id)
    before = await repo.reports.average_ratings(*period.previous().bounds(settings.zone), clinic_id=clinic_id)
    return now, before


async def city_report(repo: Repositories, settings: Settings, period: Period, *,
                      title_key: str = "reports.stats_title") -> Report:
    """The prosecutor's figures for a period: reviews by kind, category and polyclinic; cases; rankings; the chart."""
    l10n = alerts.chat_l10n(settings)
    zone = settings.zone
    start, end = period.bounds(zone)
    kinds: Counter[str] = Counter()
    categories: Counter[str | None] = Counter()
    by_clinic: Counter[int] = Counter()
    complaints_by_clinic: Counter[int] = Counter()
    for clinic, kind, category, count in await repo.reports.review_counts(start, end):
        kinds[kind] += count
        by_clinic[clinic] += count
        if kind in COMPLAINTS:
            categories[category] += count
            complaints_by_clinic[clinic] += count
    previous = sum(row[-1] for row in await repo.reports.review_counts(*period.previous().bounds(zone)))
    figures = await repo.reports.case_figures(start, end, period.last, open_statuses=list(OPEN_STATUSES))
    escalated = await repo.reports.escalated_open(end, open_statuses=list(OPEN_STATUSES), limit=ESCALATED_AT_MOST)
    minimum = settings.ratings.min_reviews
    best = list(await repo.reports.clinics_by_score(min_reviews=minimum, limit=RANKED_AT_MOST, best=True))
    worst = [row for row in await repo.reports.clinics_by_score(min_reviews=minimum, limit=RANKED_AT_MOST, best=False)
             if row[1].id not in {clinic.id for _, clinic in best}]
    if not worst and len(best) > 1:  # so few ranked polyclinics that the best list took them all: share them
        half = (len(best) + 1) // 2
        best, worst = best[:half], best[half:][::-1]
    now_means, before_means = await _changes(repo, settings, period)
    changes = [(clinic, now_means[clinic][1], before_means[clinic][1]) for clinic in now_means
               if clinic in before_means and now_means[clinic][0] >= minimum and before_means[clinic][0] >= minimum]
    improved = sorted((c for c in changes if c[1] > c[2]), key=lambda c: (c[2] - c[1], c[0]))[:RANKED_AT_MOST]
    worsened = sorted((c for c in changes if c[1] < c[2]), key=lambda c: (c[1] - c[2], c[0]))[:RANKED_AT_MOST]
    names = await repo.reports.clinics([*by_clinic, *(c[0] for c in improved + worsened)])
    clinic_lines = [l10n("reports.clinic_line", clinic=_name(names[clinic], l10n), count=_count(count, l10n),
                         complaints=_count(complaints_by_clinic[clinic], l10n))
                    for clinic, count in sorted(by_clinic.items(), key=lambda item: (-item[1],
                                                                                      -complaints_by_clinic[item[0]],
                                                                                      item[0]))]
    escalated_lines = [l10n("reports.escalated_line", reference=review.reference, clinic=_name(clinic, l10n),
                            when=case.escalated_at.astimezone(zone).strftime("%d.%m.%Y"))
                       for case, review, clinic in escalated]
    chart = await _chart(repo, settings, l10n, period)

    def ranking(title: str, rows: Sequence[Any]) -> list[str]:
        return [title] + [l10n("reports.score_line", place=place, clinic=_name(clinic, l10n),
                               score=_number(stats.score, l10n), count=_count(stats.review_count, l10n))
                          for place, (stats, clinic) in enumerate(rows, 1)]

    def change_lines(key: str, rows: list[tuple[int, float, float]]) -> list[str]:
        return [l10n(key, clinic=_name(names[clinic], l10n), now=_number(now, l10n), before=_number(before, l10n),
                     delta=_signed(now - before, l10n)) for clinic, now, before in rows]

    def compose(limit: int) -> list[str]:
        lines = [l10n(title_key, period=period.label()), "",
                 l10n("reports.reviews_total", count=_count(sum(kinds.values()), l10n),
                      previous=_count(previous, l10n)),
                 _kinds_line(kinds, l10n)]
        if categories:
            lines += ["", l10n("reports.by_category_title"), *_bounded(_category_lines(categories, l10n), limit, l10n)]
        if by_clinic:
            lines += ["", l10n("reports.by_clinic_title"), *_bounded(clinic_lines, limit, l10n)]
        counted = {name: _count(value, l10n) for name, value in figures.items()}
        lines += ["", l10n("reports.cases_title"), l10n("reports.cases_registered", count=counted["registered"]),
                  l10n("reports.cases_answered", count=counted["answered"]),
                  l10n("reports.cases_open", count=counted["open"], unanswered=counted["unanswered"]),
                  l10n("reports.cases_overdue", count=counted["overdue"]),
                  l10n("reports.cases_escalated", count=counted["escalated"])]
        shown = escalated_lines[:limit]
        lines += shown
        if figures["escalated"] > len(shown):
            lines.append(l10n("reports.more", count=_count(figures["escalated"] - len(shown), l10n)))
        lines.append("")
        if best:
            lines += ranking(l10n("reports.best_title"), best)
            if worst:
                lines += ranking(l10n("reports.worst_title"), worst)
            lines.append(l10n("reports.ranked_note", min=minimum))
        else:
            lines.append(l10n("reports.not_ranked", min=minimum))
        lines += ["", l10n("reports.change_title")]
        if improved or worsened:
            lines += change_lines("reports.change_up_line", improved) + change_lines("reports.change_down_line",
                                                                                     worsened)
        else:
            lines.append(l10n("reports.change_none", min=minimum))
        return lines

    return Report(_fit(compose), chart)


async def clinic_report(repo: Repositories, settings: Settings, period: Period, clinic_id: int) -> Report:
    """A polyclinic's own weekly digest, in its chat's language: its reviews, its complaints answered and not, its
    rating and its chart."""
    l10n = translator(settings.locale.default)[settings.clinics.language]
    zone = settings.zone
    start, end = period.bounds(zone)
    kinds: Counter[str] = Counter()
    categories: Counter[str | None] = Counter()
    for _, kind, category, count in await repo.reports.review_counts(start, end, clinic_id=clinic_id):
        kinds[kind] += count
        if kind in COMPLAINTS:
            categories[category] += count
    previous = sum(row[-1] for row in await repo.reports.review_counts(*period.previous().bounds(zone),
                                                                       clinic_id=clinic_id))
    figures = await repo.reports.case_figures(start, end, period.last, open_statuses=list(OPEN_STATUSES),
                                              clinic_id=clinic_id)
    stats = await repo.ratings.of_clinic(clinic_id)
    now_means, before_means = await _changes(repo, settings, period, clinic_id)
    clinic = (await repo.reports.clinics([clinic_id]))[clinic_id]
    chart = await _chart(repo, settings, l10n, period, clinic_id)
    minimum = settings.ratings.min_reviews
    count = stats.review_count if stats is not None else 0
    now = now_means.get(clinic_id)
    before = before_means.get(clinic_id)

    def compose(limit: int) -> list[str]:
        lines = [l10n("reports.clinic_digest_title", clinic=_name(clinic, l10n), period=period.label()), "",
                 l10n("reports.reviews_total", count=_count(sum(kinds.values()), l10n),
                      previous=_count(previous, l10n)),
                 _kinds_line(kinds, l10n)]
        if categories:
            lines += ["", l10n("reports.by_category_title"), *_bounded(_category_lines(categories, l10n), limit, l10n)]
        counted = {name: _count(value, l10n) for name, value in figures.items()}
        lines += ["", l10n("reports.clinic_complaints", received=counted["registered"], answered=counted["answered"],
                           unanswered=counted["unanswered"], overdue=counted["overdue"])]
        if figures["escalated"]:
            lines.append(l10n("reports.clinic_escalated", count=counted["escalated"]))
        lines.append("")
        if stats is not None and count >= minimum:
            lines.append(l10n("reports.clinic_score", score=_number(stats.score, l10n), count=_count(count, l10n)))
        else:
            lines.append(l10n("reports.clinic_unranked", count=_count(count, l10n), min=minimum))
        lines.append(l10n("reports.clinic_average", now=_number(now[1], l10n) if now else "—",
                          before=_number(before[1], l10n) if before else "—",
                          delta=_signed(now[1] - before[1], l10n) if now and before else "—"))
        return lines

    return Report(_fit(compose), chart)


# --- The chart ----------------------------------------------------------------------------------------------


def render_chart(chart: Chart) -> bytes:
    """The chart as a PNG, drawn for a phone's screen. CPU-bound: call it through asyncio.to_thread."""
    # Matplotlib keeps a font cache in its config folder; on a read-only home it must go elsewhere.
    os.environ.setdefault("MPLCONFIGDIR", str(Path(tempfile.gettempdir()) / "medfeedback-matplotlib"))
    import matplotlib

    matplotlib.use("Agg")  # no display, no GUI toolkit
    from matplotlib.figure import Figure  # the object API: no pyplot state shared between threads
    from matplotlib.ticker import MaxNLocator

    font = "DejaVu Sans"  # ships with matplotlib and has Cyrillic and the Kazakh letters: nothing is downloaded
    weeks = len(chart.weeks)
    positions = list(range(weeks))
    figure = Figure(figsize=(8, 7), dpi=150, layout="constrained")
    axes = figure.subplots()
    colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
    bottom = [0] * weeks
    for index, (label, counts) in enumerate(chart.series):
        axes.bar(positions, counts, bottom=bottom, width=0.7, label=label, color=colours[index % len(colours)])
        bottom = [below + count for below, count in zip(bottom, counts, strict=True)]
    if len(chart.series) > 1:
        axes.plot(positions, chart.totals, color="#222222", marker="o", linewidth=2.5, markersize=7,
                  label=chart.total_label)
    if weeks > 1:
        axes.plot(positions, chart.trend, color="#d62728", linestyle="--", linewidth=2.5, label=chart.trend_label)
    axes.set_title(chart.title, fontfamily=font, fontsize=17, loc="left", pad=12)
    axes.set_ylabel(chart.y_label, fontfamily=font, fontsize=14)
    axes.set_xticks(positions, chart.weeks, fontfamily=font, fontsize=13, rotation=45 if weeks > 10 else 0)
    axes.tick_params(axis="y", labelsize=13)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylim(0, max(max(chart.totals, default=0), max(chart.trend, default=0), 1) * 1.15)
    axes.grid(axis="y", alpha=0.3)
    axes.spines[["top", "right"]].set_visible(False)
    if not any(chart.totals):
        axes.text(0.5, 0.5, chart.empty_note, transform=axes.transAxes, ha="center", va="center",
                  fontfamily=font, fontsize=15, color="#666666")
    if axes.get_legend_handles_labels()[0]:
        figure.legend(loc="outside lower center", ncols=3, frameon=False, prop={"family": font, "size": 13})
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


# --- Weekly digests: what is due, and queueing each period once per chat ------------------------------------


@dataclass(frozen=True)
class DigestPlan:
    audience: str  # "prosecutor" or "clinic" (as DigestRun.audience)
    chat_id: int
    period: Period
    clinic_id: int | None = None


async def due_digests(repo: Repositories, settings: Settings, now: datetime, *,
                      on_schedule: bool = True) -> list[DigestPlan]:
    """Every chat's digests that had fallen due by `now` and are not recorded yet (missed ones too, a few).

    A chat that never had a digest is known since it was linked (a polyclinic's), or since the bot first wrote to it
    (the prosecutor's: then only the latest week is sent, not a backlog from before digests existed). When the bot
    never wrote to it, only the scheduled run sends, at its time: a start-up is not a reason for a digest."""
    plans: list[DigestPlan] = []
    chat_id = settings.prosecutor.chat_id
    if chat_id is not None:
        last = await repo.reports.last_digest(chat_id)
        if last is not None:
            periods = due_periods(now, settings, after=last.period_start)
        else:
            since = await repo.reports.first_message_to(chat_id) or (now - SCHEDULE_GRACE if on_schedule else None)
            periods = due_periods(now, settings, after=None, since=since, at_most=1)
        plans += [DigestPlan("prosecutor", chat_id, period) for period in periods]
    for link in await repo.reports.active_clinic_chats():
        last = await repo.reports.last_digest(link.chat_id)
        plans += [DigestPlan("clinic", link.chat_id, period, link.clinic_id)
                  for period in due_periods(now, settings, after=last.period_start if last else None,
                                            since=link.linked_at)]
    return plans


async def build_digest(repo: Repositories, settings: Settings, plan: DigestPlan) -> Report | None:
    """The digest's text and chart; None when the period was queued for the chat already."""
    if await repo.reports.digest_queued(plan.chat_id, plan.period.first):
        return None
    if plan.audience == "prosecutor":
        return await city_report(repo, settings, plan.period, title_key="reports.digest_title")
    return await clinic_report(repo, settings, plan.period, plan.clinic_id)


def chart_path(settings: Settings, plan: DigestPlan) -> Path:
    """One file per chat and period, so that two instances making the same digest write the same file."""
    return (settings.media.dir / "digests" / f"{plan.chat_id}-{plan.period.first:%Y-%m-%d}.png").resolve()


async def save_chart(chart: Chart, path: Path) -> Path:
    png = await asyncio.to_thread(render_chart, chart)

    def write() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
        partial.write_bytes(png)
        os.replace(partial, path)  # whole or not at all: the relay never uploads half a file

    await asyncio.to_thread(write)
    return path


async def queue_digest(repo: Repositories, plan: DigestPlan, report: Report, path: Path, now: datetime) -> bool:
    """Record the period and queue the text, then the chart, in the caller's transaction; False when the period
    was recorded meanwhile (another instance, or an overlapping run): then nothing is queued."""
    period = plan.period
    if not await repo.reports.record_digest(audience=plan.audience, chat_id=plan.chat_id, period_start=period.first,
                                            period_end=period.last, now=now):
        return False
    key = f"digest:{plan.chat_id}:{period.first.isoformat()}"
    await outbox.enqueue(repo, chat_id=plan.chat_id, kind="digest", dedupe_key=key, now=now, text=report.text)
    await outbox.enqueue(repo, chat_id=plan.chat_id, kind="digest", dedupe_key=f"{key}:chart", now=now,
                         media=[{"kind": "photo", "path": str(path), "caption": report.chart.caption}])
    return True


# --- Exports ------------------------------------------------------------------------------------------------


@dataclass
class Export:
    header: list[str]
    rows: list[list[Any]]
    sheet: str


def _local(moment: datetime | None, zone: ZoneInfo) -> datetime | None:
    """Local wall-clock time without an offset: spreadsheets have no time zones."""
    return moment.astimezone(zone).replace(tzinfo=None) if moment is not None else None


async def export_table(repo: Repositories, settings: Settings, period: Period) -> Export:
    """Every review registered in the period with its case, one row each, in the prosecutor chat's language."""
    l10n = alerts.chat_l10n(settings)
    zone = settings.zone
    rows = []
    found = await repo.reports.export_rows(*period.bounds(zone))
    # People by name, never by Telegram id; reasons in plain words in the chat's language.
    people = await repo.caseload.people(sorted({case.assignee_telegram_id for _, case, *_ in found
                                                if case is not None and case.assignee_telegram_id is not None}))
    for review, case, clinic, doctor, specialty, answered_at, files in found:
        if doctor is not None:
            doctor_name = doctor.full_name
        elif specialty is not None:
            doctor_name = l10n("reports.specialty_only", specialty=getattr(specialty, f"name_{l10n.language}"))
        else:
            doctor_name = None
        rows.append([
            review.reference, _local(review.created_at, zone), getattr(clinic, f"name_{l10n.language}"), doctor_name,
            l10n(f"reports.kind.{review.kind}"), _category(review.category, l10n) if review.category else None,
            review.rating, l10n(f"urgency.{case.urgency}") if case else None,
            alerts.plain_reasons(case.reasons, l10n) if case and case.reasons else None,
            l10n(f"status.{review.status}"), l10n(f"case_status.{case.status}") if case else None,
            alerts.person_name(people[case.assignee_telegram_id])
            if case and case.assignee_telegram_id in people else None,
            case.due_date if case else None,
            (l10n("reports.value.yes") if case.extended else l10n("reports.value.no")) if case else None,
            _local(answered_at, zone), _local(case.escalated_at, zone) if case else None, files,
            review.public_text, review.text,
        ])
    return Export(header=[l10n(f"reports.column.{column}") for column in EXPORT_COLUMNS], rows=rows,
                  sheet=l10n("reports.sheet"))


def xlsx_bytes(export: Export) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(export.sheet[:31])
    sheet.freeze_panes = "A2"
    for index, width in enumerate(EXPORT_WIDTHS, 1):
        sheet.column_dimensions[get_column_letter(index)].width = width

    def cell(value: Any) -> Any:
        if isinstance(value, datetime):
            written = WriteOnlyCell(sheet, value=value)
            written.number_format = "DD.MM.YYYY HH:MM"
            return written
        if isinstance(value, date):
            written = WriteOnlyCell(sheet, value=value)
            written.number_format = "DD.MM.YYYY"
            return written
        if isinstance(value, str):
            written = WriteOnlyCell(sheet, value=_CONTROL_CHARACTERS.sub("", value))
            written.data_type = "s"  # openpyxl would store "=..." as a formula: a resident's text never runs
            return written
        return value

    header = []
    for title in export.header:
        written = WriteOnlyCell(sheet, value=title)
        written.font = Font(bold=True)
        header.append(written)
    sheet.append(header)
    for row in export.rows:
        sheet.append([cell(value) for value in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return f"{value:%d.%m.%Y %H:%M}"
    if isinstance(value, date):
        return f"{value:%d.%m.%Y}"
    return cells.escaped(value)  # the XLSX keeps the text as it is, stored as a string


def csv_bytes(export: Export) -> bytes:
    """UTF-8 with a byte-order mark, so that Excel reads the Cyrillic right; a header row; dates as dd.mm.yyyy."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(export.header)
    writer.writerows([_csv_value(value) for value in row] for row in export.rows)
    return buffer.getvalue().encode("utf-8-sig")


def export_file_name(period: Period, file_format: str) -> str:
    return f"medfeedback-{period.first.isoformat()}-{period.last.isoformat()}.{file_format}"
