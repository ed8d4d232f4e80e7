"""The emulator's timed outages (matching-engine restart, 5xx storm), driven by a fake clock."""

from __future__ import annotations

import pytest

from polyinfra.emulator.faults import POST_ONLY_AFTER_RESTART_S, OutageSchedule
from polyinfra.errors import InvalidValueError


class FakeClock:
    def __init__(self) -> None:
        self.now_s = 1_000.0

    def __call__(self) -> float:
        return self.now_s


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_nothing_is_on_at_first(clock: FakeClock) -> None:
    outages = OutageSchedule(clock)
    assert not outages.restarting("/book")
    assert outages.post_only_remaining_s() == 0.0
    assert outages.storm_status() is None


def test_restart_then_two_minutes_of_post_only(clock: FakeClock) -> None:
    outages = OutageSchedule(clock)
    outages.restart(seconds=90)
    assert outages.restarting("/book") and outages.restarting("/order")
    assert outages.post_only_remaining_s() == 0.0, "post-only starts when the engine is back"
    clock.now_s += 90
    assert not outages.restarting("/order")
    assert outages.post_only_remaining_s() == POST_ONLY_AFTER_RESTART_S == 120.0
    clock.now_s += 119.5
    assert outages.post_only_remaining_s() == pytest.approx(0.5)
    clock.now_s += 0.5
    assert outages.post_only_remaining_s() == 0.0


def test_restart_prefixes_narrow_the_425s(clock: FakeClock) -> None:
    outages = OutageSchedule(clock)
    outages.restart(seconds=10, post_only_seconds=0, prefixes=["/order", "/cancel"])
    assert outages.restarting("/order") and outages.restarting("/orders") and outages.restarting("/cancel-all")
    assert not outages.restarting("/book")
    assert outages.as_dict()["restart_prefixes"] == ["/order", "/cancel"]


def test_zero_seconds_ends_an_outage(clock: FakeClock) -> None:
    outages = OutageSchedule(clock)
    outages.restart(seconds=60, post_only_seconds=60)
    outages.restart(seconds=0, post_only_seconds=0)
    assert not outages.restarting("/book")
    assert outages.post_only_remaining_s() == 0.0
    outages.storm(seconds=60, status=502)
    outages.storm(seconds=0)
    assert outages.storm_status() is None


def test_storm_window(clock: FakeClock) -> None:
    outages = OutageSchedule(clock)
    outages.storm(seconds=5, status=500)
    assert outages.storm_status() == 500
    assert outages.as_dict() == {
        "restart_remaining_s": 0.0,
        "restart_prefixes": ["/"],
        "post_only_remaining_s": 0.0,
        "storm_remaining_s": 5.0,
        "storm_status": 500,
    }
    clock.now_s += 5
    assert outages.storm_status() is None
    outages.storm(seconds=1)
    assert outages.storm_status() == 503, "503 unless told"


def test_bad_values_change_nothing(clock: FakeClock) -> None:
    outages = OutageSchedule(clock)
    for bad in (
        {"seconds": -1.0},
        {"seconds": float("nan")},
        {"seconds": 1.0, "post_only_seconds": float("inf")},
        {"seconds": 1.0, "prefixes": ["book"]},
        {"seconds": 1.0, "prefixes": []},
    ):
        with pytest.raises(InvalidValueError):
            outages.restart(**bad)
    for status in (404, 600, 200):
        with pytest.raises(InvalidValueError):
            outages.storm(seconds=1, status=status)
    assert not outages.restarting("/book")
    assert outages.storm_status() is None
