"""The EOA transaction sender against the emulated Polygon: nonces under concurrency, stuck and dropped
transactions, reverts as typed errors, idempotent keys. Polling is driven by an injected sleep."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from polyinfra.chain.sender import TransactionSender
from polyinfra.core.chain_calls import MAX_UINT256, encode_call
from polyinfra.core.chain_contracts import CTF_COLLATERAL_ADAPTER, EXCHANGE_V2, ONRAMP, PUSD, USDC_E
from polyinfra.core.chain_fees import Fees
from polyinfra.core.eip712 import keccak256
from polyinfra.emulator.faults import FaultConfig
from polyinfra.emulator.rate_limits import RateLimitMode
from polyinfra.emulator.runner import Emulator
from polyinfra.errors import TransactionRevertedError, TransactionTimeoutError
from polyinfra.net.json_rpc import JsonRpcClient

HARDHAT_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
KEY = "0x" + "7c" * 32
GWEI = 10**9


async def no_wait(_seconds: float) -> None:
    await asyncio.sleep(0)


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(markets=3, seed=5, rate=0, faults=FaultConfig(rate_limits=RateLimitMode.OFF)) as running:
        yield running


@pytest.fixture
async def rpc(emulator: Emulator) -> AsyncIterator[JsonRpcClient]:
    async with JsonRpcClient(emulator.urls["rpc"]) as client:
        yield client


def sender(rpc: JsonRpcClient, **options: object) -> TransactionSender:
    return TransactionSender(rpc, KEY, poll_interval_s=1.0, receipt_timeout_s=3.0, sleep=no_wait, **options)  # type: ignore[arg-type]


def test_signed_transactions_match_the_vectors() -> None:
    # Venue notes: On chain (the pUSD approve of the exchange, nonce 0, gas 60,000, the Hardhat key).
    signer = TransactionSender(JsonRpcClient("http://127.0.0.1:9/rpc"), HARDHAT_KEY)
    data = encode_call("approve(address,uint256)", EXCHANGE_V2, MAX_UINT256)
    raw = signer._sign(0, PUSD, data, 60_000, Fees(max_fee=100 * GWEI, max_tip=30 * GWEI))
    assert raw.startswith("0x02f8b28189808506fc23ac0085174876e80082ea6094c011a7e12a19f7b1f670d46f03b03f3342e82dfb")
    assert raw.endswith("9831038f9adbcc")
    legacy = signer._sign(0, PUSD, data, 60_000, Fees(max_fee=100 * GWEI, max_tip=100 * GWEI, legacy=True))

    assert (
        keccak256(bytes.fromhex(legacy[2:])).hex() == "974d9704b9c2a1a24f7157d829ac0070900e50df5fd79598328a03e43f6d22bf"
    )
    assert HARDHAT_KEY[2:] not in repr(signer)


async def test_twenty_concurrent_sends_use_each_nonce_once(emulator: Emulator, rpc: JsonRpcClient) -> None:
    eoa = sender(rpc)
    sends = [eoa.send(PUSD, encode_call("approve(address,uint256)", EXCHANGE_V2, amount)) for amount in range(1, 21)]
    results = await asyncio.gather(*sends)
    assert sorted(result.nonce for result in results) == list(range(20))
    assert len({result.tx_hash for result in results}) == 20
    assert await rpc.call("eth_getTransactionCount", eoa.address, "latest") == hex(20)
    assert all(result.events[0].event == "Approval" for result in results)


async def test_stuck_transaction_is_replaced(emulator: Emulator, rpc: JsonRpcClient) -> None:
    eoa = sender(rpc)
    # The floor rises above the tip the node suggests: the first offer sits in the pool, the bumped one passes.
    emulator.chain.knobs.update({"min_priority_fee_gwei": 32})
    result = await eoa.send(PUSD, encode_call("approve(address,uint256)", EXCHANGE_V2, 9))
    assert result.nonce == 0
    assert emulator.trading.balances.on_chain(eoa.address, "").allowances[EXCHANGE_V2] == 9
    # Far above anything the sender bumps to: it gives up with a retriable timeout.
    emulator.chain.knobs.update({"min_priority_fee_gwei": 500})
    with pytest.raises(TransactionTimeoutError) as timed_out:
        await eoa.send(PUSD, encode_call("approve(address,uint256)", EXCHANGE_V2, 10))
    assert timed_out.value.retriable


async def test_dropped_transaction_is_sent_again(emulator: Emulator, rpc: JsonRpcClient) -> None:
    eoa = sender(rpc, legacy=True)
    emulator.chain.knobs.update({"drop_next": 1})
    result = await eoa.send(PUSD, encode_call("approve(address,uint256)", EXCHANGE_V2, 4))
    assert result.nonce == 0
    assert emulator.trading.balances.on_chain(eoa.address, "").allowances[EXCHANGE_V2] == 4


async def test_reverts_are_typed_and_cost_no_nonce(emulator: Emulator, rpc: JsonRpcClient) -> None:
    eoa = sender(rpc)
    wrap = encode_call("wrap(address,address,uint256)", USDC_E, eoa.address, 10**6)
    with pytest.raises(TransactionRevertedError) as refused:
        await eoa.send(ONRAMP, wrap)
    assert refused.value.context["reason"] == "ERC20: insufficient allowance"
    emulator.chain.knobs.update({"revert_next": 1})
    with pytest.raises(TransactionRevertedError):
        await eoa.send(PUSD, encode_call("approve(address,uint256)", CTF_COLLATERAL_ADAPTER, 1))
    ok = await eoa.send(PUSD, encode_call("approve(address,uint256)", CTF_COLLATERAL_ADAPTER, 1))
    assert ok.nonce == 1


async def test_a_key_sends_once(emulator: Emulator, rpc: JsonRpcClient) -> None:
    eoa = sender(rpc)
    data = encode_call("approve(address,uint256)", EXCHANGE_V2, 3)
    first, second = await asyncio.gather(eoa.send(PUSD, data, key="k1"), eoa.send(PUSD, data, key="k1"))
    assert first == second
    assert (await eoa.send(PUSD, data, key="k1")).tx_hash == first.tx_hash
    assert await rpc.call("eth_getTransactionCount", eoa.address, "latest") == "0x1"


async def test_a_nonce_gap_is_filled(emulator: Emulator, rpc: JsonRpcClient) -> None:
    eoa = sender(rpc)
    # The node overstates the pending count once: the first nonce the sender uses leaves 0 unused.
    emulator.chain.knobs.update({"nonce_gap_next": 1})
    result = await eoa.send(PUSD, encode_call("approve(address,uint256)", EXCHANGE_V2, 6))
    assert result.nonce == 1
    assert await rpc.call("eth_getTransactionCount", eoa.address, "latest") == "0x2"
    assert emulator.trading.balances.on_chain(eoa.address, "").allowances[EXCHANGE_V2] == 6


async def test_large_batches_are_split_within_the_node_cap(emulator: Emulator, rpc: JsonRpcClient) -> None:
    # The emulated node, like providers, refuses batches over 100 calls; the client splits them.
    answers = await rpc.batch([("eth_getTransactionCount", (f"0x{index:040x}", "latest")) for index in range(250)])
    assert answers == ["0x0"] * 250
