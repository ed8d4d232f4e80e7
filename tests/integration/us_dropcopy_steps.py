"""What the DropCopy archiver tests share: an archiver for an emulator with fast reconnects, waiting for a
condition the archiver's tasks bring about, and the archiver alone as the body of a process a test kills."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from polyinfra.core.us_dropcopy import DropCopyStream
from polyinfra.emulator.runner import Emulator
from polyinfra.record.dropcopy_archive import DropCopyArchive, SQLiteDropCopyArchive
from polyinfra.us.dropcopy import DropCopyArchiver, search_limits

WAIT_S = 60.0


def emulator_archiver(
    emulator: Emulator,
    archive: DropCopyArchive,
    firm: str,
    *streams: DropCopyStream,
    time_scale: float,
    **options: object,
) -> DropCopyArchiver:
    """An archiver of ``streams`` (default: executions) from ``emulator``, reconnecting within milliseconds,
    its searches paced for an emulator whose DropCopy ``time_scale`` is ``time_scale``; ``options`` override."""
    settings: dict[str, object] = {
        "firm": firm,
        "streams": streams or (DropCopyStream.EXECUTIONS,),
        "insecure": True,
        "reference": {instrument.symbol: instrument for instrument in emulator.us_market.instruments},
        "reconnect_initial_s": 0.001,
        "reconnect_max_s": 0.01,
        "lease_poll_s": 0.02,
        "search_table": search_limits(time_scale),
        "seed": 7,
    }
    return DropCopyArchiver(emulator.urls["grpc"], archive, **(settings | options))  # type: ignore[arg-type]


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait for ``condition`` (at most :data:`WAIT_S`)."""
    async with asyncio.timeout(WAIT_S):
        while not condition():
            await asyncio.sleep(0.01)
    assert condition(), what


def archive_until_killed(target: str, path: str, firm: str) -> None:
    """Archive ``firm``'s executions from ``target`` into the SQLite file ``path`` until the process is killed
    (the command adds only the reference-data call and the status line, which ``test_cli_us_dropcopy`` covers)."""
    archive = SQLiteDropCopyArchive(path)
    archiver = DropCopyArchiver(
        target,
        archive,
        firm=firm,
        streams=[DropCopyStream.EXECUTIONS],
        insecure=True,
        reconnect_initial_s=0.01,
        reconnect_max_s=0.05,
    )
    asyncio.run(archiver.run())
