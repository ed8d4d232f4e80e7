"""The live-book client's per-frame step under hostile bytes: whatever a frame holds, the step returns
(the session that called it goes on), and a frame it had to refuse leaves no book of the connection
claiming to be LIVE. No sockets: the step is driven directly, as the session's reader drives it."""

from __future__ import annotations

import asyncio

import msgspec
from hypothesis import given

from polyinfra.clob.live_books import LiveBooks
from polyinfra.core.book_sync import SyncReason
from polyinfra.core.connection_watch import ConnectionWatch
from polyinfra.model.events import SyncState
from tests.fuzz.hostile import hostile_bytes

TOKEN = "1" * 77
MARKET = "0x" + "ab" * 32
BOOK = {
    "event_type": "book",
    "asset_id": TOKEN,
    "market": MARKET,
    "timestamp": "1733500000000",
    "hash": "",
    "bids": [{"price": "0.48", "size": "100"}, {"price": "0.49", "size": "20"}],
    "asks": [{"price": "0.52", "size": "30"}, {"price": "0.51", "size": "40"}],
}
PRICE_CHANGE = {
    "event_type": "price_change",
    "market": MARKET,
    "timestamp": "1733500000001",
    "price_changes": [
        {"asset_id": TOKEN, "price": "0.49", "size": "25", "side": "BUY", "best_bid": "0.49", "best_ask": "0.51"}
    ],
}


@given(frame=hostile_bytes(BOOK, PRICE_CHANGE, [BOOK, PRICE_CHANGE]))
def test_a_hostile_frame_never_escapes_the_frame_step(frame: bytes) -> None:
    async def run() -> None:
        books = LiveBooks("http://127.0.0.1:9", "ws://127.0.0.1:9", verify_hashes=False)
        await books.subscribe([TOKEN])
        [connection] = books._connections.values()
        watch = ConnectionWatch(0.0)
        books._on_frame(connection, watch, msgspec.json.encode(BOOK))
        assert books.state(TOKEN) is SyncState.LIVE

        before = books.stats
        books._on_frame(connection, watch, frame)  # must return, whatever the frame

        after = books.stats
        refused = (after.malformed_frames > before.malformed_frames) or (
            after.resyncs_by_reason.get(SyncReason.INVALID_VALUE, 0)
            > before.resyncs_by_reason.get(SyncReason.INVALID_VALUE, 0)
        )
        if refused:
            assert books.state(TOKEN) is not SyncState.LIVE, after
        assert not after.task_failures

    asyncio.run(run())
