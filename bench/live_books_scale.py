"""5,000 tokens held by ``LiveBooks``: the client process's resident memory and CPU at a stated rate.

Run: ``python bench/live_books_scale.py [--tokens 5000] [--rate 500] [--seconds 20]``

The emulator runs in a process of its own (bench/emulator_process.py), trading ``--tokens`` / 2
markets at ``--rate`` simulated actions per second for the whole run. Each client runs in a fresh
interpreter of its own, so the machine's two cores are one for the emulator and one for the
client, and nothing one client allocated is left for the next:

(a) bare websockets, the anchor: the same shards (``--tokens-per-connection`` tokens a socket),
    each subscribed with the initial dump and custom features as (b) is, then only receiving
    frames (a run is too short to need the venue's PING). The floor of holding that many
    subscriptions at that rate: sockets, frames, one event loop.
(b) polyinfra ``LiveBooks`` with the same shards, default settings otherwise (10 s pings, 15 s
    silence watchdog, hash checks on, no periodic audit).

Once every shard has its books (every token LIVE for (b)), the client measures for ``--seconds``:
CPU as (user + system time) / wall time from ``resource.getrusage`` (100% is one core), frames
received, and its resident set (Linux ``/proc/self/statm``) at the end, also as the growth over the
resident set it had before connecting (interpreter and imports). The simulator keeps books a few
levels deep (the mean is printed), so the growth is mostly what a token costs beyond its levels;
bench/book_memory.py measures 100-level books.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import websockets

from emulator_process import EmulatorProcess
from polyinfra.clob.live_books import LiveBooks
from polyinfra.model.events import SyncState
from polyinfra.record.recorder import Recorder

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
LIVE_TIMEOUT_S = 120.0
CLIENT_EXIT_S = 30.0
RECORDER_SETTLE_S = 1.0
"""After a recorder's queue drained: time for the batch in flight to be stored."""
CLIENTS = {
    "bare": "(a) bare websockets, receive only (anchor)",
    "live-books": "(b) LiveBooks",
}


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE_BYTES


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def shards(tokens: Sequence[str], per_connection: int) -> list[Sequence[str]]:
    return [tokens[start : start + per_connection] for start in range(0, len(tokens), per_connection)]


async def measure_window(seconds: float) -> tuple[float, float]:
    """CPU seconds used and wall seconds elapsed while this coroutine sleeps ``seconds``."""
    cpu_before, wall_before = cpu_seconds(), time.monotonic()
    await asyncio.sleep(seconds)
    return cpu_seconds() - cpu_before, time.monotonic() - wall_before


async def bare_client(urls: dict[str, str], tokens: Sequence[str], per_connection: int, seconds: float) -> dict:
    resident_before = resident_bytes()
    started = time.monotonic()
    frames = 0
    sockets = []
    for shard in shards(tokens, per_connection):
        socket = await websockets.connect(urls["ws_market"], ping_interval=None, max_size=None, compression=None)
        # Custom features on, as LiveBooks subscribes: both get the same frames.
        await socket.send(json.dumps({"assets_ids": list(shard), "type": "market", "custom_feature_enabled": True}))
        sockets.append(socket)
    for socket in sockets:
        await socket.recv()  # the shard's initial dump
    ready_s = time.monotonic() - started

    async def receive(socket: websockets.ClientConnection) -> None:
        nonlocal frames
        async for _frame in socket:
            frames += 1

    receivers = [asyncio.create_task(receive(socket)) for socket in sockets]
    frames_before = frames
    cpu_s, wall_s = await measure_window(seconds)
    frames_in_window = frames - frames_before
    for receiver in receivers:
        receiver.cancel()
    await asyncio.gather(*receivers, return_exceptions=True)
    resident_after = resident_bytes()
    for socket in sockets:
        await socket.close()
    return {
        "cpu_s": cpu_s,
        "wall_s": wall_s,
        "frames": frames_in_window,
        "resident_before": resident_before,
        "resident_after": resident_after,
        "ready_s": ready_s,
        "connections": len(sockets),
    }


async def live_books_client(
    urls: dict[str, str],
    tokens: Sequence[str],
    per_connection: int,
    seconds: float,
    *,
    recorder: Recorder | None = None,
) -> dict:
    """With ``recorder``, LiveBooks records into it, the window starts once the records queued on going
    LIVE are stored, and the result also has ``records``: the records the sink acknowledged during
    the window, and ``queued_at_end``: those still waiting at its end."""
    resident_before = resident_bytes()
    started = time.monotonic()
    async with LiveBooks(
        urls["rest"], urls["ws_market"], tokens_per_connection=per_connection, recorder=recorder
    ) as books:
        await books.subscribe(tokens)
        assert await books.wait_until_live(timeout_s=LIVE_TIMEOUT_S), "not every token went live"
        ready_s = time.monotonic() - started
        if recorder is not None:
            # Going LIVE queues a state change and a checkpoint per token: measure the steady
            # stream, not that backlog's write.
            while recorder.stats.queued:
                await asyncio.sleep(0.05)
            await asyncio.sleep(RECORDER_SETTLE_S)
        frames_before = books.stats.frames
        written_before = 0 if recorder is None else recorder.stats.written
        cpu_s, wall_s = await measure_window(seconds)
        stats = books.stats
        recording = {}
        if recorder is not None:
            recorder_stats = recorder.stats
            recording = {"records": recorder_stats.written - written_before, "queued_at_end": recorder_stats.queued}
        resident_after = resident_bytes()
        live = sum(1 for state in books.states().values() if state is SyncState.LIVE)
        levels = sum(len(books.book(token).bids()) + len(books.book(token).asks()) for token in tokens)
        return {
            "cpu_s": cpu_s,
            "wall_s": wall_s,
            "frames": stats.frames - frames_before,
            "resident_before": resident_before,
            "resident_after": resident_after,
            "ready_s": ready_s,
            "connections": stats.connections,
            "live_at_end": live,
            "levels_per_token": levels / len(tokens),
            "reconnects": stats.reconnects,
            "resyncs": stats.resyncs,
            "hash_mismatches": stats.hash_mismatches,
            "silences_detected": stats.silences_detected,
            **recording,
        }


async def run_client_process(
    client: str,
    urls: dict[str, str],
    tokens: Sequence[str],
    args: argparse.Namespace,
    *,
    script: str = __file__,
    extra_arguments: Sequence[str] = (),
) -> dict:
    """Run ``script --client CLIENT ...`` in a fresh interpreter and return the JSON it prints: the
    script's ``main`` takes ``--client``, ``--urls``, ``--tokens-file``, ``--seconds`` and
    ``--tokens-per-connection`` (and ``extra_arguments``), as this module's does."""
    with tempfile.TemporaryDirectory() as directory:
        tokens_file = Path(directory) / "tokens.json"
        tokens_file.write_text(json.dumps(list(tokens)))
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            script,
            *("--client", client, "--urls", json.dumps(urls), "--tokens-file", str(tokens_file)),
            *("--seconds", str(args.seconds), "--tokens-per-connection", str(args.tokens_per_connection)),
            *extra_arguments,
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            async with asyncio.timeout(LIVE_TIMEOUT_S + args.seconds + CLIENT_EXIT_S):
                output, _ = await process.communicate()
        except TimeoutError:
            # A client whose event loop is stuck cannot time itself out.
            process.kill()
            await process.wait()
            raise RuntimeError(f"the {client} client neither finished nor failed; killed") from None
    if process.returncode != 0:
        raise RuntimeError(f"the {client} client failed ({process.returncode})")
    return json.loads(output)


async def run(args: argparse.Namespace) -> None:
    markets = math.ceil(args.tokens / 2)
    started = time.monotonic()
    async with EmulatorProcess(markets=markets, rate=args.rate) as emulator:
        print(f"emulator: {markets:,} markets ready in {time.monotonic() - started:.1f} s")
        tokens = emulator.tokens[: args.tokens]
        await emulator.resume()
        steps_before = (await emulator.stats())["simulator"]["steps"]
        clock_before = time.monotonic()
        # One after the other: each client gets the core the emulator leaves.
        results = {client: await run_client_process(client, emulator.urls, tokens, args) for client in CLIENTS}
        steps = (await emulator.stats())["simulator"]["steps"] - steps_before
        actions_per_s = steps / (time.monotonic() - clock_before)

    connections = results["bare"]["connections"]
    print(
        f"{len(tokens):,} tokens on {connections} connections of up to {args.tokens_per_connection}, "
        f"{args.rate:g} actions/s asked ({actions_per_s:,.0f} taken), {args.seconds:g} s measured per client, "
        "each client in a fresh process\n"
    )
    print(f"  {'':<44} {'CPU %':>7} {'frames/s':>9} {'RSS MB':>8} {'growth MB':>10} {'MB/1k tok':>10} {'ready s':>8}")
    for client, name in CLIENTS.items():
        result = results[client]
        growth = result["resident_after"] - result["resident_before"]
        print(
            f"  {name:<44} {100 * result['cpu_s'] / result['wall_s']:>7.1f} "
            f"{result['frames'] / result['wall_s']:>9,.0f} {result['resident_after'] / 1e6:>8.1f} "
            f"{growth / 1e6:>10.1f} {growth / 1e6 / len(tokens) * 1_000:>10.2f} {result['ready_s']:>8.1f}"
        )
    anchor, ours = results["bare"], results["live-books"]
    anchor_cpu = anchor["cpu_s"] / anchor["wall_s"]
    ours_cpu = ours["cpu_s"] / ours["wall_s"]
    resident_ratio = ours["resident_after"] / anchor["resident_after"]
    resident_added = ours["resident_after"] - anchor["resident_after"]
    print(
        f"\n  ratio (b) / (a): CPU {ours_cpu / anchor_cpu:.2f}x, resident set {resident_ratio:.2f}x "
        f"({resident_added / 1e6:+.1f} MB, {resident_added / 1e3 / len(tokens):.1f} kB a token)"
    )
    print(
        f"  (b) at the end: {ours['live_at_end']:,} of {len(tokens):,} tokens LIVE, "
        f"{ours['levels_per_token']:.1f} levels a token on average; reconnects {ours['reconnects']}, "
        f"resyncs {ours['resyncs']}, hash mismatches {ours['hash_mismatches']}, "
        f"silences detected {ours['silences_detected']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=5_000)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--tokens-per-connection", type=int, default=500)
    parser.add_argument("--client", choices=list(CLIENTS), help=argparse.SUPPRESS)
    parser.add_argument("--urls", help=argparse.SUPPRESS)
    parser.add_argument("--tokens-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client is None:
        asyncio.run(run(args))
        return
    client = bare_client if args.client == "bare" else live_books_client
    tokens = json.loads(Path(args.tokens_file).read_text())
    result = asyncio.run(client(json.loads(args.urls), tokens, args.tokens_per_connection, args.seconds))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
