"""The simulated traders' shares: kept from the exchange's fills, less what their resting SELLs hold, and
an order they cannot cover with shares placed as the BUY of the other token instead."""

from __future__ import annotations

from polyinfra.emulator.agent_holdings import AgentHoldings
from polyinfra.emulator.exchange import Exchange
from polyinfra.emulator.simulator import MarketSimulator, generate_markets
from polyinfra.model.numbers import MICROS, Side
from tests.unit.test_exchange import order

T0_MS = 1_750_000_000_000
AGENT = "agent"
OTHER = "counterparty"


def test_a_sell_of_shares_not_held_becomes_the_buy_of_the_other_token() -> None:
    exchange = Exchange(generate_markets(1, seed=1), clock_ms=lambda: T0_MS)
    info = next(iter(exchange.markets.values()))
    yes, no = info.tokens
    holdings = AgentHoldings(exchange, [AGENT])
    assert holdings.placeable(AGENT, info, Side.SELL, 600_000, 10 * MICROS, on_no=False) == (
        no.token_id,
        Side.BUY,
        400_000,
    )
    # The other side of the same choice is a BUY on the preferred token: kept.
    assert holdings.placeable(AGENT, info, Side.SELL, 600_000, 10 * MICROS, on_no=True) == (
        no.token_id,
        Side.BUY,
        400_000,
    )
    assert holdings.placeable(AGENT, info, Side.BUY, 600_000, 10 * MICROS, on_no=True) == (
        yes.token_id,
        Side.BUY,
        600_000,
    )

    exchange.place(order("0x01", yes.token_id, Side.SELL, "0.5", "10", owner=OTHER))
    exchange.place(order("0x02", yes.token_id, Side.BUY, "0.5", "10", owner=AGENT))
    assert holdings.held(AGENT, yes.token_id) == holdings.free(AGENT, yes.token_id) == 10 * MICROS
    assert holdings.held(OTHER, yes.token_id) == 0  # only the agents it was given are kept
    assert holdings.placeable(AGENT, info, Side.SELL, 600_000, 10 * MICROS, on_no=False) == (
        yes.token_id,
        Side.SELL,
        600_000,
    )

    # A resting SELL holds its shares: the rest of them no longer cover another of the same size.
    exchange.place(order("0x03", yes.token_id, Side.SELL, "0.9", "6", owner=AGENT))
    assert holdings.free(AGENT, yes.token_id) == 4 * MICROS
    assert holdings.placeable(AGENT, info, Side.SELL, 600_000, 5 * MICROS, on_no=False)[1] is Side.BUY
    assert holdings.placeable(AGENT, info, Side.SELL, 600_000, 4 * MICROS, on_no=False)[1] is Side.SELL


def test_the_simulators_agents_never_hold_less_than_nothing_nor_rest_sells_they_cannot_cover() -> None:
    exchange = Exchange(generate_markets(3, seed=2), clock_ms=lambda: T0_MS)
    simulator = MarketSimulator(exchange, seed=2)
    agents = ("sim-maker-1", "sim-maker-2", "sim-maker-3", "sim-taker-1", "sim-taker-2", "sim-sweeper")
    observer = AgentHoldings(exchange, agents)
    simulator.seed_books()
    sold = 0
    for _ in range(3_000):
        simulator.step()
        tokens = exchange.tokens()
        for agent in agents:
            for token in tokens:
                assert observer.free(agent, token) >= 0, (agent, token)
        sold += sum(1 for resting in exchange.open_orders() if resting.side is Side.SELL)
    assert sold  # agents do rest SELLs of shares they bought
