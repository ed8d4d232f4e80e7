"""A recording replayed into what the venue would serve: the market-channel frames each recorded
frame becomes, and ``book`` summaries of the replayed state, hashed as the venue hashes them.

:class:`ServedTape` wraps a :class:`~polyinfra.record.replay.Replay` (the books are rebuilt by the
same machinery as live) and turns each applied record into output for subscribers:

* a recorded frame is served as the venue sent it, raw bytes and all, so its hashes reproduce. One
  exception: the venue sends a market's ``price_change`` whole to every socket subscribed to either
  of its tokens (venue notes: Market channel), so a recording client holding a market's two tokens on
  two sockets received it twice; each copy is served only with the entries of the tokens the
  recording took from that socket (re-encoded when some are left out), so a subscriber never gets an
  entry twice, and never one a later change already overtook;
* a snapshot the recording got over REST (a resync, an audit, a dump that never came) becomes a
  ``book`` event of the replayed book right after it, with its hash: the subscribers' books jump
  where the recording's did;
* :meth:`ServedTape.summary` is the replayed book of a token as ``GET /book`` answers it. The fields
  the replayed book does not hold (``min_order_size``, ``neg_risk``) come from the last snapshot of the
  token the tape showed; until one did, the summary leaves them out and carries the legacy hash.

Frames the recording could not decode are not served (the replay did not apply them either; the
resync that followed them live is served as above).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import msgspec
from msgspec import UNSET, UnsetType

from polyinfra.core.book_summary import book_message, hashed_summary
from polyinfra.errors import MalformedMessageError
from polyinfra.model.events import BookEvent, BookUpdated
from polyinfra.model.numbers import format_micros
from polyinfra.record.records import Record, RecordKind
from polyinfra.record.replay import Replay
from polyinfra.wire.clob_rest import OrderBookSummary
from polyinfra.wire.clob_ws import (
    BookMessage,
    MarketEvent,
    MarketFrameDecoder,
    MarketResolvedMessage,
    NewMarketMessage,
    PriceChangeMessage,
)
from polyinfra.wire.json_decoding import JsonDecoder

__all__ = ["ServedFrame", "ServedTape"]

_encode: Final = msgspec.json.Encoder().encode
_decode_summaries: Final[JsonDecoder[list[OrderBookSummary]]] = JsonDecoder(
    list[OrderBookSummary], what="recorded POST /books answer"
)


@dataclass(frozen=True, slots=True)
class _SnapshotFields:
    """What a token's last snapshot on the tape said that its replayed book does not keep."""

    min_order_size: str | UnsetType
    neg_risk: bool | UnsetType


@dataclass(frozen=True, slots=True)
class ServedFrame:
    """One frame as the venue would send it: its events (for the subscription filter) and bytes.

    ``payload`` is the recorded frame itself when all of it is served; :meth:`payload_of` gives the
    bytes of a subset of the events (for a subscriber who wants only some).
    """

    events: Sequence[MarketEvent]
    payload: bytes
    is_list: bool

    def payload_of(self, events: Sequence[MarketEvent]) -> bytes:
        if len(events) == len(self.events):
            return self.payload
        return _frame_bytes(events, is_list=self.is_list)


class ServedTape:
    """The replayed state and the frames each record serves; drive it with :meth:`apply`."""

    def __init__(self, replay: Replay) -> None:
        self._replay = replay
        self._decoder = MarketFrameDecoder()
        self._fields: dict[str, _SnapshotFields] = {}
        self.frames_not_served = 0
        """Recorded frames that did not decode (live refused them too)."""

    @property
    def replay(self) -> Replay:
        return self._replay

    def known(self, token_id: str) -> bool:
        """Whether the tape has shown a snapshot of the token by now (its book can be served)."""
        book = self._replay.books.get(token_id)
        return book is not None and book.timestamp_ms is not None

    def tokens(self) -> list[str]:
        return [token for token in self._replay.books if self.known(token)]

    def apply(self, record: Record) -> tuple[ServedFrame | None, list[str]]:
        """Replay ``record``; what it serves: a frame (or None) and the tokens whose replayed book
        was replaced by a REST snapshot (to be sent as fresh ``book`` events)."""
        frame = self._frame_of(record) if record.kind is RecordKind.FRAME_RECEIVED else None
        if record.kind is RecordKind.REST_RESPONSE:
            self._learn_from_answer(record.payload)
        events = self._replay.apply(record)
        return frame, [] if record.kind is RecordKind.FRAME_RECEIVED else _snapshotted(events)

    def summary(self, token_id: str) -> OrderBookSummary:
        """The replayed book of a known token (see :meth:`known`) as ``GET /book`` answers it."""
        book = self._replay.books[token_id]
        fields = self._fields.get(token_id, _SnapshotFields(UNSET, UNSET))
        last_trade = book.last_trade_price_micros
        return hashed_summary(
            market=book.market,
            asset_id=token_id,
            timestamp=str(book.timestamp_ms),
            # Best price last on both sides, as the venue lists them (venue notes: Order books).
            bids=reversed(book.bid_levels_micros()),
            asks=reversed(book.ask_levels_micros()),
            min_order_size=fields.min_order_size,
            tick_size=UNSET if book.tick_size is None else book.tick_size.text,
            neg_risk=fields.neg_risk,
            last_trade_price="" if last_trade is None else format_micros(last_trade),
        )

    def book_event(self, token_id: str) -> BookMessage:
        return book_message(self.summary(token_id))

    def _frame_of(self, record: Record) -> ServedFrame | None:
        try:
            events = self._decoder.decode(record.payload)
        except MalformedMessageError:
            self.frames_not_served += 1
            return None
        for event in events:
            if isinstance(event, BookMessage):
                self._fields[event.asset_id] = _SnapshotFields(event.min_order_size, event.neg_risk)
        served = self._from_connection(self._replay.connection_of_record(record), events)
        if not served:
            return None
        payload = record.payload
        is_list = payload.lstrip()[:1] == b"["
        whole = len(served) == len(events) and all(kept is sent for kept, sent in zip(served, events, strict=True))
        return ServedFrame(served, payload if whole else _frame_bytes(served, is_list=is_list), is_list)

    def _from_connection(self, connection: int, events: list[MarketEvent]) -> list[MarketEvent]:
        """The events (and price-change entries) of the tokens the recording took from ``connection``."""
        owner = self._replay.connection_of
        served: list[MarketEvent] = []
        for event in events:
            if isinstance(event, PriceChangeMessage):
                changes = event.price_changes
                if not isinstance(changes, list):  # the legacy format: one token, at the root
                    if isinstance(event.asset_id, str) and owner(event.asset_id) == connection:
                        served.append(event)
                    continue
                kept = [change for change in changes if owner(change.asset_id) == connection]
                if len(kept) == len(changes):
                    served.append(event)
                elif kept:
                    served.append(
                        PriceChangeMessage(market=event.market, timestamp=event.timestamp, price_changes=kept)
                    )
            elif isinstance(event, NewMarketMessage):
                served.append(event)
            elif isinstance(event, MarketResolvedMessage):
                if any(owner(asset) == connection for asset in event.assets_ids):
                    served.append(event)
            elif owner(event.asset_id) == connection:
                served.append(event)
        return served

    def _learn_from_answer(self, payload: bytes) -> None:
        try:
            summaries = _decode_summaries.decode(payload)
        except MalformedMessageError:
            return  # the replay reports a damaged answer itself
        for summary in summaries:
            self._fields[summary.asset_id] = _SnapshotFields(summary.min_order_size, summary.neg_risk)


def _frame_bytes(events: Sequence[MarketEvent], *, is_list: bool) -> bytes:
    """A frame of ``events``: an array when the recorded frame was one (or several are left)."""
    return _encode(list(events) if is_list or len(events) > 1 else events[0])


def _snapshotted(events: list[BookEvent]) -> list[str]:
    return list(dict.fromkeys(event.token_id for event in events if isinstance(event, BookUpdated) and event.snapshot))
