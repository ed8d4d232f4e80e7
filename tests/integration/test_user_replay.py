"""A recorded user-channel session replayed: :class:`~polyinfra.clob.user_replay.UserReplay` yields
the events the live channel delivered, in order, from the tape alone. The session (against the
emulator, over real sockets) has socket fills, fills the socket never delivered, a forced
reconnect and the reconciliations that found what it missed."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from polyinfra.clob.user_replay import UserReplay
from polyinfra.emulator.runner import Emulator
from polyinfra.model.numbers import Side
from polyinfra.model.trading_events import OrderUpdate, TradeUpdate, UserChannelEvent
from polyinfra.net.http import HttpTransport
from polyinfra.obs.redaction import MASK
from polyinfra.record.records import RecordKind
from polyinfra.record.sink_urls import open_sink
from tests.integration.cli_steps import run_polyinfra
from tests.integration.recording_steps import market_maker_and_taker, recorded_user_channel, until
from tests.integration.test_user_channel import TAKER_KEY, _settled, _wait_dropped, lose_fills_on_the_socket
from tests.integration.trading_steps import signed_order


def _as_taped(event: UserChannelEvent, api_key: str) -> UserChannelEvent:
    """A live event as the tape can tell it: no receive time of the client's own, the API key masked."""
    event = dataclasses.replace(event, received_ns=0)
    if isinstance(event, TradeUpdate):
        makers = tuple(
            dataclasses.replace(maker, owner=MASK) if maker.owner == api_key else maker for maker in event.maker_orders
        )
        event = dataclasses.replace(event, maker_orders=makers)
    return event


async def test_user_replay_yields_the_live_events_in_order(
    emulator: Emulator, transport: HttpTransport, known_secrets: Any, tmp_path: Path
) -> None:
    maker_key = known_secrets.private_key
    market, maker, taker = await market_maker_and_taker(emulator, transport, maker_key)
    sink_url = f"sqlite:///{tmp_path / 'tape.db'}"
    sink = open_sink(sink_url)
    async with recorded_user_channel(emulator, maker, market, sink) as (recorder, channel, listened):
        # Seen on the socket: a placement and a partial fill with its trade settling.
        resting = signed_order(maker_key, market, Side.SELL, "0.60", "16")
        await maker.post_order(resting)
        seen = await taker.post_order(signed_order(TAKER_KEY, market, Side.BUY, "0.60", "5"))
        await listened.wait_for(_settled(seen.trade_ids))

        # Lost on the socket, then told by the reconnect's reconciliation.
        unseen, missed_trades = await lose_fills_on_the_socket(emulator, maker, maker_key, taker, market, resting)
        await _wait_dropped(emulator)
        await until(lambda: channel.stats.reconnects >= 1)
        await listened.wait_for(_settled(missed_trades))
        await listened.wait_for(lambda events: len(listened.orders(unseen)) == 1)
        stats = channel.stats
    assert recorder.stats.dropped == 0
    credentials = maker.credentials
    assert credentials is not None

    replay = UserReplay(sink)
    replayed = [event async for event in replay]
    taped = [record async for record in sink.read(kinds=[RecordKind.REST_RESPONSE]) if record.channel == "user"]
    await sink.close()

    live = [_as_taped(event, credentials.api_key) for event in listened.events]
    assert any(event.reconciled for event in live) and any(not event.reconciled for event in live)
    assert [dataclasses.replace(event, received_ns=0) for event in replayed] == live
    # Receive times are the tape's: each event's record was stored as the live client received it.
    assert all(event.received_ns > 0 for event in replayed)
    assert replay.stats.frames == stats.frames
    assert replay.stats.reconciliations == len(taped) == stats.reconciliations
    assert replay.stats.reconciled_events == stats.reconciled_events
    assert replay.stats.duplicates_skipped == stats.duplicates_skipped

    # The command line prints the same events, in order, then what it went through.
    code, out, err = await run_polyinfra("replay", "--sink", sink_url, "--channel", "user")
    assert code == 0, err
    *lines, summary = out.splitlines()
    assert [line.split()[1] for line in lines] == [
        event.order_id if isinstance(event, OrderUpdate) else event.trade_id for event in replayed
    ]
    assert f"{len(replayed):,} events, {replay.stats.reconciled_events:,} of them from REST" in summary
    code, _, err = await run_polyinfra("replay", "--sink", sink_url, "--channel", "user", "--speed", "2")
    assert code == 2 and err.startswith(
        "polyinfra replay: --speed, --key, --start, --end, --topic and --serve do not go with --channel user"
    )
