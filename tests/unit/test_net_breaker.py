"""The circuit breaker: transitions, half-open probes, the fail-fast error, what counts as a failure,
metrics and warnings on transitions, and thread safety. Time is passed in."""

from __future__ import annotations

import itertools
import logging
import threading

import pytest

from polyinfra.core.venue_errors import error_from_response
from polyinfra.errors import (
    CircuitOpenError,
    HttpServerError,
    InvalidValueError,
    RequestTimeoutError,
    TransportError,
)
from polyinfra.net.breaker import (
    BreakerConfig,
    BreakerState,
    CallOutcome,
    CircuitBreaker,
    CircuitBreakers,
    counts_as_failure,
)
from polyinfra.obs.metrics import REGISTRY

_groups = itertools.count()


def _breaker(**config: float) -> CircuitBreaker:
    # A group name per test: the metrics registry is process-wide.
    return CircuitBreaker(f"unit-breaker-{next(_groups)}", BreakerConfig(**config))  # type: ignore[arg-type]


def _fail(breaker: CircuitBreaker, now: float, times: int = 1) -> None:
    for _ in range(times):
        breaker.record(breaker.admit(now), CallOutcome.FAILURE, now)


def _transitions(group: str, state: str) -> float:
    return (
        REGISTRY.get_sample_value("polyinfra_circuit_breaker_transitions_total", {"group": group, "state": state})
        or 0.0
    )


def _gauge(group: str) -> float | None:
    return REGISTRY.get_sample_value("polyinfra_circuit_breaker_state", {"group": group})


def test_consecutive_failures_open_it_and_a_success_resets_the_count() -> None:
    breaker = _breaker(failure_threshold=3, open_duration_s=10.0)
    _fail(breaker, 0.0, times=2)
    breaker.record(breaker.admit(0.0), CallOutcome.SUCCESS, 0.0)
    _fail(breaker, 0.0, times=2)
    assert breaker.state(0.0) is BreakerState.CLOSED
    breaker.record(breaker.admit(0.0), CallOutcome.ABANDONED, 0.0)  # no verdict, no reset
    _fail(breaker, 1.0)
    assert breaker.state(1.0) is BreakerState.OPEN


def test_while_open_calls_fail_fast_saying_when_a_probe_goes_through() -> None:
    breaker = _breaker(failure_threshold=1, open_duration_s=10.0)
    _fail(breaker, 5.0)
    with pytest.raises(CircuitOpenError) as refused:
        breaker.admit(8.0)
    error = refused.value
    assert error.context["retry_after_s"] == 7.0
    assert error.context["group"] == breaker.group
    assert error.context["state"] == "open"
    assert error.context["request_sent"] is False
    assert not error.retriable


def test_it_half_opens_after_the_open_time_and_closes_after_its_probes_succeed() -> None:
    breaker = _breaker(failure_threshold=1, open_duration_s=10.0, half_open_probes=2)
    _fail(breaker, 0.0)
    assert breaker.state(9.999) is BreakerState.OPEN
    assert breaker.state(10.0) is BreakerState.HALF_OPEN
    first, second = breaker.admit(10.0), breaker.admit(10.0)
    assert first.probe and second.probe
    with pytest.raises(CircuitOpenError) as busy:
        breaker.admit(10.0)  # both probe slots taken
    assert busy.value.context["state"] == "half_open"
    assert busy.value.context["retry_after_s"] == 10.0
    breaker.record(first, CallOutcome.SUCCESS, 10.1)
    assert breaker.state(10.1) is BreakerState.HALF_OPEN
    breaker.record(second, CallOutcome.SUCCESS, 10.2)
    assert breaker.state(10.2) is BreakerState.CLOSED
    assert not breaker.admit(10.2).probe


def test_a_failed_probe_opens_it_for_another_period() -> None:
    breaker = _breaker(failure_threshold=1, open_duration_s=10.0)
    _fail(breaker, 0.0)
    probe = breaker.admit(10.0)
    breaker.record(probe, CallOutcome.FAILURE, 12.0)
    assert breaker.state(21.0) is BreakerState.OPEN
    with pytest.raises(CircuitOpenError) as refused:
        breaker.admit(21.0)
    assert refused.value.context["retry_after_s"] == 1.0
    assert breaker.state(22.0) is BreakerState.HALF_OPEN


def test_an_abandoned_probe_frees_its_slot() -> None:
    breaker = _breaker(failure_threshold=1, open_duration_s=1.0)
    _fail(breaker, 0.0)
    breaker.record(breaker.admit(1.0), CallOutcome.ABANDONED, 1.0)
    breaker.record(breaker.admit(1.0), CallOutcome.SUCCESS, 1.0)
    assert breaker.state(1.0) is BreakerState.CLOSED


def test_late_outcomes_of_calls_from_an_earlier_state_are_ignored() -> None:
    breaker = _breaker(failure_threshold=2, open_duration_s=1.0)
    slow = breaker.admit(0.0)
    _fail(breaker, 0.0, times=2)
    breaker.record(breaker.admit(1.0), CallOutcome.SUCCESS, 1.0)  # probe closes it
    breaker.record(slow, CallOutcome.FAILURE, 1.5)
    _fail(breaker, 1.5)
    assert breaker.state(1.5) is BreakerState.CLOSED  # one counted failure, not two


@pytest.mark.parametrize(
    ("error", "counts"),
    [
        (HttpServerError("boom", status=500), True),
        (error_from_response(502, b"<html>Bad Gateway</html>", method="GET", endpoint="/book"), True),
        (TransportError("could not connect", request_sent=False), True),
        (RequestTimeoutError("read timed out"), True),
        (TransportError("not valid HTTP", retriable=False), False),
        (error_from_response(425, b"service not ready", method="POST", endpoint="/order"), False),
        (error_from_response(429, b"", method="GET", endpoint="/book"), False),
        (error_from_response(404, b'{"error":"not found"}', method="GET", endpoint="/book"), False),
        (
            error_from_response(
                503, b'{"error":"Trading is currently cancel-only."}', method="POST", endpoint="/order"
            ),
            False,
        ),
        (ValueError("not ours"), False),
    ],
)
def test_only_server_side_failures_count(error: BaseException, counts: bool) -> None:
    assert counts_as_failure(error) is counts


def test_transitions_are_exported_and_logged_at_warning(caplog: pytest.LogCaptureFixture) -> None:
    breaker = _breaker(failure_threshold=1, open_duration_s=1.0)
    group = breaker.group
    assert _gauge(group) == 0
    with caplog.at_level(logging.WARNING, logger="polyinfra.net.breaker"):
        _fail(breaker, 0.0)
        assert _gauge(group) == 2
        breaker.state(1.0)
        assert _gauge(group) == 1
        breaker.record(breaker.admit(1.0), CallOutcome.SUCCESS, 1.0)
        assert _gauge(group) == 0
    assert [_transitions(group, state) for state in ("open", "half_open", "closed")] == [1, 1, 1]
    events = [record.msg for record in caplog.records if record.name == "polyinfra.net.breaker"]
    assert [(event["previous"], event["state"]) for event in events] == [  # type: ignore[index]
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
    ]
    assert all(record.levelno == logging.WARNING for record in caplog.records)


def test_threads_failing_together_open_it_once() -> None:
    breaker = _breaker(failure_threshold=5, open_duration_s=60.0)
    start = threading.Barrier(8)
    refused = []

    def hammer() -> None:
        start.wait()
        for _ in range(50):
            try:
                permit = breaker.admit(0.0)
            except CircuitOpenError:
                refused.append(1)
                continue
            breaker.record(permit, CallOutcome.FAILURE, 0.0)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert _transitions(breaker.group, "open") == 1
    # Through went the 5 failures that opened it, plus at most one call per other thread already admitted.
    assert len(refused) >= 8 * 50 - (5 + 7)


def test_groups_get_their_own_breakers_and_configs() -> None:
    breakers = CircuitBreakers(
        BreakerConfig(failure_threshold=1), overrides={"unit-trading": BreakerConfig(failure_threshold=3)}
    )
    assert breakers["unit-trading"] is breakers["unit-trading"]
    assert breakers["unit-trading"].config.failure_threshold == 3
    assert breakers["unit-public"].config.failure_threshold == 1
    _fail(breakers["unit-public"], 0.0)
    assert breakers["unit-public"].state(0.0) is BreakerState.OPEN
    assert breakers["unit-trading"].state(0.0) is BreakerState.CLOSED


def test_configs_are_validated() -> None:
    with pytest.raises(InvalidValueError):
        BreakerConfig(failure_threshold=0)
    with pytest.raises(InvalidValueError):
        BreakerConfig(open_duration_s=0.0)
    with pytest.raises(InvalidValueError):
        BreakerConfig(half_open_probes=0)
