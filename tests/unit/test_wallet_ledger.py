"""The wallet ledger on hand-computed histories: every expected number below is worked out in the comment
beside it, not by running the code."""

from __future__ import annotations

from decimal import Decimal

import pytest

from polyinfra.core.wallet_ledger import WalletLedger, marks_from_books, marks_from_live_books
from polyinfra.errors import InvalidValueError, LedgerError, PolyinfraError
from polyinfra.model.book import OrderBook
from polyinfra.model.events import SyncState
from polyinfra.model.market_outcomes import MarketMap, MarketOutcomes
from polyinfra.model.numbers import Side
from polyinfra.model.wallet_activity import ActivityKind, WalletActivity
from tests.wallet_rows import WALLET, trade
from tests.wallet_rows import activity as row

D = Decimal
M = "0xm1"
MARKETS = MarketMap.of([MarketOutcomes(M, ("yes1", "no1"), category="politics")])


def buy(outcome: int, size: str, usdc: str, t: int = 0, condition: str = M) -> WalletActivity:
    return trade(Side.BUY, outcome, size, usdc, t=t, condition=condition)


def sell(outcome: int, size: str, usdc: str, t: int = 0, condition: str = M) -> WalletActivity:
    return trade(Side.SELL, outcome, size, usdc, t=t, condition=condition)


def ledger() -> WalletLedger:
    return WalletLedger(WALLET, MARKETS)


def test_partial_closes_at_average_cost() -> None:
    book = ledger()
    book.apply_all([buy(0, "100", "40", t=1), buy(0, "100", "60", t=2)])  # 200 shares for 100: average 0.50
    book.apply(sell(0, "50", "35", t=3))  # 35 - 50 x 0.50 = +10
    assert book.realized.realized_market == D(10)
    (position,) = book.positions({"yes1": D("0.8")}.get)
    assert (position.size, position.cost, position.average_price) == (D(150), D(75), D("0.5"))
    assert (position.value, position.unrealized) == (D(120), D(45))  # 150 x 0.8 = 120; 120 - 75
    book.apply(sell(0, "150", "45", t=4))  # 45 - 75 = -30, so -20 in all
    assert book.realized.realized_market == D(-20)
    assert book.positions() == ()
    (closed,) = book.closed_positions
    assert (closed.paid, closed.received, closed.pnl, closed.roi) == (D(100), D(80), D(-20), D("-0.2"))
    assert (closed.opened_s, closed.closed_s) == (1, 4)
    assert book.volume == D(180)
    assert [(t, c.realized_market) for t, c in book.history()] == [(1, 0), (2, 0), (3, 10), (4, -20)]
    assert book.realized_at(3).realized_market == D(10)
    assert book.realized_at(0).realized_market == D(0)


def test_yes_and_no_held_together_are_complete_sets_worth_one() -> None:
    book = ledger()
    book.apply_all([buy(0, "100", "60"), buy(1, "150", "52.5")])  # YES 100 @0.60, NO 150 @0.35
    unmarked = book.valuation()
    # 100 complete sets are worth 100 with no price at all; the 50 NO left over need one.
    (condition,) = unmarked.conditions
    assert condition.complete_sets == D(100)
    assert condition.value is None
    assert unmarked.unmarked == (M,)
    marked = book.valuation({"no1": D("0.4")}.get)
    (condition,) = marked.conditions
    assert condition.value == D(120)  # 100 x 1 + 50 x 0.4
    assert condition.unrealized == D("7.5")  # 120 - (60 + 52.5)
    assert marked.unrealized == D("7.5")
    assert marked.total == D("7.5")
    # Marked alone, the YES leg at 0.3 looks like a 30 loss; netted, its price does not matter.
    netted = book.valuation({"yes1": D("0.3"), "no1": D("0.4")}.get)
    assert netted.unrealized == D("7.5")
    yes = netted.positions[0]
    assert yes.unrealized == D(-30)


def test_merge_realizes_the_sets_against_both_costs() -> None:
    book = ledger()
    book.apply_all([buy(0, "100", "60"), buy(1, "100", "35")])
    book.apply(row(ActivityKind.MERGE, "100", "100"))  # 100 - (60 + 35) = +5
    assert book.realized.realized_market == D(5)
    assert book.positions() == ()
    yes, no = book.closed_positions
    # The merge's cash is shared equally: each side received 50.
    assert (yes.outcome_index, yes.pnl, no.outcome_index, no.pnl) == (0, D(-10), 1, D(15))


def test_split_then_sell_one_side_then_redeem_the_winner() -> None:
    book = ledger()
    book.apply(row(ActivityKind.SPLIT, "100", "100"))  # YES 100 cost 50, NO 100 cost 50
    assert [(p.size, p.cost) for p in book.positions()] == [(D(100), D(50)), (D(100), D(50))]
    book.apply(sell(1, "100", "30"))  # 30 - 50 = -20
    book.apply(row(ActivityKind.REDEEM, "100", "100", outcome=0))  # YES won: 100 - 50 = +50
    book.apply(row(ActivityKind.REDEEM, "0", "0", outcome=1))  # the losing row, nothing of it held
    assert book.realized.realized_market == D(30)
    assert book.positions() == ()


def test_redeem_per_outcome_after_resolution() -> None:
    book = ledger()
    book.apply_all([buy(0, "100", "30"), buy(1, "50", "30")])
    book.apply(row(ActivityKind.REDEEM, "100", "0", outcome=0))  # YES lost: 0 - 30
    book.apply(row(ActivityKind.REDEEM, "50", "50", outcome=1))  # NO won: 50 - 30
    assert book.realized.realized_market == D(-10)
    assert [(c.outcome_index, c.pnl) for c in book.closed_positions] == [(0, D(-30)), (1, D(20))]


def test_a_whole_condition_redeem_pays_the_outcome_the_cash_matches() -> None:
    book = ledger()
    book.apply_all([buy(0, "100", "30"), buy(1, "50", "30")])
    book.apply(row(ActivityKind.REDEEM, "150", "50"))  # before 2026-08: one row; NO (50 shares) is the winner
    assert book.realized.realized_market == D(-10)
    assert [(c.outcome_index, c.received) for c in book.closed_positions] == [(0, D(0)), (1, D(50))]


def test_fees_rebates_and_rewards_are_their_own_components() -> None:
    book = ledger()
    bought = buy(0, "100", "50")
    book.apply_all([bought], fees={bought.key: D("1.25")})  # 100 x 0.05 x 0.5 x 0.5
    book.apply(sell(0, "100", "60"), fee_usdc=D("1.2"))  # 100 x 0.05 x 0.6 x 0.4
    book.apply(row(ActivityKind.MAKER_REBATE, "0", "0.4", condition=""))
    book.apply(row(ActivityKind.TAKER_REBATE, "0", "0.1", condition=""))
    book.apply(row(ActivityKind.REWARD, "0", "2", condition=""))
    book.apply(row(ActivityKind.REFERRAL_REWARD, "0", "0.05", condition=""))
    book.apply(row(ActivityKind.REWARD, "0", "0", condition=""), fee_usdc=D("-0.25"))  # a refund
    realized = book.realized
    assert realized.realized_market == D(10)
    assert realized.fees == D("-2.2")  # -1.25 - 1.2 + 0.25
    assert (realized.rebates, realized.rewards, realized.referral) == (D("0.5"), D(2), D("0.05"))
    assert realized.total == D("10.35")


def test_neg_risk_conversion_carries_the_cost_into_the_yes_received() -> None:
    a, b, c = "0xa", "0xb", "0xc"
    markets = MarketMap.of(MarketOutcomes(m, (f"{m}y", f"{m}n"), neg_risk=True, event_id="e") for m in (a, b, c))
    book = WalletLedger(WALLET, markets)
    book.apply_all([buy(1, "100", "80", condition=a), buy(1, "100", "70", condition=b)])
    # Two NOs of 100 give up 150 of cost and release (2 - 1) x 100 = 100 plus 100 YES of C.
    legs = [
        row(ActivityKind.CONVERSION, "100", "100", outcome=1, side=Side.SELL, condition=a, tx="0xc1"),
        row(ActivityKind.CONVERSION, "100", "0", outcome=1, side=Side.SELL, condition=b, tx="0xc1"),
        row(ActivityKind.CONVERSION, "100", "0", outcome=0, side=Side.BUY, condition=c, tx="0xc1"),
    ]
    book.apply_all(legs)
    assert book.realized.realized_market == D(0)
    (position,) = book.positions()
    assert (position.condition_id, position.size, position.cost) == (c, D(100), D(50))  # 150 - 100
    book.apply(row(ActivityKind.REDEEM, "100", "100", outcome=0, condition=c))
    assert book.realized.realized_market == D(50)  # paid 150, got 100 + 100 back


def test_a_conversion_worth_more_than_its_cost_realizes_the_excess() -> None:
    a, b, c = "0xa", "0xb", "0xc"
    book = WalletLedger(WALLET)
    book.apply_all([buy(1, "100", "30", condition=a), buy(1, "100", "20", condition=b)])
    book.apply_conversion(
        [
            row(ActivityKind.CONVERSION, "100", "100", outcome=1, side=Side.SELL, condition=a),
            row(ActivityKind.CONVERSION, "100", "0", outcome=1, side=Side.SELL, condition=b),
            row(ActivityKind.CONVERSION, "100", "0", outcome=0, side=Side.BUY, condition=c),
        ]
    )
    assert book.realized.realized_market == D(50)  # 100 cash against 50 of cost
    assert book.positions()[0].cost == D(0)


def test_selling_more_than_held_is_a_typed_error_naming_the_row_and_changes_nothing() -> None:
    book = ledger()
    book.apply(buy(0, "10", "5"))
    with pytest.raises(LedgerError) as caught:
        book.apply(sell(0, "11", "6"), fee_usdc=D(1))
    assert caught.value.context["transaction_hash"] == "0xt"
    assert caught.value.context["held"] == D(10)
    assert caught.value.context["size"] == D(11)
    assert book.realized.total == D(0)
    assert book.positions()[0].size == D(10)
    assert book.volume == D(5)
    with pytest.raises(LedgerError):
        book.apply(row(ActivityKind.MERGE, "10", "10"))  # no NO held: nothing merges
    assert book.positions()[0].size == D(10)
    with pytest.raises(LedgerError):
        book.apply(sell(1, "1", "1"))


def test_impossible_rows_are_typed_errors() -> None:
    book = ledger()
    other = WalletActivity(
        wallet="0xbb",
        kind=ActivityKind.REWARD,
        timestamp_s=0,
        condition_id="",
        token_id=None,
        outcome_index=None,
        side=None,
        size=D(0),
        usdc_size=D(1),
        price=None,
        transaction_hash="0x1",
    )
    with pytest.raises(LedgerError, match="another wallet"):
        book.apply(other)
    with pytest.raises(LedgerError, match="no outcome"):
        book.apply(row(ActivityKind.TRADE, "1", "1", side=Side.BUY))
    with pytest.raises(LedgerError, match="without a side"):
        book.apply(row(ActivityKind.TRADE, "1", "1", outcome=0))
    with pytest.raises(LedgerError, match="finer"):
        book.apply(buy(0, "1", "0.0000000000001"))
    with pytest.raises(LedgerError, match="gives up no shares"):
        book.apply(row(ActivityKind.CONVERSION, "1", "0", outcome=0, side=Side.BUY))
    with pytest.raises(LedgerError, match="above 1"):
        book.apply(buy(0, "1", "1"))
        book.positions({"yes1": D("1.5")}.get)


def test_an_outcome_is_found_from_the_token_and_marked_from_a_live_book() -> None:
    book = ledger()
    book.apply(row(ActivityKind.TRADE, "10", "4", side=Side.BUY, token="yes1"))
    live = OrderBook("yes1")
    live.apply_snapshot([(450_000, 10_000_000)], [(550_000, 10_000_000)])
    (position,) = book.positions(marks_from_books({"yes1": live}))
    assert (position.outcome_index, position.mark, position.unrealized) == (0, D("0.5"), D(1))
    assert book.positions(marks_from_books({}))[0].mark is None


def test_a_seeded_position_opens_a_late_history() -> None:
    book = ledger()
    book.seed(M, 0, D(40), D(16), timestamp_s=5)  # held before the first row, at 0.40
    book.apply(sell(0, "40", "20", t=9))
    assert book.realized.realized_market == D(4)
    (closed,) = book.closed_positions
    assert (closed.opened_s, closed.roi) == (5, D("0.25"))


def test_amounts_finer_than_the_ledger_unit_are_refused_not_rounded() -> None:
    book = ledger()
    # 29 significant digits: at the default 28-digit precision this would round to a whole number of units.
    with pytest.raises(LedgerError, match="finer"):
        book.apply(buy(0, "100000000000000.00000000000001", "1"))
    with pytest.raises(LedgerError, match="more digits"):
        book.apply(buy(0, "1." + "0" * 5000 + "1", "1"))  # more digits than any context holds: not rounded
    with pytest.raises(LedgerError, match="more digits"):
        book.seed(M, 0, D(10**5000), D(1))
    with pytest.raises(PolyinfraError):
        book.apply(buy(0, "1", "1"), fee_usdc=D("sNaN"))
    assert book.positions() == ()


def test_a_conversion_refused_on_its_last_leg_changes_nothing() -> None:
    book = ledger()
    book.apply(buy(1, "10", "6"))
    legs = [
        row(ActivityKind.CONVERSION, "10", "10", outcome=1, side=Side.SELL),
        row(ActivityKind.CONVERSION, "10", "0", side=Side.BUY, condition="0xother"),  # names no outcome
    ]
    with pytest.raises(LedgerError, match="no outcome"):
        book.apply_conversion(legs)
    assert [(p.outcome_index, p.size, p.cost) for p in book.positions()] == [(1, D(10), D(6))]
    assert book.realized.total == D(0)


def test_live_marks_only_from_live_books() -> None:
    book = OrderBook("yes1")
    book.apply_snapshot([(400_000, 1_000_000)], [(600_000, 1_000_000)])
    states = {"yes1": SyncState.LIVE}

    class Books:
        def book(self, token_id: str) -> OrderBook:
            if token_id != "yes1":
                raise InvalidValueError("token is not subscribed", token_id=token_id)
            return book

        def state(self, token_id: str) -> SyncState:
            self.book(token_id)
            return states[token_id]

    mark = marks_from_live_books(Books())
    assert mark("yes1") == D("0.5")
    assert mark("no1") is None
    states["yes1"] = SyncState.STALE
    assert mark("yes1") is None  # a stale book's mid is no mark
    assert "_holdings" not in repr(ledger())
