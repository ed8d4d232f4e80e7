"""Which tokens a market's outcomes are: the map wallet analytics needs to read activity rows.

An activity row names a condition and, for trades and per-outcome redeems, a token and an outcome
index; a split or a merge names only the condition. To know which tokens a split created, to mark a
position by its token's price, to find the two sides of a YES/NO pair, and to group exposure by
category, the analytics take a :class:`MarketOutcomes` per condition (built from a Gamma market, the
CLOB's ``/clob-markets`` answer or by hand) collected in a :class:`MarketMap`.

Pure data: no I/O, ids lower case as everywhere else in the domain model.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from polyinfra.errors import InvalidValueError

__all__ = ["MarketMap", "MarketOutcomes"]


@dataclass(frozen=True, slots=True)
class MarketOutcomes:
    """One condition's outcome tokens, by outcome index (index 0 is YES on a binary market)."""

    condition_id: str
    token_ids: tuple[str, ...]
    neg_risk: bool = False
    """Part of a neg-risk event: its NO tokens can be converted into the event's other YES tokens."""
    category: str = ""
    """The market's category (``politics``, ``sports``, ...) for exposure by category; empty when unknown."""
    event_id: str = ""

    def __post_init__(self) -> None:
        """Refuses, with :class:`InvalidValueError`, a market with fewer than two outcomes or a token
        listed twice: every split, merge and netting below counts on one token per outcome."""
        if len(self.token_ids) < 2:
            raise InvalidValueError("a market has at least two outcomes", condition_id=self.condition_id)
        if len(set(self.token_ids)) != len(self.token_ids):
            raise InvalidValueError("an outcome token is listed twice", condition_id=self.condition_id)
        object.__setattr__(self, "condition_id", self.condition_id.lower())


@dataclass(frozen=True, slots=True)
class MarketMap(Mapping[str, MarketOutcomes]):
    """Markets by condition id, with the reverse look-up from a token to its (condition, outcome index)."""

    markets: Mapping[str, MarketOutcomes] = field(default_factory=dict)
    _by_token: Mapping[str, tuple[str, int]] = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def of(cls, markets: Iterable[MarketOutcomes]) -> MarketMap:
        """The map of ``markets``; a condition given twice keeps its last entry."""
        return cls({market.condition_id: market for market in markets})

    def __post_init__(self) -> None:
        by_token: dict[str, tuple[str, int]] = {}
        for market in self.markets.values():
            for index, token_id in enumerate(market.token_ids):
                by_token[token_id] = (market.condition_id, index)
        object.__setattr__(self, "_by_token", by_token)

    def __getitem__(self, condition_id: str) -> MarketOutcomes:
        return self.markets[condition_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self.markets)

    def __len__(self) -> int:
        return len(self.markets)

    def locate(self, token_id: str) -> tuple[str, int] | None:
        """The (condition id, outcome index) of ``token_id``; None for a token of no listed market."""
        return self._by_token.get(token_id)

    def outcome_count(self, condition_id: str) -> int:
        """How many outcomes the condition has: every Polymarket market is binary (a neg-risk event is a
        set of binary markets), so an unlisted condition has two."""
        market = self.markets.get(condition_id)
        return 2 if market is None else len(market.token_ids)

    def token_id(self, condition_id: str, outcome_index: int) -> str | None:
        """The token of one outcome; None when the market is not listed."""
        market = self.markets.get(condition_id)
        if market is None or not 0 <= outcome_index < len(market.token_ids):
            return None
        return market.token_ids[outcome_index]

    def category(self, condition_id: str) -> str:
        """The market's category, empty when unknown."""
        market = self.markets.get(condition_id)
        return "" if market is None else market.category
