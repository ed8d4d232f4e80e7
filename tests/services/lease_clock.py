"""The wall clock the lease tests move by hand: lease expiries are read on it, never on the real one."""

from __future__ import annotations

S = 1_000_000_000
"""Nanoseconds in a second."""


class LeaseClock:
    """Unix nanoseconds that move only when a test adds to :attr:`now_ns`."""

    def __init__(self) -> None:
        self.now_ns = 1_700_000_000 * S

    def __call__(self) -> int:
        return self.now_ns
