"""Directory import and export (districts, specialties, clinics, doctors) as CSV, XLSX or JSON rows."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.services import cells
from storage.repositories import Repositories

COLUMNS = (
    "type", "external_id", "number", "name_kk", "name_ru", "name_en", "district", "address", "address_kk",
    "address_en", "latitude", "longitude", "phone", "clinic", "specialty", "full_name", "active", "approximate", "demo",
)
# Rows are applied in this order so that references always point to something already there.
KINDS = ("district", "specialty", "clinic", "doctor")
DEMO_DIRECTORY = Path(__file__).resolve().parents[2] / "storage" / "data" / "almaty_directory.json"


class DirectoryFileError(Exception):
    """The file as a whole cannot be read (wrong format, no header, not a JSON array)."""


@dataclass
class Row:
    line: int
    values: dict[str, Any]


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.rejected


# --- Reading files ---------------------------------------------------------------------------------------


# A directory of a whole country is a few MB; a larger file is a mistake, and would hold the database for minutes.
MAX_FILE_BYTES = 32 * 1024 * 1024


def read_rows(path: Path) -> list[Row]:
    suffix = path.suffix.lower()
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DirectoryFileError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    if size > MAX_FILE_BYTES:
        raise DirectoryFileError(f"{path}: {size // (1024 * 1024)} MB is more than a directory file may be "
                                 f"({MAX_FILE_BYTES // (1024 * 1024)} MB): split it into several files")
    try:
        if suffix == ".csv":
            return list(_csv_rows(path))
        if suffix == ".xlsx":
            return list(_xlsx_rows(path))
        if suffix == ".json":
            # utf-8-sig: Windows Notepad saves UTF-8 with a byte order mark, which is no JSON (CSV is read so too).
            return list(_json_rows(path.read_text(encoding="utf-8-sig")))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DirectoryFileError(f"{path}: cannot be read: {exc}") from None
    except RecursionError:
        raise DirectoryFileError(f"{path}: the JSON is nested too deeply to be a directory") from None
    raise DirectoryFileError(f"{path}: unsupported file type {suffix!r}; use .csv, .xlsx or .json")


def _csv_rows(path: Path) -> Iterator[Row]:
    with path.open(encoding="utf-8-sig", newline="") as file:
        reader = csv.DictReader(file)
        if reader.fieldnames is not None:
            reader.fieldnames = [name.strip() for name in reader.fieldnames]  # "type, external_id" is still "type"
        _check_header(reader.fieldnames, path)
        for values in reader:
            # A spreadsheet saves the formatted but empty rows below the data as ",,,,": skipped, as in XLSX.
            if not any(_cell_text(value) for value in values.values()):
                continue
            yield Row(reader.line_num, {key: cells.unescaped(value) for key, value in values.items() if key})


def _cell_text(value: str | list[str] | None) -> str:
    """A CSV cell's text; the cells past the header's columns come as one list (csv.DictReader's restkey)."""
    if isinstance(value, list):
        return "".join(value).strip()
    return (value or "").strip()


def _xlsx_rows(path: Path) -> Iterator[Row]:
    from zipfile import BadZipFile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, BadZipFile, OSError, KeyError, ValueError) as exc:
        raise DirectoryFileError(f"{path}: not a readable XLSX workbook: {exc}") from None
    try:
        rows = workbook.worksheets[0].iter_rows(values_only=True)
        header = [str(cell).strip() if cell is not None else "" for cell in next(rows, [])]
        _check_header(header, path)
        for line, cells in enumerate(rows, start=2):
            if any(cell not in (None, "") for cell in cells):
                yield Row(line, {name: cell for name, cell in zip(header, cells, strict=False) if name})
    finally:
        workbook.close()


def _json_rows(text: str) -> Iterator[Row]:
    """A JSON array of objects, decoded item by item so each row keeps its line number."""
    decoder = json.JSONDecoder()
    position = _skip_space(text, 0)
    if not text.startswith("[", position):
        raise DirectoryFileError("the JSON file must be an array of row objects")
    position = _skip_space(text, position + 1)
    line, counted_to = 1, 0
    while not text.startswith("]", position):
        # Lines counted on from the previous row: counting from the start each time was quadratic in the file.
        line += text.count("\n", counted_to, position)
        counted_to = position
        try:
            value, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            raise DirectoryFileError(f"line {exc.lineno}: invalid JSON: {exc.msg}") from None
        yield Row(line, value if isinstance(value, dict) else {"__not_an_object__": value})
        position = _skip_space(text, position)
        if text.startswith(",", position):
            position = _skip_space(text, position + 1)
        elif not text.startswith("]", position):
            raise DirectoryFileError(f"line {text.count(chr(10), 0, position) + 1}: expected ',' or ']'")


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    if position >= len(text):
        raise DirectoryFileError("the JSON array is not closed with ']'")
    return position


def _check_header(header: list[str] | None, path: Path) -> None:
    missing = {"type", "external_id"} - set(header or ())
    if missing:
        raise DirectoryFileError(f"{path}: the header row lacks the column(s) {', '.join(sorted(missing))}")


# --- Validating rows into entity fields ------------------------------------------------------------------


class RowError(ValueError):
    pass


def _text(values: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = values.get(name)
    text = "" if value is None else str(value).strip()
    if not text:
        if required:
            raise RowError(f"{name} is empty")
        return None
    return text


def _number(values: dict[str, Any], name: str, low: float, high: float, *, whole: bool = False) -> Any:
    raw = _text(values, name, required=False)
    if raw is None:
        return None
    try:
        number = float(raw.replace(",", "."))
    except ValueError:
        raise RowError(f"{name} {raw!r} is not a number") from None
    if not low <= number <= high or (whole and not number.is_integer()):
        kind = "a whole number" if whole else "a number"
        raise RowError(f"{name} {raw!r} must be {kind} from {low:g} to {high:g}")
    return int(number) if whole else number


def _flag(values: dict[str, Any], name: str, default: bool) -> bool:
    raw = _text(values, name, required=False)
    if raw is None:
        return default
    lowered = raw.lower()
    if lowered in {"true", "1", "yes", "y"}:
        return True
    if lowered in {"false", "0", "no", "n"}:
        return False
    raise RowError(f"{name} {raw!r} must be true or false")


def _names(values: dict[str, Any]) -> dict[str, Any]:
    return {f"name_{lang}": _text(values, f"name_{lang}") for lang in ("kk", "ru", "en")}


def _fields(kind: str, values: dict[str, Any], ids: dict[str, dict[str, int]]) -> dict[str, Any]:
    """The entity's column values for a row, with references resolved to database ids."""

    def reference(name: str, target: str) -> int:
        external_id = _text(values, name)
        if external_id not in ids[target]:
            raise RowError(f"{name} {external_id!r} is not a known {target}")
        return ids[target][external_id]

    if kind in ("district", "specialty"):
        return _names(values)
    if kind == "clinic":
        return {
            **_names(values),
            "number": _number(values, "number", 1, 100000, whole=True),
            "district_id": reference("district", "district"),
            "address": _text(values, "address", required=False),
            # A file written before these columns existed leaves the translations as they are; an empty cell clears.
            **{name: _text(values, name, required=False) for name in LOCALISED_ADDRESSES if name in values},
            "latitude": _number(values, "latitude", -90, 90),
            "longitude": _number(values, "longitude", -180, 180),
            "phone": _text(values, "phone", required=False),
            "active": _flag(values, "active", True),
            "approximate": _flag(values, "approximate", False),
        }
    return {
        "full_name": _text(values, "full_name"),
        "clinic_id": reference("clinic", "clinic"),
        "specialty_id": reference("specialty", "specialty"),
        "active": _flag(values, "active", True),
        "demo": _flag(values, "demo", False),
    }


# The columns each kind's rows set (what `_fields` returns), compared with the stored ones to count changes.
_NAMES = ("name_kk", "name_ru", "name_en")
LOCALISED_ADDRESSES = ("address_kk", "address_en")
COLUMNS_OF = {
    "district": _NAMES,
    "specialty": _NAMES,
    "clinic": (*_NAMES, "number", "district_id", "address", *LOCALISED_ADDRESSES, "latitude", "longitude", "phone",
               "active", "approximate"),
    "doctor": ("full_name", "clinic_id", "specialty_id", "active", "demo"),
}


async def import_rows(repo: Repositories, rows: list[Row], now: datetime | None = None) -> ImportReport:
    """Upsert by external id, in bulk: per kind one read of what is there, one multi-row INSERT of the new rows and
    one UPDATE by primary key per set of changed columns. Bumps the directory's version, so every process builds
    its search index again. The caller commits only when the report has no rejected rows."""
    report = ImportReport()
    by_kind: dict[str, list[Row]] = {kind: [] for kind in KINDS}
    first_line: dict[tuple[str, str], int] = {}
    for row in rows:
        kind = str(row.values.get("type") or "").strip().lower()
        external_id = str(row.values.get("external_id") or "").strip()
        if "__not_an_object__" in row.values:
            report.rejected.append((row.line, "the row is not an object"))
        elif kind not in KINDS:
            report.rejected.append((row.line, f"type {kind!r} must be one of {', '.join(KINDS)}"))
        elif not external_id:
            report.rejected.append((row.line, "external_id is empty"))
        elif (kind, external_id) in first_line:
            report.rejected.append(
                (row.line, f"{kind} {external_id!r} repeats line {first_line[kind, external_id]}")
            )
        else:
            first_line[kind, external_id] = row.line
            by_kind[kind].append(row)

    ids: dict[str, dict[str, int]] = {}
    for kind in KINDS:
        existing = await repo.directory.by_external_ids(kind, COLUMNS_OF[kind])
        new, changed = [], []
        accepted: list[tuple[Row, str, dict[str, Any]]] = []
        for row in by_kind[kind]:
            try:
                accepted.append((row, str(row.values["external_id"]).strip(), _fields(kind, row.values, ids)))
            except RowError as exc:
                report.rejected.append((row.line, str(exc)))
        if kind == "clinic":
            clashes = _number_clashes(accepted, existing)
            report.rejected += [(row.line, clashes[row.line]) for row, _, _ in accepted if row.line in clashes]
            accepted = [entry for entry in accepted if entry[0].line not in clashes]
        for _row, external_id, fields in accepted:
            known = existing.get(external_id)
            if known is None:
                new.append({"external_id": external_id, **fields})
                report.created += 1
            elif (differ := {name: value for name, value in fields.items() if known[1][name] != value}):
                changed.append({"id": known[0], **differ})
                report.updated += 1
            else:
                report.unchanged += 1
        await repo.directory.insert_many(kind, new)
        await repo.directory.update_many(kind, changed)
        ids[kind] = (await repo.directory.ids_by_external_id(kind) if new
                     else {external_id: known[0] for external_id, known in existing.items()})
    report.rejected.sort()
    if report.created or report.updated:
        await repo.directory.bump_version(now or datetime.now(UTC))
    return report


def _number_clashes(rows: list[tuple[Row, str, dict[str, Any]]],
                    stored: dict[str, tuple[int, dict[str, Any]]]) -> dict[int, str]:
    """line -> why, for each active clinic whose number another active clinic holds, in the file (the later line
    is named) or stored and left so by the file. Residents, /linkclinic and /grant find a clinic by its number:
    two would split its reviews and ratings, and the commands would act on either."""
    holders: dict[int, str] = {}  # number -> who holds it: "line N (external id)" or the stored external id
    in_file = {external_id for _, external_id, _ in rows}
    for external_id, (_, columns) in stored.items():
        if external_id not in in_file and columns["active"] and columns["number"] is not None:
            holders.setdefault(columns["number"], f"stored clinic {external_id!r}")
    clashes: dict[int, str] = {}
    for row, external_id, fields in rows:
        number = fields["number"]
        if not fields["active"] or number is None:
            continue
        if number in holders:
            clashes[row.line] = (f"number {number} is already {holders[number]}: set active to false on one of "
                                 f"them, or keep that external id")
        else:
            holders[number] = f"clinic {external_id!r} of line {row.line}"
    return clashes


# --- Export ----------------------------------------------------------------------------------------------


async def export_rows(repo: Repositories) -> list[dict[str, Any]]:
    entities = await repo.directory.export_rows()
    external = {kind: {entity.id: entity.external_id for entity in entities[kind]} for kind in KINDS}
    rows: list[dict[str, Any]] = []
    for kind in KINDS:
        for entity in entities[kind]:
            row: dict[str, Any] = {"type": kind, "external_id": entity.external_id}
            if kind in ("district", "specialty", "clinic"):
                row.update(name_kk=entity.name_kk, name_ru=entity.name_ru, name_en=entity.name_en)
            if kind == "clinic":
                row.update(
                    number=entity.number, district=external["district"].get(entity.district_id),
                    address=entity.address, address_kk=entity.address_kk, address_en=entity.address_en,
                    latitude=entity.latitude, longitude=entity.longitude,
                    phone=entity.phone, active=entity.active, approximate=entity.approximate,
                )
            if kind == "doctor":
                row.update(
                    full_name=entity.full_name, clinic=external["clinic"][entity.clinic_id],
                    specialty=external["specialty"][entity.specialty_id], active=entity.active,
                    demo=entity.demo,
                )
            rows.append(row)
    return rows


def _text_cell(sheet: Any, value: Any) -> Any:
    """Strings stored as strings: openpyxl would otherwise store "=..." as a formula."""
    if not isinstance(value, str):
        return value
    from openpyxl.cell import Cell

    cell = Cell(sheet, value=value)
    cell.data_type = "s"
    return cell


def write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    suffix = path.suffix.lower()
    if suffix == ".json":
        lines = [json.dumps(row, ensure_ascii=False) for row in rows]
        path.write_text("[\n" + ",\n".join(lines) + "\n]\n", encoding="utf-8")
    elif suffix == ".csv":
        with path.open("w", encoding="utf-8", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows({key: "" if value is None else cells.escaped(value) for key, value in row.items()}
                             for row in rows)
    elif suffix == ".xlsx":
        from openpyxl import Workbook

        workbook = Workbook()
        sheet = workbook.active
        sheet.title = "directory"
        sheet.append(list(COLUMNS))
        for row in rows:
            sheet.append([_text_cell(sheet, row.get(column)) for column in COLUMNS])
        workbook.save(path)
    else:
        raise DirectoryFileError(f"{path}: unsupported file type {suffix!r}; use .csv, .xlsx or .json")
