"""Stored rows read a chunk at a time give the records, and refuse the rows, that reading them one
by one does: any mix of well-formed rows and rows with hostile cells, a typed error naming a bad row
or the same records."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyinfra.errors import CorruptRecordError
from polyinfra.record.records import RecordKind
from polyinfra.record.stored_rows import record_of_row, records_of_chunk

# What SQLite and PostgreSQL hand back for a column: these types and no other.
_CELL = st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), st.text(max_size=8), st.binary(max_size=8), st.floats())
_GOOD_ROW = st.tuples(
    st.integers(0, 2**62),
    st.text(max_size=30),
    st.text(max_size=8),
    st.sampled_from(["clob", "rtds"]),
    st.sampled_from(["market", "user"]),
    st.text(max_size=8),
    st.sampled_from([kind.value for kind in RecordKind]),
    st.integers(0, 2**62),
    st.integers(0, 2**62),
    st.one_of(st.none(), st.integers(0, 2**62)),
    st.binary(max_size=32),
)


@st.composite
def _rows(draw: st.DrawFn) -> list[tuple[Any, ...]]:
    rows = draw(st.lists(_GOOD_ROW, max_size=5))
    if rows and draw(st.booleans()):
        # One cell of one row replaced, or one row cut short or made longer.
        at = draw(st.integers(0, len(rows) - 1))
        row = list(rows[at])
        change = draw(st.sampled_from(["cell", "short", "long"]))
        if change == "cell":
            row[draw(st.integers(0, len(row) - 1))] = draw(_CELL)
        elif change == "short":
            row = row[: draw(st.integers(0, len(row) - 1))]
        else:
            row.append(draw(_CELL))
        rows[at] = tuple(row)
    return rows


@given(rows=_rows())
def test_a_chunk_reads_as_its_rows_do_one_by_one(rows: list[tuple[Any, ...]]) -> None:
    try:
        one_by_one = [record_of_row(row) for row in rows]
    except CorruptRecordError as refused:
        with pytest.raises(CorruptRecordError) as chunk_refused:
            records_of_chunk([rows])
        assert chunk_refused.value.context == refused.context
        return
    records, _ = records_of_chunk([rows])
    assert records == one_by_one


@given(rows=_rows())
def test_a_chunk_of_one_source_and_channel_reads_as_its_whole_rows_do(rows: list[tuple[Any, ...]]) -> None:
    """A read of one source and channel selects every column but those two (the 4th and 5th): the
    same records and refusals as the whole rows, their source and channel made the read's."""
    source_channel = ("clob", "market")
    narrow_rows = [row[:3] + row[5:] for row in rows]
    whole_rows = [row[:3] + source_channel + row[3:] if len(row) >= 3 else row for row in narrow_rows]
    try:
        one_by_one = [record_of_row(row) for row in whole_rows]
    except CorruptRecordError as refused:
        with pytest.raises(CorruptRecordError) as chunk_refused:
            records_of_chunk([narrow_rows], source_channel)
        assert chunk_refused.value.context == refused.context
        return
    records, _ = records_of_chunk([narrow_rows], source_channel)
    assert records == one_by_one


@given(rows=st.lists(_GOOD_ROW, max_size=12), cuts=st.lists(st.integers(0, 12), max_size=4))
def test_a_chunk_reads_the_same_in_any_batches(rows: list[tuple[Any, ...]], cuts: list[int]) -> None:
    """A sink may hand a chunk's rows over a few at a time (SQLite does): the same records."""
    bounds = [0, *sorted(min(cut, len(rows)) for cut in cuts), len(rows)]
    batches = [rows[start:end] for start, end in pairwise(bounds)]
    assert records_of_chunk(batches) == records_of_chunk([rows])
