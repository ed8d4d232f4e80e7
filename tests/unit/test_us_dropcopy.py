"""The DropCopy core: exact decoding (scales, commissions), the trade-state rule, the token chain, "caught up",
and the deadline guard; then the SQLite archive's one-transaction commit and its fencing."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from polyinfra.core.us_dropcopy import (
    CatchUp,
    ChainLink,
    DecodedBatch,
    DropCopyStream,
    LinkKind,
    TokenChain,
    TradeEffect,
    UsInstrumentChange,
    chain_gaps,
    checked_stream_deadline,
    decode_batch,
    execution_from_wire,
    position_change_from_wire,
    trade_effect,
    trade_from_wire,
)
from polyinfra.core.us_instruments import UsInstrumentState
from polyinfra.emulator.us.instruments import US_INSTRUMENTS
from polyinfra.errors import FencedOffError, InvalidValueError, MalformedMessageError
from polyinfra.record.dropcopy_archive import SQLiteDropCopyArchive
from polyinfra.wire.us.polymarket.v1 import dropcopy_pb2, orders_pb2, positions_pb2, refdata_pb2

REFERENCE = {instrument.symbol: instrument for instrument in US_INSTRUMENTS}
NYY = "aec-mlb-nyy-bos-2026-04-10"  # price scale 1000, quantity scale 100


def _execution(execution_id: str = "e1", *, scales: bool = True, commission: int = -1234) -> orders_pb2.Execution:
    order = orders_pb2.Order(id="o1", symbol=NYY, side="SIDE_SELL", account="firms/f/accounts/1")
    if scales:
        order.price_scale, order.fractional_quantity_scale = 1000, 100
    execution = orders_pb2.Execution(
        id=execution_id,
        order=order,
        last_px=655,
        last_shares=312,
        type="EXECUTION_TYPE_PARTIAL_FILL",
        commission_notional_collected=commission,
        trade_id="t1",
    )
    execution.transact_time.FromNanoseconds(1_700_000_000_123_456_789)
    return execution


def test_an_execution_decodes_exactly_through_its_orders_scales() -> None:
    execution = execution_from_wire(_execution(), {})
    assert execution.last_price == Decimal("0.655")
    assert execution.last_quantity == Decimal("3.12")
    # Notional units are dollars x price scale x quantity scale; negative is a rebate.
    assert execution.commission == Decimal("-0.01234")
    assert (execution.side, execution.type) == ("SELL", "PARTIAL_FILL")
    assert execution.transact_time_ns == 1_700_000_000_123_456_789


def test_without_scales_on_the_order_the_reference_data_decides_and_no_reference_is_refused() -> None:
    assert execution_from_wire(_execution(scales=False), REFERENCE).last_price == Decimal("0.655")
    with pytest.raises(MalformedMessageError, match="no scales"):
        execution_from_wire(_execution(scales=False), {})


def test_a_trade_and_a_position_change_decode_exactly() -> None:
    trade = trade_from_wire(orders_pb2.Trade(id="t1", state="TRADE_STATE_CLEARED", aggressor=_execution()), {})
    assert (trade.id, trade.state, trade.price, trade.quantity) == ("t1", "CLEARED", Decimal("0.655"), Decimal("3.12"))
    with pytest.raises(MalformedMessageError, match="without a state"):
        trade_from_wire(orders_pb2.Trade(id="t1", aggressor=_execution()), {})
    change = dropcopy_pb2.PositionChange(position=positions_pb2.Position(symbol=NYY, net_position=-250, cost=1_500_000))
    decoded = position_change_from_wire(change, REFERENCE)
    assert (decoded.net_position, decoded.cost) == (Decimal("-2.5"), Decimal("15"))


def test_a_batch_keeps_its_token_its_events_messages_and_newest_time() -> None:
    response = dropcopy_pb2.CreateDropCopySubscriptionResponse(
        resume_token=b"t-2", executions=[_execution("e1"), _execution("e2")]
    )
    batch = decode_batch(DropCopyStream.EXECUTIONS, response, {})
    assert batch.token == b"t-2"
    assert [event.id for event, _ in batch.events] == ["e1", "e2"]  # type: ignore[union-attr]
    assert orders_pb2.Execution.FromString(batch.events[1][1]).id == "e2"
    assert batch.newest_time_ns == 1_700_000_000_123_456_789
    heartbeat = decode_batch(DropCopyStream.TRADES, dropcopy_pb2.CreateTradeCaptureReportSubscriptionResponse(), {})
    assert heartbeat.events == () and heartbeat.newest_time_ns is None
    with pytest.raises(MalformedMessageError, match="resume token"):
        decode_batch(
            DropCopyStream.EXECUTIONS, dropcopy_pb2.CreateDropCopySubscriptionResponse(resume_token=b"x" * 5000), {}
        )


def test_an_instrument_change_keeps_its_state() -> None:
    instrument = refdata_pb2.Instrument(symbol=NYY, state="INSTRUMENT_STATE_HALTED")
    instrument.update_time.FromNanoseconds(5)
    response = dropcopy_pb2.CreateInstrumentStateChangeSubscriptionResponse(instruments=[instrument])
    ((event, _),) = decode_batch(DropCopyStream.INSTRUMENTS, response, {}).events
    assert event == UsInstrumentChange(NYY, UsInstrumentState.HALTED, 5)


def test_trade_states_dedupe_and_busted_reverses() -> None:
    assert trade_effect([], "NEW") is TradeEffect.APPLY
    assert trade_effect(["NEW"], "CLEARED") is TradeEffect.APPLY
    assert trade_effect(["NEW", "CLEARED"], "CLEARED") is TradeEffect.DUPLICATE
    assert trade_effect(["NEW", "CLEARED"], "BUSTED") is TradeEffect.REVERSE
    assert trade_effect(["NEW", "BUSTED"], "BUSTED") is TradeEffect.DUPLICATE


def test_the_token_chain_joins_or_names_its_gaps() -> None:
    chain = TokenChain(None)
    links = []
    for token in (b"a", b"b"):
        link = chain.link(token, 1, 1)
        chain.applied(link)
        links.append(link)
    links.append(chain.gap("token refused; reconciled", 3))
    chain.after_gap()
    links.append(chain.link(b"c", 2, 0))
    assert [link.kind for link in links] == [LinkKind.START, LinkKind.CONTINUOUS, LinkKind.GAP, LinkKind.BY_TIME]
    assert chain_gaps(links) == []
    broken = [*links, ChainLink(LinkKind.CONTINUOUS, b"zzz", b"d", 1, 1)]
    (gap,) = chain_gaps(broken)
    assert (gap.index, gap.expected_token, gap.token_in) == (4, b"c", b"zzz")
    # A restart after a gap, before any by-time batch, goes on by time, not as a new start.
    assert TokenChain(None, by_time=True).link(b"x", 0, 0).kind is LinkKind.BY_TIME


def test_caught_up_by_a_token_only_response_or_a_small_lag() -> None:
    catch_up = CatchUp(lag_s=5.0)
    catch_up.observe(1_000_000_000, wall_ns=100_000_000_000)
    assert not catch_up.caught_up and catch_up.lag_ns == 99_000_000_000
    catch_up.observe(98_000_000_000, wall_ns=100_000_000_000)
    assert catch_up.caught_up
    catch_up.reset()
    catch_up.observe(None, wall_ns=0)
    assert catch_up.caught_up


def test_short_deadlines_on_resumable_streams_are_refused() -> None:
    assert checked_stream_deadline(None) is None
    assert checked_stream_deadline(7200.0) == 7200.0
    with pytest.raises(InvalidValueError, match="replay"):
        checked_stream_deadline(30.0)


def _batch(token: bytes, *ids: str) -> DecodedBatch:
    response = dropcopy_pb2.CreateDropCopySubscriptionResponse(
        resume_token=token, executions=[_execution(execution_id) for execution_id in ids]
    )
    return decode_batch(DropCopyStream.EXECUTIONS, response, {})


def test_the_archive_commits_a_batch_its_token_and_link_together_and_counts_duplicates(tmp_path: Path) -> None:
    archive = SQLiteDropCopyArchive(tmp_path / "a.db")
    lease = archive.acquire("f", DropCopyStream.EXECUTIONS)
    assert lease is not None and lease.fence == 1
    chain = TokenChain(None)
    for token, ids in ((b"t1", ("e1", "e2")), (b"t2", ("e2", "e3")), (b"t3", ()), (b"t4", ())):
        batch = _batch(token, *ids)
        chain.applied(archive.commit(lease, batch, chain.link(batch.token, len(batch.events), 0)))
    assert archive.cursor("f", DropCopyStream.EXECUTIONS).token == b"t4"
    links = archive.chain("f", DropCopyStream.EXECUTIONS)
    # Two heartbeats in a row are one link from t2 to t4.
    assert [(link.token_in, link.token_out, link.new_events) for link in links] == [
        (b"", b"t1", 2),
        (b"t1", b"t2", 1),
        (b"t2", b"t4", 0),
    ]
    assert [execution_id for _, execution_id in archive.execution_ids("f")] == ["e1", "e2", "e3"]
    lease.release()
    archive.close()


def test_one_holder_at_a_time_and_a_zombie_holder_is_fenced_off(tmp_path: Path) -> None:
    archive, other = SQLiteDropCopyArchive(tmp_path / "a.db"), SQLiteDropCopyArchive(tmp_path / "a.db")
    zombie = archive.acquire("f", DropCopyStream.EXECUTIONS)
    assert zombie is not None
    assert other.acquire("f", DropCopyStream.EXECUTIONS) is None  # held
    assert other.acquire("f", DropCopyStream.TRADES) is not None  # another stream is another lease
    # The holder stalls past losing its lock (here: released by hand); a new holder gets a higher fence.
    fence = zombie.fence
    zombie.release()
    holder = other.acquire("f", DropCopyStream.EXECUTIONS)
    assert holder is not None and holder.fence == fence + 1
    other.commit(holder, _batch(b"new", "e9"), ChainLink(LinkKind.START, b"", b"new", 1, 0))
    with pytest.raises(FencedOffError):
        archive.commit(zombie, _batch(b"old", "e1"), ChainLink(LinkKind.START, b"", b"old", 1, 0))
    # The refused commit left nothing: not its record, not its token.
    assert archive.cursor("f", DropCopyStream.EXECUTIONS).token == b"new"
    assert archive.execution_ids("f") == [(NYY, "e9")]
    holder.release()
    archive.close()
    other.close()
