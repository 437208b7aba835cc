"""What a report says, for a period: the city's (the prosecutor's chat: /stats, the weekly digest) and a polyclinic's.

The weekly digests' schedule and queueing are in bot/services/digests.py, the chart's drawing in report_chart.py,
spreadsheet exports in exports.py."""

from __future__ import annotations

import html
import re
from calendar import monthrange
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.cases import cards as alerts
from bot.cases.cards import OPEN_STATUSES
from bot.config import Settings
from bot.l10n import L10n, translator
from storage.models import ReviewKind
from storage.repositories import Repositories

CHART_WEEKS = 8  # a digest's chart: complaints per week over this many weeks, ending with the digest's week
CHART_CLINICS = 6  # polyclinics drawn separately in the city's chart; the others are one "other" band
LIST_AT_MOST = 15  # polyclinics or categories listed in a digest before "…and N more"
RANKED_AT_MOST = 3  # best, worst, most improved and most worsened polyclinics
ESCALATED_AT_MOST = 10
NAME_CHARS = 80  # a polyclinic's name in a digest line (names may be up to 300 characters)
MESSAGE_LIMIT = 4000  # Telegram takes 4096 visible characters; the HTML tags count here too
MAX_PERIOD_DAYS = 366  # /stats and /export in the chat; the command line has no limit
COMPLAINTS = (ReviewKind.COMPLAINT, ReviewKind.VIOLATION)


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


def category_name(code: str | None, l10n: L10n) -> str:
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
    return [l10n("reports.category_line", category=category_name(code, l10n), count=_count(count, l10n))
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
