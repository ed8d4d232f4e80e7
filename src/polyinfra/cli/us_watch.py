"""``polyinfra us watch``: live US exchange books in the table, lines or JSON lines of ``polyinfra watch``.

Symbols are named with ``--symbols`` or taken as the first N OPEN instruments the exchange lists
(``--top``); each is checked against ``ListInstruments`` before any stream opens, so a typo is a one-line
error. The books come from :class:`~polyinfra.us.live_books.UsLiveBooks`; one row per symbol shows its
YES-space book (the exchange keeps one book per market in YES terms). With ``--record SINK`` the books'
market data is recorded too (source ``us``, channel ``marketdata``), for ``polyinfra replay --channel us``,
``coverage`` and ``export --source us``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from polyinfra.cli.book_view import BookView, Rates, WatchedMarket, WatchedToken
from polyinfra.cli.watch import Output, ShownClient, run_until_stopped, show_books
from polyinfra.core.us_instruments import UsInstrument, UsInstrumentState
from polyinfra.errors import InvalidValueError
from polyinfra.model.events import SyncState
from polyinfra.us.client import ProtosChoice, UsExchangeClient
from polyinfra.us.live_books import UsLiveBooks
from polyinfra.us.token_manager import TokenManager

__all__ = ["run_us_watch", "us_view", "watched_instrument"]


def us_view(books: UsLiveBooks) -> BookView:
    """The US exchange's live books as the views show them."""
    return BookView(
        books, lambda: sum(books.stats().messages.values()), lambda markets, rates: _status(books, markets, rates)
    )


def _status(books: UsLiveBooks, shown: Sequence[WatchedMarket], rates: Rates) -> str:
    stats = books.stats()
    states = books.states()
    live = sum(1 for state in states.values() if state is SyncState.LIVE)
    per_s = "-" if rates.frames_per_s is None else f"{rates.frames_per_s:,.0f}"
    status = (
        f"US live {live}/{len(states)} · {sum(stats.messages.values()):,} messages {per_s}/s · "
        f"streams {stats.connected}/{stats.streams} · reconnects {stats.reconnects}"
    )
    # Only when it happens, as on the CLOB's screen.
    if stats.silences_detected:
        status += f" · silences {stats.silences_detected}"
    # A shown book that takes no orders (HALTED, SUSPENDED, ...), as its latest update said: named, since its
    # prices still show. (A market's id on this screen is its symbol.)
    closed = [
        f"{instrument.state.name} {market.condition_id}"
        for market in shown
        if market.condition_id in states
        and (instrument := books.instrument(market.condition_id)).state is not UsInstrumentState.OPEN
    ]
    if closed:
        status += " · " + ", ".join(closed[:3]) + (f" and {len(closed) - 3} more" if len(closed) > 3 else "")
    refused = stats.invalid_updates + stats.messages.get("malformed", 0)
    if refused:
        status += f" · refused {refused:,}"
    if stats.events_dropped:
        status += f" · {stats.events_dropped:,} events dropped (output too slow)"
    return status


def watched_instrument(instrument: UsInstrument) -> WatchedMarket:
    """An instrument as a market on the screen: one row, its YES-space book."""
    return WatchedMarket(
        condition_id=instrument.symbol,
        question=f"{instrument.symbol} · {instrument.description}" if instrument.description else instrument.symbol,
        tokens=(WatchedToken(instrument.symbol, "Yes"),),
    )


async def choose_instruments(exchange: UsExchangeClient, symbols: Sequence[str], top: int) -> list[UsInstrument]:
    """The instruments of ``symbols`` (in that order), then the first ``top`` OPEN ones not named."""
    chosen = await exchange.instruments(symbols) if symbols else []
    if top:
        named = set(symbols)
        listed = await exchange.instruments(states=[UsInstrumentState.OPEN])
        chosen.extend([instrument for instrument in listed if instrument.symbol not in named][:top])
    if not chosen:
        raise InvalidValueError("no instrument to watch: name some with --symbols, or use --top N")
    return chosen


def run_us_watch(
    *,
    target: str,
    insecure: bool,
    protos: ProtosChoice,
    tokens: TokenManager | None,
    symbols: Sequence[str],
    top: int,
    output: Output,
    depth: int,
    duration_s: float,
    refresh_s: float,
    raw_orders: bool = False,
    record_url: str | None = None,
) -> None:
    """``polyinfra us watch``: choose the instruments at ``target``, then watch them until the duration ends.
    ``tokens`` (closed here) authenticates every call and stream; None: they go without a token. ``raw_orders``
    subscribes to raw orders, summed into the books shown. ``record_url`` (a sink URL) records the market data."""

    async def watch() -> None:
        try:
            await watch_books()
        finally:
            if tokens is not None:
                await tokens.aclose()

    async def watch_books() -> None:
        async with UsExchangeClient(target, insecure=insecure, tokens=tokens, protos=protos) as exchange:
            instruments = await choose_instruments(exchange, symbols, top)
        markets = [watched_instrument(instrument) for instrument in instruments]
        async with contextlib.AsyncExitStack() as stack:
            recorder = None
            if record_url is not None:
                from polyinfra.record.recorder import Recorder
                from polyinfra.record.sink_urls import open_sink

                sink = open_sink(record_url)
                stack.push_async_callback(sink.close)
                # Entered after the sink's close: stopped (everything queued written) before the sink closes.
                recorder = await stack.enter_async_context(Recorder(sink))
            books = await stack.enter_async_context(
                UsLiveBooks(
                    target,
                    insecure=insecure,
                    tokens=tokens,
                    protos=protos,
                    depth=depth,
                    unaggregated=raw_orders,
                    recorder=recorder,
                )
            )
            events = books.events()
            await books.subscribe([instrument.symbol for instrument in instruments])
            await show_books(
                [ShownClient(us_view(books), events, markets)],
                output=output,
                title=f"polyinfra us watch · {target} · Ctrl-C stops",
                duration_s=duration_s,
                refresh_s=refresh_s,
                depth=depth if output is Output.JSONL else 0,
            )

    run_until_stopped(watch())
