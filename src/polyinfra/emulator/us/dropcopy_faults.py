"""Knobs of the emulator's DropCopy streams and report search, as data (like :mod:`polyinfra.emulator.faults`).

One :class:`UsDropCopyFaults` is shared by the history, every DropCopy stream and the report search; a change
(from a test, or ``POST /_emulator/us/dropcopy/faults``) takes effect on each stream's next batch or tick.

* ``refuse_tokens``: every resume token is refused with FAILED_PRECONDITION (a venue that lost its cursors).
* ``token_lifetime_s``: a token older than this is refused with OUT_OF_RANGE, "expired" (0: never).
* ``retention_s``: history older than this is pruned (the venue keeps executions 7 days and has wiped
  them in maintenance windows); a token from before the pruned point is refused as expired (0: keep all).
* ``replay_delay_s``: a stream pauses this long before each batch it replays from history (live batches go
  at once): a replay slower than a client's short deadline never reaches the present.
* ``drop_chance``: after each batch, a stream is aborted with UNAVAILABLE with this probability (seeded by
  ``seed``), so a test gets its "random" drops reproducibly.
* ``batch_size``: records per response at most.
* ``heartbeat_interval_s``: a stream with nothing to send sends a token-only response this often.
* ``search_per_minute``: SearchExecutions and SearchTrades calls per firm per minute (the venue's 12); one
  more is RESOURCE_EXHAUSTED.
* ``time_scale``: multiplies every duration above (0.001: a minute passes in 60 ms of the emulator's clock).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Final

from polyinfra.emulator.faults import (
    knob_count,
    knob_flag,
    knob_non_negative_seconds,
    knob_positive_count,
    knob_positive_number,
    knob_probability,
)
from polyinfra.emulator.knobs import KnobValidator, ValidatedKnobs

__all__ = ["UsDropCopyFaults"]

DEFAULT_BATCH_SIZE: Final = 100
DEFAULT_HEARTBEAT_INTERVAL_S: Final = 5.0
VENUE_SEARCHES_PER_MINUTE: Final = 12


@dataclass(slots=True)
class UsDropCopyFaults(ValidatedKnobs):
    """The DropCopy knobs; see the module docstring for what each one does."""

    _validators: ClassVar[Mapping[str, KnobValidator]] = {
        "refuse_tokens": knob_flag,
        "token_lifetime_s": knob_non_negative_seconds,
        "retention_s": knob_non_negative_seconds,
        "replay_delay_s": knob_non_negative_seconds,
        "drop_chance": knob_probability,
        "seed": knob_count,
        "batch_size": knob_positive_count,
        "heartbeat_interval_s": knob_positive_number,
        "search_per_minute": knob_positive_count,
        "time_scale": knob_positive_number,
    }
    _kind: ClassVar[str] = "US DropCopy knob"

    refuse_tokens: bool = False
    token_lifetime_s: float = 0.0
    retention_s: float = 0.0
    replay_delay_s: float = 0.0
    drop_chance: float = 0.0
    seed: int = 1
    batch_size: int = DEFAULT_BATCH_SIZE
    heartbeat_interval_s: float = DEFAULT_HEARTBEAT_INTERVAL_S
    search_per_minute: int = VENUE_SEARCHES_PER_MINUTE
    time_scale: float = 1.0

    def scaled_s(self, seconds: float) -> float:
        """``seconds`` on the emulator's clock."""
        return seconds * self.time_scale
