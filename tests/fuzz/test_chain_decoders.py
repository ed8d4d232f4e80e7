"""Hostile bytes into the on-chain decoders: calldata and logs end as a typed error or a valid result."""

from __future__ import annotations

import contextlib

from hypothesis import given
from hypothesis import strategies as st

from polyinfra.core.chain_calls import FUNCTIONS, decode_call
from polyinfra.core.chain_events import EVENTS, ChainLog, decode_log
from polyinfra.errors import MalformedMessageError

selectors = st.sampled_from(list(FUNCTIONS))
topics0 = st.sampled_from([spec.topic0 for spec in EVENTS.values()])
words = st.binary(min_size=32, max_size=32)


@given(selectors, st.binary(max_size=600))
def test_decode_call_never_escapes(selector: bytes, body: bytes) -> None:
    try:
        call = decode_call(selector + body)
    except MalformedMessageError:
        return
    assert call.function.selector == selector


@given(st.binary(max_size=64))
def test_decode_call_of_anything(data: bytes) -> None:
    with contextlib.suppress(MalformedMessageError):
        decode_call(data)


@given(topics0, st.lists(st.binary(max_size=40), max_size=4), st.binary(max_size=600))
def test_decode_log_never_escapes(topic0: bytes, rest: list[bytes], data: bytes) -> None:
    try:
        event = decode_log(ChainLog("0x" + "00" * 20, (topic0, *rest), data))
    except MalformedMessageError:
        return
    assert event is not None
    assert set(event.fields) == {field.name for field in EVENTS[event.event].fields}


@given(topics0, st.lists(words, min_size=1, max_size=3), st.integers(0, 2**256 - 1))
def test_decode_log_huge_array_lengths_are_cheap(topic0: bytes, rest: list[bytes], length: int) -> None:
    # An array whose declared length dwarfs the data must fail fast, not allocate or loop by the claim.
    data = (32).to_bytes(32) + length.to_bytes(32) + bytes(64)
    with contextlib.suppress(MalformedMessageError):
        decode_log(ChainLog("0x" + "00" * 20, (topic0, *rest), data))
