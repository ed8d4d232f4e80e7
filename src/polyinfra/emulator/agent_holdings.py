"""The outcome-token shares the emulator's own traders hold, so that they only sell what they have.

On the venue a SELL needs the shares: the trading API refuses one for more than the wallet holds minus
what its open SELLs already hold, and a trader without them reaches the same side of the Yes-space book
by buying the other outcome (the engine matches that as a mint). The simulator's agents and the crowd
have no API key and no balances, so the trading API's check never sees them, and the matching engine
knows orders, not wallets. :class:`AgentHoldings` keeps the shares of a fixed set of agents from the
exchange's fills, and :meth:`AgentHoldings.placeable` picks how an agent expresses a Yes-space order:
on the token it prefers, unless that is a SELL its free shares do not cover, then as the BUY of the
other token. So an agent's position in a token never goes below zero, as a wallet's never does on
the venue.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from polyinfra.core.matching import Fill
from polyinfra.emulator.exchange import Exchange
from polyinfra.model.ids import TokenId
from polyinfra.model.market import MarketInfo
from polyinfra.model.numbers import MICROS, Side

__all__ = ["AgentHoldings"]


class AgentHoldings:
    """The shares ``owners`` (order owners) hold of each token, from every fill on ``exchange``."""

    def __init__(self, exchange: Exchange, owners: Iterable[str]) -> None:
        self._exchange = exchange
        self._owners = frozenset(owners)
        self._shares: defaultdict[tuple[str, str], int] = defaultdict(int)
        # Never unsubscribed: the agents trade on this exchange for as long as it exists.
        exchange.subscribe_fills(self._on_fills)

    def held(self, owner: str, token_id: str) -> int:
        """The shares of ``token_id`` ``owner`` holds, in micros."""
        return self._shares.get((owner, token_id), 0)

    def free(self, owner: str, token_id: str) -> int:
        """The shares of ``token_id`` ``owner`` may still sell: those held, less what its resting SELLs hold."""
        held = self.held(owner, token_id)
        if held <= 0:
            return held  # nothing to sell, whatever rests: no need to look at the book
        resting = self._exchange.open_orders_in(token_id, owner)
        reserved = sum(order.remaining_micros for order in resting if order.side is Side.SELL)
        return held - reserved

    def placeable(
        self, owner: str, info: MarketInfo, yes_side: Side, yes_price_micros: int, size_micros: int, *, on_no: bool
    ) -> tuple[TokenId, Side, int]:
        """The token, side and price of ``owner``'s Yes-space order of ``size_micros``: on the No token
        (the other side, at 1 - price) when ``on_no``, else on the Yes token; on the other token instead
        when the preferred one would be a SELL of more than the owner's free shares. One of the two is
        always a BUY, so there is always a way."""
        yes, no = info.tokens
        choices = [
            (yes.token_id, yes_side, yes_price_micros),
            (no.token_id, yes_side.opposite, MICROS - yes_price_micros),
        ]
        if on_no:
            choices.reverse()
        token, side, price = choices[0]
        if side is Side.SELL and self.free(owner, token) < size_micros:
            return choices[1]
        return token, side, price

    def _on_fills(self, fills: Sequence[Fill]) -> None:
        for fill in fills:
            for owner, token, side in (
                (fill.taker_owner, fill.taker_token_id, fill.taker_side),
                (fill.maker_owner, fill.maker_token_id, fill.maker_side),
            ):
                if owner in self._owners:
                    self._shares[owner, token] += fill.size_micros if side is Side.BUY else -fill.size_micros
