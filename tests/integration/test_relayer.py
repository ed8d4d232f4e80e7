"""Gasless operations end to end against the emulator's relayer: a Safe (builder API key) and a deposit wallet
(relayer API key) approve, wrap, split, merge and redeem; FAILED and INVALID surface as typed errors; a wrong
signature is refused by the wallet on chain; the relayer's 429 and the daily quota are honoured."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from polyinfra.chain import relayer as relayer_module
from polyinfra.chain.operations import ChainOperations
from polyinfra.chain.relayer import RelayerApiKey, RelayerSender, WalletType
from polyinfra.core.approvals import Intent
from polyinfra.core.auth_headers import ApiCredentials
from polyinfra.core.chain_calls import encode_call
from polyinfra.core.chain_contracts import PUSD, USDC_E
from polyinfra.core.eip712 import SigningKey
from polyinfra.core.relayer_signing import Call, sign_safe
from polyinfra.emulator.runner import Emulator
from polyinfra.errors import (
    RateLimitedError,
    RelayedTransactionFailedError,
    RelayedTransactionInvalidError,
    RelayerNonceMismatchError,
    TransactionTimeoutError,
)
from polyinfra.model.numbers import MICROS
from polyinfra.net.http import HttpTransport
from polyinfra.net.json_rpc import JsonRpcClient
from polyinfra.net.retry import RetryPolicy
from polyinfra.obs.redaction import Secret, register_secret
from tests.integration.trading_steps import empty_market


async def no_wait(_seconds: float) -> None:
    await asyncio.sleep(0)


async def builder_credentials(transport: HttpTransport) -> ApiCredentials:
    issued = (await transport.request("POST", "/_emulator/relayer/builder-keys")).decode(dict)
    return ApiCredentials(issued["key"], issued["secret"], issued["passphrase"])


async def relayer_key(transport: HttpTransport, address: str) -> RelayerApiKey:
    issued = (await transport.request("POST", f"/_emulator/relayer/api-keys/{address}")).decode(dict)
    return RelayerApiKey(Secret(issued["apiKey"]), issued["address"])


def new_key() -> str:
    private_key = "0x" + secrets.token_hex(32)
    register_secret(private_key)
    return private_key


def relayer_sender(
    emulator: Emulator, rpc: JsonRpcClient, private_key: str, wallet_type: WalletType, auth: object, **options: object
) -> RelayerSender:
    return RelayerSender(
        emulator.urls["relayer"],
        rpc,
        private_key,
        wallet_type=wallet_type,
        auth=auth,  # type: ignore[arg-type]
        **({"poll_interval_s": 0.0, "max_polls": 10, "retry": RetryPolicy(max_attempts=1), "sleep": no_wait} | options),
    )


async def fund(transport: HttpTransport, address: str) -> None:
    await transport.request("POST", f"/_emulator/chain/accounts/{address}", json={"usdc_e": "100", "fresh": True})


@pytest.mark.parametrize("wallet_type", [WalletType.SAFE, WalletType.DEPOSIT])
async def test_gasless_approve_wrap_split_merge_redeem(
    emulator: Emulator, transport: HttpTransport, rpc: JsonRpcClient, wallet_type: WalletType
) -> None:
    private_key = new_key()
    owner = SigningKey(private_key).address
    auth = (
        await builder_credentials(transport) if wallet_type is WalletType.SAFE else await relayer_key(transport, owner)
    )
    sender = relayer_sender(emulator, rpc, private_key, wallet_type, auth)
    assert sender.address != owner
    await fund(transport, sender.address)
    assert not await sender.deployed()
    assert await sender.deploy() is not None
    assert await sender.deployed()
    assert await sender.deploy() is None

    progress: list[str] = []
    ops = ChainOperations(sender, rpc, on_progress=progress.append)
    approved = await ops.approve([Intent.TRADE], key="approve")
    assert approved.transactions and all(t.tx_hash for t in approved.transactions)
    assert (await ops.approve([Intent.TRADE])).plan.calls == ()

    contracts = emulator.chain.contracts
    owner_pusd = contracts.balance_of(PUSD, owner)
    await ops.wrap(50 * MICROS)
    assert contracts.balance_of(PUSD, sender.address) == 50 * MICROS
    assert contracts.balance_of(USDC_E, sender.address) == 50 * MICROS
    assert contracts.balance_of(PUSD, owner) == owner_pusd  # the wallet holds the funds, not its owner

    market = empty_market(emulator)
    balances = emulator.trading.balances
    yes, no = (token.token_id for token in market.tokens)
    shares_before = balances.shares(sender.address, yes), balances.shares(sender.address, no)
    split = await ops.split(market.condition_id, 5 * MICROS, neg_risk=market.neg_risk)
    assert "PositionSplit" in {event.event for event in split.transactions[-1].events}
    assert (balances.shares(sender.address, yes), balances.shares(sender.address, no)) == (
        shares_before[0] + 5 * MICROS,
        shares_before[1] + 5 * MICROS,
    )
    await ops.merge(market.condition_id, 3 * MICROS, neg_risk=market.neg_risk)
    assert balances.collateral(sender.address) == 48 * MICROS

    emulator.exchange.resolve_market(market.condition_id, yes)
    held_yes = balances.shares(sender.address, yes)
    await ops.redeem(market.condition_id, neg_risk=market.neg_risk)
    assert balances.collateral(sender.address) == 48 * MICROS + held_yes  # the winner paid exactly, the loser 0
    assert balances.shares(sender.address, yes) == balances.shares(sender.address, no) == 0
    assert any("mined in block" in line for line in progress)
    await sender.aclose()


async def test_one_relayed_transaction_batches_several_calls(
    emulator: Emulator, transport: HttpTransport, rpc: JsonRpcClient
) -> None:
    private_key = new_key()
    sender = relayer_sender(emulator, rpc, private_key, WalletType.SAFE, await builder_credentials(transport))
    await sender.deploy()
    approve = bytes.fromhex("095ea7b3") + bytes(12) + bytes.fromhex(USDC_E[2:]) + (7).to_bytes(32)
    before = emulator.chain.block_number
    calls = [Call(PUSD, approve), Call(USDC_E, approve)]
    sent = await sender.send_calls(calls, key="grants")
    assert await sender.send_calls(calls, key="grants") == sent  # the same key is never submitted twice
    assert emulator.chain.block_number == before + 1
    assert [event.event for event in sent.events] == ["Approval", "Approval"]
    await sender.aclose()


async def test_failed_and_invalid_are_typed_errors(
    emulator: Emulator, transport: HttpTransport, rpc: JsonRpcClient
) -> None:
    sender = relayer_sender(emulator, rpc, new_key(), WalletType.SAFE, await builder_credentials(transport))
    await sender.deploy()
    ops = ChainOperations(sender, rpc)
    await transport.request("POST", "/_emulator/relayer/faults", json={"fail_next": 1})
    with pytest.raises(RelayedTransactionFailedError) as failed:
        await ops.approve([Intent.TRADE])
    assert failed.value.context["state"] == "STATE_FAILED"
    assert not isinstance(failed.value, RelayedTransactionInvalidError)
    await transport.request("POST", "/_emulator/relayer/faults", json={"invalid_next": 1})
    with pytest.raises(RelayedTransactionInvalidError):
        await ops.approve([Intent.TRADE])
    # Nothing stood: the next attempt plans the same grants and carries them out.
    assert len((await ops.approve([Intent.TRADE])).transactions) >= 1
    await sender.aclose()


async def test_the_safe_refuses_a_signature_that_is_not_its_owners(
    emulator: Emulator, transport: HttpTransport, rpc: JsonRpcClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    sender = relayer_sender(emulator, rpc, new_key(), WalletType.SAFE, await builder_credentials(transport))
    await sender.deploy()
    stranger = SigningKey(new_key())
    monkeypatch.setattr(relayer_module, "sign_safe", lambda _key, digest: sign_safe(stranger, digest))
    with pytest.raises(RelayedTransactionFailedError, match="GS026"):
        await ChainOperations(sender, rpc).approve([Intent.TRADE])
    await sender.aclose()


async def test_relayer_429_and_the_daily_quota(
    emulator: Emulator, transport: HttpTransport, rpc: JsonRpcClient
) -> None:
    credentials = await builder_credentials(transport)
    sender = relayer_sender(emulator, rpc, new_key(), WalletType.SAFE, credentials, daily_quota=None)
    await transport.request("POST", "/_emulator/relayer/faults", json={"throttle_next": 1})
    with pytest.raises(RateLimitedError) as throttled:
        await sender.deploy()
    assert throttled.value.context["status"] == 429
    await transport.request("POST", "/_emulator/relayer/faults", json={"daily_quota": 1})
    await sender.deploy()
    with pytest.raises(RateLimitedError, match="quota exceeded"):
        await sender.send(PUSD, b"")
    await sender.aclose()

    # A relayer API key has no daily quota, but the per-minute limit holds for everyone.
    private_key = new_key()
    keyed = relayer_sender(
        emulator, rpc, private_key, WalletType.SAFE, await relayer_key(transport, SigningKey(private_key).address)
    )
    await keyed.deploy()
    await transport.request("POST", "/_emulator/relayer/faults", json={"per_minute": 2})
    with pytest.raises(RateLimitedError, match="too many requests"):
        await keyed.send(PUSD, b"")
    await keyed.aclose()

    # The client's own limiter: a quota of 2 (80 % margin: 1 submit) holds the second submit locally.
    await transport.request("POST", "/_emulator/relayer/faults", json={"daily_quota": 100, "per_minute": 25})
    frozen = relayer_sender(
        emulator, rpc, new_key(), WalletType.SAFE, credentials, daily_quota=2, limiter_clock=lambda: 1000.0
    )
    await frozen.deploy()
    before = emulator.chain.block_number
    with pytest.raises(RateLimitedError):
        await frozen.send(PUSD, b"")
    assert emulator.chain.block_number == before  # never reached the relayer
    await frozen.aclose()


async def test_wallet_busy_is_retried_and_polling_gives_up_in_time(
    emulator: Emulator, transport: HttpTransport, rpc: JsonRpcClient
) -> None:
    sender = relayer_sender(emulator, rpc, new_key(), WalletType.SAFE, await builder_credentials(transport))
    await transport.request("POST", "/_emulator/relayer/faults", json={"busy_next": 2})
    assert await sender.deploy() is not None
    patient = relayer_sender(
        emulator, rpc, new_key(), WalletType.SAFE, await builder_credentials(transport), max_polls=2
    )
    with pytest.raises(TransactionTimeoutError):
        await patient.deploy()  # NEW → EXECUTED → MINED → CONFIRMED takes more than two polls
    await sender.aclose()
    await patient.aclose()


async def test_a_proxy_wallet_deploys_itself_and_wraps(
    emulator: Emulator, transport: HttpTransport, rpc: JsonRpcClient
) -> None:
    sender = relayer_sender(emulator, rpc, new_key(), WalletType.PROXY, await builder_credentials(transport))
    await fund(transport, sender.address)
    assert await sender.deploy() is None  # nothing to deploy: the first call does it
    await ChainOperations(sender, rpc).wrap(10 * MICROS)
    assert emulator.chain.contracts.balance_of(PUSD, sender.address) == 10 * MICROS
    await sender.aclose()


async def test_relayer_credentials_never_reach_the_logs(
    emulator: Emulator, transport: HttpTransport, rpc: JsonRpcClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    credentials = await builder_credentials(transport)
    safe = relayer_sender(emulator, rpc, new_key(), WalletType.SAFE, credentials)
    private_key = new_key()
    api_key = await relayer_key(transport, SigningKey(private_key).address)
    deposit = relayer_sender(emulator, rpc, private_key, WalletType.DEPOSIT, api_key)
    await safe.deploy()
    await deposit.deploy()
    await transport.request("POST", "/_emulator/relayer/faults", json={"throttle_next": 1})
    with pytest.raises(RateLimitedError) as refused:
        await deposit.send(PUSD, b"")
    shown = caplog.text + repr(safe) + repr(deposit) + str(refused.value) + repr(api_key)
    assert "POST /submit" in caplog.text or "/relayer/submit" in caplog.text
    for secret in (credentials.secret.reveal(), credentials.passphrase.reveal(), api_key.api_key.reveal()):
        assert secret not in shown
    await safe.aclose()
    await deposit.aclose()


@pytest.mark.parametrize("wallet_type", [WalletType.SAFE, WalletType.DEPOSIT])
async def test_a_stale_nonce_is_read_again_and_signed_again(
    emulator: Emulator, transport: HttpTransport, rpc: JsonRpcClient, wallet_type: WalletType
) -> None:
    private_key = new_key()
    sender = relayer_sender(
        emulator, rpc, private_key, wallet_type, await relayer_key(transport, SigningKey(private_key).address)
    )
    await sender.deploy()
    approve = encode_call("approve(address,uint256)", USDC_E, 5)
    await sender.send(PUSD, approve)
    await transport.request("POST", "/_emulator/relayer/faults", json={"stale_nonce_next": 1})
    before = emulator.chain.block_number
    assert (await sender.send(PUSD, approve)).nonce == 1  # the mismatch answer, then the fresh nonce
    assert emulator.chain.block_number == before + 1
    assert emulator.relayer_knobs.stale_nonce_next == 0  # the stale read was answered and refused, then re-read
    await sender.aclose()


def test_a_nonce_signed_ahead_of_the_chain_is_not_raced() -> None:
    ahead = RelayerNonceMismatchError("x", venue_message="batch nonce 5 does not match on-chain nonce 4")
    behind = RelayerNonceMismatchError("x", venue_message="batch nonce 3 does not match on-chain nonce 4")
    assert relayer_module._ahead_of_chain(ahead) and not relayer_module._ahead_of_chain(behind)
