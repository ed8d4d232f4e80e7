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
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

import msgspec
from rich.console import Console, Group
from rich.live import Live

from polyinfra.cli.book_view import (
    Activity,
    BookPanel,
    BookView,
    ChangeLines,
    WatchedMarket,
    clob_view,
    plain_block,
    screen,
)
from polyinfra.cli.options import rest_client, unreachable
from polyinfra.clob.live_books import LiveBooks
from polyinfra.clob.rest import ClobRestClient
from polyinfra.core.from_wire import market_info_from_market
from polyinfra.errors import InvalidValueError, NotFoundError, TransportError
from polyinfra.model import ids
from polyinfra.model.events import BookEvent
from polyinfra.model.ids import ConditionId, TokenId
from polyinfra.model.market import MarketInfo
from polyinfra.net.first_to_end import first_to_end

if TYPE_CHECKING:
    from polyinfra.record.recorder import Recorder

__all__ = [
    "Output",
    "ShownClient",
    "TokenChoice",
    "choose_markets",
    "run_until_stopped",
    "run_watch",
    "show_books",
    "watch_books",
]

# How often a one-shot watch looks whether the market channel keeps failing. The count of failed
# sessions only grows until data arrives, so a look now and then cannot miss it going over.
_FAILURE_CHECK_S: Final = 0.5


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
class ShownClient:
    """A live-book client to show: its view, its events (an iterator made before it subscribed) and the
    markets of it to show."""

    view: BookView
    events: AsyncIterator[BookEvent]
    markets: Sequence[WatchedMarket]


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
    depth: int = 0,
    max_failed_sessions: int | None = None,
    finish: Callable[[LiveBooks], Awaitable[None]] | None = None,
    recorder: Recorder | None = None,
    beside: Sequence[ShownClient] = (),
) -> LiveBooks:
    """Keep live books of every token of ``markets`` and show them until ``duration_s`` (0: forever).

    ``depth`` adds that many levels per side to the JSON lines. With ``max_failed_sessions``, that
    many market-channel sessions failing in a row end the watch with a :class:`TransportError`.
    ``finish`` runs when the showing ends, while the books are still live. ``recorder`` records
    the books' sockets and snapshots (the status shows what it stored). ``beside`` are other clients
    shown below the books (``polyinfra demo``'s US exchange books). Returns the books, stopped, as they
    were at the end.
    """
    token_ids = [token.token_id for market in markets for token in market.tokens]
    async with LiveBooks(rest_url, ws_url, recorder=recorder) as books:
        # Before subscribing: an iterator sees only the events after it was made.
        events = books.events()
        await books.subscribe(token_ids)
        watchers = () if max_failed_sessions is None else (_give_up_on_failures(books, ws_url, max_failed_sessions),)
        await show_books(
            [ShownClient(clob_view(books), events, markets), *beside],
            output=output,
            title=title,
            duration_s=duration_s,
            refresh_s=refresh_s,
            depth=depth,
            watchers=watchers,
        )
        if finish is not None:
            await finish(books)
    return books


async def show_books(
    clients: Sequence[ShownClient],
    *,
    output: Output,
    title: str,
    duration_s: float,
    refresh_s: float,
    depth: int = 0,
    watchers: Sequence[Coroutine[Any, Any, None]] = (),
) -> None:
    """Show the ``clients``' books as ``output`` until ``duration_s`` (0: forever), counting their events
    for the rates. A ``watchers`` coroutine that raises ends the showing with its error."""
    panels = [BookPanel(client.view, client.markets) for client in clients]
    deadline = None if duration_s == 0 else asyncio.get_running_loop().time() + duration_s
    if output is Output.TABLE:
        show = _show_screen(panels, title=title, refresh_s=refresh_s, deadline=deadline)
    elif output is Output.LINES:
        show = _show_lines(panels, refresh_s=refresh_s, deadline=deadline)
    else:
        show = _sleep_until(deadline)
    jobs = [show]
    for client, panel in zip(clients, panels, strict=True):
        lines = ChangeLines(client.view.books, client.markets, depth=depth) if output is Output.JSONL else None
        jobs.append(_follow(client.events, panel.activity, lines))
    # A failure of any (a closed pipe, the client, the market channel) surfaces here.
    await first_to_end(*jobs, *watchers)


async def _follow(events: AsyncIterator[BookEvent], activity: Activity, lines: ChangeLines | None) -> None:
    """Count every event for the message rates; with ``lines``, print the JSON lines each makes."""
    encode = msgspec.json.Encoder().encode
    stdout = sys.stdout.buffer
    async for event in events:
        activity.record(event)
        if lines is not None:
            written = lines.lines(event)
            if written:
                stdout.write(b"".join(encode(line) + b"\n" for line in written))
                # Per event: a script reading the pipe sees each change as it happens.
                stdout.flush()


async def _give_up_on_failures(books: LiveBooks, ws_url: str, limit: int) -> None:
    """Raise :class:`TransportError` once ``limit`` market-channel sessions in a row have failed."""
    while True:
        stats = books.stats
        if stats.failed_sessions_in_a_row >= limit:
            # The last failure names the URL and the cause already; repeating its details adds noise.
            raise TransportError(
                f"gave up after {stats.failed_sessions_in_a_row} market-channel sessions in a row failed; "
                f"the last: {stats.last_session_failure or 'no data on ' + ws_url}"
            )
        await asyncio.sleep(_FAILURE_CHECK_S)


async def _show_screen(panels: Sequence[BookPanel], *, title: str, refresh_s: float, deadline: float | None) -> None:
    console = Console()

    def draw() -> Group:
        # The height is asked each time: the terminal may have been resized.
        return screen(panels, title=title, height=console.size.height)

    with Live(draw(), console=console, auto_refresh=False) as live:
        async for _ in _ticks(refresh_s, deadline):
            live.update(draw(), refresh=True)


async def _show_lines(panels: Sequence[BookPanel], *, refresh_s: float, deadline: float | None) -> None:
    async for _ in _ticks(refresh_s, deadline):
        print(plain_block(panels), flush=True)


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
    *,
    rest_url: str,
    ws_url: str,
    choice: TokenChoice,
    output: Output,
    depth: int,
    duration_s: float,
    refresh_s: float,
    max_failed_sessions: int | None,
) -> None:
    """``polyinfra watch``: choose the tokens at ``rest_url``, then watch them until the duration ends."""

    async def watch() -> None:
        try:
            async with rest_client(rest_url) as rest:
                markets = await choose_markets(rest, choice)
        except TransportError as exc:
            raise unreachable(rest_url, exc) from exc
        await watch_books(
            rest_url,
            ws_url,
            markets,
            output=output,
            title=f"polyinfra watch · {rest_url} · Ctrl-C stops",
            duration_s=duration_s,
            refresh_s=refresh_s,
            depth=depth,
            max_failed_sessions=max_failed_sessions,
        )

    run_until_stopped(watch())
