"""DropCopy catch-up into SQLite against bare decoding of the same responses.

Run: ``python bench/us_dropcopy_catchup.py [--executions N] [--batch B] [--repeat R]``

The emulator's history holds N synthetic executions (``DropCopyHistory.generate``); its DropCopy stream
replays them in responses of B.

Anchor: the same responses as bytes (made before the clock starts), each parsed
(``CreateDropCopySubscriptionResponse.FromString``) and decoded into exact events (``decode_batch``).
Measured:
(a) store only: the anchor's work plus ``SQLiteDropCopyArchive.commit`` of every batch with its token and
    ledger link (one transaction per response, ``synchronous=FULL``);
(b) catch-up: a cold :class:`DropCopyArchiver` over gRPC from the emulator into a fresh SQLite archive,
    from start until every execution is archived.

Each is shown in events/s and as a ratio to the anchor (how many times slower than bare decoding); best of
``--repeat``.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from polyinfra.core.us_dropcopy import DropCopyStream, TokenChain, decode_batch
from polyinfra.emulator.runner import Emulator
from polyinfra.emulator.us.dropcopy_faults import UsDropCopyFaults
from polyinfra.emulator.us.dropcopy_history import DropCopyHistory
from polyinfra.emulator.us.instruments import US_INSTRUMENTS
from polyinfra.record.dropcopy_archive import SQLiteDropCopyArchive
from polyinfra.us.dropcopy import DropCopyArchiver
from polyinfra.wire.us.polymarket.v1 import dropcopy_pb2

FIRM = "bench"


def responses(executions: int, batch: int) -> list[bytes]:
    """The replay's responses as the stream sends them."""
    history = DropCopyHistory(US_INSTRUMENTS, UsDropCopyFaults())
    history.generate(executions, seed=1)
    found: list[bytes] = []
    seq = 0
    while True:
        entries, seq = history.read(DropCopyStream.EXECUTIONS, seq, batch, frozenset())
        if not entries:
            return found
        response = dropcopy_pb2.CreateDropCopySubscriptionResponse(resume_token=history.token(seq))
        response.executions.extend(entry.message for entry in entries)  # type: ignore[misc]
        found.append(response.SerializeToString())


def bare_decoding(data: list[bytes]) -> float:
    started = time.perf_counter()
    for raw in data:
        decode_batch(DropCopyStream.EXECUTIONS, dropcopy_pb2.CreateDropCopySubscriptionResponse.FromString(raw), {})
    return time.perf_counter() - started


def store_only(data: list[bytes], directory: Path) -> float:
    archive = SQLiteDropCopyArchive(directory / f"store-{time.monotonic_ns()}.db")
    lease = archive.acquire(FIRM, DropCopyStream.EXECUTIONS)
    assert lease is not None
    chain = TokenChain(None)
    started = time.perf_counter()
    for raw in data:
        response = dropcopy_pb2.CreateDropCopySubscriptionResponse.FromString(raw)
        batch = decode_batch(DropCopyStream.EXECUTIONS, response, {})
        chain.applied(archive.commit(lease, batch, chain.link(batch.token, len(batch.events), 0)))
    elapsed = time.perf_counter() - started
    lease.release()
    archive.close()
    return elapsed


async def catch_up(executions: int, batch: int, directory: Path) -> float:
    async with Emulator(markets=1, rate=0) as emulator:
        emulator.us_dropcopy.faults.update({"batch_size": batch})
        emulator.us_dropcopy.generate(executions, seed=1)
        archive = SQLiteDropCopyArchive(directory / f"catchup-{time.monotonic_ns()}.db")
        archiver = DropCopyArchiver(
            emulator.urls["grpc"], archive, firm=FIRM, streams=[DropCopyStream.EXECUTIONS], insecure=True
        )
        status = archiver.status[DropCopyStream.EXECUTIONS]
        started = time.perf_counter()
        run = asyncio.create_task(archiver.run())
        while status.new_events < executions:
            await asyncio.sleep(0.001)
        elapsed = time.perf_counter() - started
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
        archive.close()
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    arguments = parser.parse_args()
    n = arguments.executions
    data = responses(n, arguments.batch)
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        anchor = min(bare_decoding(data) for _ in range(arguments.repeat))
        stored = min(store_only(data, directory) for _ in range(arguments.repeat))
        caught_up = min(asyncio.run(catch_up(n, arguments.batch, directory)) for _ in range(arguments.repeat))
    print(f"{n} executions in responses of {arguments.batch}, best of {arguments.repeat}")
    print(f"anchor  bare decoding        {n / anchor:>12,.0f} events/s")
    print(f"(a)     decode + SQLite      {n / stored:>12,.0f} events/s   {stored / anchor:6.2f}x the anchor's time")
    print(
        f"(b)     catch-up over gRPC   {n / caught_up:>12,.0f} events/s   {caught_up / anchor:6.2f}x the anchor's time"
    )


if __name__ == "__main__":
    main()
