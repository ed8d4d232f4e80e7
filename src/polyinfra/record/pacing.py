"""Playing a recording at a multiple of its recorded pace, against an injected clock and sleep.

A record is due ``(recv_mono_ns - origin) / speed`` after the moment the pacer took its origin:
the first record it waits for, the first record of each new recording session (each session has
its own monotonic clock, so times do not compare across them), and the record after
:meth:`Pacer.restart` (a replay that was paused resumes at the recorded pace instead of rushing to
catch up). Lateness is never made up by waiting less later: a record that is late goes at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from polyinfra.errors import InvalidValueError
from polyinfra.record.records import Record

__all__ = ["Pacer"]


class Pacer:
    """Waits until each record is due at ``speed`` times its recorded pace (``clock`` in seconds)."""

    def __init__(self, speed: float, *, clock: Callable[[], float], sleep: Callable[[float], Awaitable[None]]) -> None:
        if not speed > 0:
            raise InvalidValueError("the replay speed must be positive", speed=speed)
        self._speed = speed
        self._clock = clock
        self._sleep = sleep
        self._origin: tuple[str, int, float] | None = None
        """The origin's session, its record's ``recv_mono_ns`` and the clock when it went."""

    def restart(self) -> None:
        """Make the next record the origin: it goes at once, the ones after at the recorded pace."""
        self._origin = None

    async def wait_for(self, record: Record) -> None:
        origin = self._origin
        if origin is None or origin[0] != record.session_id:
            self._origin = (record.session_id, record.recv_mono_ns, self._clock())
            return
        _, origin_ns, origin_s = origin
        wait_s = origin_s + (record.recv_mono_ns - origin_ns) / 1e9 / self._speed - self._clock()
        if wait_s > 0:
            await self._sleep(wait_s)
