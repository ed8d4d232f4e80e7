"""Hostile input into the recorder fleet's decoders: the server's answer to a published message and a
lease read from the bucket. Any bytes in, a value or a typed error out, never another exception."""

from __future__ import annotations

import contextlib

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyinfra.errors import LeaseError
from polyinfra.record.jetstream_sink import PublishRefusedError, stored_sequence
from polyinfra.record.shard_leases import LeaseValue, decode_lease
from tests.fuzz.hostile import hostile_bytes, poisoned

_ANSWER = b'{"stream":"s","seq":12}'
_REFUSAL = b'{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 5"}}'


def test_the_answers_decode_to_a_sequence_or_a_refusal() -> None:
    assert stored_sequence(_ANSWER) == 12
    with pytest.raises(PublishRefusedError) as refused:
        stored_sequence(_REFUSAL)
    assert refused.value.err_code == 10071


@given(
    answer=st.one_of(hostile_bytes(), poisoned(msgspec.json.decode(_ANSWER)), poisoned(msgspec.json.decode(_REFUSAL)))
)
def test_a_hostile_publish_answer_is_a_sequence_or_a_refusal(answer: bytes) -> None:
    with contextlib.suppress(PublishRefusedError):
        assert isinstance(stored_sequence(answer), int)


_LEASE = msgspec.msgpack.encode(LeaseValue("m1", 10, 5, watermark_wall_ns=7))


@given(data=st.one_of(hostile_bytes(), st.binary(max_size=256), st.binary(max_size=40).map(lambda tail: _LEASE + tail)))
def test_a_hostile_stored_lease_is_a_lease_or_a_typed_error(data: bytes) -> None:
    try:
        assert isinstance(decode_lease(data, key="shard.0"), LeaseValue)
    except LeaseError as exc:
        assert exc.retriable is False
