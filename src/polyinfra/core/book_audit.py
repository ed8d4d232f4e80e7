"""The audit of a live book against the venue's REST summary of it, sans-I/O.

A quiet book is checked now and then against ``GET /book``: :func:`diff_book` says which levels (and
whether the tick size) differ, as a :class:`BookDiff` of :class:`LevelDifference` rows; an unequal
one is resynced by the live-book client, and the demo proves its books equal the venue's with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from polyinfra.model.book import OrderBook
from polyinfra.model.numbers import Side, TickSize, micros_to_decimal, parse_micros
from polyinfra.wire.clob_rest import OrderBookSummary
from polyinfra.wire.clob_ws import PriceLevel

__all__ = ["BookDiff", "LevelDifference", "diff_book"]


@dataclass(frozen=True, slots=True)
class LevelDifference:
    """One price level where the live book and the venue's disagree; None means no level there."""

    side: Side
    price: Decimal
    local_size: Decimal | None
    venue_size: Decimal | None


@dataclass(frozen=True, slots=True)
class BookDiff:
    """How a live book differs from the venue's REST summary of it."""

    levels: tuple[LevelDifference, ...]
    """Differing levels: bids best first, then asks best first."""
    local_tick_size: TickSize | None
    venue_tick_size: TickSize | None
    """The venue's tick size, None when the summary has none (then it is not compared)."""

    @property
    def equal(self) -> bool:
        """Same levels on both sides, and the same tick size when the venue sent one."""
        return not self.levels and (self.venue_tick_size is None or self.venue_tick_size is self.local_tick_size)


def diff_book(book: OrderBook, summary: OrderBookSummary) -> BookDiff:
    """Compare a live book with the venue's REST summary of the same token.

    Raises :class:`~polyinfra.errors.InvalidValueError` (or a subclass) when the summary holds a
    price, size or tick size that does not parse.
    """
    levels = [
        *_side_differences(Side.BUY, book.bids(), summary.bids, best_is_highest=True),
        *_side_differences(Side.SELL, book.asks(), summary.asks, best_is_highest=False),
    ]
    venue_tick = TickSize.parse(summary.tick_size) if summary.tick_size else None
    return BookDiff(tuple(levels), book.tick_size, venue_tick)


def _side_differences(
    side: Side,
    local: Iterable[tuple[Decimal, Decimal]],
    venue: Sequence[PriceLevel],
    *,
    best_is_highest: bool,
) -> list[LevelDifference]:
    local_sizes = dict(local)
    venue_sizes = {
        micros_to_decimal(parse_micros(level.price)): micros_to_decimal(parse_micros(level.size)) for level in venue
    }
    # A zero-size level is no level (the book never holds one; the venue should never send one).
    venue_sizes = {price: size for price, size in venue_sizes.items() if size}
    differing = sorted(
        (
            price
            for price in local_sizes.keys() | venue_sizes.keys()
            if local_sizes.get(price) != venue_sizes.get(price)
        ),
        reverse=best_is_highest,
    )
    return [LevelDifference(side, price, local_sizes.get(price), venue_sizes.get(price)) for price in differing]
