"""Market metadata: what a binary market's two tokens trade under."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from polyinfra.errors import InvalidNumberError, InvalidValueError
from polyinfra.model.ids import ConditionId, TokenId
from polyinfra.model.numbers import TickSize, bounded_decimal

__all__ = ["MAX_FEE_EXPONENT", "FeeSchedule", "MarketInfo", "OutcomeToken"]

MAX_FEE_EXPONENT: Final = 16
"""The venue's fee curves use exponents 1 and 2; a larger one is refused before ``** exponent`` runs."""


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """A market's taker fee curve (2026 rules, venue notes: Fees).

    ``fee = shares * rate * (p * (1 - p)) ** exponent``; makers pay nothing when ``taker_only``.
    The venue sends it in ``/clob-markets`` as ``fd: {r, e, to}``.
    """

    rate: Decimal = Decimal(0)
    exponent: int = 1
    taker_only: bool = True

    def __post_init__(self) -> None:
        """Refuses, with :class:`InvalidNumberError`, a rate outside [0, 1] (or beyond
        :func:`~polyinfra.model.numbers.bounded_decimal`) and an exponent that is not an int in
        [0, :data:`MAX_FEE_EXPONENT`]: every fee is computed from these. An int rate is kept as a Decimal."""
        rate = bounded_decimal(self.rate)
        if not 0 <= rate <= 1:
            raise InvalidNumberError("fee rate is not within [0, 1]", field="rate", value=self.rate)
        object.__setattr__(self, "rate", rate)
        exponent = self.exponent
        if isinstance(exponent, bool) or not isinstance(exponent, int) or not 0 <= exponent <= MAX_FEE_EXPONENT:
            raise InvalidNumberError(
                f"fee exponent must be an int in [0, {MAX_FEE_EXPONENT}]", field="exponent", value=exponent
            )


@dataclass(frozen=True, slots=True)
class OutcomeToken:
    token_id: TokenId
    outcome: str


@dataclass(frozen=True, slots=True)
class MarketInfo:
    """A binary market: two complementary outcome tokens whose prices sum to 1."""

    condition_id: ConditionId
    question: str
    tokens: tuple[OutcomeToken, OutcomeToken]
    tick_size: TickSize
    min_order_size: Decimal
    neg_risk: bool = False
    fee_schedule: FeeSchedule | None = None
    """None when the source did not say (``/markets`` carries no fee curve; ``/clob-markets`` does).
    Never read None as "no fee": fetch the market's ``/clob-markets`` first."""

    def __post_init__(self) -> None:
        """Refuses a minimum order size that is negative or no venue sends
        (:func:`~polyinfra.model.numbers.bounded_decimal`), before an order is checked against it.
        An int is kept as a Decimal."""
        minimum = bounded_decimal(self.min_order_size)
        if minimum < 0:
            raise InvalidNumberError("minimum order size is negative", field="min_order_size", value=minimum)
        object.__setattr__(self, "min_order_size", minimum)

    def complement(self, token: TokenId) -> TokenId:
        """The other outcome's token id (the "No" of a "Yes" and vice versa)."""
        first, second = self.tokens
        if token == first.token_id:
            return second.token_id
        if token == second.token_id:
            return first.token_id
        raise InvalidValueError("token is not part of this market", token_id=token, market=self.condition_id)

    def outcome_of(self, token: TokenId) -> str:
        for candidate in self.tokens:
            if candidate.token_id == token:
                return candidate.outcome
        raise InvalidValueError("token is not part of this market", token_id=token, market=self.condition_id)
