"""Webhook ingest of /start: the real bot process in webhook mode vs a bare aiogram webhook bot started the same way.

    .venv/bin/python bench/webhook.py                    # 150 / 400 / 800 updates at concurrency 1 / 8 / 32
    .venv/bin/python bench/webhook.py --scale 0.5

Both are child processes (`python -m bot run` through tests/fakes/process.py, and bench/webhook_echo.py: aiogram's
SimpleRequestHandler with handle_in_background=False) talking to the tests' fake Bot API on 127.0.0.1, configured by
the same environment variables. The bench POSTs /start updates of distinct people straight to each webhook with the
secret, `concurrency` requests at a time, and times each request. When an answer carries a Bot API call (the bot's
`WebhookReply`), the bench makes that call to the fake Bot API as Telegram would, and the time counted runs to its
end, as a bot's own call is inside its request. For the bot it then counts the updates it answered
200 but did not store (their update_id missing from processed_updates): that must be 0. Then the people of the
concurrency-8 level press another language, 8 at a time: an answer and an edit each, in the bot and in the echo bot.
Prints updates/s and p50/p95 latency of both and their ratios per concurrency and for the presses; the last line is
`webhook ratio R (concurrency 8)`.

    .venv/bin/python bench/webhook.py --api-latency-ms 50   # every Bot API call answers 50 ms later
    .venv/bin/python bench/webhook.py --database postgresql  # the bot on PostgreSQL (MEDFEEDBACK_TEST_POSTGRES_URL)

    .venv/bin/python bench/webhook.py --ceiling   # also the echo bot with the bot's one transaction per update
    .venv/bin/python bench/webhook.py --echo-answering   # also echo carrying its reply in the webhook answer

`--ceiling` runs a third process: the echo bot whose every update first gets the one transaction the bot gives each
update (recorded, the person read, committed; bench/webhook_echo.py) on the bot's database: what any bot on this stack
that stores each update could reach at the most. Its ratio to bare echo is printed per level, before the last line.
`--echo-answering` runs the bare echo bot once more with its reply carried in the webhook answer (as JSON, as the bot
carries its own): the goal's echo bot makes its calls itself, so part of the bot's ratio to it is the call the bot no
longer makes; the bot's ratio to this one shows the rest.

With `--database postgresql` the bot runs on a database of its own on the server MEDFEEDBACK_TEST_POSTGRES_URL names,
created for each round and dropped afterwards; the echo bot stores nothing either way.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
from aiohttp import ClientResponse, ClientSession, ClientTimeout, MultipartReader, TCPConnector
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakes.fake_api import FakeTelegramAPI
from tests.fakes.process import BotProcess, free_port

TOKEN = "123456:TEST-token"
SECRET = "bench-secret_123"
HERE = Path(__file__).resolve().parent
PRESS_CONCURRENCY = 8
PRESSES = -1  # the key of the presses' figures, beside the concurrency levels'
CEILING = "echo with a transaction"
ECHO_ANSWERING = "echo answering in the answer"  # the bare echo bot, its reply carried in the webhook answer too
STORING = ("bot", CEILING)  # what records each update in processed_updates


class EchoProcess(BotProcess):
    """bench/webhook_echo.py, started exactly as BotProcess starts the bot."""

    async def start(self) -> EchoProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._log_file = self.log.open("wb")
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, str(HERE / "webhook_echo.py"), cwd=self.workdir, env=self.environment,
            stdout=self._log_file, stderr=asyncio.subprocess.STDOUT)
        return self


def start_update(update_id: int, user_id: int) -> dict:
    person = {"id": user_id, "is_bot": False, "first_name": "Айгуль", "language_code": "ru"}
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": int(time.time()), "text": "/start", "from": person,
        "chat": {"id": user_id, "type": "private", "first_name": "Айгуль"},
        "entities": [{"type": "bot_command", "offset": 0, "length": 6}]}}


async def load(url: str, updates: list[dict], concurrency: int,
               api_url: str) -> tuple[float, list[float], dict[int, int], int]:
    """POST every update, `concurrency` at a time, and make the Bot API call a webhook answer carries, as Telegram
    does (to `api_url`, the fake Bot API); returns elapsed seconds, latencies (to the end of that call, as a bot's own
    call is inside its request), each update's status, and how many carried calls failed (refused by the Bot API or
    not answered)."""
    queue: asyncio.Queue[dict] = asyncio.Queue()
    for update in updates:
        queue.put_nowait(update)
    latencies, statuses, refused = [], {}, []
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    async with ClientSession(connector=TCPConnector(limit=concurrency), timeout=ClientTimeout(total=120)) as client:

        async def worker() -> None:
            while not queue.empty():
                update = queue.get_nowait()
                started = time.perf_counter()
                try:
                    async with client.post(url, json=update, headers=headers) as response:
                        call = await webhook_answer(response)
                        statuses[update["update_id"]] = response.status
                except OSError:  # no answer: the update counts as not answered 200
                    statuses[update["update_id"]], call = 0, {}
                if method := call.pop("method", None):
                    try:  # the update was answered 200 whatever becomes of the call its answer carries
                        async with client.post(f"{api_url}/bot{TOKEN}/{method}", json=call) as answered:
                            await answered.read()
                            failed = answered.status != 200
                    except OSError:
                        failed = True
                    if failed:
                        refused.append(update["update_id"])
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started, latencies, statuses, len(refused)


async def webhook_answer(response: ClientResponse) -> dict:
    """The Bot API call a webhook answer carries (the bot's as JSON, aiogram's as a form), or {}."""
    if response.content_type == "multipart/form-data":
        fields = {}
        async for part in MultipartReader(response.headers, response.content):
            value = await part.text()
            fields[part.name] = json.loads(value) if value[:1] and value[0] in "[{" else value
        return fields
    body = await response.read()
    return json.loads(body) if response.status == 200 and body.startswith(b"{") else {}


@asynccontextmanager
async def bot_database(kind: str, workdir: Path) -> AsyncIterator[str]:
    """The bot's database URL: a SQLite file in its folder, or a PostgreSQL database made for it and then dropped."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{workdir / 'bot.db'}"
        return
    server = make_url(os.environ["MEDFEEDBACK_TEST_POSTGRES_URL"])
    name = f"bench_webhook_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(server.set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def stored_update_ids(database_url: str) -> set[int]:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        with sqlite3.connect(url.database) as db:
            return {row[0] for row in db.execute("SELECT update_id FROM processed_updates")}
    connection = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        return {row[0] for row in await connection.fetch("SELECT update_id FROM processed_updates")}
    finally:
        await connection.close()


async def figures_of(name: str, database_url: str, count: int, elapsed: float, latencies: list[float],
                     statuses: dict[int, int], refused: int) -> dict[str, float]:
    ok = [update_id for update_id, status in statuses.items() if status == 200]
    figures = {"rate": count / elapsed, "p50": percentile(latencies, 0.5), "p95": percentile(latencies, 0.95),
               "ok": len(ok), "count": count, "refused": refused}
    if name in STORING:
        stored = await stored_update_ids(database_url)
        figures["lost"] = sum(1 for update_id in ok if update_id not in stored)
    return figures


def report(what: str, figures: dict[str, float]) -> None:
    lost = f", answered 200 but not stored: {figures['lost']}" if "lost" in figures else ""
    refused = f", calls carried in answers that failed: {figures['refused']}" if figures["refused"] else ""
    print(f"{what}: {figures['rate']:.1f} updates/s, p50 {figures['p50'] * 1000:.0f} ms, p95 "
          f"{figures['p95'] * 1000:.0f} ms, {figures['ok']} of {figures['count']} answered 200{lost}{refused}",
          flush=True)


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def measure(name: str, levels: list[tuple[int, int]], folder: Path, api_latency: float = 0.0,
                  database: str = "sqlite") -> dict[int, dict[str, float]]:
    workdir = folder / name.replace(" ", "-")
    workdir.mkdir(parents=True, exist_ok=True)
    async with bot_database(database if name in STORING else "sqlite", workdir) as database_url:
        return await measure_with(name, levels, workdir, api_latency, database_url)


async def measure_with(name: str, levels: list[tuple[int, int]], workdir: Path, api_latency: float,
                       database_url: str) -> dict[int, dict[str, float]]:
    port = free_port()
    environment = {
        "MEDFEEDBACK_TELEGRAM__TOKEN": TOKEN, "MEDFEEDBACK_TELEGRAM__MODE": "webhook",
        "MEDFEEDBACK_TELEGRAM__WEBHOOK__URL": f"http://127.0.0.1:{port}/hook",
        "MEDFEEDBACK_TELEGRAM__WEBHOOK__PATH": "/hook", "MEDFEEDBACK_TELEGRAM__WEBHOOK__LISTEN_PORT": str(port),
        "MEDFEEDBACK_TELEGRAM__WEBHOOK__SECRET_TOKEN": SECRET,
        "MEDFEEDBACK_DATABASE__URL": database_url,
        "MEDFEEDBACK_MEDIA__DIR": str(workdir / "media"), "MEDFEEDBACK_FLOOD__MAX_UPDATES": "100000",
        "PYTHONPATH": str(HERE.parent),
    }
    if name == CEILING:
        environment["MEDFEEDBACK_BENCH_ECHO_TRANSACTION"] = "1"
    if name in (CEILING, ECHO_ANSWERING):
        environment["MEDFEEDBACK_BENCH_ECHO_ANSWERS"] = "1"
    results: dict[int, dict[str, float]] = {}
    async with FakeTelegramAPI(TOKEN) as api:
        environment["MEDFEEDBACK_TELEGRAM__API_SERVER"] = api.base_url
        process = BotProcess if name == "bot" else EchoProcess
        bot = await process(workdir, environment).start()
        try:
            await api.wait_for("setWebhook", timeout=60, since=0)
            url = f"http://127.0.0.1:{port}/hook"
            for _ in range(100):  # the listener may start a moment after setWebhook
                if await api.deliver_raw({"update_id": 10**9}, secret="wrong") != 0:
                    break
                await asyncio.sleep(0.1)
            if name == "bot":
                # The bot trains its urgency classifier once, in a worker thread, as it starts (2-4 s of CPU):
                # measured during that, ingest would show the start, not the steady state.
                for _ in range(600):
                    if "the urgency classifier is ready" in bot.output():
                        break
                    await asyncio.sleep(0.2)
            api.latency = api_latency  # after the start, which would otherwise wait for it too
            next_id = 1
            # Warm-up: the first connections, compiled statements, imports on first use.
            warm = [start_update(next_id + i, 7_000_000 + next_id + i) for i in range(30)]
            for update in warm:
                api.add_user(update["message"]["from"]["id"], "Айгуль", "ru")
            await load(url, warm, 4, api.base_url)
            next_id += len(warm)
            for concurrency, count in levels:
                updates = [start_update(next_id + i, 7_000_000 + next_id + i) for i in range(count)]
                next_id += count
                for update in updates:
                    api.add_user(update["message"]["from"]["id"], "Айгуль", "ru")
                elapsed, latencies, statuses, refused = await load(url, updates, concurrency, api.base_url)
                results[concurrency] = figures = await figures_of(name, database_url, count, elapsed, latencies,
                                                                  statuses, refused)
                report(f"{name} concurrency {concurrency}", figures)
                if concurrency == PRESS_CONCURRENCY:
                    started_by = [update["message"]["from"]["id"] for update in updates]
            # Then everyone who sent /start at that concurrency presses another language: an answer and an edit.
            presses = []
            for user_id in started_by:
                [shown] = api.bot_messages(user_id)[-1:]
                if name == "bot":
                    other = next(b["text"] for b in shown["reply_markup"]["inline_keyboard"][0]
                                 if not b["text"].startswith("✓"))
                    query = api.callback_query(user_id, shown, other)
                else:  # the echo bot's /start has no buttons: the same press, on its message
                    query = api.callback_query(user_id, shown, None, data="language:kk")
                presses.append({"update_id": next_id, "callback_query": query})
                next_id += 1
            elapsed, latencies, statuses, refused = await load(url, presses, PRESS_CONCURRENCY, api.base_url)
            results[PRESSES] = figures = await figures_of(name, database_url, len(presses), elapsed, latencies,
                                                         statuses, refused)
            report(f"{name} presses at concurrency {PRESS_CONCURRENCY}", figures)
        finally:
            code = await bot.stop()
            if code not in (0, None, -15):
                print(f"{name} exited with {code}:\n{bot.output()[-3000:]}")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the number of updates per level")
    parser.add_argument("--rounds", type=int, default=1, help="alternating echo/bot runs; figures are medians")
    parser.add_argument("--api-latency-ms", type=float, default=0.0,
                        help="each Bot API call answers this much later, as over the network to Telegram")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite",
                        help="the bot's database; postgresql needs MEDFEEDBACK_TEST_POSTGRES_URL")
    parser.add_argument("--ceiling", action="store_true",
                        help="also run the echo bot with the bot's one transaction per update on the same database")
    parser.add_argument("--echo-answering", action="store_true",
                        help="also run the echo bot carrying its reply in the webhook answer, as the bot does, and "
                             "print the bot's ratio to it")
    args = parser.parse_args()
    if args.database == "postgresql" and not os.environ.get("MEDFEEDBACK_TEST_POSTGRES_URL"):
        parser.error("--database postgresql needs MEDFEEDBACK_TEST_POSTGRES_URL (e.g. "
                     "postgresql+asyncpg://postgres@127.0.0.1:5432/test)")
    levels = [(1, int(150 * args.scale)), (8, int(400 * args.scale)), (32, int(800 * args.scale))]
    names = ("echo", "bot") + ((CEILING,) if args.ceiling else ()) + ((ECHO_ANSWERING,) if args.echo_answering else ())
    runs: dict[str, list[dict[int, dict[str, float]]]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory(prefix="bench-webhook-") as folder:
        for number in range(args.rounds):
            for name in names:
                runs[name].append(asyncio.run(measure(name, levels, Path(folder) / f"{number}",
                                                      args.api_latency_ms / 1000, args.database)))
    ratio_at_8 = 0.0
    for concurrency, _ in [*levels, (PRESSES, 0)]:
        def median(name: str, key: str, level: int = concurrency) -> float:
            return statistics.median(run[level][key] for run in runs[name])

        ratio = median("bot", "rate") / median("echo", "rate")
        p95 = median("bot", "p95") / median("echo", "p95")
        lost = sum(run[concurrency]["lost"] for run in runs["bot"])
        refused = sum(run[concurrency]["refused"] for run in runs["bot"])
        what = f"presses at concurrency {PRESS_CONCURRENCY}" if concurrency == PRESSES else f"concurrency {concurrency}"
        print(f"{what}: bot/echo updates/s {ratio:.2f}, p95 {p95:.1f}x echo's "
              f"({median('bot', 'p95') * 1000:.0f} vs {median('echo', 'p95') * 1000:.0f} ms), "
              f"answered 200 but not stored: {lost}, calls carried in its answers that failed: {refused}")
        if concurrency == 8:
            ratio_at_8 = ratio
        if args.ceiling:
            lost = sum(run[concurrency]["lost"] for run in runs[CEILING])
            print(f"{what}: ceiling ({CEILING})/echo updates/s {median(CEILING, 'rate') / median('echo', 'rate'):.2f}, "
                  f"p95 {median(CEILING, 'p95') / median('echo', 'p95'):.1f}x echo's, answered 200 but not stored: "
                  f"{lost}")
        if args.echo_answering:
            to_it = median("bot", "rate") / median(ECHO_ANSWERING, "rate")
            print(f"{what}: bot/({ECHO_ANSWERING}) updates/s {to_it:.2f}"
                  f", p95 {median('bot', 'p95') / median(ECHO_ANSWERING, 'p95'):.1f}x its; it/echo "
                  f"{median(ECHO_ANSWERING, 'rate') / median('echo', 'rate'):.2f}")
    suffix = "" if args.database == "sqlite" else ", postgresql"
    print(f"webhook ratio {ratio_at_8:.2f} (concurrency 8{suffix})")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
