"""What a US market-data tape keeps of a subscription, so that replay decodes its updates as live did.

A US update carries prices and quantities in the instrument's integer units, and only the instrument
(fetched through ``ListInstruments`` when the symbol was first subscribed) says what they are worth and
which tick they must sit on. The ``subscribed`` record of source ``us``, channel ``marketdata`` therefore
holds, beside the symbols, each one's scales and tick and the stream's depth and ``unaggregated`` flag:
the whole of what :func:`~polyinfra.core.us_books.decode_update` is given live. Reference data fetched
again at replay time could have changed (or gone) since; the tape must not depend on it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Final

import msgspec

from polyinfra.core.us_books import BookScales, scales_of
from polyinfra.core.us_instruments import UsInstrument, UsInstrumentState
from polyinfra.errors import CorruptRecordError, InvalidValueError
from polyinfra.record.records import Record, decode_stored
from polyinfra.wire.json_decoding import JsonDecoder

__all__ = ["TapeInstrument", "UsSubscription", "decode_subscription"]

_MAX_SYMBOL_CHARS: Final = 200


class TapeInstrument(msgspec.Struct, frozen=True):
    """One subscribed instrument as recorded: its scales, its tick in price units and in dollars."""

    symbol: Annotated[str, msgspec.Meta(min_length=1, max_length=_MAX_SYMBOL_CHARS)]
    price_scale: Annotated[int, msgspec.Meta(ge=1)]
    quantity_scale: Annotated[int, msgspec.Meta(ge=1)]
    tick_units: Annotated[int, msgspec.Meta(ge=1)]
    tick_size: Annotated[str, msgspec.Meta(max_length=40)]

    @classmethod
    def of(cls, instrument: UsInstrument) -> TapeInstrument:
        return cls(
            instrument.symbol,
            instrument.price_scale,
            instrument.quantity_scale,
            instrument.tick_units,
            str(instrument.tick_size),
        )

    def scales(self) -> BookScales:
        """The decoder's conversions; :class:`CorruptRecordError` when no instrument live could have had these."""
        try:
            return scales_of(self.symbol, self.price_scale, self.quantity_scale, self.tick_units)
        except InvalidValueError as exc:
            raise CorruptRecordError("a recorded US instrument's scales cannot be exact", symbol=self.symbol) from exc

    def listed(self) -> UsInstrument:
        """The instrument as reference data lists it when the tape is served: its scales and tick as recorded,
        OPEN (the tape keeps no state but the one each update carries), a minimum of one quantity unit;
        :class:`CorruptRecordError` when no instrument live could have had these."""
        self.scales()
        try:
            tick_size = Decimal(self.tick_size)
            consistent = tick_size.is_finite() and tick_size * self.price_scale == self.tick_units
        except ArithmeticError:
            consistent = False
        if not consistent:
            raise CorruptRecordError("a recorded US instrument's tick contradicts its scale", symbol=self.symbol)
        return UsInstrument(
            symbol=self.symbol,
            state=UsInstrumentState.OPEN,
            price_scale=self.price_scale,
            quantity_scale=self.quantity_scale,
            tick_size=tick_size,
            minimum_quantity=Decimal(1) / self.quantity_scale,
        )


class UsSubscription(msgspec.Struct, frozen=True):
    """The payload of a US ``subscribed`` record."""

    token_ids: list[str] = []
    depth: Annotated[int, msgspec.Meta(ge=1, le=1000)] | None = None
    """None: a tape recorded before subscriptions carried their instruments (it cannot be replayed)."""
    unaggregated: bool = False
    instruments: list[TapeInstrument] = []


_decode: Final[JsonDecoder[UsSubscription]] = JsonDecoder(UsSubscription, what="recorded US subscription")


def decode_subscription(record: Record) -> UsSubscription:
    """A US ``subscribed`` record's payload; :class:`CorruptRecordError` when it does not decode or does
    not say how to decode the updates of every symbol it names."""
    subscription = decode_stored(_decode, record, "a recorded US subscription does not decode")
    if subscription.depth is None or {i.symbol for i in subscription.instruments} != set(subscription.token_ids):
        raise CorruptRecordError(
            "a recorded US subscription does not give its symbols' instruments (recorded by an older polyinfra?)",
            event_id=record.event_id[:100],
        )
    return subscription
