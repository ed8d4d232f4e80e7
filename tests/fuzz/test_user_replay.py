"""Hostile stored user-channel records into :class:`~polyinfra.clob.user_replay.UserReplay`: any
payload under any record kind gives events or a typed :class:`~polyinfra.errors.PolyinfraError`,
never another exception (a frame the channel's decoder refuses is counted as malformed)."""

from __future__ import annotations

import asyncio
import contextlib

from hypothesis import given
from hypothesis import strategies as st

from polyinfra.clob.user_replay import UserReplay
from polyinfra.errors import PolyinfraError
from polyinfra.record.records import Record, RecordKind
from polyinfra.record.sqlite_sink import SQLiteSink
from tests.fuzz.hostile import hostile_bytes

_VALID_ANSWERS = {
    "open_orders": [
        {
            "id": "0x1",
            "status": "LIVE",
            "owner": "[REDACTED]",
            "maker_address": "0x2",
            "market": "0xm",
            "asset_id": "1",
            "side": "BUY",
            "original_size": "5",
            "size_matched": "0",
            "price": "0.5",
            "outcome": "Yes",
            "created_at": 1,
            "expiration": "0",
            "order_type": "GTC",
            "associate_trades": [],
        }
    ],
    "trades": [],
    "orders": [],
}
_VALID_FRAME = {
    "event_type": "order",
    "id": "0x1",
    "market": "0xm",
    "asset_id": "1",
    "side": "BUY",
    "price": "0.5",
    "original_size": "5",
    "size_matched": "0",
    "type": "PLACEMENT",
    "timestamp": "1700000000000",
}


async def _replayed(records: list[Record]) -> None:
    tape = SQLiteSink(":memory:")
    try:
        await tape.write(records)
        async for _ in UserReplay(tape):
            pass
    finally:
        await tape.close()


@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(
                [
                    RecordKind.FRAME_RECEIVED,
                    RecordKind.REST_RESPONSE,
                    RecordKind.CONNECTED,
                    RecordKind.SUBSCRIBED,
                    RecordKind.UNSUBSCRIBED,
                ]
            ),
            hostile_bytes(_VALID_ANSWERS, _VALID_FRAME, {"token_ids": ["0xm"]}),
        ),
        max_size=6,
    )
)
def test_hostile_user_records_replay_to_events_or_a_typed_error(steps: list[tuple[RecordKind, bytes]]) -> None:
    records = [
        Record(f"s:clob.user.1:{index}", "s", "clob", "user", "", kind, index, index, None, payload)
        for index, (kind, payload) in enumerate(steps)
    ]
    with contextlib.suppress(PolyinfraError):
        asyncio.run(_replayed(records))
