"""The emulated wallets check relayed transactions as the contracts do: the owner's signature over exactly the
calls, the wallet's nonce, the deadline, the factory; a refused signature is an on-chain revert, not a refusal."""

from __future__ import annotations

import msgspec
import pytest

from polyinfra.chain.relayer import RelayerApiKey
from polyinfra.core.chain_calls import MAX_UINT256, encode_call
from polyinfra.core.chain_contracts import CTF, USDC_E
from polyinfra.core.eip712 import SigningKey
from polyinfra.core.relayer_signing import (
    DEPOSIT_WALLET_FACTORY,
    PROXY_FACTORY,
    RELAY_HUB,
    Call,
    batch_digest,
    deposit_wallet,
    encode_proxy_calls,
    proxy_relay_hash,
    safe_create_digest,
    safe_transaction,
    safe_tx_digest,
    sign_batch,
    sign_proxy,
    sign_safe,
)
from polyinfra.core.wallet_addresses import safe_wallet
from polyinfra.emulator.chain.smart_wallets import NonceMismatch, SmartWallets, WalletRefusal
from polyinfra.obs.redaction import Secret
from polyinfra.wire.relayer import BatchCall, DepositWalletParams, SubmitRequest

OWNER = SigningKey("0x" + "11" * 32)
STRANGER = SigningKey("0x" + "22" * 32)
APPROVE = encode_call("approve(address,uint256)", CTF, MAX_UINT256)
RELAY = "0xae700edfd9ab986395f3999fe11177b9903a52f1"
NOW_S = 1_800_000_000


def wallets() -> SmartWallets:
    return SmartWallets(clock_s=lambda: NOW_S)


def batch_request(signer: SigningKey, *, nonce: int = 0, deadline: int = NOW_S + 600) -> SubmitRequest:
    wallet = deposit_wallet(OWNER.address)
    digest = batch_digest(wallet=wallet, nonce=nonce, deadline=deadline, calls=[Call(USDC_E, APPROVE)])
    return SubmitRequest(
        type="WALLET",
        sender=OWNER.address,
        to=DEPOSIT_WALLET_FACTORY,
        nonce=str(nonce),
        signature="0x" + sign_batch(signer, digest).hex(),
        deposit_wallet_params=DepositWalletParams(
            wallet, str(deadline), [BatchCall(USDC_E, "0", "0x" + APPROVE.hex())]
        ),
    )


def proxy_request(signer: SigningKey, *, nonce: int = 0) -> SubmitRequest:
    data = encode_proxy_calls([Call(USDC_E, APPROVE)])
    relay_hash = proxy_relay_hash(signer=OWNER.address, data=data, gas_limit=500_000, nonce=nonce, relay=RELAY)
    return SubmitRequest(
        type="PROXY",
        sender=OWNER.address,
        to=PROXY_FACTORY,
        data="0x" + data.hex(),
        nonce=str(nonce),
        signature="0x" + sign_proxy(signer, relay_hash).hex(),
        signature_params={"gasLimit": "500000", "relay": RELAY, "relayHub": RELAY_HUB},
    )


def deployed_wallets() -> SmartWallets:
    state = wallets()
    state.prepare(SubmitRequest(type="WALLET-CREATE", sender=OWNER.address, to=DEPOSIT_WALLET_FACTORY)).on_success()
    return state


def test_a_deposit_wallet_runs_its_owners_batch_and_moves_its_nonce() -> None:
    state = deployed_wallets()
    action = state.prepare(batch_request(OWNER))
    assert action.refusal is None and action.calls == [(USDC_E, APPROVE)]
    assert action.wallet == deposit_wallet(OWNER.address)
    action.on_success()
    assert state.nonce("WALLET", OWNER.address) == 1
    with pytest.raises(NonceMismatch, match="batch nonce 0 does not match on-chain nonce 1"):
        state.prepare(batch_request(OWNER))


def test_a_strangers_signature_reverts_on_chain() -> None:
    state = deployed_wallets()
    assert state.prepare(batch_request(STRANGER)).refusal == "invalid signature"
    assert state.prepare(proxy_request(STRANGER)).refusal == "invalid signature"
    assert state.prepare(proxy_request(OWNER)).refusal is None


def test_what_the_relayer_refuses_before_the_chain() -> None:
    with pytest.raises(WalletRefusal, match="not deployed"):
        wallets().prepare(batch_request(OWNER))
    with pytest.raises(WalletRefusal, match="deadline"):
        deployed_wallets().prepare(batch_request(OWNER, deadline=NOW_S - 1))
    wrong_factory = SubmitRequest(type="WALLET-CREATE", sender=OWNER.address, to=PROXY_FACTORY)
    with pytest.raises(WalletRefusal, match="deposit wallet factory"):
        wallets().prepare(wrong_factory)
    with pytest.raises(WalletRefusal, match="invalid type"):
        wallets().prepare(SubmitRequest(type="EOA", sender=OWNER.address))
    with pytest.raises(WalletRefusal, match="payload"):
        wallets().prepare(SubmitRequest(type="PROXY", sender="0xnot-an-address", to=PROXY_FACTORY))


def test_a_proxy_deploys_itself_on_its_first_call() -> None:
    state = wallets()
    action = state.prepare(proxy_request(OWNER))
    assert not state.is_deployed(action.wallet)
    action.on_success()
    assert state.is_deployed(action.wallet)


def test_relayer_credentials_stay_out_of_reprs() -> None:
    key = RelayerApiKey(Secret("5bd2a7a1-0f55-4f4e-8d1a-7f7a8a1c2b3d"), OWNER.address)
    assert "5bd2a7a1" not in repr(key) and OWNER.address in repr(key)


def test_a_safe_checks_its_operation_and_owner() -> None:
    state = wallets()
    safe = safe_wallet(OWNER.address)
    create = SubmitRequest(
        type="SAFE-CREATE",
        sender=OWNER.address,
        to=safe,
        signature="0x" + OWNER.sign_digest(safe_create_digest()).hex(),
    )
    state.prepare(create).on_success()
    assert state.is_deployed(safe)
    transaction = safe_transaction([Call(USDC_E, APPROVE)])
    signed = sign_safe(OWNER, safe_tx_digest(transaction, safe=safe, nonce=0))
    request = SubmitRequest(
        type="SAFE",
        sender=OWNER.address,
        to=USDC_E,
        proxy_wallet=safe,
        data="0x" + APPROVE.hex(),
        nonce="0",
        signature="0x" + signed.hex(),
        signature_params={"operation": "0"},
    )
    assert state.prepare(request).refusal is None
    with pytest.raises(WalletRefusal, match="operation"):
        state.prepare(msgspec.structs.replace(request, signature_params={"operation": "7"}))
    delegated = msgspec.structs.replace(request, signature_params={"operation": "1"})
    with pytest.raises(WalletRefusal, match="MultiSend"):
        state.prepare(delegated)
    # Signed for nonce 0, sent as if for another call: the Safe recovers someone else and reverts.
    tampered = msgspec.structs.replace(request, data="0x" + APPROVE[:-1].hex() + "00")
    assert state.prepare(tampered).refusal == "GS026"
