"""Memory per 1,000 tokens of 100-level books, polyinfra against the plain reference book.

Run: ``python bench/book_memory.py [--tokens 1000 5000] [--levels-per-side 50]``

Both approaches are fed the same ``book`` frames (an initial dump of two books per frame, made of
bench/market_stream.py's ``TokenBook``) and keep the whole book of every token:

(a) reference, the anchor: bench/book_apply.py's ``ReferenceBooks``, what a plain client writes:
    ``json.loads`` and a ``dict[Decimal, Decimal]`` per side.
(b) polyinfra as a client holds it: ``MarketFeed.apply_frame``, one ``OrderBook`` per token (ints
    of micro-units, a dict and a sorted price list per side) plus the memos of parsed venue
    strings (the feed's and ``parse_micros``'). The memos share one int among every level with the
    same price or size text, and each is bounded at 65,536 entries: a cost that stops growing with
    the token count, which is why the figure per 1,000 tokens falls as the count grows.

Every figure comes from a fresh interpreter, so no run inherits another's caches or freed memory:
the bytes tracemalloc still sees allocated once the books are built (Python objects, exact), and
the growth of the process's resident set (what the machine pays, allocator overhead included;
Linux ``/proc/self/statm``). Sizes are random whole cents, so few levels share a size string, as
in books that have traded for a while.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import random
import subprocess
import sys
import tracemalloc
from collections.abc import Callable

from book_apply import ReferenceBooks
from market_stream import MICROS, TICK, Stream, TokenBook
from polyinfra.core.market_feed import MarketFeed

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
LARGEST_SIZE_CENTS = 100_000  # up to 1,000 shares a level
CENTS = MICROS // 100


def build_dump(tokens: int, levels_per_side: int, seed: int = 20_251_121) -> Stream:
    """The initial dump of ``tokens`` tokens (binary markets, tick 0.001), every side exactly
    ``levels_per_side`` levels deep, the complementary token mirroring each book."""
    rng = random.Random(seed)
    frames: list[bytes] = []
    token_ids: list[str] = []
    for index in range(tokens // 2):
        market = "0x" + hashlib.sha256(f"memory-{seed}-{index}".encode()).hexdigest()
        yes = TokenBook(str(rng.getrandbits(252) | (1 << 250)), market)
        no = TokenBook(str(rng.getrandbits(252) | (1 << 250)), market)
        # Room for every level on both sides of the mid, strictly inside (0, 1).
        mid = rng.randint(levels_per_side + 1, MICROS // TICK - levels_per_side - 1) * TICK
        for depth in range(1, levels_per_side + 1):
            yes.bids[mid - depth * TICK] = rng.randint(1, LARGEST_SIZE_CENTS) * CENTS
            yes.asks[mid + depth * TICK] = rng.randint(1, LARGEST_SIZE_CENTS) * CENTS
        no.bids = {MICROS - price: size for price, size in yes.asks.items()}
        no.asks = {MICROS - price: size for price, size in yes.bids.items()}
        timestamp_ms = 1_763_700_000_000 + index
        frames.append(json.dumps([yes.book_event(timestamp_ms), no.book_event(timestamp_ms)]).encode())
        token_ids += [yes.token_id, no.token_id]
    return Stream(token_ids=token_ids, initial_frames=frames, frames=[], kinds=[], mix={})


def reference_books(dump: Stream) -> object:
    return ReferenceBooks(dump, verify_hashes=False)


def polyinfra_feed(dump: Stream) -> object:
    feed = MarketFeed()
    feed.track(dump.token_ids)
    for frame in dump.initial_frames:
        feed.apply_frame(frame)
    assert not feed.awaiting_snapshot and not feed.resync_needed, feed.stats
    return feed


APPROACHES: dict[str, Callable[[Stream], object]] = {
    "(a) reference: dict[Decimal, Decimal] per side": reference_books,
    "(b) polyinfra: MarketFeed (books + parse memos)": polyinfra_feed,
}
METRICS = ("traced", "rss")


def bytes_in_use(metric: str) -> int:
    if metric == "traced":
        return tracemalloc.get_traced_memory()[0]
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE_BYTES


def measure_here(name: str, metric: str, tokens: int, levels_per_side: int) -> int:
    """Bytes one approach's books take in this (fresh) interpreter, by ``metric``."""
    dump = build_dump(tokens, levels_per_side)
    build = APPROACHES[name]
    gc.collect()
    if metric == "traced":
        # Started only now: tracing slows allocation several times over, and the input is not measured.
        tracemalloc.start()
    before = bytes_in_use(metric)
    held = build(dump)
    gc.collect()
    growth = bytes_in_use(metric) - before
    del held  # alive until measured
    return growth


def measure_fresh(name: str, metric: str, tokens: int, levels_per_side: int) -> int:
    command = [sys.executable, __file__, "--levels-per-side", str(levels_per_side)]
    command += ["--measure", name, metric, str(tokens)]
    return int(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, nargs="+", default=[1_000, 5_000])
    parser.add_argument("--levels-per-side", type=int, default=50)
    parser.add_argument("--measure", nargs=3, metavar=("APPROACH", "METRIC", "TOKENS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        name, metric, tokens = args.measure
        print(measure_here(name, metric, int(tokens), args.levels_per_side))
        return

    levels = 2 * args.levels_per_side
    print(
        f"books of {levels} levels each ({args.levels_per_side} a side), binary markets, tick 0.001; "
        "every figure from a fresh interpreter"
    )
    anchor_name = next(iter(APPROACHES))
    for tokens in args.tokens:
        results = {
            name: {metric: measure_fresh(name, metric, tokens, args.levels_per_side) for metric in METRICS}
            for name in APPROACHES
        }
        per_thousand = 1_000 / tokens
        print(f"\n{tokens:,} tokens{'':<41} {'tracemalloc':>24} {'resident set growth':>24}")
        print(f"{'':<52} {'MB / 1k tokens':>15} {'B/level':>8} {'MB / 1k tokens':>15} {'B/level':>8}")
        for name, result in results.items():
            cells = []
            for metric in METRICS:
                cells.append(f"{result[metric] * per_thousand / 1e6:>15.2f}")
                cells.append(f"{result[metric] / (tokens * levels):>8.0f}")
            print(f"{name:<52} {' '.join(cells)}")
        anchor = results[anchor_name]
        for name, result in results.items():
            if name != anchor_name:
                ratios = ", ".join(f"{metric} {anchor[metric] / result[metric]:.2f}x" for metric in METRICS)
                print(f"  anchor / {name.split(':')[0]}: {ratios} (how many times less memory polyinfra needs)")


if __name__ == "__main__":
    main()
