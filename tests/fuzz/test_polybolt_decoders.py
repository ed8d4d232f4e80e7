"""Hostile input into everything PolyBolt reads: server frames into the client's feed, symbols and
asset ids from a user into the planner, and client frames into the emulator's PolyBolt socket.
Any input ends as a decoded frame, a plan, or a typed :class:`~polyinfra.errors.PolyinfraError`."""

from __future__ import annotations

import contextlib
from decimal import Decimal
from types import SimpleNamespace

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from polyinfra.core.polybolt_feed import POLYBOLT_TOPICS, ControlAnswer, DataFrame, PolyBoltFeed, plan_polybolt
from polyinfra.emulator.faults import FaultConfig
from polyinfra.emulator.live.outbox import Outbox
from polyinfra.emulator.live.polybolt_channel import PolyBoltChannel, _Connection
from polyinfra.errors import PolyinfraError
from tests.fuzz.hostile import hostile_bytes

VALID_FRAMES = [
    {"op": "authed", "rid": "a1"},
    {"op": "error", "rid": "s1", "channel": "price.crypto", "code": "auth_required"},
    {"op": "ping", "rid": "p1"},
    {
        "v": 1,
        "channel": "price.crypto.twap",
        "seq": 3,
        "ts": 1788973002000,
        "payload": {
            "symbol": "btcusd",
            "value": 64120.7,
            "full_accuracy_value": "64120.70000000",
            "timestamp": 1788973002000,
            "window_seconds": 60,
            "source": "chainlink",
        },
    },
    {
        "v": 1,
        "channel": "price.crypto",
        "seq": 1,
        "ts": 2,
        "snapshot": True,
        "dropped": 2,
        "payload": {"symbol": "ethusd", "data": [{"timestamp": 1, "value": 2.5, "full_accuracy_value": "2.50"}]},
    },
    {
        "v": 1,
        "channel": "price.polymarket",
        "seq": 9,
        "ts": 2,
        "payload": {"asset_id": "123456", "value": 0.51, "timestamp": 2},
    },
]


@given(frame=hostile_bytes(*VALID_FRAMES))
def test_a_hostile_polybolt_frame_is_a_decoded_frame_or_a_typed_error(frame: bytes) -> None:
    feed = PolyBoltFeed()
    with contextlib.suppress(PolyinfraError):
        result = feed.receive(frame)
        assert isinstance(result, ControlAnswer | DataFrame)
        if isinstance(result, DataFrame):
            assert all(isinstance(price, Decimal) and price.is_finite() for price, _ in result.points)


@given(frame=st.sampled_from(VALID_FRAMES).map(msgspec.json.encode))
def test_every_valid_frame_decodes(frame: bytes) -> None:
    PolyBoltFeed().receive(frame)


@given(
    topic=st.one_of(st.sampled_from(list(POLYBOLT_TOPICS)), st.text(max_size=30)),
    field=st.sampled_from(["symbol", "asset_id", "window_seconds"]),
    value=st.one_of(
        st.text(max_size=60), st.integers(), st.none(), hostile_bytes().map(lambda raw: raw.decode("latin-1"))
    ),
)
def test_a_hostile_price_request_is_a_plan_or_a_typed_error(topic: str, field: str, value: object) -> None:
    with contextlib.suppress(PolyinfraError):
        plan = plan_polybolt(topic, {field: value})
        assert plan.symbol is not None and plan.symbol.isalnum()


_SUBSCRIBE = {
    "op": "subscribe",
    "rid": "s",
    "subscriptions": [{"channel": "price.crypto", "filter": {"symbol": "btcusd"}}],
}
_AUTH = {"op": "auth", "rid": "a", "auth": {"apiKey": "k", "secret": "s", "passphrase": "p"}}


@given(text=hostile_bytes(_SUBSCRIBE, _AUTH).map(lambda raw: raw.decode("utf-8", "replace")))
def test_a_hostile_client_frame_is_answered_by_the_emulator(text: str) -> None:
    channel = PolyBoltChannel(FaultConfig(), credentials_valid=lambda key, secret, passphrase: True)
    outbox = Outbox(None, SimpleNamespace(transport=None), "polybolt")  # type: ignore[arg-type]
    connection = _Connection(outbox)
    connection.authed = True
    channel._on_text(connection, text)
    for frame in outbox.pending():  # answers, acknowledgements and snapshots: each a JSON object
        assert isinstance(msgspec.json.decode(frame), dict)
