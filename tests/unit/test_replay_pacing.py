"""Pacing a replay against an injected clock (no test waits), and the command line's replay times."""

from __future__ import annotations

import pytest

from polyinfra.cli.options import replay_speed, wall_time_ns
from polyinfra.errors import InvalidValueError
from polyinfra.record.pacing import Pacer
from polyinfra.record.records import Record, RecordKind


class _Clock:
    """A clock that moves only when the pacer sleeps (records the sleeps)."""

    def __init__(self) -> None:
        self.now_s = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now_s

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now_s += seconds


def _record(session: str, mono_s: float) -> Record:
    mono_ns = int(mono_s * 1e9)
    return Record(
        f"{session}:clob.market.1:{mono_ns}",
        session,
        "clob",
        "market",
        "",
        RecordKind.FRAME_RECEIVED,
        0,
        mono_ns,
        None,
        b"",
    )


async def test_records_are_due_at_speed_times_their_recorded_pace() -> None:
    clock = _Clock()
    pacer = Pacer(2.0, clock=clock, sleep=clock.sleep)
    await pacer.wait_for(_record("a", 10.0))  # the origin goes at once
    await pacer.wait_for(_record("a", 12.0))  # 2 s recorded, at 2x: 1 s
    clock.now_s += 5.0  # the consumer was slow: late records go at once, nothing is made up
    await pacer.wait_for(_record("a", 13.0))
    await pacer.wait_for(_record("b", 1.0))  # a new session: a new origin
    await pacer.wait_for(_record("b", 1.5))
    pacer.restart()  # after a pause: no catching up
    clock.now_s += 60.0
    await pacer.wait_for(_record("b", 100.0))
    await pacer.wait_for(_record("b", 101.0))
    assert clock.sleeps == [pytest.approx(1.0), pytest.approx(0.25), pytest.approx(0.5)]


def test_a_pacer_refuses_a_speed_that_is_not_positive() -> None:
    for speed in (0.0, -1.0, float("nan")):
        with pytest.raises(InvalidValueError):
            Pacer(speed, clock=_Clock(), sleep=_Clock().sleep)


def test_replay_times_and_speeds_from_the_command_line() -> None:
    assert wall_time_ns("1796600000") == 1_796_600_000_000_000_000
    assert wall_time_ns("1796600000.25") == 1_796_600_000_250_000_000
    assert wall_time_ns("1970-01-01T00:00:01.5Z") == 1_500_000_000
    assert wall_time_ns("1970-01-01T01:00:00+01:00") == 0
    assert wall_time_ns("1970-01-01 00:00:02") == 2_000_000_000  # no zone: UTC
    assert replay_speed("max") is None and replay_speed("MAX") is None
    assert replay_speed("0.5") == 0.5
    for bad_time in ("yesterday", "", "9" * 40):
        with pytest.raises(InvalidValueError):
            wall_time_ns(bad_time)
    for bad_speed in ("0", "-2", "nan", "inf", "fast"):
        with pytest.raises(InvalidValueError):
            replay_speed(bad_speed)
