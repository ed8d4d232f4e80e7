"""The nonces of one EOA, handed out to concurrent senders without a gap and without reuse.

Every transaction of an account carries the next nonce; the node mines them in order, so a skipped nonce
stalls all later ones and a nonce used twice loses one transaction. Reading ``eth_getTransactionCount(…,
"pending")`` before each send is not enough: twenty concurrent operations would all read the same count.
So the count is read once and then kept here::

    reserve() ──▶ the lowest released nonce, else next (next += 1)
         │
         ├── the transaction was broadcast ──▶ commit(nonce): it is the chain's now
         └── it never left (signing or the send failed before the node took it) ──▶ release(nonce):
             the next reserve() reuses it, so no gap is left behind

:meth:`NonceBook.resync` re-reads the node (after a restart, or when the node says "nonce too low"),
never going below a nonce handed out and not released. :meth:`NonceBook.is_ours` tells the sender which
missing nonces below its own are a gap it must fill (with an empty transaction) for its own to be mined.
One lock orders the book's changes; nothing here waits on the network while holding it except the reads.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Awaitable, Callable

__all__ = ["NonceBook"]


class NonceBook:
    """Nonces of one account; ``read_pending`` answers the node's pending transaction count."""

    def __init__(self, read_pending: Callable[[], Awaitable[int]]) -> None:
        self._read_pending = read_pending
        self._lock = asyncio.Lock()
        self._next: int | None = None
        self._released: list[int] = []
        self._outstanding: set[int] = set()
        self._committed: set[int] = set()

    async def reserve(self) -> int:
        """The nonce for the next transaction (module notes)."""
        async with self._lock:
            if self._next is None:
                self._next = await self._read_pending()
            if self._released:
                nonce = heapq.heappop(self._released)
            else:
                nonce = self._next
                self._next += 1
            self._outstanding.add(nonce)
            return nonce

    def commit(self, nonce: int) -> None:
        """``nonce``'s transaction reached the node: it stays used."""
        self._outstanding.discard(nonce)
        self._committed.add(nonce)

    def is_ours(self, nonce: int) -> bool:
        """Whether this book handed ``nonce`` out (in flight or sent): a lower nonce the chain still waits for
        and that is not ours is a gap, left by a node that overstated the count or by another sender."""
        return nonce in self._outstanding or nonce in self._committed

    def release(self, nonce: int) -> None:
        """``nonce``'s transaction never reached the node: hand it out again first."""
        if nonce in self._outstanding:
            self._outstanding.discard(nonce)
            heapq.heappush(self._released, nonce)

    async def resync(self) -> None:
        """Re-read the node's count; released nonces below it are gone (someone else used them)."""
        async with self._lock:
            pending = await self._read_pending()
            floor = max([pending, *(nonce + 1 for nonce in self._outstanding)])
            self._released = [nonce for nonce in self._released if nonce >= pending]
            heapq.heapify(self._released)
            self._next = max(floor, self._next or 0) if self._outstanding else pending
