"""End-to-end latency, emulator send -> local book updated, against the transport's own floor.

Run: ``python bench/live_books_latency.py [--rates 200 1000] [--seconds 4] [--rounds 3] [--markets 50]``

The emulator runs in a process of its own (bench/emulator_process.py) and records the wall-clock
time just before it writes each frame to a socket; the client side reads the same clock, so each
latency is one subtraction. For every rate (simulated actions per second; each action sends one
``price_change`` and often ``last_trade_price``, ``book`` and ``best_bid_ask`` frames), two
clients subscribe to every token (custom features on, so both get the same frames), one after the
other, on one connection each, and the simulator trades for ``--seconds`` while they listen;
``--rounds`` such pairs alternate, so a slow spell of the machine falls on both:

(a) bare websockets, the anchor: a ``websockets`` connection that only receives each frame and
    notes the time. No client can do less, so this is the floor of the transport: two sockets,
    the kernel and one event loop wake-up.
(b) polyinfra ``LiveBooks``: from the send to the ``BookUpdated`` callback, i.e. the frame decoded,
    applied to the book (hash and best prices checked) and the event delivered. ``BookUpdated``
    also carries the time the frame arrived (``received_ns``), which splits (b) into the
    transport's part and the client's own work.

An update is matched to its frame by (venue timestamp, token, snapshot or change): within one
market the emulator's actions rarely share a millisecond, and the few keys that two frames share
are left out and counted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec
import websockets

from emulator_process import EmulatorProcess, Sends
from polyinfra.clob.live_books import LiveBooks
from polyinfra.model.events import BookEvent, BookUpdated
from polyinfra.wire.clob_ws import PONG

DRAIN_S = 0.5
"""After pausing the simulator: time for the frames already sent to arrive."""
NS_PER_MS = 1_000_000

UpdateKey = tuple[int, str, bool]
"""(venue timestamp in ms, token id, True for a snapshot): what identifies a book update's frame."""


@dataclass(slots=True)
class Latencies:
    """Milliseconds per frame (anchor) or per book update (client) in the measured windows."""

    total_ms: list[float] = field(default_factory=list)
    transport_ms: list[float] = field(default_factory=list)
    """Send -> frame received, when the client reports the receive time."""
    frames_sent: int = 0
    window_s: float = 0.0
    ambiguous: int = 0
    """Updates left out because two frames carried the same key."""
    unmatched: int = 0
    """Updates left out because no frame sent in the window carried their key."""


async def measure_bare(emulator: EmulatorProcess, seconds: float, into: Latencies) -> None:
    received: list[tuple[int, str | bytes]] = []
    async with websockets.connect(
        emulator.urls["ws_market"], ping_interval=None, max_size=None, compression=None
    ) as socket:
        await socket.send(json.dumps({"assets_ids": emulator.tokens, "type": "market", "custom_feature_enabled": True}))
        await socket.recv()  # the initial dump: every book, one frame

        async def receive() -> None:
            async for frame in socket:
                received.append((time.time_ns(), frame))

        receiver = asyncio.create_task(receive())
        window_s = await trade_for(emulator, seconds)
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await receiver
    sends = data_frames(await emulator.take_sends())[1:]  # the dump was received before the window
    # One connection, in order: the n-th frame received is the n-th sent.
    assert [frame.encode() if isinstance(frame, str) else frame for _, frame in received] == [
        frame for _, frame in sends
    ], "the anchor should receive exactly what was sent"
    latencies = [
        (received_ns - sent_ns) / NS_PER_MS for (received_ns, _), (sent_ns, _) in zip(received, sends, strict=True)
    ]
    into.total_ms += latencies
    into.transport_ms += latencies
    into.frames_sent += len(sends)
    into.window_s += window_s


async def measure_live_books(emulator: EmulatorProcess, seconds: float, into: Latencies) -> None:
    # Plain ints and strings, not the events: tuples of atoms leave the garbage collector's
    # tracking, so the record of tens of thousands of updates adds no collection pauses to (b).
    updates: list[tuple[int, int | None, str, bool, int]] = []

    def on_event(event: BookEvent) -> None:
        if isinstance(event, BookUpdated):
            updates.append(
                (time.time_ns(), event.venue_timestamp_ms, event.token_id, event.snapshot, event.received_ns)
            )

    async with LiveBooks(emulator.urls["rest"], emulator.urls["ws_market"]) as books:
        await books.subscribe(emulator.tokens)
        assert await books.wait_until_live(), books.states()
        await emulator.take_sends()  # the dump and anything before the window
        books.add_listener(on_event)
        window_s = await trade_for(emulator, seconds)
        stats = books.stats
    assert stats.hash_mismatches == stats.best_price_mismatches == stats.reconnects == 0, stats
    sends = data_frames(await emulator.take_sends())
    sent_at, ambiguous_keys = send_times_by_update(sends)
    for callback_ns, venue_timestamp_ms, token_id, snapshot, received_ns in updates:
        assert venue_timestamp_ms is not None
        key = (venue_timestamp_ms, token_id, snapshot)
        if key in ambiguous_keys:
            into.ambiguous += 1
            continue
        sent_ns = sent_at.get(key)
        if sent_ns is None:
            into.unmatched += 1
            continue
        into.total_ms.append((callback_ns - sent_ns) / NS_PER_MS)
        into.transport_ms.append((received_ns - sent_ns) / NS_PER_MS)
    into.frames_sent += len(sends)
    into.window_s += window_s


async def trade_for(emulator: EmulatorProcess, seconds: float) -> float:
    """Let the simulator trade for ``seconds``, then wait for the last frames; the window's length."""
    started = time.monotonic()
    await emulator.resume()
    await asyncio.sleep(seconds)
    await emulator.pause()
    window_s = time.monotonic() - started
    await asyncio.sleep(DRAIN_S)
    return window_s


def data_frames(sends: Sends) -> Sends:
    return [(sent_ns, frame) for sent_ns, frame in sends if frame != PONG.encode()]


def send_times_by_update(sends: Sends) -> tuple[dict[UpdateKey, int], set[UpdateKey]]:
    """When the frame behind each possible book update was sent, and the keys two frames share."""
    sent_at: dict[UpdateKey, int] = {}
    ambiguous: set[UpdateKey] = set()
    for sent_ns, frame in sends:
        document = msgspec.json.decode(frame)
        for event in document if isinstance(document, list) else [document]:
            timestamp_ms = int(event["timestamp"])
            if event["event_type"] == "book":
                keys = {(timestamp_ms, event["asset_id"], True)}
            elif event["event_type"] == "price_change":
                keys = {(timestamp_ms, change["asset_id"], False) for change in event["price_changes"]}
            else:
                continue
            for key in keys:
                if key in sent_at:
                    ambiguous.add(key)
                sent_at[key] = sent_ns
    return sent_at, ambiguous


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def describe(name: str, latencies: list[float]) -> str:
    return (
        f"  {name:<48} {percentile(latencies, 0.5):>8.3f} {percentile(latencies, 0.99):>8.3f} "
        f"{statistics.fmean(latencies):>8.3f} {len(latencies):>9,}"
    )


async def run(rates: Sequence[float], seconds: float, rounds: int, markets: int) -> None:
    print(
        f"{markets} markets ({2 * markets} tokens), one connection per client, {rounds} rounds of {seconds:g} s "
        "of trading per client and rate; emulator in its own process"
    )
    for rate in rates:
        bare, ours = Latencies(), Latencies()
        async with EmulatorProcess(markets=markets, rate=rate, record_sends=True) as emulator:
            for _ in range(rounds):
                await measure_bare(emulator, seconds, bare)
                await measure_live_books(emulator, seconds, ours)
            steps = (await emulator.stats())["simulator"]["steps"]
        print(
            f"\n{rate:g} actions/s asked, {steps / (bare.window_s + ours.window_s):,.0f} taken; frames sent: "
            f"{bare.frames_sent / bare.window_s:,.0f}/s (a), {ours.frames_sent / ours.window_s:,.0f}/s (b)"
        )
        print(f"  {'latency, ms':<48} {'p50':>8} {'p99':>8} {'mean':>8} {'samples':>9}")
        print(describe("(a) bare websockets: frame received (anchor)", bare.total_ms))
        print(describe("(b) LiveBooks: BookUpdated callback", ours.total_ms))
        print(describe("    of which send -> frame received", ours.transport_ms))
        anchor_p50, anchor_p99 = percentile(bare.total_ms, 0.5), percentile(bare.total_ms, 0.99)
        ours_p50, ours_p99 = percentile(ours.total_ms, 0.5), percentile(ours.total_ms, 0.99)
        print(
            f"  ratio (b) / (a): p50 {ours_p50 / anchor_p50:.2f}x, p99 {ours_p99 / anchor_p99:.2f}x; "
            f"added by the client: p50 {ours_p50 - anchor_p50:+.3f} ms, p99 {ours_p99 - anchor_p99:+.3f} ms"
        )
        if ours.ambiguous or ours.unmatched:
            print(f"  left out: {ours.ambiguous} updates with an ambiguous key, {ours.unmatched} without a frame")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[200.0, 1_000.0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--markets", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(run(args.rates, args.seconds, args.rounds, args.markets))


if __name__ == "__main__":
    main()
