"""A table written in many parts reads back, through a pyarrow dataset, in the order its rows were added."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds

from polyinfra.record.parquet_tables import ParquetTable


def test_a_table_of_many_parts_reads_back_in_the_order_written(tmp_path: Path) -> None:
    schema = pa.schema([("sequence", pa.int64())])
    table = ParquetTable("rows", schema, tmp_path, "clob", rows_per_part=1)
    for sequence in range(25):  # parts 0 to 24: unpadded, "part-10" would sort before "part-2"
        table.add("2026-12-06", {"sequence": sequence})
    table.flush()
    assert len(table.files) == 25
    read = ds.dataset(tmp_path / "rows", format="parquet", partitioning="hive").to_table()
    assert read.column("sequence").to_pylist() == list(range(25))
