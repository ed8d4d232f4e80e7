"""One session of the CLOB user channel: its socket, its silence watch and its ``PING`` / ``PONG`` count.

The count is how :class:`~polyinfra.clob.user_channel.UserChannel` knows what the venue has read
(a subscription, a change of it): :meth:`UserSession.barrier` waits for that proof.
"""

from __future__ import annotations

import asyncio
from typing import Final

from websockets.asyncio.client import ClientConnection

from polyinfra.core.connection_watch import ConnectionWatch
from polyinfra.wire.clob_ws import PING

__all__ = ["UserSession"]

_DISCONNECTED: Final = "disconnected"


class UserSession:
    """One socket's state: its watch, whether it is subscribed and reconciled, and its ``PING`` count."""

    __slots__ = (
        "end_reason",
        "pings_sent",
        "pong_arrived",
        "pongs_received",
        "resync_after_pong",
        "socket",
        "subscribed",
        "synced",
        "watch",
    )

    def __init__(self, socket: ClientConnection, opened_s: float) -> None:
        self.socket = socket
        self.watch = ConnectionWatch(opened_s)
        self.subscribed = False
        self.synced = False
        # The venue answers PINGs in order, so the n-th PONG proves it read all sent before the n-th PING.
        self.pings_sent = 0
        self.pongs_received = 0
        self.pong_arrived = asyncio.Event()
        # The PONG (by number) after which markets subscribed on this socket are reconciled; 0: none.
        self.resync_after_pong = 0
        # Why the session ended, for the recording: the watchdog's verdict, or stop(), when the client ended it.
        self.end_reason = _DISCONNECTED

    async def ping(self) -> None:
        self.pings_sent += 1
        await self.socket.send(PING)

    def pong_received(self, now_s: float) -> None:
        """Count a ``PONG`` (and wake :meth:`barrier`)."""
        self.watch.last_pong_s = now_s
        self.pongs_received += 1
        self.pong_arrived.set()

    async def barrier(self, timeout_s: float) -> None:
        """Return once the venue has read everything sent so far: the PONG of a new PING proves
        it. Raises ``ConnectionClosed`` or ``TimeoutError`` when that proof cannot come."""
        wanted = self.pings_sent + 1
        async with asyncio.timeout(timeout_s):
            await self.ping()
            while self.pongs_received < wanted:
                self.pong_arrived.clear()
                await self.pong_arrived.wait()
