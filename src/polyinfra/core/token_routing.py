"""Which of a market-channel frame's events reach a token's book now, sans-I/O (venue notes: Market channel).

:class:`~polyinfra.core.book_sync.BookSync` keeps a :class:`TokenRecord` per token; its
:class:`EventRouter` reads them to decide what each decoded event does:

* Each token's data is taken from its own connection only: the venue sends a market's
  ``price_change`` whole to every socket subscribed to either of its tokens (venue notes: Market channel), and
  applying another socket's copy, which may arrive after later changes, would revert levels.
* A token that waits for a REST snapshot request to go out (:data:`PENDING`) drops its level
  changes, as the snapshot contains them; one whose snapshot is in flight (:data:`IN_FLIGHT`)
  buffers every event, up to a limit, for the book sync to replay on top of the snapshot.
* A listing or a resolution reaches every connection that carries it and is delivered once.

It is its own module because it only sorts events; applying them and the token's state changes are
the book sync's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

from msgspec import UnsetType

from polyinfra.model.events import SyncState
from polyinfra.wire.clob_ws import (
    MARKET_EVENT_TYPES,
    BestBidAskMessage,
    MarketEvent,
    MarketResolvedMessage,
    NewMarketMessage,
    PriceChange,
    PriceChangeMessage,
)

if TYPE_CHECKING:
    from polyinfra.core.book_sync import SyncStats

__all__ = ["IN_FLIGHT", "NOT_REPAIRING", "PENDING", "EventRouter", "TokenRecord"]

# A token's repair: none, waiting for a snapshot request to go out, or with one in flight.
NOT_REPAIRING: Final = 0
PENDING: Final = 1
IN_FLIGHT: Final = 2

# Listings and resolutions seen lately, to deliver each once however many sockets carry it.
_ANNOUNCEMENTS_REMEMBERED: Final = 1024

_EVENT_TAGS: Final[Mapping[type, str]] = {kind: str(kind.__struct_config__.tag) for kind in MARKET_EVENT_TYPES}


class TokenRecord:
    """What the book sync keeps per token: a few slots, no task, no timer."""

    __slots__ = (
        "buffer",
        "checked_s",
        "connection",
        "failures",
        "fetch_id",
        "last_update_s",
        "not_before_s",
        "repair",
        "since_s",
        "spoiled",
        "state",
    )

    def __init__(self, connection: int, now_s: float) -> None:
        self.connection = connection
        self.state = SyncState.SYNCING
        self.since_s = now_s
        self.last_update_s = now_s
        self.checked_s = now_s
        self.repair = NOT_REPAIRING
        self.fetch_id = 0
        self.buffer: list[tuple[int, MarketEvent]] | None = None
        self.spoiled = False
        self.failures = 0
        self.not_before_s = now_s


class EventRouter:
    """Sorts decoded market events for the tokens in ``tokens`` (the book sync's records, read live):
    what to apply now, what to buffer, what to drop. Counts in ``stats`` the deltas it drops and the
    buffers that overflow ``buffer_limit``, and counts every event by type."""

    __slots__ = ("_announcements", "_buffer_limit", "_event_counts", "_stats", "_tokens")

    def __init__(self, tokens: Mapping[str, TokenRecord], stats: SyncStats, *, buffer_limit: int) -> None:
        self._tokens = tokens
        self._stats = stats
        self._buffer_limit = buffer_limit
        self._announcements: dict[tuple[type, str, str], None] = {}
        self._event_counts: dict[type, int] = dict.fromkeys(MARKET_EVENT_TYPES, 0)

    def events_by_type(self) -> dict[str, int]:
        """Events routed so far by ``event_type``."""
        return {_EVENT_TAGS[kind]: count for kind, count in self._event_counts.items() if count}

    def route(self, connection: int, events: list[MarketEvent], received_ns: int) -> list[MarketEvent]:
        """The events to apply now: those of this connection's tokens that are not repairing."""
        tokens = self._tokens
        counts = self._event_counts
        routed: list[MarketEvent] = []
        for event in events:
            counts[type(event)] += 1
            if isinstance(event, PriceChangeMessage):
                self._route_price_change(connection, event, received_ns, routed)
            elif isinstance(event, NewMarketMessage | MarketResolvedMessage):
                if self._first_sighting(event):
                    routed.append(event)
            else:
                record = tokens.get(event.asset_id)
                if record is None or record.connection != connection:
                    continue
                if record.repair == NOT_REPAIRING:
                    routed.append(event)
                elif isinstance(event, BestBidAskMessage):
                    # Best prices of a book that is being replaced cannot be checked against it.
                    continue
                elif record.repair == IN_FLIGHT:
                    self._buffer(record, event, received_ns)
                else:
                    # Pending: a socket snapshot repairs it at once; trades and tick sizes are
                    # facts whatever the levels are.
                    routed.append(event)
        return routed

    def _route_price_change(
        self, connection: int, event: PriceChangeMessage, received_ns: int, routed: list[MarketEvent]
    ) -> None:
        tokens = self._tokens
        changes = event.price_changes
        if isinstance(changes, UnsetType):  # the legacy formats: one token, at the root
            record = tokens.get(event.asset_id) if isinstance(event.asset_id, str) else None
            if record is None or record.connection != connection:
                return
            if record.repair == NOT_REPAIRING:
                routed.append(event)
            elif record.repair == IN_FLIGHT:
                self._buffer(record, event, received_ns)
            else:
                self._stats.dropped_deltas += 1
            return
        kept: list[PriceChange] | None = None  # only built once an entry is left out
        for index, change in enumerate(changes):
            record = tokens.get(change.asset_id)
            if record is not None and record.connection == connection and record.repair == NOT_REPAIRING:
                if kept is not None:
                    kept.append(change)
                continue
            if kept is None:
                kept = changes[:index]
            if record is None or record.connection != connection:
                continue
            if record.repair == IN_FLIGHT:
                # Without best prices: they describe the venue's book right after this change,
                # which the snapshot the change is replayed on may already be past.
                bare = PriceChange(change.asset_id, change.price, change.side, change.size)
                self._buffer(
                    record,
                    PriceChangeMessage(market=event.market, timestamp=event.timestamp, price_changes=[bare]),
                    received_ns,
                )
            else:
                self._stats.dropped_deltas += 1
        if kept is None:
            routed.append(event)
        elif kept:
            routed.append(PriceChangeMessage(market=event.market, timestamp=event.timestamp, price_changes=kept))

    def _first_sighting(self, event: NewMarketMessage | MarketResolvedMessage) -> bool:
        """Whether this listing or resolution is new: every connection with the custom feature
        gets each ``new_market``, and a resolution reaches the sockets of both tokens (venue notes: Market channel)."""
        key = (type(event), event.market, event.timestamp)
        seen = self._announcements
        if key in seen:
            return False
        if len(seen) >= _ANNOUNCEMENTS_REMEMBERED:
            del seen[next(iter(seen))]
        seen[key] = None
        return True

    def _buffer(self, record: TokenRecord, event: MarketEvent, received_ns: int) -> None:
        buffer = record.buffer
        if buffer is None or record.spoiled:
            return
        if len(buffer) >= self._buffer_limit:
            record.spoiled = True
            buffer.clear()
            self._stats.buffer_overflows += 1
            return
        buffer.append((received_ns, event))
