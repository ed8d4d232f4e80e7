"""What recording costs on the live path: LiveBooks with a Recorder against LiveBooks without one.

Run: ``python bench/recording_cost.py [--tokens 1000] [--rate 500] [--seconds 10] [--repeat 3]
[--postgres-url URL | --no-postgres]``

The emulator runs in a process of its own (bench/emulator_process.py), trading ``--tokens`` / 2
markets with a fixed seed at ``--rate`` simulated actions per second for the whole run. Every
configuration consumes that stream in a fresh interpreter of its own (as bench/live_books_scale.py
runs its clients, with its client code), so the machine's two cores are one for the emulator and one
for the consumer, on the same shards (``--tokens-per-connection`` tokens a socket):

(a) bare websockets, receive only: the anchor, the floor of holding these subscriptions at this rate;
(b) ``LiveBooks`` without a recorder;
(c) ``LiveBooks`` with a ``Recorder`` into a SQLite sink (a file in a temporary directory);
(d) the same into PostgreSQL (default the local test server, postgresql://127.0.0.1:5432/test, each
    run in a fresh schema dropped after), when the server answers.

Once every shard has its books (every token LIVE), the consumer measures for ``--seconds``: CPU
seconds of the whole process (user + system, every thread: the SQLite sink writes from a worker
thread) per second of wall time, from ``resource.getrusage`` (100% is one core), frames received
and records the sink acknowledged. The configurations run one after the other, rotating their order
each of ``--repeat`` rounds, so a slow spell of the machine falls on all of them; each ratio is
computed within a round (back to back) and its median over rounds shown beside the ratio of bests.
A recording consumer then stops its recorder (everything queued written) and reports the records
dropped by a full queue (must be 0), those the sink refused and the total acknowledged.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import psycopg

from emulator_process import EmulatorProcess
from live_books_scale import bare_client, live_books_client, run_client_process
from polyinfra.record.recorder import Recorder
from polyinfra.record.sink_urls import open_sink
from recorder_postgres import fresh_schema

POSTGRES_URL = "postgresql://127.0.0.1:5432/test"
CONFIGURATIONS = {
    "bare": "(a) bare websockets, receive only (anchor)",
    "live-books": "(b) LiveBooks, no recorder",
    "sqlite": "(c) LiveBooks + Recorder -> SQLite",
    "postgres": "(d) LiveBooks + Recorder -> PostgreSQL",
}
RECORDING = ("sqlite", "postgres")


async def recording_client(
    urls: dict[str, str], tokens: Sequence[str], per_connection: int, seconds: float, sink_url: str
) -> dict:
    sink = open_sink(sink_url)
    try:
        recorder = Recorder(sink)
        async with recorder:
            result = await live_books_client(urls, tokens, per_connection, seconds, recorder=recorder)
        stats = recorder.stats
    finally:
        await sink.close()
    return {
        **result,
        "dropped": stats.dropped,
        "unstorable": stats.unstorable,
        "write_failures": stats.write_failures,
        "batches": stats.batches,
        "acknowledged": stats.acknowledged.records if stats.acknowledged is not None else 0,
    }


@asynccontextmanager
async def sink_url_for(configuration: str, postgres_url: str) -> AsyncIterator[str]:
    """A fresh, empty store for one run."""
    if configuration == "sqlite":
        with tempfile.TemporaryDirectory() as directory:
            yield f"sqlite:///{Path(directory) / 'recording.db'}"
    else:
        async with fresh_schema(postgres_url) as url:
            yield url


async def postgres_answers(url: str) -> bool:
    try:
        connection = await psycopg.AsyncConnection.connect(url, connect_timeout=5)
    except psycopg.OperationalError:
        return False
    await connection.close()
    return True


async def run_configuration(
    configuration: str, urls: dict[str, str], tokens: Sequence[str], args: argparse.Namespace
) -> dict:
    if configuration not in RECORDING:
        return await run_client_process(configuration, urls, tokens, args, script=__file__)
    async with sink_url_for(configuration, args.postgres_url) as sink_url:
        return await run_client_process(
            configuration, urls, tokens, args, script=__file__, extra_arguments=("--sink-url", sink_url)
        )


def cpu_share(result: dict) -> float:
    """CPU seconds per second of stream."""
    return result["cpu_s"] / result["wall_s"]


async def run(args: argparse.Namespace) -> None:
    configurations = ["bare", "live-books", "sqlite"]
    if args.no_postgres:
        print("PostgreSQL: left out (--no-postgres)")
    elif await postgres_answers(args.postgres_url):
        configurations.append("postgres")
    else:
        print(f"PostgreSQL: no answer at {args.postgres_url}, left out")
    markets = math.ceil(args.tokens / 2)
    results: dict[str, list[dict]] = {configuration: [] for configuration in configurations}
    async with EmulatorProcess(markets=markets, rate=args.rate, seed=args.seed) as emulator:
        tokens = emulator.tokens[: args.tokens]
        await emulator.resume()
        steps_before = (await emulator.stats())["simulator"]["steps"]
        clock_before = time.monotonic()
        for round_index in range(args.repeat):
            shift = round_index % len(configurations)
            for configuration in configurations[shift:] + configurations[:shift]:
                result = await run_configuration(configuration, emulator.urls, tokens, args)
                results[configuration].append(result)
                print(
                    f"  round {round_index + 1} {configuration:<10} CPU {100 * cpu_share(result):5.1f}%  "
                    f"{result['frames'] / result['wall_s']:7,.0f} frames/s",
                    flush=True,
                )
        steps = (await emulator.stats())["simulator"]["steps"] - steps_before
        actions_per_s = steps / (time.monotonic() - clock_before)

    print(
        f"\n{len(tokens):,} tokens on shards of up to {args.tokens_per_connection}, seed {args.seed}, "
        f"{args.rate:g} actions/s asked ({actions_per_s:,.0f} taken), {args.seconds:g} s measured per run, "
        f"{args.repeat} rounds, each run in a fresh process\n"
    )
    print(f"  {'':<42} {'CPU % best':>10} {'median':>7} {'frames/s':>9} {'records/s':>10} {'µs CPU/frame':>13}")
    for configuration in configurations:
        runs = results[configuration]
        shares = [cpu_share(result) for result in runs]
        frames_per_s = statistics.median(result["frames"] / result["wall_s"] for result in runs)
        records = (
            f"{statistics.median(result['records'] / result['wall_s'] for result in runs):10,.0f}"
            if configuration in RECORDING
            else f"{'':>10}"
        )
        cpu_per_frame_us = statistics.median(1e6 * result["cpu_s"] / max(result["frames"], 1) for result in runs)
        print(
            f"  {CONFIGURATIONS[configuration]:<42} {100 * min(shares):>10.1f} {100 * statistics.median(shares):>7.1f} "
            f"{frames_per_s:>9,.0f} {records} {cpu_per_frame_us:>13.1f}"
        )

    def ratio_line(name: str, numerator: str, denominator: str) -> str:
        within_rounds = [
            cpu_share(top) / cpu_share(bottom)
            for top, bottom in zip(results[numerator], results[denominator], strict=True)
        ]
        of_bests = min(map(cpu_share, results[numerator])) / min(map(cpu_share, results[denominator]))
        return (
            f"  {name:<34} median of rounds {statistics.median(within_rounds):.2f}x "
            f"(range {min(within_rounds):.2f}-{max(within_rounds):.2f}x), of bests {of_bests:.2f}x"
        )

    print("\n  CPU per second of stream:")
    print(ratio_line("(b) / (a) LiveBooks vs bare", "live-books", "bare"))
    for configuration, letter in (("sqlite", "c"), ("postgres", "d")):
        if configuration in results:
            print(ratio_line(f"({letter}) / (a) recording vs bare", configuration, "bare"))
            print(ratio_line(f"({letter}) / (b) cost of recording", configuration, "live-books"))
    for configuration in RECORDING:
        for index, result in enumerate(results.get(configuration, [])):
            print(
                f"  {configuration} round {index + 1}: acknowledged {result['acknowledged']:,} records "
                f"in {result['batches']:,} batches, "
                f"dropped {result['dropped']}, unstorable {result['unstorable']}, "
                f"write failures {result['write_failures']}, queued at window end {result['queued_at_end']}, "
                f"tokens LIVE at end {result['live_at_end']:,}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=1_000)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tokens-per-connection", type=int, default=500)
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--client", choices=list(CONFIGURATIONS), help=argparse.SUPPRESS)
    parser.add_argument("--urls", help=argparse.SUPPRESS)
    parser.add_argument("--tokens-file", help=argparse.SUPPRESS)
    parser.add_argument("--sink-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client is None:
        asyncio.run(run(args))
        return
    urls = json.loads(args.urls)
    tokens = json.loads(Path(args.tokens_file).read_text())
    if args.client == "bare":
        client = bare_client(urls, tokens, args.tokens_per_connection, args.seconds)
    elif args.client == "live-books":
        client = live_books_client(urls, tokens, args.tokens_per_connection, args.seconds)
    else:
        client = recording_client(urls, tokens, args.tokens_per_connection, args.seconds, args.sink_url)
    print(json.dumps(asyncio.run(client)))


if __name__ == "__main__":
    main()
