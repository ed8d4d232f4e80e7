"""Build CLOB V2 orders from exact inputs, validated before anything is signed or sent. Pure.

:func:`build_order` turns a trading intent (token, side, price, size or dollars, order type) and a
wallet setup into the :class:`~polyinfra.model.orders.UnsignedOrder` that signing turns into the
venue's ``POST /order`` body. It refuses, with a typed error that names the value and the fix,
every order the venue would refuse for its form (venue notes: Orders, Amounts): price off the tick or out of
range, size below the market's minimum, amounts the venue's precision rules reject, post-only on a
FOK/FAK, a GTD expiring inside the venue's 1-minute threshold, an expiration on an order that does
not rest, a signer that cannot sign for the maker under its signature type (venue notes: Wallets), and, when the
caller knows the balance, an order the wallet cannot pay for. Amounts come from
:mod:`polyinfra.core.order_amounts` (exact; the price is never changed, sizes are floored to the
venue's precision and the result says so).

Salts and timestamps come from an :class:`OrderStamper`, shared by every thread and task of a
process that signs for the same addresses; the wall clock is passed in.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import Final, NamedTuple

from polyinfra.core.order_amounts import (
    OrderAmounts,
    amount_rule_violations,
    decimal_text,
    exact_decimal,
    limit_order_amounts,
    market_order_amounts,
)
from polyinfra.errors import (
    AmountPrecisionError,
    InsufficientBalanceError,
    InvalidOrderError,
    InvalidValueError,
    MinimumSizeError,
)
from polyinfra.model.ids import TokenId
from polyinfra.model.market import MarketInfo
from polyinfra.model.numbers import Side, TickSize, micros_to_decimal
from polyinfra.model.orders import BYTES32_ZERO, SignatureType, TimeInForce, UnsignedOrder

__all__ = [
    "GTD_SECURITY_THRESHOLD_S",
    "SALT_BITS",
    "BuiltOrder",
    "OrderStamp",
    "OrderStamper",
    "build_order",
    "wall_clock_ms",
]

GTD_SECURITY_THRESHOLD_S: Final = 60
"""A GTD order must expire more than this many seconds after now (venue notes: Orders; to expire in 90 s
send ``now + 60 + 30``)."""

SALT_BITS: Final = 53
"""Salts stay below 2**53: the salt is a JSON *number* on the wire (venue notes: Order signing), and parsers
that read JSON numbers as doubles are exact only up to 2**53. (The official salts are < ~1.8e12.)"""

_SALT_MASK: Final = (1 << SALT_BITS) - 1
_UINT256_LIMIT: Final = 1 << 256
_UINT256_DIGITS: Final = len(str(_UINT256_LIMIT - 1))
_HEX: Final = frozenset("0123456789abcdefABCDEF")
_CENT: Final = Decimal("0.01")


class OrderStamp(NamedTuple):
    """The two per-order unique values of a V2 order."""

    salt: int
    timestamp_ms: int


def wall_clock_ms() -> int:
    """The wall clock in unix milliseconds: what callers outside tests give :class:`OrderStamper`.
    Defined here and passed in, never read by the builder itself, so tests can drive time."""
    return time.time_ns() // 1_000_000


class OrderStamper:
    """Salts and timestamps that never repeat within a process, from any number of threads and tasks.

    * ``timestamp_ms`` strictly increases: each stamp takes ``max(clock, previous + 1)``. V2 orders
      carry no nonce; the signed ``timestamp`` is what keeps two otherwise equal orders of one
      address apart (venue notes: Order signing), and many orders can be built in one millisecond. When more
      than 1,000 orders a second are stamped the timestamps run ahead of the clock by the excess
      and fall back to it as soon as the rate drops; a clock stepping backwards is absorbed the
      same way, so a timestamp is never reused.
    * ``salt`` is unique by construction, not by luck: a counter passed through a keyed bijection
      of the 53-bit integers (xor-shifts and odd multiplications, each invertible modulo 2**53).
      Distinct counters give distinct salts for 2**53 orders; the random key (``secrets`` unless a
      test passes one) makes salts unpredictable and different between processes.

    Both values are produced under one :class:`threading.Lock`: the read-modify-write of "previous
    timestamp" must be atomic, CPython offers no compare-and-swap, and the GIL is no guarantee on
    free-threaded builds. The critical section is a few integer operations (well under a
    microsecond, against ~100 us to sign an order), and it never spans an ``await``, so asyncio
    tasks call :meth:`next` directly without blocking their loop.
    """

    __slots__ = ("_clock_ms", "_counter", "_key", "_last_ms", "_lock")

    def __init__(self, clock_ms: Callable[[], int], *, salt_key: int | None = None) -> None:
        """``clock_ms`` reads the wall clock in unix milliseconds (the I/O layer passes
        :func:`wall_clock_ms`); ``salt_key`` fixes the salt sequence for tests."""
        self._clock_ms = clock_ms
        self._key = secrets.randbits(SALT_BITS) if salt_key is None else salt_key & _SALT_MASK
        self._counter = 0
        self._last_ms = 0
        self._lock = threading.Lock()

    def next(self) -> OrderStamp:
        """A fresh (salt, timestamp_ms) pair."""
        now_ms = self._clock_ms()
        with self._lock:
            timestamp_ms = max(now_ms, self._last_ms + 1)
            self._last_ms = timestamp_ms
            counter = self._counter
            self._counter = counter + 1
        return OrderStamp(_scramble((counter + self._key) & _SALT_MASK), timestamp_ms)


def _scramble(value: int) -> int:
    """A bijection of the 53-bit integers that spreads consecutive inputs over the whole range.

    Every step is invertible modulo 2**53 (``x ^ (x >> k)`` for k > 0, and multiplication by an
    odd constant), so distinct inputs always give distinct outputs.
    """
    value ^= value >> 27
    value = (value * 0x1B873593_3A8F3) & _SALT_MASK
    value ^= value >> 29
    value = (value * 0x0CC9E2D5_1F6B5) & _SALT_MASK
    value ^= value >> 31
    return value


@dataclass(frozen=True, slots=True)
class BuiltOrder:
    """An order ready for signing, with what travels next to it in ``POST /order``."""

    order: UnsignedOrder
    time_in_force: TimeInForce
    post_only: bool
    amounts: OrderAmounts
    """What the amounts encode; ``amounts.floored`` says the size was cut to the venue's precision."""


def build_order(
    *,
    token_id: str | int,
    side: Side,
    price: Decimal | str | int,
    maker: str,
    stamper: OrderStamper,
    size: Decimal | str | int | None = None,
    amount: Decimal | str | int | None = None,
    time_in_force: TimeInForce = TimeInForce.GTC,
    post_only: bool = False,
    expiration_s: int = 0,
    market: MarketInfo | None = None,
    tick_size: TickSize | None = None,
    min_order_size: Decimal | str | int | None = None,
    neg_risk: bool | None = None,
    signature_type: SignatureType = SignatureType.EOA,
    signer: str | None = None,
    builder: str = BYTES32_ZERO,
    metadata: str = BYTES32_ZERO,
    balance: Decimal | str | int | None = None,
    floor: bool = True,
) -> BuiltOrder:
    """Validate an order and compute its signed fields.

    * Limit orders (GTC, GTD; optionally ``post_only``) take ``size`` in shares. Market orders
      (FOK, FAK) take ``amount`` in dollars for a BUY and ``size`` in shares for a SELL, and
      ``price`` is their worst acceptable price (see
      :func:`~polyinfra.core.order_amounts.discover_market_price`).
    * The market's rules come from ``market`` or from all three of ``tick_size``,
      ``min_order_size`` and ``neg_risk`` (a fresher tick after a ``tick_size_change``), not both.
    * ``maker`` is the address holding the funds (the funder): the EOA itself for ``EOA``, the
      proxy or Safe for ``POLY_PROXY``/``POLY_GNOSIS_SAFE`` (then ``signer`` is the owning EOA), the
      deposit wallet for ``POLY_1271`` (which is also the signer, venue notes: Order signing).
    * ``balance``, when known, is what the maker spends: pUSD for a BUY, shares of the token for a
      SELL. Fees are charged at match time and are not included (:mod:`polyinfra.core.fees`).
    * ``floor=False`` refuses a size with more than 2 decimals instead of flooring it.
    """
    token = _token_id(token_id)
    tick, minimum, negative_risk = _market_rules(token, market, tick_size, min_order_size, neg_risk)
    signing_address = _signer(signature_type, _address(maker, "maker"), signer)
    builder_code = _bytes32(builder, "builder")
    metadata_value = _bytes32(metadata, "metadata")
    _check_time_in_force(time_in_force, post_only, expiration_s)

    if time_in_force.rests:
        amounts = limit_order_amounts(side, price, _required(size, "size", time_in_force, side), tick, floor=floor)
        if amount is not None:
            raise InvalidOrderError("limit orders take size (shares), not amount", amount=amount)
    elif side is Side.BUY:
        amounts = market_order_amounts(side, price, _required(amount, "amount", time_in_force, side), tick, floor=floor)
        if size is not None:
            raise InvalidOrderError(
                "a market BUY takes amount (dollars to spend), not size; the shares follow from the price",
                size=size,
            )
    else:
        amounts = market_order_amounts(side, price, _required(size, "size", time_in_force, side), tick, floor=floor)
        if amount is not None:
            raise InvalidOrderError("a market SELL takes size (shares to sell), not amount", amount=amount)

    _check_minimum(amounts, minimum)
    broken = amount_rule_violations(
        side, tick, amounts.price_micros, amounts.maker_amount, amounts.taker_amount, market=amounts.market
    )
    if broken:
        # Unreachable by construction; kept because a wrong amount must never reach signing.
        raise AmountPrecisionError(
            "computed amounts break the venue's precision rules: " + "; ".join(broken),
            maker_amount=amounts.maker_amount,
            taker_amount=amounts.taker_amount,
        )
    if balance is not None:
        _check_balance(amounts, exact_decimal(balance, "balance"))

    stamp = stamper.next()
    if time_in_force is TimeInForce.GTD:
        _check_expiration(expiration_s, stamp.timestamp_ms)
    order = UnsignedOrder(
        salt=stamp.salt,
        maker=maker,
        signer=signing_address,
        token_id=token,
        maker_amount=amounts.maker_amount,
        taker_amount=amounts.taker_amount,
        side=side,
        signature_type=signature_type,
        timestamp_ms=stamp.timestamp_ms,
        metadata=metadata_value,
        builder=builder_code,
        expiration_s=expiration_s,
        neg_risk=negative_risk,
    )
    return BuiltOrder(order, time_in_force, post_only, amounts)


def _market_rules(
    token: int,
    market: MarketInfo | None,
    tick_size: TickSize | None,
    min_order_size: Decimal | str | int | None,
    neg_risk: bool | None,
) -> tuple[TickSize, Decimal, bool]:
    explicit = (tick_size, min_order_size, neg_risk)
    if market is not None:
        if any(value is not None for value in explicit):
            raise InvalidValueError("give either market or tick_size/min_order_size/neg_risk, not both")
        market.outcome_of(TokenId(str(token)))  # raises when the token is not one of the market's
        return market.tick_size, market.min_order_size, market.neg_risk
    if tick_size is None or min_order_size is None or neg_risk is None:
        # neg_risk picks the exchange that verifies the signature: guessing it wrong is the classic
        # "invalid signature" (venue notes: Wallets), so it is never defaulted.
        raise InvalidValueError(
            "without market, tick_size, min_order_size and neg_risk are all required",
            tick_size=tick_size,
            min_order_size=min_order_size,
            neg_risk=neg_risk,
        )
    if not isinstance(tick_size, TickSize):
        raise InvalidValueError("tick_size must be a TickSize (TickSize.parse reads venue text)", tick_size=tick_size)
    return tick_size, exact_decimal(min_order_size, "min_order_size"), neg_risk


def _check_time_in_force(time_in_force: TimeInForce, post_only: bool, expiration_s: int) -> None:
    if not isinstance(time_in_force, TimeInForce):
        raise InvalidValueError("time_in_force must be a TimeInForce", time_in_force=time_in_force)
    if isinstance(expiration_s, bool) or not isinstance(expiration_s, int) or not 0 <= expiration_s < _UINT256_LIMIT:
        raise InvalidValueError("expiration_s must be a non-negative int of unix seconds", expiration_s=expiration_s)
    if post_only and not time_in_force.rests:
        raise InvalidOrderError(
            f"post_only is only for GTC or GTD orders; a {time_in_force} order never rests",
            order_type=time_in_force.value,
        )
    if time_in_force is TimeInForce.GTD:
        if expiration_s == 0:
            raise InvalidOrderError("a GTD order needs expiration_s (unix seconds); use GTC for no expiry")
    elif expiration_s != 0:
        raise InvalidOrderError(
            f"expiration_s is only for GTD orders; a {time_in_force} order takes 0",
            order_type=time_in_force.value,
            expiration_s=expiration_s,
        )


def _check_expiration(expiration_s: int, now_ms: int) -> None:
    earliest_s = now_ms // 1000 + GTD_SECURITY_THRESHOLD_S + 1
    if expiration_s < earliest_s:
        raise InvalidOrderError(
            f"GTD expiration {expiration_s} is within the venue's {GTD_SECURITY_THRESHOLD_S} s security "
            f"threshold; use at least {earliest_s} (now + {GTD_SECURITY_THRESHOLD_S} s + the lifetime wanted)",
            expiration_s=expiration_s,
            earliest_s=earliest_s,
        )


def _required(
    value: Decimal | str | int | None, name: str, time_in_force: TimeInForce, side: Side
) -> Decimal | str | int:
    if value is None:
        raise InvalidOrderError(f"a {time_in_force} {side} order needs {name}", order_type=time_in_force.value)
    return value


def _check_minimum(amounts: OrderAmounts, minimum: Decimal) -> None:
    shares = amounts.shares
    if shares >= minimum:
        return
    shown_minimum = decimal_text(minimum)
    if amounts.market and amounts.side is Side.BUY:
        # Dollars that buy the minimum at this price, rounded up to the cent a market BUY can spend.
        dollars = (minimum * amounts.price).quantize(_CENT, rounding=ROUND_CEILING)
        raise MinimumSizeError(
            f"${_at_least_cents(amounts.used)} at {decimal_text(amounts.price)} buys {decimal_text(shares)} shares, "
            f"below the market's minimum order size of {shown_minimum}; spend at least ${_at_least_cents(dollars)}",
            amount=decimal_text(amounts.used),
            size=decimal_text(shares),
            min_order_size=shown_minimum,
        )
    raise MinimumSizeError(
        f"size {decimal_text(shares)} is below the market's minimum order size of {shown_minimum}; "
        f"use at least {shown_minimum} shares",
        size=decimal_text(shares),
        min_order_size=shown_minimum,
    )


def _check_balance(amounts: OrderAmounts, balance: Decimal) -> None:
    needed = micros_to_decimal(amounts.maker_amount)
    if needed <= balance:
        return
    unit = "pUSD" if amounts.side is Side.BUY else "shares"
    raise InsufficientBalanceError(
        f"needs {_at_least_cents(needed)} {unit}, balance {_at_least_cents(balance)}",
        needed=decimal_text(needed),
        balance=decimal_text(balance),
        unit=unit,
    )


def _at_least_cents(value: Decimal) -> str:
    """12.3 -> "12.30", 10 -> "10.00", 1.2345 -> "1.2345": money shown as people read it."""
    text = decimal_text(value)
    whole, _, fraction = text.partition(".")
    return f"{whole}.{fraction.ljust(2, '0')}"


def _signer(signature_type: SignatureType, maker: str, signer: str | None) -> str:
    """The address that signs, per signature type (venue notes: Wallets, Order signing); wrong pairs are the
    "invalid signature", so they are refused here with the fix."""
    if not isinstance(signature_type, SignatureType):
        raise InvalidValueError("signature_type must be a SignatureType", signature_type=signature_type)
    if signature_type in (SignatureType.EOA, SignatureType.POLY_1271):
        if signer is not None and _address(signer, "signer").lower() != maker.lower():
            raise InvalidValueError(
                f"with {signature_type.name} the signer is the maker itself; leave signer unset or "
                f"use POLY_PROXY / POLY_GNOSIS_SAFE when {maker} is a proxy or Safe owned by {signer}",
                maker=maker,
                signer=signer,
            )
        return maker
    if signer is None:
        raise InvalidValueError(
            f"{signature_type.name} orders need signer: the EOA that owns the {signature_type.name} wallet {maker}",
            maker=maker,
        )
    checked = _address(signer, "signer")
    if checked.lower() == maker.lower():
        raise InvalidValueError(
            f"with {signature_type.name} the maker is the proxy/Safe (the funder), not the signing EOA; "
            "pass the wallet as maker, or use EOA when the EOA trades for itself",
            maker=maker,
            signer=signer,
        )
    return checked


def _address(value: str, name: str) -> str:
    if not (isinstance(value, str) and len(value) == 42 and value.startswith("0x") and _HEX.issuperset(value[2:])):
        raise InvalidValueError(f"{name} is not an address (0x + 40 hex digits)", field=name, value=value)
    return value


def _bytes32(value: str, name: str) -> str:
    if not (isinstance(value, str) and len(value) == 66 and value.startswith("0x") and _HEX.issuperset(value[2:])):
        raise InvalidValueError(f"{name} is not a bytes32 (0x + 64 hex digits)", field=name, value=value)
    return value


def _token_id(value: str | int) -> int:
    # Length first: int() of a longer string could only fail, or (past 4,300 digits) raise ValueError.
    if isinstance(value, str) and len(value) <= _UINT256_DIGITS and value.isascii() and value.isdigit():
        number = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raise InvalidValueError("token_id must be a uint256, as a decimal str or an int", token_id=value)
    if not 0 < number < _UINT256_LIMIT:
        raise InvalidValueError("token_id must be a uint256, as a decimal str or an int", token_id=value)
    return number
