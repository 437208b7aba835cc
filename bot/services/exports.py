"""Spreadsheet exports of reviews and their cases for a period (/export in the office's chat, `medfeedback export`):
XLSX or CSV, one row a review, in the chat's language."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.cases import cards as alerts
from bot.config import Settings
from bot.l10n import L10n
from bot.services import cells
from bot.services.reports import Period, category_name
from storage.models import Case
from storage.repositories import Repositories

EXPORT_COLUMNS = (
    "reference", "registered_at", "clinic", "doctor", "kind", "category", "rating", "urgency", "reasons", "status",
    "case_status", "assignee", "due_date", "extended", "answered_on", "escalated_at", "evidence", "public_text",
    "text",
)  # fmt: skip


# Widths of the spreadsheet's columns, in characters (Excel's unit), in the order above.
EXPORT_WIDTHS = (16, 17, 30, 28, 16, 30, 8, 16, 40, 18, 22, 14, 12, 10, 17, 17, 10, 60, 60)


_CONTROL_CHARACTERS = re.compile(r"[\000-\010\013\014\016-\037]")  # what XLSX cannot hold


@dataclass
class Export:
    header: list[str]
    rows: list[list[Any]]
    sheet: str


def _local(moment: datetime | None, zone: ZoneInfo) -> datetime | None:
    """Local wall-clock time without an offset: spreadsheets have no time zones."""
    return moment.astimezone(zone).replace(tzinfo=None) if moment is not None else None


def _extended(case: Case, extended_before: bool, l10n: L10n) -> str:
    """Of the present term, as the due date beside it is: a repeated appeal extended only before the resident
    disagreed says no, and that it was (its reason and date are in the audit)."""
    if case.extended:
        return l10n("reports.value.yes")
    return l10n("reports.value.extended_earlier") if extended_before else l10n("reports.value.no")


async def export_table(repo: Repositories, settings: Settings, period: Period) -> Export:
    """Every review registered in the period with its case, one row each, in the prosecutor chat's language."""
    l10n = alerts.chat_l10n(settings)
    zone = settings.zone
    rows = []
    found = await repo.reports.export_rows(*period.bounds(zone))
    # People by name, never by Telegram id; reasons in plain words in the chat's language.
    people = await repo.caseload.people(sorted({case.assignee_telegram_id for _, case, *_ in found
                                                if case is not None and case.assignee_telegram_id is not None}))
    for review, case, clinic, doctor, specialty, answered_at, files, extended_before in found:
        if doctor is not None:
            doctor_name = doctor.full_name
        elif specialty is not None:
            doctor_name = l10n("reports.specialty_only", specialty=getattr(specialty, f"name_{l10n.language}"))
        else:
            doctor_name = None
        rows.append([
            review.reference, _local(review.created_at, zone), getattr(clinic, f"name_{l10n.language}"), doctor_name,
            l10n(f"reports.kind.{review.kind}"), category_name(review.category, l10n) if review.category else None,
            review.rating, l10n(f"urgency.{case.urgency}") if case else None,
            alerts.plain_reasons(case.reasons, l10n) if case and case.reasons else None,
            l10n(f"status.{review.status}"), l10n(f"case_status.{case.status}") if case else None,
            alerts.person_name(people[case.assignee_telegram_id])
            if case and case.assignee_telegram_id in people else None,
            case.due_date if case else None,
            _extended(case, extended_before, l10n) if case else None,
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
