"""The emulated Polygon over real HTTP, driven with raw JSON-RPC and transactions signed by eth-account (the
field's signer, independent of polyinfra's client): wraps, approvals, splits and redeems move the same
balances the CLOB trades against, and the fault knobs behave as a node does."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from eth_account import Account

from polyinfra.core.chain_calls import MAX_UINT256, encode_call
from polyinfra.core.chain_contracts import (
    CTF,
    CTF_COLLATERAL_ADAPTER,
    EXCHANGE_V2,
    NEG_RISK_ADAPTER,
    ONRAMP,
    PUSD,
    USDC_E,
)
from polyinfra.core.chain_events import EVENTS, ChainLog, decode_log
from polyinfra.emulator.faults import FaultConfig
from polyinfra.emulator.rate_limits import RateLimitMode
from polyinfra.emulator.runner import Emulator

KEY = "0x" + "5a" * 32
ZERO32 = "0x" + "00" * 32
GWEI = 10**9


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(markets=3, seed=5, rate=0, faults=FaultConfig(rate_limits=RateLimitMode.OFF)) as running:
        yield running


class Rpc:
    def __init__(self, http: httpx.AsyncClient, url: str) -> None:
        self.http, self.url, self.ids = http, url, itertools.count(1)
        self.account = Account.from_key(KEY)
        self.nonce = 0

    async def call(self, method: str, *params: Any) -> Any:
        body = (
            await self.http.post(
                self.url, json={"jsonrpc": "2.0", "id": next(self.ids), "method": method, "params": list(params)}
            )
        ).json()
        if "error" in body:
            raise RuntimeError(body["error"])
        return body["result"]

    async def send(
        self, to: str, data: bytes, *, tip_gwei: int = 30, fee_gwei: int = 200, nonce: int | None = None
    ) -> str:
        tx = {
            "type": 2,
            "chainId": 137,
            "nonce": self.nonce if nonce is None else nonce,
            "to": to,
            "value": 0,
            "data": data,
            "gas": 400_000,
            "maxPriorityFeePerGas": tip_gwei * GWEI,
            "maxFeePerGas": fee_gwei * GWEI,
        }
        if nonce is None:
            self.nonce += 1
        signed = self.account.sign_transaction(tx)
        return await self.call("eth_sendRawTransaction", "0x" + signed.raw_transaction.hex())

    async def receipt(self, tx_hash: str) -> dict[str, Any] | None:
        return await self.call("eth_getTransactionReceipt", tx_hash)


@pytest.fixture
async def rpc(emulator: Emulator) -> AsyncIterator[Rpc]:
    async with httpx.AsyncClient() as http:
        yield Rpc(http, emulator.urls["rpc"])


def events(receipt: dict[str, Any]) -> list[Any]:
    decoded = []
    for log in receipt["logs"]:
        topics = tuple(bytes.fromhex(topic[2:]) for topic in log["topics"])
        decoded.append(decode_log(ChainLog(log["address"], topics, bytes.fromhex(log["data"][2:]))))
    return decoded


async def test_node_basics(emulator: Emulator, rpc: Rpc) -> None:
    assert await rpc.call("eth_chainId") == "0x89"
    block = await rpc.call("eth_getBlockByNumber", "latest", False)
    assert int(block["baseFeePerGas"], 16) > 0
    assert len(bytes.fromhex(block["extraData"][2:])) > 32
    assert await rpc.call("eth_getCode", CTF, "latest") != "0x"
    batch = (
        await rpc.http.post(
            rpc.url,
            json=[
                {"jsonrpc": "2.0", "id": 7, "method": "eth_blockNumber"},
                {"jsonrpc": "2.0", "id": 8, "method": "nope"},
            ],
        )
    ).json()
    assert batch[0]["id"] == 7 and "result" in batch[0]
    assert batch[1]["error"]["code"] == -32601
    garbage = (await rpc.http.post(rpc.url, content=b"[[[[")).json()
    assert garbage["error"]["code"] == -32700
    bad_tx = (
        await rpc.http.post(
            rpc.url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction", "params": ["0x02c0ffee"]}
        )
    ).json()
    assert bad_tx["error"]["code"] == -32602


async def test_wrap_approve_split_and_the_venue_sees_it(emulator: Emulator, rpc: Rpc) -> None:
    address = rpc.account.address
    funded = (
        await rpc.http.post(
            f"{emulator.urls['rest']}/_emulator/chain/accounts/{address}", json={"usdc_e": "100", "fresh": True}
        )
    ).json()
    assert funded["usdc_e"] == "100000000" and funded["pusd"] == "0"
    balances = emulator.trading.balances
    assert balances.on_chain(address, "").allowances[EXCHANGE_V2] == 0

    # Wrapping before approving the onramp: the node refuses to estimate it, naming the reason.
    wrap = encode_call("wrap(address,address,uint256)", USDC_E, address, 40 * 10**6)
    with pytest.raises(RuntimeError, match="insufficient allowance") as refused:
        await rpc.call("eth_estimateGas", {"from": address, "to": ONRAMP, "data": "0x" + wrap.hex()})
    assert "'code': 3" in str(refused.value)

    approve = await rpc.send(USDC_E, encode_call("approve(address,uint256)", ONRAMP, MAX_UINT256))
    receipt = await rpc.receipt(approve)
    assert receipt is not None and receipt["status"] == "0x1"
    assert events(receipt)[0].event == "Approval"
    receipt = await rpc.receipt(await rpc.send(ONRAMP, wrap))
    assert receipt is not None and receipt["status"] == "0x1"
    assert [e.event for e in events(receipt)] == ["Transfer", "Wrapped", "Transfer"]
    assert balances.collateral(address) == 40 * 10**6
    assert (
        await rpc.call("eth_call", {"to": USDC_E, "data": "0x" + encode_call("balanceOf(address)", address).hex()})
    ) == "0x" + (60 * 10**6).to_bytes(32).hex()

    # An exchange approval on chain is the allowance the venue checks.
    await rpc.send(PUSD, encode_call("approve(address,uint256)", EXCHANGE_V2, 7 * 10**6))
    assert balances.on_chain(address, "").allowances[EXCHANGE_V2] == 7 * 10**6

    market = next(info for info in emulator.exchange.markets.values() if not info.neg_risk)
    yes, no = (token.token_id for token in market.tokens)
    before = balances.shares(address, yes), balances.shares(address, no)
    split = encode_call(
        "splitPosition(address,bytes32,bytes32,uint256[],uint256)", PUSD, ZERO32, market.condition_id, [1, 2], 5 * 10**6
    )
    receipt = await rpc.receipt(await rpc.send(CTF_COLLATERAL_ADAPTER, split))
    assert receipt is not None and receipt["status"] == "0x0"  # no pUSD allowance to the adapter yet
    assert balances.collateral(address) == 40 * 10**6
    await rpc.send(PUSD, encode_call("approve(address,uint256)", CTF_COLLATERAL_ADAPTER, MAX_UINT256))
    receipt = await rpc.receipt(await rpc.send(CTF_COLLATERAL_ADAPTER, split))
    assert receipt is not None and receipt["status"] == "0x1"
    assert "PositionSplit" in [e.event for e in events(receipt)]
    assert balances.collateral(address) == 35 * 10**6
    assert (balances.shares(address, yes), balances.shares(address, no)) == (
        before[0] + 5 * 10**6,
        before[1] + 5 * 10**6,
    )


async def test_redeem_waits_for_resolution_and_pusd_ids_pay_nothing(emulator: Emulator, rpc: Rpc) -> None:
    address = rpc.account.address
    balances = emulator.trading.balances
    market = next(info for info in emulator.exchange.markets.values() if not info.neg_risk)
    yes, no = (token.token_id for token in market.tokens)
    redeem = encode_call(
        "redeemPositions(address,bytes32,bytes32,uint256[])", PUSD, ZERO32, market.condition_id, [1, 2]
    )
    await rpc.send(CTF, encode_call("setApprovalForAll(address,bool)", CTF_COLLATERAL_ADAPTER, True))
    with pytest.raises(RuntimeError, match="result for condition not received yet"):
        await rpc.call("eth_estimateGas", {"from": address, "to": CTF_COLLATERAL_ADAPTER, "data": "0x" + redeem.hex()})
    emulator.exchange.resolve_market(market.condition_id, yes)
    held_yes, pusd = balances.shares(address, yes), balances.collateral(address)
    topic = "0x" + EVENTS["ConditionResolution"].topic0.hex()
    logs = await rpc.call("eth_getLogs", {"fromBlock": "0x0", "address": CTF, "topics": [topic]})
    (resolution,) = [
        decode_log(
            ChainLog(log["address"], tuple(bytes.fromhex(t[2:]) for t in log["topics"]), bytes.fromhex(log["data"][2:]))
        )
        for log in logs
    ]
    assert resolution is not None
    assert resolution.fields["conditionId"] == market.condition_id
    assert resolution.fields["payoutNumerators"] == (1, 0)

    # The trap: the CTF itself, asked with pUSD as collateral, succeeds and pays nothing.
    receipt = await rpc.receipt(await rpc.send(CTF, redeem))
    assert receipt is not None and receipt["status"] == "0x1"
    assert events(receipt)[0].fields["payout"] == 0
    assert balances.shares(address, yes) == held_yes

    receipt = await rpc.receipt(await rpc.send(CTF_COLLATERAL_ADAPTER, redeem))
    assert receipt is not None and receipt["status"] == "0x1"
    assert balances.collateral(address) == pusd + held_yes
    assert balances.shares(address, yes) == balances.shares(address, no) == 0


async def test_fault_knobs(emulator: Emulator, rpc: Rpc) -> None:
    approve = encode_call("approve(address,uint256)", EXCHANGE_V2, 5)
    emulator.chain.knobs.update({"revert_next": 1})
    receipt = await rpc.receipt(await rpc.send(PUSD, approve))
    assert receipt is not None and receipt["status"] == "0x0"
    assert emulator.trading.balances.on_chain(rpc.account.address, "").allowances[EXCHANGE_V2] == MAX_UINT256

    # A tip under the floor sits in the pool; the same nonce at a higher fee replaces it.
    stuck = await rpc.send(PUSD, approve, tip_gwei=1, fee_gwei=40)
    assert await rpc.receipt(stuck) is None
    assert await rpc.call("eth_getTransactionCount", rpc.account.address, "latest") == "0x1"
    assert await rpc.call("eth_getTransactionCount", rpc.account.address, "pending") == "0x2"
    with pytest.raises(RuntimeError, match="underpriced"):
        await rpc.send(PUSD, approve, tip_gwei=1, fee_gwei=41, nonce=1)
    replaced = await rpc.send(PUSD, approve, tip_gwei=30, fee_gwei=100, nonce=1)
    assert (await rpc.receipt(replaced))["status"] == "0x1"  # type: ignore[index]
    assert await rpc.receipt(stuck) is None
    with pytest.raises(RuntimeError, match="nonce too low"):
        await rpc.send(PUSD, approve, nonce=0)

    emulator.chain.knobs.update({"drop_next": 1})
    dropped = await rpc.send(PUSD, approve)
    assert await rpc.receipt(dropped) is None
    assert await rpc.call("eth_getTransactionByHash", dropped) is None

    emulator.chain.knobs.update({"nonce_gap_next": 1})
    assert await rpc.call("eth_getTransactionCount", rpc.account.address, "pending") == "0x3"
    assert await rpc.call("eth_getTransactionCount", rpc.account.address, "pending") == "0x2"

    answer = await rpc.http.post(emulator.urls["rest"] + "/_emulator/chain/faults", json={"revert_next": -1})
    assert answer.status_code == 400
    answer = await rpc.http.post(emulator.urls["rest"] + "/_emulator/chain/faults", json={"drop_next": 2})
    assert answer.json()["drop_next"] == 2


async def test_legacy_neg_risk_adapter_pays_usdc_e(emulator: Emulator, rpc: Rpc) -> None:
    address = rpc.account.address
    await rpc.http.post(f"{emulator.urls['rest']}/_emulator/chain/accounts/{address}", json={"usdc_e": "10"})
    market = next(info for info in emulator.exchange.markets.values() if info.neg_risk)
    yes, no = (token.token_id for token in market.tokens)
    balances = emulator.trading.balances
    before = balances.shares(address, yes), balances.shares(address, no)
    await rpc.send(USDC_E, encode_call("approve(address,uint256)", NEG_RISK_ADAPTER, MAX_UINT256))
    split = await rpc.receipt(
        await rpc.send(NEG_RISK_ADAPTER, encode_call("splitPosition(bytes32,uint256)", market.condition_id, 4 * 10**6))
    )
    assert split is not None and split["status"] == "0x1"
    assert (balances.shares(address, yes), balances.shares(address, no)) == (
        before[0] + 4 * 10**6,
        before[1] + 4 * 10**6,
    )
    usdc_e = "0x" + encode_call("balanceOf(address)", address).hex()
    assert int(await rpc.call("eth_call", {"to": USDC_E, "data": usdc_e}), 16) == 6 * 10**6
    merge = encode_call("mergePositions(bytes32,uint256)", market.condition_id, 4 * 10**6)
    receipt = await rpc.receipt(await rpc.send(NEG_RISK_ADAPTER, merge))
    assert receipt is not None and receipt["status"] == "0x0"  # the adapter is not yet an operator of the wallet
    await rpc.send(CTF, encode_call("setApprovalForAll(address,bool)", NEG_RISK_ADAPTER, True))
    receipt = await rpc.receipt(await rpc.send(NEG_RISK_ADAPTER, merge))
    assert receipt is not None and receipt["status"] == "0x1"
    assert int(await rpc.call("eth_call", {"to": USDC_E, "data": usdc_e}), 16) == 10 * 10**6
