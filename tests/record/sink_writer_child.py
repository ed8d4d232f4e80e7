"""A writer process for the crash tests: writes ``batches`` batches of ``batch_size`` records to the
sink at ``url``, printing ``acked <last index>`` after each write returns (the acknowledgement).

    python -m tests.record.sink_writer_child URL BATCHES BATCH_SIZE
"""

from __future__ import annotations

import asyncio
import sys

from polyinfra.record.sink_urls import open_sink
from tests.record.sinks import make_records


async def main(url: str, batches: int, batch_size: int) -> None:
    sink = open_sink(url)
    records = make_records(batches * batch_size)
    for start in range(0, len(records), batch_size):
        batch = records[start : start + batch_size]
        await sink.write(batch)
        print(f"acked {start + len(batch) - 1}", flush=True)
    await sink.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
