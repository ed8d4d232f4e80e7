"""Fault knobs of the emulator's US order entry, as data (like :mod:`polyinfra.emulator.faults`).

One :class:`UsOrderFaults` is shared by the order engine and its gRPC services; a change (from a test, or
``POST /_emulator/us/orders/faults``) applies to the next call. Every assignment is validated, and
:meth:`UsOrderFaults.update` is all-or-nothing.

* ``drop_insert_replies``: the next that many inserts are accepted (the order exists, its executions are
  published) but the call ends UNAVAILABLE instead of answering the order id: an insert whose outcome the
  client cannot know.
* ``latency_stopgap_rejects``: the next that many inserts and replaces are refused with "Global Rate Limit
  Exceeded", the venue's latency stop-gap.
* ``inject_reject`` / ``inject_reject_count``: the next ``inject_reject_count`` inserts are refused with the
  catalogue's sentence named ``inject_reject`` (a key of :data:`~polyinfra.core.us_rejects.REJECT_TEXTS`).
* ``ingress_limit_per_s``: the venue's client-to-server limit, 100 messages a second per firm averaged over
  a minute; an order-entry call past it ends RESOURCE_EXHAUSTED.
* ``heartbeat_interval_s``: an order or position stream with nothing else to send sends a heartbeat this often.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Final

from polyinfra.core.us_rejects import REJECT_TEXTS
from polyinfra.emulator.faults import knob_count, knob_positive_number
from polyinfra.emulator.knobs import KnobValidator, ValidatedKnobs
from polyinfra.errors import InvalidValueError

__all__ = ["UsOrderFaults"]

DEFAULT_INGRESS_LIMIT_PER_S: Final = 100.0
DEFAULT_HEARTBEAT_INTERVAL_S: Final = 10.0


def _reject_name(name: str, value: object) -> str:
    if not isinstance(value, str) or (value and value not in REJECT_TEXTS):
        raise InvalidValueError("must name a reject text of the catalogue", field=name, known=sorted(REJECT_TEXTS))
    return value


_VALIDATORS: Final[Mapping[str, KnobValidator]] = {
    "drop_insert_replies": knob_count,
    "latency_stopgap_rejects": knob_count,
    "inject_reject": _reject_name,
    "inject_reject_count": knob_count,
    "ingress_limit_per_s": knob_positive_number,
    "heartbeat_interval_s": knob_positive_number,
}


@dataclass(slots=True)
class UsOrderFaults(ValidatedKnobs):
    """The US order-entry knobs; see the module docstring for what each one does."""

    _validators: ClassVar[Mapping[str, KnobValidator]] = _VALIDATORS
    _kind: ClassVar[str] = "US order-entry fault knob"

    drop_insert_replies: int = 0
    latency_stopgap_rejects: int = 0
    inject_reject: str = ""
    inject_reject_count: int = 0
    ingress_limit_per_s: float = DEFAULT_INGRESS_LIMIT_PER_S
    heartbeat_interval_s: float = DEFAULT_HEARTBEAT_INTERVAL_S

    def take(self, name: str) -> bool:
        """Use up one of the counted knob ``name``; whether there was one."""
        left = getattr(self, name)
        if left <= 0:
            return False
        object.__setattr__(self, name, left - 1)
        return True
