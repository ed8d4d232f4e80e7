"""Many simulated traders for the Data API to report on: a crowd of wallets that take liquidity
through the matching engine.

The market simulator trades with a handful of agents; tracking 100 to 1,000 wallets needs that many
wallets with histories. :class:`WalletCrowd` has ``wallets`` members (``crowd-0001``, ...; each
trades from the fixed address :func:`~polyinfra.emulator.live.rtds_sources.agent_wallet` derives
from its name), and each :meth:`WalletCrowd.step` lets one member, drawn from its own
``random.Random(seed)``, take part of the best level of one side of one open market with a FAK
order on either token. It follows the simulator's rule that keeps books two-sided: never the
deepest level of a side, never more than the level holds; and, like every simulated trader, it never
sells shares it does not hold (:class:`~polyinfra.emulator.agent_holdings.AgentHoldings`): a member
without them buys the other outcome instead. Its fills are real fills, so the Data
API, the CLOB's trades and RTDS activity report them like any other.
"""

from __future__ import annotations

import random
from typing import Final

from polyinfra.core.matching import Order
from polyinfra.emulator.agent_holdings import AgentHoldings
from polyinfra.emulator.exchange import Exchange
from polyinfra.errors import InvalidValueError
from polyinfra.model.numbers import Side, to_micros
from polyinfra.model.orders import TimeInForce

__all__ = ["WalletCrowd", "crowd_member"]

_SIZE_STEP_MICROS: Final = 10_000
"""Sizes with two decimals, as the official clients send them."""
_MAX_SIZE_IN_MIN_SIZES: Final = 4


def crowd_member(index: int) -> str:
    """The name (order owner) of the crowd's ``index``-th member, from 1."""
    return f"crowd-{index:04d}"


class WalletCrowd:
    """``wallets`` traders taking liquidity on ``exchange``, one order per :meth:`step`."""

    def __init__(self, exchange: Exchange, *, wallets: int, seed: int) -> None:
        if wallets < 0:
            raise InvalidValueError("the crowd's size must not be negative", wallets=wallets)
        self._exchange = exchange
        self._members = [crowd_member(index) for index in range(1, wallets + 1)]
        self._rng = random.Random(f"crowd:{seed}")
        self._holdings = AgentHoldings(exchange, self._members)

    @property
    def members(self) -> list[str]:
        return list(self._members)

    def step(self) -> None:
        """One member takes from one market (nothing when there is no member or no two-level side)."""
        if not self._members:
            return
        rng = self._rng
        open_markets = [
            info for info in self._exchange.markets.values() if self._exchange.winning_token(info.condition_id) is None
        ]
        if not open_markets:
            return
        info = rng.choice(open_markets)
        levels = self._exchange.levels(info.tokens[0].token_id)
        side = rng.choice((Side.BUY, Side.SELL))
        opposite = levels.asks if side is Side.BUY else levels.bids
        if len(opposite) < 2:
            return  # the deepest level stays
        best = opposite[-1]
        minimum = to_micros(info.min_order_size)
        most = min(best.size_micros, minimum * _MAX_SIZE_IN_MIN_SIZES)
        if most < minimum:
            return
        size = rng.randrange(minimum, most + 1, _SIZE_STEP_MICROS)
        # The same trade may go on the No token (a Yes buy at p is a No sell at 1 - p), and does when
        # the member would otherwise sell Yes shares it does not hold.
        on_no = rng.randrange(2) == 1
        order_id = f"0x{rng.getrandbits(256):064x}"
        owner = rng.choice(self._members)
        token, token_side, price = self._holdings.placeable(owner, info, side, best.price_micros, size, on_no=on_no)
        self._exchange.place(
            Order(
                order_id=order_id,
                owner=owner,
                token_id=token,
                side=token_side,
                price_micros=price,
                size_micros=size,
                time_in_force=TimeInForce.FAK,
            )
        )
