"""Market-channel book sync, sans-I/O: decoded events in, book state out (venue notes: WebSockets, Market channel).

:class:`MarketFeed` owns one :class:`~polyinfra.model.book.OrderBook` per tracked token and
applies ``book`` snapshots and ``price_change`` deltas to it. It never reads a clock or a socket:
the I/O client above it feeds frames, watches for silence and fetches REST snapshots for the
tokens the feed says are out of sync.

A token is *in sync* once a snapshot has been applied and nothing since contradicted it. The
feed puts a token in :attr:`MarketFeed.resync_needed` when

* a ``book`` snapshot carries a hash that does not match its content (the snapshot is still
  applied: it is the newest state known, and a fresh one is needed anyway);
* a ``price_change`` entry or a ``best_bid_ask`` event reports best prices other than the local
  book's (the venue's own check, and the only one deltas carry);
* a delta arrives before the token's first snapshot (the initial dump was lost);
* the venue sent a value no venue book can hold: one that does not parse, a price outside (0, 1)
  or off the token's tick grid, a size beyond :data:`~polyinfra.model.book.MAX_SIZE_MICROS`, a
  last trade price outside (0, 1). The value is refused (never applied), and
  :class:`~polyinfra.errors.MalformedMessageError` is raised once the rest of the event is applied;
* the book is crossed (best bid at or above best ask) once a whole event is applied: the venue
  matches such orders at once, so the book has drifted (the same check on every snapshot);
* a ``tick_size_change`` leaves levels between the new ticks (the venue only moves to finer ticks,
  where every resting price stays on the grid).

These checks do not need the hashes and best prices the venue may leave out.

A snapshot without a hash (the venue may omit it, venue notes: Market channel) is applied and counted in
:attr:`FeedStats.unhashed_snapshots` but does not ask for a resync: a REST snapshot to "fix" it
could be unhashed too, and a full snapshot is the best evidence there is. Any snapshot applied
that is neither a hash mismatch nor crossed takes the token out of :attr:`MarketFeed.resync_needed`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from msgspec import UNSET, UnsetType

from polyinfra.core.book_hash import book_hash_matches
from polyinfra.errors import InvalidValueError, MalformedMessageError
from polyinfra.model.book import MAX_SIZE_MICROS, OrderBook, level_error, side_error
from polyinfra.model.numbers import MAX_TIMESTAMP_DIGITS, MICROS, TickSize, parse_micros, parse_timestamp
from polyinfra.wire.clob_rest import OrderBookSummary
from polyinfra.wire.clob_ws import (
    BestBidAskMessage,
    BookMessage,
    LastTradePriceMessage,
    MarketEvent,
    MarketFrameDecoder,
    PriceChange,
    PriceChangeMessage,
    PriceLevel,
    TickSizeChangeMessage,
)

__all__ = ["FeedStats", "MarketFeed"]


@dataclass(slots=True)
class FeedStats:
    """Counters of what the feed applied and what it found wrong. Plain ints, never reset."""

    snapshots: int = 0
    """``book`` snapshots (and REST summaries) applied."""
    hash_mismatches: int = 0
    """Snapshots whose hash did not match their content."""
    unhashed_snapshots: int = 0
    """Snapshots without a hash, applied unverified (only counted when verifying)."""
    level_changes: int = 0
    """Price-level changes applied."""
    best_price_mismatches: int = 0
    """Reported best bid/ask (``price_change`` entries, ``best_bid_ask``) that disagreed with the book."""
    changes_before_snapshot: int = 0
    """Level changes for tracked tokens that had no snapshot yet (dropped)."""
    untracked_changes: int = 0
    """Price-change entries and other per-token events for tokens not tracked (ignored)."""
    invalid_values: int = 0
    """Events or entries refused for a value that is missing, does not parse, or no venue book
    holds (out of range, off the tick grid)."""
    crossed_books: int = 0
    """Events after which the book was crossed (best bid at or above best ask)."""
    off_tick_books: int = 0
    """Tick size changes that left levels off the new grid."""


_MEMO_LIMIT = 1 << 16


class MarketFeed:
    """Books of the tracked tokens, kept in sync from market-channel events.

    Not thread-safe: one feed belongs to one reader.
    """

    __slots__ = (
        "_awaiting_snapshot",
        "_books",
        "_books_view",
        "_decoder",
        "_handlers",
        "_live_books",
        "_micros",
        "_refused",
        "_resync_needed",
        "_verify_hashes",
        "stats",
    )

    def __init__(self, *, verify_hashes: bool = True) -> None:
        self._verify_hashes = verify_hashes
        self._decoder = MarketFrameDecoder()
        # Venue strings already parsed into micro-units. A plain dict on purpose: CPython
        # specialises subscripting an exact dict, which makes a hit several times cheaper than a
        # call into parse_micros (whose own cache sits behind a Python call). Misses go through
        # _micros_of, which parses strictly. Bounded: cleared when full.
        self._micros: dict[str, int] = {}
        self._books: dict[str, OrderBook] = {}
        self._books_view = MappingProxyType(self._books)
        # The books that have had a snapshot: deltas look only here, so the hot path is one lookup.
        self._live_books: dict[str, OrderBook] = {}
        self._awaiting_snapshot: set[str] = set()
        self._resync_needed: set[str] = set()
        # Errors for the values refused while applying the current event, raised once it is done.
        self._refused: list[MalformedMessageError] = []
        self.stats = FeedStats()
        # One dict lookup per event instead of a chain of isinstance checks. new_market and
        # market_resolved change no book: the caller acts on them.
        self._handlers: dict[type, Callable[[Any], None]] = {
            PriceChangeMessage: self._apply_price_change,
            BookMessage: self._apply_snapshot,
            LastTradePriceMessage: self._apply_last_trade,
            TickSizeChangeMessage: self._apply_tick_size_change,
            BestBidAskMessage: self._apply_best_bid_ask,
        }

    @property
    def books(self) -> Mapping[str, OrderBook]:
        """Every tracked token's book (a live read-only view), including books awaiting a snapshot."""
        return self._books_view

    @property
    def awaiting_snapshot(self) -> AbstractSet[str]:
        """Tracked tokens whose first snapshot has not arrived yet."""
        return self._awaiting_snapshot

    @property
    def resync_needed(self) -> AbstractSet[str]:
        """Tokens whose book no longer provably matches the venue's; a snapshot fixes each."""
        return self._resync_needed

    @property
    def unknown_event_types(self) -> Mapping[str, int]:
        """Event types the decoder skipped because polyinfra does not know them, with counts."""
        return self._decoder.unknown_event_types

    def is_in_sync(self, token_id: str) -> bool:
        """True when the token is tracked, has a snapshot, and nothing since contradicted it."""
        return token_id in self._live_books and token_id not in self._resync_needed

    def track(self, token_ids: Iterable[str]) -> None:
        """Create an empty book awaiting a snapshot for each token not tracked yet."""
        for token_id in token_ids:
            if token_id not in self._books:
                self._books[token_id] = OrderBook(token_id)
                self._awaiting_snapshot.add(token_id)

    def untrack(self, token_ids: Iterable[str]) -> None:
        """Forget the tokens' books; later events for them are ignored as untracked."""
        for token_id in token_ids:
            self._books.pop(token_id, None)
            self._live_books.pop(token_id, None)
            self._awaiting_snapshot.discard(token_id)
            self._resync_needed.discard(token_id)

    def apply_frame(self, frame: bytes | str) -> list[MarketEvent]:
        """Decode one market-channel frame (an event or an array of them), apply it, return its events.

        Raises :class:`~polyinfra.errors.MalformedMessageError` before changing anything when the
        frame does not decode, and after applying everything else when it carried values no venue
        book holds (see :meth:`apply`); event types polyinfra does not know are skipped and counted
        in :attr:`unknown_event_types`.
        """
        events = self._decoder.decode(frame)
        handlers = self._handlers
        for event in events:
            handler = handlers.get(type(event))
            if handler is not None:
                handler(event)
        if self._refused:
            self._raise_refused()
        return events

    def apply(self, event: MarketEvent) -> None:
        """Apply one decoded market-channel event.

        ``new_market`` and ``market_resolved`` change no book; the caller acts on them. A value no
        venue book holds (a price that is not a decimal, outside (0, 1) or off the tick grid, a size
        beyond any market, an unknown side) is refused: its entry (or snapshot, trade, tick size)
        is not applied, it is counted in ``stats.invalid_values``, and its token is marked for
        resync. The rest of the event is applied (one bad value does not stop the other tokens'
        books), then :class:`~polyinfra.errors.MalformedMessageError` is raised for the caller to
        log and count.
        """
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)
        if self._refused:
            self._raise_refused()

    def apply_book_summary(self, summary: OrderBookSummary) -> None:
        """Apply a REST ``GET /book`` summary as a snapshot: how a token in :attr:`resync_needed` recovers.

        A summary holding a value no venue book holds is refused as :meth:`apply` refuses an event.
        """
        self._apply_snapshot(summary)
        if self._refused:
            self._raise_refused()

    # --- snapshots -------------------------------------------------------------------------------

    def _apply_snapshot(self, message: BookMessage | OrderBookSummary) -> None:
        token_id = message.asset_id
        book = self._books.get(token_id)
        if book is None:
            self.stats.untracked_changes += 1
            return
        try:
            # Parse and check every value before touching the book, so a bad one leaves it as it was.
            bids = self._levels(message.bids)
            asks = self._levels(message.asks)
            tick_size = TickSize.parse(message.tick_size) if message.tick_size else book.tick_size
            last_trade = self._micros_of(message.last_trade_price) if message.last_trade_price else None
        except InvalidValueError as exc:
            self._refuse(token_id, exc.message, exc.context.get("value"))
            return
        problem = side_error(bids, tick_size) or side_error(asks, tick_size)
        if problem is None and last_trade is not None and not 0 < last_trade < MICROS:
            problem = "last trade price outside (0, 1)"
        if problem is not None:
            self._refuse(token_id, f"snapshot refused: {problem}")
            return
        stats = self.stats
        trusted = True
        if self._verify_hashes:
            if not message.hash:
                stats.unhashed_snapshots += 1
            elif not book_hash_matches(message):
                stats.hash_mismatches += 1
                trusted = False
        book.apply_snapshot(bids, asks, timestamp_ms=parse_timestamp(message.timestamp))
        book.market = message.market
        book.tick_size = tick_size
        if last_trade is not None:
            book.last_trade_price_micros = last_trade
        if book.is_crossed:
            stats.crossed_books += 1
            trusted = False
        stats.snapshots += 1
        self._live_books[token_id] = book
        self._awaiting_snapshot.discard(token_id)
        if trusted:
            self._resync_needed.discard(token_id)
        else:
            self._resync_needed.add(token_id)

    def _levels(self, levels: list[PriceLevel]) -> dict[int, int]:
        """Price -> size in micro-units, the bulk of a snapshot's cost: memo hits are one C-level
        lookup each, and only strings not seen yet (trades leave new sizes) are parsed."""
        micros = self._micros
        sizes: dict[int, int] = {}
        for level in levels:
            price = micros.get(level.price)
            if price is None:
                price = self._micros_of(level.price)
            size = micros.get(level.size)
            if size is None:
                size = self._micros_of(level.size)
            sizes[price] = size
        return sizes

    def _micros_of(self, text: str) -> int:
        """A venue string in micro-units: from the memo, or parsed strictly (InvalidNumberError)."""
        micros = self._micros
        value = micros.get(text)
        if value is not None:
            return value
        value = parse_micros(text)
        if len(micros) >= _MEMO_LIMIT:
            micros.clear()
        micros[text] = value
        return value

    # --- deltas ----------------------------------------------------------------------------------

    def _apply_price_change(self, message: PriceChangeMessage) -> None:
        changes = message.price_changes
        if changes is UNSET:
            changes = self._legacy_changes(message)
        timestamp_text = message.timestamp
        # As parse_timestamp, inlined: once per price change. int() reads every isdecimal string.
        timestamp_ms = (
            int(timestamp_text) if len(timestamp_text) <= MAX_TIMESTAMP_DIGITS and timestamp_text.isdecimal() else None
        )
        live_books = self._live_books
        micros = self._micros
        applied = 0
        # Books a change may have crossed; judged once the whole message is applied, since the
        # venue's entries for one asset need not come together (it interleaves Yes and No).
        maybe_crossed: list[OrderBook] = []
        last = len(changes) - 1
        for index, change in enumerate(changes):
            asset_id = change.asset_id
            book = live_books.get(asset_id)
            if book is None:
                self._drop_change_without_book(asset_id)
                continue
            price_text = change.price
            size_text = change.size
            side = change.side
            if size_text is UNSET:  # optional in the schema, but a change without it says nothing
                self._refuse(asset_id, "price change without a size", price_text)
                continue
            try:
                price = micros[price_text]
                size = micros[size_text]
            except KeyError:
                try:
                    price = self._micros_of(price_text)
                    size = self._micros_of(size_text)
                except InvalidValueError as exc:
                    self._refuse(asset_id, exc.message, exc.context.get("value"))
                    continue
            problem = level_error(price, size, book.tick_size)
            if problem is not None:
                self._refuse(asset_id, f"price change refused: {problem}")
                continue
            if side == "BUY":
                book.set_bid(price, size)
                # A new bid crosses exactly when it reaches the best ask (removals never cross).
                if size and book.best_ask_micros is not None and price >= book.best_ask_micros:
                    maybe_crossed.append(book)
            elif side == "SELL":
                book.set_ask(price, size)
                if size and book.best_bid_micros is not None and price <= book.best_bid_micros:
                    maybe_crossed.append(book)
            else:
                self._refuse(asset_id, "not a book side", side)
                continue
            applied += 1
            if timestamp_ms is not None:
                book.timestamp_ms = timestamp_ms
            best_bid = change.best_bid
            best_ask = change.best_ask
            # The venue reports an asset's best prices after the change. When several entries of
            # one asset follow each other only the last of the run is checked, which is right
            # whether the venue means "after this entry" or "after this message" (venue notes: Market channel).
            if (best_bid or best_ask) and (index == last or changes[index + 1].asset_id != asset_id):
                # _check_best_prices inlined for memo hits: this runs for nearly every entry.
                try:
                    if (best_bid and micros[best_bid] != (book.best_bid_micros or 0)) or (
                        best_ask and micros[best_ask] != (book.best_ask_micros or MICROS)
                    ):
                        self._best_prices_disagree(asset_id)
                except KeyError:
                    self._check_best_prices(book, best_bid, best_ask)
        self.stats.level_changes += applied
        if maybe_crossed:
            for book in dict.fromkeys(maybe_crossed):
                if book.is_crossed:
                    self._crossed(book.token_id)

    def _legacy_changes(self, message: PriceChangeMessage) -> list[PriceChange]:
        """The legacy generations (root ``asset_id``, no best prices) as current-format entries."""
        asset_id = message.asset_id
        if asset_id is UNSET:
            self._refuse(None, "price change without an asset id")
            return []
        if message.changes is not UNSET:
            return [PriceChange(asset_id, level.price, level.side, level.size) for level in message.changes]
        if message.price is UNSET or message.side is UNSET:
            self._refuse(asset_id, "price change without a price or a side")
            return []
        return [PriceChange(asset_id, message.price, message.side, message.size)]

    def _drop_change_without_book(self, asset_id: str) -> None:
        if asset_id in self._books:
            self.stats.changes_before_snapshot += 1
            self._resync_needed.add(asset_id)
        else:
            self.stats.untracked_changes += 1

    def _refuse(self, token_id: str | None, message: str, value: object = None) -> None:
        """A value no venue book holds was left out: count it, resync its token, and keep the error
        for :meth:`_raise_refused` once the event is done."""
        self.stats.invalid_values += 1
        if token_id in self._books:
            self._resync_needed.add(token_id)
        self._refused.append(MalformedMessageError(message, token_id=token_id, value=value))

    def _raise_refused(self) -> None:
        """Raise the first value refused in the event just applied (with the count, when several)."""
        refused = self._refused
        self._refused = []
        first = refused[0]
        if len(refused) == 1:
            raise first
        context = first.context
        raise MalformedMessageError(
            first.message, token_id=context.get("token_id"), value=context.get("value"), values_refused=len(refused)
        )

    def _crossed(self, token_id: str) -> None:
        self.stats.crossed_books += 1
        self._resync_needed.add(token_id)

    def _check_best_prices(self, book: OrderBook, best_bid: str | UnsetType, best_ask: str | UnsetType) -> None:
        """Compare the venue's reported best prices with the book's; a disagreement asks for resync.

        The venue reports an empty bid side as "0" and an empty ask side as "1"; "" or a missing
        field means not reported (venue notes: Market channel). The price_change loop inlines this for memo hits.
        """
        try:
            reported_bid = self._micros_of(best_bid) if best_bid else None
            reported_ask = self._micros_of(best_ask) if best_ask else None
        except InvalidValueError as exc:
            self._refuse(book.token_id, exc.message, exc.context.get("value"))
            return
        if (reported_bid is not None and reported_bid != (book.best_bid_micros or 0)) or (
            reported_ask is not None and reported_ask != (book.best_ask_micros or MICROS)
        ):
            self._best_prices_disagree(book.token_id)

    def _best_prices_disagree(self, token_id: str) -> None:
        self.stats.best_price_mismatches += 1
        self._resync_needed.add(token_id)

    # --- everything else -------------------------------------------------------------------------

    def _apply_best_bid_ask(self, message: BestBidAskMessage) -> None:
        """The custom-feature best prices, checked like a ``price_change`` entry's (there is
        nothing to check them against before the token's first snapshot)."""
        book = self._live_books.get(message.asset_id)
        if book is not None:
            self._check_best_prices(book, message.best_bid, message.best_ask)
        elif message.asset_id not in self._books:
            self.stats.untracked_changes += 1

    def _apply_last_trade(self, message: LastTradePriceMessage) -> None:
        book = self._books.get(message.asset_id)
        if book is None:
            self.stats.untracked_changes += 1
            return
        size_text = message.size
        try:
            price = self._micros_of(message.price)
            size = self._micros_of(size_text) if isinstance(size_text, str) and size_text else 0
        except InvalidValueError as exc:
            self._refuse(message.asset_id, exc.message, exc.context.get("value"))
            return
        if not 0 < price < MICROS or size > MAX_SIZE_MICROS:
            self._refuse(message.asset_id, "last trade outside (0, 1) or larger than any book", message.price)
            return
        book.last_trade_price_micros = price

    def _apply_tick_size_change(self, message: TickSizeChangeMessage) -> None:
        """The venue moves to a finer tick near the extremes (price > 0.96 or < 0.04, venue notes: Market channel)."""
        book = self._books.get(message.asset_id)
        if book is None:
            self.stats.untracked_changes += 1
            return
        try:
            tick_size = TickSize.parse(message.new_tick_size)
        except InvalidValueError as exc:
            self._refuse(message.asset_id, exc.message, exc.context.get("value"))
            return
        book.tick_size = tick_size
        if book.levels_error(tick_size) is not None:
            self.stats.off_tick_books += 1
            self._resync_needed.add(message.asset_id)
