"""What every Parquet export of a tape shares (:mod:`polyinfra.record.export` for the books,
:mod:`polyinfra.record.live_data_export` for the live-data tapes): the output directory, the tables
written part by part under Hive-style ``source=``/``date=`` partitions, and the columns that say
where each row came from.

Every row carries ``recv_wall_ns``, ``recv_mono_ns`` (comparable within one ``session_id``),
``venue_ts_ms`` (the venue's time in the message, null when it had none), ``session_id`` and
``event_id`` of the record that made it; its partition date is the UTC date of ``recv_wall_ns``.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pyarrow as pa
import pyarrow.parquet as pq

from polyinfra.errors import ExportError
from polyinfra.record.records import Record

__all__ = ["ORIGIN_FIELDS", "ExportSummary", "ParquetTable", "origin_of", "prepare_output", "utc_date_of"]

ORIGIN_FIELDS: Final = [
    ("recv_wall_ns", pa.int64()),
    ("recv_mono_ns", pa.int64()),
    ("venue_ts_ms", pa.int64()),
    ("session_id", pa.string()),
    ("event_id", pa.string()),
]
"""The columns that end every table's schema: the record a row came from."""

# Rows held per table before a part file is written: bounds memory on a long recording.
_ROWS_PER_PART: Final = 200_000
_NS_PER_DAY: Final = 86_400 * 1_000_000_000
_EPOCH: Final = datetime.date(1970, 1, 1)


@dataclass(frozen=True, slots=True)
class ExportSummary:
    """What an export wrote: rows per table, and the files; ``left_out``: events with a value no
    column of their table can hold exactly, not written (always 0 for the books)."""

    rows: Mapping[str, int]
    files: list[Path]
    left_out: int = 0


@dataclass(slots=True)
class ParquetTable:
    """Rows of one table of ``source`` waiting to be written under ``out``, by partition date."""

    name: str
    schema: pa.Schema
    out: Path
    source: str
    pending: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    held: int = 0
    rows: int = 0
    parts: int = 0
    files: list[Path] = field(default_factory=list)
    rows_per_part: int = _ROWS_PER_PART

    def add(self, date: str, row: dict[str, Any]) -> None:
        self.pending.setdefault(date, []).append(row)
        self.held += 1
        self.rows += 1
        if self.held >= self.rows_per_part:
            self.flush()

    def flush(self) -> None:
        for date, rows in self.pending.items():
            folder = self.out / self.name / f"source={self.source}" / f"date={date}"
            # Zero-padded, so that the files' names sort in the order they were written: readers that list a
            # partition's files by name (pyarrow's datasets do) then read its rows in the tape's order.
            path = folder / f"part-{self.parts:06d}.parquet"
            try:
                folder.mkdir(parents=True, exist_ok=True)
                pq.write_table(pa.Table.from_pylist(rows, schema=self.schema), path)
            except OSError as exc:
                raise ExportError(f"cannot write {path}: {exc.strerror or exc}", path=str(path)) from exc
            self.files.append(path)
        self.parts += 1
        self.pending.clear()
        self.held = 0


def prepare_output(out: Path) -> None:
    """``out`` as an empty directory: an export is a cache of the tape, never merged into another."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        if any(out.iterdir()):
            raise ExportError("the output directory is not empty; export into a new one", path=str(out))
    except OSError as exc:
        raise ExportError(f"cannot use the output directory: {exc.strerror or exc}", path=str(out)) from exc


@functools.cache
def _day(day_number: int) -> str:
    return (_EPOCH + datetime.timedelta(days=day_number)).isoformat()


def utc_date_of(wall_ns: int) -> str:
    """The UTC date of a receive time, in whole numbers (a float of ns could round across midnight)."""
    return _day(wall_ns // _NS_PER_DAY)


def origin_of(record: Record, venue_ts_ms: int | None) -> dict[str, Any]:
    """The :data:`ORIGIN_FIELDS` of a row made from ``record``."""
    return {
        "recv_wall_ns": record.recv_wall_ns,
        "recv_mono_ns": record.recv_mono_ns,
        "venue_ts_ms": venue_ts_ms,
        "session_id": record.session_id,
        "event_id": record.event_id,
    }
