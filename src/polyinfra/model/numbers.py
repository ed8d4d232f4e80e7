"""Exact numbers for prices, sizes and amounts.

Inside hot paths a price or a size is an ``int`` of micro-units (10**-6): the venue's
conditional tokens and collateral both have 6 decimals, and every tick size it uses has at most
4, so every venue value fits exactly. At the public API values are ``Decimal``. A venue string is
parsed exactly once, strictly: no float ever sees it.

Dollar amounts from multiplying a price by a size are ints of 10**-12 dollars ("pico-dollars").
"""

from __future__ import annotations

from decimal import Context, Decimal, InvalidOperation
from enum import Enum, StrEnum
from functools import lru_cache

from polyinfra.errors import InvalidNumberError, InvalidTickSizeError

__all__ = [
    "MICROS",
    "PICOS",
    "Side",
    "TickSize",
    "format_micros",
    "micros_to_decimal",
    "parse_micros",
    "picos_to_decimal",
    "to_micros",
]

MICROS = 1_000_000
"""Micro-units per unit: prices and sizes are stored as ints of this scale."""

PICOS = MICROS * MICROS
"""Pico-dollars per dollar: price (micros) times size (micros)."""

_FRACTION_DIGITS = 6
# Enough precision for any amount this package computes (10**15 shares at 10**-12 resolution),
# and independent of whatever the caller did to the thread's default context.
_EXACT = Context(prec=60)
_MICROS_DECIMAL = Decimal(MICROS)
_PICOS_DECIMAL = Decimal(PICOS)

# Venue strings repeat a lot (a book has few distinct prices, round sizes recur), and a dict hit
# is several times cheaper than parsing. Bounded: cleared when full.
_parsed: dict[str, int] = {}
_PARSED_LIMIT = 1 << 16


class Side(StrEnum):
    """Order or book side, as the venue spells it on the wire."""

    BUY = "BUY"
    SELL = "SELL"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


def parse_micros(text: str) -> int:
    """Parse a venue decimal string ("0.48", ".48", "100", "219.217767") into micro-units.

    Strict: ASCII digits with at most one ".", no sign, exponent, spaces or underscores, and no
    non-zero digit beyond the sixth decimal. Either side of the "." may be empty, not both
    (".48" is a real venue form; "5." is read as 5, as Decimal reads it). Raises
    :class:`InvalidNumberError` otherwise.
    """
    cached = _parsed.get(text)
    if cached is not None:
        return cached
    value = _parse_micros_uncached(text)
    if len(_parsed) >= _PARSED_LIMIT:
        _parsed.clear()
    _parsed[text] = value
    return value


def _parse_micros_uncached(text: str) -> int:
    whole, _, fraction = text.partition(".")
    if not (
        text.isascii()
        and (whole.isdigit() or (whole == "" and fraction != ""))
        and (fraction == "" or fraction.isdigit())
    ):
        # str.isdigit also rules out "+", "-", "_" and spaces, which int() would accept.
        raise InvalidNumberError("not an exact non-negative decimal", value=text)
    if len(fraction) > _FRACTION_DIGITS:
        if fraction[_FRACTION_DIGITS:].strip("0"):
            raise InvalidNumberError("more than 6 decimals", value=text)
        fraction = fraction[:_FRACTION_DIGITS]
    return int(whole or "0") * MICROS + (int(fraction.ljust(_FRACTION_DIGITS, "0")) if fraction else 0)


def micros_to_decimal(micros: int) -> Decimal:
    """Micro-units to an exact Decimal with no trailing zeros beyond what is needed (480000 -> 0.48)."""
    return _EXACT.divide(Decimal(micros), _MICROS_DECIMAL)


def picos_to_decimal(picos: int) -> Decimal:
    """Pico-dollars (price micros x size micros) to an exact Decimal amount of dollars."""
    return _EXACT.divide(Decimal(picos), _PICOS_DECIMAL)


@lru_cache(maxsize=1 << 16)
def format_micros(micros: int) -> str:
    """Micro-units to the venue's canonical string: "0.48", "100", "219.217767".

    Cached: the emulator formats the same prices and level sizes for every book event it builds.
    """
    whole, fraction = divmod(micros, MICROS)
    if fraction == 0:
        return str(whole)
    return f"{whole}.{fraction:06d}".rstrip("0")


def to_micros(value: Decimal | str | int) -> int:
    """Convert a public-API value to micro-units, exactly, or raise :class:`InvalidNumberError`.

    Floats are refused on purpose: ``0.58`` as a float is 0.57999..., which is how other clients
    sign wrong amounts.
    """
    if isinstance(value, bool) or not isinstance(value, Decimal | str | int):
        raise InvalidNumberError("expected Decimal, str or int (never float)", value=value)
    if isinstance(value, str):
        return parse_micros(value)
    decimal = Decimal(value)
    if not decimal.is_finite():
        raise InvalidNumberError("not a finite decimal", value=value)
    try:
        scaled = _EXACT.multiply(decimal, _MICROS_DECIMAL)
        integral = scaled.to_integral_value()
    except InvalidOperation as exc:
        raise InvalidNumberError("not a finite decimal", value=value) from exc
    if scaled != integral:
        raise InvalidNumberError("more than 6 decimals", value=value)
    if scaled < 0:
        raise InvalidNumberError("negative", value=value)
    return int(integral)


class TickSize(Enum):
    """The tick sizes the venue uses, with the rounding precision each implies.

    ``(price, size, amount)`` decimals come from the official clients' ROUNDING_CONFIG
    (clob.md §5.4); 0.005 and 0.0025 are the CLOB V2 additions.
    """

    TICK_0_1 = ("0.1", 1, 2, 3)
    TICK_0_01 = ("0.01", 2, 2, 4)
    TICK_0_001 = ("0.001", 3, 2, 5)
    TICK_0_0001 = ("0.0001", 4, 2, 6)
    TICK_0_005 = ("0.005", 3, 2, 5)
    TICK_0_0025 = ("0.0025", 4, 2, 6)

    text: str
    price_decimals: int
    size_decimals: int
    amount_decimals: int
    micros_per_tick: int
    decimal: Decimal

    def __init__(self, text: str, price_decimals: int, size_decimals: int, amount_decimals: int) -> None:
        self.text = text
        self.price_decimals = price_decimals
        self.size_decimals = size_decimals
        self.amount_decimals = amount_decimals
        self.micros_per_tick = _parse_micros_uncached(text)
        self.decimal = Decimal(text)

    def __str__(self) -> str:
        return self.text

    @classmethod
    def parse(cls, value: str | Decimal) -> TickSize:
        """The tick size for "0.01", ".01", "0.010" or Decimal("0.01"); typed error otherwise."""
        try:
            micros = to_micros(value)
        except InvalidNumberError as exc:
            raise InvalidTickSizeError("not a tick size", value=value) from exc
        for tick in cls:
            if tick.micros_per_tick == micros:
                return tick
        raise InvalidTickSizeError("not a tick size the venue uses", value=value, allowed=[tick.text for tick in cls])

    def is_on_grid(self, price_micros: int) -> bool:
        """True when the price is a whole number of ticks strictly inside (0, 1)."""
        return 0 < price_micros < MICROS and price_micros % self.micros_per_tick == 0
