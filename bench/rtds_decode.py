"""How fast polyinfra decodes and dispatches RTDS frames, against the bare decode of the same bytes.

Run: ``python bench/rtds_decode.py [--frames N] [--repeat R]``

The stream mixes what a bot following wallets and prices receives: 80% ``activity`` trades (the
firehose runs at about 50 messages/s), 15% price updates, 3% comments, 2% price backfills of
60 points. Both approaches process the same bytes:

(a) bare decode, the anchor: ``msgspec.json.decode(frame)``, untyped, the result dropped.
(b) polyinfra: ``RtdsClient``'s frame step (the bounded typed decode, exact Decimal prices, the
    duplicate checks, metrics counts; no recorder) handing each frame's events to ``LiveData``,
    which dispatches them to three subscriptions: the trades of 50 wallets, two crypto prices,
    and every comment.

Each repetition starts from a fresh client (the duplicate checks would otherwise drop a whole
second pass) and times the whole stream with time.perf_counter, the two approaches taking turns;
best and median are shown, and the ratio of the best times.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections import deque
from collections.abc import Callable

import msgspec

from polyinfra.live.live_data import LiveData, PriceSource

_encode = msgspec.json.Encoder(decimal_format="number").encode
_WALLETS = [f"0x{index:040x}" for index in range(500)]


def build_frames(count: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    frames = []
    for index in range(count):
        roll = rng.random()
        timestamp_ms = 1_780_000_000_000 + index * 20
        if roll < 0.80:
            frame = {
                "connection_id": "a1b2c3",
                "payload": {
                    "asset": str(rng.randrange(10**76, 10**77)),
                    "conditionId": f"0x{rng.getrandbits(256):064x}",
                    "eventSlug": "fed-decision-in-december",
                    "name": "trader",
                    "outcome": rng.choice(("Yes", "No")),
                    "outcomeIndex": rng.randrange(2),
                    "price": rng.randrange(1, 999) / 1000,
                    "proxyWallet": rng.choice(_WALLETS),
                    "pseudonym": "Some-Pseudonym",
                    "side": rng.choice(("BUY", "SELL")),
                    "size": rng.randrange(1, 100_000) / 100,
                    "slug": "fed-cuts-rates-in-december",
                    "timestamp": timestamp_ms // 1000,
                    "title": "Will the Fed cut rates in December?",
                    "transactionHash": f"0x{rng.getrandbits(256):064x}",
                },
                "timestamp": timestamp_ms,
                "topic": "activity",
                "type": "trades",
            }
        elif roll < 0.95:
            symbol = rng.choice(("btcusdt", "ethusdt", "solusdt"))
            value = rng.randrange(1_000_000, 9_000_000) / 100
            frame = {
                "connection_id": "a1b2c3",
                "payload": {
                    "full_accuracy_value": f"{value:.8f}",
                    "symbol": symbol,
                    "timestamp": timestamp_ms,
                    "value": value,
                },
                "timestamp": timestamp_ms,
                "topic": "crypto_prices",
                "type": "update",
            }
        elif roll < 0.98:
            frame = {
                "connection_id": "a1b2c3",
                "payload": {
                    "body": "That is a good point about the definition.",
                    "createdAt": "2026-07-25T14:49:35.801298Z",
                    "id": str(index),
                    "parentEntityID": 18396,
                    "parentEntityType": "Event",
                    "userAddress": rng.choice(_WALLETS),
                },
                "timestamp": timestamp_ms,
                "topic": "comments",
                "type": "comment_created",
            }
        else:
            frame = {
                "payload": {
                    "data": [
                        {"timestamp": timestamp_ms - 1000 * (60 - point), "value": 60_000 + point / 100}
                        for point in range(60)
                    ],
                    "symbol": "btcusdt",
                },
                "timestamp": timestamp_ms,
                "topic": "crypto_prices",
                "type": "subscribe",
            }
        frames.append(_encode(frame))
    return frames


Run = Callable[[list[bytes]], object]


def bare_decode() -> Run:
    decode = msgspec.json.decode

    def run(frames: list[bytes]) -> object:
        return deque(map(decode, frames), maxlen=0)  # each decoded, the result dropped

    return run


def polyinfra_dispatch() -> Run:
    live = LiveData("ws://127.0.0.1:9/ws/rtds")  # never started: frames are handed to it below

    async def subscribe() -> None:
        await live.activity(wallets=_WALLETS[:50], callback=_drop)
        await live.prices(["btcusd", "ethusd"], source=PriceSource.BINANCE, callback=_drop)
        await live.comments(callback=_drop)

    asyncio.run(subscribe())
    live.rtds._deliver = live._dispatch  # what start() wires, without opening a socket
    step = live.rtds._on_frame

    def run(frames: list[bytes]) -> object:
        for frame in frames:
            step(frame)
        return live

    return run


def _drop(event: object) -> None:
    """A consumer that costs nothing: what is measured is the delivery to it."""


def measure(approaches: dict[str, Callable[[], Run]], frames: list[bytes], repeat: int) -> dict[str, list[float]]:
    """Seconds per repetition of each approach, the approaches interleaved so that a change in the
    machine's load falls on both alike."""
    seconds: dict[str, list[float]] = {name: [] for name in approaches}
    for _ in range(repeat):
        for name, make in approaches.items():
            run = make()
            started = time.perf_counter()
            run(frames)
            seconds[name].append(time.perf_counter() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    frames = build_frames(args.frames)
    print(f"{len(frames):,} frames, {sum(map(len, frames)) / len(frames):,.0f} bytes on average")
    approaches = {
        "(a) bare msgspec.json.decode (anchor)": bare_decode,
        "(b) polyinfra decode + dispatch": polyinfra_dispatch,
    }
    runs = {
        name: (min(times), statistics.median(times)) for name, times in measure(approaches, frames, args.repeat).items()
    }
    print(f"\n{'':<40} {'best frames/s':>14} {'median frames/s':>16}")
    for name, (best, median) in runs.items():
        print(f"{name:<40} {len(frames) / best:>14,.0f} {len(frames) / median:>16,.0f}")
    ratio = runs["(b) polyinfra decode + dispatch"][0] / runs["(a) bare msgspec.json.decode (anchor)"][0]
    print(f"\npolyinfra takes {ratio:.2f}x the anchor's time (best of {args.repeat})")


if __name__ == "__main__":
    main()
