"""The coverage manifest as a fold over records: covered while LIVE and while the recorder was
alive, gaps with the client's reasons, queue overflows cut out of every key of their channel, and
``not recorded`` for whatever no record speaks for."""

from __future__ import annotations

import msgspec

from polyinfra.record.coverage import NOT_RECORDED, CoverageManifest, Gap, Interval
from polyinfra.record.records import Record, RecordKind

_encode = msgspec.json.encode


def _record(
    index: int, wall_ns: int, kind: RecordKind, key: str = "", session: str = "s1", **details: object
) -> Record:
    return Record(
        f"{session}:clob.market.0:{index}",
        session,
        "clob",
        "market",
        key,
        kind,
        wall_ns,
        wall_ns,
        None,
        _encode(details),
    )


def test_a_tokens_history_becomes_intervals_and_reasoned_gaps() -> None:
    records = [
        _record(0, 100, RecordKind.SUBSCRIBED, token_ids=["A", "B"]),
        _record(1, 200, RecordKind.STATE_CHANGED, "A", state="live", reason="snapshot"),
        _record(2, 500, RecordKind.STATE_CHANGED, "A", state="stale", reason="disconnected"),
        _record(3, 700, RecordKind.STATE_CHANGED, "A", state="live", reason="snapshot"),
        _record(4, 800, RecordKind.GAP, reason="queue overflow", dropped=3, from_wall_ns=750, to_wall_ns=780),
        _record(5, 1_000, RecordKind.CLOCK_SAMPLE, wall_minus_monotonic_ns=0),
    ]
    manifest = CoverageManifest.of(records)
    coverage = manifest.coverage("A", 0, 1_200)
    assert coverage.covered == [Interval(200, 500), Interval(700, 750), Interval(780, 1_000)]
    assert coverage.gaps == [
        Gap(0, 100, NOT_RECORDED),
        Gap(100, 200, "subscribed"),
        Gap(500, 700, "disconnected"),
        Gap(750, 780, "queue overflow"),
        Gap(1_000, 1_200, NOT_RECORDED),
    ]
    never_live = manifest.coverage("B", 0, 1_200)
    assert never_live.covered == []
    assert Gap(100, 1_000, "subscribed") in never_live.gaps  # reasons may overlap: both hold


def test_a_window_clips_and_a_crash_ends_coverage_at_the_last_stored_record() -> None:
    records = [
        _record(0, 100, RecordKind.SUBSCRIBED, token_ids=["A"]),
        _record(1, 200, RecordKind.STATE_CHANGED, "A", state="live", reason="snapshot"),
        _record(2, 300, RecordKind.CHECKPOINT, "A"),
        # A new session: the first ended (a crash) at its last record, 300.
        _record(0, 900, RecordKind.SUBSCRIBED, session="s2", token_ids=["A"]),
        _record(1, 950, RecordKind.STATE_CHANGED, "A", session="s2", state="live", reason="snapshot"),
        _record(2, 990, RecordKind.CLOCK_SAMPLE, session="s2"),
    ]
    coverage = CoverageManifest.of(records).coverage("A", 250, 960)
    assert coverage.covered == [Interval(250, 300), Interval(950, 960)]
    assert coverage.gaps == [Gap(300, 900, NOT_RECORDED), Gap(900, 950, "subscribed")]


def test_interleaved_sessions_each_end_at_their_own_last_record_and_a_takeover_gap_names_its_keys() -> None:
    # Two fleet processes: s1 records A, s2 records B; s1 dies, and s3 takes A over at 600.
    records = [
        _record(0, 100, RecordKind.STATE_CHANGED, "A", session="s1", state="live", reason="snapshot"),
        _record(0, 150, RecordKind.STATE_CHANGED, "B", session="s2", state="live", reason="snapshot"),
        # s1's last lifecycle record; its frames were acknowledged up to 350 (the takeover gap's start).
        _record(1, 300, RecordKind.CLOCK_SAMPLE, session="s1", wall_minus_monotonic_ns=0),
        _record(1, 500, RecordKind.CLOCK_SAMPLE, session="s2", wall_minus_monotonic_ns=0),
        _record(0, 600, RecordKind.GAP, session="s3", token_ids=["A"], reason="lease takeover", from_wall_ns=350),
        _record(1, 650, RecordKind.STATE_CHANGED, "A", session="s3", state="live", reason="snapshot"),
        _record(2, 900, RecordKind.CLOCK_SAMPLE, session="s2", wall_minus_monotonic_ns=0),
        _record(2, 1_000, RecordKind.CLOCK_SAMPLE, session="s3", wall_minus_monotonic_ns=0),
    ]
    # The gap record's end: the moment of the takeover.
    records[4] = msgspec.structs.replace(
        records[4],
        payload=_encode({"reason": "lease takeover", "token_ids": ["A"], "from_wall_ns": 350, "to_wall_ns": 600}),
    )
    manifest = CoverageManifest.of(records)
    a = manifest.coverage("A", 100, 1_000)
    assert a.covered == [Interval(100, 350), Interval(650, 1_000)]
    assert Gap(350, 600, "lease takeover") in a.gaps
    b = manifest.coverage("B", 150, 900)
    assert b.covered == [Interval(150, 900)]  # s1's records and s3's did not end s2's interval
    assert b.gaps == []
