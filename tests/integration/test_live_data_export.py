"""RTDS and PolyBolt tapes exported as Parquet and read back with pyarrow: a session recorded over real
sockets from the embedded emulator, a connection dropped (:mod:`tests.integration.live_data_tapes`), is
exported, and every event its replay yields is a row of its table with equal values (the gaps included,
in the ``gaps`` table), from the record it came from, in the same order; the numbers are exact decimals;
``--key`` narrows the rows as the replay's keys do; ``polyinfra export --source polybolt`` does the same
on the command line.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from polyinfra.emulator.faults import FaultConfig, RateLimitMode
from polyinfra.emulator.runner import Emulator
from polyinfra.model.live_events import ActivityTrade, CommentEvent, Gap, LiveEvent, PriceTick
from polyinfra.model.numbers import Side
from polyinfra.record.export import export_parquet
from polyinfra.record.live_data_export import LIVE_DATA_DECIMAL, LIVE_DATA_TABLES
from polyinfra.record.live_data_replay import LiveDataReplay
from polyinfra.record.polybolt_replay import PolyBoltReplay
from polyinfra.record.rtds_replay import RtdsReplay
from polyinfra.record.sink_urls import open_sink
from tests.integration.cli_steps import run_polyinfra_in_process
from tests.integration.live_data_tapes import of, record_polybolt_session, record_rtds_session
from tests.integration.test_polybolt_live_data import SteppingClock

Exported = dict[str, list[tuple[LiveEvent, str, int]]]
"""Table -> (event, event_id, recv_wall_ns) of each row, in order."""

_EVENT_OF_ROW: dict[str, Callable[[dict[str, Any], str], LiveEvent]] = {
    "activity": lambda row, _: ActivityTrade(
        kind=row["kind"],
        wallet=row["wallet"],
        side=Side(row["side"]),
        price=row["price"],
        size=row["size"],
        token_id=row["token_id"],
        condition_id=row["condition_id"],
        outcome=row["outcome"],
        market_slug=row["market_slug"],
        event_slug=row["event_slug"],
        title=row["title"],
        name=row["name"],
        pseudonym=row["pseudonym"],
        transaction_hash=row["transaction_hash"],
        timestamp_s=row["timestamp_s"],
        sent_ms=row["venue_ts_ms"],
    ),
    "prices": lambda row, _: PriceTick(
        row["topic"], row["symbol"], row["price"], row["venue_ts_ms"], backfill=row["backfill"]
    ),
    "comments": lambda row, _: CommentEvent(
        kind=row["kind"],
        comment_id=row["comment_id"],
        body=row["body"],
        user_address=row["user_address"],
        parent_entity_id=row["parent_entity_id"],
        parent_entity_type=row["parent_entity_type"],
        reaction_type=row["reaction_type"],
        sent_ms=row["venue_ts_ms"],
    ),
    "gaps": lambda row, source: Gap(source, row["topic"], row["from_ms"], row["to_ms"], row["reason"]),
}


def read_back(out: Path, source: str) -> Exported:
    """Each table's rows as the events they were made from; the partitions checked on the way."""
    exported: Exported = {}
    for name, schema in LIVE_DATA_TABLES.items():
        parts = sorted((out / name).glob(f"source={source}/date=*/part-*.parquet"))
        rows = [row for part in parts for row in pq.read_table(part).to_pylist()]
        assert all(set(row) == set(schema.names) for row in rows), name
        exported[name] = [(_EVENT_OF_ROW[name](row, source), row["event_id"], row["recv_wall_ns"]) for row in rows]
    return exported


async def replayed_rows(replay: LiveDataReplay) -> Exported:
    """What the export must have written: each event the replay yields, with its record, by table."""
    table_of = {ActivityTrade: "activity", PriceTick: "prices", CommentEvent: "comments", Gap: "gaps"}
    expected: Exported = {name: [] for name in LIVE_DATA_TABLES}
    async for record, events in replay.steps():
        for event in events:
            expected[table_of[type(event)]].append((event, record.event_id, record.recv_wall_ns))
    return expected


async def test_an_rtds_tape_exports_every_replayed_event_as_a_row_with_its_values(tmp_path: Path) -> None:
    sink = open_sink(f"sqlite:///{tmp_path}/tape.db")
    try:
        async with Emulator(markets=2, seed=11, rate=0) as emulator:
            delivered = await record_rtds_session(emulator, sink)
        summary = await export_parquet(sink, tmp_path / "all", source="rtds")
        expected = await replayed_rows(RtdsReplay(sink))
        wallet = next(event.wallet for event in delivered if isinstance(event, ActivityTrade))
        await export_parquet(sink, tmp_path / "wallet", source="rtds", keys=[wallet.upper()])
        by_wallet = await replayed_rows(RtdsReplay(sink, keys=[wallet]))
    finally:
        await sink.close()

    exported = read_back(tmp_path / "all", "rtds")
    assert exported == expected
    assert Counter(delivered) == Counter(event for rows in exported.values() for event, _, _ in rows)
    assert summary.rows == {name: len(rows) for name, rows in expected.items()} and summary.left_out == 0
    assert all(expected[name] for name in ("activity", "prices", "comments", "gaps"))
    assert [event for event, _, _ in exported["gaps"]] == of(delivered, Gap)
    schema = pq.read_schema(summary.files[0])
    assert schema.field("price").type == LIVE_DATA_DECIMAL and schema.field("size").type == LIVE_DATA_DECIMAL
    # Narrowed to one wallet: its trades, and the gaps (they concern every key of their topic).
    narrowed = read_back(tmp_path / "wallet", "rtds")
    assert narrowed == by_wallet and narrowed["activity"] and not narrowed["prices"]
    assert {event.wallet for event, _, _ in narrowed["activity"]} == {wallet}  # type: ignore[attr-defined]


async def test_polyinfra_export_writes_a_polybolt_tape_with_its_gaps(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/tape.db"
    sink = open_sink(url)
    try:
        async with Emulator(markets=1, seed=7, rate=0, faults=FaultConfig(rate_limits=RateLimitMode.OFF)) as emulator:
            delivered = await record_polybolt_session(emulator, sink, SteppingClock())
        expected = await replayed_rows(PolyBoltReplay(sink))
    finally:
        await sink.close()
    out = tmp_path / "export"
    command = ("export", "--sink", url, "--out", str(out), "--source", "polybolt")
    code, printed, err = await run_polyinfra_in_process(*command)
    assert code == 0, err
    exported = read_back(out, "polybolt")
    assert exported == expected
    assert [event for event, _, _ in exported["prices"]] == of(delivered, PriceTick)
    assert [event for event, _, _ in exported["gaps"]] == of(delivered, Gap) != []
    assert not exported["activity"] and not exported["comments"]
    ticks, gaps = len(exported["prices"]), len(exported["gaps"])
    assert f"0 activity, {ticks:,} prices, 0 comments, {gaps} gaps rows into {out}" in printed
    code, _, err = await run_polyinfra_in_process(*command)
    assert code != 0 and "not empty" in err
