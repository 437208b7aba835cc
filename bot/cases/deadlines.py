"""Working days on Kazakhstan's calendar and the legal deadlines of appeals (APPK art. 76) counted on them."""

from __future__ import annotations

import math
import tomllib
from calendar import monthrange
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

DEFAULT_CALENDAR_PATH = Path(__file__).resolve().parents[1] / "data" / "kz_calendar.toml"
APPEAL_WORKING_DAYS = 15  # APPK art. 76: an appeal is decided within 15 working days
MAX_EXTENSION_MONTHS = 2  # APPK art. 76: a reasoned extension may not go past 2 months in all
REMINDER_WORKING_DAYS_BEFORE = 3

_ONE_DAY = timedelta(days=1)
_SATURDAY = 5  # date.weekday(): Monday is 0
_YEAR_KEYS = frozenset({"holidays", "extra_days_off", "extra_working_days"})
# The law's fixed holidays (law "On holidays in the Republic of Kazakhstan", Labour Code art. 84), carried over to
# the next working day when they fall on a weekend (art. 85). 7 January and Kurban Ait are holidays that are never
# carried over. Used for the years the published table does not cover (see WorkCalendar.statutory_days_off).
CARRIED_HOLIDAYS = ((1, 1), (1, 2), (3, 8), (3, 21), (3, 22), (3, 23), (5, 1), (5, 7), (5, 9), (7, 6), (8, 30),
                    (10, 25), (12, 16))
UNCARRIED_HOLIDAYS = ((1, 7),)
WARN_DAYS_BEFORE_TABLE_ENDS = 60


class CalendarFileError(ValueError):
    """The calendar file cannot be used as it is (bad TOML, a bad date, an entry that contradicts another)."""


class YearNotInCalendarError(ValueError):
    """A date falls in a year the calendar has no data for."""

    def __init__(self, year: int, source: str) -> None:
        self.year = year
        super().__init__(f"the work calendar ({source}) has no data for {year}: add a [years.{year}] table to it")


@dataclass(frozen=True)
class WorkCalendar:
    """Working days for a five-day week: the published table where it has the year, else the law's rules.

    A year without a [years.YYYY] table is computed from the fixed holidays, the weekend carry-overs and an
    estimate of Kurban Ait (see `statutory_days_off`); dates counted over such a year are *provisional*
    (`is_published` says which years are from the ministry). With `strict=True` such a year is an error instead.
    """

    years: frozenset[int]
    days_off: frozenset[date]  # holidays and extra days off; weekends are implied
    working_weekend_days: frozenset[date]
    source: str = "<in memory>"
    strict: bool = field(default=False, compare=False)

    @classmethod
    def load(cls, path: Path | str | None = None, *, strict: bool = False) -> WorkCalendar:
        """Read the calendar TOML; without a path, the file shipped in bot/data."""
        path = DEFAULT_CALENDAR_PATH if path is None else Path(path)
        try:
            with path.open("rb") as file:
                data = tomllib.load(file)
        except tomllib.TOMLDecodeError as exc:
            raise CalendarFileError(f"{path}: {exc}") from exc
        return cls.from_mapping(data, source=str(path), strict=strict)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = "<in memory>", *,
                     strict: bool = False) -> WorkCalendar:
        """Build from the parsed TOML ({"years": {"2026": {"holidays": [...], ...}}}), checking every entry."""
        tables = data.get("years")
        if not isinstance(tables, Mapping) or not tables:
            raise CalendarFileError(f"{source}: no [years.YYYY] tables")
        years: set[int] = set()
        days_off: set[date] = set()
        working: set[date] = set()
        for key, table in tables.items():
            year = _parse_year(key, source)
            where = f"{source}, [years.{year}]"
            if not isinstance(table, Mapping):
                raise CalendarFileError(f"{where}: expected a table")
            unknown = set(table) - _YEAR_KEYS
            if unknown:
                raise CalendarFileError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(_YEAR_KEYS)}")
            if "holidays" not in table:
                # A year without holidays is a half-done entry, and would pass every holiday off as a working day.
                raise CalendarFileError(f"{where}: 'holidays' is missing")
            holidays = _parse_dates(table["holidays"], year, f"{where} holidays")
            extra_off = _parse_dates(table.get("extra_days_off", []), year, f"{where} extra_days_off")
            extra_working = _parse_dates(table.get("extra_working_days", []), year, f"{where} extra_working_days")
            # Weekend entries in these two lists are almost certainly a slip (a carry-over put on the holiday
            # itself, a transfer with its sides swapped), and would silently change nothing or everything.
            for day in extra_off:
                if day.weekday() >= _SATURDAY:
                    raise CalendarFileError(f"{where} extra_days_off: {day} is a weekend day, already off")
            for day in extra_working:
                if day.weekday() < _SATURDAY:
                    raise CalendarFileError(f"{where} extra_working_days: {day} is a weekday, already working")
                if day in holidays:
                    raise CalendarFileError(f"{where} extra_working_days: {day} is also listed as a holiday")
            years.add(year)
            days_off |= holidays | extra_off
            working |= extra_working
        return cls(frozenset(years), frozenset(days_off), frozenset(working), source, strict)

    def is_published(self, year: int) -> bool:
        """Whether the year comes from the published table (otherwise it is computed by the law's rules)."""
        return year in self.years

    @property
    def table_ends(self) -> date:
        """The last day the published table covers."""
        return date(max(self.years), 12, 31)

    def provisional(self, start: date, end: date) -> bool:
        """Whether a count over (start, end] crossed a year the table does not cover."""
        first = start + _ONE_DAY  # start itself never counts
        return any(not self.is_published(year) for year in range(first.year, end.year + 1))

    def is_working_day(self, day: date) -> bool:
        """Mon-Fri and not a day off, or a weekend day made working; a year without data follows the rules."""
        _require_date(day)
        if day.year not in self.years:
            if self.strict:
                raise YearNotInCalendarError(day.year, self.source)
            return day.weekday() < _SATURDAY and day not in statutory_days_off(day.year)
        if day in self.working_weekend_days:
            return True
        return day.weekday() < _SATURDAY and day not in self.days_off

    def add_working_days(self, start: date, n: int) -> date:
        """The n-th working day after start; start itself never counts, whether it is a working day or not."""
        return self._step(start, n, _ONE_DAY)

    def subtract_working_days(self, day: date, n: int) -> date:
        """The n-th working day before day; day itself never counts."""
        return self._step(day, n, -_ONE_DAY)

    def working_days_between(self, a: date, b: date) -> int:
        """Working days in (a, b], so that working_days_between(a, add_working_days(a, n)) == n; negative if b < a."""
        if b < a:
            return -self.working_days_between(b, a)
        _require_date(a)  # a itself is never counted, so its year need not be in the data
        count = 0
        day = a
        while day < b:
            day += _ONE_DAY
            if self.is_working_day(day):
                count += 1
        return count

    def _step(self, start: date, n: int, step: timedelta) -> date:
        if n < 0:
            raise ValueError(f"n must be 0 or more, got {n}")
        _require_date(start)  # start itself is never counted, so its year need not be in the data
        day = start
        left = n
        while left:
            day += step
            if self.is_working_day(day):
                left -= 1
        return day


@lru_cache(maxsize=64)
def statutory_days_off(year: int) -> frozenset[date]:
    """The weekdays off in a year by the law alone: the fixed holidays, their carry-overs (a holiday on a Saturday
    or Sunday makes the next working day off; two in a row give two), 7 January and an estimate of Kurban Ait.

    No transfer order of the Ministry of Labour is known for such a year, and Kurban Ait is estimated from the
    arithmetic Islamic calendar (it may be a day off): so dates counted over it are provisional until the
    ministry's table for the year is added to kz_calendar.toml.
    """
    holidays = {date(year, month, day) for month, day in CARRIED_HOLIDAYS}
    uncarried = {date(year, month, day) for month, day in UNCARRIED_HOLIDAYS} | set(kurban_ait_estimate(year))
    off = holidays | uncarried
    for holiday in sorted(holidays):
        if holiday.weekday() >= _SATURDAY:
            day = holiday + _ONE_DAY
            while day.weekday() >= _SATURDAY or day in off:
                day += _ONE_DAY
            off.add(day)
    return frozenset(off)


def kurban_ait_estimate(year: int) -> list[date]:
    """10 Dhu al-Hijjah in the arithmetic Islamic calendar, a day earlier (it matched 2025 and 2027, was a day
    early for 2026): the Spiritual Administration announces the real date each year."""
    found = []
    for hijri_year in range(year - 580, year - 577):
        jdn = 10 + math.ceil(29.5 * 11) + (hijri_year - 1) * 354 + (3 + 11 * hijri_year) // 30 + 1948438
        day = date.fromordinal(jdn - 1721425)
        if day.year == year:
            found.append(day)
    return found


@lru_cache(maxsize=1)
def work_calendar() -> WorkCalendar:
    """The shipped calendar, read once."""
    return WorkCalendar.load()


def local_date(moment: datetime, zone: ZoneInfo) -> date:
    """The calendar date of an aware moment in zone; naive datetimes are refused rather than guessed."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"expected a timezone-aware datetime, got naive {moment.isoformat()}")
    return moment.astimezone(zone).date()


def appeal_due_date(
    registered_at: datetime,
    zone: ZoneInfo,
    calendar: WorkCalendar,
    working_days: int = APPEAL_WORKING_DAYS,
) -> date:
    """The last day to answer an appeal: the `working_days`-th working day after its local registration date.

    The rule implemented: registered_at (the moment on the registration coupon, APPK art. 63) is turned
    into a date in `zone` (Asia/Almaty), so 20:00 UTC on a Thursday is already Friday. That date never
    counts; the first counted day is the first working day after it. An appeal registered on a non-working
    day is no exception: registered Saturday or Sunday, the first counted day is Monday (if Monday is a
    working day), so it falls due on the same day as one registered on the Friday before.
    If the body registered a weekend appeal only on Monday, pass Monday's moment: the due date then
    comes one working day later.
    """
    return calendar.add_working_days(local_date(registered_at, zone), working_days)


def due_and_provisional(registered_at: datetime, zone: ZoneInfo, calendar: WorkCalendar,
                        working_days: int = APPEAL_WORKING_DAYS) -> tuple[date, bool]:
    """An appeal's due date, and whether it is provisional: counted over a year the published table does not
    cover, to be counted again once the ministry's table for it is added (a submission never fails for want of it)."""
    due = appeal_due_date(registered_at, zone, calendar, working_days)
    return due, calendar.provisional(local_date(registered_at, zone), due)


def term_started(registered_at: datetime, reopened_at: datetime | None) -> datetime:
    """When an appeal's present term began: its registration, or the resident's latest disagreement with the
    answer. A disagreement is a repeated appeal with a term of its own (15 working days, extendable once to two
    months from it): the office answered in time, and is not shown overdue the day the resident disagrees."""
    return reopened_at or registered_at


def max_extension_date(registered_at: datetime, zone: ZoneInfo) -> date:
    """The latest an extended appeal may be decided: two calendar months after the local registration date.

    Same day number two months later, clamped to the last day of a shorter month (31 December -> 28 or
    29 February). Not moved off weekends or holidays: the law sets a ceiling, and no working days count.
    """
    start = local_date(registered_at, zone)
    months = start.month - 1 + MAX_EXTENSION_MONTHS
    year, month = start.year + months // 12, months % 12 + 1
    return date(year, month, min(start.day, monthrange(year, month)[1]))


def reminder_dates(due: date, calendar: WorkCalendar) -> list[date]:
    """When to remind about a deadline: 3 working days before the due date, and on the due date itself."""
    return [calendar.subtract_working_days(due, REMINDER_WORKING_DAYS_BEFORE), due]


def _require_date(day: object) -> None:
    # datetime is a date subclass that never equals a date, so it would slip past every holiday.
    if isinstance(day, datetime) or not isinstance(day, date):
        raise TypeError(f"expected a date, got {type(day).__name__}; convert to the local date first")


def _parse_year(key: object, source: str) -> int:
    text = str(key)
    if not (text.isdigit() and len(text) == 4):
        raise CalendarFileError(f"{source}: [years.{text}] is not a four-digit year")
    return int(text)


def _parse_dates(entries: object, year: int, where: str) -> set[date]:
    if not isinstance(entries, list):
        raise CalendarFileError(f"{where}: expected a list of \"YYYY-MM-DD\" strings")
    return {_parse_date(entry, year, where) for entry in entries}


def _parse_date(entry: object, year: int, where: str) -> date:
    # TOML also has bare dates (2026-01-01, no quotes); take them too, but not date-times.
    if isinstance(entry, date) and not isinstance(entry, datetime):
        day = entry
    elif isinstance(entry, str):
        try:
            day = date.fromisoformat(entry)
        except ValueError:
            raise CalendarFileError(f"{where}: {entry!r} is not a YYYY-MM-DD date") from None
    else:
        raise CalendarFileError(f"{where}: {entry!r} is not a YYYY-MM-DD date")
    if day.year != year:
        raise CalendarFileError(f"{where}: {day} is not in {year}")
    return day
