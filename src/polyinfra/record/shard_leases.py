"""Shard leases of a recorder fleet, kept in a NATS JetStream key-value bucket.

Several ``polyinfra record --fleet NAME`` processes share one token universe. Each token belongs to
one of N shards (:func:`shard_of`, a hash of the token id: every process computes the same split
without talking to the others), and a shard is recorded by the process that holds its **lease**: the
key ``shard.<n>`` of the bucket ``polyinfra-fleet-<NAME>``, whose value says who holds it, until when,
and how far its writes were acknowledged (the holder's watermark).

The life of one shard's lease::

                 acquire: create (the key must not exist)
    (no key) ───────────────────────────────────────────────┐
                                                            ▼
            ┌─ renew: update expecting the revision ─── HELD by A (fence f) ──── A releases (stops) ─┐
            └──────────────────────────────────────────────▶ │                                     │
                                                            │ the expiry passes, A did not renew    │
                                                            ▼                                       ▼
                                                         EXPIRED ◀──────────────────────────────────┘
                                                            │ take over: update expecting the revision
                                                            ▼
                                                   HELD by B (fence f' > f), the TAKEOVER GAP
                                                   [A's watermark, now) recorded for the shard's tokens

* Every change is a compare-and-set on the key's revision (``create``; ``update`` with the revision
  last read), so of two processes racing for one shard exactly one wins; the loser reads it as held.
* The **fencing number** of a holding is the bucket revision its acquiring write got: revisions only
  grow, so a later holder always has a larger one. The shard's stream enforces it
  (:mod:`polyinfra.record.fenced_sink`): a paused process that lost its lease cannot write.
* A renewal that finds the revision moved has **lost** the lease: the process stops recording the
  shard (its writes would be refused anyway).
* Expiry is a time in the value, on the wall clock, compared by whoever reads it; the clock is
  injected (``wall_ns``) so tests move time by hand. Processes' clocks must agree to well within the
  lease time, which is what NTP gives; the server's own clock is never consulted.
* Members announce themselves under ``member.<id>`` with the same expiry, so each knows how many
  live processes share the shards (:meth:`ShardLeases.live_members`) and takes no more than its
  fair share of free shards (:mod:`polyinfra.record.fleet`).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import msgspec
import nats.errors
import nats.js.errors
from nats.js.kv import KeyValue

from polyinfra.errors import InvalidValueError, LeaseError
from polyinfra.obs.logging import get_logger

__all__ = [
    "Lease",
    "LeaseValue",
    "ShardLeases",
    "Takeover",
    "bucket_name",
    "decode_lease",
    "shard_of",
    "valid_member_id",
]

_log = get_logger(__name__)

_BUCKET_PREFIX: Final = "polyinfra-fleet-"
_FLEET_NAME: Final = re.compile(r"[A-Za-z0-9_-]{1,48}")
_MEMBER_ID: Final = re.compile(r"[A-Za-z0-9_=-]{1,64}")
_SHARD_KEY: Final = "shard.{}"
_MEMBER_PREFIX: Final = "member."
_MAX_VALUE_BYTES: Final = 4_096
_NS_PER_S: Final = 1_000_000_000


def shard_of(token_id: str, shards: int) -> int:
    """The shard of ``token_id`` among ``shards``: a stable hash, the same in every process."""
    digest = hashlib.blake2b(token_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


def bucket_name(fleet: str) -> str:
    """The key-value bucket of fleet ``fleet``; :class:`~polyinfra.errors.InvalidValueError` for a bad name."""
    if not _FLEET_NAME.fullmatch(fleet):
        raise InvalidValueError("a fleet name is 1 to 48 letters, digits, '_' or '-'", fleet=fleet[:100])
    return _BUCKET_PREFIX + fleet


def valid_member_id(member_id: str) -> str:
    if not _MEMBER_ID.fullmatch(member_id):
        raise InvalidValueError(
            "a fleet member id is 1 to 64 letters, digits, '_', '=' or '-'", member_id=member_id[:100]
        )
    return member_id


class LeaseValue(msgspec.Struct, frozen=True):
    """What a lease key holds."""

    holder: str
    expires_wall_ns: int
    acquired_wall_ns: int
    watermark_wall_ns: int | None = None
    """Receive time of the holder's last acknowledged record; None before its first."""
    released: bool = False
    """The holder let the lease go (a clean stop) rather than letting it expire."""


@dataclass(frozen=True, slots=True)
class Lease:
    """A lease this process holds: the value it wrote, the revision to renew against, its fence."""

    shard: int
    value: LeaseValue
    revision: int
    fence: int


@dataclass(frozen=True, slots=True)
class Takeover:
    """A lease just acquired, and the holding it replaced (None: the shard was never held)."""

    lease: Lease
    previous: LeaseValue | None


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(LeaseValue).decode


class ShardLeases:
    """The leases of one fleet as seen by member ``holder``, in ``kv`` (see the module docstring)."""

    def __init__(self, kv: KeyValue, *, holder: str, lease_s: float, wall_ns: Callable[[], int] = time.time_ns) -> None:
        if not lease_s > 0:
            raise InvalidValueError("lease_s must be more than 0 seconds", lease_s=lease_s)
        self._kv = kv
        self.holder = valid_member_id(holder)
        self._lease_ns = round(lease_s * _NS_PER_S)
        self._wall_ns = wall_ns

    def now_ns(self) -> int:
        """The wall clock the leases' expiries are read on."""
        return self._wall_ns()

    async def acquire(self, shard: int, *, expired_for_s: float = 0.0) -> Takeover | None:
        """Take ``shard`` when no one holds it or its holder let it expire (at least ``expired_for_s``
        ago; a shard never held counts as long expired); None when another holds it (or won the race)."""
        key = _SHARD_KEY.format(shard)
        now_ns = self._wall_ns()
        found = await self._get(key)
        if found is not None and found[0].expires_wall_ns + round(expired_for_s * _NS_PER_S) > now_ns:
            return None
        value = LeaseValue(self.holder, now_ns + self._lease_ns, now_ns)
        try:
            if found is None:
                revision = await self._kv.create(key, _encode(value))
            else:
                revision = await self._kv.update(key, _encode(value), last=found[1])
        except nats.js.errors.KeyWrongLastSequenceError:
            return None  # another member's write came first
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            raise _lease_error("acquire", exc) from exc
        return Takeover(Lease(shard, value, revision, fence=revision), None if found is None else found[0])

    async def renew(self, lease: Lease, *, watermark_wall_ns: int | None, release: bool = False) -> Lease | None:
        """Extend ``lease`` by the lease time (``release``: end it now, so a survivor takes over at
        once) and store the watermark; None when the lease was lost (taken over after it expired)."""
        now_ns = self._wall_ns()
        value = msgspec.structs.replace(
            lease.value,
            expires_wall_ns=now_ns if release else now_ns + self._lease_ns,
            released=release,
            watermark_wall_ns=lease.value.watermark_wall_ns if watermark_wall_ns is None else watermark_wall_ns,
        )
        try:
            revision = await self._kv.update(_SHARD_KEY.format(lease.shard), _encode(value), last=lease.revision)
        except (nats.js.errors.KeyWrongLastSequenceError, nats.js.errors.KeyNotFoundError):
            return None
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            raise _lease_error("renew", exc) from exc
        return Lease(lease.shard, value, revision, lease.fence)

    async def announce(self) -> None:
        """Say this member is alive for another lease time (``member.<id>``)."""
        now_ns = self._wall_ns()
        value = LeaseValue(self.holder, now_ns + self._lease_ns, now_ns)
        try:
            await self._kv.put(_MEMBER_PREFIX + self.holder, _encode(value))
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            raise _lease_error("announce", exc) from exc

    async def leave(self) -> None:
        """Stop counting as a member (a clean stop)."""
        try:
            await self._kv.delete(_MEMBER_PREFIX + self.holder)
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            raise _lease_error("leave", exc) from exc

    async def live_members(self) -> list[str]:
        """The members that announced themselves and have not expired (this one included), sorted."""
        try:
            keys = await self._kv.keys()
        except nats.js.errors.NoKeysError:
            return [self.holder]
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            raise _lease_error("list", exc) from exc
        now_ns = self._wall_ns()
        live = {self.holder}
        for key in keys:
            if key.startswith(_MEMBER_PREFIX):
                found = await self._get(key)
                if found is not None and found[0].holder and found[0].expires_wall_ns > now_ns:
                    live.add(found[0].holder)
        return sorted(live)

    async def read(self, shard: int) -> LeaseValue | None:
        """The lease of ``shard`` as stored now (None: never held)."""
        found = await self._get(_SHARD_KEY.format(shard))
        return None if found is None else found[0]

    async def _get(self, key: str) -> tuple[LeaseValue, int] | None:
        try:
            entry = await self._kv.get(key)
        except nats.js.errors.KeyNotFoundError:  # KeyDeletedError included
            return None
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            raise _lease_error("read", exc) from exc
        revision = entry.revision or 0
        try:
            return decode_lease(entry.value or b"", key=key), revision
        except LeaseError as exc:
            # Not one polyinfra wrote (a hand-edited bucket): read as a lease that expired long ago,
            # held by no member, so a member takes the shard over rather than every member failing.
            _log.error("a fleet lease does not decode; taken as expired", key=key, error=exc.message[:200])
            return LeaseValue(holder="", expires_wall_ns=0, acquired_wall_ns=self._wall_ns()), revision


def decode_lease(data: bytes, *, key: str) -> LeaseValue:
    """A stored lease; :class:`~polyinfra.errors.LeaseError` (not retriable) for bytes that are none."""
    if len(data) > _MAX_VALUE_BYTES:
        raise LeaseError("a fleet lease is larger than any polyinfra writes", key=key, bytes=len(data), retriable=False)
    try:
        return _decode(data)
    except msgspec.DecodeError as exc:
        raise LeaseError(f"a fleet lease does not decode: {exc}"[:300], key=key, retriable=False) from exc


def _lease_error(what: str, exc: BaseException) -> LeaseError:
    return LeaseError(f"cannot {what} a fleet lease: {type(exc).__name__}: {exc}"[:300])
