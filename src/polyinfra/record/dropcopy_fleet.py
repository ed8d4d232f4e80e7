"""DropCopy stream leases for an archive several machines share, in a NATS JetStream key-value bucket.

The file lock (SQLite) and the advisory lock (PostgreSQL) of :mod:`polyinfra.record.dropcopy_archive` only
see the processes of one machine or one database server's sessions. A fleet of archivers on several machines
takes each firm's stream by a lease of :class:`~polyinfra.record.shard_leases.ShardLeases` instead: a
compare-and-set key per firm and stream (its shard number a stable hash of both) in the bucket
``polyinfra-fleet-<NAME>``, held until an expiry the holder keeps renewing.

The life of one stream's holding (:class:`FleetStreamLeases`)::

    acquire ── the key's lease (create, or take over an expired one) ── revision R
        └── claim: the archive records R as the stream's fencing number, in a transaction; when it holds
            a higher one already, the key is let go and acquired again later (with a higher revision)
    keep ──── renew every ``renew_s``; a renewal refused (the key moved: taken over) or impossible until the
              lease's own expiry has passed ends the holding with FencedOffError
    release ─ a clean stop ends the lease at once, so another machine takes over without waiting

**The fence.** Revisions of a bucket only grow, so a later holder's is larger; every archive commit checks
the stream's fencing number inside its transaction, so a holder paused past its expiry (a frozen VM, a
process stopped by a debugger) that wakes and commits is refused with
:class:`~polyinfra.errors.FencedOffError`, whatever its own renewal loop believes: the same guarantee as the
local locks.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Final

from polyinfra.core.us_dropcopy import DropCopyStream
from polyinfra.errors import FencedOffError, InvalidValueError, LeaseError
from polyinfra.obs.logging import get_logger
from polyinfra.record.dropcopy_archive import DropCopyArchive, Lease
from polyinfra.record.shard_leases import Lease as KeyLease
from polyinfra.record.shard_leases import ShardLeases, shard_of

__all__ = ["FleetStreamLeases", "HeldStream", "stream_shard"]

_log = get_logger(__name__)

_SHARD_SPACE: Final = 1 << 62
"""Shard numbers of the streams: wide enough that two firms' streams never share one in practice."""


def stream_shard(firm: str, stream: DropCopyStream) -> int:
    """The lease key's shard number of ``firm``'s ``stream``: the same in every process."""
    return shard_of(f"dropcopy\x00{firm}\x00{stream}", _SHARD_SPACE)


@dataclass(slots=True)
class HeldStream:
    """One stream held by this process: the archive's lease (fenced by the key's revision) and the key's."""

    lease: Lease
    key_lease: KeyLease


class FleetStreamLeases:
    """The DropCopy streams' leases in ``leases``' bucket, renewed every ``renew_s`` (default: a third of
    the lease time, so two renewals can fail before the holding expires)."""

    def __init__(self, leases: ShardLeases, *, lease_s: float, renew_s: float | None = None) -> None:
        renew_s = lease_s / 3 if renew_s is None else renew_s
        if not 0 < renew_s < lease_s:
            raise InvalidValueError("renew_s must be more than 0 and less than the lease time", renew_s=renew_s)
        self._leases = leases
        self._renew_s = renew_s

    @property
    def holder(self) -> str:
        return self._leases.holder

    async def acquire(self, archive: DropCopyArchive, firm: str, stream: DropCopyStream) -> HeldStream | None:
        """``firm``'s ``stream`` for this process, claimed in ``archive`` with the key's revision as the
        fencing number; None while another process holds it, or when the archive holds a higher fencing
        number than the revision (a holder after this one claimed it first; or the archive was kept under
        its own lock before, or under another bucket): the key is let go at once, and since every write
        raises the bucket's revisions, a later try gets a larger one."""
        taken = await self._leases.acquire(stream_shard(firm, stream))
        if taken is None:
            return None
        try:
            lease = await asyncio.to_thread(archive.claim, firm, stream, fence=taken.lease.fence)
        except FencedOffError as refused:
            _log.warning(
                "the DropCopy archive holds a higher fencing number than the lease's revision; trying again",
                stream=str(stream),
                fence=taken.lease.fence,
                current_fence=refused.context.get("current_fence"),
            )
            await self.release(HeldStream(Lease(firm, stream, taken.lease.fence, None), taken.lease))
            return None
        except BaseException:
            await self.release(HeldStream(Lease(firm, stream, taken.lease.fence, None), taken.lease))
            raise
        return HeldStream(lease, taken.lease)

    async def keep(self, held: HeldStream) -> None:
        """Renew ``held`` until it is lost, then raise :class:`FencedOffError` (runs until cancelled).
        A renewal the server cannot take (NATS unreachable) is tried again until the lease's own expiry:
        past it another process may hold the stream."""
        while True:
            await asyncio.sleep(self._renew_s)
            try:
                renewed = await self._leases.renew(held.key_lease, watermark_wall_ns=None)
            except LeaseError as failure:
                if self._leases.now_ns() < held.key_lease.value.expires_wall_ns:
                    continue
                raise FencedOffError(
                    "the DropCopy stream's lease expired before it could be renewed",
                    stream=str(held.lease.stream),
                    fence=held.lease.fence,
                    error=failure.message[:200],
                ) from None
            if renewed is None:
                raise FencedOffError(
                    "another archiver took this DropCopy stream's lease over",
                    stream=str(held.lease.stream),
                    fence=held.lease.fence,
                )
            held.key_lease = renewed

    async def release(self, held: HeldStream) -> None:
        """End the holding now (a clean stop), so another process takes over without waiting for the expiry;
        a failure to reach the server leaves it to expire."""
        with contextlib.suppress(LeaseError):
            await self._leases.renew(held.key_lease, watermark_wall_ns=None, release=True)
