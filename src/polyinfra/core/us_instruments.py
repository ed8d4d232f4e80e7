"""US exchange instruments: the reference data that turns the venue's int64 prices and quantities into exact decimals.

Every price and quantity on the US exchange's wire is an ``int64`` in units of its instrument, and the
instrument says what a unit is (venue notes: US exchange instruments)::

    price    = px  / price_scale             97 at price_scale 100      -> 0.97
    quantity = qty / fractional_qty_scale    312 at fractional scale 100 -> 3.12 contracts

Both scales are divisors, whatever some of the venue's prose says about decimal places. A price must also
be a whole number of ticks (0.01, 0.005 and 0.001 are in use); an order price off the tick is refused,
never rounded: :meth:`UsInstrument.price_units` raises :class:`TickSizeViolationError`, and a quantity
below the instrument's minimum raises :class:`MinimumSizeError`.

:func:`instrument_from_wire` is the one decoder from the venue's ``Instrument`` message: any message, however
hostile, becomes a :class:`UsInstrument` or a :class:`MalformedMessageError`. The tick size arrives as a
``double``; it is read once through its shortest repr (``0.005``, not 0.005000000000000000104) and must then
be a whole number of price units, so no float reaches a price.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Context, Decimal
from enum import IntEnum
from types import MappingProxyType
from typing import Final

from polyinfra.errors import InvalidNumberError, MalformedMessageError, MinimumSizeError, TickSizeViolationError
from polyinfra.model.numbers import bounded_decimal, plain_decimal_parts
from polyinfra.wire.us.polymarket.v1 import refdata_pb2, types_pb2

__all__ = [
    "MAX_SCALE",
    "UsInstrument",
    "UsInstrumentState",
    "instrument_from_wire",
    "instrument_to_wire",
]

# The venue's scales are 1, 100 and 1000; a million leaves room and keeps every product within int64.
MAX_SCALE: Final = 1_000_000
MAX_SYMBOL_CHARS: Final = 200
MAX_METADATA_ENTRIES: Final = 256
MAX_METADATA_CHARS: Final = 4096
_INT64_MAX: Final = (1 << 63) - 1
_EXACT: Final = Context(prec=60)


class UsInstrumentState(IntEnum):
    """An instrument's trading state; the numbers are the venue's (venue notes: US exchange protos)."""

    CLOSED = 0  # no entry, modification or cancel; no matching
    OPEN = 1  # continuous trading
    PREOPEN = 2  # orders accepted, no matching until the opening auction
    SUSPENDED = 3  # cancels only
    EXPIRED = 4  # resting orders expired; no new ones
    TERMINATED = 5  # book removed, positions closed
    HALTED = 6  # like SUSPENDED, without cancels
    MATCH_AND_CLOSE_AUCTION = 7
    PENDING = 8  # created, not trading yet


@dataclass(frozen=True, slots=True)
class UsInstrument:
    """One US exchange instrument and the exact conversions its scales define.

    ``price_scale`` and ``quantity_scale`` are divisors (``quantity_scale`` is the venue's
    ``fractional_qty_scale``; 1 when the venue leaves it unset). ``tick_size`` and ``minimum_quantity`` are in
    dollars and contracts. ``settlement_price_scale`` divides settlement prices; ``expiration_date`` is None
    when the venue sends none.
    """

    symbol: str
    state: UsInstrumentState
    price_scale: int
    quantity_scale: int
    tick_size: Decimal
    minimum_quantity: Decimal
    description: str = ""
    non_tradable: bool = False
    settlement_currency: str = ""
    settlement_price_scale: int = 0
    expiration_date: date | None = None
    metadata: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def tick_units(self) -> int:
        """The tick in the wire's price units (0.005 at price_scale 1000 -> 5)."""
        return int(self.tick_size * self.price_scale)

    @property
    def minimum_quantity_units(self) -> int:
        """The minimum quantity in the wire's quantity units (0.01 contract at scale 100 -> 1)."""
        return int(self.minimum_quantity * self.quantity_scale)

    def price(self, px: int) -> Decimal:
        """A wire price as an exact Decimal in dollars (97 at price_scale 100 -> 0.97)."""
        return _EXACT.divide(Decimal(px), Decimal(self.price_scale))

    def quantity(self, qty: int) -> Decimal:
        """A wire quantity as an exact Decimal number of contracts (312 at scale 100 -> 3.12)."""
        return _EXACT.divide(Decimal(qty), Decimal(self.quantity_scale))

    def price_units(self, price: Decimal | str | int) -> int:
        """``price`` (dollars) as the wire's int64, exactly; off the tick or finer than the scale is an error."""
        units = _scaled(price, self.price_scale, what="price", symbol=self.symbol)
        if units % self.tick_units != 0:
            raise TickSizeViolationError(
                f"price is not a whole number of {self.symbol}'s ticks",
                symbol=self.symbol,
                price=price,
                tick_size=self.tick_size,
            )
        return units

    def quantity_units(self, quantity: Decimal | str | int) -> int:
        """``quantity`` (contracts) as the wire's int64, exactly; below the minimum or finer than the scale is
        an error."""
        units = _scaled(quantity, self.quantity_scale, what="quantity", symbol=self.symbol)
        if units < self.minimum_quantity_units:
            raise MinimumSizeError(
                f"quantity is below {self.symbol}'s minimum",
                symbol=self.symbol,
                quantity=quantity,
                minimum_quantity=self.minimum_quantity,
            )
        return units


def _scaled(value: Decimal | str | int, scale: int, *, what: str, symbol: str) -> int:
    if isinstance(value, bool) or not isinstance(value, Decimal | str | int):
        raise InvalidNumberError(f"{what} must be a Decimal, str or int (never a float)", symbol=symbol, value=value)
    if isinstance(value, str):
        plain_decimal_parts(value)  # strict syntax and a bounded length before Decimal() sees it
        value = Decimal(value)
    exact = bounded_decimal(value)
    if exact < 0:
        raise InvalidNumberError(f"{what} is negative", symbol=symbol, value=value)
    scaled = _EXACT.multiply(exact, Decimal(scale))
    if scaled != scaled.to_integral_value():
        raise InvalidNumberError(
            f"{what} has more decimals than {symbol}'s scale of {scale} allows", symbol=symbol, value=value
        )
    units = int(scaled)
    if units > _INT64_MAX:
        raise InvalidNumberError(f"{what} does not fit the venue's int64", symbol=symbol, value=value)
    return units


def instrument_from_wire(message: refdata_pb2.Instrument) -> UsInstrument:
    """The venue's ``Instrument`` as a :class:`UsInstrument`; :class:`MalformedMessageError` for anything that
    cannot be one (an empty or oversized symbol, a scale out of range, a tick that is not a whole number of
    price units, an unknown state, an impossible date, oversized metadata)."""
    symbol = message.symbol
    if not symbol or len(symbol) > MAX_SYMBOL_CHARS:
        raise MalformedMessageError("an instrument needs a symbol of 1 to 200 characters", symbol=symbol[:80])
    price_scale = _checked_scale(message.price_scale, "price_scale", symbol)
    # The venue leaves fractional_qty_scale unset on whole-contract instruments.
    quantity_scale = _checked_scale(message.fractional_qty_scale or 1, "fractional_qty_scale", symbol)
    tick_size = _tick_size(message.tick_size, price_scale, symbol)
    if message.minimum_trade_qty < 0:
        raise MalformedMessageError("minimum_trade_qty is negative", symbol=symbol, value=message.minimum_trade_qty)
    try:
        state = UsInstrumentState(message.state)
    except ValueError:
        raise MalformedMessageError("unknown instrument state", symbol=symbol, state=message.state) from None
    settlement_price_scale = message.settlement_price_scale
    if not 0 <= settlement_price_scale <= MAX_SCALE:
        raise MalformedMessageError("settlement_price_scale out of range", symbol=symbol, value=settlement_price_scale)
    if len(message.metadata) > MAX_METADATA_ENTRIES or any(
        len(key) + len(value) > MAX_METADATA_CHARS for key, value in message.metadata.items()
    ):
        raise MalformedMessageError("instrument metadata too large", symbol=symbol)
    return UsInstrument(
        symbol=symbol,
        state=state,
        price_scale=price_scale,
        quantity_scale=quantity_scale,
        tick_size=tick_size,
        # An unset minimum still means at least one unit.
        minimum_quantity=_EXACT.divide(Decimal(max(message.minimum_trade_qty, 1)), Decimal(quantity_scale)),
        description=message.description[:MAX_METADATA_CHARS],
        non_tradable=message.non_tradable,
        settlement_currency=message.settlement_currency[:MAX_SYMBOL_CHARS],
        settlement_price_scale=settlement_price_scale,
        expiration_date=_date(message.expiration_date, symbol) if message.HasField("expiration_date") else None,
        metadata=MappingProxyType(dict(message.metadata)),
    )


def _checked_scale(value: int, name: str, symbol: str) -> int:
    if not 1 <= value <= MAX_SCALE:
        raise MalformedMessageError(f"{name} must be 1 to {MAX_SCALE}", symbol=symbol, value=value)
    return value


def _tick_size(value: float, price_scale: int, symbol: str) -> Decimal:
    if not (math.isfinite(value) and value > 0):
        raise MalformedMessageError("tick_size must be a positive number", symbol=symbol, value=value)
    tick = Decimal(repr(value))
    # Some of the venue's data gives the tick in price units (5 rather than 0.005 at price_scale 1000): a tick
    # of a dollar or more cannot be a price tick of a contract that pays at most a dollar.
    if tick >= 1:
        tick = _EXACT.divide(tick, Decimal(price_scale))
    units = _EXACT.multiply(tick, Decimal(price_scale))
    if units != units.to_integral_value() or units < 1:
        raise MalformedMessageError(
            "tick_size is not a whole number of price units", symbol=symbol, tick_size=value, price_scale=price_scale
        )
    return tick.normalize()


def _date(value: types_pb2.Date, symbol: str) -> date | None:
    if (value.year, value.month, value.day) == (0, 0, 0):
        return None
    try:
        return date(value.year, value.month, value.day)
    except ValueError:
        raise MalformedMessageError(
            "impossible expiration date", symbol=symbol, year=value.year, month=value.month, day=value.day
        ) from None


def instrument_to_wire(instrument: UsInstrument) -> refdata_pb2.Instrument:
    """The venue's ``Instrument`` message for ``instrument`` (the emulator serves these)."""
    expiration = instrument.expiration_date
    return refdata_pb2.Instrument(
        symbol=instrument.symbol,
        # The wire's type is a double; every tick in use has a shortest repr equal to its decimal.
        tick_size=float(instrument.tick_size),
        minimum_trade_qty=instrument.minimum_quantity_units,
        description=instrument.description,
        non_tradable=instrument.non_tradable,
        state=f"INSTRUMENT_STATE_{instrument.state.name}",
        price_scale=instrument.price_scale,
        fractional_qty_scale=instrument.quantity_scale,
        settlement_currency=instrument.settlement_currency,
        settlement_price_scale=instrument.settlement_price_scale,
        expiration_date=(
            types_pb2.Date(year=expiration.year, month=expiration.month, day=expiration.day)
            if expiration is not None
            else None
        ),
        metadata=dict(instrument.metadata),
    )
