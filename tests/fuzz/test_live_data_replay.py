"""Hostile stored RTDS and PolyBolt records into :class:`~polyinfra.record.rtds_replay.RtdsReplay` and
:class:`~polyinfra.record.polybolt_replay.PolyBoltReplay`: any payload under any record kind they read
gives valid events or a typed :class:`~polyinfra.errors.PolyinfraError`, never another exception (a
frame the feed refuses is counted as malformed)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from polyinfra.errors import PolyinfraError
from polyinfra.model.live_events import ActivityTrade, CommentEvent, Gap, LiveEvent, PriceTick
from polyinfra.record.live_data_replay import LiveDataReplay
from polyinfra.record.polybolt_replay import PolyBoltReplay
from polyinfra.record.records import Record, RecordKind
from polyinfra.record.rtds_replay import RtdsReplay
from polyinfra.record.sqlite_sink import SQLiteSink
from tests.fuzz.hostile import hostile_bytes

_RTDS_FRAMES = (
    {
        "topic": "crypto_prices",
        "type": "update",
        "timestamp": 1,
        "payload": {"symbol": "btcusdt", "timestamp": 1, "value": 1.5},
    },
    {
        "topic": "activity",
        "type": "trades",
        "timestamp": 1,
        "payload": {
            "proxyWallet": "0xA",
            "side": "BUY",
            "price": 0.5,
            "size": 2,
            "asset": "1",
            "conditionId": "0xc",
            "transactionHash": "0xt",
            "timestamp": 1,
        },
    },
)
_POLYBOLT_FRAMES = (
    {"channel": "price.crypto", "seq": 1, "ts": 1, "payload": {"symbol": "btcusd", "value": "1.5", "timestamp": 1}},
    {"op": "subscribed", "rid": "s1", "channel": "price.crypto"},
)
_LIFECYCLE = (
    {"subscription": 'price.crypto {"symbol":"btcusd"}', "topics": ["crypto_prices"]},
    {"reason": "reconnect: connection lost", "from_wall_ns": 1, "to_wall_ns": 2},
)
_KINDS = [
    RecordKind.FRAME_RECEIVED,
    RecordKind.GAP,
    RecordKind.CONNECTED,
    RecordKind.SUBSCRIBED,
    RecordKind.UNSUBSCRIBED,
]


def _valid(event: LiveEvent) -> bool:
    if isinstance(event, PriceTick):
        return isinstance(event.price, Decimal) and event.price.is_finite()
    if isinstance(event, ActivityTrade):
        return isinstance(event.price, Decimal) and isinstance(event.size, Decimal)
    return isinstance(event, CommentEvent | Gap)


async def _replayed(replay_type: type[LiveDataReplay], records: list[Record]) -> list[LiveEvent]:
    tape = SQLiteSink(":memory:")
    try:
        await tape.write(records)
        return await replay_type(tape).events()
    finally:
        await tape.close()


@given(
    replay_type=st.sampled_from([RtdsReplay, PolyBoltReplay]),
    steps=st.lists(
        st.tuples(
            st.sampled_from(_KINDS),
            st.sampled_from(["connection", "crypto_prices", "price.crypto", "activity"]),
            st.sampled_from(["0", "1", "x", ""]),
            hostile_bytes(*_RTDS_FRAMES, *_POLYBOLT_FRAMES, *_LIFECYCLE),
        ),
        max_size=8,
    ),
)
def test_hostile_live_data_records_replay_to_valid_events_or_a_typed_error(
    replay_type: type[LiveDataReplay], steps: list[tuple[RecordKind, str, str, bytes]]
) -> None:
    source = replay_type.source
    records = [
        Record(
            f"s:{source}.{channel}.{connection}:{index}", "s", source, channel, "", kind, index, index, None, payload
        )
        for index, (kind, channel, connection, payload) in enumerate(steps)
    ]
    try:
        events = asyncio.run(_replayed(replay_type, records))
    except PolyinfraError:
        return
    assert all(_valid(event) for event in events)
