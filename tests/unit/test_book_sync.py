"""BookSync and friends, sans-I/O: every decision of the live-book client driven with injected
times, frames and REST answers (no sockets, no clocks, no randomness)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from decimal import Decimal

import msgspec
import pytest

from polyinfra.core.backoff import Backoff, backoff_delay_s
from polyinfra.core.book_audit import LevelDifference, diff_book
from polyinfra.core.book_hash import book_hash
from polyinfra.core.book_sync import BookSync, Instant, SnapshotRequest, SyncReason
from polyinfra.core.connection_watch import ConnectionWatch, WatchVerdict
from polyinfra.errors import InvalidValueError, MalformedMessageError
from polyinfra.model.book import OrderBook
from polyinfra.model.events import (
    BookUpdated,
    MarketListed,
    MarketResolved,
    SyncState,
    SyncStateChanged,
    TickSizeChanged,
    TradePrinted,
)
from polyinfra.model.numbers import Side, TickSize
from polyinfra.wire.clob_rest import OrderBookSummary
from polyinfra.wire.clob_ws import (
    BestBidAskMessage,
    BookMessage,
    LastTradePriceMessage,
    MarketEvent,
    MarketResolvedMessage,
    NewMarketMessage,
    PriceChange,
    PriceChangeMessage,
    PriceLevel,
    TickSizeChangeMessage,
)

D = Decimal
MARKET = "0x5f65177b394277fd294cd75650044e32ba009a95022d88a0c1d565897d72f8f1"
YES = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
NO = "52114319501245915516055106046884209969926127482827954674443846427813813222426"
OTHER = "48331043336612883890938759509493159234755048973500640148014422747788308965732"
CONNECTION = 1
SECOND_CONNECTION = 2


def at(seconds: float) -> Instant:
    return Instant(seconds, int(seconds * 1e9))


def no_jitter() -> float:
    return 0.0


def summary(
    token: str,
    bids: Iterable[tuple[str, str]],
    asks: Iterable[tuple[str, str]],
    *,
    timestamp: str = "1000",
    tick_size: str = "0.01",
    tampered: bool = False,
) -> OrderBookSummary:
    """A REST summary as the venue sends it: bids ascending, asks descending, hashed (venue notes: Order books)."""
    bid_levels = [PriceLevel(price, size) for price, size in sorted(bids, key=lambda level: D(level[0]))]
    ask_levels = [PriceLevel(price, size) for price, size in sorted(asks, key=lambda level: -D(level[0]))]
    digest = (
        "0" * 40
        if tampered
        else book_hash(
            market=MARKET,
            asset_id=token,
            timestamp=timestamp,
            bids=bid_levels,
            asks=ask_levels,
            min_order_size="5",
            tick_size=tick_size,
            neg_risk=False,
            last_trade_price="0.5",
        )
    )
    return OrderBookSummary(
        market=MARKET,
        asset_id=token,
        timestamp=timestamp,
        hash=digest,
        bids=bid_levels,
        asks=ask_levels,
        min_order_size="5",
        tick_size=tick_size,
        neg_risk=False,
        last_trade_price="0.5",
    )


def book_message(snapshot: OrderBookSummary) -> BookMessage:
    return BookMessage(
        asset_id=snapshot.asset_id,
        market=snapshot.market,
        bids=snapshot.bids,
        asks=snapshot.asks,
        timestamp=snapshot.timestamp,
        hash=snapshot.hash,
        min_order_size=snapshot.min_order_size,
        tick_size=snapshot.tick_size,
        neg_risk=snapshot.neg_risk,
        last_trade_price=snapshot.last_trade_price,
    )


def change(token: str, price: str, side: str, size: str, *, best_bid: str = "", best_ask: str = "") -> PriceChange:
    return PriceChange(token, price, side, size, best_bid=best_bid, best_ask=best_ask)


def price_change(*changes: PriceChange, timestamp: str = "2000") -> PriceChangeMessage:
    return PriceChangeMessage(market=MARKET, timestamp=timestamp, price_changes=list(changes))


def levels(book: OrderBook) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
    return dict(book.bids()), dict(book.asks())


def new_sync(*, jitter: Callable[[], float] = no_jitter, buffer_limit: int = 10_000) -> BookSync:
    return BookSync(random=jitter, retry_initial_s=1.0, retry_max_s=8.0, buffer_limit=buffer_limit)


def live_sync(*tokens: str, connection: int = CONNECTION) -> BookSync:
    """A sync whose tokens are LIVE from REST snapshots (YES 0.48/0.52, NO 0.48/0.52 books)."""
    sync = new_sync()
    sync.add(tokens, connection, at(0))
    sync.connection_proven(connection, at(0))
    request = sync.take_snapshot_batch(at(0), 500)
    assert request is not None
    sync.apply_snapshots(request, [summary(token, [("0.48", "30")], [("0.52", "25")]) for token in tokens], at(0.1))
    assert all(sync.states[token] is SyncState.LIVE for token in tokens)
    return sync


# --- backoff -------------------------------------------------------------------------------------


def test_backoff_doubles_from_one_second_to_the_cap() -> None:
    backoff = Backoff(initial_s=1.0, max_s=30.0, random=no_jitter)
    assert [backoff.next_delay_s() for _ in range(8)] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert backoff.attempts == 8


def test_backoff_jitter_takes_up_to_half_of_each_delay() -> None:
    draws = iter([0.5, 0.999, 0.0])
    backoff = Backoff(initial_s=1.0, max_s=30.0, random=lambda: next(draws))
    assert backoff.next_delay_s() == 0.75
    assert backoff.next_delay_s() == pytest.approx(2 * (1 - 0.4995))
    assert backoff.next_delay_s() == 4.0


def test_backoff_resets_after_a_good_session() -> None:
    backoff = Backoff(initial_s=1.0, max_s=30.0, random=no_jitter)
    for _ in range(5):
        backoff.next_delay_s()
    backoff.reset()
    assert backoff.attempts == 0
    assert backoff.next_delay_s() == 1.0


def test_backoff_delay_stays_finite_after_very_many_attempts() -> None:
    assert backoff_delay_s(10_000, initial_s=1.0, max_s=30.0, jitter=0.0) == 30.0


@pytest.mark.parametrize(("initial_s", "max_s"), [(0.0, 30.0), (-1.0, 30.0), (5.0, 1.0), (float("nan"), 30.0)])
def test_backoff_refuses_impossible_schedules(initial_s: float, max_s: float) -> None:
    with pytest.raises(InvalidValueError):
        Backoff(initial_s=initial_s, max_s=max_s, random=no_jitter)


# --- connection watchdog -----------------------------------------------------------------------

LIMITS = {"silence_timeout_s": 15.0, "probe_timeout_s": 5.0, "pong_timeout_s": 30.0}


def test_recent_data_is_healthy() -> None:
    watch = ConnectionWatch(opened_s=100.0)
    watch.last_data_s = 110.0
    assert watch.verdict(124.9, **LIMITS) is WatchVerdict.HEALTHY


def test_a_silent_connection_is_probed_before_it_is_judged() -> None:
    watch = ConnectionWatch(opened_s=100.0)
    watch.last_data_s = 110.0
    watch.last_pong_s = 120.0
    assert watch.verdict(125.0, **LIMITS) is WatchVerdict.PROBE


def test_a_quiet_market_answers_the_probe() -> None:
    watch = ConnectionWatch(opened_s=100.0)
    watch.last_data_s = 110.0
    watch.last_pong_s = 120.0
    watch.probe_sent(125.0)
    assert watch.verdict(126.0, **LIMITS) is WatchVerdict.PROBING
    watch.last_data_s = 125.2  # the re-subscribed token's book
    assert watch.verdict(126.0, **LIMITS) is WatchVerdict.HEALTHY
    assert watch.probe_sent_s is None
    assert watch.verdict(140.3, **LIMITS) is WatchVerdict.PROBE  # silent again, a timeout later


def test_a_zombie_that_still_pongs_fails_its_probe() -> None:
    watch = ConnectionWatch(opened_s=100.0)
    watch.last_data_s = 110.0
    watch.probe_sent(125.0)
    watch.last_pong_s = 129.0  # PONG proves nothing (venue notes: Failure modes)
    assert watch.verdict(129.9, **LIMITS) is WatchVerdict.PROBING
    assert watch.verdict(130.0, **LIMITS) is WatchVerdict.SILENT
    assert watch.silent_for_s(130.0) == 20.0


def test_data_sent_before_the_probe_does_not_answer_it() -> None:
    watch = ConnectionWatch(opened_s=100.0)
    watch.last_data_s = 125.0
    watch.probe_sent(125.0)
    assert watch.verdict(130.0, **LIMITS) is WatchVerdict.SILENT


def test_silence_without_pong_is_a_dead_socket() -> None:
    watch = ConnectionWatch(opened_s=100.0)
    watch.last_data_s = 101.0
    watch.last_pong_s = 101.0
    assert watch.verdict(131.0, **LIMITS) is WatchVerdict.NO_PONG


def test_a_session_that_never_sent_data_counts_from_its_opening() -> None:
    watch = ConnectionWatch(opened_s=100.0)
    assert not watch.proven
    watch.probe_sent(100.0)  # every session probes at once
    assert watch.verdict(104.9, **LIMITS) is WatchVerdict.PROBING
    assert watch.verdict(105.0, **LIMITS) is WatchVerdict.SILENT
    assert watch.silent_for_s(105.0) == 5.0


def test_missing_pongs_do_not_matter_while_data_flows() -> None:
    watch = ConnectionWatch(opened_s=100.0)
    watch.last_data_s = 200.0
    assert watch.verdict(201.0, **LIMITS) is WatchVerdict.HEALTHY


# --- the state machine -------------------------------------------------------------------------


def test_tokens_sync_from_rest_once_their_connection_is_proven() -> None:
    sync = new_sync()
    sync.emit_events = True
    assert sync.add([YES, NO, YES], CONNECTION, at(0)) == [YES, NO]
    assert sync.states == {YES: SyncState.SYNCING, NO: SyncState.SYNCING}
    assert sync.take_snapshot_batch(at(0), 500) is None  # no REST before the session proved itself
    sync.connection_proven(CONNECTION, at(1))
    request = sync.take_snapshot_batch(at(1), 500)
    assert request is not None and request.token_ids == (YES, NO)
    sync.apply_snapshots(request, [summary(YES, [("0.48", "30")], [("0.52", "25")])], at(1.2))
    assert sync.states[YES] is SyncState.LIVE
    assert sync.states[NO] is SyncState.STALE  # the answer lacked it: retried later
    assert sync.not_live == 1
    assert sync.stats.snapshot_failures == 1
    events = sync.take_events()
    assert [type(event) for event in events] == [BookUpdated, SyncStateChanged, SyncStateChanged]
    assert events[1] == SyncStateChanged(YES, SyncState.SYNCING, SyncState.LIVE, SyncReason.SNAPSHOT, at(1.2).wall_ns)
    assert events[2].new is SyncState.STALE and events[2].reason == SyncReason.SNAPSHOT_FAILED
    assert sync.stats.resyncs_by_reason == {"snapshot failed": 1}  # first snapshots are not resyncs


def test_snapshot_batches_respect_the_limit_in_request_order() -> None:
    sync = new_sync()
    tokens = [str(10**70 + index) for index in range(7)]
    sync.add(tokens, CONNECTION, at(0))
    sync.connection_proven(CONNECTION, at(0))
    first = sync.take_snapshot_batch(at(0), 3)
    second = sync.take_snapshot_batch(at(0), 3)
    third = sync.take_snapshot_batch(at(0), 3)
    assert first and second and third
    assert first.token_ids + second.token_ids + third.token_ids == tuple(tokens)
    assert first.fetch_id != second.fetch_id
    assert sync.take_snapshot_batch(at(0), 3) is None
    assert not sync.snapshots_wanted
    assert sync.stats.snapshot_requests == 3


def test_failed_snapshots_are_retried_with_backoff() -> None:
    sync = new_sync()
    sync.add([YES], CONNECTION, at(0))
    sync.connection_proven(CONNECTION, at(0))
    now = 0.0
    delays = []
    for _ in range(6):
        request = sync.take_snapshot_batch(at(now), 500)
        assert request is not None
        sync.snapshots_failed(request, at(now))
        due = sync.next_snapshot_due_s()
        assert due is not None
        delays.append(due - now)
        assert sync.take_snapshot_batch(at(due - 0.001), 500) is None
        now = due
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    request = sync.take_snapshot_batch(at(now), 500)
    assert request is not None
    sync.apply_snapshots(request, [summary(YES, [("0.48", "30")], [("0.52", "25")])], at(now))
    assert sync.states[YES] is SyncState.LIVE
    sync.request_resync([YES], SyncReason.AUDIT, at(now))
    assert sync.next_snapshot_due_s() == now  # the schedule restarts once a snapshot succeeded


def test_an_untrusted_rest_snapshot_is_retried_not_trusted() -> None:
    sync = new_sync()
    sync.add([YES], CONNECTION, at(0))
    sync.connection_proven(CONNECTION, at(0))
    request = sync.take_snapshot_batch(at(0), 500)
    assert request is not None
    sync.apply_snapshots(request, [summary(YES, [("0.48", "30")], [("0.52", "25")], tampered=True)], at(0.5))
    assert sync.states[YES] is SyncState.STALE
    assert sync.hash_mismatches == 1
    assert sync.next_snapshot_due_s() == 1.5
    assert sync.stats.resyncs_by_reason == {"hash mismatch": 1}


def test_a_hash_mismatch_on_the_socket_marks_the_book_stale_and_requests_rest() -> None:
    sync = live_sync(YES)
    sync.emit_events = True
    tampered = book_message(summary(YES, [("0.47", "10")], [("0.52", "25")], tampered=True))
    sync.receive(CONNECTION, [tampered], at(5))
    assert sync.states[YES] is SyncState.STALE
    assert sync.snapshots_wanted
    assert sync.stats.resyncs_by_reason == {"hash mismatch": 1}
    changed = [event for event in sync.take_events() if isinstance(event, SyncStateChanged)]
    assert changed == [SyncStateChanged(YES, SyncState.LIVE, SyncState.STALE, SyncReason.HASH_MISMATCH, at(5).wall_ns)]


def test_a_best_price_disagreement_requests_a_snapshot() -> None:
    sync = live_sync(YES)
    sync.receive(CONNECTION, [price_change(change(YES, "0.49", "BUY", "5", best_bid="0.50", best_ask="0.52"))], at(5))
    assert sync.states[YES] is SyncState.STALE
    assert sync.stats.resyncs_by_reason == {"best price mismatch": 1}
    assert sync.best_price_mismatches == 1


def test_a_lost_connection_turns_its_tokens_stale_and_the_next_session_resyncs_them() -> None:
    sync = live_sync(YES, NO)
    sync.add([OTHER], SECOND_CONNECTION, at(0))
    sync.emit_events = True
    sync.connection_lost(CONNECTION, SyncReason.SILENCE, at(10))
    assert sync.states == {YES: SyncState.STALE, NO: SyncState.STALE, OTHER: SyncState.SYNCING}
    assert {event.reason for event in sync.take_events() if isinstance(event, SyncStateChanged)} == {"silence"}
    sync.request_resync([YES], SyncReason.AUDIT, at(10))
    assert not sync.snapshots_wanted  # nothing is re-snapshotted until the new session proved itself
    sync.connection_proven(CONNECTION, at(12))
    request = sync.take_snapshot_batch(at(12), 500)
    assert request is not None and set(request.token_ids) == {YES, NO}
    assert sync.stats.resyncs_by_reason == {"reconnect": 2}


def test_a_snapshot_answer_after_a_disconnect_is_ignored() -> None:
    sync = new_sync()
    sync.add([YES], CONNECTION, at(0))
    sync.connection_proven(CONNECTION, at(0))
    request = sync.take_snapshot_batch(at(0), 500)
    assert request is not None
    sync.connection_lost(CONNECTION, SyncReason.DISCONNECTED, at(1))
    sync.apply_snapshots(request, [summary(YES, [("0.48", "30")], [("0.52", "25")])], at(2))
    assert sync.states[YES] is SyncState.STALE
    assert sync.books[YES].is_empty


def test_removed_tokens_are_forgotten() -> None:
    sync = live_sync(YES, NO)
    sync.request_resync([NO], SyncReason.AUDIT, at(1))
    assert sync.remove([NO, OTHER]) == [NO]
    assert set(sync.states) == {YES}
    assert NO not in sync.books
    assert not sync.snapshots_wanted
    assert sync.not_live == 0
    assert sync.connection_of(NO) is None
    assert sync.connection_of(YES) == CONNECTION


def test_a_lost_initial_dump_goes_to_rest_after_the_deadline() -> None:
    sync = live_sync(YES)
    sync.add([NO], CONNECTION, at(10))  # subscribed on a running session, with the initial dump
    assert sync.expire_waits(at(14.9), deadline_s=5.0) == []
    sync.receive(CONNECTION, [book_message(summary(NO, [("0.40", "1")], [("0.60", "1")]))], at(12))
    assert sync.states[NO] is SyncState.LIVE
    sync.add([OTHER], CONNECTION, at(20))
    assert sync.expire_waits(at(25), deadline_s=5.0) == [OTHER]
    assert sync.stats.resyncs_by_reason == {"no snapshot": 1}
    assert sync.snapshots_wanted


# --- buffering and replay ----------------------------------------------------------------------


def in_flight(sync: BookSync, token: str, now: float) -> SnapshotRequest:
    sync.request_resync([token], SyncReason.AUDIT, at(now))
    request = sync.take_snapshot_batch(at(now), 500)
    assert request is not None and request.token_ids == (token,)
    return request


def test_deltas_during_a_snapshot_request_are_replayed_on_top_of_it() -> None:
    sync = live_sync(YES, NO)
    request = in_flight(sync, YES, 5)
    # Both tokens' changes in one message (venue notes: Market channel): NO applies now, YES waits for its snapshot.
    sync.receive(
        CONNECTION,
        [
            price_change(change(YES, "0.49", "BUY", "7"), change(NO, "0.49", "BUY", "3", best_bid="0.49")),
            price_change(change(YES, "0.48", "BUY", "0")),
        ],
        at(5.1),
    )
    assert levels(sync.books[NO])[0] == {D("0.48"): D("30"), D("0.49"): D("3")}
    assert levels(sync.books[YES])[0] == {D("0.48"): D("30")}  # untouched while in flight
    # The snapshot was taken before either change reached the venue's book.
    sync.apply_snapshots(request, [summary(YES, [("0.48", "30"), ("0.47", "2")], [("0.52", "25")])], at(5.3))
    assert levels(sync.books[YES]) == ({D("0.49"): D("7"), D("0.47"): D("2")}, {D("0.52"): D("25")})
    assert sync.states[YES] is SyncState.LIVE
    assert sync.stats.replayed_events == 2


def test_replaying_changes_the_snapshot_already_contains_converges() -> None:
    sync = live_sync(YES)
    request = in_flight(sync, YES, 5)
    sync.receive(
        CONNECTION,
        [
            price_change(change(YES, "0.49", "BUY", "7", best_bid="0.49", best_ask="0.52")),
            price_change(change(YES, "0.49", "BUY", "9", best_bid="0.49", best_ask="0.52")),
            price_change(change(YES, "0.50", "BUY", "1", best_bid="0.50", best_ask="0.52")),
        ],
        at(5.1),
    )
    # The venue took the snapshot after the first two changes and after one more the socket has
    # not delivered yet (0.51 ask). The stale best prices of the replayed changes must not count.
    newer = summary(YES, [("0.48", "30"), ("0.49", "9")], [("0.52", "25"), ("0.51", "4")])
    sync.apply_snapshots(request, [newer], at(5.3))
    assert levels(sync.books[YES]) == (
        {D("0.48"): D("30"), D("0.49"): D("9"), D("0.50"): D("1")},
        {D("0.51"): D("4"), D("0.52"): D("25")},
    )
    assert sync.states[YES] is SyncState.LIVE
    assert sync.best_price_mismatches == 0


def test_a_socket_book_during_the_request_is_replayed_in_order() -> None:
    sync = live_sync(YES)
    request = in_flight(sync, YES, 5)
    sync.receive(CONNECTION, [book_message(summary(YES, [("0.45", "1")], [("0.55", "1")], timestamp="3000"))], at(5.1))
    sync.receive(CONNECTION, [price_change(change(YES, "0.46", "BUY", "2"))], at(5.2))
    sync.apply_snapshots(request, [summary(YES, [("0.48", "30")], [("0.52", "25")])], at(5.3))
    assert levels(sync.books[YES]) == ({D("0.45"): D("1"), D("0.46"): D("2")}, {D("0.55"): D("1")})


def test_pending_tokens_drop_deltas_and_a_socket_book_repairs_them() -> None:
    sync = live_sync(YES)
    sync.request_resync([YES], SyncReason.AUDIT, at(5))
    sync.receive(CONNECTION, [price_change(change(YES, "0.10", "BUY", "1"))], at(5.1))
    assert D("0.10") not in levels(sync.books[YES])[0]
    assert sync.stats.dropped_deltas == 1
    sync.receive(CONNECTION, [book_message(summary(YES, [("0.40", "1")], [("0.60", "1")]))], at(5.2))
    assert sync.states[YES] is SyncState.LIVE
    assert not sync.snapshots_wanted


def test_an_overflowing_buffer_spoils_the_request() -> None:
    sync = BookSync(random=no_jitter, buffer_limit=2)
    sync.add([YES], CONNECTION, at(0))
    sync.connection_proven(CONNECTION, at(0))
    request = sync.take_snapshot_batch(at(0), 500)
    assert request is not None
    for index in range(3):
        sync.receive(CONNECTION, [price_change(change(YES, "0.49", "BUY", str(index + 1)))], at(0.1))
    sync.apply_snapshots(request, [summary(YES, [("0.48", "30")], [("0.52", "25")])], at(0.2))
    assert sync.states[YES] is SyncState.STALE
    assert sync.stats.buffer_overflows == 1
    assert sync.stats.resyncs_by_reason == {"buffer overflow": 1}


def test_a_malformed_frame_resyncs_its_connection_and_spoils_its_requests() -> None:
    sync = live_sync(YES, NO)
    sync.add([OTHER], SECOND_CONNECTION, at(0))
    request = in_flight(sync, NO, 5)
    with pytest.raises(MalformedMessageError):
        sync.receive_frame(CONNECTION, b'[{"event_type": "book", "asset_id"', at(6))
    assert sync.stats.malformed_frames == 1
    assert sync.states[YES] is SyncState.STALE
    assert sync.states[OTHER] is SyncState.SYNCING
    sync.apply_snapshots(request, [summary(NO, [("0.48", "30")], [("0.52", "25")])], at(6.1))
    assert sync.states[NO] is SyncState.STALE  # its replay could be missing what the frame held
    assert sync.stats.resyncs_by_reason == {"audit": 1, "malformed frame": 1, "buffer overflow": 1}


def test_each_token_takes_its_data_from_its_own_connection_only() -> None:
    sync = live_sync(YES)
    sync.add([NO], SECOND_CONNECTION, at(0))
    sync.connection_proven(SECOND_CONNECTION, at(0))
    request = sync.take_snapshot_batch(at(0), 500)
    assert request is not None
    sync.apply_snapshots(request, [summary(NO, [("0.48", "30")], [("0.52", "25")])], at(0.1))
    message = price_change(change(YES, "0.49", "BUY", "7"), change(NO, "0.49", "BUY", "3"))
    sync.receive(CONNECTION, [message], at(1))
    assert levels(sync.books[YES])[0] == {D("0.48"): D("30"), D("0.49"): D("7")}
    assert levels(sync.books[NO])[0] == {D("0.48"): D("30")}
    # The second socket's copy arrives late, after NO changed again: it must not revert YES.
    sync.receive(SECOND_CONNECTION, [price_change(change(NO, "0.49", "BUY", "5"))], at(1.1))
    sync.receive(SECOND_CONNECTION, [message], at(1.2))
    assert levels(sync.books[NO])[0] == {D("0.48"): D("30"), D("0.49"): D("3")}
    sync.receive(CONNECTION, [price_change(change(YES, "0.49", "BUY", "0"))], at(1.3))
    sync.receive(SECOND_CONNECTION, [message], at(1.4))
    assert levels(sync.books[YES])[0] == {D("0.48"): D("30")}


# --- domain events ---------------------------------------------------------------------------


def test_events_become_domain_events() -> None:
    sync = live_sync(YES, NO)
    sync.emit_events = True
    received = at(7)
    sync.receive(
        CONNECTION,
        [
            price_change(
                change(YES, "0.49", "BUY", "7"), change(NO, "0.49", "BUY", "3"), change(YES, "0.50", "BUY", "1")
            ),
            LastTradePriceMessage(asset_id=YES, market=MARKET, price="0.52", timestamp="2001", side="BUY", size="12.5"),
            TickSizeChangeMessage(
                asset_id=YES, market=MARKET, old_tick_size="0.01", new_tick_size="0.001", timestamp="2002"
            ),
            BestBidAskMessage(
                market=MARKET, asset_id=YES, best_bid="0.50", best_ask="0.52", spread="0.02", timestamp="2003"
            ),
        ],
        received,
    )
    assert sync.take_events() == [
        BookUpdated(YES, MARKET, 2000, received.wall_ns, False),
        BookUpdated(NO, MARKET, 2000, received.wall_ns, False),
        TradePrinted(YES, MARKET, D("0.52"), Side.BUY, D("12.5"), 2001, received.wall_ns),
        TickSizeChanged(YES, MARKET, TickSize.parse("0.01"), TickSize.parse("0.001"), 2002, received.wall_ns),
    ]
    assert sync.take_events() == []
    assert sync.events_by_type() == {"price_change": 1, "last_trade_price": 1, "tick_size_change": 1, "best_bid_ask": 1}


def test_listings_and_resolutions_are_delivered_once_whatever_the_number_of_sockets() -> None:
    sync = live_sync(YES, NO)
    sync.add([OTHER], SECOND_CONNECTION, at(0))
    sync.emit_events = True
    listing = NewMarketMessage(id="1", market=MARKET, assets_ids=[YES, NO], timestamp="5000", question="Will it?")
    resolution = MarketResolvedMessage(
        id="1", market=MARKET, assets_ids=[YES, NO], winning_asset_id=YES, winning_outcome="Yes", timestamp="6000"
    )
    for connection in (CONNECTION, SECOND_CONNECTION):
        sync.receive(connection, [listing, resolution], at(8))
    assert sync.take_events() == [
        MarketListed(MARKET, (YES, NO), "Will it?", 5000, at(8).wall_ns),
        MarketResolved(MARKET, YES, 6000, at(8).wall_ns),
    ]


def test_no_domain_events_are_built_without_consumers() -> None:
    sync = live_sync(YES)
    sync.receive(CONNECTION, [price_change(change(YES, "0.49", "BUY", "7"))], at(7))
    assert sync.take_events() == []


def test_frames_decode_like_the_venue_sends_them() -> None:
    sync = live_sync(YES)
    events: list[MarketEvent] = [price_change(change(YES, "0.49", "BUY", "7"))]
    frame = msgspec.json.encode(events)[:-1] + b',{"event_type":"brand_new","asset_id":"1"}]'
    sync.receive_frame(CONNECTION, frame, at(7))
    assert levels(sync.books[YES])[0] == {D("0.48"): D("30"), D("0.49"): D("7")}
    assert sync.stats.frames == 1
    assert sync.unknown_event_types == {"brand_new": 1}


# --- token watchdog and audit ------------------------------------------------------------------


def test_quiet_live_tokens_are_picked_for_a_check_once_per_quiet_period() -> None:
    sync = live_sync(YES, NO)
    sync.receive(CONNECTION, [price_change(change(NO, "0.49", "BUY", "7"))], at(200))
    assert sync.quiet_tokens(300.0, quiet_for_s=300.0) == []
    assert sync.quiet_tokens(300.1, quiet_for_s=300.0) == [YES]
    assert sync.quiet_tokens(400.0, quiet_for_s=300.0) == []
    assert sync.quiet_tokens(500.0, quiet_for_s=300.0) == [NO]
    assert sync.quiet_tokens(600.2, quiet_for_s=300.0) == [YES]


def test_the_audit_resyncs_books_that_differ_from_rest() -> None:
    sync = live_sync(YES, NO)
    venue = [
        summary(YES, [("0.48", "30")], [("0.52", "25")]),
        summary(NO, [("0.48", "31")], [("0.52", "25")]),
    ]
    differing = sync.audit(venue, requested_s=10.0, now=at(11))
    assert [token for token, _ in differing] == [NO]
    assert differing[0][1].levels == (LevelDifference(Side.BUY, D("0.48"), D("30"), D("31")),)
    assert sync.states == {YES: SyncState.LIVE, NO: SyncState.STALE}
    assert (sync.stats.audits, sync.stats.audit_mismatches) == (2, 1)
    assert sync.stats.resyncs_by_reason == {"audit": 1}


def test_the_audit_does_not_judge_books_that_changed_during_the_request() -> None:
    sync = live_sync(YES)
    sync.receive(CONNECTION, [price_change(change(YES, "0.49", "BUY", "7"))], at(10.5))
    assert sync.audit([summary(YES, [("0.48", "30")], [("0.52", "25")])], requested_s=10.0, now=at(11)) == []
    assert sync.stats.audits_inconclusive == 1
    assert sync.states[YES] is SyncState.LIVE


def test_diff_book_lists_differing_levels_best_first_and_the_tick_size() -> None:
    book = OrderBook(YES, tick_size=TickSize.parse("0.01"))
    book.apply_snapshot({480_000: 30_000_000, 470_000: 1_000_000}, {520_000: 25_000_000, 530_000: 5_000_000})
    venue = summary(YES, [("0.48", "30"), ("0.49", "2"), ("0.46", "0")], [("0.52", "24")], tick_size="0.001")
    diff = diff_book(book, venue)
    assert diff.levels == (
        LevelDifference(Side.BUY, D("0.49"), None, D("2")),
        LevelDifference(Side.BUY, D("0.47"), D("1"), None),
        LevelDifference(Side.SELL, D("0.52"), D("25"), D("24")),
        LevelDifference(Side.SELL, D("0.53"), D("5"), None),
    )
    assert (diff.local_tick_size, diff.venue_tick_size) == (TickSize.parse("0.01"), TickSize.parse("0.001"))
    assert not diff.equal
    same = summary(YES, [("0.48", "30"), ("0.47", "1")], [("0.52", "25"), ("0.53", "5")])
    assert diff_book(book, same).equal


def test_diff_book_refuses_unparseable_venue_values() -> None:
    with pytest.raises(InvalidValueError):
        diff_book(OrderBook(YES), msgspec.structs.replace(summary(YES, [], []), bids=[PriceLevel("0.4x", "1")]))


@pytest.mark.parametrize("limit", [0, -1])
def test_book_sync_refuses_an_empty_buffer(limit: int) -> None:
    with pytest.raises(InvalidValueError):
        BookSync(random=no_jitter, buffer_limit=limit)


def test_jitter_is_drawn_from_the_injected_source() -> None:
    draws = itertools.cycle([0.5])
    sync = BookSync(random=lambda: next(draws), retry_initial_s=2.0, retry_max_s=8.0)
    sync.add([YES], CONNECTION, at(0))
    sync.connection_proven(CONNECTION, at(0))
    request = sync.take_snapshot_batch(at(0), 500)
    assert request is not None
    sync.snapshots_failed(request, at(0))
    assert sync.next_snapshot_due_s() == 1.5


def test_a_price_change_frame_repeated_on_its_connection_is_skipped_but_trades_are_not() -> None:
    sync = live_sync(YES)
    # Two entries: after the first the best bid is still 0.48, so re-applying the message would
    # contradict the first entry's reported best bid (0.49 is already on the book).
    two_levels = msgspec.json.encode(
        price_change(
            change(YES, "0.49", "BUY", "7", best_bid="0.49", best_ask="0.52"),
            change(YES, "0.50", "BUY", "3", best_bid="0.50", best_ask="0.52"),
        )
    )
    trade = msgspec.json.encode(LastTradePriceMessage(asset_id=YES, market=MARKET, price="0.52", timestamp="3000"))
    for frame in (two_levels, two_levels, trade, trade):
        sync.receive_frame(CONNECTION, frame, at(1))
    assert sync.stats.duplicate_frames == 1
    assert sync.stats.frames == 4
    assert sync.states[YES] is SyncState.LIVE, "the repeat raised no false best-price mismatch"
