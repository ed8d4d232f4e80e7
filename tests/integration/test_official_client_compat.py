"""A bot written for the official ``py-clob-client-v2`` runs unchanged against the emulator.

Every call of the official client a bot makes, over real sockets, each checked for the venue's
shape and for values that follow from what happened: the public reads, the L1 key calls, the L2
account, order, batch, cancel and heartbeat calls, and the account extras (rewards, notifications,
trade events, closed-only, read-only and builder keys). Two wallets trade with each other in a
rewarded market whose book the test controls, so earnings, notifications and trade events are
known exactly. The official client is synchronous: it runs in a thread while the emulator serves.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from py_clob_client_v2 import (
    ApiCreds,
    AssetType,
    BalanceAllowanceParams,
    BookParams,
    ClobClient,
    DropNotificationParams,
    OpenOrderParams,
    OrderArgsV2,
    OrderMarketCancelParams,
    OrderPayload,
    OrderScoringParams,
    OrdersScoringParams,
    PostOrdersV2Args,
    PricesHistoryParams,
    TradeParams,
)
from py_clob_client_v2.exceptions import PolyApiException

from polyinfra.core.order_signing import POLYGON_CHAIN_ID
from polyinfra.emulator.faults import FaultConfig
from polyinfra.emulator.rate_limits import RateLimitMode
from polyinfra.emulator.rewards import PUSD_ADDRESS
from polyinfra.emulator.runner import Emulator
from polyinfra.emulator.trading_api import TradingSettings
from polyinfra.model.numbers import MICROS, format_micros, micros_to_decimal
from tests.integration.trading_steps import WAIT_S, empty_market

# Hardhat account #1: the counterparty of the known test wallet.
SECOND_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
INVALID_API_KEY = {"error": "Unauthorized/Invalid api key"}

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    # Heartbeats never time out here: the test's pace is the machine's, not a deadline's.
    settings = TradingSettings(mined_after_s=0.05, confirmed_after_s=0.1, heartbeat_timeout_s=3_600)
    faults = FaultConfig(rate_limits=RateLimitMode.OFF)
    async with Emulator(markets=6, seed=5, rate=0, trading=settings, faults=faults) as running:
        yield running


def _client(emulator: Emulator, key: str) -> ClobClient:
    client = ClobClient(host=emulator.urls["rest"], chain_id=POLYGON_CHAIN_ID, key=key)
    client.set_api_creds(client.create_or_derive_api_key())
    return client


def _refusal(call: Any) -> tuple[int | None, object]:
    with pytest.raises(PolyApiException) as refused:
        call()
    return refused.value.status_code, refused.value.error_msg


async def test_public_reads(emulator: Emulator) -> None:
    condition, market = next(iter(emulator.exchange.markets.items()))
    first, second = (token.token_id for token in market.tokens)

    def read() -> dict[str, Any]:
        client = ClobClient(host=emulator.urls["rest"], chain_id=POLYGON_CHAIN_ID)
        pair = [BookParams(token_id=first), BookParams(token_id=second)]
        return {
            "ok": client.get_ok(),
            "time": client.get_server_time(),
            "version": client.get_version(),
            "markets": client.get_markets(),
            "market": client.get_market(condition),
            "simplified": client.get_simplified_markets(),
            "sampling": client.get_sampling_markets(),
            "sampling_simplified": client.get_sampling_simplified_markets(),
            "clob_market": client.get_clob_market_info(condition),
            "book": client.get_order_book(first),
            "books": client.get_order_books(pair),
            "tick_size": client.get_tick_size(first),
            "neg_risk": client.get_neg_risk(first),
            "fee_rate": client.get_fee_rate_bps(first),
            "midpoint": client.get_midpoint(first),
            "midpoints": client.get_midpoints(pair),
            "price": client.get_price(first, "BUY"),
            "prices": client.get_prices([BookParams(token_id=first, side="BUY")]),
            "spread": client.get_spread(first),
            "spreads": client.get_spreads(pair),
            "last_trade_price": client.get_last_trade_price(first),
            "last_trades_prices": client.get_last_trades_prices(pair),
            "history": client.get_prices_history(PricesHistoryParams(market=first, interval="max")),
            "current_rewards": client.get_current_rewards(),
            "market_rewards": client.get_raw_rewards_for_market(condition),
            "trade_events": client.get_market_trades_events(condition),
        }

    answers = await asyncio.to_thread(read)
    exchange = emulator.exchange
    bid, ask = exchange.best_bid(first), exchange.best_ask(first)
    assert bid is not None and ask is not None
    assert answers["ok"] == "OK" and isinstance(answers["time"], int) and answers["version"] == 2
    assert len(answers["markets"]["data"]) == len(exchange.markets)
    assert answers["market"]["condition_id"] == condition
    assert answers["simplified"]["data"][0]["condition_id"] == condition
    assert answers["sampling"]["next_cursor"] == "LTE=" and answers["sampling_simplified"]["data"]
    assert [token["t"] for token in answers["clob_market"]["t"]] == [first, second]
    assert answers["book"]["asset_id"] == first and answers["book"]["hash"]
    assert [book["asset_id"] for book in answers["books"]] == [first, second]
    assert answers["tick_size"] == market.tick_size.text and answers["neg_risk"] is market.neg_risk
    assert answers["fee_rate"] in (0, 1000)
    assert answers["midpoint"] == {"mid": format_micros((bid + ask) // 2)}
    assert answers["midpoints"][first] == format_micros((bid + ask) // 2)
    assert answers["price"] == {"price": format_micros(bid)} and answers["prices"] == {
        first: {"BUY": format_micros(bid)}
    }
    assert answers["spread"] == {"spread": format_micros(ask - bid)} and first in answers["spreads"]
    assert answers["last_trade_price"] == {"price": "0.5", "side": ""}
    assert answers["last_trades_prices"] == [
        {"token_id": token, "price": "0.5", "side": ""} for token in (first, second)
    ]
    assert answers["history"] == {"history": []}
    programs = emulator.rewards.programs
    assert [entry["condition_id"] for entry in answers["current_rewards"]] == [
        rewarded for rewarded in exchange.markets if rewarded in programs
    ]
    for entry in answers["current_rewards"]:
        program = programs[entry["condition_id"]]
        (config,) = entry["rewards_config"]
        assert Decimal(str(config["rate_per_day"])) == micros_to_decimal(program.daily_rate_micros)
        assert config["asset_address"] == PUSD_ADDRESS
        assert Decimal(str(entry["rewards_min_size"])) == micros_to_decimal(program.min_size_micros)
        assert Decimal(str(entry["rewards_max_spread"])) * 10_000 == program.max_spread_micros
    if condition in programs:
        (own,) = answers["market_rewards"]
        assert own["condition_id"] == condition and [token["token_id"] for token in own["tokens"]] == [first, second]
    else:
        assert answers["market_rewards"] == []
    # Nothing traded yet.
    assert answers["trade_events"] == []


async def test_trading_account_and_extras(emulator: Emulator, known_secrets: Any) -> None:
    market = empty_market(emulator, rewarded=True)
    condition = market.condition_id
    yes, no = (token.token_id for token in market.tokens)
    program = emulator.rewards.programs[condition]
    # Still resting after the 5 shares taken from it: the open-order list shows it.
    maker_size = program.min_size_micros // MICROS + 5

    def trade() -> dict[str, Any]:
        maker = ClobClient(host=emulator.urls["rest"], chain_id=POLYGON_CHAIN_ID, key=known_secrets.private_key)
        created = maker.create_api_key()
        derived = maker.derive_api_key()
        maker.set_api_creds(created)
        taker = _client(emulator, SECOND_KEY)
        # A two-sided book around 0.50: the maker bids 0.49 within every program's spread.
        bid = maker.post_order(maker.create_order(OrderArgsV2(token_id=yes, price=0.49, size=maker_size, side="BUY")))
        ask = taker.post_order(taker.create_order(OrderArgsV2(token_id=yes, price=0.51, size=10, side="SELL")))
        taken = taker.post_order(taker.create_order(OrderArgsV2(token_id=yes, price=0.49, size=5, side="SELL")))
        deadline = time.monotonic() + WAIT_S
        while any(row["status"] != "CONFIRMED" for row in maker.get_trades()) and time.monotonic() < deadline:
            time.sleep(0.02)
        batch = maker.post_orders(
            [
                PostOrdersV2Args(order=maker.create_order(OrderArgsV2(token_id=yes, price=0.3, size=5, side="BUY"))),
                PostOrdersV2Args(order=maker.create_order(OrderArgsV2(token_id=no, price=0.3, size=5, side="BUY"))),
            ]
        )
        answers: dict[str, Any] = {
            "same_key": (created.api_key, created.api_secret) == (derived.api_key, derived.api_secret),
            "api_keys": maker.get_api_keys(),
            "bid": bid,
            "ask": ask,
            "taken": taken,
            "batch": batch,
            "order": maker.get_order(bid["orderID"]),
            "open": maker.get_open_orders(OpenOrderParams(market=condition)),
            "trades": maker.get_trades(TradeParams(market=condition)),
            "taker_trades": taker.get_trades(),
            "collateral": maker.get_balance_allowance(BalanceAllowanceParams(asset_type=AssetType.COLLATERAL)),
            "refreshed": maker.update_balance_allowance(BalanceAllowanceParams(asset_type=AssetType.COLLATERAL)),
            "closed_only": maker.get_closed_only_mode(),
            "trades_page": maker.get_trades_paginated(TradeParams(market=condition)),
            "pre_migration": maker.get_pre_migration_orders(),
            # The book is two-sided around 0.50: the bid at 0.49 scores, the batch's bid at 0.30 does not.
            "scoring": maker.is_order_scoring(OrderScoringParams(orderId=bid["orderID"])),
            "many_scoring": maker.are_orders_scoring(
                OrdersScoringParams(orderIds=[bid["orderID"], batch[0]["orderID"]])
            ),
            "cancel_one": maker.cancel_order(OrderPayload(orderID=batch[0]["orderID"])),
            "cancel_many": maker.cancel_orders([batch[1]["orderID"]]),
            "cancel_market": taker.cancel_market_orders(OrderMarketCancelParams(market=condition, asset_id=yes)),
            "trade_events": maker.get_market_trades_events(condition),
        }
        day = datetime.fromtimestamp(int(answers["trades"][0]["match_time"]), tz=UTC).date().isoformat()
        answers["day"] = day
        answers["earnings"] = maker.get_earnings_for_user_for_day(day)
        answers["total"] = maker.get_total_earnings_for_user_for_day(day)
        answers["markets_config"] = maker.get_user_earnings_and_markets_config(day)
        answers["percentages"] = maker.get_reward_percentages()
        answers["taker_earnings"] = taker.get_earnings_for_user_for_day(day)
        answers["notifications"] = maker.get_notifications()
        answers["taker_notifications"] = taker.get_notifications()
        answers["dropped"] = maker.drop_notifications(
            DropNotificationParams(ids=[str(item["id"]) for item in answers["notifications"][:1]])
        )
        answers["notifications_after"] = maker.get_notifications()
        first_beat = maker.post_heartbeat()
        answers["heartbeats"] = (first_beat, maker.post_heartbeat(first_beat["heartbeat_id"]))
        post_again = maker.create_order(OrderArgsV2(token_id=yes, price=0.2, size=5, side="BUY"))
        answers["resting_again"] = maker.post_order(post_again)
        answers["cancel_all"] = maker.cancel_all()
        return answers

    answers = await asyncio.to_thread(trade)
    assert answers["same_key"] and len(answers["api_keys"]["apiKeys"]) == 1
    bid_id = answers["bid"]["orderID"]
    assert answers["bid"]["status"] == "live" and answers["ask"]["status"] == "live"
    taken = answers["taken"]
    assert taken["status"] == "matched" and (taken["makingAmount"], taken["takingAmount"]) == ("5", "2.45")
    assert [entry["success"] for entry in answers["batch"]] == [True, True]
    assert answers["order"]["id"] == bid_id and answers["order"]["size_matched"] == "5"
    assert bid_id in {row["id"] for row in answers["open"]}
    (trade,) = answers["trades"]
    assert trade["trader_side"] == "MAKER" and trade["price"] == "0.49" and trade["size"] == "5"
    (taker_trade,) = answers["taker_trades"]
    assert taker_trade["id"] == trade["id"] and taker_trade["trader_side"] == "TAKER"
    assert int(answers["collateral"]["balance"]) > 0 and answers["refreshed"] is None
    assert answers["closed_only"] == {"closed_only": False}
    assert [row["id"] for row in answers["trades_page"]["trades"]] == [trade["id"]]
    assert answers["pre_migration"] == []
    assert answers["scoring"] == {"scoring": True}
    assert answers["many_scoring"] == {bid_id: True, answers["batch"][0]["orderID"]: False}
    assert answers["cancel_one"] == {"canceled": [answers["batch"][0]["orderID"]], "not_canceled": {}}
    assert answers["cancel_many"] == {"canceled": [answers["batch"][1]["orderID"]], "not_canceled": {}}
    assert answers["cancel_market"]["canceled"] == [answers["ask"]["orderID"]]

    # The one trade of the market, from the taker's side.
    (event,) = answers["trade_events"]
    assert event["event_type"] == "trade" and event["market"]["condition_id"] == condition
    assert (event["side"], event["price"], event["size"], event["outcome"]) == ("SELL", "0.49", "5", "Yes")
    assert event["market"]["asset_id"] == yes and event["outcome_index"] == 0

    # The maker's bid was the only qualifying liquidity that day: it earns the whole daily pool.
    maker_address = trade["maker_address"]
    daily = micros_to_decimal(program.daily_rate_micros)
    (earned,) = answers["earnings"]
    assert earned["condition_id"] == condition and earned["date"] == answers["day"]
    assert Decimal(str(earned["earnings"])) == daily and earned["maker_address"] == maker_address
    (total,) = answers["total"]
    assert Decimal(str(total["earnings"])) == daily and total["asset_address"] == PUSD_ADDRESS
    rows = {row["condition_id"]: row for row in answers["markets_config"]}
    assert Decimal(str(rows[condition]["earning_percentage"])) == 100
    assert Decimal(str(rows[condition]["earnings"][0]["earnings"])) == daily
    assert {key: Decimal(str(value)) for key, value in answers["percentages"].items()} == {condition: 100}
    assert answers["taker_earnings"] == []

    # Notifications: the maker's fill, then its two cancels; the taker's fill, then its ask cancelled.
    kinds = [(item["type"], item["payload"]["order_id"]) for item in answers["notifications"]]
    assert kinds == [(1, bid_id), (2, answers["batch"][0]["orderID"]), (2, answers["batch"][1]["orderID"])]
    fill = answers["notifications"][0]["payload"]
    assert (fill["matched_size"], fill["remaining_size"], fill["trade_id"]) == (
        "5",
        format_micros(program.min_size_micros),
        trade["id"],
    )
    assert fill["condition_id"] == condition and fill["price"] == "0.49" and fill["side"] == "BUY"
    taker_kinds = [(item["type"], item["payload"]["order_id"]) for item in answers["taker_notifications"]]
    assert taker_kinds == [(1, taken["orderID"]), (2, answers["ask"]["orderID"])]
    assert answers["dropped"] is None
    assert answers["notifications_after"] == answers["notifications"][1:]

    first_beat, second_beat = answers["heartbeats"]
    assert first_beat["heartbeat_id"] and second_beat["heartbeat_id"] != first_beat["heartbeat_id"]
    assert answers["resting_again"]["status"] == "live"
    assert set(answers["cancel_all"]["canceled"]) == {bid_id, answers["resting_again"]["orderID"]}


async def test_account_keys_and_closed_only(emulator: Emulator, known_secrets: Any) -> None:
    token = next(iter(emulator.exchange.markets.values())).tokens[0].token_id

    def manage_keys() -> dict[str, Any]:
        client = _client(emulator, known_secrets.private_key)
        creds = client.creds
        readonly = client.create_readonly_api_key()
        listed = client.get_readonly_api_keys()
        # A read-only key signs with the key it was made under and reads what that key reads.
        reader = ClobClient(host=emulator.urls["rest"], chain_id=POLYGON_CHAIN_ID, key=known_secrets.private_key)
        reader.set_api_creds(ApiCreds(readonly["apiKey"], creds.api_secret, creds.api_passphrase))
        order = reader.create_order(OrderArgsV2(token_id=token, price=0.01, size=5, side="BUY"))
        answers: dict[str, Any] = {
            "readonly": readonly,
            "listed": listed,
            "reads": reader.get_open_orders(),
            "reader_post": _refusal(lambda: reader.post_order(order)),
            "reader_cancel_all": _refusal(reader.cancel_all),
            "deleted": client.delete_readonly_api_key(readonly["apiKey"]),
            "listed_after": client.get_readonly_api_keys(),
            "reads_after": _refusal(reader.get_open_orders),
            "builder": client.create_builder_api_key(),
            "builders": client.get_builder_api_keys(),
            "revoked": client.revoke_builder_api_key(),
            "builders_after": client.get_builder_api_keys(),
        }
        answers["closed_only"] = client.get_closed_only_mode()
        answers["address"] = client.get_address()
        return answers

    answers = await asyncio.to_thread(manage_keys)
    readonly = answers["readonly"]["apiKey"]
    assert answers["listed"] == [readonly] and answers["reads"] == []
    assert answers["reader_post"] == (401, INVALID_API_KEY)
    assert answers["reader_cancel_all"] == (401, INVALID_API_KEY)
    assert answers["deleted"] == "OK" and answers["listed_after"] == []
    assert answers["reads_after"] == (401, INVALID_API_KEY)
    builder = answers["builder"]
    assert set(builder) == {"key", "secret", "passphrase"}
    (listed,) = answers["builders"]
    assert listed["key"] == builder["key"] and listed["revoked_at"] is None and listed["created_at"].endswith("Z")
    assert answers["revoked"] == "OK"
    (revoked,) = answers["builders_after"]
    assert revoked["key"] == builder["key"] and revoked["revoked_at"] is not None
    assert answers["closed_only"] == {"closed_only": False}

    # The emulator's control route turns closed-only mode on for the account.
    async with httpx.AsyncClient(base_url=emulator.urls["rest"]) as http:
        response = await http.post(f"/_emulator/wallets/{answers['address']}", json={"closed_only": True})
    assert response.status_code == 200 and response.json()["closed_only"] is True

    def closed_only_then_delete_key() -> dict[str, Any]:
        client = _client(emulator, known_secrets.private_key)
        buy = client.create_order(OrderArgsV2(token_id=token, price=0.01, size=5, side="BUY"))
        sell = client.create_order(OrderArgsV2(token_id=token, price=0.99, size=5, side="SELL"))
        return {
            "mode": client.get_closed_only_mode(),
            "buy": _refusal(lambda: client.post_order(buy)),
            "sell": client.post_order(sell),
            "cancel_all": client.cancel_all(),
            "deleted": client.delete_api_key(),
            "after": _refusal(client.get_api_keys),
        }

    closed = await asyncio.to_thread(closed_only_then_delete_key)
    assert closed["mode"] == {"closed_only": True}
    # Closed-only accounts only reduce positions: buying is refused, selling and cancelling are not.
    assert closed["buy"] == (400, {"error": f"'{answers['address']}' address in closed only mode"})
    assert closed["sell"]["status"] == "live" and closed["cancel_all"]["canceled"] == [closed["sell"]["orderID"]]
    assert closed["deleted"] == "OK" and closed["after"] == (401, INVALID_API_KEY)
