"""The PostgreSQL sink against the server at 127.0.0.1:5432: the whole sink conformance suite
(tests/record/test_sink_conformance.py, kill -9 included), each test in a fresh schema, then what
only this sink has: day partitions made on demand by concurrent writers, a connection the server
ended replaced, corrupt rows and bad URLs as typed errors, and a URL's password never shown."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import msgspec
import psycopg
import pytest

from polyinfra.errors import CorruptRecordError, RecorderError, SinkUrlError, SinkWriteError
from polyinfra.obs.redaction import MASK
from polyinfra.record.postgres_sink import COLUMN_TYPES, DAY_NS, PostgresSink, partition_of_day
from polyinfra.record.records import Record, SessionHeader
from polyinfra.record.sink import Sink
from polyinfra.record.sink_urls import open_sink
from tests.record.sinks import make_records, postgres_schema

# Every conformance test, collected here a second time; the url fixture below points them at PostgreSQL.
from tests.record.test_sink_conformance import *  # noqa: F403

pytestmark = pytest.mark.services


@pytest.fixture
def url() -> Iterator[str]:
    with postgres_schema() as schema_url:
        yield schema_url


def test_the_copied_columns_are_the_records_fields_in_order() -> None:
    assert tuple(COLUMN_TYPES) == Record.__struct_fields__


async def _stored(sink: Sink) -> list[Record]:
    return [record async for record in sink.read()]


def _admin(url: str) -> psycopg.Connection[tuple[object, ...]]:
    """A plain connection into the test's schema, to look at or tamper with the tables."""
    return psycopg.connect(url, autocommit=True)


def _across_midnights(records: list[Record], first_day: int) -> list[Record]:
    """``records`` spread over three UTC days, the last two seconds of each day first."""
    return [
        msgspec.structs.replace(record, recv_wall_ns=(first_day + index % 3) * DAY_NS + DAY_NS - 2_000_000_000 + index)
        for index, record in enumerate(records)
    ]


async def test_records_go_to_the_partition_of_their_day_and_read_back_in_written_order(url: str) -> None:
    first_day = 20_000
    records = _across_midnights(make_records(3_000), first_day)
    sink = PostgresSink(url)
    try:
        await sink.write(records[:1_000])
        await sink.write(records[1_000:])
        assert await _stored(sink) == records
        second_day = [record for record in records if record.recv_wall_ns // DAY_NS == first_day + 1]
        window = [
            record
            async for record in sink.read(start_wall_ns=(first_day + 1) * DAY_NS, end_wall_ns=(first_day + 2) * DAY_NS)
        ]
        assert window == second_day
    finally:
        await sink.close()
    with _admin(url) as admin:
        partitions = admin.execute(
            "SELECT inhrelid::regclass::text, (SELECT count(*) FROM polyinfra_records p WHERE p.tableoid = inhrelid)"
            " FROM pg_inherits WHERE inhparent = 'polyinfra_records'::regclass ORDER BY 1"
        ).fetchall()
    assert partitions == [(partition_of_day(first_day + offset), 1_000) for offset in range(3)]


async def test_writers_starting_the_same_days_together_all_succeed(url: str) -> None:
    writers = [PostgresSink(url) for _ in range(4)]
    batches = [_across_midnights(make_records(300, session_id=f"w{index}"), 30_000) for index in range(4)]
    try:
        # Connected first (the tables exist), so that the writes meet at the partitions.
        for writer, batch in zip(writers, batches, strict=True):
            await writer.write(batch[:1])
        await asyncio.gather(*(writer.write(batch) for writer, batch in zip(writers, batches, strict=True)))
        stored = await _stored(writers[0])
    finally:
        for writer in writers:
            await writer.close()
    assert sorted(record.event_id for record in stored) == sorted(r.event_id for batch in batches for r in batch)
    by_session = {batch[0].session_id: [r for r in stored if r.session_id == batch[0].session_id] for batch in batches}
    assert all(by_session[batch[0].session_id] == batch for batch in batches)  # each writer's order kept


async def test_a_connection_the_server_ended_is_replaced_at_the_next_write(url: str) -> None:
    records = make_records(200)
    sink = PostgresSink(url)
    try:
        await sink.write(records[:100])
        with _admin(url) as admin:
            (application,) = admin.execute("SHOW application_name").fetchone() or ("",)
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = %s AND pid <> pg_backend_pid()",
                (application,),
            )
            # A barrier: the sink's server process is gone before the sink writes again.
            while admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND pid <> pg_backend_pid()",
                (application,),
            ).fetchone() != (0,):
                await asyncio.sleep(0.01)
        with pytest.raises(SinkWriteError):
            await sink.write(records[100:])
        await sink.write(records[100:])  # what the recorder does: the same batch again
        assert await _stored(sink) == records
    finally:
        await sink.close()


@pytest.mark.parametrize(
    "hostile",
    [{"recv_mono_ns": 2**70}, {"recv_wall_ns": 2**63 - 1}, {"payload": "text"}, {"venue_ts_ms": "x"}, {"key": None}],
)
async def test_a_record_that_cannot_be_stored_fails_its_whole_batch_with_a_typed_error(
    url: str, hostile: dict[str, object]
) -> None:
    first, second, third = make_records(3)
    sink = PostgresSink(url)
    try:
        with pytest.raises(SinkWriteError):
            await sink.write([first, msgspec.structs.replace(second, **hostile)])
        await sink.write([third])  # the connection is still good
        assert await _stored(sink) == [third]
    finally:
        await sink.close()


@pytest.mark.parametrize(
    "tampering",
    [
        "UPDATE polyinfra_records SET kind = 'not a kind' WHERE event_id = 's1:clob.market.1:1'",
        "ALTER TABLE polyinfra_records ALTER COLUMN recv_mono_ns TYPE numeric",
        "ALTER TABLE polyinfra_records ALTER COLUMN payload TYPE text USING encode(payload, 'hex')",
    ],
)
async def test_a_corrupt_row_is_a_typed_error(url: str, tampering: str) -> None:
    sink = PostgresSink(url)
    try:
        await sink.write(make_records(3))
        with _admin(url) as admin:
            admin.execute(tampering)
        with pytest.raises(CorruptRecordError):
            await _stored(sink)
    finally:
        await sink.close()


async def test_a_corrupt_session_header_is_a_typed_error(url: str) -> None:
    sink = PostgresSink(url)
    try:
        await sink.write_header(SessionHeader("s1", "host", 1, 2, "clock"))
        with _admin(url) as admin:
            admin.execute("ALTER TABLE polyinfra_sessions ALTER COLUMN started_wall_ns TYPE text")
        with pytest.raises(CorruptRecordError):
            await sink.headers()
    finally:
        await sink.close()


async def test_a_commit_is_durable_even_where_the_server_says_synchronous_commit_off() -> None:
    with postgres_schema("-csynchronous_commit=off") as url:
        sink = PostgresSink(url)
        try:
            await sink.write(make_records(1))
            connection = sink._connection  # the sink's own session: its setting is what counts
            assert connection is not None
            cursor = await connection.execute("SHOW synchronous_commit")
            assert await cursor.fetchone() == ("on",)
        finally:
            await sink.close()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://bob:hunter2@[::1/test",
        "postgresql://bob:hunter2@127.0.0.1/test?nonsense=1",
        "postgres://127.0.0.1/test?password=hunter2&nonsense=1",
        "postgresql://bob:hun%zzter2@127.0.0.1/test",
    ],
)
def test_a_url_libpq_cannot_read_is_a_typed_error_without_its_password(url: str) -> None:
    with pytest.raises(SinkUrlError) as raised:
        open_sink(url)
    shown = f"{raised.value} {raised.value!r}"
    assert "hunter2" not in shown
    assert "hun%zzter2" not in shown
    assert raised.value.__cause__ is None  # psycopg's message, which quotes the URL, is not chained


@pytest.mark.parametrize("password", ["hunter2", "a-long-secret-of-30-characters"])
async def test_an_unreachable_server_is_a_typed_error_without_the_password(password: str) -> None:
    # Port 1: nothing listens there, so the connection is refused at once.
    sink = open_sink(f"postgresql://bob:{password}@127.0.0.1:1/test?sslpassword={password}")
    assert sink.url == f"postgresql://bob:{MASK}@127.0.0.1:1/test?sslpassword={MASK}"
    records = make_records(1)
    with pytest.raises(SinkWriteError) as writing:
        await sink.write(records)
    with pytest.raises(RecorderError) as reading:
        [record async for record in sink.read()]
    await sink.close()
    for error in (writing.value, reading.value):
        shown = f"{error} {error!r}"
        assert password not in shown
        assert "127.0.0.1" in shown  # the error still says where it could not connect


async def test_the_password_in_a_working_url_is_never_shown(url: str) -> None:
    # Trust authentication ignores the password, so this URL connects.
    with_password = url.replace("postgresql://", "postgresql://root:hunter2@")
    sink = open_sink(with_password)
    try:
        await sink.write(make_records(2))
        assert "hunter2" not in sink.url
        assert len(await _stored(sink)) == 2
    finally:
        await sink.close()
