"""Reconciliation with the venue's P&L series, wallet statistics, consensus signals and the whale radar,
on hand-computed cases."""

from __future__ import annotations

from decimal import Decimal

import pytest

from polyinfra.core.consensus import (
    LinkReason,
    Stake,
    WalletClusters,
    WalletLink,
    consensus_signals,
    stake_from_live,
    stakes_from_activity,
)
from polyinfra.core.pnl_reconciliation import VenuePnlPoint, reconcile
from polyinfra.core.wallet_ledger import WalletLedger
from polyinfra.core.wallet_stats import (
    LedgerSet,
    RankBy,
    aggregate,
    top_performers,
    wallet_stats,
    wilson_lower_bound,
)
from polyinfra.core.whale_radar import HolderRank, HolderRow, LargeTradeRadar, top_holders
from polyinfra.errors import InvalidNumberError, InvalidValueError
from polyinfra.model.live_events import ActivityTrade
from polyinfra.model.market_outcomes import MarketMap, MarketOutcomes
from polyinfra.model.numbers import Side
from polyinfra.model.wallet_activity import ActivityKind, WalletActivity
from tests.wallet_rows import activity
from tests.wallet_rows import trade as wallet_trade

D = Decimal
W1, W2, W3, W4 = (f"0x{n:040x}" for n in (1, 2, 3, 4))
MARKETS = MarketMap.of(
    [
        MarketOutcomes("0xm1", ("y1", "n1"), category="politics"),
        MarketOutcomes("0xm2", ("y2", "n2"), category="sports"),
        MarketOutcomes("0xm3", ("y3", "n3"), category="sports"),
    ]
)


def trade(wallet: str, condition: str, outcome: int, side: Side, size: str, usdc: str, t: int) -> WalletActivity:
    return wallet_trade(side, outcome, size, usdc, wallet=wallet, condition=condition, t=t)


def cash(wallet: str, kind: ActivityKind, usdc: str, t: int) -> WalletActivity:
    return activity(kind, "0", usdc, wallet=wallet, condition="", t=t)


def live(wallet: str, token: str, side: Side, price: str, size: str, condition: str = "0xm1") -> ActivityTrade:
    return ActivityTrade(
        kind="trades",
        wallet=wallet,
        side=side,
        price=D(price),
        size=D(size),
        token_id=token,
        condition_id=condition,
        outcome="Yes",
        market_slug="",
        event_slug="",
        title="",
        name="",
        pseudonym="",
        transaction_hash="0xabc",
        timestamp_s=100,
        sent_ms=100_000,
    )


# --- reconciliation ----------------------------------------------------------------------------------


def _reconciled_ledger() -> WalletLedger:
    ledger = WalletLedger(W1, MARKETS)
    ledger.apply(trade(W1, "0xm1", 0, Side.BUY, "100", "40", 10), fee_usdc=D("1"))
    ledger.apply(trade(W1, "0xm1", 0, Side.SELL, "50", "30", 20))  # +10
    ledger.apply(cash(W1, ActivityKind.MAKER_REBATE, "0.5", 30))
    return ledger


def test_a_ledger_that_agrees_with_the_venue_reconciles() -> None:
    venue = [
        VenuePnlPoint(15, realized_market=D(0), fees=D(-1), rebates=D(0)),
        VenuePnlPoint(25, realized_market=D(10), fees=D(-1), rebates=D(0)),
        VenuePnlPoint(35, realized_market=D(10), fees=D(-1), rebates=D("0.5")),
    ]
    result = reconcile(_reconciled_ledger(), venue)
    assert result.ok
    assert len(result.drifts) == 9
    assert result.unavailable == ("rewards", "referral")  # null at every point: not compared, not zero


def test_drift_is_reported_per_component_from_the_first_point_it_appears() -> None:
    venue = [
        VenuePnlPoint(15, realized_market=D(0), rebates=D(0)),
        VenuePnlPoint(25, realized_market=D(12), rebates=D(0)),  # the venue saw a sale the ledger priced lower
        VenuePnlPoint(35, realized_market=D(12), rebates=D("0.5")),
    ]
    result = reconcile(_reconciled_ledger(), venue, tolerance=D("0.01"))
    assert not result.ok
    first = result.first_breach
    assert first is not None
    assert (first.component, first.timestamp_s, first.ledger, first.venue, first.drift) == (
        "realized_market",
        25,
        D(10),
        D(12),
        D(-2),
    )
    assert {b.component for b in result.breaches} == {"realized_market"}
    worst = result.worst("rebates")
    assert worst is not None
    assert worst.drift == D(0)
    assert result.worst("referral") is None


def test_since_first_compares_changes_for_a_ledger_started_late() -> None:
    venue = [
        VenuePnlPoint(15, realized_market=D(500)),  # a lifetime total from before the ledger's first row
        VenuePnlPoint(25, realized_market=D(510)),
    ]
    assert not reconcile(_reconciled_ledger(), venue).ok
    assert reconcile(_reconciled_ledger(), venue, since_first=True).ok
    with pytest.raises(InvalidValueError):
        reconcile(_reconciled_ledger(), venue, tolerance=D(-1))


# --- statistics --------------------------------------------------------------------------------------


def test_wilson_lower_bound_matches_hand_computed_values() -> None:
    # 3 of 3: (1 + z²/6 - z·sqrt(z²/36)) / (1 + z²/3) = 1 / (1 + z²/3) = 0.43850...
    assert wilson_lower_bound(3, 3).quantize(D("0.0001")) == D("0.4385")
    # 300 of 400 with z = 1.96: 0.7053...
    assert wilson_lower_bound(300, 400).quantize(D("0.0001")) == D("0.7053")
    assert wilson_lower_bound(0, 10) == D(0)
    assert wilson_lower_bound(0, 0) == D(0)
    # The bound rewards evidence: the same raw rate over more positions ranks higher.
    assert wilson_lower_bound(30, 40) > wilson_lower_bound(3, 4)
    with pytest.raises(InvalidValueError):
        wilson_lower_bound(5, 4)


def test_wallet_stats_roi_for_a_no_position_is_on_its_own_cost() -> None:
    ledger = WalletLedger(W1, MARKETS)
    # NO bought at 0.20 (YES at 0.80) and redeemed at 1: cost 20, pnl 80, ROI 4 (not 80 / 80 on the YES price).
    ledger.apply(trade(W1, "0xm1", 1, Side.BUY, "100", "20", 1))
    ledger.apply(activity(ActivityKind.REDEEM, "100", "100", wallet=W1, outcome=1, t=2))
    ledger.apply(trade(W1, "0xm2", 0, Side.BUY, "10", "5", 3))
    ledger.apply(trade(W1, "0xm2", 0, Side.SELL, "10", "4", 4))  # a loss: -1, ROI -0.2
    ledger.apply(trade(W1, "0xm3", 0, Side.BUY, "10", "6", 5))  # open in sports
    ledger.apply(trade(W1, "0xm2", 1, Side.BUY, "10", "3", 6))  # open in sports, no mark
    stats = wallet_stats(ledger, {"y3": D("0.7")}.get)
    assert (stats.win_rate.wins, stats.win_rate.total, stats.win_rate.rate) == (1, 2, D("0.5"))
    assert stats.win_rate.lower_bound == wilson_lower_bound(1, 2)
    assert stats.median_roi == D("1.9")  # (4 + -0.2) / 2
    assert stats.realized.realized_market == D(79)
    assert stats.unrealized == D(1)  # 10 x 0.7 - 6; 0xm2's NO unmarked
    assert stats.total_pnl == D(80)
    assert stats.volume == D(38)  # 20 + 5 + 4 + 6 + 3
    assert stats.exposure_by_market["0xm3"].value == D(7)
    assert stats.exposure_by_market["0xm2"].value is None
    sports = stats.exposure_by_category["sports"]
    assert (sports.cost, sports.value) == (D(9), None)


def test_aggregate_and_top_performers_over_a_set() -> None:
    ledgers = {w: WalletLedger(w, MARKETS) for w in (W1, W2, W3)}
    ledgers[W1].apply(trade(W1, "0xm1", 0, Side.BUY, "10", "5", 1))
    ledgers[W1].apply(trade(W1, "0xm1", 0, Side.SELL, "10", "8", 2))  # +3, one win
    for t in range(0, 40, 2):  # twenty wins of +1: a record the lower bound trusts
        ledgers[W2].apply(trade(W2, "0xm2", 0, Side.BUY, "2", "1", t))
        ledgers[W2].apply(trade(W2, "0xm2", 0, Side.SELL, "2", "2", t + 1))
    ledgers[W3].apply(trade(W3, "0xm3", 0, Side.BUY, "10", "5", 1))
    ledgers[W3].apply(cash(W3, ActivityKind.REWARD, "1", 2))
    stats = [wallet_stats(ledger, {"y3": D("0.4")}.get) for ledger in ledgers.values()]
    total = aggregate(stats)
    assert (total.wallets, total.realized.realized_market, total.realized.rewards) == (3, D(23), D(1))
    assert total.unrealized == D(-1)
    assert total.total_pnl == D(23)
    assert total.volume == D(13 + 60 + 5)
    assert total.exposure_by_category["sports"].cost == D(5)
    assert [s.wallet for s in top_performers(stats, by=RankBy.TOTAL_PNL)] == [W2, W1, W3]
    ranked = top_performers(stats, by=RankBy.WIN_RATE_LOWER_BOUND)
    assert [s.wallet for s in ranked][:2] == [W2, W1]  # 20 of 20 beats 1 of 1, though both are 100 % raw
    assert [s.wallet for s in top_performers(stats, min_closed=2)] == [W2]
    assert [s.wallet for s in top_performers(stats, by=RankBy.MEDIAN_ROI)] == [W2, W1]  # W3 has no ROI
    assert top_performers(stats, limit=1)[0].wallet == W2


# --- consensus ---------------------------------------------------------------------------------------


def test_consensus_needs_enough_agreeing_wallets_in_the_window_above_the_stake() -> None:
    stakes = [
        Stake(W1, "0xm1", 0, D(100), 1000),
        Stake(W2, "0xm1", 0, D(50), 1010),
        Stake(W3, "0xm1", 0, D(20), 1020),
        Stake(W4, "0xm1", 1, D(500), 1030),
        Stake(W4, "0xm2", 0, D(500), 100),  # outside the window
    ]
    (signal,) = consensus_signals(stakes, now_s=1100, window_s=200, min_wallets=3, min_agreement=D("0.7"))
    assert (signal.condition_id, signal.outcome_index, signal.voters, signal.all_voters) == ("0xm1", 0, 3, 4)
    assert signal.agreement == D("0.75")
    assert signal.stake_usdc == D(170)
    assert (signal.first_s, signal.last_s) == (1000, 1020)
    assert signal.wallets == (W1, W2, W3)
    # The 20 stake falls below the minimum: two voters left, not enough.
    assert consensus_signals(stakes, now_s=1100, window_s=200, min_wallets=3, min_stake_usdc=D(25)) == []
    # Agreement 3 of 4 is below 0.8.
    assert consensus_signals(stakes, now_s=1100, window_s=200, min_wallets=3, min_agreement=D("0.8")) == []
    # A window that starts after the first stake leaves two.
    assert consensus_signals(stakes, now_s=1100, window_s=95, min_wallets=3, min_agreement=D("0.5")) == []


def test_linked_wallets_count_once() -> None:
    stakes = [Stake(w, "0xm1", 1, D(10), 5) for w in (W1, W2, W3)]
    assert consensus_signals(stakes, now_s=10, window_s=10, min_wallets=3)[0].voters == 3
    links = [WalletLink(W1, W2, LinkReason.SAME_FUNDING), WalletLink(W2, W3, LinkReason.SAME_BLOCK)]
    assert consensus_signals(stakes, now_s=10, window_s=10, min_wallets=3, links=links) == []
    (signal,) = consensus_signals(stakes, now_s=10, window_s=10, min_wallets=1, links=links)
    assert (signal.voters, signal.wallets, signal.stake_usdc) == (1, (W1, W2, W3), D(30))
    clusters = WalletClusters.of(links)
    assert clusters.find(W1) == clusters.find(W3) != clusters.find(W4)


def test_a_voter_backs_the_outcome_it_staked_most_on() -> None:
    stakes = [
        Stake(W1, "0xm1", 0, D(10), 1),
        Stake(W1, "0xm1", 1, D(30), 2),  # W1 hedged, mostly on NO
        Stake(W2, "0xm1", 1, D(5), 3),
        Stake(W3, "0xm1", 0, D(5), 3),
        Stake(W3, "0xm1", 1, D(5), 4),  # W3 even: backs neither
    ]
    (signal,) = consensus_signals(stakes, now_s=5, window_s=10, min_wallets=2, min_agreement=D(1))
    assert (signal.outcome_index, signal.voters, signal.stake_usdc) == (1, 2, D(35))
    with pytest.raises(InvalidValueError):
        consensus_signals(stakes, now_s=5, window_s=0, min_wallets=2)


def test_stakes_come_from_buys_in_activity_and_live_trades() -> None:
    rows = [trade(W1, "0xm1", 1, Side.BUY, "10", "3", 1), trade(W1, "0xm1", 1, Side.SELL, "10", "4", 2)]
    assert list(stakes_from_activity(rows)) == [Stake(W1, "0xm1", 1, D(3), 1)]
    assert stake_from_live(live(W2, "n1", Side.BUY, "0.35", "20"), MARKETS) == Stake(W2, "0xm1", 1, D(7), 100)
    assert stake_from_live(live(W2, "n1", Side.SELL, "0.35", "20"), MARKETS) is None
    assert stake_from_live(live(W2, "unknown", Side.BUY, "0.35", "20"), MARKETS) is None


# --- whales ------------------------------------------------------------------------------------------


def test_top_holders_by_size_and_by_pnl() -> None:
    rows = [
        HolderRow(W1, "0xm1", "y1", 0, D(500), pnl=D(-20)),
        HolderRow(W2, "0xm1", "n1", 1, D(900)),
        HolderRow(W3, "0xm1", "y1", 0, D(700), pnl=D(150)),
        HolderRow(W4, "0xm1", "y1", 0, D(700), pnl=D(10)),
    ]
    assert [r.wallet for r in top_holders(rows)] == [W2, W3, W4, W1]
    assert [r.wallet for r in top_holders(rows, limit=2, outcome_index=0)] == [W3, W4]
    assert [r.wallet for r in top_holders(rows, by=HolderRank.PNL)] == [W3, W4, W1]  # W2 has no P&L


def test_the_radar_flags_exact_notionals_at_the_threshold() -> None:
    radar = LargeTradeRadar(D(1000))
    assert radar.observe(live(W1, "y1", Side.BUY, "0.5", "1999.99")) is None  # 999.995
    flagged = radar.observe(live(W1, "y1", Side.SELL, "0.5", "2000"))
    assert flagged is not None
    assert flagged.notional_usdc == D(1000)
    assert (radar.observed, radar.flagged) == (2, 1)
    narrow = LargeTradeRadar(D(10), wallets=[W2.upper()], condition_ids=["0xM1"])
    assert narrow.observe(live(W1, "y1", Side.BUY, "0.5", "100")) is None
    assert narrow.observe(live(W2, "y1", Side.BUY, "0.5", "100", condition="0xm2")) is None
    assert narrow.observe(live(W2, "y1", Side.BUY, "0.5", "100")) is not None
    with pytest.raises(InvalidValueError):
        LargeTradeRadar(D(-1))


NOT_NUMBERS = [D("NaN"), D("sNaN"), D("Infinity"), D("1e999990")]


@pytest.mark.parametrize("bad", [*NOT_NUMBERS, D(-1)])
def test_stakes_and_balances_that_are_not_amounts_are_refused(bad: Decimal) -> None:
    with pytest.raises(InvalidNumberError):
        Stake(W1, "0xm1", 0, bad, 1)
    with pytest.raises(InvalidNumberError):
        HolderRow(W1, "0xm1", "y1", 0, bad)


@pytest.mark.parametrize("bad", NOT_NUMBERS)
def test_venue_points_that_are_not_numbers_are_refused(bad: Decimal) -> None:
    with pytest.raises(InvalidNumberError):
        VenuePnlPoint(1, realized_market=bad)


def test_a_ledger_set_routes_a_merged_stream_and_survives_a_refused_row() -> None:
    a, b, c = "0xa", "0xb", "0xc"
    legs = [
        activity(ActivityKind.CONVERSION, "10", "10", wallet=W1, condition=a, outcome=1, side=Side.SELL, t=3, tx="0xv"),
        activity(ActivityKind.CONVERSION, "10", "0", wallet=W1, condition=b, outcome=1, side=Side.SELL, t=3, tx="0xv"),
    ]
    stream = [
        trade(W1, a, 1, Side.BUY, "10", "6", 1),
        trade(W2, "0xm1", 0, Side.BUY, "10", "5", 1),
        trade(W1, b, 1, Side.BUY, "10", "7", 2),
        legs[0],
        trade(W2, "0xm1", 0, Side.SELL, "20", "9", 3),  # W2 holds only 10: refused, and the set goes on
        legs[1],  # W1's second leg, after another wallet's row: still one conversion
        activity(ActivityKind.CONVERSION, "10", "0", wallet=W1, condition=c, outcome=0, side=Side.BUY, t=3, tx="0xv"),
        trade(W2, "0xm1", 0, Side.SELL, "10", "8", 4),
    ]
    ledgers = LedgerSet()
    for row in stream:
        ledgers.apply(row)
    w1, w2 = ledgers.stats()
    assert (w1.wallet, w2.wallet) == (W1, W2)
    # W1 gave up NOs that cost 13 for 10 cash and 10 YES of C, which carry the other 3.
    assert w1.realized.realized_market == D(0)
    assert ledgers.ledger(W1).positions()[0].cost == D(3)
    assert w2.realized.realized_market == D(3)
    assert ledgers.refused == 1
    assert ledgers.errors[W2].context["size"] == D(20)
