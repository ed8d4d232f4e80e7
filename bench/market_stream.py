"""A deterministic, realistic stream of market-channel frames for the book benchmarks.

Built from the venue notes only, with the standard library, so the stream does not depend on
the code it measures. Binary markets on a 0.001 tick: each market's two tokens start with a
``book`` snapshot of 50-100 levels a side (bids ascending and asks descending, as the venue sends
them), delivered two per frame as the subscription's initial dump. After that:

* ``price_change`` in the current format (one entry, or two: the level and its mirror on the
  complementary token), each entry with that token's true best bid/ask after the change;
* ``book`` snapshots after a trade took liquidity at the top of a token's book;
* ``last_trade_price``.

Every ``book`` carries the legacy-form hash the 2024 captures verify with (core/book_hash.py),
computed here independently with json + hashlib. Prices and sizes are ints of micro-units while
generating and strings on the wire; no float is involved.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field

MICROS = 1_000_000
TICK = 1_000  # 0.001 in micro-units
FIRST_TIMESTAMP_MS = 1_757_908_892_351

PRICE_CHANGE_SHARE = 85
BOOK_SHARE = 5
LAST_TRADE_SHARE = 10
TWO_ENTRY_SHARE = 70  # of the price changes, the share with a mirrored entry on the other token
REMOVAL_SHARE = 25  # of the level changes, the share that removes the level (size "0")


def price_text(micros: int) -> str:
    whole, fraction = divmod(micros, MICROS)
    return str(whole) if fraction == 0 else f"{whole}.{fraction:06d}".rstrip("0")


@dataclass
class TokenBook:
    token_id: str
    market: str
    bids: dict[int, int] = field(default_factory=dict)
    asks: dict[int, int] = field(default_factory=dict)

    def best_bid(self) -> int:
        """The venue reports an empty bid side as "0" (venue notes: Market channel)."""
        return max(self.bids) if self.bids else 0

    def best_ask(self) -> int:
        """... and an empty ask side as "1"."""
        return min(self.asks) if self.asks else MICROS

    def book_event(self, timestamp_ms: int) -> dict[str, object]:
        bids = [{"price": price_text(p), "size": price_text(self.bids[p])} for p in sorted(self.bids)]
        asks = [{"price": price_text(p), "size": price_text(self.asks[p])} for p in sorted(self.asks, reverse=True)]
        hashed = {"market": self.market, "asset_id": self.token_id, "hash": "", "bids": bids, "asks": asks}
        digest = hashlib.sha1(json.dumps(hashed, separators=(",", ":")).encode(), usedforsecurity=False).hexdigest()
        return {
            "event_type": "book",
            "asset_id": self.token_id,
            "market": self.market,
            "bids": bids,
            "asks": asks,
            "timestamp": str(timestamp_ms),
            "hash": digest,
        }


@dataclass
class Stream:
    token_ids: list[str]
    initial_frames: list[bytes]
    frames: list[bytes]
    kinds: list[str]
    """The kind of each frame of ``frames``."""
    mix: dict[str, int]
    """Frames after the initial dump, by kind."""


def _encode(document: object) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def _random_size(rng: random.Random) -> int:
    # Round lots mostly, some with cents, like real books ("30", "199.31", "10500100").
    shares = rng.choice((5, 10, 20, 25, 50, 100, 150, 200, 500, 1000, 2500, 10000)) * rng.randint(1, 9)
    cents = rng.choice((0, 0, 0, rng.randint(1, 99)))
    return shares * MICROS + cents * 10_000


def build_stream(*, markets: int = 50, frames: int = 20_000, seed: int = 20_250_915) -> Stream:
    rng = random.Random(seed)
    books: list[tuple[TokenBook, TokenBook]] = []
    for index in range(markets):
        market = "0x" + hashlib.sha256(f"market-{seed}-{index}".encode()).hexdigest()
        yes_id, no_id = (str(rng.getrandbits(252) | (1 << 250)) for _ in range(2))
        yes, no = TokenBook(yes_id, market), TokenBook(no_id, market)
        mid = rng.randint(150, 850) * TICK
        for level in range(rng.randint(50, 100)):
            yes.bids[mid - TICK * (1 + level + rng.randint(0, 1) * level // 3)] = _random_size(rng)
        for level in range(rng.randint(50, 100)):
            yes.asks[mid + TICK * (1 + level + rng.randint(0, 1) * level // 3)] = _random_size(rng)
        yes.bids = {p: s for p, s in yes.bids.items() if p > 0}
        yes.asks = {p: s for p, s in yes.asks.items() if p < MICROS}
        # The complementary token's book mirrors this one: a YES bid at p is a NO ask at 1 - p.
        no.bids = {MICROS - p: s for p, s in yes.asks.items()}
        no.asks = {MICROS - p: s for p, s in yes.bids.items()}
        books.append((yes, no))

    timestamp = FIRST_TIMESTAMP_MS
    initial = [_encode([yes.book_event(timestamp), no.book_event(timestamp)]) for yes, no in books]
    mix = {"price_change (1 entry)": 0, "price_change (2 entries)": 0, "book": 0, "last_trade_price": 0}
    stream: list[bytes] = []
    kinds: list[str] = []
    for _ in range(frames):
        timestamp += rng.randint(0, 40)
        yes, no = rng.choice(books)
        roll = rng.randrange(100)
        if roll < PRICE_CHANGE_SHARE:
            entries = _level_change(rng, yes, no)
            kind = "price_change (2 entries)" if len(entries) == 2 else "price_change (1 entry)"
            document: object = {
                "market": yes.market,
                "price_changes": entries,
                "timestamp": str(timestamp),
                "event_type": "price_change",
            }
        elif roll < PRICE_CHANGE_SHARE + BOOK_SHARE:
            token = rng.choice((yes, no))
            _take_top_level(rng, token)
            kind = "book"
            document = token.book_event(timestamp)
        else:
            token = rng.choice((yes, no))
            side = rng.choice(("BUY", "SELL"))
            price = token.best_ask() if side == "BUY" else token.best_bid()
            kind = "last_trade_price"
            document = {
                "asset_id": token.token_id,
                "event_type": "last_trade_price",
                "fee_rate_bps": "0",
                "market": token.market,
                "price": price_text(price),
                "side": side,
                "size": price_text(_random_size(rng) // 10),
                "timestamp": str(timestamp),
            }
        mix[kind] += 1
        kinds.append(kind)
        stream.append(_encode(document))
    token_ids = [token.token_id for pair in books for token in pair]
    return Stream(token_ids, initial, stream, kinds, mix)


def _level_change(rng: random.Random, yes: TokenBook, no: TokenBook) -> list[dict[str, str]]:
    """A level near the top of one side changes; usually its mirror on the other token too."""
    token, other = (yes, no) if rng.randrange(2) else (no, yes)
    buy = rng.randrange(2) == 1
    levels = token.bids if buy else token.asks
    offset = TICK * rng.randint(0, 12)
    # Never crosses: a bid stays below the best ask, an ask above the best bid.
    price = max(token.best_ask() - TICK - offset, TICK) if buy else min(token.best_bid() + TICK + offset, MICROS - TICK)
    size = 0 if levels and rng.randrange(100) < REMOVAL_SHARE else _random_size(rng)
    if size == 0:
        price = rng.choice(sorted(levels, reverse=buy)[:8])
    changes = [(token, buy, price, size)]
    mirror = MICROS - price
    mirror_fits = mirror > other.best_bid() if buy else mirror < other.best_ask()
    if rng.randrange(100) < TWO_ENTRY_SHARE and mirror_fits:
        changes.append((other, not buy, mirror, size))
    entries = []
    for book, is_bid, level_price, level_size in changes:
        side_levels = book.bids if is_bid else book.asks
        if level_size:
            side_levels[level_price] = level_size
        else:
            side_levels.pop(level_price, None)
    for book, is_bid, level_price, level_size in changes:
        entries.append(
            {
                "asset_id": book.token_id,
                "price": price_text(level_price),
                "size": price_text(level_size),
                "side": "BUY" if is_bid else "SELL",
                "hash": hashlib.sha1(f"{book.token_id}{level_price}{level_size}".encode()).hexdigest(),
                "best_bid": price_text(book.best_bid()),
                "best_ask": price_text(book.best_ask()),
            }
        )
    return entries


def _take_top_level(rng: random.Random, token: TokenBook) -> None:
    """A trade lifts (part of) the best level of one side."""
    levels = token.bids if rng.randrange(2) else token.asks
    if not levels:
        return
    best = max(levels) if levels is token.bids else min(levels)
    remaining = levels[best] - _random_size(rng) // 2
    if remaining > 0:
        levels[best] = remaining
    else:
        del levels[best]
