"""Exact numbers for prices, sizes and amounts.

Inside hot paths a price or a size is an ``int`` of micro-units (10**-6): the venue's
conditional tokens and collateral both have 6 decimals, and every tick size it uses has at most
4, so every venue value fits exactly. At the public API values are ``Decimal``. A venue string is
parsed exactly once, strictly: no float ever sees it.

Dollar amounts from multiplying a price by a size are ints of 10**-12 dollars ("pico-dollars").

Every number is bounded before any arithmetic: no venue price, size or amount reaches
``10**MAX_WHOLE_DIGITS`` units or has more than ``MAX_DECIMAL_PLACES`` decimals, so a hostile
``1e999990`` or a 5,000-digit string is refused by its length or exponent, in constant time, instead
of costing seconds of exact arithmetic (or tripping Python's 4,300-digit ``int()`` limit).
"""

from __future__ import annotations

from decimal import Context, Decimal
from enum import Enum, StrEnum
from functools import lru_cache
from typing import Final

from polyinfra.errors import InvalidNumberError, InvalidTickSizeError

__all__ = [
    "MAX_DECIMAL_PLACES",
    "MAX_NUMBER_CHARS",
    "MAX_TIMESTAMP_DIGITS",
    "MAX_WHOLE_DIGITS",
    "MICROS",
    "PICOS",
    "Side",
    "TickSize",
    "bounded_decimal",
    "decimal_text",
    "format_micros",
    "micros_to_decimal",
    "parse_micros",
    "parse_timestamp",
    "picos_to_decimal",
    "plain_decimal_parts",
    "to_micros",
]

MICROS = 1_000_000
"""Micro-units per unit: prices and sizes are stored as ints of this scale."""

PICOS = MICROS * MICROS
"""Pico-dollars per dollar: price (micros) times size (micros)."""

MAX_WHOLE_DIGITS: Final = 15
"""Digits before the point of any price, size or amount: 10**15 shares or dollars is orders of
magnitude past every market and wallet, and far below where exact arithmetic gets slow."""

MAX_DECIMAL_PLACES: Final = 40
"""Decimals of any number accepted: the venue uses 6, callers may give more to be floored."""

MAX_NUMBER_CHARS: Final = MAX_WHOLE_DIGITS + 1 + MAX_DECIMAL_PLACES
"""The longest number text accepted."""

MAX_TIMESTAMP_DIGITS: Final = 19
"""Unix time in seconds, ms, us or ns: nanoseconds need 19 digits until the year 2286."""

_FRACTION_DIGITS = 6
# Enough precision for any bounded number (15 + 40 digits) and any amount this package computes
# (10**15 shares at 10**-12 resolution), and independent of the thread's default context.
_EXACT = Context(prec=60)
_MICROS_DECIMAL = Decimal(MICROS)
_PICOS_DECIMAL = Decimal(PICOS)

# Venue strings repeat a lot (a book has few distinct prices, round sizes recur), and a dict hit
# is several times cheaper than parsing. Bounded: cleared when full.
_parsed: dict[str, int] = {}
_PARSED_LIMIT = 1 << 16
# An int of at most this many bits may still be below 10**15; one of more bits never is.
_MAX_WHOLE_BITS = (10**MAX_WHOLE_DIGITS).bit_length()


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
    (".48" is a real venue form; "5." is read as 5, as Decimal reads it); bounded as
    :func:`plain_decimal_parts` says. Raises :class:`InvalidNumberError` otherwise.
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
    whole, fraction = plain_decimal_parts(text)
    if len(fraction) > _FRACTION_DIGITS:
        if fraction[_FRACTION_DIGITS:].strip("0"):
            raise InvalidNumberError("more than 6 decimals", value=text)
        fraction = fraction[:_FRACTION_DIGITS]
    return int(whole or "0") * MICROS + (int(fraction.ljust(_FRACTION_DIGITS, "0")) if fraction else 0)


def plain_decimal_parts(text: str) -> tuple[str, str]:
    """The digits before and after the point of a plain decimal string ("0.48" -> ("0", "48")).

    Strict: ASCII digits with at most one ".", no sign, exponent, spaces or underscores; either side
    of the "." may be empty, not both. At most :data:`MAX_WHOLE_DIGITS` before the point and
    :data:`MAX_NUMBER_CHARS` in all, checked first: a longer text is refused by its length alone.
    Raises :class:`InvalidNumberError` otherwise.
    """
    if len(text) > MAX_NUMBER_CHARS:
        raise InvalidNumberError(f"longer than the {MAX_NUMBER_CHARS} characters of any number", value=text)
    whole, _, fraction = text.partition(".")
    if not (
        text.isascii()
        and (whole.isdigit() or (whole == "" and fraction != ""))
        and (fraction == "" or fraction.isdigit())
    ):
        # str.isdigit also rules out "+", "-", "_" and spaces, which int() would accept.
        raise InvalidNumberError("not an exact non-negative decimal", value=text)
    if len(whole) > MAX_WHOLE_DIGITS:
        raise InvalidNumberError(f"more than {MAX_WHOLE_DIGITS} digits before the point", value=text)
    return whole, fraction


def bounded_decimal(value: Decimal | int) -> Decimal:
    """``value`` as a Decimal, when it is finite, below ``10**MAX_WHOLE_DIGITS`` in magnitude and has
    at most :data:`MAX_DECIMAL_PLACES` decimals; :class:`InvalidNumberError` otherwise.

    Only the exponent (an int's bit length) is checked, no arithmetic runs: ``Decimal("1e999990")``
    or ``10**5000`` is refused at once, before any arithmetic could run for minutes on it.
    """
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise InvalidNumberError("expected a Decimal or int", value=value)
    if isinstance(value, int):
        if value.bit_length() > _MAX_WHOLE_BITS:
            raise InvalidNumberError(f"more than {MAX_WHOLE_DIGITS} digits before the point", value=value)
        value = Decimal(value)
    if not value.is_finite():
        raise InvalidNumberError("not a finite decimal", value=value)
    if value.adjusted() >= MAX_WHOLE_DIGITS:
        raise InvalidNumberError(f"more than {MAX_WHOLE_DIGITS} digits before the point", value=value)
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -MAX_DECIMAL_PLACES:
        raise InvalidNumberError(f"more than {MAX_DECIMAL_PLACES} decimals", value=value)
    return value


def parse_timestamp(text: str) -> int | None:
    """A venue timestamp (unix time as decimal ASCII digits) as an int; None when ``text`` is not
    one, including when it is longer than :data:`MAX_TIMESTAMP_DIGITS` (checked before ``int()``)."""
    if 0 < len(text) <= MAX_TIMESTAMP_DIGITS and text.isascii() and text.isdigit():
        return int(text)
    return None


def micros_to_decimal(micros: int) -> Decimal:
    """Micro-units to an exact Decimal with no trailing zeros beyond what is needed (480000 -> 0.48)."""
    return _EXACT.divide(Decimal(micros), _MICROS_DECIMAL)


def picos_to_decimal(picos: int) -> Decimal:
    """Pico-dollars (price micros x size micros) to an exact Decimal amount of dollars."""
    return _EXACT.divide(Decimal(picos), _PICOS_DECIMAL)


def decimal_text(value: Decimal) -> str:
    """``value`` in fixed point, for output: ``str(Decimal)`` switches to exponents for some exact
    values (``1E+1``, ``1E-7``), which scripts reading the output should never have to parse."""
    return format(value, "f")


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
    decimal = bounded_decimal(value)
    # Exact: a bounded number has at most 55 digits, within the context's 60.
    scaled = _EXACT.multiply(decimal, _MICROS_DECIMAL)
    integral = scaled.to_integral_value()
    if scaled != integral:
        raise InvalidNumberError("more than 6 decimals", value=value)
    if scaled < 0:
        raise InvalidNumberError("negative", value=value)
    return int(integral)


class TickSize(Enum):
    """The tick sizes the venue uses, with the rounding precision each implies.

    ``(price, size, amount)`` decimals come from the official clients' ROUNDING_CONFIG
    (venue notes: Amounts); 0.005 and 0.0025 are the CLOB V2 additions.
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
