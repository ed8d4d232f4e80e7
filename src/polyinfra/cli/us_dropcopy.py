"""``polyinfra us dropcopy``: the DropCopy archiver, long-running, with a status line.

:class:`~polyinfra.us.dropcopy.DropCopyArchiver` archives the chosen streams into the ``--store``. Every
``--refresh-s`` one status line goes to stdout: per stream its events per second since the last line,
how long ago its last resume token arrived, whether it has caught up, its reconnects and its gaps (each
gap is also logged with what reconciled it). On exit a summary line per stream.

With ``--lease nats://HOST[:PORT]/FLEET`` (an archive several machines share) the streams' leases are
:mod:`polyinfra.record.dropcopy_fleet`'s, in the fleet's key-value bucket on that server, instead of the
archive's own lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from polyinfra.cli.fleet_record import default_member_id, open_lease_bucket
from polyinfra.core.us_dropcopy import DropCopyStream
from polyinfra.errors import SinkUrlError
from polyinfra.obs.redaction import url_without_credentials
from polyinfra.record.dropcopy_archive import DropCopyArchive, open_archive
from polyinfra.record.dropcopy_fleet import FleetStreamLeases
from polyinfra.record.jetstream_sink import parse_nats_url
from polyinfra.record.shard_leases import ShardLeases, bucket_name
from polyinfra.us.client import ProtosChoice
from polyinfra.us.dropcopy import DropCopyArchiver, StreamStatus
from polyinfra.us.token_manager import TokenManager

__all__ = ["DropCopyCommand", "run_us_dropcopy", "status_line"]

_NATS_PREFIX = "nats://"


def status_line(
    status: dict[DropCopyStream, StreamStatus], previous: dict[DropCopyStream, int], elapsed_s: float, now_ns: int
) -> str:
    """One line for every stream: ``executions 120.0/s token 0.4s ago live gaps 0 reconnects 2``."""
    parts = []
    for stream, shown in status.items():
        rate = (shown.events - previous.get(stream, 0)) / elapsed_s if elapsed_s > 0 else 0.0
        age = "-" if shown.last_token_wall_ns is None else f"{max(0, now_ns - shown.last_token_wall_ns) / 1e9:.1f}s ago"
        state = "caught up" if shown.caught_up else shown.state
        parts.append(f"{stream} {rate:,.1f}/s token {age} {state} gaps {shown.gaps} reconnects {shown.reconnects}")
    return " | ".join(parts)


@dataclass(frozen=True, slots=True)
class DropCopyCommand:
    """What ``us dropcopy`` was asked to do."""

    target: str
    insecure: bool
    tokens: TokenManager | None
    store: str
    firm: str
    streams: Sequence[DropCopyStream]
    symbols: Sequence[str]
    live_only: bool
    duration_s: float
    refresh_s: float
    lease_url: str | None = None
    """``nats://HOST[:PORT]/FLEET``: take the streams' leases from that fleet's key-value bucket."""
    lease_s: float = 15.0
    member_id: str | None = None
    protos: ProtosChoice = None
    """Whose field numbers to speak (:class:`~polyinfra.us.client.UsExchangeClient`'s ``protos``)."""


def run_us_dropcopy(command: DropCopyCommand, echo: Callable[[str], None]) -> None:
    archive = open_archive(command.store)
    try:
        asyncio.run(_run(command, archive, echo))
    finally:
        archive.close()


async def _run(command: DropCopyCommand, archive: DropCopyArchive, echo: Callable[[str], None]) -> None:
    if command.lease_url is None:
        await _archive(command, archive, None, echo)
        return
    shown_url = url_without_credentials(command.lease_url)
    parsed = None
    if command.lease_url.startswith(_NATS_PREFIX):
        with contextlib.suppress(SinkUrlError):  # its text speaks of sinks: this one speaks of leases
            parsed = parse_nats_url(command.lease_url, shown_url)
    if parsed is None:
        raise SinkUrlError(
            "the DropCopy leases are kept in NATS: --lease nats://[USER:PASSWORD@]HOST[:PORT]/FLEET, "
            "FLEET 1 to 48 letters, digits, '_' or '-'",
            url=shown_url,
        )
    server, fleet, _ = parsed
    connection, kv = await open_lease_bucket(server, bucket_name(fleet), shown_url)
    try:
        leases = ShardLeases(kv, holder=command.member_id or default_member_id(), lease_s=command.lease_s)
        echo(f"us dropcopy: member {leases.holder} of fleet {fleet}: stream leases at {shown_url}")
        await _archive(command, archive, FleetStreamLeases(leases, lease_s=command.lease_s), echo)
    finally:
        await connection.close()


async def _archive(
    command: DropCopyCommand, archive: DropCopyArchive, fleet: FleetStreamLeases | None, echo: Callable[[str], None]
) -> None:
    target, insecure, tokens, streams = command.target, command.insecure, command.tokens, command.streams
    archiver = DropCopyArchiver(
        target,
        archive,
        firm=command.firm,
        streams=streams,
        insecure=insecure,
        tokens=tokens,
        symbols=command.symbols,
        since_ns=None if command.live_only else 0,
        fleet=fleet,
        protos=command.protos,
    )
    run = asyncio.create_task(archiver.run(command.duration_s or None))
    previous = {stream: 0 for stream in streams}
    last = time.monotonic()
    try:
        while not run.done():
            await asyncio.wait({run}, timeout=command.refresh_s)
            now = time.monotonic()
            echo(status_line(archiver.status, previous, now - last, time.time_ns()))
            previous = {stream: shown.events for stream, shown in archiver.status.items()}
            last = now
        run.result()
    finally:
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
        for stream, shown in archiver.status.items():
            echo(
                f"{stream}: {shown.events} events ({shown.new_events} new), {shown.responses} responses, "
                f"{shown.gaps} gaps, {shown.reconnects} reconnects, fence {shown.fence}, {shown.state}"
            )
            for note in shown.gap_notes:
                echo(f"{stream} gap: {note}")
