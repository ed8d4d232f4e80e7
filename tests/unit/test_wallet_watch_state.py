"""The wallet watch's pure core against a scripted ground truth on a simulated clock: 200 wallets over
a session with outages, a pagination ceiling and stops, every row exactly once or inside a loss event,
the one budget never exceeded, busy wallets polled more often; and the single decisions one by one."""

from __future__ import annotations

from decimal import Decimal

import pytest

from polyinfra.core.wallet_watch_state import (
    Continuity,
    LossReason,
    PageRequest,
    ProgressMark,
    WalletWatchState,
    WatchSettings,
    activity_of_live,
)
from polyinfra.errors import HttpClientError, InvalidValueError, RateLimitedError
from polyinfra.model.wallet_activity import ActivityPage, FillSource, WalletActivity
from tests.wallet_world import (
    T0,
    ScriptedActivity,
    Simulation,
    budget_kept,
    check_exactly_once,
    live_of,
    make_truth,
    trade_row,
    wallet_address,
)

SETTINGS = WatchSettings(
    budget_rps=4.0, min_interval_s=5.0, max_interval_s=300.0, page_limit=20, horizon_s=1_800, dedupe_window_s=600
)


def test_200_wallets_through_outages_ceilings_and_stops_get_every_row_once_or_a_loss_event() -> None:
    truth = make_truth(200, 9_000, seed=7)
    source = ScriptedActivity(
        truth,
        clock=lambda: T0,
        # A short outage (recovered: no loss), a long one (beyond the 30-minute history: lost).
        outages=[(T0 + 1_000, T0 + 1_600), (T0 + 3_000, T0 + 5_000)],
        ceiling_rows=40,
        retention_s=1_800,
    )
    sim = Simulation(source, SETTINGS)
    wallets = list(truth)
    sim.start(wallets, since_s=T0)
    sim.run_until(T0 + 2_000)
    sim.now_s += SETTINGS.budget_window_s  # a restart within the horizon (a budget window long): nothing lost
    sim.start(wallets, since_s=T0)
    sim.run_until(T0 + 5_600)
    sim.now_s = T0 + 7_600  # stopped for longer than the history kept
    sim.start(wallets, since_s=T0)
    sim.run_until(T0 + 9_000)

    delivered = check_exactly_once(truth, sim.delivered, sim.losses, watermarks=sim.watermarks())
    assert delivered > 2_000
    reasons = {loss.reason for loss in sim.losses}
    assert reasons == {LossReason.HORIZON_EXPIRED, LossReason.RESTART_BEYOND_HORIZON}
    assert source.ceilings_hit > 0  # walks past the ceiling restarted from their watermark, losing nothing
    # Every wallet caught up to the source's lag at the end.
    assert min(sim.watermarks().values()) >= T0 + 9_000 - SETTINGS.max_interval_s - 10
    assert budget_kept(source.calls, SETTINGS.capacity, SETTINGS.budget_window_s)
    busy = [source.calls_by_wallet.get(wallet_address(index), 0) for index in range(20)]
    idle = [source.calls_by_wallet.get(wallet_address(index), 0) for index in range(20, 200)]
    assert sum(busy) / len(busy) > 3 * sum(idle) / len(idle)


def test_the_budget_holds_for_1000_wallets_all_due_at_once() -> None:
    truth = make_truth(1_000, 600, seed=3, busy_share=0.0)
    source = ScriptedActivity(truth, clock=lambda: T0)
    settings = WatchSettings(budget_rps=2.0, budget_window_s=10.0)
    sim = Simulation(source, settings)
    sim.start(list(truth), since_s=T0)
    sim.run_until(T0 + 600)
    assert len(source.calls) >= 1_000  # the budget was used, every wallet was asked
    assert budget_kept(source.calls, settings.capacity, settings.budget_window_s)
    check_exactly_once(truth, sim.delivered, sim.losses, watermarks=sim.watermarks())


def _state(**knobs: object) -> WalletWatchState:
    return WalletWatchState(WatchSettings(**knobs))  # type: ignore[arg-type]


WALLET = wallet_address(1)


def _request(state: WalletWatchState, now_s: float) -> PageRequest:
    step = state.next_request(now_s)
    assert isinstance(step, PageRequest), step
    return step


def test_a_live_row_is_delivered_at_once_and_its_data_api_twin_is_not() -> None:
    state = _state()
    state.add(WALLET, now_s=T0, since_s=T0)
    row = trade_row(WALLET, T0 + 1)
    live = state.on_live(live_of(row, sent_ms=(T0 + 1) * 1_000), T0 + 1)
    assert live is not None and live.source is FillSource.LIVE
    assert live.key == row.key
    assert live.usdc_size == Decimal("5.25")
    request = _request(state, T0 + 11)
    state.on_page(request, ActivityPage(WALLET, (row,), None, T0 + 5), T0 + 11)
    assert [item for item in state.drain() if isinstance(item, WalletActivity)] == []
    assert state.stats(T0 + 11).duplicates == 1
    # A wallet not watched gives nothing.
    assert state.on_live(live_of(trade_row(wallet_address(9), T0), 0), T0) is None


def test_idle_walks_back_off_and_a_live_row_makes_the_wallet_due_within_the_lag() -> None:
    state = _state(lag_s=10.0, min_interval_s=5.0, max_interval_s=300.0)
    state.add(WALLET, now_s=T0, since_s=T0)
    now = float(T0)
    intervals = []
    for _ in range(12):
        request = _request(state, now)
        state.on_page(request, ActivityPage(WALLET, (), None, int(now)), now)
        intervals.append(state.stats(now).wallets[0].interval_s)
        now += 400
    assert intervals[0] == 7.5 and intervals[-1] == 300.0
    assert intervals == sorted(intervals)
    last = now - 400
    assert state.next_request(last + 1) == last + 300
    assert state.on_live(live_of(trade_row(WALLET, int(last)), 0), last + 1) is not None
    assert state.next_request(last + 1) == last + 11
    assert state.stats(last).wallets[0].interval_s == 5.0


def test_a_ceiling_mid_walk_restarts_the_walk_from_the_watermark_without_loss() -> None:
    state = _state()
    state.add(WALLET, now_s=T0, since_s=T0)
    first = _request(state, T0 + 100)
    state.on_page(first, ActivityPage(WALLET, (trade_row(WALLET, T0 + 10),), "c1", T0 + 9), T0 + 100)
    second = _request(state, T0 + 100)
    assert second.cursor == "c1" and second.start_s == T0
    state.on_error(second, HttpClientError("offset ceiling", status=400), T0 + 100)
    third = _request(state, T0 + 100)
    assert third.cursor is None and third.start_s == T0 + 9
    assert not [item for item in state.drain() if not isinstance(item, WalletActivity | ProgressMark)]


def test_a_refusal_without_progress_is_a_loss_event_up_to_now() -> None:
    state = _state()
    state.add(WALLET, now_s=T0, since_s=T0)
    request = _request(state, T0 + 50)
    state.on_error(request, HttpClientError("cursor expired", status=400), T0 + 50)
    losses = [item for item in state.drain() if not isinstance(item, WalletActivity | ProgressMark)]
    assert [(loss.from_s, loss.to_s, loss.reason, loss.detail) for loss in losses] == [
        (T0, T0 + 50, LossReason.CONTINUITY_LOST, "HttpClientError")
    ]
    assert state.stats(T0 + 50).wallets[0].continuity is Continuity.POSSIBLE_DATA_LOSS
    nxt = _request(state, T0 + 50)
    assert nxt.start_s == T0 + 50


def test_retriable_errors_back_off_and_a_429_holds_every_wallet() -> None:
    state = _state(retry_base_s=1.0, retry_max_s=8.0)
    state.add(WALLET, now_s=T0, since_s=T0)
    state.add(wallet_address(2), now_s=T0, since_s=T0)
    first = _request(state, T0)
    state.on_error(first, RateLimitedError("slow down", retry_after_s=30), T0)
    assert state.next_request(T0) == T0 + 30  # the other wallet waits too
    assert state.stats(T0).wallets[0].continuity is Continuity.DEGRADED
    second = _request(state, T0 + 30)
    assert second.wallet == wallet_address(2)
    retry = _request(state, T0 + 30)
    assert retry.wallet == first.wallet
    for failures in range(2, 7):
        state.on_error(retry, RateLimitedError("again"), T0 + 30)
        due = state.next_request(T0 + 30)
        assert due == T0 + 30 + min(8.0, 2.0 ** (failures - 1))
        retry = _request(state, due)  # type: ignore[arg-type]


def test_rows_of_another_wallet_and_an_overreaching_watermark_are_contained() -> None:
    state = _state()
    state.add(WALLET, now_s=T0, since_s=T0)
    request = _request(state, T0 + 20)
    stranger = trade_row(wallet_address(5), T0 + 1)
    far_future = trade_row(WALLET, 2**62, serial=2)
    before_1970 = trade_row(WALLET, -5, serial=3)
    state.on_page(request, ActivityPage(WALLET, (stranger, far_future, before_1970), None, 2**62), T0 + 20)
    assert state.stats(T0 + 20).refused_rows == 3
    assert not [item for item in state.drain() if isinstance(item, WalletActivity)]
    assert state.on_live(live_of(far_future, 0), T0 + 20) is None
    assert state.progress(WALLET).watermark_s == T0 + 20  # never past now


def test_a_removed_wallets_late_answer_is_ignored_and_re_adding_starts_fresh() -> None:
    state = _state()
    state.add(WALLET, now_s=T0, since_s=T0)
    request = _request(state, T0)
    state.remove(WALLET)
    state.add(WALLET, now_s=T0 + 5, since_s=T0 + 5)
    state.on_page(request, ActivityPage(WALLET, (trade_row(WALLET, T0 + 1),), None, T0 + 3), T0 + 5)
    assert state.drain() == []
    assert _request(state, T0 + 5).start_s == T0 + 5


def test_live_rows_are_converted_exactly() -> None:
    row = trade_row(WALLET, T0)
    live = activity_of_live(live_of(row, 0))
    assert (live.size, live.price, live.usdc_size, live.outcome_index) == (
        Decimal("10.5"),
        Decimal("0.5"),
        Decimal("5.25"),
        None,
    )


@pytest.mark.parametrize(
    "knobs",
    [
        {"budget_rps": 0.05},
        {"budget_rps": 0.0},
        {"min_interval_s": 0.0},
        {"min_interval_s": 9.0, "max_interval_s": 1.0},
    ],
)
def test_settings_that_cannot_work_are_refused(knobs: dict[str, float]) -> None:
    with pytest.raises(InvalidValueError):
        WatchSettings(**knobs)  # type: ignore[arg-type]


def test_a_precharged_budget_waits_for_the_earlier_runs_requests_to_leave_the_window() -> None:
    core = WalletWatchState(WatchSettings(budget_rps=0.3, budget_window_s=10.0))  # 3 per window
    for index in range(4):
        core.add(wallet_address(index), now_s=T0, since_s=T0)
    # An earlier run's request times: one has left the window, two still count, one is from a clock stepped
    # back (it counts as sent now), one is no number at all (a damaged record).
    core.precharge([T0 - 15, T0 - 6, T0 - 2, T0 + 50, float("nan")], T0)
    assert core.sent_in_window(T0) == (T0 - 6, T0 - 2, T0)
    assert core.next_request(T0) == T0 + 4  # the budget is spent until the oldest leaves the window
    assert isinstance(core.next_request(T0 + 4), PageRequest)
    assert core.stats(T0 + 4).requests_in_window == 3
