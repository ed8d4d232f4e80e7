"""Steps for the wallet P&L tests: a trader that takes liquidity on the emulator one FAK order at a time and,
as on the venue, never sells more than it holds, on a clock that moves one second an action."""

from __future__ import annotations

import itertools
from typing import Final

from polyinfra.core.matching import Order
from polyinfra.emulator.live.rtds_sources import agent_wallet
from polyinfra.emulator.runner import Emulator
from polyinfra.errors import InvalidValueError
from polyinfra.model.numbers import MICROS, Side
from polyinfra.model.orders import TimeInForce

T0_MS: Final = 1_790_000_000_000
_order_ids = itertools.count(1)


class SteppedClock:
    """Unix milliseconds that move only when :meth:`advance` is called."""

    def __init__(self) -> None:
        self.now_ms = T0_MS

    def __call__(self) -> int:
        return self.now_ms

    def advance(self) -> int:
        """One second on; the new time in seconds."""
        self.now_ms += 1_000
        return self.now_ms // 1000


def held_micros(emulator: Emulator, wallet: str, token_id: str) -> int:
    position = emulator.data_apis.ledger.book(wallet, until_ms=2**62).positions.get(token_id)
    return 0 if position is None else position.size_micros


def take(emulator: Emulator, owner: str, token_id: str, side: Side, shares: int) -> None:
    """``owner`` takes up to ``shares`` at the best opposite level (a sale: at most what it holds); nothing
    when the book has no such level or the size is below the market's minimum."""
    levels = emulator.exchange.levels(token_id)
    opposite = levels.asks if side is Side.BUY else levels.bids
    size = shares * MICROS
    if side is Side.SELL:
        size = min(size, held_micros(emulator, agent_wallet(owner), token_id))
    if not opposite or size <= 0:
        return
    order = Order(
        order_id=f"0x{next(_order_ids):064x}",
        owner=owner,
        token_id=token_id,
        side=side,
        price_micros=opposite[-1].price_micros,
        size_micros=size,
        time_in_force=TimeInForce.FAK,
    )
    try:
        emulator.exchange.place(order)
    except InvalidValueError:
        return  # below the market's minimum size


def trade_script(emulator: Emulator, clock: SteppedClock, owner: str, script: list[tuple[Side, int, int]]) -> list[int]:
    """Run ``script`` (side, outcome index, shares) on the first market, one action a second with a
    simulator step before each (the books refill); returns each action's second."""
    market = next(iter(emulator.exchange.markets.values()))
    seconds = []
    for side, outcome, shares in script:
        emulator.simulator.step()
        seconds.append(clock.advance())
        take(emulator, owner, market.tokens[outcome].token_id, side, shares)
    return seconds
