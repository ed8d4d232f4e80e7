"""The sinks the conformance suite runs against, and deterministic records to write into them.

An embedded sink joins the suite by adding its name to ``SINKS`` and a branch to :func:`sink_url`.
A sink that needs a server runs the same suite from ``tests/services`` (where CI fails on a skip),
with a ``url`` fixture that gives each test a fresh stream, database or schema of that server:
PostgreSQL's is :func:`postgres_schema`, NATS JetStream's a stream named by :func:`sink_url`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from polyinfra.record.records import Record, RecordKind
from tests.unique_names import unique_name

SINKS = ["sqlite"]
NATS_SERVER = "127.0.0.1:4222"
POSTGRES_URL = "postgresql://127.0.0.1:5432/test"
"""The test server (trust authentication), as CI starts it."""


@contextlib.contextmanager
def postgres_schema(*options: str) -> Iterator[str]:
    """A fresh schema on the test server, dropped after; yields the URL of a sink whose tables go
    there, with libpq ``options`` added (``-csynchronous_commit=off``). Skips the test when the
    server does not answer: under ``tests/services`` CI counts that skip as a failure."""
    schema = unique_name("polyinfra_test", separator="_")
    try:
        admin = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL does not answer at {POSTGRES_URL}: {exc}")
    with admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        try:
            settings = " ".join([f"-csearch_path={schema}", *options]).replace(" ", "%20").replace("=", "%3D")
            yield f"{POSTGRES_URL}?application_name={schema}&options={settings}"
        finally:
            # The sessions of a killed writer may still hold locks: end them before dropping.
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s", (schema,)
            )
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


def sink_url(name: str, directory: Path) -> str:
    if name == "sqlite":
        return f"sqlite:///{directory / 'recording.db'}"
    if name == "jetstream":
        return f"nats://{NATS_SERVER}/{unique_name('test')}"  # a stream of its own
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
