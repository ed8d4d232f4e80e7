"""The US order-entry knobs: validated on every assignment, all-or-nothing updates, counted knobs used up."""

from __future__ import annotations

import pytest

from polyinfra.emulator.us.order_faults import UsOrderFaults
from polyinfra.errors import InvalidValueError


def test_knobs_are_validated_and_updates_are_all_or_nothing() -> None:
    faults = UsOrderFaults()
    with pytest.raises(InvalidValueError, match="reject text of the catalogue"):
        faults.inject_reject = "no such sentence"
    with pytest.raises(InvalidValueError):
        faults.update({"drop_insert_replies": 2, "ingress_limit_per_s": 0})
    assert faults.drop_insert_replies == 0
    with pytest.raises(InvalidValueError, match="unknown US order-entry fault knob"):
        faults.update({"nope": 1})


def test_counted_knobs_are_used_up_one_by_one() -> None:
    faults = UsOrderFaults(drop_insert_replies=2)
    assert [faults.take("drop_insert_replies") for _ in range(3)] == [True, True, False]
    assert faults.as_dict()["drop_insert_replies"] == 0
