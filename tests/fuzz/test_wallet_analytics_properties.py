"""Properties of the statistics, consensus and reconciliation over generated inputs."""

from __future__ import annotations

import random
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from polyinfra.core.consensus import LinkReason, Stake, WalletClusters, WalletLink, consensus_signals
from polyinfra.core.pnl_reconciliation import VenuePnlPoint, reconcile
from polyinfra.core.wallet_ledger import WalletLedger
from polyinfra.core.wallet_stats import wilson_lower_bound
from polyinfra.model.numbers import Side
from tests.wallet_rows import WALLET, trade

WALLETS = [f"0x{n:040x}" for n in range(8)]
stakes = st.lists(
    st.builds(
        Stake,
        wallet=st.sampled_from(WALLETS),
        condition_id=st.sampled_from(["0xa", "0xb"]),
        outcome_index=st.integers(0, 1),
        usdc=st.decimals(min_value=0, max_value=1000, places=2),
        timestamp_s=st.integers(0, 100),
    ),
    max_size=30,
)
links = st.lists(
    st.builds(
        WalletLink,
        wallet_a=st.sampled_from(WALLETS),
        wallet_b=st.sampled_from(WALLETS),
        reason=st.sampled_from(LinkReason),
    ),
    max_size=6,
)


@given(st.integers(0, 500), st.integers(0, 500))
def test_the_lower_bound_lies_under_the_raw_rate_and_grows_with_wins(wins: int, extra: int) -> None:
    total = wins + extra
    lower = wilson_lower_bound(wins, total)
    assert Decimal(0) <= lower <= (Decimal(wins) / total if total else 0)
    if extra:
        assert wilson_lower_bound(wins + 1, total) > lower


def _signals(found: list[Stake]) -> list[tuple[str, int, int, Decimal]]:
    return [
        (s.condition_id, s.outcome_index, s.voters, s.stake_usdc)
        for s in consensus_signals(found, now_s=100, window_s=60, min_wallets=1, min_agreement=Decimal("0.5"))
    ]


@given(stakes, st.randoms(use_true_random=False))
def test_consensus_does_not_depend_on_the_order_of_stakes(found: list[Stake], rng: random.Random) -> None:
    shuffled = list(found)
    rng.shuffle(shuffled)
    assert sorted(_signals(found)) == sorted(_signals(shuffled))


@given(stakes, links)
def test_a_cluster_of_linked_wallets_is_one_voter(found: list[Stake], link_list: list[WalletLink]) -> None:
    clusters = WalletClusters.of(link_list)
    signals = consensus_signals(found, now_s=100, window_s=60, min_wallets=1, min_agreement=Decimal(0), links=link_list)
    for signal in signals:
        assert signal.voters == len({clusters.find(wallet) for wallet in signal.wallets})
        staking = {
            clusters.find(s.wallet) for s in found if s.condition_id == signal.condition_id and s.timestamp_s > 40
        }
        assert signal.all_voters <= len(staking)
    # One signal per condition at most when agreement must exceed a half: two outcomes cannot both hold it.
    strict = consensus_signals(found, now_s=100, window_s=60, min_wallets=1, min_agreement=Decimal("0.51"))
    assert len({s.condition_id for s in strict}) == len(strict)


@given(st.lists(st.tuples(st.integers(1, 10**6), st.integers(1, 999_999), st.booleans()), max_size=20))
def test_a_ledger_reconciles_with_its_own_series(steps: list[tuple[int, int, bool]]) -> None:
    ledger = WalletLedger(WALLET)
    held = 0
    for time_s, (size, price, selling) in enumerate(steps):
        amount = min(size, held) if selling else size
        if amount == 0:
            continue
        usdc = Decimal(amount * price // 10**6).scaleb(-6)
        side = Side.SELL if selling else Side.BUY
        ledger.apply(trade(side, 0, str(Decimal(amount).scaleb(-6)), str(usdc), t=time_s))
        held += -amount if selling else amount
    points = [
        VenuePnlPoint(time_s, realized_market=c.realized_market, fees=c.fees, rebates=c.rebates)
        for time_s, c in ledger.history()
    ]
    result = reconcile(ledger, points, tolerance=Decimal(0))
    assert result.ok
    assert all(drift.drift == 0 for drift in result.drifts)
