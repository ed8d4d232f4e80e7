"""Settings objects whose every assignment is validated: the emulator's knobs.

A knob class (the fault knobs of :mod:`polyinfra.emulator.faults`, the US token endpoint's knobs)
is a dataclass that inherits :class:`ValidatedKnobs` and names a validator per field in
``_validators``. Assigning a field, from a test or through a control route, runs its validator, so
a knob object never holds a value the servers cannot act on; :meth:`ValidatedKnobs.update`
changes several fields all-or-nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from polyinfra.errors import InvalidValueError

__all__ = ["KnobValidator", "ValidatedKnobs"]

KnobValidator = Callable[[str, object], object]
"""Takes a knob's name and a proposed value; returns the value to store or raises
:class:`~polyinfra.errors.InvalidValueError`."""


class ValidatedKnobs:
    """Validated assignment for a knob dataclass (see the module docstring)."""

    __slots__ = ()
    _validators: ClassVar[Mapping[str, KnobValidator]]
    _kind: ClassVar[str] = "knob"
    """Names the knobs in errors ("unknown fault knob")."""

    def __setattr__(self, name: str, value: object) -> None:
        object.__setattr__(self, name, self._validated(name, value))

    def update(self, changes: Mapping[str, object]) -> None:
        """Set several knobs at once; nothing changes unless every value is valid."""
        validated = {name: self._validated(name, value) for name, value in changes.items()}
        for name, value in validated.items():
            object.__setattr__(self, name, value)

    def as_dict(self) -> dict[str, object]:
        """Every knob by name, as the control routes answer them."""
        knobs: Any = self  # a dataclass, by this class's contract
        return dataclasses.asdict(knobs)

    @classmethod
    def _validated(cls, name: str, value: object) -> object:
        validator = cls._validators.get(name)
        if validator is None:
            raise InvalidValueError(f"unknown {cls._kind}", field=name, known=sorted(cls._validators))
        return validator(name, value)
