"""Neg-risk conversion end to end on the emulated chain, and the CLOB's cache of outcome tokens refreshed after
an operation: NO shares of some questions become exactly as many YES of the others plus pUSD, and shares just
split can be sold at once although the venue's balance cache lags the chain."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from polyinfra.chain.operations import ChainOperations
from polyinfra.chain.sender import TransactionSender
from polyinfra.clob.trading import TradingClient
from polyinfra.core.chain_contracts import NEG_RISK_ADAPTER, NEG_RISK_COLLATERAL_ADAPTER, NO_TOKEN_BURN_ADDRESS
from polyinfra.core.chain_events import decode_log
from polyinfra.core.ctf_positions import binary_positions, neg_risk_condition_id, neg_risk_question_id
from polyinfra.core.eip712 import SigningKey
from polyinfra.emulator.faults import FaultConfig
from polyinfra.emulator.rate_limits import RateLimitMode
from polyinfra.emulator.runner import Emulator
from polyinfra.emulator.simulator import NegRiskEvent
from polyinfra.errors import InvalidValueError, TransactionRevertedError
from polyinfra.model.numbers import MICROS, Side
from polyinfra.net.http import HttpTransport
from polyinfra.net.json_rpc import JsonRpcClient
from polyinfra.obs.redaction import register_secret
from tests.integration.conftest import EmulatorFactory
from tests.integration.trading_steps import signed_order


async def no_wait(_seconds: float) -> None:
    await asyncio.sleep(0)


@pytest.fixture
async def venue(emulator_factory: EmulatorFactory) -> Emulator:
    return await emulator_factory(neg_risk_questions=3, faults=FaultConfig(rate_limits=RateLimitMode.OFF))


@pytest.fixture
async def rpc(venue: Emulator) -> AsyncIterator[JsonRpcClient]:
    async with JsonRpcClient(venue.urls["rpc"]) as client:
        yield client


@pytest.fixture
async def venue_transport(venue: Emulator) -> AsyncIterator[HttpTransport]:
    async with HttpTransport(venue.urls["rest"]) as opened:
        yield opened


def new_key() -> str:
    private_key = "0x" + secrets.token_hex(32)
    register_secret(private_key)
    return private_key


def event_of(venue: Emulator) -> NegRiskEvent:
    assert venue.neg_risk_event is not None
    return venue.neg_risk_event


def test_the_event_carries_the_ids_the_chain_derives(venue: Emulator) -> None:
    event = event_of(venue)
    assert int(event.market_id, 16) & 0xFF == 0
    for index, info in enumerate(event.questions):
        condition = neg_risk_condition_id(neg_risk_question_id(event.market_id, index))
        positions = binary_positions(condition, neg_risk=True)
        assert info.condition_id == condition and info.neg_risk
        assert [token.token_id for token in info.tokens] == [str(positions.yes), str(positions.no)]
        assert venue.exchange.neg_risk_market_id(info.condition_id) == event.market_id
    assert venue.exchange.neg_risk_questions(event.market_id) == tuple(info.condition_id for info in event.questions)
    # Resolved, a question reports the question id its condition is derived from, with the adapter as oracle.
    second = event.questions[1]
    venue.exchange.resolve_market(second.condition_id, second.tokens[1].token_id)
    log = venue.chain.contracts.resolution_log(second.condition_id)
    assert log is not None
    resolution = decode_log(log)
    assert resolution is not None
    assert resolution.fields["questionId"] == neg_risk_question_id(event.market_id, 1)
    assert resolution.fields["oracle"] == NEG_RISK_ADAPTER
    assert list(resolution.fields["payoutNumerators"]) == [0, 1]  # type: ignore[call-overload]


async def test_convert_gives_yes_of_the_others_and_collateral_exactly(venue: Emulator, rpc: JsonRpcClient) -> None:
    eoa = TransactionSender(rpc, new_key(), poll_interval_s=1.0, receipt_timeout_s=5.0, sleep=no_wait)
    refreshed: list[tuple[str, ...]] = []

    async def refresh(tokens: tuple[str, ...]) -> None:
        refreshed.append(tokens)

    ops = ChainOperations(eoa, rpc, refresh=refresh)
    event, balances = event_of(venue), venue.trading.balances
    yes = [info.tokens[0].token_id for info in event.questions]
    no = [info.tokens[1].token_id for info in event.questions]
    for info in event.questions:
        await ops.split(info.condition_id, 10 * MICROS, neg_risk=True)
    before_yes = [balances.shares(eoa.address, token) for token in yes]
    before_no = [balances.shares(eoa.address, token) for token in no]
    pusd, burnt = balances.collateral(eoa.address), balances.shares(NO_TOKEN_BURN_ADDRESS, no[0])

    preview = await ops.convert(event.market_id, 0b011, 4 * MICROS, dry_run=True)
    assert preview.transactions == () and preview.plan.calls[-1].to == NEG_RISK_COLLATERAL_ADAPTER
    assert balances.collateral(eoa.address) == pusd
    converted = await ops.convert(event.market_id, 0b011, 4 * MICROS)
    # NO of questions 0 and 1 given up; YES of question 2 and (2 - 1) x 4 pUSD received.
    assert [balances.shares(eoa.address, token) for token in no] == [
        before_no[0] - 4 * MICROS,
        before_no[1] - 4 * MICROS,
        before_no[2],
    ]
    assert [balances.shares(eoa.address, token) for token in yes] == [
        before_yes[0],
        before_yes[1],
        before_yes[2] + 4 * MICROS,
    ]
    assert balances.collateral(eoa.address) == pusd + 4 * MICROS
    assert balances.shares(NO_TOKEN_BURN_ADDRESS, no[0]) == burnt + 4 * MICROS
    assert "PositionsConverted" in {event.event for event in converted.transactions[-1].events}
    assert set(refreshed[-1]) == {no[0], no[1], yes[2]}

    # A single NO converts into the other YES and no collateral.
    await ops.convert(event.market_id, 0b100, 1 * MICROS)
    assert balances.collateral(eoa.address) == pusd + 4 * MICROS
    assert balances.shares(eoa.address, yes[0]) == before_yes[0] + 1 * MICROS

    with pytest.raises(TransactionRevertedError, match="InvalidIndexSet"):
        await ops.convert(event.market_id, 0b1000, 1 * MICROS)
    with pytest.raises(InvalidValueError):
        await ops.convert(event.market_id, 0, 1 * MICROS)
    with pytest.raises(TransactionRevertedError, match="MarketNotPrepared"):
        await ops.convert("0x" + "ab" * 31 + "00", 0b1, 1 * MICROS)
    with pytest.raises(TransactionRevertedError):
        await ops.convert(event.market_id, 0b001, before_no[0])  # more NO than still held


async def test_freshly_split_shares_sell_at_once_while_the_cache_lags(
    venue: Emulator, rpc: JsonRpcClient, venue_transport: HttpTransport
) -> None:
    private_key = new_key()
    client = TradingClient(venue_transport, SigningKey(private_key))
    await client.create_or_derive_api_key()
    eoa = TransactionSender(rpc, private_key, poll_interval_s=1.0, receipt_timeout_s=5.0, sleep=no_wait)
    ops = ChainOperations(eoa, rpc, refresh=client.refresh_balances)
    market = event_of(venue).questions[0]
    yes = market.tokens[0].token_id
    held = venue.trading.balances.shares(eoa.address, yes)
    venue.faults.stale_balance_cache = True

    await ops.split(market.condition_id, 6 * MICROS, neg_risk=True)
    assert venue.trading.balances.shares(eoa.address, yes) == held + 6 * MICROS
    # Every share held, the six just split included: the venue must have re-read this token.
    order = signed_order(private_key, market, Side.SELL, "0.99", Decimal(held + 6 * MICROS) / MICROS)
    placed = await client.post_order(order)
    assert (placed.success, placed.status) == (True, "live")
