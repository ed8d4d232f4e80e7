"""Whether a connection's silence is a quiet market or a dead socket, sans-I/O (venue notes: Failure modes).

:class:`ConnectionWatch` keeps one session's silence bookkeeping and :class:`WatchVerdict` is what it
concludes: the market channel's live books and the user channel both drive their watchdogs with it,
passing in the times they read. It is its own module because it judges a socket, not a book: nothing
here knows what the data it waits for means.
"""

from __future__ import annotations

from enum import Enum

__all__ = ["ConnectionWatch", "WatchVerdict"]


class WatchVerdict(Enum):
    """What the watchdog should do about one connection now."""

    HEALTHY = "healthy"
    """Data arrived recently (or the last probe was answered)."""
    PROBE = "probe"
    """Silent past the timeout: ask the venue for data before judging (a market may just be quiet)."""
    PROBING = "probing"
    """A probe is out and its answer is not overdue yet."""
    SILENT = "silent"
    """The probe went unanswered: the socket is a zombie (open, maybe PONGing, no data). Reconnect."""
    NO_PONG = "no pong"
    """Silent and no PONG for the PONG timeout either: the socket is dead. Reconnect."""


class ConnectionWatch:
    """Silence bookkeeping of one connection session.

    The I/O layer stores the receive time of every data frame in :attr:`last_data_s` and of
    every ``PONG`` in :attr:`last_pong_s`, records :meth:`probe_sent`, and asks :meth:`verdict`
    periodically. A probe is answered by any data frame received after it: the venue answers a
    re-subscription with a ``book`` (``initial_dump``, venue notes: WebSockets), and any data at all proves the
    data path works. ``PONG`` alone proves nothing: the venue's zombie sockets keep answering
    ``PING`` while sending no data (venue notes: Failure modes).
    """

    __slots__ = ("last_data_s", "last_pong_s", "opened_s", "probe_sent_s")

    def __init__(self, opened_s: float) -> None:
        self.opened_s = opened_s
        self.last_data_s: float | None = None
        self.last_pong_s: float | None = None
        self.probe_sent_s: float | None = None

    @property
    def proven(self) -> bool:
        """The session has delivered data."""
        return self.last_data_s is not None

    def probe_sent(self, now_s: float) -> None:
        """A probe went out now."""
        self.probe_sent_s = now_s

    def silent_for_s(self, now_s: float) -> float:
        """Seconds since the last data frame (or since the session opened, without any)."""
        return now_s - (self.opened_s if self.last_data_s is None else self.last_data_s)

    def verdict(
        self, now_s: float, *, silence_timeout_s: float, probe_timeout_s: float, pong_timeout_s: float
    ) -> WatchVerdict:
        """Judge the connection at ``now_s``; an answered probe is forgotten."""
        probe_sent_s = self.probe_sent_s
        if probe_sent_s is not None:
            if self.last_data_s is not None and self.last_data_s > probe_sent_s:
                self.probe_sent_s = None
            elif now_s - probe_sent_s >= probe_timeout_s:
                return WatchVerdict.SILENT
            else:
                return WatchVerdict.PROBING
        if self.silent_for_s(now_s) < silence_timeout_s:
            return WatchVerdict.HEALTHY
        last_pong_s = self.opened_s if self.last_pong_s is None else max(self.last_pong_s, self.opened_s)
        if now_s - last_pong_s >= pong_timeout_s:
            return WatchVerdict.NO_PONG
        return WatchVerdict.PROBE
