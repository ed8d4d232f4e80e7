"""The knobs of the emulator's Gamma and Data API (``GET``/``POST /_emulator/data/knobs``).

* ``lag_s``: the Data API serves rows (and the positions, values and boards replayed from them) only
  once they are at least this old, on the Data API's clock: the venue is complete but 5-10 s behind
  (venue notes: Data API). 0 by default, so a test sees a fill at once unless it asks for the lag.
* ``lag_spread_s`` and ``lag_seed``: the lag wanders, second by second, between ``lag_s`` and
  ``lag_s + lag_spread_s`` (drawn from ``lag_seed``), as an indexer running behind does; what was
  served stays served (see :meth:`~polyinfra.emulator.data.views.DataView.cutoff_ms`). ``lag_s`` 5 and
  ``lag_spread_s`` 5 is the venue's 5-10 s.
* ``cursor_ttl_s``: a v2 cursor older than this is refused (400 ``CURSOR_EXPIRED``); 0 never.
* ``v1_max_offset``: every v1 route's offset ceiling (0: the documented ones, 10,000 for
  ``/positions``, ``/activity`` and ``/trades``), so a test reaches a ceiling with a few rows.
* ``v1_repeat_past_offset``: from this offset on, the v1 feeds answer the page just before it
  again instead of the rows asked for: the "repeats past the offset" trap (0: off).
* ``outage_requests``: the next this many Gamma or Data API requests answer ``outage_status``
  (a 5xx) with ``Retry-After: retry_after_s``; counted down per request, so a test needs no timer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from polyinfra.emulator.faults import knob_count
from polyinfra.emulator.knobs import KnobValidator, ValidatedKnobs
from polyinfra.errors import InvalidValueError

__all__ = ["DataApiKnobs"]


def _seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < float("inf"):
        raise InvalidValueError("must be a non-negative number of seconds", field=name, value=value)
    return float(value)


def _server_error(name: str, value: object) -> int:
    status = knob_count(name, value)
    if not 500 <= status <= 599:
        raise InvalidValueError("must be a 5xx HTTP status", field=name, value=value)
    return status


_VALIDATORS: Mapping[str, KnobValidator] = {
    "lag_s": _seconds,
    "lag_spread_s": _seconds,
    "lag_seed": knob_count,
    "cursor_ttl_s": _seconds,
    "v1_max_offset": knob_count,
    "v1_repeat_past_offset": knob_count,
    "outage_requests": knob_count,
    "outage_status": _server_error,
    "retry_after_s": knob_count,
}


@dataclass(slots=True)
class DataApiKnobs(ValidatedKnobs):
    """See the module docstring; every assignment is validated."""

    _validators: ClassVar[Mapping[str, KnobValidator]] = _VALIDATORS
    _kind: ClassVar[str] = "data API knob"

    lag_s: float = 0.0
    lag_spread_s: float = 0.0
    lag_seed: int = 0
    cursor_ttl_s: float = 600.0
    v1_max_offset: int = 0
    v1_repeat_past_offset: int = 0
    outage_requests: int = 0
    outage_status: int = 503
    retry_after_s: int = 1
