"""Hostile input into everything RTDS reads: server frames into the client's feed, filters and
symbols from a user into the linter, and client frames into the emulator's RTDS socket. Any input
ends as events, a plan, or a typed :class:`~polyinfra.errors.PolyinfraError`; nothing else."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

import msgspec
from hypothesis import example, given
from hypothesis import strategies as st

from polyinfra.core.rtds_feed import RtdsFeed
from polyinfra.core.rtds_topics import TOPICS, canonical_symbol, plan_subscription
from polyinfra.emulator.faults import FaultConfig
from polyinfra.emulator.live import rtds_channel
from polyinfra.emulator.live.outbox import Outbox
from polyinfra.errors import PolyinfraError
from polyinfra.wire.rtds import Subscription
from tests.fuzz.hostile import hostile_bytes

_ENVELOPE = {"topic": "activity", "timestamp": 1753434800123, "connection_id": "c"}
VALID_FRAMES = [
    {
        **_ENVELOPE,
        "type": "trades",
        "payload": {
            "asset": "1",
            "conditionId": "0xc",
            "side": "SELL",
            "price": 0.5,
            "size": "3",
            "timestamp": 1753434799,
            "proxyWallet": "0xA",
            "transactionHash": "0xt",
            "outcomeIndex": 0,
        },
    },
    {
        **_ENVELOPE,
        "topic": "crypto_prices_chainlink",
        "type": "update",
        "payload": {"symbol": "btc/usd", "timestamp": 1, "value": 1.5, "full_accuracy_value": "1500000000000000000"},
    },
    {
        **_ENVELOPE,
        "topic": "crypto_prices",
        "type": "subscribe",
        "payload": {"symbol": "btcusdt", "data": [{"timestamp": 1, "value": 2.5}, {"timestamp": 2, "value": 3}]},
    },
    {
        **_ENVELOPE,
        "topic": "comments",
        "type": "reaction_created",
        "payload": {"id": "1", "commentID": 5, "reactionType": "HEART", "userAddress": "0xB"},
    },
    {"body": {"message": "Invalid request body"}, "statusCode": 400},
]


@given(frame=hostile_bytes(*VALID_FRAMES))
# Found by this test: a non-finite exact price crashed the 1e18 scaling with a TypeError.
@example(
    frame=b'{"topic":"crypto_prices_chainlink","timestamp":1,"type":"update",'
    b'"payload":{"symbol":"b","timestamp":1,"value":5,"full_accuracy_value":"NaN"}}'
)
@example(
    frame=b'{"topic":"crypto_prices_chainlink","timestamp":1,"type":"update",'
    b'"payload":{"symbol":"b","timestamp":1,"value":5,"full_accuracy_value":"-Infinity"}}'
)
def test_a_hostile_rtds_frame_is_events_or_a_typed_error(frame: bytes) -> None:
    feed = RtdsFeed()
    with contextlib.suppress(PolyinfraError):
        events = feed.receive(frame)
        assert isinstance(events, list)


@given(frame=st.sampled_from(VALID_FRAMES).map(msgspec.json.encode))
def test_every_valid_frame_decodes(frame: bytes) -> None:
    RtdsFeed().receive(frame)


@given(
    topic=st.one_of(st.sampled_from([*TOPICS, "clob_market", "rfq"]), st.text(max_size=30)),
    message_type=st.one_of(st.sampled_from(["*", "update", "trades"]), st.text(max_size=10)),
    filters=st.one_of(st.none(), st.text(max_size=200), hostile_bytes().map(lambda raw: raw.decode("latin-1"))),
)
def test_a_hostile_subscription_request_is_a_plan_or_a_typed_error(
    topic: str, message_type: str, filters: str | None
) -> None:
    with contextlib.suppress(PolyinfraError):
        plan = plan_subscription(topic, message_type, filters)
        assert plan.wire.filters is msgspec.UNSET or ", " not in plan.wire.filters


@given(text=st.one_of(st.text(max_size=60), hostile_bytes().map(lambda raw: raw.decode("latin-1"))))
def test_a_hostile_symbol_is_canonical_or_a_typed_error(text: str) -> None:
    with contextlib.suppress(PolyinfraError):
        symbol = canonical_symbol(text)
        assert symbol.isalnum() and symbol == symbol.lower()


@given(filters=st.one_of(st.text(max_size=200), hostile_bytes().map(lambda raw: raw.decode("latin-1"))))
def test_the_emulator_reads_hostile_client_filters_without_failing(filters: str) -> None:
    entry = Subscription("crypto_prices", "update", filters)
    rtds_channel._refusal([entry])
    rtds_channel._filter_symbol(entry)
    comment = Subscription("comments", "*", filters)
    rtds_channel._wants([entry, comment], "comments", "comment_created", "", msgspec.Struct())


_SUBSCRIBE = {"action": "subscribe", "subscriptions": [{"topic": "crypto_prices", "type": "update", "filters": ""}]}


@given(text=hostile_bytes(_SUBSCRIBE).map(lambda raw: raw.decode("utf-8", "replace")))
def test_a_hostile_client_frame_is_refused_or_taken_by_the_emulator(text: str) -> None:
    channel = rtds_channel.RtdsChannel(
        FaultConfig(),
        backfill=lambda topic, symbol: rtds_channel.PriceSeries([(1, "2.5")]),
        symbols=lambda topic: ["btcusdt"],
        clock_ms=lambda: 1,
    )
    outbox = Outbox(None, SimpleNamespace(transport=None), "rtds")  # type: ignore[arg-type]
    connection = rtds_channel._Connection(outbox, opened_s=0.0, seed=1)
    channel._on_text(connection, text)
    assert len(outbox.pending()) <= 1 + len(connection.entries)  # an answer, or a backfill per entry
