"""The one table from the US exchange's order reject texts to polyinfra's error classes, sans-I/O.

The US exchange refuses orders mostly with reject reason 0 (``EXCHANGE_OPTION``) and a human sentence; the
same matching engine sits behind its FIX, REST and gRPC doors, so the sentences are the same everywhere
(venue notes: US exchange order entry). A caller cannot act on a sentence, so :data:`US_REJECT_RULES` reads
it once: each row is a pattern, the :mod:`polyinfra.errors` class a caller catches, the fix, and what a retry
can achieve (:class:`RejectRetry`). The first row whose pattern is found wins; a text no row knows is a plain
:class:`~polyinfra.errors.OrderRejectedError` that keeps the sentence.

"Global Rate Limit Exceeded" is the one that looks like something it is not: it is the venue's stop-gap
against its own latency on new orders and replaces, not a rate limit, so it is a retriable
:class:`~polyinfra.errors.LatencyStopgapError` (retry at once, no backoff) and never a
:class:`~polyinfra.errors.RateLimitedError` that would slow the caller down.

The formats of :data:`REJECT_TEXTS` are the venue's sentences with their numbers as fields; the emulator
fills them, so the table is tested against the very texts a client meets.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from polyinfra.errors import (
    DuplicateClientOrderIdError,
    GrpcNotFoundError,
    InstrumentNotTradingError,
    InsufficientBalanceError,
    InvalidOrderError,
    LatencyStopgapError,
    MinimumSizeError,
    OrderRejectedError,
    PolyinfraError,
    PriceRangeError,
    RiskCheckError,
    SelfMatchPreventionError,
    TickSizeViolationError,
    UnknownOrderError,
)

__all__ = [
    "MAX_REJECT_TEXT_CHARS",
    "REJECT_TEXTS",
    "US_REJECT_RULES",
    "RejectRetry",
    "UsRejectRule",
    "reject_error",
    "rule_for",
]

MAX_REJECT_TEXT_CHARS: Final = 300
"""Characters of the venue's sentence kept (and searched): a hostile one costs no more than this."""


class RejectRetry(StrEnum):
    """What sending the same order again can achieve."""

    AT_ONCE = "at_once"
    """Nothing was wrong with the order: send it again now, without backoff."""
    AFTER_FIX = "after_fix"
    """The order itself is wrong (price, quantity, funds): change it first."""
    WHEN_OPEN = "when_open"
    """The instrument takes no orders now: wait until its state is OPEN again."""
    NEVER = "never"
    """Sending it again cannot succeed (the id is taken, the order is gone)."""


@dataclass(frozen=True, slots=True)
class UsRejectRule:
    """One row of :data:`US_REJECT_RULES`: ``pattern`` is searched case-insensitively in the venue's text."""

    pattern: str
    error: type[PolyinfraError]
    fix: str
    retry: RejectRetry

    def matches(self, text: str) -> bool:
        return re.search(self.pattern, text, re.IGNORECASE) is not None


REJECT_TEXTS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "low_price_limit": "Low price limit is {limit}, given {given}",
        "high_price_limit": "High price limit is {limit}, given {given}",
        "minimum_quantity": "Minimum trade quantity is {minimum}, given {given}",
        "buying_power": "{available} USD available, requested {requested}",
        "self_match": "Self Match Prevention",
        "duplicate_clord_id": "ClOrdID already in use by an open order",
        "book_not_open": "Book is {state}",
        "risk_check": "failed risk check: {detail}",
        "unknown_order": "Unknown order",
        "tick_size": "Price increment doesn't match tick size",
        "latency_stopgap": "Global Rate Limit Exceeded",
        "unknown_instrument": "instrument does not exist",
        "order_type": "Order type not supported",
    }
)
"""The venue's reject sentences by name, numbers as ``{fields}`` (venue notes: US exchange order entry)."""

# The hints are shown to users, so they name no document.
US_REJECT_RULES: Final[tuple[UsRejectRule, ...]] = (
    UsRejectRule(
        r"global rate limit exceeded",
        LatencyStopgapError,
        "the exchange is shedding new orders while its latency is high; send the order again now (cancels are "
        "never refused this way)",
        RejectRetry.AT_ONCE,
    ),
    UsRejectRule(
        r"^book is [a-z_]+",
        InstrumentNotTradingError,
        "the instrument is not open (closed, suspended, halted, expired); wait for its state to be OPEN",
        RejectRetry.WHEN_OPEN,
    ),
    UsRejectRule(
        r"(low|high) price limit is",
        PriceRangeError,
        "the price is outside the instrument's price limits; quote inside them",
        RejectRetry.AFTER_FIX,
    ),
    UsRejectRule(
        r"minimum trade quantity is",
        MinimumSizeError,
        "the quantity is below the instrument's minimum (in quantity units of its fractional scale)",
        RejectRetry.AFTER_FIX,
    ),
    UsRejectRule(
        r"price increment doesn't match tick size",
        TickSizeViolationError,
        "the price is not a whole number of the instrument's ticks; never round silently, re-read the tick",
        RejectRetry.AFTER_FIX,
    ),
    UsRejectRule(
        r"usd available, requested",
        InsufficientBalanceError,
        "the account's buying power does not cover the order; lower its size or fund the account",
        RejectRetry.AFTER_FIX,
    ),
    UsRejectRule(
        r"self match prevention",
        SelfMatchPreventionError,
        "the order would trade with the firm's own resting order; cancel that one or change the price",
        RejectRetry.AFTER_FIX,
    ),
    UsRejectRule(
        r"clordid already in use",
        DuplicateClientOrderIdError,
        "an open order already has this client order id: it may be the same order sent twice; look it up "
        "(open orders) before sending it under a new id",
        RejectRetry.NEVER,
    ),
    UsRejectRule(
        r"failed risk check",
        RiskCheckError,
        "the exchange's pre-trade risk check refused the order; its detail says which limit",
        RejectRetry.AFTER_FIX,
    ),
    UsRejectRule(
        r"^unknown order",
        UnknownOrderError,
        "the order is not open (filled, cancelled, expired, or never accepted)",
        RejectRetry.NEVER,
    ),
    UsRejectRule(
        r"instrument does not exist",
        GrpcNotFoundError,
        "the exchange does not list this symbol (not every retail market slug exists on the exchange)",
        RejectRetry.NEVER,
    ),
    UsRejectRule(
        r"order type not supported",
        InvalidOrderError,
        "use a limit order with DAY, GTC, IOC or FOK",
        RejectRetry.AFTER_FIX,
    ),
)


def rule_for(text: str) -> UsRejectRule | None:
    """The first rule that reads ``text``, or None."""
    searched = text[:MAX_REJECT_TEXT_CHARS]
    return next((rule for rule in US_REJECT_RULES if rule.matches(searched)), None)


def reject_error(
    text: str,
    *,
    reason: str | None = None,
    symbol: str | None = None,
    clord_id: str | None = None,
    order_id: str | None = None,
) -> PolyinfraError:
    """The typed error for the venue's reject ``text`` (``reason`` is its OrdRejectReason name, if any) of the
    order named by ``symbol``, ``clord_id`` and ``order_id``. Never raises."""
    shown = text[:MAX_REJECT_TEXT_CHARS]
    rule = rule_for(shown)
    error = OrderRejectedError if rule is None else rule.error
    return error(
        f"order rejected: {shown}",
        symbol=symbol,
        clord_id=clord_id,
        order_id=order_id,
        venue_message=shown,
        reject_reason=reason,
        hint=None if rule is None else rule.fix,
        retry=None if rule is None else rule.retry.value,
    )
