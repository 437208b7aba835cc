"""Directory import/export: counts, idempotence, one transaction for a bad file, every format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.__main__ import main
from bot.services import directory
from storage.models import Clinic, District, Doctor, Specialty
from storage.repositories import Repositories
from tests.conftest import BACKENDS

DEMO = directory.DEMO_DIRECTORY
DEMO_ROWS = json.loads(DEMO.read_text(encoding="utf-8"))
DEMO_COUNT = len(DEMO_ROWS)


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for name in ("MEDFEEDBACK_CONFIG", "MEDFEEDBACK_DATABASE__URL"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "dir.db"}"\n')

    def run(*args: str) -> int:
        return main(["--config", str(config), *args])

    return run


def last_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().out.strip().splitlines()


def test_demo_file_is_what_the_readme_promises() -> None:
    kinds = [row["type"] for row in DEMO_ROWS]
    assert kinds.count("district") == 8
    assert kinds.count("specialty") >= 25
    clinics = [row for row in DEMO_ROWS if row["type"] == "clinic"]
    assert {row["number"] for row in clinics} >= set(range(1, 37))
    no17 = next(row for row in clinics if row["number"] == 17)
    assert no17["name_kk"] == "№17 қалалық емхана"
    assert no17["name_ru"] == "Городская поликлиника №17"
    assert no17["name_en"] == "City Polyclinic No. 17"
    doctors = [row for row in DEMO_ROWS if row["type"] == "doctor"]
    assert doctors and all(row["demo"] is True for row in doctors)
    for row in clinics:
        assert 43.1 < row["latitude"] < 43.45 and 76.7 < row["longitude"] < 77.15


def test_import_demo_then_again_changes_nothing(cli, capsys) -> None:
    assert cli("directory", "import", str(DEMO)) == 0
    assert last_lines(capsys)[-1] == f"created {DEMO_COUNT}, updated 0, unchanged 0, rejected 0"
    assert cli("directory", "import", str(DEMO)) == 0
    assert last_lines(capsys)[-1] == f"created 0, updated 0, unchanged {DEMO_COUNT}, rejected 0"


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".json"])
def test_export_then_import_round_trips(cli, capsys, tmp_path: Path, suffix: str) -> None:
    assert cli("directory", "import", str(DEMO)) == 0
    exported = tmp_path / f"export{suffix}"
    assert cli("directory", "export", str(exported)) == 0
    capsys.readouterr()
    assert cli("directory", "import", str(exported)) == 0
    assert last_lines(capsys)[-1] == f"created 0, updated 0, unchanged {DEMO_COUNT}, rejected 0"


def test_changed_rows_are_updated(cli, capsys, tmp_path: Path) -> None:
    assert cli("directory", "import", str(DEMO)) == 0
    changed = tmp_path / "changed.csv"
    changed.write_text(
        "type,external_id,number,name_kk,name_ru,name_en,district,address,latitude,longitude,phone,active\n"
        "clinic,clinic:gp-17,17,№17 қалалық емхана,Городская поликлиника №17,City Polyclinic No. 17,"
        "district:bostandyk,\"ул. Басенова, 2\",43.2,76.9,+7 727 000 00 17,false\n"
        "district,district:new,,Жаңа,Новый,New,,,,,,\n",
        encoding="utf-8",
    )
    capsys.readouterr()
    assert cli("directory", "import", str(changed)) == 0
    assert last_lines(capsys)[-1] == "created 1, updated 1, unchanged 0, rejected 0"


HEADER = ("type,external_id,number,name_kk,name_ru,name_en,district,address,latitude,longitude,clinic,specialty,"
          "full_name")
BAD_CSV = HEADER + """
district,district:x,,Икс,Икс,X,,,,,,,
clinic,clinic:gp-17,17,A,B,C,district:bostandyk,Changed address,43.2,76.9,,,
clinic,clinic:bad-lat,99,A,B,C,district:almaly,,123,76.9,,,
clinic,clinic:no-district,98,A,B,C,district:atlantis,,43.2,76.9,,,
doctor,doctor:x,,,,,,,,,clinic:nowhere,specialty:therapist,Иванов Иван
doctor,doctor:y,,,,,,,,,clinic:gp-17,specialty:therapist,
hospital,h:1,,,,,,,,,,,
district,district:x,,Икс,Икс,X,,,,,,,
specialty,specialty:z,,Z,,Z,,,,,,,
"""


def test_bad_file_changes_nothing_and_lists_each_bad_row(cli, capsys, tmp_path: Path) -> None:
    assert cli("directory", "import", str(DEMO)) == 0
    bad = tmp_path / "bad.csv"
    bad.write_text(BAD_CSV, encoding="utf-8")
    capsys.readouterr()
    assert cli("directory", "import", str(bad)) == 1
    out = last_lines(capsys)
    assert out[0] == "created 1, updated 1, unchanged 0, rejected 7"
    reasons = dict(line.split(": ", 1) for line in out[1:8])
    assert set(reasons) == {f"line {n}" for n in (4, 5, 6, 7, 8, 9, 10)}
    assert "latitude" in reasons["line 4"]
    assert "district:atlantis" in reasons["line 5"]
    assert "clinic:nowhere" in reasons["line 6"]
    assert "full_name" in reasons["line 7"]
    assert "hospital" in reasons["line 8"]
    assert "repeats line 2" in reasons["line 9"]
    assert "name_ru" in reasons["line 10"]
    assert "nothing was changed" in out[-1]
    # The good rows of the bad file (a new district, a changed clinic) were not applied either.
    assert cli("directory", "import", str(DEMO)) == 0
    assert last_lines(capsys)[-1] == f"created 0, updated 0, unchanged {DEMO_COUNT}, rejected 0"


def test_bad_xlsx_rows_report_spreadsheet_line_numbers(cli, capsys, tmp_path: Path) -> None:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(list(directory.COLUMNS))
    sheet.append(["district", "district:a", None, "А", "А", "A"])
    sheet.append([])
    sheet.append(["specialty", "specialty:b", None, "Б", None, "B"])
    path = tmp_path / "bad.xlsx"
    workbook.save(path)
    assert cli("directory", "import", str(path)) == 1
    out = last_lines(capsys)
    assert out[0] == "created 1, updated 0, unchanged 0, rejected 1"
    assert out[1].startswith("line 4: name_ru")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("broken.json", '{"type": "district"}', "must be an array"),
        ("broken2.json", '[\n{"type": "district",\n', "invalid JSON"),
        ("noheader.csv", "a,b\n1,2\n", "lacks the column"),
        ("data.txt", "x", "unsupported file type"),
        ("fake.xlsx", "not a zip", "not a readable XLSX"),
    ],
)
def test_unreadable_files_get_one_clear_line(cli, capsys, tmp_path: Path, name: str, content: str,
                                             message: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    assert cli("directory", "import", str(path)) == 1
    assert message in capsys.readouterr().err


def test_json_rows_report_their_line_numbers(tmp_path: Path) -> None:
    rows = directory.read_rows(DEMO)
    assert [row.line for row in rows[:3]] == [2, 3, 4]
    assert len(rows) == DEMO_COUNT



def test_a_json_file_saved_with_a_byte_order_mark_is_read_as_without_it(tmp_path: Path) -> None:
    """Windows Notepad saves UTF-8 with a byte order mark: the same rows, on the same lines."""
    path = tmp_path / "registry.json"
    path.write_bytes(b"\xef\xbb\xbf" + DEMO.read_bytes())
    assert directory.read_rows(path) == directory.read_rows(DEMO)



async def test_a_csv_with_empty_rows_below_the_data_and_spaced_header_cells_is_imported(pool, tmp_path: Path) -> None:
    """A spreadsheet saves its formatted but empty rows as ",,,,", and a hand-written header may have spaces."""
    path = tmp_path / "directory.csv"
    path.write_text("type, external_id ,name_kk,name_ru,name_en\n"
                    "district,district:new,Жаңа,Новый,New\n,,,,\n , ,,,,,\n", encoding="utf-8")
    rows = directory.read_rows(path)
    assert [row.line for row in rows] == [2]
    async with pool() as session, session.begin():
        report = await directory.import_rows(Repositories(session), rows)
    assert (report.created, report.rejected) == (1, [])


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_import_service_on_each_backend(pool, backend: str) -> None:
    rows = directory.read_rows(DEMO)
    async with pool() as session, session.begin():
        report = await directory.import_rows(Repositories(session), rows)
    assert (report.created, report.rejected) == (DEMO_COUNT, [])
    async with pool() as session, session.begin():
        again = await directory.import_rows(Repositories(session), rows)
        counts = {model.__tablename__: await session.scalar(select(func.count()).select_from(model))
                  for model in (District, Specialty, Clinic, Doctor)}
    assert again.unchanged == DEMO_COUNT
    assert counts["districts"] == 8 and counts["clinics"] >= 36
    assert sum(counts.values()) == DEMO_COUNT


def clinic_row(line: int, external_id: str, number: int, active: bool = True) -> directory.Row:
    return directory.Row(line, {
        "type": "clinic", "external_id": external_id, "number": str(number), "name_kk": "№17 қалалық емхана",
        "name_ru": "Городская поликлиника №17", "name_en": "City Polyclinic No. 17", "district": "district:bostandyk",
        "address": "ул. Басенова, 2", "active": str(active).lower()})


async def import_after_demo(pool, rows: list[directory.Row]) -> directory.ImportReport:
    async with pool() as session, session.begin():
        await directory.import_rows(Repositories(session), directory.read_rows(DEMO))
    async with pool() as session, session.begin():
        return await directory.import_rows(Repositories(session), rows)


async def test_a_clinic_number_another_active_clinic_holds_is_rejected_with_its_line(pool) -> None:
    """The registry renamed its ids: "clinic:almaty-17" would be a second No. 17 beside the stored "clinic:gp-17",
    splitting its reviews, and /linkclinic 17 or /grant … clinic_staff 17 would act on either."""
    report = await import_after_demo(pool, [clinic_row(2, "clinic:almaty-17", 17)])
    [(line, reason)] = report.rejected
    assert line == 2 and "number 17" in reason and "'clinic:gp-17'" in reason


async def test_a_clinic_number_repeated_in_the_file_is_rejected_on_the_later_line(pool) -> None:
    report = await import_after_demo(pool, [clinic_row(2, "clinic:new-a", 900), clinic_row(3, "clinic:new-b", 900)])
    [(line, reason)] = report.rejected
    assert line == 3 and "'clinic:new-a' of line 2" in reason


async def test_a_number_freed_in_the_same_file_may_go_to_another_clinic(pool) -> None:
    report = await import_after_demo(pool, [clinic_row(2, "clinic:gp-17", 17, active=False),
                                            clinic_row(3, "clinic:almaty-17", 17)])
    assert (report.rejected, report.created, report.updated) == ([], 1, 1)


def test_export_keeps_formulas_as_text_and_imports_back_unchanged(cli, capsys, tmp_path: Path) -> None:
    hostile = tmp_path / "hostile.csv"
    hostile.write_text(
        "type,external_id,number,name_kk,name_ru,name_en,district,address,latitude,longitude,phone,active\n"
        "clinic,clinic:gp-77,77,=1+1,\"=HYPERLINK(\"\"http://x\"\")\",@SUM(A1),district:bostandyk,-2 floor,"
        "43.2,76.9,+7 727 000 00 77,true\n", encoding="utf-8")
    assert cli("directory", "import", str(DEMO)) == 0
    assert cli("directory", "import", str(hostile)) == 0
    exported_csv, exported_xlsx = tmp_path / "out.csv", tmp_path / "out.xlsx"
    assert cli("directory", "export", str(exported_csv)) == 0
    assert cli("directory", "export", str(exported_xlsx)) == 0
    import csv

    with exported_csv.open(encoding="utf-8", newline="") as file:
        [row] = [r for r in csv.DictReader(file) if r["external_id"] == "clinic:gp-77"]
    assert row["name_kk"] == "'=1+1" and row["name_ru"].startswith("'=HYPERLINK") and row["name_en"] == "'@SUM(A1)"
    assert row["address"] == "'-2 floor" and row["phone"] == "'+7 727 000 00 77"
    from openpyxl import load_workbook

    sheet = load_workbook(exported_xlsx).active
    header = [cell.value for cell in sheet[1]]
    [cells] = [r for r in sheet.iter_rows(min_row=2) if r[header.index("external_id")].value == "clinic:gp-77"]
    name = cells[header.index("name_kk")]
    assert name.value == "=1+1" and name.data_type == "s"  # text, not a formula
    for exported in (exported_csv, exported_xlsx):
        capsys.readouterr()
        assert cli("directory", "import", str(exported)) == 0
        assert last_lines(capsys)[-1].startswith("created 0, updated 0"), exported


def test_a_deeply_nested_or_huge_file_gets_one_clear_line(cli, capsys, tmp_path: Path) -> None:
    nested = tmp_path / "nested.json"
    nested.write_text("[" + "[" * 200_000 + "]" * 200_000 + "]", encoding="utf-8")
    assert cli("directory", "import", str(nested)) == 1
    error = capsys.readouterr().err
    assert "nested too deeply" in error and "Traceback" not in error
    huge = tmp_path / "huge.csv"
    with huge.open("wb") as file:
        file.truncate(directory.MAX_FILE_BYTES + 1)
    assert cli("directory", "import", str(huge)) == 1
    assert "split it into several files" in capsys.readouterr().err


def _addresses(database: Path) -> dict[str, tuple[str | None, str | None, str | None]]:
    import sqlite3

    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT external_id, address, address_kk, address_en FROM clinics").fetchall()
    return {external_id: (ru, kk, en) for external_id, ru, kk, en in rows}


def test_demo_clinics_have_kazakh_and_english_addresses() -> None:
    clinics = {row["external_id"]: row for row in DEMO_ROWS if row["type"] == "clinic"}
    assert all(row["address_kk"] and row["address_en"] for row in clinics.values())
    assert (clinics["clinic:gp-3"]["address_kk"], clinics["clinic:gp-3"]["address_en"]) == (
        "Төле би көшесі, 138", "138 Tole Bi St")
    assert (clinics["clinic:gp-4"]["address_kk"], clinics["clinic:gp-4"]["address_en"]) == (
        "Көктем-1 шағын ауданы, 8", "8 Koktem-1 microdistrict")


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".json"])
def test_localised_addresses_round_trip_through_every_format(cli, capsys, tmp_path: Path, suffix: str) -> None:
    assert cli("directory", "import", str(DEMO)) == 0
    exported = tmp_path / f"export{suffix}"
    assert cli("directory", "export", str(exported)) == 0
    rows = {row.values["external_id"]: row.values for row in directory.read_rows(exported)}
    assert (rows["clinic:gp-3"]["address_kk"], rows["clinic:gp-3"]["address_en"]) == (
        "Төле би көшесі, 138", "138 Tole Bi St")
    # An operator clears one translation and changes another in the exported file.
    edited = [dict(values, address_en=None) if key == "clinic:gp-3"
              else dict(values, address_kk="Басенов көшесі, 2а") if key == "clinic:gp-17" else values
              for key, values in rows.items()]
    edited_file = tmp_path / f"edited{suffix}"
    directory.write_rows(edited_file, edited)
    # Into a database of its own: what is stored there was read from the file, not left from the demo import.
    fresh = tmp_path / "fresh.toml"
    fresh.write_text(f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "fresh.db"}"\n')
    capsys.readouterr()
    assert main(["--config", str(fresh), "directory", "import", str(edited_file)]) == 0
    assert last_lines(capsys)[-1] == f"created {DEMO_COUNT}, updated 0, unchanged 0, rejected 0"
    stored = _addresses(tmp_path / "fresh.db")
    assert stored["clinic:gp-3"] == ("ул. Толе би, 138", "Төле би көшесі, 138", None)
    assert stored["clinic:gp-17"] == ("ул. Басенова, 2", "Басенов көшесі, 2а", "2 Basenov St")
    assert stored["clinic:gp-14"] == ("ул. Толе би, 30", "Төле би көшесі, 30", "30 Tole Bi St")
    # And into the first database, as an update of exactly the two changed clinics.
    assert cli("directory", "import", str(edited_file)) == 0
    assert last_lines(capsys)[-1] == f"created 0, updated 2, unchanged {DEMO_COUNT - 2}, rejected 0"
    assert _addresses(tmp_path / "dir.db") == stored


def test_a_file_without_the_translation_columns_keeps_them(cli, capsys, tmp_path: Path) -> None:
    # Directory files written before the Kazakh and English addresses existed still import, and change nothing
    # they do not name.
    assert cli("directory", "import", str(DEMO)) == 0
    old = tmp_path / "old.csv"
    old.write_text(
        "type,external_id,number,name_kk,name_ru,name_en,district,address,latitude,longitude,phone,active\n"
        "clinic,clinic:gp-17,17,№17 қалалық емхана,Городская поликлиника №17,City Polyclinic No. 17,"
        "district:bostandyk,\"ул. Басенова, 2б\",43.2,76.9,+7 727 000 00 17,true\n", encoding="utf-8")
    capsys.readouterr()
    assert cli("directory", "import", str(old)) == 0
    assert last_lines(capsys)[-1] == "created 0, updated 1, unchanged 0, rejected 0"
    assert _addresses(tmp_path / "dir.db")["clinic:gp-17"] == (
        "ул. Басенова, 2б", "Басенов көшесі, 2", "2 Basenov St")
