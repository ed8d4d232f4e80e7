"""The sinks the conformance suite runs against, and deterministic records to write into them.

A new sink joins the suite by adding its name to ``SINKS`` and a branch to :func:`sink_url`. A
service sink (one on a server) has its branch here and its run under ``tests/services``, whose
fixture gives each test a fresh stream, database or schema and removes it afterwards.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from polyinfra.record.records import Record, RecordKind

SINKS = ["sqlite"]
NATS_SERVER = "127.0.0.1:4222"


def sink_url(name: str, directory: Path) -> str:
    if name == "sqlite":
        return f"sqlite:///{directory / 'recording.db'}"
    if name == "jetstream":
        return f"nats://{NATS_SERVER}/test-{uuid.uuid4().hex[:16]}"  # a stream of its own
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
