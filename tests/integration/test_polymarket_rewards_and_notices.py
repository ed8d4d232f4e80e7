"""The facade's rewards, market trades, notifications and closed-only mode, against the emulator
over real sockets, blocking and async: what a bot moving from the official client calls for them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from polyinfra import AsyncPolymarket, OrderRejectedError, Polymarket
from polyinfra.emulator.runner import Emulator
from polyinfra.model.numbers import micros_to_decimal
from tests.integration.trading_steps import empty_market

# Hardhat accounts #1 and #2 (public test keys).
MAKER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
TAKER_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"
NO_ENVIRONMENT: dict[str, str] = {}


async def test_a_fill_shows_in_market_trades_rewards_and_both_wallets_notices(emulator: Emulator) -> None:
    market = empty_market(emulator, rewarded=True)
    program = emulator.rewards.programs[market.condition_id]
    token = market.tokens[0].token_id
    # Still holding the program's minimum size after the 5 shares the taker takes from it.
    size = str(program.min_size_micros // 1_000_000 + 5)
    async with AsyncPolymarket(rest_url=emulator.urls["rest"], environ=NO_ENVIRONMENT) as pm:
        pm.add_wallet("maker", private_key=MAKER_KEY)
        pm.add_wallet("taker", private_key=TAKER_KEY)
        bid = await pm.place_order(token, "BUY", "0.49", size, wallet="maker")
        await pm.place_order(token, "SELL", "0.51", "10", wallet="taker")
        await pm.place_order(token, "SELL", "0.49", "5", wallet="taker")

        (trade,) = await pm.market_trades(market.condition_id)
        assert (trade.side, trade.price, trade.size) == ("SELL", "0.49", "5")
        assert trade.user.address == pm.address("taker")

        programs = [entry.condition_id async for entry in pm.reward_programs()]
        assert market.condition_id in programs
        (rewards,) = await pm.market_rewards(market.condition_id)
        assert rewards.rewards_min_size == micros_to_decimal(program.min_size_micros)

        # The maker's bid was the only qualifying liquidity: it earned the market's whole daily pool.
        (fill,) = await pm.trades(wallet="maker")
        day = datetime.fromtimestamp(int(fill.match_time), tz=UTC).date()
        (earned,) = await pm.earnings(day, wallet="maker")
        assert earned.earnings == micros_to_decimal(program.daily_rate_micros)
        (total,) = await pm.total_earnings(day, wallet="maker")
        assert total.earnings == earned.earnings
        assert await pm.reward_percentages(wallet="maker") == {market.condition_id: Decimal(100)}
        assert await pm.earnings(day, wallet="taker") == []
        assert await pm.orders_scoring([bid.order_id], wallet="maker") == {bid.order_id: True}

        maker_notices = await pm.notifications(wallet="maker")
        assert [(notice.type, notice.payload.order_id) for notice in maker_notices] == [(1, bid.order_id)]
        await pm.drop_notifications([maker_notices[0].id], wallet="maker")
        assert await pm.notifications(wallet="maker") == []
        assert [notice.type for notice in await pm.notifications(wallet="taker")] == [1]


def _closed_only_seen_blocking(rest_url: str, token: str) -> tuple[bool, bool, str]:
    with Polymarket(rest_url=rest_url, private_key=MAKER_KEY, environ=NO_ENVIRONMENT) as pm:
        before = pm.closed_only()
        with httpx.Client(base_url=rest_url) as admin:
            admin.post(f"/_emulator/wallets/{pm.address()}", json={"closed_only": True}).raise_for_status()
        after = pm.closed_only()
        with pytest.raises(OrderRejectedError) as refused:
            pm.place_order(token, "BUY", "0.30", "10")
    return before, after, str(refused.value)


async def test_closed_only_mode_is_reported_and_refuses_buys_blocking(emulator: Emulator) -> None:
    token = empty_market(emulator).tokens[0].token_id
    before, after, refusal = await asyncio.to_thread(_closed_only_seen_blocking, emulator.urls["rest"], token)
    assert (before, after) == (False, True)
    assert "closed only mode" in refusal
