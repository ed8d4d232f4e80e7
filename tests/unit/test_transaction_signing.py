"""Transactions signed over a SigningKey are byte-identical to eth-account's (the field's signer) in both forms,
and the node's view of them (the recovered sender) is the key's address."""

from __future__ import annotations

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from polyinfra.core.eip712 import SigningKey
from polyinfra.core.transaction_signing import UnsignedTransaction, sign_transaction
from polyinfra.errors import InvalidValueError
from polyinfra.obs.redaction import register_secret

KEY = "0x" + "4c" * 32
register_secret(KEY)
TARGET = "0x4D97DCd97eC945f40cF65F87097ACe5EA0476045"


def reference(tx: UnsignedTransaction) -> bytes:
    fields = {"chainId": tx.chain_id, "nonce": tx.nonce, "to": tx.to, "value": tx.value, "data": tx.data, "gas": tx.gas}
    if tx.max_tip is None:
        fields["gasPrice"] = tx.max_fee
    else:
        fields |= {"type": 2, "maxFeePerGas": tx.max_fee, "maxPriorityFeePerGas": tx.max_tip}
    return bytes(Account.from_key(KEY).sign_transaction(fields).raw_transaction)


@settings(max_examples=40, deadline=None)
@given(
    nonce=st.integers(0, 2**32),
    data=st.binary(max_size=100),
    gas=st.integers(21_000, 10**7),
    max_fee=st.integers(1, 10**12),
    tip=st.none() | st.integers(0, 10**11),
    chain_id=st.sampled_from([137, 80002, 1]),
)
def test_matches_eth_account(nonce: int, data: bytes, gas: int, max_fee: int, tip: int | None, chain_id: int) -> None:
    tx = UnsignedTransaction(chain_id, nonce, TARGET, data, gas, max_fee, tip)
    raw = sign_transaction(SigningKey(KEY), tx)
    assert raw == reference(tx)
    assert Account.recover_transaction(raw) == SigningKey(KEY).address


def test_refuses_a_target_that_is_no_address() -> None:
    with pytest.raises(InvalidValueError):
        sign_transaction(SigningKey(KEY), UnsignedTransaction(137, 0, "0x1234", b"", 21_000, 1, 1))
