"""polyinfra's own clients on the account extras, against the emulator over real sockets: reward
programs and trade events (:class:`ClobRestClient` and its blocking twin), and closed-only,
notifications, read-only and builder keys and earnings (:class:`TradingClient`), every number exact."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from polyinfra.clob.rest import ClobRestClient, SyncClobRestClient
from polyinfra.emulator.rewards import PUSD_ADDRESS
from polyinfra.emulator.runner import Emulator
from polyinfra.errors import InvalidValueError
from polyinfra.model.numbers import MICROS, Side, micros_to_decimal
from polyinfra.net.http import HttpTransport
from polyinfra.wire.clob_rewards import RewardsMarket
from tests.integration.trading_steps import empty_market, signed_order, trading_client

SECOND_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"


async def test_reward_programs_and_trade_events(
    emulator: Emulator, transport: HttpTransport, known_secrets: Any
) -> None:
    market = empty_market(emulator, rewarded=True)
    program = emulator.rewards.programs[market.condition_id]
    maker = await trading_client(transport, known_secrets.private_key)
    taker = await trading_client(transport, SECOND_KEY)
    # Still holding the program's minimum after the 5 shares taken from it.
    size = str(program.min_size_micros // MICROS + 5)
    bid = await maker.post_order(signed_order(known_secrets.private_key, market, Side.BUY, "0.49", size))
    await taker.post_order(signed_order(SECOND_KEY, market, Side.SELL, "0.51", "10"))
    await taker.post_order(signed_order(SECOND_KEY, market, Side.SELL, "0.49", "5"))

    async with ClobRestClient(emulator.urls["rest"]) as rest:
        current = [entry async for entry in rest.iter_current_rewards()]
        own = [entry async for entry in rest.iter_market_rewards(market.condition_id)]
        events = await rest.get_market_trade_events(market.condition_id)
        with pytest.raises(InvalidValueError):
            await rest.get_market_trade_events("not a condition id")

    def read_blocking() -> tuple[list[RewardsMarket], int]:
        with SyncClobRestClient(emulator.urls["rest"]) as client:
            return list(client.iter_current_rewards()), len(client.get_market_trade_events(market.condition_id))

    blocking_current, blocking_events = await asyncio.to_thread(read_blocking)
    assert blocking_current == current and blocking_events == len(events) == 1
    assert [entry.condition_id for entry in current] == list(emulator.rewards.programs)
    (listed,) = own
    (config,) = listed.rewards_config
    assert config.rate_per_day == micros_to_decimal(program.daily_rate_micros)
    assert config.total_rewards == config.rate_per_day * 30 and config.asset_address == PUSD_ADDRESS
    assert listed.rewards_min_size == micros_to_decimal(program.min_size_micros)
    assert listed.rewards_max_spread == Decimal(program.max_spread_micros) / 10_000
    prices = [micros_to_decimal(emulator.exchange.display_price(token.token_id)) for token in market.tokens]
    assert [token.price for token in listed.tokens] == prices
    (event,) = events
    assert (event.side, event.price, event.size, event.user.address) == ("SELL", "0.49", "5", taker.address)

    # The maker's bid took the whole day's pool of the market.
    (trade,) = [row async for row in maker.iter_trades()]
    day = datetime.fromtimestamp(int(trade.match_time), tz=UTC).date()
    (earned,) = [row async for row in maker.iter_earnings(day)]
    assert earned.earnings == micros_to_decimal(program.daily_rate_micros) and isinstance(earned.earnings, Decimal)
    (total,) = await maker.get_total_earnings(day)
    assert total.earnings == earned.earnings and total.maker_address == trade.maker_address
    markets = {row.condition_id: row async for row in maker.iter_rewards_markets(day)}
    assert markets[market.condition_id].earning_percentage == 100
    assert await maker.get_reward_percentages() == {market.condition_id: Decimal(100)}
    assert [row async for row in taker.iter_earnings(day)] == []

    # The bid rests within the spread of the 0.49 / 0.51 book with the minimum size: it scores.
    assert await maker.is_order_scoring(bid.order_id) is True
    unknown = "0x" + "ab" * 32
    assert await maker.are_orders_scoring([bid.order_id, unknown]) == {bid.order_id: True, unknown: False}
    assert await taker.is_order_scoring(bid.order_id) is False
    assert [order async for order in maker.iter_pre_migration_orders()] == []


async def test_closed_only_notifications_and_keys(
    emulator: Emulator, transport: HttpTransport, known_secrets: Any
) -> None:
    market = empty_market(emulator, rewarded=True)
    client = await trading_client(transport, known_secrets.private_key)
    assert await client.get_closed_only_mode() is False
    posted = await client.post_order(signed_order(known_secrets.private_key, market, Side.BUY, "0.3", "5"))
    await client.cancel(posted.order_id)
    (cancelled,) = await client.get_notifications()
    assert (cancelled.type, cancelled.payload.order_id, cancelled.payload.remaining_size) == (2, posted.order_id, "5")
    await client.drop_notifications([cancelled.id])
    assert await client.get_notifications() == []
    with pytest.raises(InvalidValueError):
        await client.drop_notifications([])

    readonly = await client.create_readonly_api_key()
    assert await client.get_readonly_api_keys() == [readonly]
    await client.delete_readonly_api_key(readonly)
    assert await client.get_readonly_api_keys() == []

    builder = await client.create_builder_api_key()
    assert builder.secret not in repr(builder) and builder.passphrase not in repr(builder)
    (live,) = await client.get_builder_api_keys()
    assert live.key == builder.key and live.revoked_at is None
    await client.revoke_builder_api_key()
    (revoked,) = await client.get_builder_api_keys()
    assert revoked.revoked_at is not None
