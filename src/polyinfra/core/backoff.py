"""The jittered exponential schedule of reconnects and retries, sans-I/O (DESIGN principle 5).

Every streaming client (market channel, user channel, RTDS, PolyBolt, the US exchange's streams)
waits by this schedule between connection attempts: :class:`Backoff` hands out the delays and
:func:`backoff_delay_s` computes one. Randomness (the jitter) is injected; nothing here reads a clock.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final

from polyinfra.errors import InvalidValueError

__all__ = ["Backoff", "backoff_delay_s", "validate_schedule"]

# The jitter takes up to half of each delay away: a fleet that lost the venue together spreads its
# reconnects over the window, and no delay ever exceeds the cap.
_JITTER_SHARE: Final = 0.5
# Doubling stops mattering long before this many attempts (2**64 seconds); it keeps ldexp finite.
_MAX_DOUBLINGS: Final = 64


def backoff_delay_s(attempt: int, *, initial_s: float, max_s: float, jitter: float) -> float:
    """The delay before retry number ``attempt`` (0-based): ``initial_s`` doubling per attempt up
    to ``max_s``, minus up to half of it as ``jitter`` (in [0, 1)) says."""
    base = min(max_s, math.ldexp(initial_s, min(attempt, _MAX_DOUBLINGS)))
    return base * (1.0 - _JITTER_SHARE * jitter)


def validate_schedule(initial_s: float, max_s: float) -> None:
    """:class:`~polyinfra.errors.InvalidValueError` unless ``initial_s`` is positive and ``max_s`` at least it."""
    if not (math.isfinite(initial_s) and initial_s > 0):
        raise InvalidValueError("the initial delay must be a positive number of seconds", initial_s=initial_s)
    if not (math.isfinite(max_s) and max_s >= initial_s):
        raise InvalidValueError("the delay cap must be at least the initial delay", initial_s=initial_s, max_s=max_s)


class Backoff:
    """Jittered exponential delays between connection attempts (DESIGN principle 5).

    ``random`` returns a float in [0, 1) per call (``random.Random().random`` in production, a
    fixed sequence in tests). :meth:`reset` after the first good message of a session, so a
    connection that worked reconnects quickly and one that keeps failing backs off to ``max_s``.
    """

    __slots__ = ("_attempts", "_initial_s", "_max_s", "_random")

    def __init__(self, *, initial_s: float = 1.0, max_s: float = 30.0, random: Callable[[], float]) -> None:
        validate_schedule(initial_s, max_s)
        self._initial_s = initial_s
        self._max_s = max_s
        self._random = random
        self._attempts = 0

    @property
    def attempts(self) -> int:
        """Delays handed out since the last reset."""
        return self._attempts

    def next_delay_s(self) -> float:
        """The delay to wait before the next attempt; each call counts one attempt."""
        delay = backoff_delay_s(self._attempts, initial_s=self._initial_s, max_s=self._max_s, jitter=self._random())
        self._attempts += 1
        return delay

    def reset(self) -> None:
        """Start again from ``initial_s`` (a session delivered good data)."""
        self._attempts = 0
