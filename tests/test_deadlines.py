"""Legal deadlines on Kazakhstan's calendar: hand-counted cases against the shipped kz_calendar.toml."""

from __future__ import annotations

import tomllib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.cases.deadlines import (
    DEFAULT_CALENDAR_PATH,
    CalendarFileError,
    WorkCalendar,
    YearNotInCalendarError,
    appeal_due_date,
    max_extension_date,
    reminder_dates,
)

ALMATY = ZoneInfo("Asia/Almaty")


@pytest.fixture(scope="module")
def kz() -> WorkCalendar:
    return WorkCalendar.load()


def at_almaty(*args: int) -> datetime:
    return datetime(*args, tzinfo=ALMATY)


# --- single days ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 2, 4), True),    # an ordinary Wednesday
        (date(2026, 2, 7), False),   # an ordinary Saturday
        (date(2026, 3, 23), False),  # Mon, Nauryz itself
        (date(2026, 3, 9), False),   # Mon, carry-over of 8 March (Sun)
        (date(2026, 3, 24), False),  # Tue, carry-over of 21 March (Sat)
        (date(2026, 3, 25), False),  # Wed, carry-over of 22 March (Sun)
        (date(2026, 3, 26), True),   # Thu, first working day after the Nauryz block
        (date(2026, 5, 27), False),  # Wed, Kurban Ait
        (date(2027, 5, 17), True),   # Mon after Kurban Ait on Sun 16 May 2027: Kurban Ait is not carried over
        (date(2027, 5, 10), False),  # Mon, carry-over of Victory Day (Sun 9 May 2027)
        (date(2027, 1, 4), False),   # Mon, carry-over of 2 January (Sat)
        (date(2027, 1, 7), False),   # Thu, Orthodox Christmas
        (date(2025, 1, 3), False),   # Fri, transferred day off (order of the Minister of Labour)
        (date(2025, 1, 5), True),    # Sun, made a working day in exchange
        (date(2025, 9, 1), False),   # Mon, carry-over of Constitution Day (Sat 30 Aug 2025)
    ],
)
def test_is_working_day(kz: WorkCalendar, day: date, working: bool) -> None:
    assert kz.is_working_day(day) is working


def test_calendar_refuses_datetimes_that_would_slip_past_holidays(kz: WorkCalendar) -> None:
    with pytest.raises(TypeError):
        kz.is_working_day(datetime(2026, 3, 23, 12, tzinfo=ALMATY))


# --- the 15-working-day appeal deadline -------------------------------------------------------------------

def test_plain_weeks(kz: WorkCalendar) -> None:
    # Registered Mon 2 Feb 2026, no holidays in February: 3-6 Feb are days 1-4, 9-13 are 5-9,
    # 16-20 are 10-14, Mon 23 Feb is day 15.
    assert appeal_due_date(at_almaty(2026, 2, 2, 11), ALMATY, kz) == date(2026, 2, 23)


def test_nauryz_block(kz: WorkCalendar) -> None:
    # Registered Tue 17 Mar 2026: 18, 19, 20 are days 1-3; 21-25 March are all off (Sat-Sun Nauryz, Mon Nauryz,
    # Tue-Wed carry-overs); 26, 27 are 4-5; 30 Mar-3 Apr are 6-10; 6-10 Apr are 11-15 -> Fri 10 Apr.
    assert appeal_due_date(at_almaty(2026, 3, 17, 9), ALMATY, kz) == date(2026, 4, 10)


def test_weekend_holiday_moved_and_kurban_ait(kz: WorkCalendar) -> None:
    # Registered Fri 8 May 2026. Victory Day (Sat 9 May) moves to Mon 11 May, so 12-15 May are days 1-4,
    # 18-22 are 5-9, 25-26 are 10-11, Wed 27 May is Kurban Ait, 28-29 are 12-13, 1-2 June are 14-15.
    assert appeal_due_date(at_almaty(2026, 5, 8, 16), ALMATY, kz) == date(2026, 6, 2)


def test_extra_working_sunday_from_the_2025_transfer(kz: WorkCalendar) -> None:
    # Registered Thu 2 Jan 2025 (a holiday; it does not count anyway). Fri 3 Jan is the transferred day off,
    # Sat 4 off, Sun 5 Jan is a working day (day 1), Mon 6 is 2, Tue 7 is Christmas, 8-10 are 3-5,
    # 13-17 are 6-10, 20-24 are 11-15 -> Fri 24 Jan. Without the working Sunday it would be Mon 27 Jan.
    assert appeal_due_date(at_almaty(2025, 1, 2, 10), ALMATY, kz) == date(2025, 1, 24)


def test_extra_working_saturday(tmp_path: Path) -> None:
    # A made-up year: Fri 6 Mar 2026 is a transferred day off, Sat 14 Mar a working day.
    path = tmp_path / "calendar.toml"
    path.write_text(
        '[years.2026]\nholidays = []\nextra_days_off = ["2026-03-06"]  # transfer\n'
        'extra_working_days = ["2026-03-14"]  # in exchange\n',
        encoding="utf-8",
    )
    calendar = WorkCalendar.load(path)
    assert calendar.is_working_day(date(2026, 3, 14)) is True
    assert calendar.is_working_day(date(2026, 3, 6)) is False
    # Registered Thu 5 Mar: Fri 6 off; 9-13 are days 1-5; Sat 14 is day 6; 16-20 are 7-11; 23-26 are 12-15.
    assert appeal_due_date(at_almaty(2026, 3, 5, 10), ALMATY, calendar) == date(2026, 3, 26)


def test_year_boundary_counts_into_next_year(kz: WorkCalendar) -> None:
    # Registered Sun 20 Dec 2026: 21-25 Dec are days 1-5, 28-31 are 6-9; Fri 1 Jan 2027 New Year, 2 Jan (Sat)
    # carried over to Mon 4 Jan; Tue 5, Wed 6 are 10-11; Thu 7 Christmas; Fri 8 is 12; 11-13 Jan are 13-15.
    assert appeal_due_date(at_almaty(2026, 12, 20, 14), ALMATY, kz) == date(2027, 1, 13)


def test_late_evening_utc_is_already_the_next_day_in_almaty(kz: WorkCalendar) -> None:
    # Almaty is UTC+5 (since 1 March 2024). Thu 5 Feb 2026 18:59 UTC is 23:59 Thursday in Almaty:
    # 6 Feb is day 1, 9-13 are 2-6, 16-20 are 7-11, 23-26 are 12-15 -> Thu 26 Feb.
    thursday_night = datetime(2026, 2, 5, 18, 59, tzinfo=UTC)
    assert appeal_due_date(thursday_night, ALMATY, kz) == date(2026, 2, 26)
    # One minute later it is 00:00 Friday in Almaty, so Friday is not counted: 9-13 Feb are days 1-5,
    # 16-20 are 6-10, 23-27 are 11-15 -> Fri 27 Feb.
    friday_in_almaty = datetime(2026, 2, 5, 19, 0, tzinfo=UTC)
    assert appeal_due_date(friday_in_almaty, ALMATY, kz) == date(2026, 2, 27)


def test_registered_on_saturday_first_counted_day_is_monday(kz: WorkCalendar) -> None:
    saturday = at_almaty(2026, 2, 7, 10)
    # The next working day after Saturday counts as day 1, not as a new day 0.
    assert appeal_due_date(saturday, ALMATY, kz, working_days=1) == date(2026, 2, 9)
    # 9-13 Feb are days 1-5, 16-20 are 6-10, 23-27 are 11-15 -> Fri 27 Feb, as for the Friday before.
    assert appeal_due_date(saturday, ALMATY, kz) == date(2026, 2, 27)
    assert appeal_due_date(at_almaty(2026, 2, 6, 10), ALMATY, kz) == date(2026, 2, 27)


def test_naive_registration_time_is_refused(kz: WorkCalendar) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        appeal_due_date(datetime(2026, 2, 2, 11), ALMATY, kz)  # noqa: DTZ001 - naive on purpose


# --- the other working-day operations ---------------------------------------------------------------------

def test_working_days_between(kz: WorkCalendar) -> None:
    # (Fri 20 Mar, Thu 26 Mar 2026]: 21-25 are all off, only the 26th counts.
    assert kz.working_days_between(date(2026, 3, 20), date(2026, 3, 26)) == 1
    assert kz.working_days_between(date(2026, 3, 26), date(2026, 3, 20)) == -1
    assert kz.working_days_between(date(2026, 3, 26), date(2026, 3, 26)) == 0
    # Across the year boundary, the case above: 15 working days from Sun 20 Dec 2026 to Wed 13 Jan 2027.
    assert kz.working_days_between(date(2026, 12, 20), date(2027, 1, 13)) == 15


def test_subtract_working_days(kz: WorkCalendar) -> None:
    # Back from Thu 26 Mar 2026: 25, 24, 23, 22, 21 are off; Fri 20 is 1, Thu 19 is 2.
    assert kz.subtract_working_days(date(2026, 3, 26), 2) == date(2026, 3, 19)
    assert kz.subtract_working_days(date(2026, 3, 26), 0) == date(2026, 3, 26)
    with pytest.raises(ValueError):
        kz.add_working_days(date(2026, 3, 26), -1)


def test_reminder_dates_skip_the_nauryz_block(kz: WorkCalendar) -> None:
    # Due Fri 27 Mar 2026: back, Thu 26 is 1, 21-25 are off, Fri 20 is 2, Thu 19 is 3.
    assert reminder_dates(date(2026, 3, 27), kz) == [date(2026, 3, 19), date(2026, 3, 27)]
    # Due Thu 26 Feb 2026: Wed 25, Tue 24, Mon 23 -> Mon 23 Feb.
    assert reminder_dates(date(2026, 2, 26), kz) == [date(2026, 2, 23), date(2026, 2, 26)]


# --- the two-month ceiling of an extension ----------------------------------------------------------------

@pytest.mark.parametrize(
    ("registered_at", "ceiling"),
    [
        (at_almaty(2026, 3, 15, 10), date(2026, 5, 15)),    # same day number two months later
        (at_almaty(2026, 12, 31, 10), date(2027, 2, 28)),   # 31 Dec -> no 31 Feb, clamp to 28 Feb
        (at_almaty(2027, 12, 31, 10), date(2028, 2, 29)),   # 2028 is a leap year: 29 Feb
        (at_almaty(2026, 7, 31, 10), date(2026, 9, 30)),    # no 31 September: 30 Sep
        (at_almaty(2026, 11, 15, 10), date(2027, 1, 15)),   # rolls into the next year
        # 20:00 UTC on 31 Dec 2026 is 01:00 on 1 Jan 2027 in Almaty: two months from 1 Jan is 1 Mar.
        (datetime(2026, 12, 31, 20, tzinfo=UTC), date(2027, 3, 1)),
    ],
)
def test_max_extension_date(registered_at: datetime, ceiling: date) -> None:
    assert max_extension_date(registered_at, ALMATY) == ceiling


# --- years the data does not cover ------------------------------------------------------------------------

def test_a_strict_calendar_refuses_a_year_beyond_the_data_naming_it() -> None:
    strict = WorkCalendar.load(strict=True)
    with pytest.raises(YearNotInCalendarError, match="2028") as caught:
        strict.is_working_day(date(2028, 1, 4))
    assert isinstance(caught.value, ValueError)
    assert caught.value.year == 2028
    with pytest.raises(ValueError, match="2024"):
        strict.is_working_day(date(2024, 12, 31))


def test_years_beyond_the_table_follow_the_law_and_are_provisional(kz: WorkCalendar) -> None:
    # Mon 13 Dec 2027: 14, 15 (16 Independence Day), 17, 20-24, 27-31 are days 1-13; in 2028 (no table) 1 Jan (Sat)
    # and 2 Jan (Sun) are carried over to Mon 3 and Tue 4 Jan, so Wed 5 and Thu 6 Jan are days 14 and 15.
    registered = at_almaty(2027, 12, 13, 10)
    due = appeal_due_date(registered, ALMATY, kz)
    assert due == date(2028, 1, 6)
    assert kz.provisional(registered.date(), due) and not kz.is_published(2028)
    assert not kz.is_working_day(date(2028, 1, 7))  # Orthodox Christmas, a fixed holiday
    # Sat 1 Jun 2030: counting starts on Mon 3 Jun; 6 Jul (Sat) is far beyond, so three plain weeks.
    registered = at_almaty(2030, 6, 1, 10)
    assert appeal_due_date(registered, ALMATY, kz) == date(2030, 6, 21)
    assert kz.provisional(registered.date(), date(2030, 6, 21))
    assert not kz.is_working_day(date(2030, 7, 8))  # carry-over of Capital Day (Sat 6 Jul 2030)
    # Inside the table nothing is provisional; a start day before it does not count.
    assert appeal_due_date(at_almaty(2027, 12, 3, 10), ALMATY, kz) == date(2027, 12, 27)
    assert not kz.provisional(date(2027, 12, 3), date(2027, 12, 27))
    assert appeal_due_date(at_almaty(2024, 12, 31, 10), ALMATY, kz) == date(2025, 1, 24)
    assert not kz.provisional(date(2024, 12, 31), date(2025, 1, 24))


@pytest.mark.parametrize("year", [2026, 2027])
def test_the_rules_give_the_published_days_off_but_for_kurban_ait_and_transfers(kz: WorkCalendar, year: int) -> None:
    from bot.cases.deadlines import statutory_days_off

    published = {day for day in kz.days_off if day.year == year}
    computed = set(statutory_days_off(year))
    assert computed ^ published <= {KURBAN_AIT[year], KURBAN_AIT[year] - timedelta(days=1)}


# --- the shipped data ---------------------------------------------------------------------------------------

# Holidays carried over when they fall on a weekend (Labour Code art. 85); 7 January and Kurban Ait are not.
CARRIED_OVER = [(1, 1), (1, 2), (3, 8), (3, 21), (3, 22), (3, 23), (5, 1), (5, 7), (5, 9), (7, 6), (8, 30),
                (10, 25), (12, 16)]
KURBAN_AIT = {2025: date(2025, 6, 6), 2026: date(2026, 5, 27), 2027: date(2027, 5, 16)}
# Transfers by order of the Minister of Labour: 2025: day off moved from Sun 5 Jan to Fri 3 Jan.
TRANSFERS_OFF = {2025: {date(2025, 1, 3)}, 2026: set(), 2027: set()}
TRANSFERS_WORKING = {2025: {date(2025, 1, 5)}, 2026: set(), 2027: set()}


def carry_overs(holidays: set[date]) -> set[date]:
    days_off = set(holidays)
    moved = set()
    for holiday in sorted(holidays):
        if holiday.weekday() >= 5 and (holiday.month, holiday.day) in CARRIED_OVER:
            day = holiday + timedelta(days=1)
            while day.weekday() >= 5 or day in days_off:
                day += timedelta(days=1)
            days_off.add(day)
            moved.add(day)
    return moved


@pytest.mark.parametrize("year", [2025, 2026, 2027])
def test_shipped_data_follows_the_law(year: int) -> None:
    table = tomllib.loads(DEFAULT_CALENDAR_PATH.read_text(encoding="utf-8"))["years"][str(year)]
    holidays = {date.fromisoformat(entry) for entry in table["holidays"]}
    expected_holidays = {date(year, month, day) for month, day in CARRIED_OVER} | {date(year, 1, 7), KURBAN_AIT[year]}
    assert holidays == expected_holidays
    extra_off = {date.fromisoformat(entry) for entry in table["extra_days_off"]}
    assert extra_off == carry_overs(holidays) | TRANSFERS_OFF[year]
    assert {date.fromisoformat(entry) for entry in table["extra_working_days"]} == TRANSFERS_WORKING[year]


@pytest.mark.parametrize(("year", "working_days"), [(2025, 246), (2026, 246)])
def test_working_days_per_year_match_the_published_production_calendar(
    kz: WorkCalendar, year: int, working_days: int
) -> None:
    # The Ministry of Labour's production calendars for a five-day week give 246 in 2025 and in 2026.
    # (31 Dec of the year before, 31 Dec] is the whole year; the start day itself is only checked, not counted.
    assert kz.working_days_between(date(year, 1, 1) - timedelta(days=1), date(year, 12, 31)) == working_days


def test_almaty_is_utc_plus_five() -> None:
    # Kazakhstan moved to a single UTC+5 zone on 1 March 2024; stale tzdata (UTC+6) would shift every date.
    assert at_almaty(2026, 6, 1, 12).utcoffset() == timedelta(hours=5)


# --- the file format ------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[years.2026]\nholidays = ["2027-01-01"]\n', "not in 2026"),
        ('[years.2026]\nholidays = ["2026-02-30"]\n', "not a YYYY-MM-DD"),
        ('[years.2026]\nholidays = []\nextra_working_days = ["2026-03-11"]\n', "is a weekday"),
        ('[years.2026]\nholidays = []\nextra_days_off = ["2026-03-14"]\n', "is a weekend day"),
        ('[years.2026]\nholidays = []\nextra_day_off = ["2026-03-16"]\n', "unknown keys"),
        ('[years.2026]\nextra_days_off = ["2026-03-16"]\n', "'holidays' is missing"),
        ('[years.26]\nholidays = []\n', "four-digit year"),
        ('[years.2026\nholidays = []\n', "calendar.toml"),
    ],
)
def test_bad_calendar_files_are_refused(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "calendar.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(CalendarFileError, match=message):
        WorkCalendar.load(path)
