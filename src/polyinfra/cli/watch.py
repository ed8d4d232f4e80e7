"""``polyinfra watch``: live order books of chosen tokens, as a terminal table, plain lines or JSONL.

Tokens are chosen by id, by market (both outcome tokens), or as the first N markets the venue
lists under ``GET /sampling-markets`` (the markets eligible for liquidity rewards, which the venue
keeps to liquid, actively quoted ones). Every choice is checked against the venue's REST API before
any socket opens, so a typo or an unreachable venue is a one-line error, not an empty screen.

The books come from :class:`~polyinfra.clob.live_books.LiveBooks`; :mod:`polyinfra.cli.book_view`
draws them. ``polyinfra demo`` runs the same session against an embedded emulator.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Coroutine, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

import msgspec
from rich.console import Console, Group
from rich.live import Live

from polyinfra.cli.book_view import Activity, WatchedMarket, book_line, plain_block, screen
from polyinfra.clob.live_books import LiveBooks
from polyinfra.clob.rest import ClobRestClient
from polyinfra.core.from_wire import market_info_from_market
from polyinfra.errors import InvalidValueError, NotFoundError, TransportError
from polyinfra.model import ids
from polyinfra.model.events import BookEvent, BookUpdated
from polyinfra.model.ids import ConditionId, TokenId
from polyinfra.model.market import MarketInfo
from polyinfra.net.retry import RetryPolicy

__all__ = [
    "EMULATOR_REST_URL",
    "EMULATOR_WS_URL",
    "VENUE_REST_URL",
    "VENUE_WS_URL",
    "Output",
    "TokenChoice",
    "choose_markets",
    "run_until_stopped",
    "run_watch",
    "watch_books",
]

EMULATOR_REST_URL: Final = "http://127.0.0.1:8080"
EMULATOR_WS_URL: Final = "ws://127.0.0.1:8080/ws/market"
"""Where ``polyinfra emulator`` listens by default."""
VENUE_REST_URL: Final = "https://clob.polymarket.com"
VENUE_WS_URL: Final = "wss://ws-subscriptions-clob.polymarket.com/ws/market"
"""The real CLOB (venue notes: Hosts and contracts, WebSockets)."""

# Choosing tokens happens while the user waits for a screen: a few quick attempts, then a clear
# error, rather than the transport's default of retrying for 30 seconds.
_CHOOSING_RETRY: Final = RetryPolicy(max_attempts=3, deadline_s=10.0)


class Output(StrEnum):
    """How the books are shown."""

    TABLE = "table"
    """A live rich screen, for a terminal."""
    LINES = "lines"
    """Blocks of plain text lines at each refresh, for a pipe or a log."""
    JSONL = "jsonl"
    """One JSON object per book update, for scripts."""

    @classmethod
    def for_stdout(cls) -> Output:
        """The table when stdout is a terminal, plain lines when it is not."""
        return cls.TABLE if Console().is_terminal else cls.LINES


@dataclass(frozen=True, slots=True)
class TokenChoice:
    """The tokens asked for: by token id, by market condition id, and the first ``top`` sampling markets."""

    token_ids: Sequence[str] = ()
    condition_ids: Sequence[str] = ()
    top: int = 0


@dataclass(slots=True)
class _Chosen:
    info: MarketInfo
    token_ids: set[TokenId] = field(default_factory=set)


async def choose_markets(rest: ClobRestClient, choice: TokenChoice) -> list[WatchedMarket]:
    """Resolve ``choice`` at the venue: the markets to watch, each with its chosen tokens.

    Markets come in the order asked (``--market``, then ``--top``, then the markets of
    ``--token``), each once. Raises :class:`InvalidValueError` for a malformed id, an id the venue
    does not know, or an empty choice; transport and API errors as they come.
    """
    token_ids = [ids.token_id(text) for text in choice.token_ids]
    condition_ids = [ids.condition_id(text) for text in choice.condition_ids]
    if choice.top < 0:
        raise InvalidValueError("--top must be a positive number of markets", top=choice.top)
    if not (token_ids or condition_ids or choice.top):
        raise InvalidValueError("no tokens selected: pass --token, --market or --top")

    chosen: dict[str, _Chosen] = {}
    whole_markets = [await _market(rest, condition) for condition in condition_ids]
    if choice.top:
        whole_markets.extend(await _sampling_markets(rest, choice.top))
    for info in whole_markets:
        entry = chosen.setdefault(info.condition_id, _Chosen(info))
        entry.token_ids.update(token.token_id for token in info.tokens)
    for token in token_ids:
        condition = await _condition_of_token(rest, token)
        if condition not in chosen:
            chosen[condition] = _Chosen(await _market(rest, condition))
        chosen[condition].token_ids.add(token)

    if not chosen:
        raise InvalidValueError("no tokens selected: the venue lists no sampling markets with an order book")
    return [WatchedMarket.of(entry.info, entry.token_ids) for entry in chosen.values()]


async def _market(rest: ClobRestClient, condition: ConditionId) -> MarketInfo:
    try:
        return await rest.get_market(condition)
    except NotFoundError as exc:
        raise InvalidValueError("unknown market", condition_id=condition) from exc


async def _condition_of_token(rest: ClobRestClient, token: TokenId) -> ConditionId:
    try:
        return await rest.get_market_by_token(token)
    except NotFoundError as exc:
        raise InvalidValueError("unknown token", token_id=token) from exc


async def _sampling_markets(rest: ClobRestClient, count: int) -> list[MarketInfo]:
    """The first ``count`` markets of ``GET /sampling-markets`` that have an open order book."""
    found: list[MarketInfo] = []
    async for market in rest.iter_sampling_markets():
        if market.enable_order_book and market.active and not market.closed:
            found.append(market_info_from_market(market))
            if len(found) == count:
                break  # before asking for another page
    return found


# --- the session -----------------------------------------------------------------------------------


async def watch_books(
    rest_url: str,
    ws_url: str,
    markets: Sequence[WatchedMarket],
    *,
    output: Output,
    title: str,
    duration_s: float,
    refresh_s: float,
) -> None:
    """Keep live books of every token of ``markets`` and show them until ``duration_s`` (0: forever)."""
    token_ids = [token.token_id for market in markets for token in market.tokens]
    activity = Activity()
    async with LiveBooks(rest_url, ws_url) as books:
        # Before subscribing: an iterator sees only the events after it was made.
        events = books.events()
        await books.subscribe(token_ids)
        deadline = None if duration_s == 0 else asyncio.get_running_loop().time() + duration_s
        if output is Output.TABLE:
            show = _show_screen(books, markets, activity, title=title, refresh_s=refresh_s, deadline=deadline)
        elif output is Output.LINES:
            show = _show_lines(books, markets, activity, refresh_s=refresh_s, deadline=deadline)
        else:
            show = _sleep_until(deadline)
        tasks = [
            asyncio.create_task(_follow(books, events, activity, jsonl=output is Output.JSONL)),
            asyncio.create_task(show),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            task.result()  # a failure of either (a closed pipe, the client) surfaces here


async def _follow(books: LiveBooks, events: AsyncIterator[BookEvent], activity: Activity, *, jsonl: bool) -> None:
    """Count every event for the message rates; with ``jsonl``, print a line per book update."""
    encode = msgspec.json.Encoder().encode
    stdout = sys.stdout.buffer
    async for event in events:
        activity.record(event)
        if jsonl and isinstance(event, BookUpdated):
            stdout.write(encode(book_line(books, event)) + b"\n")
            # Per line: a script reading the pipe sees each update as it happens.
            stdout.flush()


async def _show_screen(
    books: LiveBooks,
    markets: Sequence[WatchedMarket],
    activity: Activity,
    *,
    title: str,
    refresh_s: float,
    deadline: float | None,
) -> None:
    console = Console()

    def draw() -> Group:
        # The height is asked each time: the terminal may have been resized.
        return screen(books, markets, activity, title=title, height=console.size.height)

    with Live(draw(), console=console, auto_refresh=False) as live:
        async for _ in _ticks(refresh_s, deadline):
            live.update(draw(), refresh=True)


async def _show_lines(
    books: LiveBooks,
    markets: Sequence[WatchedMarket],
    activity: Activity,
    *,
    refresh_s: float,
    deadline: float | None,
) -> None:
    async for _ in _ticks(refresh_s, deadline):
        print(plain_block(books, markets, activity), flush=True)


async def _ticks(refresh_s: float, deadline: float | None) -> AsyncIterator[None]:
    """Every ``refresh_s`` seconds, and once more at ``deadline`` (loop time; None: never ends)."""
    loop = asyncio.get_running_loop()
    while deadline is None or loop.time() < deadline:
        await asyncio.sleep(refresh_s if deadline is None else min(refresh_s, deadline - loop.time()))
        yield


async def _sleep_until(deadline: float | None) -> None:
    loop = asyncio.get_running_loop()
    if deadline is None:
        await loop.create_future()  # until cancelled
    else:
        await asyncio.sleep(max(deadline - loop.time(), 0.0))


# --- running -----------------------------------------------------------------------------------------


def run_until_stopped(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` to its end. Ctrl-C or SIGTERM cancel it (its cleanup runs) and count as a normal
    end, and so does stdout closing under it (``polyinfra watch --jsonl | head``)."""
    try:
        asyncio.run(_stoppable(main))
    except BrokenPipeError:
        # Point stdout at /dev/null, or the interpreter's final flush fails on the same pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


async def _stoppable(main: Coroutine[Any, Any, None]) -> None:
    work = asyncio.ensure_future(main)
    loop = asyncio.get_running_loop()
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(stop_signal, work.cancel)
    try:
        await work
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise  # this task itself was cancelled, not the work by a signal


def run_watch(
    *, rest_url: str, ws_url: str, choice: TokenChoice, output: Output, duration_s: float, refresh_s: float
) -> None:
    """``polyinfra watch``: choose the tokens at ``rest_url``, then watch them until the duration ends."""
    run_until_stopped(
        _watch(
            rest_url=rest_url, ws_url=ws_url, choice=choice, output=output, duration_s=duration_s, refresh_s=refresh_s
        )
    )


async def _watch(
    *, rest_url: str, ws_url: str, choice: TokenChoice, output: Output, duration_s: float, refresh_s: float
) -> None:
    try:
        async with ClobRestClient(rest_url, retry=_CHOOSING_RETRY) as rest:
            markets = await choose_markets(rest, choice)
    except TransportError as exc:
        # By default watch talks to a local emulator, and the usual cause is that none is running.
        what = (
            "the emulator: start it with `polyinfra emulator`, or pass --rest or --live"
            if rest_url == EMULATOR_REST_URL
            else "the CLOB REST API"
        )
        raise TransportError(f"cannot reach {what}", url=rest_url, detail=exc.context.get("detail")) from exc
    await watch_books(
        rest_url,
        ws_url,
        markets,
        output=output,
        title=f"polyinfra watch · {rest_url} · Ctrl-C stops",
        duration_s=duration_s,
        refresh_s=refresh_s,
    )
