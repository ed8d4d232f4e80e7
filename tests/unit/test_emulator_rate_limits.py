"""The emulator's rate-limit windows and decisions, driven with explicit times (venue notes: Rate limits)."""

from __future__ import annotations

import asyncio
import re

import pytest

from polyinfra.emulator.rate_limits import (
    BURST_WINDOW_S,
    CLOB_RATE_LIMITS,
    SUSTAINED_WINDOW_S,
    LimitScope,
    RateLimiter,
    RateWindow,
    SlidingWindow,
    ThrottleGate,
)

CLIENT = "127.0.0.1"


def _names(limiter: RateLimiter, method: str, path: str) -> set[str]:
    return {scope.name for scope in limiter.covering(method, path)}


def _scope(limiter: RateLimiter, name: str) -> LimitScope:
    (scope,) = [scope for scope in limiter.scopes if scope.name == name]
    return scope


# --- the table ----------------------------------------------------------------------------------


def test_the_documented_table() -> None:
    limits = {scope.name: [(window.limit, window.seconds) for window in scope.windows] for scope in CLOB_RATE_LIMITS}
    burst = BURST_WINDOW_S
    assert limits["general"] == [(15_000, burst)]
    assert limits["clob_general"] == [(9_000, burst)]
    assert limits["ok"] == [(100, burst)]
    for single in ("book", "price", "midpoint"):
        assert limits[single] == [(1_500, burst)]
    for batch in ("books", "prices", "midpoints"):
        assert limits[batch] == [(500, burst)]
    assert limits["prices_history"] == [(1_000, burst)]
    assert limits["tick_size"] == [(200, burst)]
    # The trading rows of the newer table (venue notes: Rate limits), not the older 2025 numbers.
    assert limits["post_order"] == [(5_000, burst), (120_000, SUSTAINED_WINDOW_S)]
    assert limits["delete_order"] == [(5_000, burst), (120_000, SUSTAINED_WINDOW_S)]
    assert limits["post_orders"] == [(2_000, burst), (21_000, SUSTAINED_WINDOW_S)]
    assert limits["delete_orders"] == [(2_000, burst), (15_000, SUSTAINED_WINDOW_S)]
    assert limits["cancel_all"] == [(250, burst), (6_000, SUSTAINED_WINDOW_S)]
    assert limits["cancel_market_orders"] == [(1_500, burst), (21_000, SUSTAINED_WINDOW_S)]
    assert len(limits) == len(CLOB_RATE_LIMITS), "scope names are unique"


def test_a_request_counts_against_its_rows_and_both_generals() -> None:
    limiter = RateLimiter()
    general = {"general", "clob_general"}
    assert _names(limiter, "GET", "/book") == general | {"book"}
    assert _names(limiter, "POST", "/books") == general | {"books"}
    assert _names(limiter, "GET", "/prices-history") == general | {"prices_history"}
    assert _names(limiter, "GET", "/tick-size") == general | {"tick_size"}
    assert _names(limiter, "GET", "/ok") == general | {"ok"}
    assert _names(limiter, "GET", "/markets") == general
    assert _names(limiter, "GET", "/data/orders") == general | {"ledger", "data_orders"}
    assert _names(limiter, "GET", f"/data/order/0x{'ab' * 32}") == general | {"ledger"}
    assert _names(limiter, "GET", "/balance-allowance/update") == general | {"balance_allowance_update"}
    assert _names(limiter, "GET", "/auth/derive-api-key") == general | {"api_keys"}
    assert _names(limiter, "POST", "/order") == general | {"post_order"}
    assert _names(limiter, "DELETE", "/order") == general | {"delete_order"}
    assert _names(limiter, "DELETE", "/cancel-all") == general | {"cancel_all"}
    # A whole-path match: /book does not cover /books, nor /bookish.
    assert _names(limiter, "GET", "/bookish") == general


# --- one window ---------------------------------------------------------------------------------


def test_scaled_limit_rounds_down_and_never_reaches_zero() -> None:
    window = RateWindow(1_500, BURST_WINDOW_S)
    assert window.scaled_limit(1.0) == 1_500
    assert window.scaled_limit(0.01) == 15
    assert window.scaled_limit(0.0001) == 1
    assert window.scaled_limit(2.5) == 3_750


def test_sliding_window_usage_and_wait() -> None:
    window = SlidingWindow(10.0)
    for now in (100.0, 101.0, 102.0):
        assert window.wait_s(now, limit=3) == 0.0
        window.admit(now)
    assert window.usage(102.0) == 3
    # Full: the next request fits when the oldest (t=100) leaves the window, at t=110.
    assert window.wait_s(105.0, limit=3) == pytest.approx(5.0)
    assert window.wait_s(109.5, limit=3) == pytest.approx(0.5)
    # A request admitted at t leaves the window at exactly t + 10.
    assert window.usage(110.0) == 2
    assert window.wait_s(110.0, limit=3) == 0.0


def test_wait_when_a_smaller_limit_leaves_the_window_over_full() -> None:
    window = SlidingWindow(10.0)
    for now in (0.0, 1.0, 2.0, 3.0):
        window.admit(now)
    # Limit 2 now: three of the four must leave before one more fits, the third at t=12.
    assert window.wait_s(4.0, limit=2) == pytest.approx(8.0)
    assert window.wait_s(4.0, limit=4) == pytest.approx(6.0)
    assert window.wait_s(4.0, limit=5) == 0.0


# --- the limiter --------------------------------------------------------------------------------


def test_arrive_counts_over_limit_only_when_a_window_is_full() -> None:
    limiter = RateLimiter(scale=0.01)  # /ok: 1 per 10 s
    scopes = limiter.covering("GET", "/ok")
    ok = _scope(limiter, "ok")
    limiter.arrive(CLIENT, scopes, 0.0)
    for scope in scopes:
        limiter.admit(CLIENT, scope, 0.0)
    limiter.arrive(CLIENT, scopes, 1.0)
    assert limiter.wait_s(CLIENT, ok, 1.0) == pytest.approx(9.0)
    stats = limiter.stats
    assert (stats["ok"].requests, stats["ok"].over_limit) == (2, 1)
    assert (stats["general"].requests, stats["general"].over_limit) == (2, 0)
    # Clients are limited separately (per address, like the venue).
    assert limiter.wait_s("10.0.0.2", ok, 1.0) == 0.0


def test_reject_admits_nowhere_and_says_when_to_retry() -> None:
    limiter = RateLimiter(scale=0.01)
    scopes = limiter.covering("GET", "/ok")
    assert limiter.admit_or_reject(CLIENT, scopes, 0.0) == 0.0
    assert limiter.admit_or_reject(CLIENT, scopes, 4.0) == pytest.approx(6.0)
    assert limiter.stats["ok"].rejected == 1
    assert limiter.stats["general"].rejected == 0, "only the full scope rejected it"
    # The rejected request used no budget: general (150 per 10 s at this scale) saw one request.
    assert limiter.stats["general"].peaks == [1]
    assert limiter.admit_or_reject(CLIENT, scopes, 10.0) == 0.0


def test_burst_and_sustained_windows_both_bind() -> None:
    scope = LimitScope(
        "orders",
        (RateWindow(2, 10.0), RateWindow(3, 600.0)),
        re.compile("/order"),
        frozenset({"POST"}),
    )
    limiter = RateLimiter([scope])
    for now in (0.0, 1.0):
        assert limiter.admit_or_reject(CLIENT, [scope], now) == 0.0
    # Burst full: wait for t=0 to leave the 10 s window.
    assert limiter.admit_or_reject(CLIENT, [scope], 2.0) == pytest.approx(8.0)
    assert limiter.admit_or_reject(CLIENT, [scope], 10.0) == 0.0
    # The burst window has room at t=20, but three requests in 10 minutes fill the sustained one:
    # the next fits when the first (t=0) leaves it, at t=600.
    assert limiter.wait_s(CLIENT, scope, 20.0) == pytest.approx(580.0)
    assert limiter.stats["orders"].peaks == [2, 3]
    assert limiter.wait_s(CLIENT, scope, 600.0) == 0.0


def test_scale_is_read_on_every_decision() -> None:
    limiter = RateLimiter(scale=0.01)
    ok = _scope(limiter, "ok")
    limiter.admit(CLIENT, ok, 0.0)
    assert limiter.wait_s(CLIENT, ok, 0.0) > 0
    limiter.scale = 1.0
    assert limiter.wait_s(CLIENT, ok, 0.0) == 0.0


def test_as_dict_shape() -> None:
    limiter = RateLimiter(scale=0.5)
    scopes = limiter.covering("POST", "/order")
    limiter.arrive(CLIENT, scopes, 0.0)
    limiter.admit_or_reject(CLIENT, scopes, 0.0)
    report = limiter.as_dict()
    assert (report["scale"], report["over_limit"]) == (0.5, 0)
    scopes_report = report["scopes"]
    assert isinstance(scopes_report, dict)
    assert set(scopes_report) == {scope.name for scope in CLOB_RATE_LIMITS}
    assert scopes_report["post_order"] == {
        "requests": 1,
        "over_limit": 0,
        "throttled": 0,
        "rejected": 0,
        "windows": [
            {"seconds": BURST_WINDOW_S, "limit": 2_500, "peak": 1},
            {"seconds": SUSTAINED_WINDOW_S, "limit": 60_000, "peak": 1},
        ],
    }


# --- throttling ---------------------------------------------------------------------------------


async def test_throttle_gate_queues_requests_until_they_fit() -> None:
    # A window short enough for a unit test (6 requests take two of them) and long enough that a
    # busy machine's pauses between the requests' first steps do not let it expire; the assertions
    # are on counts, never on durations.
    scope = LimitScope("short", (RateWindow(2, 0.5),))
    limiter = RateLimiter([scope])
    gate = ThrottleGate(limiter)
    admitted: list[int] = []

    async def request(number: int) -> None:
        limiter.arrive(CLIENT, [scope], asyncio.get_running_loop().time())
        await gate.pass_through(CLIENT, [scope])
        admitted.append(number)

    await asyncio.gather(*(request(number) for number in range(6)))
    stats = limiter.stats["short"]
    assert admitted == list(range(6)), "first come, first served"
    assert (stats.requests, stats.throttled, stats.rejected) == (6, 4, 0)
    assert stats.over_limit == 4
    assert stats.peaks == [2], "never more than the limit inside a window"


async def test_a_throttled_scope_does_not_hold_up_other_scopes() -> None:
    slow = LimitScope("slow", (RateWindow(1, 3_600.0),), re.compile("/slow"))
    fast = LimitScope("fast", (RateWindow(100, 10.0),), re.compile("/fast"))
    limiter = RateLimiter([slow, fast])
    gate = ThrottleGate(limiter)
    await gate.pass_through(CLIENT, [slow])
    stuck = asyncio.create_task(gate.pass_through(CLIENT, [slow]))
    await asyncio.sleep(0)  # the task runs up to its first nap
    await gate.pass_through(CLIENT, [fast])
    assert not stuck.done()
    limiter.scale = 2.0  # room for a second /slow request: the queue moves on its next look
    await asyncio.wait_for(stuck, 30.0)
    assert limiter.stats["slow"].throttled == 1
