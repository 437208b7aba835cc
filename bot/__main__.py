"""Command line: run, web, db upgrade, directory import/export, classify, outbox status, stats rebuild, export,
doctor, backup and restore."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import ConfigError, Settings, load_settings
from bot.ops.logs import setup_logging
from bot.services import directory
from storage.engine import make_engine, make_session_pool
from storage.migrate import upgrade
from storage.repositories import Repositories


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="medfeedback", description=__doc__)
    parser.add_argument("--config", help="TOML settings file (default: $MEDFEEDBACK_CONFIG or config.toml)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="apply migrations, then run the bot (polling or webhook, as configured)")
    commands.add_parser("web", help="serve the public website alone (read-only pages of polyclinics and doctors)")
    db = commands.add_parser("db", help="database maintenance").add_subparsers(dest="action", required=True)
    db.add_parser("upgrade", help="apply pending migrations")
    dir_parser = commands.add_parser("directory", help="districts, clinics, specialties and doctors")
    dir_actions = dir_parser.add_subparsers(dest="action", required=True)
    dir_actions.add_parser("import", help="upsert rows from a CSV, XLSX or JSON file").add_argument("file", type=Path)
    dir_actions.add_parser("export", help="write the directory to a CSV, XLSX or JSON file").add_argument(
        "file", type=Path
    )
    classify = commands.add_parser("classify", help="urgency of JSON lines from stdin, one JSON line out each")
    classify.add_argument("--evaluate", type=Path, metavar="FILE",
                          help="instead: precision and recall on a labelled JSON-lines file")
    classify.add_argument("--mistakes", action="store_true", help="with --evaluate: list the misjudged examples")
    classify.add_argument("--text-only", action="store_true",
                          help="with --evaluate: ignore each line's category, rating and kind (words alone)")
    classify.add_argument("--evaluate-decisions", action="store_true",
                          help="instead: precision and recall against the office's own Urgent / Not urgent verdicts")
    classify.add_argument("--export-decisions", type=Path, metavar="FILE",
                          help="instead: write the office's verdicts as labelled JSON lines (the evaluation format)")
    outbox_parser = commands.add_parser("outbox", help="the delivery queue").add_subparsers(dest="action",
                                                                                            required=True)
    outbox_parser.add_parser("status", help="pending / blocked / sent counts and the oldest unsent message's age")
    stats_parser = commands.add_parser("stats", help="doctors' and clinics' ratings").add_subparsers(dest="action",
                                                                                                  required=True)
    stats_parser.add_parser("rebuild", help="recompute every rating from the raw reviews")
    export = commands.add_parser("export", help="reviews and cases registered between two dates, as a spreadsheet")
    export.add_argument("--from", dest="first", required=True, type=_day, metavar="DATE",
                        help="first day, YYYY-MM-DD (included; days in the configured time zone)")
    export.add_argument("--to", dest="last", required=True, type=_day, metavar="DATE", help="last day (included)")
    export.add_argument("--format", choices=("xlsx", "csv"), help="default: by the extension of --out, else xlsx")
    export.add_argument("--out", required=True, type=Path, metavar="FILE")
    commands.add_parser("doctor", help="check the whole set-up (config, database, media, Telegram, chats, calendar); "
                                       "exit 1 on any failure")
    backup = commands.add_parser("backup", help="a consistent copy of the database and the evidence files, with a "
                                                "SHA-256 manifest, while the bot runs")
    backup.add_argument("directory", type=Path, metavar="DIR", help="a new or empty folder")
    restore = commands.add_parser("restore", help="restore a backup into an empty location (the configured database "
                                                  "file and media folder), verifying every SHA-256")
    restore.add_argument("directory", type=Path, metavar="DIR", help="a folder written by `medfeedback backup`")
    return parser


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-11-01") from None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()  # until the settings say otherwise
    if args.command == "classify" and not (args.evaluate_decisions or args.export_decisions):
        # needs no settings: the rules are data files
        from bot.services import urgency

        if args.evaluate:
            return urgency.main_evaluate(args.evaluate, sys.stdout, show_mistakes=args.mistakes,
                                         text_only=args.text_only)
        return urgency.main_classify(sys.stdin, sys.stdout)
    try:
        settings = load_settings(args.config)
        setup_logging(settings.log.format, settings.log.level)
        if args.command in ("backup", "restore"):
            return run_backup_command(args, settings)
        return asyncio.run(dispatch(args, settings))
    except ConfigError as exc:
        if args.command == "doctor":  # the checklist's first line, failed
            print(f"✗ configuration is not valid: {exc}\n0 of 1 checks passed, 1 failed")
            return 1
        print(f"medfeedback: {exc}", file=sys.stderr)
        return 2
    except directory.DirectoryFileError as exc:
        print(f"medfeedback: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


async def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "run":
        from bot.app import TokenRejected, run

        try:
            await run(settings)
        except TokenRejected as error:
            print(f"medfeedback: {error}", file=sys.stderr)
            return 2
        return 0
    if args.command == "web":
        from bot.web.server import serve

        await serve(settings)
        return 0
    if args.command == "doctor":
        return await doctor(settings)
    engine = make_engine(settings.database.url)
    try:
        await upgrade(engine)
        if args.command == "db":
            print("database is up to date")
            return 0
        pool = make_session_pool(engine)
        if args.command == "classify":
            return await office_decisions(pool, args)
        if args.command == "outbox":
            return await outbox_status(pool)
        if args.command == "stats":
            return await rebuild_stats(pool, settings)
        if args.command == "export":
            return await export_reviews(pool, settings, args)
        if args.action == "import":
            return await import_directory(pool, args.file, settings)
        return await export_directory(pool, args.file)
    finally:
        await engine.dispose()


async def import_directory(pool: async_sessionmaker[AsyncSession], path: Path, settings: Settings) -> int:
    rows = directory.read_rows(path)
    async with pool() as session:
        async with session.begin():
            repo = Repositories(session)
            report = await directory.import_rows(repo, rows)
            if not report.ok:
                # One transaction for the whole file: a file with any bad row changes nothing.
                await session.rollback()
            elif report.updated:
                # A doctor may have moved to another specialty or clinic: rankings follow in the same transaction.
                from bot.services import ratings

                await ratings.rebuild(repo, now=datetime.now(UTC), settings=settings)
    print(f"created {report.created}, updated {report.updated}, unchanged {report.unchanged}, "
          f"rejected {len(report.rejected)}")
    for line, reason in report.rejected:
        print(f"line {line}: {reason}")
    if not report.ok:
        print("nothing was changed: fix the rejected rows and import the file again")
        return 1
    return 0


async def office_decisions(pool: async_sessionmaker[AsyncSession], args: argparse.Namespace) -> int:
    """--evaluate-decisions or --export-decisions: the office's verdicts (the latest on each review)."""
    from bot.services import urgency, urgency_decisions

    async with pool() as session, session.begin():
        decisions = await Repositories(session).urgency_decisions.current_verdicts()
    if args.export_decisions:
        try:
            with args.export_decisions.open("w", encoding="utf-8") as out:
                written = urgency_decisions.export(decisions, out)
        except OSError as error:
            print(f"medfeedback: cannot write {args.export_decisions}: {error.strerror or error}", file=sys.stderr)
            return 1
        print(f"exported {written} decisions of the office to {args.export_decisions}")
        return 0
    try:
        rules = urgency.UrgencyRules.load()
    except urgency.RulesError as exc:
        print(f"medfeedback: {exc}", file=sys.stderr)
        return 2
    if not decisions:
        print("the office has not marked any review as urgent or not urgent yet")
        return 0
    print(urgency.format_evaluation(urgency_decisions.evaluate(rules, decisions)))
    return 0


async def outbox_status(pool: async_sessionmaker[AsyncSession]) -> int:
    async with pool() as session:
        repo = Repositories(session)
        counts = await repo.outbox.status_counts()
        oldest = await repo.outbox.oldest_unsent()
    age = "none" if oldest is None else f"{(datetime.now(UTC) - oldest).total_seconds():.0f}s"
    print(f"pending {counts.get('pending', 0)}, blocked {counts.get('blocked', 0)}, sent {counts.get('sent', 0)}, "
          f"oldest unsent {age}")
    return 0


async def export_directory(pool: async_sessionmaker[AsyncSession], path: Path) -> int:
    async with pool() as session, session.begin():
        rows = await directory.export_rows(Repositories(session))
    directory.write_rows(path, rows)
    print(f"exported {len(rows)} rows to {path}")
    return 0


async def rebuild_stats(pool: async_sessionmaker[AsyncSession], settings: Settings) -> int:
    from bot.services import ratings

    async with pool() as session, session.begin():
        rebuilt = await ratings.rebuild(Repositories(session), now=datetime.now(UTC), settings=settings)
    print(f"rebuilt ratings from {rebuilt.counted} counting reviews: {rebuilt.doctors} doctors, "
          f"{rebuilt.clinics} clinics")
    return 0


async def export_reviews(pool: async_sessionmaker[AsyncSession], settings: Settings, args: argparse.Namespace) -> int:
    from bot.services import exports, reports

    if args.last < args.first:
        print(f"medfeedback: --to {args.last} is before --from {args.first}", file=sys.stderr)
        return 2
    period = reports.Period(args.first, args.last)
    file_format = args.format or ("csv" if args.out.suffix.lower() == ".csv" else "xlsx")
    async with pool() as session, session.begin():
        table = await exports.export_table(Repositories(session), settings, period)
    try:
        args.out.write_bytes(exports.csv_bytes(table) if file_format == "csv" else exports.xlsx_bytes(table))
    except OSError as error:
        print(f"medfeedback: cannot write {args.out}: {error.strerror or error}", file=sys.stderr)
        return 1
    print(f"exported {len(table.rows)} reviews registered {period.label()} to {args.out} ({file_format})")
    return 0


async def doctor(settings: Settings, today: date | None = None) -> int:
    """The checklist on stdout; 0 only when every line is a ✓ (it never changes the database)."""
    from bot.factory import create_bot
    from bot.ops import doctor as checks
    from storage.engine import make_read_engine

    engine = make_read_engine(settings.database.url)  # it only reads, and never waits for the running bot's lock
    bot = create_bot(settings) if settings.telegram.token is not None else None
    try:
        results = await checks.run_checks(settings, engine=engine, bot=bot,
                                          today=today or datetime.now(settings.zone).date(),
                                          on_check=lambda check: checks.print_check(check, sys.stdout))
    finally:
        if bot is not None:
            await bot.session.close()
        await engine.dispose()
    failed = sum(not check.ok for check in results)
    print(f"{len(results) - failed} of {len(results)} checks passed" + (f", {failed} failed" if failed else ""))
    return 1 if failed else 0


def run_backup_command(args: argparse.Namespace, settings: Settings) -> int:
    from bot.ops import backup

    try:
        if args.command == "backup":
            done = backup.backup(settings, args.directory, datetime.now(UTC))
            print(f"backup of the {done.database} database and {done.files} evidence file(s) ({done.bytes} bytes) "
                  f"in {done.directory}, SHA-256s in {backup.MANIFEST}")
        else:
            done = backup.restore(settings, args.directory)
            print(f"restored the {done.database} database and {done.files} evidence file(s); every SHA-256 matches")
    except backup.BackupError as error:
        print(f"medfeedback: {error}", file=sys.stderr)
        return 1
    for command in done.commands:
        print(f"still to do, run: {command}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
