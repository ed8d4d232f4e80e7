"""How ``polyinfra watch`` and ``polyinfra demo`` show live books: one implementation, three forms.

* :func:`screen` — a rich renderable for a terminal, 78 characters wide so it fits 80 columns: per
  market a line with its question, then one row per watched token.
* :func:`plain_block` — the same facts as self-describing text lines, when stdout is not a terminal
  (a pipe, a log file).
* :class:`ChangeLines` — JSON objects (``--jsonl``), for scripts: a token's book line each time
  what it shows changed, and a line per trade.

They read any live-book client through a :class:`BookView`: the books (the CLOB's
:class:`~polyinfra.clob.live_books.LiveBooks` or the US exchange's
:class:`~polyinfra.us.live_books.UsLiveBooks`), the count of messages received and the client's own
status line; :func:`clob_view` is the CLOB's. A screen or a block shows one or more clients, each a
:class:`BookPanel` (``polyinfra demo`` shows the US exchange's books below the CLOB's).

Prices are exact ``Decimal``s rendered as strings, never floats. Message rates and staleness are
seconds and counts, not amounts, so they are plain floats.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Final, Protocol

import msgspec
from rich.console import Group
from rich.text import Text

from polyinfra.clob.live_books import LiveBooks
from polyinfra.core.book_sync import SyncReason
from polyinfra.model.book import Level, OrderBook
from polyinfra.model.events import BookEvent, BookUpdated, SyncState, SyncStateChanged, TickSizeChanged, TradePrinted
from polyinfra.model.market import MarketInfo
from polyinfra.model.numbers import Side, decimal_text, micros_to_decimal

if TYPE_CHECKING:
    from polyinfra.record.recorder import Recorder

__all__ = [
    "DEPTH_LEVELS",
    "Activity",
    "BookLine",
    "BookPanel",
    "BookView",
    "ChangeLines",
    "Rates",
    "ShownBooks",
    "TradeLine",
    "WatchedMarket",
    "WatchedToken",
    "clob_view",
    "iso_time",
    "plain_block",
    "screen",
]

DEPTH_LEVELS: Final = 5
"""Levels per side summed into the depth column."""

RATE_WINDOW_S: Final = 5.0
"""Message rates are averaged over this many seconds: steady enough to read, recent enough to matter."""
_MIN_RATE_SPAN_S: Final = 1.0
# Below a second of history a rate is mostly noise (3 events in 10 ms read as 300/s): shown as "-".


@dataclass(frozen=True, slots=True)
class WatchedToken:
    """A token on the screen, named by its market's outcome ("Yes", "No")."""

    token_id: str
    outcome: str


@dataclass(frozen=True, slots=True)
class WatchedMarket:
    """A market and the tokens of it being watched (one or both), in the order they are shown."""

    condition_id: str
    question: str
    tokens: tuple[WatchedToken, ...]

    @classmethod
    def of(cls, info: MarketInfo, token_ids: Collection[str] | None = None) -> WatchedMarket:
        """``info``'s tokens in the market's order: those in ``token_ids``, or all of them."""
        return cls(
            condition_id=info.condition_id,
            question=info.question,
            tokens=tuple(
                WatchedToken(token.token_id, token.outcome)
                for token in info.tokens
                if token_ids is None or token.token_id in token_ids
            ),
        )


class ShownBooks(Protocol):
    """What the views read from a live-book client."""

    @property
    def recorder(self) -> Recorder | None: ...

    def book(self, token_id: str) -> OrderBook: ...

    def state(self, token_id: str) -> SyncState: ...

    def staleness_s(self, token_id: str) -> float | None: ...


@dataclass(frozen=True, slots=True)
class Rates:
    """Message rates at one refresh of the view."""

    elapsed_s: float
    frames_per_s: float | None
    events_per_s: dict[str, float] | None
    """None (with ``frames_per_s``) until there is enough history for a rate."""

    def of(self, token_id: str) -> str:
        """The token's events per second, for display."""
        return "-" if self.events_per_s is None else _rate(self.events_per_s.get(token_id, 0.0))


class Activity:
    """Counts book events per token and turns counts into rates over the last few seconds.

    :meth:`record` is called for every event; :meth:`sample` once per screen refresh. Rates are
    the change of the counts between now and the oldest sample still inside ``window_s``.
    """

    def __init__(self, *, window_s: float = RATE_WINDOW_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._window_s = window_s
        self._clock = clock
        self._started = clock()
        self._events: Counter[str] = Counter()
        self._samples: deque[tuple[float, Counter[str], int]] = deque([(self._started, Counter(), 0)])

    def record(self, event: BookEvent) -> None:
        """Count ``event`` for its token when it says the token's market data moved."""
        if isinstance(event, BookUpdated | TradePrinted | TickSizeChanged):
            self._events[event.token_id] += 1

    def sample(self, frames: int) -> Rates:
        """Rates now: events per second per token and ``frames`` (a running total) per second."""
        now = self._clock()
        while len(self._samples) > 1 and now - self._samples[1][0] >= self._window_s:
            self._samples.popleft()
        since, old_events, old_frames = self._samples[0]
        self._samples.append((now, self._events.copy(), frames))
        span_s = now - since
        if span_s < _MIN_RATE_SPAN_S:
            return Rates(now - self._started, None, None)
        per_token = {token: (count - old_events[token]) / span_s for token, count in self._events.items()}
        return Rates(now - self._started, (frames - old_frames) / span_s, per_token)


# --- the terminal screen ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Column:
    name: str
    width: int
    left: bool = False


_STATE_COLUMN: Final = _Column("state", 7, left=True)
# 78 characters with the single spaces between columns: an 80-column terminal shows it whole.
_COLUMNS: Final = (
    _Column("", 10, left=True),
    _Column("bid", 6),
    _Column("ask", 6),
    _Column("mid", 7),
    _Column("spread", 6),
    _Column("depth $", 11),
    _Column("last", 6),
    _Column("msg/s", 5),
    _STATE_COLUMN,
    _Column("age", 5),
)
_OUTCOME_INDENT: Final = "  "
_STATE_STYLES: Final = {SyncState.LIVE: "green", SyncState.SYNCING: "yellow", SyncState.STALE: "bold red"}
# Title, column names, status line, and the "more not shown" line.
_FRAME_LINES: Final = 4


@dataclass(frozen=True, slots=True)
class _TokenFacts:
    """One token's row: prices as display strings; depths as Decimals, which the screen abbreviates."""

    bid: str
    ask: str
    mid: str
    spread: str
    bid_depth: Decimal
    ask_depth: Decimal
    last: str
    state: SyncState
    age: str


@dataclass(frozen=True, slots=True)
class BookView:
    """A live-book client as the views show it: its ``books``, the ``frames`` (messages) it received so
    far, and its ``status`` line for the markets shown at the current rates."""

    books: ShownBooks
    frames: Callable[[], int]
    status: Callable[[Sequence[WatchedMarket], Rates], str]


def clob_view(books: LiveBooks) -> BookView:
    """The CLOB's live books as the views show them."""
    return BookView(books, lambda: books.stats.frames, lambda markets, rates: _status(books, markets, rates))


def _facts(books: ShownBooks, token_id: str) -> _TokenFacts:
    book = books.book(token_id)
    bid, ask, last = book.best_bid(), book.best_ask(), book.last_trade_price_micros
    # Padded to the tick's decimals so the points line up; a mid can fall on half a tick.
    decimals = 0 if book.tick_size is None else book.tick_size.price_decimals
    return _TokenFacts(
        bid=_price(bid.price if bid else None, decimals),
        ask=_price(ask.price if ask else None, decimals),
        mid=_price(book.mid(), decimals + 1),
        spread=_price(book.spread(), decimals),
        bid_depth=book.depth(Side.BUY, DEPTH_LEVELS).notional,
        ask_depth=book.depth(Side.SELL, DEPTH_LEVELS).notional,
        last=_price(None if last is None else micros_to_decimal(last), decimals),
        state=books.state(token_id),
        age=_age(books.staleness_s(token_id)),
    )


@dataclass(frozen=True, slots=True)
class BookPanel:
    """One client's part of a screen or block: its view, the markets shown from it, and their activity."""

    view: BookView
    markets: Sequence[WatchedMarket]
    activity: Activity = field(default_factory=Activity)


def screen(panels: Sequence[BookPanel], *, title: str, height: int) -> Group:
    """The live screen: a title, the column names, each market's question and token rows (the panels'
    markets in turn, numbered on), then each panel's status line.

    Whole markets are left out from the end when they would not fit in ``height`` lines, and a
    line says how many.
    """
    lines = [Text(title, style="bold", no_wrap=True, overflow="ellipsis"), _header()]
    recording = _recording_status(panels[0].view.books)
    budget = max(height - _FRAME_LINES - (len(panels) - 1) - (recording is not None), 0)
    number = hidden = 0
    statuses = []
    for panel in panels:
        books = panel.view.books
        rates = panel.activity.sample(panel.view.frames())
        for market in panel.markets:
            number += 1
            if hidden or 1 + len(market.tokens) > budget:
                hidden += 1
                continue
            budget -= 1 + len(market.tokens)
            question = f"{number}. {market.question or market.condition_id}"
            lines.append(Text(question, style="bold", no_wrap=True, overflow="ellipsis"))
            lines.extend(_row(token, _facts(books, token.token_id), rates) for token in market.tokens)
        statuses.append(Text(panel.view.status(panel.markets, rates), style="dim", no_wrap=True, overflow="ellipsis"))
    if hidden:
        lines.append(Text(f"… {hidden} more market{'s' if hidden > 1 else ''} (a taller terminal shows more)"))
    lines.extend(statuses)
    if recording is not None:
        # A line of its own: the status line above already fills an 80-column terminal.
        lines.append(Text(recording, style="dim", no_wrap=True, overflow="ellipsis"))
    return Group(*lines)


def _header() -> Text:
    cells = [column.name.ljust(column.width) if column.left else column.name.rjust(column.width) for column in _COLUMNS]
    return Text(" ".join(cells), style="bold underline", no_wrap=True)


def _row(token: WatchedToken, facts: _TokenFacts, rates: Rates) -> Text:
    outcome_width = _COLUMNS[0].width - len(_OUTCOME_INDENT)
    values = (
        _OUTCOME_INDENT + _fit(token.outcome, outcome_width),
        facts.bid,
        facts.ask,
        facts.mid,
        facts.spread,
        f"{_compact(facts.bid_depth)}/{_compact(facts.ask_depth)}",
        facts.last,
        rates.of(token.token_id),
        facts.state.value,
        facts.age,
    )
    row = Text(no_wrap=True, overflow="ellipsis")
    for index, (column, value) in enumerate(zip(_COLUMNS, values, strict=True)):
        if index:
            row.append(" ")
        cell = value.ljust(column.width) if column.left else value.rjust(column.width)
        row.append(cell, style=_STATE_STYLES[facts.state] if column is _STATE_COLUMN else "")
    return row


# --- plain lines ----------------------------------------------------------------------------------


def plain_block(panels: Sequence[BookPanel]) -> str:
    """Per panel a status line (``--- 3.0s · ...``) and one line per token with every fact named."""
    recording = _recording_status(panels[0].view.books)
    lines = []
    number = 0
    for index, panel in enumerate(panels):
        books = panel.view.books
        rates = panel.activity.sample(panel.view.frames())
        status = panel.view.status(panel.markets, rates)
        if index == 0 and recording is not None:
            status = f"{status} · {recording}"
        lines.append(f"--- {rates.elapsed_s:.1f}s · {status}")
        for market in panel.markets:
            number += 1
            for token in market.tokens:
                facts = _facts(books, token.token_id)
                lines.append(
                    f"{number}. {market.question or market.condition_id} {token.outcome}: {facts.state.value} "
                    f"bid {facts.bid} ask {facts.ask} mid {facts.mid} spread {facts.spread} "
                    f"depth{DEPTH_LEVELS} ${facts.bid_depth:,.0f}/${facts.ask_depth:,.0f} last {facts.last} "
                    f"msg/s {rates.of(token.token_id)} age {facts.age}"
                )
    return "\n".join(lines)


def _status(books: LiveBooks, markets: Sequence[WatchedMarket], rates: Rates) -> str:
    tokens = [token.token_id for market in markets for token in market.tokens]
    live = sum(1 for token in tokens if books.state(token) is SyncState.LIVE)
    stats = books.stats
    frames_per_s = "-" if rates.frames_per_s is None else f"{rates.frames_per_s:,.0f}"
    status = (
        f"live {live}/{len(tokens)} · {stats.frames:,} frames {frames_per_s}/s · "
        f"reconnects {stats.reconnects} · resyncs {stats.resyncs} · bad hashes {stats.hash_mismatches}"
    )
    # Only when it happens: the screen has no room to spare, and it is the line that matters then.
    malformed = stats.malformed_frames + stats.malformed_answers
    if malformed:
        status += f" · malformed {malformed:,}"
    refused = stats.resyncs_by_reason.get(SyncReason.INVALID_VALUE, 0)
    if refused:
        status += f" · refused values {refused:,}"
    task_failures = sum(stats.task_failures.values())
    if task_failures:
        status += f" · task restarts {task_failures}"
    if stats.events_dropped:
        status += f" · {stats.events_dropped:,} events dropped (output too slow)"
    return status


def _recording_status(books: ShownBooks) -> str | None:
    """What the recorder of ``books`` has stored (None: it records nothing)."""
    recorder = books.recorder
    if recorder is None:
        return None
    stats = recorder.stats
    acknowledged = 0 if stats.acknowledged is None else stats.acknowledged.records
    return f"recorder: {acknowledged:,} records acknowledged · gaps {stats.gaps:,} · queue {stats.queued:,}"


# --- JSON lines -----------------------------------------------------------------------------------


class BookLine(msgspec.Struct, frozen=True, tag_field="type", tag="book", omit_defaults=True):
    """One ``--jsonl`` record of a token's book, written when something in it changed.

    Prices and sizes are decimal strings (``"0.485"``), or null when that side is empty.
    ``venue_timestamp_ms`` is the venue's time (ms since the epoch) of the last change in the book,
    when the venue said; ``received_ns`` / ``received_at`` the local time the frame that carried
    the change arrived (ns since the epoch, and the same as ISO 8601 in UTC). ``bids`` and ``asks``
    (``[price, size]``, best first) are there only with ``--depth``.
    """

    token_id: str
    market: str
    best_bid: str | None
    best_bid_size: str | None
    best_ask: str | None
    best_ask_size: str | None
    spread: str | None
    mid: str | None
    last_trade: str | None
    sync_state: str
    venue_timestamp_ms: int | None
    received_ns: int
    received_at: str
    bids: list[tuple[str, str]] | None = None
    asks: list[tuple[str, str]] | None = None


class TradeLine(msgspec.Struct, frozen=True, tag_field="type", tag="trade"):
    """One ``--jsonl`` record of a trade the venue reported; ``size`` and ``side`` null when it did not say."""

    token_id: str
    market: str
    price: str
    size: str | None
    side: str | None
    venue_timestamp_ms: int | None
    received_ns: int
    received_at: str


_Shown = tuple[object, ...]
"""What a book line shows, times aside: a line is written only when this changes."""


class ChangeLines:
    """The ``--jsonl`` lines an event makes: its trade line, and its token's book line when what the
    line shows (best levels and sizes, spread, last trade, sync state, ``depth`` levels) changed
    since the token's last one. The book is read as it is now: right after the event unless the
    reader fell behind, and then prices and times both describe the newer state, never a mix."""

    def __init__(self, books: ShownBooks, markets: Sequence[WatchedMarket], *, depth: int = 0) -> None:
        self._books = books
        # From the choice of tokens: a book learns its market from its first snapshot only.
        self._market_of = {token.token_id: market.condition_id for market in markets for token in market.tokens}
        self._depth = depth
        self._shown: dict[str, _Shown] = {}

    def lines(self, event: BookEvent) -> list[BookLine | TradeLine]:
        """The lines for ``event``, in the order to write them (none for most repeats)."""
        if isinstance(event, TradePrinted):
            written: list[BookLine | TradeLine] = [_trade_line(event)]
        elif isinstance(event, BookUpdated | SyncStateChanged | TickSizeChanged):
            written = []
        else:
            return []
        line = self._book_line(event.token_id, event.received_ns)
        shown = _shown(line)
        if self._shown.get(event.token_id) != shown:
            self._shown[event.token_id] = shown
            written.append(line)
        return written

    def _book_line(self, token_id: str, received_ns: int) -> BookLine:
        book = self._books.book(token_id)
        bid, ask, last = book.best_bid(), book.best_ask(), book.last_trade_price_micros
        return BookLine(
            token_id=token_id,
            market=self._market_of.get(token_id, book.market),
            best_bid=_text(bid.price if bid else None),
            best_bid_size=_text(bid.size if bid else None),
            best_ask=_text(ask.price if ask else None),
            best_ask_size=_text(ask.size if ask else None),
            spread=_text(book.spread()),
            mid=_text(book.mid()),
            last_trade=_text(None if last is None else micros_to_decimal(last)),
            sync_state=self._books.state(token_id).value,
            venue_timestamp_ms=book.timestamp_ms,
            received_ns=received_ns,
            received_at=iso_time(received_ns),
            bids=_level_pairs(book.bids(self._depth)) if self._depth else None,
            asks=_level_pairs(book.asks(self._depth)) if self._depth else None,
        )


def _shown(line: BookLine) -> _Shown:
    return (
        line.best_bid,
        line.best_bid_size,
        line.best_ask,
        line.best_ask_size,
        line.last_trade,
        line.sync_state,
        None if line.bids is None else tuple(line.bids),
        None if line.asks is None else tuple(line.asks),
    )


def _trade_line(trade: TradePrinted) -> TradeLine:
    return TradeLine(
        token_id=trade.token_id,
        market=trade.market,
        price=decimal_text(trade.price),
        size=_text(trade.size),
        side=None if trade.side is None else trade.side.value,
        venue_timestamp_ms=trade.venue_timestamp_ms,
        received_ns=trade.received_ns,
        received_at=iso_time(trade.received_ns),
    )


def _level_pairs(levels: Sequence[Level]) -> list[tuple[str, str]]:
    return [(decimal_text(level.price), decimal_text(level.size)) for level in levels]


def _text(value: Decimal | None) -> str | None:
    return None if value is None else decimal_text(value)


def iso_time(epoch_ns: int) -> str:
    """``epoch_ns`` as ISO 8601 in UTC to the nanosecond, by integer arithmetic (a float of
    nanoseconds since the epoch keeps only about a quarter-microsecond)."""
    seconds, nanoseconds = divmod(epoch_ns, 1_000_000_000)
    return f"{datetime.fromtimestamp(seconds, UTC):%Y-%m-%dT%H:%M:%S}.{nanoseconds:09d}Z"


# --- formatting -----------------------------------------------------------------------------------

_THOUSANDS: Final = ((Decimal(10**9), "B"), (Decimal(10**6), "M"), (Decimal(10**3), "k"))


def _price(value: Decimal | None, decimals: int) -> str:
    """``value`` with at least ``decimals`` decimals (zeros added, never rounded); "-" for None."""
    if value is None:
        return "-"
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -exponent < decimals:
        value = value.quantize(Decimal(1).scaleb(-decimals))
    return decimal_text(value)


def _compact(dollars: Decimal) -> str:
    """At most 5 characters: 950, 1.2k, 12k, 3.4M."""
    for scale, suffix in _THOUSANDS:
        if dollars >= scale:
            scaled = dollars / scale
            return f"{scaled:.1f}{suffix}" if scaled < 10 else f"{scaled:.0f}{suffix}"
    return f"{dollars:.0f}"


def _rate(per_s: float) -> str:
    return f"{per_s:.1f}" if per_s < 100 else f"{per_s:.0f}"


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 600:
        return f"{seconds:.0f}s"
    return f"{seconds / 60:.0f}m"


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
