"""A writer process for the crash tests, printing ``acked <n> <event id>`` after each acknowledgement.

python -m tests.record.sink_writer_child sink URL BATCHES BATCH_SIZE
    writes ``make_records`` batches straight to the sink (the same event ids every run);
python -m tests.record.sink_writer_child recorder URL FRAMES BATCH_SIZE
    records FRAMES frames (``frame <i>``) through a Recorder, waiting after every ``FRAMES_PER_TURN``
    until they are acknowledged and printing the watermark.
"""

from __future__ import annotations

import asyncio
import sys

from polyinfra.record.recorder import Recorder
from polyinfra.record.sink_urls import open_sink
from tests.record.sinks import make_records

FRAMES_PER_TURN = 50


async def write_batches(url: str, batches: int, batch_size: int) -> None:
    sink = open_sink(url)
    records = make_records(batches * batch_size)
    for start in range(0, len(records), batch_size):
        batch = records[start : start + batch_size]
        await sink.write(batch)
        print(f"acked {start + len(batch)} {batch[-1].event_id}", flush=True)
    await sink.close()


async def record_frames(url: str, frames: int, batch_size: int) -> None:
    sink = open_sink(url)
    printed = None
    async with Recorder(sink, batch_size=batch_size) as recorder:
        tap = recorder.tap("clob", "market")
        for index in range(frames):
            tap.frame_received(1, f"frame {index}")
            if index % FRAMES_PER_TURN == FRAMES_PER_TURN - 1:
                # A barrier, not a yield: wait until this turn's frames are durable, so the parent sees
                # a new watermark every turn however slowly the machine commits.
                while recorder.stats.queued or recorder.acknowledged == printed:
                    await asyncio.sleep(0.001)
                watermark = recorder.acknowledged
                assert watermark is not None
                print(f"acked {watermark.records} {watermark.event_id}", flush=True)
                printed = watermark
    watermark = recorder.acknowledged
    assert watermark is not None
    print(f"acked {watermark.records} {watermark.event_id}", flush=True)
    await sink.close()


if __name__ == "__main__":
    mode, url, count, batch_size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    asyncio.run((write_batches if mode == "sink" else record_frames)(url, count, batch_size))
