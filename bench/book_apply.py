"""How fast polyinfra turns market-channel frames into books, against two anchors.

Run: ``python bench/book_apply.py [--frames N] [--repeat R]``

All approaches process the same bytes (bench/market_stream.py):

(a) bare decode, the anchor: ``msgspec.json.decode(frame)``, untyped, the result dropped. Any
    client must at least parse its input. Target: polyinfra within 1.5x of this.
(b) polyinfra: ``MarketFeed.apply_frame(frame)``, then the best bid and ask of every token the
    frame touched: the int attributes a strategy reads on each update (and, as a second line,
    the Decimal ``best_bid()``/``best_ask()``).
(c) reference: what a plain client would write: ``json.loads``, ``Decimal`` prices and sizes in
    dicts, best bid/ask by ``max``/``min``, the same reads. Target: polyinfra >= 10x faster.

Each runs with and without book hash verification (the reference hashes as the venue notes
describe, with json + hashlib). Each repetition starts from fresh books fed the initial dump
(untimed) and times the whole stream with time.perf_counter; best and median are shown. A second
table splits the time by frame kind, timing every frame on its own (timer cost subtracted).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import msgspec

from market_stream import Stream, build_stream
from polyinfra.core.market_feed import MarketFeed
from polyinfra.wire.clob_ws import MarketFrameDecoder, PriceChangeMessage

Run = Callable[[list[bytes]], object]
"""Processes a whole stream; built fresh, with the initial dump applied, for every repetition."""
Step = Callable[[bytes], object]
"""Processes one frame, for the per-kind table."""


def bare_decode(stream: Stream) -> tuple[Run, Step]:
    decode = msgspec.json.decode

    def run(frames: list[bytes]) -> object:
        document = None
        for frame in frames:
            document = decode(frame)
        return document

    return run, decode


def typed_decode(stream: Stream) -> tuple[Run, Step]:
    """polyinfra's decoding alone: the floor under (b)."""
    decode = MarketFrameDecoder().decode

    def run(frames: list[bytes]) -> object:
        events = None
        for frame in frames:
            events = decode(frame)
        return events

    return run, decode


def polyinfra_feed(stream: Stream, *, verify_hashes: bool, decimal_reads: bool = False) -> tuple[Run, Step]:
    feed = MarketFeed(verify_hashes=verify_hashes)
    feed.track(stream.token_ids)
    for frame in stream.initial_frames:
        feed.apply_frame(frame)
    books = feed.books
    apply_frame = feed.apply_frame

    def step(frame: bytes) -> object:
        best = None
        for event in apply_frame(frame):
            if isinstance(event, PriceChangeMessage):
                for change in event.price_changes:  # type: ignore[union-attr]  # the stream's format
                    book = books[change.asset_id]
                    best = (book.best_bid_micros, book.best_ask_micros)
            else:
                book = books[event.asset_id]  # type: ignore[union-attr]  # book, last_trade_price
                best = (book.best_bid_micros, book.best_ask_micros)
        return best

    def run(frames: list[bytes]) -> object:
        # The body of step, inlined: a call per frame would be charged to polyinfra only.
        best = None
        for frame in frames:
            for event in apply_frame(frame):
                if isinstance(event, PriceChangeMessage):
                    for change in event.price_changes:  # type: ignore[union-attr]
                        book = books[change.asset_id]
                        best = (book.best_bid_micros, book.best_ask_micros)
                else:
                    book = books[event.asset_id]  # type: ignore[union-attr]
                    best = (book.best_bid_micros, book.best_ask_micros)
        assert not feed.resync_needed, f"the stream should stay in sync: {feed.stats}"
        return best

    def run_decimal_reads(frames: list[bytes]) -> object:
        best = None
        for frame in frames:
            for event in apply_frame(frame):
                if isinstance(event, PriceChangeMessage):
                    for change in event.price_changes:  # type: ignore[union-attr]
                        book = books[change.asset_id]
                        best = (book.best_bid(), book.best_ask())
                else:
                    book = books[event.asset_id]  # type: ignore[union-attr]
                    best = (book.best_bid(), book.best_ask())
        assert not feed.resync_needed, f"the stream should stay in sync: {feed.stats}"
        return best

    return (run_decimal_reads if decimal_reads else run), step


class ReferenceBooks:
    """The plain client: json.loads, Decimal, dicts."""

    def __init__(self, stream: Stream, *, verify_hashes: bool) -> None:
        self.verify_hashes = verify_hashes
        self.bids: dict[str, dict[Decimal, Decimal]] = {token: {} for token in stream.token_ids}
        self.asks: dict[str, dict[Decimal, Decimal]] = {token: {} for token in stream.token_ids}
        self.last_trade: dict[str, Decimal] = {}
        self.hash_mismatches = 0
        for frame in stream.initial_frames:
            self.step(frame)

    def step(self, frame: bytes) -> object:
        document = json.loads(frame)
        best = None
        for event in document if isinstance(document, list) else [document]:
            kind = event["event_type"]
            if kind == "price_change":
                for change in event["price_changes"]:
                    token = change["asset_id"]
                    levels = (self.bids if change["side"] == "BUY" else self.asks)[token]
                    price, size = Decimal(change["price"]), Decimal(change["size"])
                    if size:
                        levels[price] = size
                    else:
                        levels.pop(price, None)
                    best = self.best(token)
            elif kind == "book":
                self.apply_book(event)
                best = self.best(event["asset_id"])
            elif kind == "last_trade_price":
                self.last_trade[event["asset_id"]] = Decimal(event["price"])
                best = self.best(event["asset_id"])
        return best

    def apply_book(self, event: dict[str, Any]) -> None:
        token = event["asset_id"]
        if self.verify_hashes:
            hashed = {
                "market": event["market"],
                "asset_id": token,
                "hash": "",
                "bids": event["bids"],
                "asks": event["asks"],
            }
            digest = hashlib.sha1(json.dumps(hashed, separators=(",", ":")).encode()).hexdigest()
            self.hash_mismatches += digest != event["hash"]
        self.bids[token] = {Decimal(level["price"]): Decimal(level["size"]) for level in event["bids"]}
        self.asks[token] = {Decimal(level["price"]): Decimal(level["size"]) for level in event["asks"]}

    def best(self, token: str) -> tuple[tuple[Decimal, Decimal] | None, tuple[Decimal, Decimal] | None]:
        bids, asks = self.bids[token], self.asks[token]
        best_bid = max(bids) if bids else None
        best_ask = min(asks) if asks else None
        return (
            None if best_bid is None else (best_bid, bids[best_bid]),
            None if best_ask is None else (best_ask, asks[best_ask]),
        )


def reference(stream: Stream, *, verify_hashes: bool) -> tuple[Run, Step]:
    books = ReferenceBooks(stream, verify_hashes=verify_hashes)
    step = books.step

    def run(frames: list[bytes]) -> object:
        best = None
        for frame in frames:
            best = step(frame)
        assert books.hash_mismatches == 0
        return best

    return run, step


def measure(make: Callable[[], tuple[Run, Step]], stream: Stream, repeat: int) -> tuple[float, float]:
    """Best and median seconds for the whole stream over ``repeat`` fresh runs."""
    seconds = []
    for _ in range(repeat):
        run, _step = make()
        started = time.perf_counter()
        run(stream.frames)
        seconds.append(time.perf_counter() - started)
    return min(seconds), statistics.median(seconds)


def measure_by_kind(make: Callable[[], tuple[Run, Step]], stream: Stream, repeat: int) -> dict[str, float]:
    """Best seconds per frame of each kind, each frame timed on its own, the timer's own cost removed."""
    clock = time.perf_counter_ns
    timer_ns = min(-clock() + clock() for _ in range(10_000))
    best: dict[str, float] = {}
    for _ in range(repeat):
        _run, step = make()
        total_ns = dict.fromkeys(stream.mix, 0)
        for frame, kind in zip(stream.frames, stream.kinds, strict=True):
            started = clock()
            step(frame)
            total_ns[kind] += clock() - started - timer_ns
        for kind, nanoseconds in total_ns.items():
            seconds = nanoseconds / 1e9 / stream.mix[kind]
            best[kind] = min(best.get(kind, seconds), seconds)
    return best


def describe(stream: Stream) -> str:
    sizes = [len(frame) for frame in stream.frames]
    lines = [
        f"stream: {len(stream.token_ids)} tokens ({len(stream.token_ids) // 2} binary markets, tick 0.001), "
        f"an initial dump of {len(stream.initial_frames)} frames of 2 books (untimed), then "
        f"{len(stream.frames)} frames of {sum(sizes) / len(sizes):.0f} bytes on average:"
    ]
    for kind, count in stream.mix.items():
        kind_sizes = [size for size, frame_kind in zip(sizes, stream.kinds, strict=True) if frame_kind == kind]
        lines.append(
            f"  {kind:<26} {count:>7}  {100 * count / len(stream.frames):5.1f}%  "
            f"{sum(kind_sizes) / len(kind_sizes):6.0f} bytes"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    stream = build_stream(frames=args.frames)
    print(describe(stream))

    approaches: dict[str, Callable[[], tuple[Run, Step]]] = {
        "(a) bare msgspec.json.decode": lambda: bare_decode(stream),
        "    polyinfra decode only": lambda: typed_decode(stream),
        "(b) polyinfra, hashes off": lambda: polyinfra_feed(stream, verify_hashes=False),
        "(b) polyinfra, hashes on": lambda: polyinfra_feed(stream, verify_hashes=True),
        "    polyinfra, hashes on, Decimal reads": lambda: polyinfra_feed(
            stream, verify_hashes=True, decimal_reads=True
        ),
        "(c) reference, hashes off": lambda: reference(stream, verify_hashes=False),
        "(c) reference, hashes on": lambda: reference(stream, verify_hashes=True),
    }
    runs = {name: measure(make, stream, args.repeat) for name, make in approaches.items()}
    print(f"\n{'whole stream':<40} {'best frames/s':>14} {'median frames/s':>16}")
    for name, (best, median) in runs.items():
        print(f"{name:<40} {len(stream.frames) / best:>14,.0f} {len(stream.frames) / median:>16,.0f}")

    bare = runs["(a) bare msgspec.json.decode"][0]
    print("\nratios of best times (targets: polyinfra / bare <= 1.5, reference / polyinfra >= 10)")
    for hashes in ("off", "on"):
        ours = runs[f"(b) polyinfra, hashes {hashes}"][0]
        theirs = runs[f"(c) reference, hashes {hashes}"][0]
        print(f"  hashes {hashes:<3}  polyinfra / bare {ours / bare:5.2f}   reference / polyinfra {theirs / ours:5.1f}")
    print(f"  reference / bare {runs['(c) reference, hashes off'][0] / bare:5.1f} (the most any client could gain)")

    print(f"\n{'us per frame, by kind':<26} {'bare':>7} {'decode':>7} {'ours':>7} {'ours#':>7} {'ref#':>7}")
    print("  (ours = hashes off; # = hashes on; each frame timed alone, so a little above the table above)")
    by_kind = [
        measure_by_kind(approaches[name], stream, max(1, args.repeat // 2))
        for name in (
            "(a) bare msgspec.json.decode",
            "    polyinfra decode only",
            "(b) polyinfra, hashes off",
            "(b) polyinfra, hashes on",
            "(c) reference, hashes on",
        )
    ]
    for kind in stream.mix:
        cells = " ".join(f"{times[kind] * 1e6:7.2f}" for times in by_kind)
        print(f"  {kind:<24} {cells}")


if __name__ == "__main__":
    main()
