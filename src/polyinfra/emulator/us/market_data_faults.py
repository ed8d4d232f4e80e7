"""Fault knobs of the emulator's US market-data streams, as data (like :mod:`polyinfra.emulator.faults`).

One :class:`UsMarketDataFaults` is shared by every market-data stream of an emulator; a change (from a
test, or ``POST /_emulator/us/market-data/faults``) takes effect on each stream's next message or tick.
Every assignment is validated, and :meth:`UsMarketDataFaults.update` is all-or-nothing.

* ``drop_every_updates``: abort each stream with UNAVAILABLE after it has sent that many updates (0: never).
* ``silent``: streams send nothing while set, no update and no heartbeat, and stay open: the venue's
  "socket open, no data" failure. Clearing it resumes them with the books as they are then.
* ``heartbeat_interval_s``: a stream with nothing else to send sends a heartbeat this often (the venue
  does not publish its interval; ours is 10 s).
* ``idle_timeout_s``: the load balancer in front of the venue closes a stream that carried no traffic for
  this long (10 minutes, venue notes: US exchange connections) with UNAVAILABLE; a silent stream meets it.
* ``time_scale``: divides both durations above, so a test sees a 10-minute idle kill in a fraction of a
  second (0.001: a thousand times faster).
* ``slow_consumer_limit``: updates a stream may have waiting to be written; past it, a stream subscribed
  with ``slow_consumer_skip_to_head`` drops what waits and sends each symbol's latest book, any other is
  disconnected with RESOURCE_EXHAUSTED (the venue's default for a slow client).
* ``streams_per_firm``: concurrent streams one firm may hold (the venue's 20, pooled across RPCs); one
  more is refused with RESOURCE_EXHAUSTED.

``POST /_emulator/us/market-data/drop`` aborts every open stream at once (UNAVAILABLE).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from polyinfra.core.us_books import MAX_STREAMS_PER_FIRM
from polyinfra.emulator.faults import knob_count, knob_flag, knob_positive_count, knob_positive_number
from polyinfra.errors import InvalidValueError

__all__ = ["UsMarketDataFaults"]

DEFAULT_HEARTBEAT_INTERVAL_S: Final = 10.0
DEFAULT_IDLE_TIMEOUT_S: Final = 600.0
DEFAULT_SLOW_CONSUMER_LIMIT: Final = 10_000


_VALIDATORS: Final[Mapping[str, Callable[[str, object], object]]] = {
    "drop_every_updates": knob_count,
    "silent": knob_flag,
    "heartbeat_interval_s": knob_positive_number,
    "idle_timeout_s": knob_positive_number,
    "time_scale": knob_positive_number,
    "slow_consumer_limit": knob_positive_count,
    "streams_per_firm": knob_positive_count,
}


@dataclass(slots=True)
class UsMarketDataFaults:
    """The US market-data knobs; see the module docstring for what each one does."""

    drop_every_updates: int = 0
    silent: bool = False
    heartbeat_interval_s: float = DEFAULT_HEARTBEAT_INTERVAL_S
    idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S
    time_scale: float = 1.0
    slow_consumer_limit: int = DEFAULT_SLOW_CONSUMER_LIMIT
    streams_per_firm: int = MAX_STREAMS_PER_FIRM

    def __setattr__(self, name: str, value: object) -> None:
        object.__setattr__(self, name, _validated(name, value))

    def update(self, changes: Mapping[str, object]) -> None:
        """Set several knobs at once; nothing changes unless every value is valid."""
        validated = {name: _validated(name, value) for name, value in changes.items()}
        for name, value in validated.items():
            object.__setattr__(self, name, value)

    def as_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)

    @property
    def heartbeat_every_s(self) -> float:
        """The heartbeat interval on the emulator's clock (scaled)."""
        return self.heartbeat_interval_s * self.time_scale

    @property
    def idle_kill_after_s(self) -> float:
        """The idle timeout on the emulator's clock (scaled)."""
        return self.idle_timeout_s * self.time_scale


def _validated(name: str, value: object) -> object:
    validator = _VALIDATORS.get(name)
    if validator is None:
        raise InvalidValueError("unknown US market-data fault knob", field=name, known=sorted(_VALIDATORS))
    return validator(name, value)
