"""A recorded :class:`~polyinfra.clob.user_channel.UserChannel` session against the emulator over
real sockets: an order placed, partly filled and cancelled, another left open across a forced
reconnect. The tape holds every frame the channel received, the REST answers each reconciliation
used, the lifecycle of both sessions; the coverage manifest shows the disconnect as a gap; and no
form of the API key, secret or passphrase is stored anywhere."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from pathlib import Path
from typing import Any

from polyinfra.emulator.runner import Emulator
from polyinfra.model.numbers import Side
from polyinfra.model.trading_events import OrderEventKind, OrderUpdate
from polyinfra.net.http import HttpTransport
from polyinfra.obs.redaction import SecretScanner
from polyinfra.record.coverage import read_manifest
from polyinfra.record.recorder import Recorder
from polyinfra.record.records import Record, RecordKind
from polyinfra.record.sink_urls import open_sink
from polyinfra.wire.clob_user import OrderMessage, UserFrameDecoder
from tests.integration.cli_steps import run_polyinfra
from tests.integration.recording_steps import market_maker_and_taker, recorded_user_channel, until
from tests.integration.test_user_channel import TAKER_KEY, WAIT_S, _channel, _wait_dropped
from tests.integration.trading_steps import empty_markets, signed_order, trading_client

_CONNECTION_KINDS = {RecordKind.CONNECTED, RecordKind.RECONNECTED, RecordKind.SUBSCRIBED, RecordKind.CONNECTION_LOST}


async def test_a_recorded_user_session_holds_frames_answers_and_the_reconnect_and_no_secret(
    emulator: Emulator, transport: HttpTransport, known_secrets: Any, tmp_path: Path
) -> None:
    maker_key = known_secrets.private_key
    market, maker, taker = await market_maker_and_taker(emulator, transport, maker_key)
    sink_url = f"sqlite:///{tmp_path / 'tape.db'}"
    sink = open_sink(sink_url)
    async with recorded_user_channel(emulator, maker, market, sink) as (recorder, channel, listened):
        cancelled = signed_order(maker_key, market, Side.SELL, "0.60", "10")
        await maker.post_order(cancelled)
        await taker.post_order(signed_order(TAKER_KEY, market, Side.BUY, "0.60", "6"))
        await maker.cancel(cancelled.order_hash)
        left_open = signed_order(maker_key, market, Side.SELL, "0.70", "5")
        await maker.post_order(left_open)
        await listened.wait_for(lambda events: len(listened.orders(left_open.order_hash)) == 1)
        await listened.wait_for(
            lambda events: any(isinstance(e, OrderUpdate) and e.kind is OrderEventKind.CANCELLATION for e in events)
        )

        await _wait_dropped(emulator)
        await until(lambda: channel.stats.reconnects >= 1)
        assert await channel.wait_in_sync(WAIT_S)
        stats = channel.stats
    assert recorder.stats.dropped == 0
    tape = [record async for record in sink.read()]
    user = [record for record in tape if (record.source, record.channel) == ("clob", "user")]

    # Every data frame the channel received, as received, keyed by its market, with the venue's time.
    received = _of_kind(user, RecordKind.FRAME_RECEIVED)
    assert len(received) == stats.frames > 0
    decoder = UserFrameDecoder()
    decoded = [decoder.decode(record.payload) for record in received]
    assert Counter(_event_type(message) for messages in decoded for message in messages) == stats.events_by_type
    assert {record.key for record in received} == {market.condition_id}
    assert all(record.venue_ts_ms is not None for record in received)
    socket_said = {(message.id, _event_type(message)) for messages in decoded for message in messages}
    delivered = {
        (event.order_id if isinstance(event, OrderUpdate) else event.trade_id, _event_type(event))
        for event in listened.events
        if not event.reconciled
    }
    assert delivered and delivered <= socket_said

    # One subscription per session, stored with its shape and its credentials masked.
    sent = [json.loads(record.payload) for record in _of_kind(user, RecordKind.FRAME_SENT)]
    assert len(sent) == stats.sessions == 2
    for frame in sent:
        assert frame["markets"] == [market.condition_id]
        assert set(frame["auth"]) == {"apiKey", "secret", "passphrase"}
        assert all(value == "[REDACTED]" for value in frame["auth"].values())

    # Both sessions' lifecycle: the first ends with the drop, the second opens as a reconnect.
    lifecycle = [record for record in user if record.kind in _CONNECTION_KINDS]
    assert [record.kind for record in lifecycle] == [
        RecordKind.CONNECTED,
        RecordKind.SUBSCRIBED,
        RecordKind.CONNECTION_LOST,
        RecordKind.RECONNECTED,
        RecordKind.SUBSCRIBED,
        RecordKind.CONNECTION_LOST,
    ]
    lost = json.loads(lifecycle[2].payload)
    assert lost["reason"] == "disconnected" and "code" in lost
    assert json.loads(lifecycle[3].payload) == {"token_ids": [market.condition_id], "session": 2}

    # Each session's reconciliation, with its reason and the REST answers it used.
    reconciliations = _of_kind(user, RecordKind.RESYNC_REQUESTED)
    assert [json.loads(record.payload)["reason"] for record in reconciliations] == ["session", "session"]
    answers = {record.key: json.loads(record.payload) for record in _of_kind(user, RecordKind.REST_RESPONSE)}
    assert set(answers) == {record.key for record in reconciliations}
    after_reconnect = answers[reconciliations[-1].key]
    assert [order["id"] for order in after_reconnect["open_orders"]] == [left_open.order_hash]
    trades = after_reconnect["trades"]
    assert trades and all(trade["market"] == market.condition_id for trade in trades)

    # Coverage: the market is covered in both sessions, with the disconnect between them a gap.
    span = await read_manifest(sink)
    assert span.first_wall_ns is not None
    manifest = span.manifest
    assert ("clob", "user") in manifest.channels()
    assert manifest.keys_of("clob", "user") == [market.condition_id]
    coverage = manifest.coverage(
        market.condition_id, span.first_wall_ns, span.last_wall_ns, source="clob", channel="user"
    )
    assert len(coverage.covered) == 2
    disconnects = [gap for gap in coverage.gaps if gap.reason == "disconnected"]
    assert len(disconnects) == 1
    assert coverage.covered[0].end_wall_ns <= disconnects[0].start_wall_ns < coverage.covered[1].start_wall_ns
    assert json.loads(lifecycle[-1].payload)["reason"] == "stopped"
    code, out, err = await run_polyinfra("coverage", "--sink", sink_url)
    assert code == 0, err
    user_lines = out[out.index(f"clob/user {market.condition_id}: covered") :].splitlines()[1:]
    gap_reasons = [line.rsplit(": ", 1)[1] for line in itertools.takewhile(lambda line: "gap" in line, user_lines)]
    assert "disconnected" in gap_reasons, out

    # No credential, in any encoding the scanner knows, anywhere in the tape or its files.
    credentials = maker.credentials
    assert credentials is not None
    scanner = SecretScanner(
        {
            "api_key": credentials.api_key,
            "secret": credentials.secret.reveal(),
            "passphrase": credentials.passphrase.reveal(),
        }
    )
    for record in tape:
        stored = f"{record.event_id} {record.key} {record.payload.decode('utf-8', 'replace')}"
        assert scanner.scan(stored) == [], record.kind
    await sink.close()
    for stored_file in tmp_path.glob("tape.db*"):
        assert scanner.scan(stored_file.read_bytes().decode("latin-1")) == [], stored_file.name


async def test_market_changes_are_recorded_with_their_coverage(
    emulator: Emulator, transport: HttpTransport, known_secrets: Any, tmp_path: Path
) -> None:
    market_a, market_b = empty_markets(emulator, 2)
    maker = await trading_client(transport, known_secrets.private_key)
    sink = open_sink(f"sqlite:///{tmp_path / 'tape.db'}")
    recorder = Recorder(sink)
    await recorder.start()
    async with _channel(emulator, maker, market_a, silence_timeout_s=600.0, recorder=recorder) as channel:
        assert await channel.wait_in_sync(WAIT_S)
        reconciliations = channel.stats.reconciliations
        await channel.subscribe_markets([market_b.condition_id])
        # B is covered once its own reconciliation is done (the one its subscription's PONG starts).
        await until(lambda: channel.stats.reconciliations > reconciliations)
        # Returns once the venue has read it.
        await channel.unsubscribe_markets([market_a.condition_id])
    await recorder.stop()
    user = [record async for record in sink.read() if record.channel == "user"]

    sent = [json.loads(record.payload) for record in _of_kind(user, RecordKind.FRAME_SENT)]
    assert [frame.get("operation", "the subscription") for frame in sent] == [
        "the subscription",
        "subscribe",
        "unsubscribe",
    ]
    assert sent[1:] == [
        {"operation": "subscribe", "markets": [market_b.condition_id]},
        {"operation": "unsubscribe", "markets": [market_a.condition_id]},
    ]
    reasons = [json.loads(record.payload)["reason"] for record in _of_kind(user, RecordKind.RESYNC_REQUESTED)]
    assert reasons == ["session", "subscribe"]

    span = await read_manifest(sink)
    assert span.first_wall_ns is not None
    manifest = span.manifest
    assert manifest.keys_of("clob", "user") == [market_a.condition_id, market_b.condition_id]
    covered_a, covered_b = (
        manifest.coverage(market.condition_id, span.first_wall_ns, span.last_wall_ns, source="clob", channel="user")
        for market in (market_a, market_b)
    )
    assert len(covered_a.covered) == len(covered_b.covered) == 1
    # A ends at its unsubscription, B starts after its subscription: they overlap in between.
    assert covered_b.covered[0].start_wall_ns < covered_a.covered[0].end_wall_ns
    assert covered_a.covered[0].end_wall_ns < covered_b.covered[0].end_wall_ns
    await sink.close()


def _of_kind(records: list[Record], kind: RecordKind) -> list[Record]:
    return [record for record in records if record.kind is kind]


def _event_type(event: object) -> str:
    """The ``event_type`` of a decoded message or of the domain event made of it."""
    return "order" if isinstance(event, OrderMessage | OrderUpdate) else "trade"
