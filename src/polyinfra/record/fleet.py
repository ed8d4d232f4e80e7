"""One process of a recorder fleet: the shards it holds, a recorder per shard, renewals and takeovers.

A fleet is several ``polyinfra record --fleet NAME`` processes recording one token universe, split
into shards (:func:`~polyinfra.record.shard_leases.shard_of`). A :class:`FleetMember` repeats one
step every third of the lease time::

    announce itself ─> renew every lease it holds ─> take the shards it should hold
          (member.<id>)     lost or fenced off: stop       that no live process holds

* **Who takes what.** The live members, sorted, deal the shards round-robin: shard ``s`` is for
  member ``s mod M``. A member takes a shard dealt to it once no one holds it (never held, released,
  or expired); any member takes a shard that stayed expired for a further lease time (its dealt
  member is stuck). A held shard is never taken from a live holder, so the fleet does not shuffle
  shards when a member joins late: it records the shards that free up later.
* **Joining.** Before its first step a member waits until ``fleet_size`` members announced
  themselves (at most ``join_s``), so members started together share the shards from the start
  instead of the first one taking them all.
* **A shard held.** Its own stream (``STREAM-shard-N``), written through a
  :class:`~polyinfra.record.fenced_sink.FencedJetStreamSink` under the lease's fencing number, its
  own :class:`~polyinfra.record.recorder.Recorder`, and what ``attach`` starts on it (the command
  line: live books of the shard's tokens). The lease carries the recorder's acknowledged watermark.
* **A takeover.** The new holder claims the stream (the marker that fences the old holder off) and
  records a GAP for the shard's tokens from the old holder's watermark (or, if it never stored
  anything, its acquisition) to the takeover: reason ``lease takeover``, or ``lease released``
  when the old holder stopped cleanly. The books' own resync shows as ``subscribed`` after it.
* **Losing a shard.** A renewal that finds the lease moved, or a recorder whose writes the stream
  refuses, stops that shard at once: the process was paused past its lease and another holds it.
* **Failures.** A step the server or the bucket failed is tried again at the next one. A shard
  whose recording could not start (its stream unreachable) is left to expire unrenewed: whoever
  takes it next records the gap from the last holder's watermark, the failed start included.
* **Stopping.** Every recorder writes what it queued, then each lease is released with its final
  watermark, so a survivor takes over at its next step rather than a lease time later.

Time: ``wall_ns`` is injected into the leases; the steps' pace is ``lease_s / 3`` on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Final

from polyinfra.errors import RecorderError
from polyinfra.obs.logging import get_logger
from polyinfra.record.fenced_sink import FencedJetStreamSink
from polyinfra.record.jetstream_sink import shard_stream_url
from polyinfra.record.recorder import Recorder
from polyinfra.record.shard_leases import Lease, ShardLeases, Takeover, shard_of

__all__ = ["LEASE_RELEASED", "LEASE_TAKEOVER", "FleetMember", "ShardAttach"]

_log = get_logger(__name__)

LEASE_TAKEOVER: Final = "lease takeover"
"""The reason of the gap a shard taken over from a process that stopped renewing leaves."""
LEASE_RELEASED: Final = "lease released"
"""The reason of the gap between a process that stopped cleanly and the one that took its shard."""
_STEPS_PER_LEASE: Final = 3

ShardAttach = Callable[[Recorder, list[str]], AbstractAsyncContextManager[object]]
"""Starts what records the tokens into the recorder (live books, on the command line) for as long as
the context is entered."""


@dataclass(slots=True)
class _HeldShard:
    lease: Lease
    tokens: list[str]
    sink: FencedJetStreamSink
    recorder: Recorder
    attached: contextlib.AsyncExitStack


class FleetMember:
    """Holds shards of ``token_ids`` (split into ``shards``) and records them into
    ``nats://.../STREAM-shard-N`` streams of ``stream_url``'s server (see the module docstring)."""

    def __init__(
        self,
        *,
        leases: ShardLeases,
        stream_url: str,
        token_ids: Sequence[str],
        shards: int,
        lease_s: float,
        attach: ShardAttach,
        fleet_size: int = 1,
        join_s: float = 30.0,
        make_recorder: Callable[[FencedJetStreamSink], Recorder] = Recorder,
    ) -> None:
        self._leases = leases
        self._stream_url = stream_url
        self.shard_tokens: dict[int, list[str]] = {shard: [] for shard in range(shards)}
        for token in dict.fromkeys(token_ids):
            self.shard_tokens[shard_of(token, shards)].append(token)
        self._lease_s = lease_s
        self._attach = attach
        self._fleet_size = fleet_size
        self._join_s = join_s
        self._make_recorder = make_recorder
        self.held: dict[int, _HeldShard] = {}
        self.takeovers = 0
        """Shards this member took from another process (expired or released)."""

    @property
    def member_id(self) -> str:
        return self._leases.holder

    @property
    def recorders(self) -> list[Recorder]:
        return [held.recorder for held in self.held.values()]

    async def run(self) -> None:
        """Join, then step until cancelled; leaves cleanly (releases its leases) when cancelled."""
        try:
            await self._join()
            while True:
                try:
                    await self.step()
                except RecorderError as exc:
                    # The server or the bucket failed this step (or a shard's stream refused its
                    # claim): the next one tries again. Leases not renewed meanwhile expire, and
                    # fencing keeps their new holders' streams safe.
                    _log.warning("fleet step failed; trying again", member=self.member_id, error=exc.message[:300])
                await asyncio.sleep(self._lease_s / _STEPS_PER_LEASE)
        finally:
            await asyncio.shield(self.stop())

    async def step(self) -> None:
        """Announce, renew what is held (dropping what was lost), take what this member should hold."""
        await self._leases.announce()
        for shard, held in list(self.held.items()):
            watermark = held.recorder.acknowledged
            renewed = None
            if held.recorder.fenced_off is None:
                renewed = await self._leases.renew(
                    held.lease, watermark_wall_ns=None if watermark is None else watermark.recv_wall_ns
                )
            if renewed is None:
                _log.warning("fleet shard lost to another member", shard=shard, member=self.member_id)
                await self._stop_shard(shard)
            else:
                held.lease = renewed
        members = await self._leases.live_members()
        share = math.ceil(len(self.shard_tokens) / len(members))
        for shard in self._dealt_first(members):
            if len(self.held) >= share:
                break
            if shard in self.held or not self.shard_tokens[shard]:
                continue
            dealt_here = members[shard % len(members)] == self.member_id
            taken = await self._leases.acquire(shard, expired_for_s=0.0 if dealt_here else self._lease_s)
            if taken is not None:
                await self._start_shard(taken)

    async def stop(self) -> None:
        """Stop every shard's recorder (written out), release the leases, leave the fleet."""
        for shard in list(self.held):
            await self._stop_shard(shard, release=True)
        with contextlib.suppress(RecorderError):
            await self._leases.leave()

    async def _join(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._join_s
        while True:
            await self._leases.announce()
            if len(await self._leases.live_members()) >= self._fleet_size or loop.time() >= deadline:
                return
            await asyncio.sleep(self._lease_s / _STEPS_PER_LEASE)

    def _dealt_first(self, members: list[str]) -> list[int]:
        """Every shard, those dealt to this member first."""
        mine = [shard for shard in self.shard_tokens if members[shard % len(members)] == self.member_id]
        return mine + [shard for shard in self.shard_tokens if shard not in mine]

    async def _start_shard(self, taken: Takeover) -> None:
        shard, lease = taken.lease.shard, taken.lease
        tokens = self.shard_tokens[shard]
        sink = FencedJetStreamSink(shard_stream_url(self._stream_url, shard), fence=lease.fence)
        recorder = self._make_recorder(sink)
        attached = contextlib.AsyncExitStack()
        try:
            await sink.claim()
            await recorder.start()
            attached.push_async_callback(recorder.stop)
            previous = taken.previous
            if previous is not None:
                # Ahead of the client's first record: the manifest ends the old holder's coverage at
                # the gap's start (its watermark) rather than at its last lifecycle record.
                self.takeovers += 1
                recorder.record_gap(
                    "clob",
                    "market",
                    reason=LEASE_RELEASED if previous.released else LEASE_TAKEOVER,
                    from_wall_ns=previous.watermark_wall_ns or previous.acquired_wall_ns,
                    to_wall_ns=recorder.wall_ns(),
                    token_ids=tokens,
                )
            await attached.enter_async_context(self._attach(recorder, tokens))
        except BaseException:
            await attached.aclose()
            await sink.close()
            raise  # the lease expires unrenewed, and whoever takes the shard records the gap
        self.held[shard] = _HeldShard(lease, tokens, sink, recorder, attached)
        _log.info("fleet shard taken", shard=shard, member=self.member_id, fence=lease.fence, tokens=len(tokens))

    async def _stop_shard(self, shard: int, *, release: bool = False) -> None:
        held = self.held.pop(shard)
        try:
            await held.attached.aclose()  # the live client, then the recorder writes what it queued
            if release and held.recorder.fenced_off is None:
                watermark = held.recorder.acknowledged
                await self._release(held.lease, None if watermark is None else watermark.recv_wall_ns)
        finally:
            await held.sink.close()

    async def _release(self, lease: Lease, watermark_wall_ns: int | None = None) -> None:
        """Let ``lease`` go now (best effort: unreleased, it expires after the lease time)."""
        with contextlib.suppress(RecorderError):
            await self._leases.renew(lease, watermark_wall_ns=watermark_wall_ns, release=True)
