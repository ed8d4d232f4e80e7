"""``polyinfra live``: wallet activity, comments or prices from RTDS and PolyBolt, as lines, JSON lines
or a table.

The live-data modules and rich are imported inside the command, so ``polyinfra --help`` stays quick.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Final, TextIO

import msgspec
import typer

from polyinfra.cli.options import (
    EMULATOR_DEFAULT_PORT,
    METRICS_HOST,
    STREAM_LOG_LEVEL,
    DurationOption,
    LogLevelOption,
    MetricsHostOption,
    MetricsPortOption,
    RefreshOption,
    configure_command_logging,
    credentials_from_environment,
    metrics_endpoint,
    one_line_errors,
)
from polyinfra.errors import InvalidValueError

if TYPE_CHECKING:
    from polyinfra.core.auth_headers import ApiCredentials
    from polyinfra.live.live_data import LiveData, LiveSubscription
    from polyinfra.model.live_events import LiveEvent, PriceTick

__all__ = [
    "EMULATOR_POLYBOLT_URL",
    "EMULATOR_RTDS_URL",
    "VENUE_RTDS_URL",
    "format_live_event",
    "register_live_commands",
]

EMULATOR_RTDS_URL: Final = f"ws://127.0.0.1:{EMULATOR_DEFAULT_PORT}/ws/rtds"
VENUE_RTDS_URL: Final = "wss://ws-live-data.polymarket.com"
EMULATOR_POLYBOLT_URL: Final = f"ws://127.0.0.1:{EMULATOR_DEFAULT_PORT}/ws/polybolt"
_encode = msgspec.json.Encoder(decimal_format="string").encode
_PRICE_SOURCES: Final = {
    "binance": "crypto_prices",
    "chainlink": "crypto_prices_chainlink",
    "twap30": "crypto_prices_twap_thirty",
    "twap60": "crypto_prices_twap_sixty",
}

_LIVE_EPILOG = (
    "Activity and comments print a line per event (--jsonl: a JSON object per line, numbers as decimal "
    "strings); prices show a table that refreshes (--jsonl: a line per price). Every hole in the stream "
    "(a reconnect, a silent topic the watchdog caught, a refused subscription) is a line of its own: "
    'GAP, or type "gap" with topic, from_ms, to_ms and reason.\n\n'
    "Exit codes: 0 done, 1 the venue failed, 2 bad input (an unknown topic, a malformed symbol, a retired "
    "topic such as clob_market)."
)


def register_live_commands(app: typer.Typer) -> None:
    """Add ``live`` to ``app``."""
    app.command("live", epilog=_LIVE_EPILOG)(live)


def live(
    *,
    topic: Annotated[
        str | None,
        typer.Option(
            "--topic",
            metavar="TOPIC[:TYPE]",
            help="activity[:trades|orders_matched] or comments[:TYPE]; e.g. activity:trades.",
        ),
    ] = None,
    wallet: Annotated[
        list[str] | None,
        typer.Option("--wallet", metavar="ADDR", help="With --topic activity: only this wallet's trades (repeatable)."),
    ] = None,
    crypto: Annotated[
        str | None, typer.Option("--crypto", metavar="SYMBOLS", help="Crypto prices, e.g. btcusd,ethusd.")
    ] = None,
    equity: Annotated[
        str | None, typer.Option("--equity", metavar="TICKERS", help="Equity prices, e.g. aapl,nvda.")
    ] = None,
    source: Annotated[
        str, typer.Option("--source", help="Crypto price source: binance, chainlink, twap30 or twap60.")
    ] = "binance",
    rtds: Annotated[
        str, typer.Option("--rtds", metavar="URL", help="RTDS WebSocket URL; the default is the emulator's.")
    ] = EMULATOR_RTDS_URL,
    polybolt: Annotated[
        str,
        typer.Option("--polybolt", metavar="URL", help="PolyBolt WebSocket URL; the default is the emulator's."),
    ] = EMULATOR_POLYBOLT_URL,
    venue: Annotated[bool, typer.Option("--live", help=f"Use the real venue, {VENUE_RTDS_URL}.")] = False,
    price_topics_until: Annotated[
        str | None,
        typer.Option(
            "--price-topics-until",
            metavar="YYYY-MM-DD",
            help="The last day RTDS serves price topics; later they are refused (their successor is PolyBolt).",
        ),
    ] = None,
    jsonl: Annotated[bool, typer.Option("--jsonl", help="Print a JSON line per event.")] = False,
    record: Annotated[
        str | None,
        typer.Option(
            "--record",
            metavar="SINK",
            help="Also record every frame and gap into this sink (sqlite:///PATH, postgresql://..., "
            "nats://HOST/STREAM); replay it with polyinfra replay --channel rtds (or polybolt).",
        ),
    ] = None,
    duration: DurationOption = 0.0,
    refresh_s: RefreshOption = 1.0,
    log_level: LogLevelOption = STREAM_LOG_LEVEL,
    metrics_port: MetricsPortOption = None,
    metrics_host: MetricsHostOption = METRICS_HOST,
) -> None:
    """Stream live wallet activity, comments or prices (RTDS, PolyBolt).

    One of --topic, --crypto or --equity.
    """
    configure_command_logging(log_level)
    with one_line_errors("live"), metrics_endpoint("live", metrics_port, metrics_host):
        if venue and (rtds != EMULATOR_RTDS_URL or polybolt != EMULATOR_POLYBOLT_URL):
            raise InvalidValueError("--live uses the venue's own URLs: drop --rtds and --polybolt")
        request = _Request(
            topic=topic,
            wallets=wallet,
            crypto=_symbols(crypto),
            equity=_symbols(equity),
            source=_price_source(source),
            until=None if price_topics_until is None else _date(price_topics_until),
            credentials=credentials_from_environment(os.environ),
            polybolt_url=None if venue else polybolt,
            record_url=record,
        )
        asyncio.run(
            _run(VENUE_RTDS_URL if venue else rtds, request, jsonl=jsonl, duration_s=duration, refresh_s=refresh_s)
        )


@dataclass(frozen=True, slots=True)
class _Request:
    topic: str | None
    wallets: list[str] | None
    crypto: list[str]
    equity: list[str]
    source: str
    until: dt.date | None
    credentials: ApiCredentials | None = field(default=None, repr=False)
    polybolt_url: str | None = EMULATOR_POLYBOLT_URL
    """None: the venue's."""
    record_url: str | None = None
    """The sink to record into (None: no recording)."""


async def _run(url: str, request: _Request, *, jsonl: bool, duration_s: float, refresh_s: float) -> None:
    from polyinfra.live.live_data import VENUE_POLYBOLT_URL, LiveData

    chosen = sum((request.topic is not None, bool(request.crypto), bool(request.equity)))
    if chosen != 1:
        raise InvalidValueError("give one of --topic, --crypto or --equity")
    async with contextlib.AsyncExitStack() as stack:
        recorder = None
        if request.record_url is not None:
            from polyinfra.record.recorder import Recorder
            from polyinfra.record.sink_urls import open_sink

            sink = open_sink(request.record_url)
            stack.push_async_callback(sink.close)
            # Entered after the sink's close: stopped (everything queued written) before the sink closes.
            recorder = await stack.enter_async_context(Recorder(sink))
        live_data = LiveData(
            url,
            price_topics_until=request.until,
            credentials=request.credentials,
            polybolt_url=request.polybolt_url or VENUE_POLYBOLT_URL,
            recorder=recorder,
        )
        live = await stack.enter_async_context(live_data)
        subscription = await _subscribe(live, request)
        deadline_s = time.monotonic() + duration_s if duration_s > 0 else None
        if request.topic is not None or jsonl:
            await _print_events(subscription, deadline_s, sys.stdout, jsonl=jsonl)
        else:
            await _price_table(subscription, deadline_s, refresh_s)


async def _subscribe(live: LiveData, request: _Request) -> LiveSubscription:
    from polyinfra.live.live_data import PriceSource

    if request.crypto:
        return await live.prices(request.crypto, source=PriceSource(request.source))
    if request.equity:
        return await live.prices(request.equity, source=PriceSource.EQUITY)
    assert request.topic is not None
    name, _, message_type = request.topic.partition(":")
    if name == "activity":
        return await live.activity(
            wallets=request.wallets, kinds=[message_type] if message_type else ["trades", "orders_matched"]
        )
    if request.wallets:
        raise InvalidValueError("--wallet goes with --topic activity")
    if name == "comments":
        return await live.comments(kinds=[message_type] if message_type else None)
    # The linter names what is wrong (a retired topic names its replacement).
    live.rtds.plan(name, message_type or "*", None)
    raise InvalidValueError("polyinfra live streams activity and comments; prices with --crypto / --equity")


async def _print_events(subscription: LiveSubscription, deadline_s: float | None, out: TextIO, *, jsonl: bool) -> None:
    async def forward() -> None:
        async for event in subscription:
            out.write(format_live_event(event, jsonl=jsonl) + "\n")
            out.flush()

    await _until(forward, deadline_s)


async def _price_table(subscription: LiveSubscription, deadline_s: float | None, refresh_s: float) -> None:
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table

    from polyinfra.model.live_events import Gap, PriceTick

    board = _PriceBoard()

    def draw() -> Table:
        table = Table(title="Live prices")
        for column in ("symbol", "source", "price", "ticks", "age s"):
            table.add_column(column, justify="right" if column != "symbol" else "left")
        now_ms = time.time_ns() // 1_000_000
        for symbol, tick in sorted(board.latest.items()):
            age = f"{max(0, now_ms - tick.timestamp_ms) / 1000:.1f}"
            table.add_row(symbol, tick.source, str(tick.price), str(board.ticks[symbol]), age)
        table.caption = f"gaps: {board.gaps}" + (f" (last: {board.last_gap})" if board.last_gap else "")
        return table

    async def consume() -> None:
        async for event in subscription:
            if isinstance(event, PriceTick):
                board.latest[event.symbol] = event
                board.ticks[event.symbol] = board.ticks.get(event.symbol, 0) + 1
            elif isinstance(event, Gap):
                board.gaps += 1
                board.last_gap = event.reason

    console = Console()
    with Live(draw(), console=console, auto_refresh=False) as screen:

        async def refresh() -> None:
            while True:
                await asyncio.sleep(refresh_s)
                screen.update(draw(), refresh=True)

        refresher = asyncio.create_task(refresh())
        try:
            await _until(consume, deadline_s)
        finally:
            refresher.cancel()
            screen.update(draw(), refresh=True)


@dataclass
class _PriceBoard:
    latest: dict[str, PriceTick] = field(default_factory=dict)
    ticks: dict[str, int] = field(default_factory=dict)
    gaps: int = 0
    last_gap: str = ""


async def _until(run: Callable[[], object], deadline_s: float | None) -> None:
    timeout_s = None if deadline_s is None else max(0.0, deadline_s - time.monotonic())
    try:
        async with asyncio.timeout(timeout_s):
            await run()  # type: ignore[misc]
    except TimeoutError:
        return


def format_live_event(event: LiveEvent, *, jsonl: bool) -> str:
    """One event as the line ``polyinfra live`` prints (and the demo shows)."""
    from polyinfra.model.live_events import ActivityTrade, CommentEvent, PriceTick

    if jsonl:
        return _encode(event).decode()  # the struct's tag is the line's "type"
    if isinstance(event, ActivityTrade):
        who = event.name or event.wallet
        return (
            f"{event.kind:<14} {event.side.value:<4} {event.size} @ {event.price} {event.outcome} "
            f"{event.market_slug}  {who}"
        )
    if isinstance(event, PriceTick):
        return f"price  {event.symbol} {event.price} ({event.source}{', backfill' if event.backfill else ''})"
    if isinstance(event, CommentEvent):
        return f"{event.kind} {event.comment_id} {event.body[:80]!r} by {event.user_address}"
    return f"GAP    {event.topic} {event.from_ms}..{event.to_ms} {event.reason}"


def _symbols(text: str | None) -> list[str]:
    return [] if text is None else [symbol for symbol in (part.strip() for part in text.split(",")) if symbol]


def _price_source(name: str) -> str:
    topic = _PRICE_SOURCES.get(name)
    if topic is None:
        raise InvalidValueError("--source is binance, chainlink, twap30 or twap60", source=name[:40])
    return topic


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidValueError("--price-topics-until is a date, YYYY-MM-DD", value=text[:40]) from None
