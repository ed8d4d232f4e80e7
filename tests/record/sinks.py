"""The sinks the conformance suite runs against, and deterministic records to write into them.

A new sink joins the suite by adding its name to ``SINKS`` and a branch to :func:`sink_url` (a
service sink would point at its server and give each test a fresh stream, database or schema).
"""

from __future__ import annotations

import json
from pathlib import Path

from polyinfra.record.records import Record, RecordKind

SINKS = ["sqlite"]


def sink_url(name: str, directory: Path) -> str:
    if name == "sqlite":
        return f"sqlite:///{directory / 'recording.db'}"
    raise AssertionError(f"no sink named {name}")


def make_records(count: int, *, session_id: str = "s1", start: int = 0) -> list[Record]:
    """``count`` frames with distinct, stable event ids; times increase by 1 µs each."""
    return [
        Record(
            event_id=f"{session_id}:clob.market.1:{index}",
            session_id=session_id,
            source="clob",
            channel="market",
            key="",
            kind=RecordKind.FRAME_RECEIVED,
            recv_wall_ns=1_700_000_000_000_000_000 + index * 1_000,
            recv_mono_ns=5_000_000_000 + index * 1_000,
            venue_ts_ms=1_700_000_000_000 + index if index % 2 else None,
            payload=json.dumps({"event_type": "price_change", "n": index}).encode() + b"\x00\xff",
        )
        for index in range(start, start + count)
    ]
