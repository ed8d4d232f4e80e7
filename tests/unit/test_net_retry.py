"""Retry decisions as a pure function: the backoff schedule and its jitter bounds, the deadline,
Retry-After, what is retriable, and the rules for requests that change state."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyinfra.core.venue_errors import error_from_response
from polyinfra.errors import (
    CircuitOpenError,
    HttpServerError,
    InvalidValueError,
    MalformedMessageError,
    NotFoundError,
    RateLimitedError,
    RequestTimeoutError,
    ServiceNotReadyError,
    TransportError,
)
from polyinfra.net.retry import (
    Jitter,
    RetryPolicy,
    annotate,
    backoff_delay_s,
    decide_retry,
    flag_reconciliation,
    may_have_been_applied,
    needs_reconciliation,
    retry_reason,
)

POLICY = RetryPolicy(base_delay_s=0.5, multiplier=2.0, max_delay_s=8.0, max_attempts=10, deadline_s=60.0)


def _answer(status: int, body: bytes = b"", *, path: str = "/order", method: str = "POST", **headers: str):
    return error_from_response(status, body, method=method, endpoint=path, headers=headers)


def test_equal_jitter_schedule_doubles_and_caps() -> None:
    lows = [backoff_delay_s(attempt, POLICY, 0.0) for attempt in range(1, 8)]
    highs = [backoff_delay_s(attempt, POLICY, 1.0) for attempt in range(1, 8)]
    assert lows == [0.25, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert highs == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_full_jitter_can_go_down_to_zero() -> None:
    full = RetryPolicy(base_delay_s=1.0, jitter=Jitter.FULL)
    assert backoff_delay_s(3, full, 0.0) == 0.0
    assert backoff_delay_s(3, full, 0.5) == 2.0


@given(attempt=st.integers(1, 40), draw=st.floats(0.0, 1.0, exclude_max=True), full=st.booleans())
def test_jittered_delays_stay_within_their_bounds(attempt: int, draw: float, full: bool) -> None:
    policy = RetryPolicy(
        base_delay_s=0.1, multiplier=3.0, max_delay_s=30.0, jitter=Jitter.FULL if full else Jitter.EQUAL
    )
    ceiling = min(30.0, 0.1 * 3.0 ** (attempt - 1))
    delay = backoff_delay_s(attempt, policy, draw)
    assert (0.0 if full else ceiling / 2) <= delay <= ceiling


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (TransportError("reset"), "transport"),
        (RequestTimeoutError("read timed out"), "timeout"),
        (_answer(425, b"service not ready"), "425"),
        (_answer(429, b'{"error":"Too Many Requests"}', **{"Retry-After": "2"}), "429"),
        (_answer(500, b'{"error":"Internal Server Error"}'), "5xx"),
        (_answer(503, b'{"error":"Trading is currently disabled. Check polymarket.com for updates"}'), "5xx"),
        (_answer(404, b'{"error":"No orderbook exists for the requested token id"}'), None),
        (_answer(400, b'{"error":"Invalid payload"}'), None),
        (RateLimitedError("no room before the deadline", request_sent=False), None),  # local: no status
        (CircuitOpenError("open", retry_after_s=3.0), None),
        (TransportError("not valid HTTP", retriable=False), None),
    ],
)
def test_retriable_failures_are_named_from_the_error_tree(error, reason) -> None:
    assert retry_reason(error) == reason
    decision = decide_retry(error, attempt=1, elapsed_s=0.0, policy=POLICY, draw=0.5)
    assert decision.retry is (reason is not None)
    assert decision.reason == reason


def test_retry_after_is_honoured_even_beyond_the_backoff() -> None:
    error = _answer(429, b'{"error":"Too Many Requests"}', **{"Retry-After": "7"})
    assert isinstance(error, RateLimitedError)
    decision = decide_retry(error, attempt=1, elapsed_s=0.0, policy=POLICY, draw=0.0)
    assert decision.retry and decision.delay_s == 7.0


def test_a_restart_425_waits_at_least_the_documented_floor() -> None:
    error = _answer(425, b"service not ready")
    assert isinstance(error, ServiceNotReadyError)
    assert decide_retry(error, attempt=1, elapsed_s=0.0, policy=POLICY, draw=0.0).delay_s == 1.0
    assert decide_retry(error, attempt=5, elapsed_s=0.0, policy=POLICY, draw=0.0).delay_s == 4.0


def test_no_retry_waits_past_the_deadline() -> None:
    error = HttpServerError("boom", status=502)
    assert decide_retry(error, attempt=1, elapsed_s=59.8, policy=POLICY, draw=1.0).retry is False
    assert decide_retry(error, attempt=1, elapsed_s=59.0, policy=POLICY, draw=1.0).retry is True
    # A request's own deadline overrides the policy's.
    assert decide_retry(error, attempt=1, elapsed_s=1.0, policy=POLICY, deadline_s=1.2, draw=1.0).retry is False
    too_late = _answer(429, b"", **{"Retry-After": "120"})
    assert decide_retry(too_late, attempt=1, elapsed_s=0.0, policy=POLICY, draw=0.0).retry is False


def test_attempts_are_bounded() -> None:
    error = TransportError("reset")
    assert decide_retry(error, attempt=9, elapsed_s=0.0, policy=POLICY, draw=0.0).retry is True
    assert decide_retry(error, attempt=10, elapsed_s=0.0, policy=POLICY, draw=0.0).retry is False


@pytest.mark.parametrize(
    ("error", "applied"),
    [
        (TransportError("could not connect", request_sent=False), False),
        (RequestTimeoutError("connect timed out", request_sent=False), False),
        (RequestTimeoutError("read timed out"), True),
        (TransportError("connection reset"), True),
        (_answer(425, b"service not ready"), False),
        (_answer(429, b'{"error":"Too Many Requests"}'), False),
        (_answer(400, b'{"error":"order 0x1 is invalid. Duplicated."}'), False),
        (_answer(401, b'{"error":"Unauthorized/Invalid api key"}'), False),
        (_answer(500, b'{"error":"could not run the execution"}'), True),
        (_answer(502, b"<html>bad gateway</html>"), True),
        (
            _answer(
                503,
                b'{"error":"post-only mode: only post-only orders and cancels are allowed","code":"post_only_mode",'
                b'"retry_after_seconds":79}',
            ),
            False,
        ),
        (_answer(503, b'{"error":"Trading is currently cancel-only. New orders are not accepted."}'), False),
        (CircuitOpenError("open"), False),
    ],
)
def test_only_proof_says_the_venue_did_not_act(error, applied) -> None:
    assert may_have_been_applied(error) is applied


def test_state_changing_requests_are_retried_only_when_provably_not_applied() -> None:
    def decide(error):
        return decide_retry(error, attempt=1, elapsed_s=0.0, policy=POLICY, state_changing=True, draw=0.5)

    for safe in (
        TransportError("could not connect", request_sent=False),
        _answer(425, b"service not ready"),
        _answer(429, b"", **{"Retry-After": "1"}),
        _answer(503, b'{"error":"post-only mode","code":"post_only_mode"}', **{"Retry-After": "2"}),
    ):
        decision = decide(safe)
        assert decision.retry and not decision.needs_reconciliation, safe
    for unknown in (
        RequestTimeoutError("read timed out"),
        TransportError("connection reset"),
        _answer(500, b'{"error":"could not insert order"}'),
    ):
        decision = decide(unknown)
        assert not decision.retry and decision.needs_reconciliation, unknown
        # The same failure of a read-only request is simply retried.
        plain = decide_retry(unknown, attempt=1, elapsed_s=0.0, policy=POLICY, draw=0.5)
        assert plain.retry and not plain.needs_reconciliation
    refused = decide(_answer(400, b'{"error":"invalid signature"}'))
    assert not refused.retry and not refused.needs_reconciliation
    # Not retriable, yet the venue may have taken the order before its answer broke.
    unreadable = decide(MalformedMessageError("the answer's content encoding is broken"))
    assert not unreadable.retry and unreadable.needs_reconciliation


def test_reconciliation_flag_and_annotations_land_in_the_context() -> None:
    error = _answer(500, b'{"error":"could not run the execution"}')
    assert not needs_reconciliation(error)
    assert flag_reconciliation(error, attempts=1) is error
    assert needs_reconciliation(error)
    assert error.context["attempts"] == 1
    assert error.context["status"] == 500  # earlier context kept
    annotate(error, request_id="abc", skipped=None)
    assert error.context["request_id"] == "abc" and "skipped" not in error.context
    assert "needs_reconciliation=True" in str(error)
    assert not needs_reconciliation(ValueError("not ours"))


def test_policies_are_validated() -> None:
    with pytest.raises(InvalidValueError):
        RetryPolicy(base_delay_s=-1.0)
    with pytest.raises(InvalidValueError):
        RetryPolicy(multiplier=0.5)
    with pytest.raises(InvalidValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(InvalidValueError):
        RetryPolicy(deadline_s=float("nan"))


def test_not_found_is_final() -> None:
    error = _answer(404, b'{"error":"not found"}', method="GET", path="/book")
    assert isinstance(error, NotFoundError)
    assert decide_retry(error, attempt=1, elapsed_s=0.0, policy=POLICY, draw=0.0).retry is False


def test_first_contact_attempts_bound_retries_only_until_the_host_has_answered() -> None:
    one_shot = RetryPolicy(first_contact_attempts=1, deadline_s=60.0)
    refused = TransportError("connection refused", request_sent=False)
    before = decide_retry(refused, attempt=1, elapsed_s=0.0, policy=one_shot, host_answered=False, draw=0.5)
    assert (before.retry, before.reason) == (False, "transport")
    # Once the host has answered, a refused connection is a blip like any other.
    after = decide_retry(refused, attempt=1, elapsed_s=0.0, policy=one_shot, host_answered=True, draw=0.5)
    assert after.retry
    default = decide_retry(refused, attempt=1, elapsed_s=0.0, policy=RetryPolicy(), host_answered=False, draw=0.5)
    assert default.retry
    with pytest.raises(InvalidValueError):
        RetryPolicy(first_contact_attempts=0)
