"""Hostile bytes into the relayer's decoders: wallet calldata and relayer bodies end as a typed error or a valid
result, and a round trip of any call list is exact."""

from __future__ import annotations

import contextlib

from hypothesis import given
from hypothesis import strategies as st

from polyinfra.core.relayer_signing import (
    DEPOSIT_WALLET_FACTORY,
    MULTISEND,
    PROXY_FACTORY,
    Call,
    decode_multisend,
    decode_proxy_calls,
    encode_multisend,
    encode_proxy_calls,
)
from polyinfra.emulator.chain.smart_wallets import NonceMismatch, SmartWallets, WalletRefusal
from polyinfra.errors import MalformedMessageError
from polyinfra.wire.relayer import (
    ACCOUNT_TRANSACTION,
    NONCE_ANSWER,
    SUBMIT_REQUEST,
    BatchCall,
    DepositWalletParams,
    SubmitRequest,
    decimal_field,
    encode_submit,
)

addresses = st.binary(min_size=20, max_size=20).map(lambda raw: "0x" + raw.hex())
calls = st.builds(
    Call,
    addresses,
    st.binary(max_size=200),
    st.integers(0, 2**256 - 1),
)
MULTISEND_SELECTOR = encode_multisend([Call("0x" + "11" * 20, b"")])[:4]
PROXY_SELECTOR = encode_proxy_calls([Call("0x" + "11" * 20, b"")])[:4]


@given(st.lists(calls, min_size=1, max_size=5))
def test_call_lists_round_trip(call_list: list[Call]) -> None:
    normalised = [Call(decode_multisend(encode_multisend([c]))[0].to, c.data, c.value) for c in call_list]
    assert decode_multisend(encode_multisend(call_list)) == normalised
    assert decode_proxy_calls(encode_proxy_calls(call_list)) == normalised


@given(st.sampled_from([MULTISEND_SELECTOR, PROXY_SELECTOR]), st.binary(max_size=600))
def test_wallet_calldata_decoders_never_escape(selector: bytes, body: bytes) -> None:
    for decoder in (decode_multisend, decode_proxy_calls):
        with contextlib.suppress(MalformedMessageError):
            decoder(selector + body)


@given(st.sampled_from([MULTISEND_SELECTOR, PROXY_SELECTOR]), st.integers(0, 2**256 - 1))
def test_huge_declared_lengths_are_cheap(selector: bytes, length: int) -> None:
    data = selector + (32).to_bytes(32) + length.to_bytes(32) + bytes(64)
    for decoder in (decode_multisend, decode_proxy_calls):
        with contextlib.suppress(MalformedMessageError):
            decoder(data)


@given(st.binary(max_size=400))
def test_relayer_bodies_never_escape(body: bytes) -> None:
    for decoder in (SUBMIT_REQUEST, ACCOUNT_TRANSACTION, NONCE_ANSWER):
        with contextlib.suppress(MalformedMessageError):
            decoder.decode(body)


@given(st.text(max_size=100))
def test_decimal_fields(text: str) -> None:
    try:
        value = decimal_field(text, what="nonce")
    except MalformedMessageError:
        return
    assert str(value) == text.lstrip("0") or value == 0


@given(addresses, st.text(max_size=40), st.integers(0, 2**64))
def test_submit_body_round_trips(sender: str, metadata: str, nonce: int) -> None:
    request = SubmitRequest(type="SAFE", sender=sender, to=sender, nonce=str(nonce), metadata=metadata)
    encoded = encode_submit(request)
    assert b'"from"' in encoded
    assert SUBMIT_REQUEST.decode(encoded) == request


hex_text = st.binary(max_size=300).map(lambda raw: "0x" + raw.hex())
submits = st.builds(
    SubmitRequest,
    type=st.sampled_from(["SAFE", "PROXY", "WALLET", "SAFE-CREATE", "WALLET-CREATE", "x"]),
    sender=st.one_of(addresses, st.text(max_size=44)),
    to=st.one_of(addresses, st.sampled_from([PROXY_FACTORY, DEPOSIT_WALLET_FACTORY, MULTISEND])),
    proxy_wallet=st.one_of(st.none(), addresses),
    data=st.one_of(st.none(), hex_text, st.text(max_size=20)),
    nonce=st.one_of(st.none(), st.text(max_size=80), st.integers(0, 3).map(str)),
    signature=st.one_of(st.none(), hex_text, st.binary(min_size=65, max_size=65).map(lambda raw: "0x" + raw.hex())),
    signature_params=st.one_of(
        st.none(), st.dictionaries(st.sampled_from(["operation", "gasLimit", "relay"]), st.text(max_size=50))
    ),
    deposit_wallet_params=st.one_of(
        st.none(),
        st.builds(
            DepositWalletParams,
            addresses,
            st.text(max_size=20),
            st.lists(st.builds(BatchCall, addresses, st.text(max_size=10), hex_text), max_size=3),
        ),
    ),
)


@given(submits)
def test_the_emulated_wallets_take_any_submit(request: SubmitRequest) -> None:
    # Anything a client submits is accepted as an action, refused by the relayer, or a nonce mismatch: never a crash.
    with contextlib.suppress(WalletRefusal, NonceMismatch):
        action = SmartWallets(clock_s=lambda: 0).prepare(request)
        assert action.wallet.startswith("0x")
