"""Records and session headers as the SQL sinks store them (SQLite and PostgreSQL alike): one row
each, a column per field in the field's order, and the same read filters.

A row read back is checked column by column before it becomes a :class:`Record`: the store is
outside polyinfra's hands (a file anyone can edit, a table anyone can alter), and a wrong type
must end as :class:`~polyinfra.errors.CorruptRecordError`, not as a record that breaks a replay
later.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Sequence
from types import GenericAlias
from typing import Any, Final

import msgspec
from msgspec.structs import astuple

from polyinfra.errors import CorruptRecordError
from polyinfra.record.records import Record, RecordKind, SessionHeader, SourceChannel

__all__ = [
    "CONVERTED_ROWS",
    "READ_CHUNK_ROWS",
    "RECORD_COLUMNS",
    "SESSION_COLUMNS",
    "chunk_query",
    "chunks_in_written_order",
    "header_of_row",
    "record_of_row",
    "records_of_chunk",
    "row_of",
]

RECORD_COLUMNS: Final = ", ".join(Record.__struct_fields__)
"""The records table's columns after ``seq``, in :class:`Record`'s field order."""
_SOURCE_CHANNEL_FIELDS: Final = ("source", "channel")
_CHANNEL_RECORD_FIELDS: Final = tuple(name for name in Record.__struct_fields__ if name not in _SOURCE_CHANNEL_FIELDS)
_CHANNEL_RECORD_COLUMNS: Final = ", ".join(_CHANNEL_RECORD_FIELDS)
"""What a read of one source and channel selects: the records table's columns but those two, which
the read knows already (two strings fewer for the store to hand back per row: replay reads millions)."""
SESSION_COLUMNS: Final = ", ".join(SessionHeader.__struct_fields__)
"""The sessions table's columns, in :class:`SessionHeader`'s field order."""

READ_CHUNK_ROWS: Final = 2_000
"""Rows fetched per trip to the store while reading: large enough that a trip is cheap, small
enough that a long recording is never held in memory whole."""
CONVERTED_ROWS: Final = 250
"""Rows a sink that can fetch part of a trip's rows at a time turns into records at once. Row
tuples are the garbage collector's to track: a whole chunk's of them alive at once (and their
checked copies) crossed its first threshold, 700 new containers, several times a chunk (twenty
young collections and a middle one per 20,000 records replayed, work live does not cause); a few
hundred at a time stay below it. The records themselves are not tracked."""

_KINDS: Final = {kind.value: kind for kind in RecordKind}
# seq, then the record's fields as the tables store them (with and without a venue time).
_RECORD_ROW_TYPES: Final = frozenset(
    {
        (int, str, str, str, str, str, str, int, int, int, bytes),
        (int, str, str, str, str, str, str, int, int, type(None), bytes),
    }
)
_HEADER_ROW_TYPES: Final = (str, str, int, int, str)


def row_of(stored: Record | SessionHeader) -> tuple[Any, ...]:
    """The row that stores a record or a session header: its fields in order (a record's kind is a
    str: a StrEnum)."""
    return astuple(stored)


def record_of_row(row: tuple[Any, ...]) -> Record:
    """A stored ``(seq, *fields)`` row as a :class:`Record`, every column's type checked."""
    # One tuple comparison of the columns' types: this runs for every record a replay reads.
    kind = _KINDS.get(row[6]) if tuple(map(type, row)) in _RECORD_ROW_TYPES else None
    if kind is None:
        # A row of the wrong length names no event: read its id and position only when it has them.
        event_id, seq = (str(row[1])[:100], row[0]) if len(row) > 1 else (None, None)
        raise CorruptRecordError("a stored record cannot be read back", event_id=event_id, seq=seq)
    return Record(row[1], row[2], row[3], row[4], row[5], kind, row[7], row[8], row[9], row[10])


def _stored_chunk_type(fields: Sequence[str]) -> GenericAlias:
    """A chunk of ``(seq, *fields)`` rows as msgspec checks it: ``seq``, then each field with its
    type, taken from Record itself (a tuple type is of that exact length)."""
    types = {field.name: field.type for field in msgspec.structs.fields(Record)}
    return GenericAlias(list, GenericAlias(tuple, (int, *(types[name] for name in fields))))


_STORED_CHUNK: Final = _stored_chunk_type(Record.__struct_fields__)
_STORED_CHANNEL_CHUNK: Final = _stored_chunk_type(_CHANNEL_RECORD_FIELDS)


def records_of_chunk(
    batches: Iterable[Sequence[tuple[Any, ...]]], source_channel: SourceChannel | None = None
) -> tuple[list[Record], int | None]:
    """The rows of one :func:`chunk_query` (``ORDER BY seq LIMIT READ_CHUNK_ROWS``), handed over in
    ``batches``, as records, and the ``seq`` to read on after (None: the chunk was the last one).
    The rows are ``(seq, *fields)``, without the source and channel when the read was of
    ``source_channel``."""
    records: list[Record] = []
    rows_read, last_seq = 0, None
    for rows in batches:
        if rows:
            records += _records_of_rows(rows, source_channel)
            rows_read += len(rows)
            last_seq = rows[-1][0]
    return records, last_seq if rows_read == READ_CHUNK_ROWS else None


def _records_of_rows(rows: Sequence[tuple[Any, ...]], source_channel: SourceChannel | None) -> list[Record]:
    try:
        # The rows' columns checked in one msgspec call, as record_of_row checks one row (strict:
        # no int from a float or a bool; no payload decoded from a string), at under half its
        # cost: this runs for every record a replay reads.
        chunk_type = _STORED_CHUNK if source_channel is None else _STORED_CHANNEL_CHUNK
        stored = msgspec.convert(rows, chunk_type, strict=True, builtin_types=(bytes,))
    except msgspec.ValidationError as exc:
        for row in rows:
            record_of_row(_whole_row(row, source_channel))  # raises, naming the first row that is not a record
        raise CorruptRecordError("a stored chunk cannot be read back", seq=rows[0][0]) from exc
    if source_channel is None:
        return [Record(*row[1:]) for row in stored]
    source, channel = source_channel
    return [
        Record(event_id, session_id, source, channel, key, kind, wall_ns, mono_ns, venue_ms, payload)
        for _, event_id, session_id, key, kind, wall_ns, mono_ns, venue_ms, payload in stored
    ]


def _whole_row(row: tuple[Any, ...], source_channel: SourceChannel | None) -> tuple[Any, ...]:
    """A row read of ``source_channel`` (without those columns) as the whole row it stands for."""
    # A row too short to reach the source column stays as it is: it is refused for its length.
    return row if source_channel is None or len(row) < 3 else (*row[:3], *source_channel, *row[3:])


def header_of_row(row: tuple[Any, ...]) -> SessionHeader:
    """A stored sessions row as a :class:`SessionHeader`, every column's type checked."""
    if tuple(map(type, row)) != _HEADER_ROW_TYPES:
        raise CorruptRecordError("a session header cannot be read back", session_id=str(row[0])[:100])
    return SessionHeader(*row)


def chunk_query(
    table: str,
    placeholder: str,
    start_wall_ns: int | None,
    end_wall_ns: int | None,
    kinds: Collection[RecordKind] | None,
    *,
    source_channel: SourceChannel | None = None,
) -> tuple[str, tuple[object, ...]]:
    """The query of the next chunk of records from ``table`` received in ``[start_wall_ns,
    end_wall_ns)``, of ``kinds`` and of ``source_channel`` (None: no bound), in written order, and
    its parameters after the first: the ``seq`` to read on after. ``placeholder`` is the driver's.
    :func:`records_of_chunk` reads its rows."""
    conditions = [f"seq > {placeholder}"]
    parameters: list[object] = []
    columns = RECORD_COLUMNS
    if source_channel is not None:
        conditions.append(f"source = {placeholder} AND channel = {placeholder}")
        parameters.extend(source_channel)
        columns = _CHANNEL_RECORD_COLUMNS
    if start_wall_ns is not None:
        conditions.append(f"recv_wall_ns >= {placeholder}")
        parameters.append(start_wall_ns)
    if end_wall_ns is not None:
        conditions.append(f"recv_wall_ns < {placeholder}")
        parameters.append(end_wall_ns)
    if kinds is not None:
        # An empty collection selects nothing; "IN ()" is not SQL.
        conditions.append(f"kind IN ({', '.join([placeholder] * len(kinds))})" if kinds else "FALSE")
        parameters.extend(kind.value for kind in kinds)
    where = " AND ".join(conditions)
    query = f"SELECT seq, {columns} FROM {table} WHERE {where} ORDER BY seq LIMIT {READ_CHUNK_ROWS}"
    return query, tuple(parameters)


async def chunks_in_written_order(
    fetch_after: Callable[[int], Awaitable[tuple[list[Record], int | None]]],
) -> AsyncIterator[list[Record]]:
    """Every chunk ``fetch_after(seq)`` gives (records, and the ``seq`` to read on after; None
    after the last), from the start of the table."""
    last_seq: int | None = 0
    while last_seq is not None:
        records, last_seq = await fetch_after(last_seq)
        yield records
