"""Hostile input into the decoders this project added for rewards and account answers and for the
recorder's stored data: any bytes (or any stored row) in, a valid value or a typed
:class:`~polyinfra.errors.PolyinfraError` out, never another exception."""

from __future__ import annotations

import contextlib
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyinfra.errors import PolyinfraError
from polyinfra.net.http_request import Response
from polyinfra.record.book_checkpoint import decode_checkpoint
from polyinfra.record.records import Record, RecordKind
from polyinfra.record.stored_rows import record_of_row
from polyinfra.wire.clob_account import BuilderApiKeyInfo, ClosedOnlyStatus, Notification
from polyinfra.wire.clob_rest import MarketTradeEvent
from polyinfra.wire.clob_rewards import MarketRewards, RewardsMarket, TotalUserEarning, UserEarning, UserMarketRewards
from tests.fuzz.hostile import hostile_bytes

ANSWER_TYPES: list[Any] = [
    list[RewardsMarket],
    list[MarketRewards],
    list[UserEarning],
    list[TotalUserEarning],
    list[UserMarketRewards],
    list[Notification],
    list[BuilderApiKeyInfo],
    list[MarketTradeEvent],
    ClosedOnlyStatus,
    dict[str, bool],
]


@pytest.mark.parametrize("answer_type", ANSWER_TYPES, ids=str)
@given(body=hostile_bytes())
def test_a_hostile_rewards_or_account_answer_is_a_value_or_a_typed_error(answer_type: Any, body: bytes) -> None:
    response = Response(200, {}, body, "GET", "/rewards/user", "/rewards/user")
    with contextlib.suppress(PolyinfraError):
        response.decode(answer_type)


def _record(payload: bytes) -> Record:
    return Record("s:clob.market.1:0", "s", "clob", "market", "1", RecordKind.CHECKPOINT, 1, 1, None, payload)


@given(payload=st.one_of(st.binary(max_size=512), hostile_bytes()))
def test_a_hostile_stored_checkpoint_is_a_checkpoint_or_a_typed_error(payload: bytes) -> None:
    with contextlib.suppress(PolyinfraError):
        decode_checkpoint(_record(payload))


_CELL = st.one_of(
    st.none(),
    st.integers(),
    st.text(max_size=20),
    st.binary(max_size=20),
    st.floats(),
    st.sampled_from(["frame received"]),
)


@given(row=st.lists(_CELL, min_size=0, max_size=14).map(tuple))
def test_a_hostile_stored_row_is_a_record_or_a_typed_error(row: tuple[Any, ...]) -> None:
    try:
        record = record_of_row(row)
    except PolyinfraError:
        return
    assert msgspec.structs.asdict(record)["kind"] in set(RecordKind)
