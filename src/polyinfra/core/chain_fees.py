"""Transaction fees on Polygon: what to offer, and what a replacement must offer. Pure.

An EIP-1559 (type 2) transaction offers a tip (``maxPriorityFeePerGas``) and a cap (``maxFeePerGas``); it
pays ``baseFee + min(tip, cap - baseFee)`` per gas. The cap is set to twice the latest base fee plus the
tip, so the transaction stays includable if the base fee doubles while it waits. The tip is what the node
suggests (``eth_maxPriorityFeePerGas``), never below ``min_tip_wei``: Polygon enforces a minimum priority
fee that has moved over time, so it is read from the node rather than hard-coded (venue notes: On chain).

The legacy form (type 0, EIP-155), which the official SDK sends, offers one ``gasPrice``: the node's
``eth_gasPrice``.

A transaction stuck in the pool is replaced by another with the same nonce; nodes accept the replacement
only when both its tip and its cap are at least 10% higher (geth's rule; :data:`REPLACEMENT_BUMP_PERCENT`
adds a margin to that), and a replacement also catches up with the current suggestion if that rose more.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from polyinfra.errors import InvalidValueError

__all__ = ["REPLACEMENT_BUMP_PERCENT", "Fees", "eip1559_fees", "legacy_fees", "replacement_fees"]

REPLACEMENT_BUMP_PERCENT: Final = 13
"""How much more a replacement offers than the transaction it replaces: the nodes' 10% and a margin."""


@dataclass(frozen=True, slots=True)
class Fees:
    """What a transaction offers per gas, in wei: ``max_fee`` and ``max_tip`` (equal to ``gas_price`` for
    the legacy form, where ``legacy`` is True)."""

    max_fee: int
    max_tip: int
    legacy: bool = False

    def worst_case_wei(self, gas: int) -> int:
        """The most the transaction can cost: its gas limit at its cap."""
        return gas * self.max_fee


def eip1559_fees(base_fee_wei: int, suggested_tip_wei: int, *, min_tip_wei: int = 0) -> Fees:
    """A type-2 offer from the latest base fee and the node's suggested tip (module notes)."""
    if base_fee_wei < 0 or suggested_tip_wei < 0 or min_tip_wei < 0:
        raise InvalidValueError("fees are not negative", base_fee_wei=base_fee_wei, tip_wei=suggested_tip_wei)
    tip = max(suggested_tip_wei, min_tip_wei)
    return Fees(max_fee=2 * base_fee_wei + tip, max_tip=tip)


def legacy_fees(gas_price_wei: int) -> Fees:
    """A type-0 offer at the node's gas price."""
    if gas_price_wei < 0:
        raise InvalidValueError("a gas price is not negative", gas_price_wei=gas_price_wei)
    return Fees(max_fee=gas_price_wei, max_tip=gas_price_wei, legacy=True)


def replacement_fees(previous: Fees, current: Fees) -> Fees:
    """What replaces a transaction that offered ``previous``, now that the node suggests ``current``: at least
    :data:`REPLACEMENT_BUMP_PERCENT` more on both tip and cap, and never less than ``current``."""

    def bumped(value: int) -> int:
        return -(-value * (100 + REPLACEMENT_BUMP_PERCENT) // 100)

    tip = max(bumped(previous.max_tip), current.max_tip)
    cap = max(bumped(previous.max_fee), current.max_fee, tip)
    return Fees(max_fee=cap, max_tip=tip if not previous.legacy else cap, legacy=previous.legacy)
