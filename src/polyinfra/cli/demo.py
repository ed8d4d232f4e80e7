"""``polyinfra demo``: the embedded emulator with simulated activity, watched live.

Starts the emulator in-process, subscribes to every simulated token on the market channel, keeps
local books with :class:`~polyinfra.core.market_feed.MarketFeed` and shows them. On a terminal it
draws a live table that fits 80 columns; otherwise it prints plain lines at each refresh, so the
output can be piped or logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from decimal import Decimal

from rich import box
from rich.console import Console
from rich.live import Live
from rich.table import Table

from polyinfra.clob.market_channel import MarketChannel
from polyinfra.core.market_feed import MarketFeed
from polyinfra.emulator.runner import Emulator
from polyinfra.model.book import OrderBook
from polyinfra.model.market import MarketInfo
from polyinfra.model.numbers import Side, micros_to_decimal
from polyinfra.obs.metrics import STALE_BOOKS, WS_FRAMES
from polyinfra.wire.clob_ws import MARKET_EVENT_TYPES

__all__ = ["run_demo"]

_DEPTH_LEVELS = 5
_LABEL_CHARS = 23


@dataclass(frozen=True, slots=True)
class _Row:
    label: str
    token_id: str


@dataclass(slots=True)
class _Progress:
    frames: int = 0
    started: float = 0.0

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started


def run_demo(
    *, markets: int, seed: int, rate: float, duration_s: float, refresh_s: float, metrics_url: str | None = None
) -> None:
    """Run the demo until ``duration_s`` elapses (0 = until Ctrl-C).

    ``metrics_url`` is where the caller serves Prometheus metrics, shown once at the start.
    """
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            _demo(
                markets=markets,
                seed=seed,
                rate=rate,
                duration_s=duration_s,
                refresh_s=refresh_s,
                metrics_url=metrics_url,
            )
        )


async def _demo(
    *, markets: int, seed: int, rate: float, duration_s: float, refresh_s: float, metrics_url: str | None
) -> None:
    console = Console()
    if metrics_url is not None:
        console.print(f"Prometheus metrics at {metrics_url}", highlight=False)
    async with Emulator(markets=markets, seed=seed, rate=rate) as emulator:
        rows = _rows(list(emulator.exchange.markets.values()))
        tokens = [row.token_id for row in rows]
        feed = MarketFeed()
        feed.track(tokens)
        progress = _Progress(started=time.monotonic())
        async with MarketChannel(emulator.urls["ws_market"], tokens) as channel:
            reader = asyncio.create_task(_read(channel, feed, progress))
            try:
                await _display(console, feed, rows, progress, duration_s=duration_s, refresh_s=refresh_s)
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader


def _rows(infos: list[MarketInfo]) -> list[_Row]:
    rows = []
    for number, info in enumerate(infos, start=1):
        for token in info.tokens:
            # Numbered: simulated questions can share their first words.
            prefix, suffix = f"{number}. ", f" {token.outcome}"
            room = _LABEL_CHARS - len(prefix) - len(suffix)
            question = info.question if len(info.question) <= room else info.question[: room - 1] + "…"
            rows.append(_Row(f"{prefix}{question}{suffix}", token.token_id))
    return rows


# One counter child per event type, looked up once: the reader is on the hot path.
_EVENTS_RECEIVED = {
    event_type: WS_FRAMES.labels(channel="market", event_type=event_type.__struct_config__.tag)
    for event_type in MARKET_EVENT_TYPES
}


async def _read(channel: MarketChannel, feed: MarketFeed, progress: _Progress) -> None:
    async for frame in channel.frames():
        for event in feed.apply_frame(frame):
            _EVENTS_RECEIVED[type(event)].inc()
        # Both sets are empty while all is well, so this stays cheap per frame.
        STALE_BOOKS.set(len(feed.awaiting_snapshot | feed.resync_needed))
        progress.frames += 1


async def _display(
    console: Console,
    feed: MarketFeed,
    rows: list[_Row],
    progress: _Progress,
    *,
    duration_s: float,
    refresh_s: float,
) -> None:
    deadline = time.monotonic() + duration_s if duration_s > 0 else None
    if console.is_terminal:
        with Live(console=console, auto_refresh=False) as live:
            while deadline is None or time.monotonic() < deadline:
                live.update(_table(feed, rows, progress), refresh=True)
                await asyncio.sleep(refresh_s)
        return
    while deadline is None or time.monotonic() < deadline:
        await asyncio.sleep(refresh_s)
        lines = [f"--- t={progress.elapsed_s:.1f}s {_status(feed, progress)}"]
        lines.extend(_plain_line(feed.books[row.token_id], row) for row in rows)
        print("\n".join(lines), flush=True)


def _table(feed: MarketFeed, rows: list[_Row], progress: _Progress) -> Table:
    # Fits 80 columns: a 23-character label and seven right-aligned numbers of up to 6 characters.
    table = Table(
        title="polyinfra demo — local emulator (Ctrl-C to stop)",
        caption=_status(feed, progress),
        box=box.SIMPLE_HEAD,
        padding=(0, 1, 0, 0),
        pad_edge=False,
    )
    table.add_column("market", no_wrap=True, max_width=_LABEL_CHARS)
    for name in ("bid", "ask", "mid", "spread", "bid$5", "ask$5", "last"):
        table.add_column(name, justify="right", no_wrap=True, min_width=6)
    for row in rows:
        table.add_row(row.label, *_cells(feed.books[row.token_id]))
    return table


def _status(feed: MarketFeed, progress: _Progress) -> str:
    elapsed = progress.elapsed_s
    rate = progress.frames / elapsed if elapsed > 0 else 0.0
    in_sync = sum(1 for token in feed.books if feed.is_in_sync(token))
    return (
        f"{progress.frames:,} frames ({rate:,.0f}/s) · in sync {in_sync}/{len(feed.books)} · "
        f"hash mismatches {feed.stats.hash_mismatches}"
    )


def _price(value: Decimal | None) -> str:
    return "-" if value is None else str(value)


def _cells(book: OrderBook) -> list[str]:
    """bid, ask, mid, spread, $ depth of the top 5 bid and ask levels, last trade."""
    bid, ask = book.best_bid(), book.best_ask()
    last = book.last_trade_price_micros
    return [
        _price(bid.price if bid else None),
        _price(ask.price if ask else None),
        _price(book.mid()),
        _price(book.spread()),
        f"{book.depth(Side.BUY, _DEPTH_LEVELS).notional:,.0f}",
        f"{book.depth(Side.SELL, _DEPTH_LEVELS).notional:,.0f}",
        _price(None if last is None else micros_to_decimal(last)),
    ]


def _plain_line(book: OrderBook, row: _Row) -> str:
    bid, ask, mid, spread, bid_depth, ask_depth, last = _cells(book)
    return f"{row.label}: bid {bid} ask {ask} mid {mid} spread {spread} depth5 ${bid_depth}/${ask_depth} last {last}"
