"""End to end against the emulator: a fresh wallet holding only USDC.e cannot buy; approving and wrapping on the
emulated chain is what lets the same order go live; split and merge move pUSD and shares; after the market
resolves, redeem_all pays the winner exactly and the loser nothing."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from polyinfra.chain.operations import ChainOperations, RedeemCandidate
from polyinfra.chain.sender import TransactionSender
from polyinfra.clob.trading import TradingClient
from polyinfra.core.approvals import Intent
from polyinfra.core.chain_contracts import CTF_COLLATERAL_ADAPTER, EXCHANGE_V2, NEG_RISK_COLLATERAL_ADAPTER
from polyinfra.core.eip712 import SigningKey
from polyinfra.emulator.runner import Emulator
from polyinfra.errors import ConditionNotResolvedError, InsufficientBalanceError, TransactionRevertedError
from polyinfra.model.numbers import MICROS, Side
from polyinfra.net.http import HttpTransport
from polyinfra.net.json_rpc import JsonRpcClient
from polyinfra.obs.redaction import register_secret
from tests.integration.trading_steps import empty_market, signed_order


async def no_wait(_seconds: float) -> None:
    await asyncio.sleep(0)


async def test_fresh_wallet_approves_wraps_trades_splits_merges_and_redeems(
    emulator: Emulator, transport: HttpTransport, rpc: JsonRpcClient
) -> None:
    private_key = "0x" + secrets.token_hex(32)
    register_secret(private_key)
    key = SigningKey(private_key)
    answer = await transport.request(
        "POST", f"/_emulator/chain/accounts/{key.address}", json={"usdc_e": "100", "fresh": True}
    )
    assert answer.decode(dict)["pusd"] == "0"
    client = TradingClient(transport, key)
    await client.create_or_derive_api_key()
    market = empty_market(emulator)
    order = signed_order(key, market, Side.BUY, "0.40", "10")
    with pytest.raises(InsufficientBalanceError):
        await client.post_order(order)
    # From here the venue's balance cache lags the chain: only the operations' refresh makes it see them.
    emulator.faults.stale_balance_cache = True

    progress: list[str] = []
    eoa = TransactionSender(rpc, private_key, poll_interval_s=1.0, receipt_timeout_s=5.0, sleep=no_wait)
    ops = ChainOperations(eoa, rpc, refresh=client.refresh_balances, on_progress=progress.append)

    preview = await ops.approve([Intent.TRADE, Intent.TRADE_NEG_RISK], dry_run=True)
    assert preview.transactions == ()
    assert len(preview.plan.calls) == 6  # pUSD and CTF grants to both exchanges and to the legacy adapter
    assert all(call.gas for call in preview.plan.calls)
    approved = await ops.approve([Intent.TRADE, Intent.TRADE_NEG_RISK], key="approve-1")
    assert len(approved.transactions) == 6
    assert (await ops.approve([Intent.TRADE, Intent.TRADE_NEG_RISK])).plan.calls == ()

    wrap_plan = await ops.wrap(50 * MICROS, dry_run=True)
    assert [call.description.split()[0] for call in wrap_plan.plan.calls] == ["approve", "wrap"]
    wrapped = await ops.wrap(50 * MICROS)
    assert len(wrapped.transactions) == 2
    assert emulator.trading.balances.collateral(key.address) == 50 * MICROS
    assert any("mined in block" in line for line in progress)

    live = await client.post_order(order)
    assert (live.success, live.status) == (True, "live")
    await client.cancel(order.order_hash)

    balances = emulator.trading.balances
    yes, no = (token.token_id for token in market.tokens)
    before = balances.shares(key.address, yes), balances.shares(key.address, no)
    split = await ops.split(market.condition_id, 5 * MICROS, neg_risk=market.neg_risk)
    adapter = NEG_RISK_COLLATERAL_ADAPTER if market.neg_risk else CTF_COLLATERAL_ADAPTER
    assert split.plan.calls[0].to != adapter  # the pUSD grant to the adapter came first
    assert balances.collateral(key.address) == 45 * MICROS
    assert (balances.shares(key.address, yes), balances.shares(key.address, no)) == (
        before[0] + 5 * MICROS,
        before[1] + 5 * MICROS,
    )
    await ops.merge(market.condition_id, 3 * MICROS, neg_risk=market.neg_risk)
    assert balances.collateral(key.address) == 48 * MICROS
    assert balances.shares(key.address, yes) == before[0] + 2 * MICROS

    with pytest.raises(ConditionNotResolvedError):
        await ops.redeem(market.condition_id, neg_risk=market.neg_risk)
    emulator.exchange.resolve_market(market.condition_id, yes)
    held_yes, pusd = balances.shares(key.address, yes), balances.collateral(key.address)
    candidates = [
        RedeemCandidate(info.condition_id, info.neg_risk, info.tokens[0].token_id, info.tokens[1].token_id)
        for info in emulator.exchange.markets.values()
    ]
    redeemed = await ops.redeem_all(candidates)
    assert [result.plan.operation for result in redeemed] == ["redeem"]
    assert balances.collateral(key.address) == pusd + held_yes
    assert balances.shares(key.address, yes) == balances.shares(key.address, no) == 0
    assert (await ops.redeem_all(candidates)) == []
    assert balances.on_chain(key.address, "").allowances[EXCHANGE_V2] > 0


async def test_neg_risk_market_goes_through_the_neg_risk_adapter(emulator: Emulator, rpc: JsonRpcClient) -> None:
    private_key = "0x" + secrets.token_hex(32)
    register_secret(private_key)
    eoa = TransactionSender(rpc, private_key, poll_interval_s=1.0, receipt_timeout_s=5.0, sleep=no_wait)
    ops = ChainOperations(eoa, rpc)
    market = next(info for info in emulator.exchange.markets.values() if info.neg_risk)
    balances = emulator.trading.balances
    yes, no = (token.token_id for token in market.tokens)
    pusd, held_no = balances.collateral(eoa.address), balances.shares(eoa.address, no)

    split = await ops.split(market.condition_id, 4 * MICROS, neg_risk=True)
    assert {call.to for call in split.plan.calls} >= {NEG_RISK_COLLATERAL_ADAPTER}
    assert "PositionSplit" in {event.event for event in split.transactions[-1].events}
    assert balances.collateral(eoa.address) == pusd - 4 * MICROS
    # The standard adapter holds no neg-risk positions: a merge there has nothing to burn.
    with pytest.raises(TransactionRevertedError):
        await ops.merge(market.condition_id, 1 * MICROS, neg_risk=False)
    await ops.merge(market.condition_id, 4 * MICROS, neg_risk=True)
    assert balances.collateral(eoa.address) == pusd

    emulator.exchange.resolve_market(market.condition_id, no)
    redeemed = await ops.redeem(market.condition_id, neg_risk=True)
    assert redeemed.transactions
    assert balances.collateral(eoa.address) == pusd + held_no
    assert balances.shares(eoa.address, yes) == 0
