"""``polyinfra record --fleet NAME --sink nats://HOST/STREAM``: one process of a recorder fleet.

Each process chooses the same token universe (the same ``--token`` / ``--market`` / ``--top``), joins
the fleet's lease bucket on the NATS server of ``--sink`` and records the shards it holds, one live
books client and one recorder per shard, into ``STREAM-shard-N`` streams; the status line names the
process and its shards. The leases, fencing and takeovers are :mod:`polyinfra.record.fleet`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import typer

from polyinfra.obs.logging import get_logger

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js.kv import KeyValue

    from polyinfra.cli.record_commands import RecordRun
    from polyinfra.record.fleet import FleetMember, ShardAttach
    from polyinfra.record.recorder import Recorder

__all__ = ["FleetOptions", "default_member_id", "open_lease_bucket", "record_fleet"]

_NATS_PREFIX: Final = "nats://"
_CONNECT_TIMEOUT_S: Final = 5.0
# The lease connection rides out a server restart of about a minute; past that the member's next
# lease call fails and the command ends (its leases expire and the rest of the fleet takes over).
_RECONNECT_ATTEMPTS: Final = 60
_RECONNECT_WAIT_S: Final = 1.0
# A command started against a server that is down says so within seconds instead of retrying for the
# minute a running member is given: two tries (nats-py retries without end at 0), each cut shorter.
_FIRST_CONNECT_RETRIES: Final = 1
_FIRST_CONNECT_TIMEOUT_S: Final = 2.0
_log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class FleetOptions:
    """What ``record --fleet`` adds to ``record``."""

    name: str
    shards: int
    lease_s: float
    member_id: str | None
    fleet_size: int
    join_s: float


def default_member_id() -> str:
    """``host-pid``, with the characters a bucket key does not take replaced."""
    host = "".join(char if char.isalnum() or char in "-_" else "-" for char in socket.gethostname())[:40]
    return f"{host or 'host'}-{os.getpid()}"


async def open_lease_bucket(server: str, bucket: str, shown_url: str) -> tuple[Client, KeyValue]:
    """The connection to the NATS ``server`` and its key-value ``bucket`` of leases (made if missing);
    :class:`~polyinfra.errors.LeaseError` when either cannot be had: within seconds when the server cannot be
    reached at all, while the connection, once made, reconnects for about a minute."""
    import nats
    import nats.errors

    from polyinfra.errors import LeaseError
    from polyinfra.obs.redaction import url_without_credentials

    last_failure: deque[Exception] = deque(maxlen=1)

    async def on_error(exc: Exception) -> None:
        last_failure.append(exc)
        await _log_connection_error(exc)

    try:
        connection = await nats.connect(
            servers=[server],
            name="polyinfra-fleet",
            connect_timeout=_FIRST_CONNECT_TIMEOUT_S,
            max_reconnect_attempts=_FIRST_CONNECT_RETRIES,
            reconnect_time_wait=_RECONNECT_WAIT_S,
            error_cb=on_error,
        )
    except (nats.errors.Error, OSError, TimeoutError) as exc:
        cause = last_failure[0] if last_failure else exc
        shown_server = url_without_credentials(server)
        raise LeaseError(
            f"cannot connect to the NATS server {shown_server} of the fleet's lease bucket: {type(cause).__name__}",
            url=shown_url,
            server=shown_server,
        ) from exc
    # nats-py reads these at each reconnect: from here on, the running member's minute of retries.
    connection.options.update(connect_timeout=_CONNECT_TIMEOUT_S, max_reconnect_attempts=_RECONNECT_ATTEMPTS)
    try:
        return connection, await connection.jetstream().create_key_value(bucket=bucket, history=1)
    except (nats.errors.Error, OSError, TimeoutError) as exc:
        await connection.close()
        raise LeaseError(f"cannot open the fleet's lease bucket: {type(exc).__name__}", url=shown_url) from exc


async def record_fleet(run: RecordRun, fleet: FleetOptions) -> None:
    from polyinfra.errors import SinkUrlError
    from polyinfra.obs.redaction import url_without_credentials
    from polyinfra.record.fleet import FleetMember
    from polyinfra.record.jetstream_sink import parse_nats_url
    from polyinfra.record.shard_leases import ShardLeases, bucket_name

    sink_url = run.sink_url
    if not sink_url.startswith(_NATS_PREFIX):
        raise SinkUrlError("a recorder fleet records into NATS JetStream: --sink nats://HOST[:PORT]/STREAM")
    bucket = bucket_name(fleet.name)
    shown_url = url_without_credentials(sink_url)
    server, _, _ = parse_nats_url(sink_url, shown_url)  # the lease bucket is on the sink's server
    token_ids = await run.token_ids()
    connection, kv = await open_lease_bucket(server, bucket, shown_url)
    leases = ShardLeases(kv, holder=fleet.member_id or default_member_id(), lease_s=fleet.lease_s)
    member = FleetMember(
        leases=leases,
        stream_url=sink_url,
        token_ids=token_ids,
        shards=fleet.shards,
        lease_s=fleet.lease_s,
        attach=_live_books(run.rest_url, run.ws_url),
        fleet_size=fleet.fleet_size,
        join_s=fleet.join_s,
    )
    typer.echo(
        f"polyinfra record: member {member.member_id} of fleet {fleet.name}: {len(token_ids)} tokens in "
        f"{fleet.shards} shards into {shown_url}",
        err=True,
    )
    running = asyncio.create_task(member.run(), name="fleet-member")
    try:
        await _show_fleet_status(member, running, duration_s=run.duration_s, status_s=run.status_s)
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        _print_fleet_status(member)
        await connection.close()


async def _log_connection_error(exc: Exception) -> None:
    # nats-py's default callback logs the exception whole, which may quote the URL's credential.
    _log.warning("NATS connection error (fleet leases)", error=type(exc).__name__)


def _live_books(rest_url: str, ws_url: str) -> ShardAttach:
    from polyinfra.clob.live_books import LiveBooks

    @contextlib.asynccontextmanager
    async def attach(recorder: Recorder, token_ids: list[str]) -> AsyncIterator[object]:
        async with LiveBooks(rest_url, ws_url, recorder=recorder) as books:
            await books.subscribe(token_ids)
            yield books

    return attach


async def _show_fleet_status(
    member: FleetMember, running: asyncio.Task[None], *, duration_s: float, status_s: float
) -> None:
    loop = asyncio.get_running_loop()
    started_s = loop.time()
    while duration_s == 0 or loop.time() - started_s < duration_s:
        wait_s = status_s if duration_s == 0 else min(status_s, duration_s - (loop.time() - started_s))
        done, _ = await asyncio.wait({running}, timeout=max(wait_s, 0.0))
        if done:
            running.result()  # the member's error ends the command
            return
        _print_fleet_status(member)


def _print_fleet_status(member: FleetMember) -> None:
    stats = [recorder.stats for recorder in member.recorders]
    shards = ",".join(str(shard) for shard in sorted(member.held)) or "none"
    print(
        f"record: member {member.member_id} · shards {shards} · takeovers {member.takeovers} · "
        f"queue {sum(s.queued for s in stats):,} · acknowledged {sum(s.written for s in stats):,} · "
        f"gaps {sum(s.gaps for s in stats):,} ({sum(s.dropped for s in stats):,} records dropped)",
        file=sys.stderr,
        flush=True,
    )
