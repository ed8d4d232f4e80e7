"""The PostgreSQL sink, for servers: ``postgresql://USER:PASSWORD@HOST:PORT/DATABASE`` (any libpq
URL; ``?options=-csearch_path%3DSCHEMA`` keeps the tables in a schema of their own). Needs the
``postgres`` extra: ``pip install 'polyinfra[postgres]'``.

Tables, created when missing in the connection's current schema:

* ``polyinfra_records``, partitioned by UTC day of ``recv_wall_ns`` (declarative range
  partitioning); one partition per day, ``polyinfra_records_YYYYMMDD``, created on demand. ``seq``
  (a sequence) is the written order, indexed in every partition.
* ``polyinfra_sessions``, the session headers, unique by ``session_id``.

**One transaction per batch.** The batch is copied (binary ``COPY``) straight into
``polyinfra_records`` inside a savepoint. When it repeats an event already stored (a recorder
retrying a batch whose commit answer was lost, a writer restarted after a crash re-sending what it
cannot prove was stored) the primary key refuses the copy whole, the savepoint undoes it, and the
batch goes the deduplicating way instead: ``COPY`` into a temporary staging table that the
connection keeps (no WAL; the server empties it at every commit), then ``INSERT ... SELECT ...
ORDER BY position ON CONFLICT DO NOTHING``. Both ways are in the batch's one transaction, so a
batch is stored whole, once, or not at all. The first way is the common one and costs about what
a bare ``COPY`` costs (1.04-1.25x in ``bench/recorder_postgres.py``); staging every batch
measured 1.69x, and a batch written again, refused and then staged, 1.36-1.57x.
:meth:`PostgresSink.write` returns once ``COMMIT`` has, so an acknowledged batch survives a
``kill -9`` of the writer. A connection whose ``synchronous_commit`` is ``off`` is set to ``on``:
``off`` answers a commit before its WAL is on disk.

**The unique event id.** PostgreSQL requires a unique constraint of a partitioned table to contain
the partition key, so the key is ``(event_id, recv_wall_ns)``. An event's receive time is part of
the event: the tap stamps it once, and every later write of the event (a recorder retrying a batch
whose commit answer was lost, a restarted writer re-sending what it cannot prove was stored)
carries the record unchanged, so the pair is unique exactly when the event id is. Chosen over a
separate, unpartitioned table of event ids, which costs a second index write for every record and
grows for ever (dropping an old day would leave its ids behind); here dropping a day's partition
drops its ids with it. What the key cannot refuse is two *different* records with one event id and
different receive times: event ids start with the recording session's random id, so only a writer
that forges them can make such a pair.

**Partitions on demand, concurrency-safe.** A batch's days are compared with those this connection
has already made sure of; a new day's partition is created (``CREATE TABLE IF NOT EXISTS ...
PARTITION OF``) in a short transaction of its own, under a transaction-scoped advisory lock:
``IF NOT EXISTS`` alone is not safe against a concurrent creation of the same name (both pass the
check, one fails on the catalog's unique index), so without the lock two writers starting a day
together could fail. The tables themselves are created under the same lock.

**Written order is commit order.** ``seq`` takes its values as rows go in, in the batch's order
(a copy takes its rows in order; the staging way inserts ``ORDER BY position``); writers take a
transaction-scoped advisory lock of the table before they insert and hold it until ``COMMIT``, so
no batch commits with lower ``seq`` values than one already committed, and a reader paging by
``seq`` (as :meth:`PostgresSink.read_chunks` does) never sees a hole filled later. Several
recorders may share the tables; their inserts take turns.

**Errors.** A psycopg failure ends as :class:`~polyinfra.errors.SinkWriteError` (writes, which the
recorder retries) or :class:`~polyinfra.errors.RecorderError` (reads); a connection that broke is
dropped and the next call connects again, so recording goes on after a server restart. The URL's
password is never shown: :attr:`PostgresSink.url` masks it, and so does every error's text.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from typing import Any, Final, TypeVar

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import TupleRow

from polyinfra.errors import RecorderError, SinkUrlError, SinkWriteError
from polyinfra.obs.redaction import MIN_SECRET_CHARS, redact_url, redact_url_credentials, register_secret
from polyinfra.record.records import Record, RecordKind, SessionHeader, SourceChannel
from polyinfra.record.sink import Sink
from polyinfra.record.stored_rows import (
    RECORD_COLUMNS,
    SESSION_COLUMNS,
    chunk_query,
    chunks_in_written_order,
    header_of_row,
    records_of_chunk,
    row_of,
)

__all__ = ["COLUMN_TYPES", "DAY_NS", "RECORDS_TABLE", "PostgresSink", "make_day_partitions", "partition_of_day"]

RECORDS_TABLE: Final = "polyinfra_records"
COLUMN_TYPES: Final = {
    "event_id": "text",
    "session_id": "text",
    "source": "text",
    "channel": "text",
    "key": "text",
    "kind": "text",
    "recv_wall_ns": "bigint",
    "recv_mono_ns": "bigint",
    "venue_ts_ms": "bigint",
    "payload": "bytea",
}
"""The records table's columns after ``seq``, in :class:`Record`'s field order, with their types
(the binary ``COPY`` names them too)."""
_NULLABLE: Final = frozenset({"venue_ts_ms"})
DAY_NS: Final = 86_400 * 1_000_000_000
"""A partition's span of ``recv_wall_ns``: one UTC day."""
# Seconds to wait for the server when the URL says nothing (libpq's default is to wait for ever).
_CONNECT_TIMEOUT_S: Final = 10
_SHOWN_CHARS: Final = 500

_COLUMN_DEFINITIONS: Final = ",\n    ".join(
    f"{name} {kind}{'' if name in _NULLABLE else ' NOT NULL'}" for name, kind in COLUMN_TYPES.items()
)
# Advisory lock keys: 'poly' in the high 32 bits; the low 32 bits are 0 for creating tables (one
# lock per database: DDL is rare) or the records table's OID for writing (one lock per table).
_DDL_LOCK: Final = "SELECT pg_advisory_xact_lock(x'706f6c79'::bigint << 32)"
_WRITE_LOCK: Final = (
    f"SELECT pg_advisory_xact_lock((x'706f6c79'::bigint << 32) | '{RECORDS_TABLE}'::regclass::oid::bigint)"
)
_CREATE_TABLES: Final = f"""
CREATE TABLE IF NOT EXISTS {RECORDS_TABLE} (
    seq bigserial NOT NULL,
    {_COLUMN_DEFINITIONS},
    PRIMARY KEY (event_id, recv_wall_ns)
) PARTITION BY RANGE (recv_wall_ns);
CREATE INDEX IF NOT EXISTS {RECORDS_TABLE}_seq ON {RECORDS_TABLE} (seq);
CREATE TABLE IF NOT EXISTS polyinfra_sessions (
    session_id text PRIMARY KEY,
    host_id text NOT NULL,
    started_wall_ns bigint NOT NULL,
    started_mono_ns bigint NOT NULL,
    clock_source text NOT NULL
)"""
# Temporary, so neither WAL nor other sessions see it; made by the first batch that needs it and
# kept by the connection, emptied at every commit.
_CREATE_STAGING: Final = f"""
CREATE TEMPORARY TABLE IF NOT EXISTS polyinfra_staging (
    position bigint GENERATED ALWAYS AS IDENTITY,
    {_COLUMN_DEFINITIONS}
) ON COMMIT DELETE ROWS"""
_COPY_TO_STAGING: Final = f"COPY polyinfra_staging ({RECORD_COLUMNS}) FROM STDIN (FORMAT BINARY)"
_COPY_TO_RECORDS: Final = f"COPY {RECORDS_TABLE} ({RECORD_COLUMNS}) FROM STDIN (FORMAT BINARY)"
_MOVE_FROM_STAGING: Final = (
    f"INSERT INTO {RECORDS_TABLE} ({RECORD_COLUMNS})"
    f" SELECT {RECORD_COLUMNS} FROM polyinfra_staging ORDER BY position ON CONFLICT DO NOTHING"
)
_INSERT_SESSION: Final = (
    f"INSERT INTO polyinfra_sessions ({SESSION_COLUMNS})"
    f" VALUES ({', '.join(['%s'] * len(SessionHeader.__struct_fields__))}) ON CONFLICT DO NOTHING"
)
_BATCH: Final = "batch"
_HEADER: Final = "header"
_T = TypeVar("_T")
_Connection = psycopg.AsyncConnection[TupleRow]


def partition_of_day(day: int) -> str:
    """The name of the partition holding the records received on ``day`` (days since the epoch, UTC)."""
    date = datetime.datetime.fromtimestamp(day * 86_400, datetime.UTC)
    return f"{RECORDS_TABLE}_{date:%Y%m%d}"


async def make_day_partitions(connection: _Connection, days: Collection[int]) -> None:
    """Create the partitions of ``days`` (days since the epoch, UTC) that do not exist yet, in a
    transaction of their own, under the lock every creator takes (see the module's docstring)."""
    async with connection.transaction():
        await connection.execute(_DDL_LOCK)
        for day in sorted(days):
            await connection.execute(
                sql.SQL("CREATE TABLE IF NOT EXISTS {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(
                    sql.Identifier(partition_of_day(day)),
                    sql.Identifier(RECORDS_TABLE),
                    sql.Literal(day * DAY_NS),
                    sql.Literal((day + 1) * DAY_NS),
                )
            )


async def _copy(cursor: psycopg.AsyncCursor[TupleRow], statement: str, rows: Sequence[tuple[object, ...]]) -> None:
    async with cursor.copy(statement) as copy:
        copy.set_types(list(COLUMN_TYPES.values()))
        for row in rows:
            await copy.write_row(row)


class PostgresSink(Sink):
    """Records in the PostgreSQL database at ``url``. Connects on first use (and again after the
    connection broke); :class:`~polyinfra.errors.SinkUrlError` at once for a URL libpq cannot parse."""

    def __init__(self, url: str) -> None:
        self.url = redact_url(url)
        self._given_url = url
        try:
            parameters = conninfo_to_dict(url)
        except psycopg.Error as exc:
            # From None: psycopg's own message quotes the whole URL, password included.
            raise SinkUrlError(f"not a PostgreSQL connection URL: {self._shown(exc)}", url=self.url) from None
        # Registered, so that a log line that somehow quotes it is masked too.
        for key in ("password", "sslpassword"):
            value = parameters.get(key)
            if isinstance(value, str) and len(value) >= MIN_SECRET_CHARS:
                register_secret(value)
        self._connect_options: dict[str, Any] = (
            {} if "connect_timeout" in parameters else {"connect_timeout": _CONNECT_TIMEOUT_S}
        )
        self._connection: _Connection | None = None
        self._days_with_partition: set[int] = set()
        self._closed = False
        # One operation at a time: a batch's transaction spans several round trips, and a read
        # sent meanwhile on the same connection would run inside it.
        self._lock = asyncio.Lock()

    async def write_header(self, header: SessionHeader) -> None:
        row = row_of(header)

        async def insert(connection: _Connection) -> None:
            await connection.execute(_INSERT_SESSION, row)

        await self._run(insert, _HEADER)

    async def write(self, records: Sequence[Record]) -> None:
        if not records:
            return
        rows = [row_of(record) for record in records]
        days = {record.recv_wall_ns // DAY_NS for record in records}

        async def insert(connection: _Connection) -> None:
            new_days = days - self._days_with_partition
            if new_days:
                await make_day_partitions(connection, new_days)
                self._days_with_partition |= new_days
            async with connection.transaction(), connection.cursor() as cursor:
                await cursor.execute(_WRITE_LOCK)
                try:
                    async with connection.transaction():
                        await _copy(cursor, _COPY_TO_RECORDS, rows)
                except psycopg.errors.UniqueViolation:
                    # The batch repeats a stored event (a retry, a restarted writer): the
                    # savepoint undid the copy, so store the batch less what is already there.
                    await cursor.execute(_CREATE_STAGING)
                    await _copy(cursor, _COPY_TO_STAGING, rows)
                    await cursor.execute(_MOVE_FROM_STAGING)

        try:
            await self._run(insert, _BATCH)
        except (TypeError, ValueError, OverflowError) as exc:
            # psycopg could not send a field as its column's type (an int past 64 bits, text for
            # bytes): a record no tap makes. The copy was aborted with the batch's transaction.
            raise SinkWriteError(
                "a record of the batch cannot be stored as its columns' types",
                retriable=False,
                error=str(exc)[:200],
                url=self.url,
            ) from exc

    def read_chunks(
        self,
        *,
        start_wall_ns: int | None = None,
        end_wall_ns: int | None = None,
        kinds: Collection[RecordKind] | None = None,
        source_channel: SourceChannel | None = None,
    ) -> AsyncIterator[Sequence[Record]]:
        query = chunk_query(RECORDS_TABLE, "%s", start_wall_ns, end_wall_ns, kinds, source_channel=source_channel)
        fetch = functools.partial(self._fetch_chunk, *query, source_channel)
        return chunks_in_written_order(lambda after_seq: self._run(functools.partial(fetch, after_seq), "read"))

    @staticmethod
    async def _fetch_chunk(
        query: str,
        parameters: tuple[object, ...],
        source_channel: SourceChannel | None,
        after_seq: int,
        connection: _Connection,
    ) -> tuple[list[Record], int | None]:
        """The next chunk after ``after_seq`` as records, and its last ``seq`` (None: it was the last chunk)."""
        # Binary results: bytea arrives as bytes, not as hex text to decode.
        async with connection.cursor(binary=True) as cursor:
            await cursor.execute(query, (after_seq, *parameters))
            return records_of_chunk([await cursor.fetchall()], source_channel)

    async def headers(self) -> list[SessionHeader]:
        async def fetch(connection: _Connection) -> list[TupleRow]:
            cursor = await connection.execute(
                f"SELECT {SESSION_COLUMNS} FROM polyinfra_sessions ORDER BY started_wall_ns"
            )
            return await cursor.fetchall()

        return [header_of_row(row) for row in await self._run(fetch, "sessions")]

    async def close(self) -> None:
        async with self._lock:
            self._closed = True
            if self._connection is not None:
                await self._connection.close()
                self._connection = None

    async def _run(self, operation: Callable[[_Connection], Awaitable[_T]], what: str) -> _T:
        async with self._lock:
            if self._closed:
                raise RecorderError("the PostgreSQL sink is closed", url=self.url)
            try:
                return await operation(await self._connected())
            except psycopg.Error as exc:
                # What this connection believed about the server (its partitions) may be stale now.
                self._days_with_partition.clear()
                if self._connection is not None and self._connection.closed:
                    self._connection = None
                error = SinkWriteError if what in (_BATCH, _HEADER) else RecorderError
                raise error(f"PostgreSQL {what} failed: {self._shown(exc)}", url=self.url) from exc

    async def _connected(self) -> _Connection:
        if self._connection is not None and not self._connection.closed:
            return self._connection
        self._connection = None
        connection = await psycopg.AsyncConnection.connect(self._given_url, autocommit=True, **self._connect_options)
        try:
            await self._prepare(connection)
        except BaseException:
            await connection.close()
            raise
        self._connection = connection
        return connection

    @staticmethod
    async def _prepare(connection: _Connection) -> None:
        # Looked up first: a role that may only read (a replay) cannot run CREATE, even IF NOT EXISTS.
        cursor = await connection.execute("SELECT to_regclass('polyinfra_sessions') IS NULL")
        if await cursor.fetchone() == (True,):
            async with connection.transaction():
                await connection.execute(_DDL_LOCK)
                await connection.execute(_CREATE_TABLES)
        cursor = await connection.execute("SHOW synchronous_commit")
        if await cursor.fetchone() == ("off",):
            await connection.execute("SET synchronous_commit TO on")

    def _shown(self, exc: BaseException) -> str:
        """psycopg's message on one line (libpq adds hints on lines of their own), with whatever it
        quotes of the URL's credentials masked, cut short: a constraint's DETAIL quotes the whole
        failing row, payload and all."""
        return redact_url_credentials(" ".join(str(exc).split()), self._given_url)[:_SHOWN_CHARS]
