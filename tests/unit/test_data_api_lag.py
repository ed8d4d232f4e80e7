"""The emulator's Data API lag as the venue's 5-10 s spread: seeded, wandering over the whole spread,
and a cut-off that only moves forward (what was served stays served)."""

from __future__ import annotations

from itertools import pairwise

from polyinfra.emulator.data.knobs import DataApiKnobs
from polyinfra.emulator.data.ledger import WalletLedger
from polyinfra.emulator.data.views import DataView
from polyinfra.emulator.exchange import Exchange
from polyinfra.emulator.simulator import generate_markets

T0_MS = 1_790_000_000_000


def _view(knobs: DataApiKnobs, now: list[int]) -> DataView:
    exchange = Exchange(generate_markets(1, seed=1), clock_ms=lambda: now[0])
    ledger = WalletLedger(exchange, trader_address=lambda key: None, clock_ms=lambda: now[0])
    return DataView(exchange, ledger, knobs, clock_ms=lambda: now[0])


def _lags(seed: int) -> list[int]:
    now = [T0_MS]
    view = _view(DataApiKnobs(lag_s=5, lag_spread_s=5, lag_seed=seed), now)
    cutoffs = []
    for step in range(0, 600_000, 250):  # ten minutes, every quarter second
        now[0] = T0_MS + step
        cutoffs.append((now[0], view.cutoff_ms()))
    assert all(a[1] <= b[1] for a, b in pairwise(cutoffs)), "the cut-off went back"
    return [clock - cutoff for clock, cutoff in cutoffs]


def test_the_lag_wanders_over_the_spread_and_the_cutoff_only_moves_forward() -> None:
    lags = _lags(seed=3)
    assert 5_000 <= min(lags) < 5_500
    assert 9_500 < max(lags) <= 10_000
    assert len(set(lags)) > 100
    assert _lags(seed=3) == lags  # seeded
    assert _lags(seed=4) != lags


def test_without_a_spread_the_lag_is_the_fixed_knob() -> None:
    now = [T0_MS + 123]
    view = _view(DataApiKnobs(lag_s=7), now)
    assert view.cutoff_ms() == T0_MS + 123 - 7_000
