"""Hostile bytes into the relayer's decoders: wallet calldata and relayer bodies end as a typed error or a valid
result, and a round trip of any call list is exact."""

from __future__ import annotations

import contextlib

from hypothesis import given
from hypothesis import strategies as st

from polyinfra.core.relayer_signing import (
    Call,
    decode_multisend,
    decode_proxy_calls,
    encode_multisend,
    encode_proxy_calls,
)
from polyinfra.errors import MalformedMessageError
from polyinfra.wire.relayer import (
    ACCOUNT_TRANSACTION,
    NONCE_ANSWER,
    SUBMIT_REQUEST,
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
