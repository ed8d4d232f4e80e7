"""The emulator exchange: its wire events let a client rebuild exactly what ``/book`` returns.

The replayer here is written from the venue notes alone: it starts from REST summaries and
applies events, checking every hash and best price the events carry against its own state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from polyinfra.core.book_hash import book_hash
from polyinfra.core.matching import Order, SubmitStatus
from polyinfra.emulator.exchange import Exchange, fee_rate_bps
from polyinfra.emulator.simulator import MarketSimulator, generate_markets
from polyinfra.errors import InvalidValueError
from polyinfra.model.ids import ConditionId, TokenId, condition_id, token_id
from polyinfra.model.market import MarketInfo, OutcomeToken
from polyinfra.model.numbers import Side, TickSize, parse_micros
from polyinfra.model.orders import TimeInForce
from polyinfra.wire.clob_rest import OrderBookSummary
from polyinfra.wire.clob_ws import (
    BestBidAskMessage,
    BookMessage,
    LastTradePriceMessage,
    MarketEvent,
    MarketResolvedMessage,
    NewMarketMessage,
    PriceChange,
    PriceChangeMessage,
    PriceLevel,
    TickSizeChangeMessage,
)

T0_MS = 1_700_000_000_123


class Clock:
    """A clock the test moves by hand; ``step_ms`` > 0 also advances it on every read."""

    def __init__(self, now_ms: int = T0_MS, *, step_ms: int = 0) -> None:
        self.now_ms = now_ms
        self.step_ms = step_ms

    def __call__(self) -> int:
        now = self.now_ms
        self.now_ms += self.step_ms
        return now


def make_market(number: int, *, tick_size: TickSize = TickSize.TICK_0_01, neg_risk: bool = False) -> MarketInfo:
    return MarketInfo(
        condition_id=condition_id(f"0x{number:064x}"),
        question=f"Will test {number} pass?",
        tokens=(OutcomeToken(token_id(f"{number}1"), "Yes"), OutcomeToken(token_id(f"{number}2"), "No")),
        tick_size=tick_size,
        min_order_size=Decimal(5),
        neg_risk=neg_risk,
    )


MARKET = make_market(1)
CID = MARKET.condition_id
YES = MARKET.tokens[0].token_id
NO = MARKET.tokens[1].token_id


def order(
    order_id: str,
    token: str,
    side: Side,
    price: str,
    size: str,
    time_in_force: TimeInForce = TimeInForce.GTC,
    *,
    owner: str = "maker",
    expiration_s: int = 0,
) -> Order:
    return Order(
        order_id=order_id,
        owner=owner,
        token_id=TokenId(token),
        side=side,
        price_micros=parse_micros(price),
        size_micros=parse_micros(size),
        time_in_force=time_in_force,
        expiration_s=expiration_s,
    )


# --- an independent replaying client -------------------------------------------------------------


@dataclass
class ReplicaBook:
    """One token's book as a client rebuilds it; levels keyed by exact value, strings as received."""

    market: str
    asset_id: str
    timestamp: str
    min_order_size: str
    tick_size: str
    neg_risk: bool
    last_trade_price: str
    bids: dict[Decimal, tuple[str, str]] = field(default_factory=dict)
    asks: dict[Decimal, tuple[str, str]] = field(default_factory=dict)

    @classmethod
    def from_snapshot(cls, snapshot: OrderBookSummary | BookMessage) -> ReplicaBook:
        assert isinstance(snapshot.min_order_size, str) and isinstance(snapshot.tick_size, str)
        assert isinstance(snapshot.neg_risk, bool) and isinstance(snapshot.last_trade_price, str)
        return cls(
            market=snapshot.market,
            asset_id=snapshot.asset_id,
            timestamp=snapshot.timestamp,
            min_order_size=snapshot.min_order_size,
            tick_size=snapshot.tick_size,
            neg_risk=snapshot.neg_risk,
            last_trade_price=snapshot.last_trade_price,
            bids={Decimal(level.price): (level.price, level.size) for level in snapshot.bids},
            asks={Decimal(level.price): (level.price, level.size) for level in snapshot.asks},
        )

    def summary(self) -> OrderBookSummary:
        """What ``/book`` should return: bids ascending, asks descending (venue notes: Order books)."""
        bids = [PriceLevel(*self.bids[price]) for price in sorted(self.bids)]
        asks = [PriceLevel(*self.asks[price]) for price in sorted(self.asks, reverse=True)]
        hash_ = book_hash(
            market=self.market,
            asset_id=self.asset_id,
            timestamp=self.timestamp,
            bids=bids,
            asks=asks,
            min_order_size=self.min_order_size,
            tick_size=self.tick_size,
            neg_risk=self.neg_risk,
            last_trade_price=self.last_trade_price,
        )
        return OrderBookSummary(
            market=self.market,
            asset_id=self.asset_id,
            timestamp=self.timestamp,
            hash=hash_,
            bids=bids,
            asks=asks,
            min_order_size=self.min_order_size,
            tick_size=self.tick_size,
            neg_risk=self.neg_risk,
            last_trade_price=self.last_trade_price,
        )

    def best_bid(self) -> str:
        return self.bids[max(self.bids)][0] if self.bids else "0"

    def best_ask(self) -> str:
        return self.asks[min(self.asks)][0] if self.asks else "1"


class Replica:
    """Applies every event batch and checks each hash / best price it carries against its own state."""

    def __init__(self, snapshots: Iterable[OrderBookSummary], markets: Mapping[str, MarketInfo]) -> None:
        self.markets = markets
        self.books: dict[str, ReplicaBook] = {}
        self.batches: list[Sequence[MarketEvent]] = []
        self.listed: list[NewMarketMessage] = []
        self.resolved: list[MarketResolvedMessage] = []
        self.track(snapshots)

    def track(self, snapshots: Iterable[OrderBookSummary]) -> None:
        for snapshot in snapshots:
            self.books[snapshot.asset_id] = ReplicaBook.from_snapshot(snapshot)

    def __call__(self, batch: Sequence[MarketEvent]) -> None:
        self.batches.append(batch)
        for event in batch:
            self.apply(event)

    def apply(self, event: MarketEvent) -> None:
        if isinstance(event, PriceChangeMessage):
            assert isinstance(event.price_changes, list)
            for change in event.price_changes:
                book = self.books[change.asset_id]
                assert book.market == event.market
                levels = book.bids if change.side == "BUY" else book.asks
                assert isinstance(change.size, str)
                if Decimal(change.size) == 0:
                    del levels[Decimal(change.price)]
                else:
                    levels[Decimal(change.price)] = (change.price, change.size)
                book.timestamp = event.timestamp
                assert change.hash == book.summary().hash
                assert (change.best_bid, change.best_ask) == (book.best_bid(), book.best_ask())
        elif isinstance(event, LastTradePriceMessage):
            self.books[event.asset_id].last_trade_price = event.price
            # The taker's rate under the market's schedule, as the trade rows report it.
            assert event.fee_rate_bps == fee_rate_bps(self.markets[event.market], taker=True)
        elif isinstance(event, BookMessage):
            book = self.books[event.asset_id]
            rebuilt = ReplicaBook.from_snapshot(event)
            # The price_change before it already brought the levels here.
            assert (rebuilt.bids, rebuilt.asks) == (book.bids, book.asks)
            assert event.hash == rebuilt.summary().hash
            self.books[event.asset_id] = rebuilt
        elif isinstance(event, BestBidAskMessage):
            book = self.books[event.asset_id]
            assert (event.best_bid, event.best_ask) == (book.best_bid(), book.best_ask())
            assert Decimal(event.spread) == Decimal(event.best_ask) - Decimal(event.best_bid)
        elif isinstance(event, TickSizeChangeMessage):
            book = self.books[event.asset_id]
            assert event.old_tick_size == book.tick_size
            book.tick_size = event.new_tick_size
        elif isinstance(event, NewMarketMessage):
            self.listed.append(event)
        elif isinstance(event, MarketResolvedMessage):
            self.resolved.append(event)
        else:  # pragma: no cover - the exchange emits nothing else
            raise AssertionError(f"unexpected event {event!r}")

    def assert_matches(self, exchange: Exchange) -> None:
        for asset_id, book in self.books.items():
            assert book.summary() == exchange.book_summary(asset_id), asset_id


def replayed_exchange(markets: Sequence[MarketInfo], clock: Clock) -> tuple[Exchange, Replica]:
    exchange = Exchange(markets, clock_ms=clock)
    replica = Replica((exchange.book_summary(token) for token in exchange.tokens()), exchange.markets)
    exchange.subscribe(replica)
    return exchange, replica


def summary_hash(asset_id: str, timestamp_ms: int, bids: list[PriceLevel], asks: list[PriceLevel], last: str) -> str:
    """The hash of a summary of MARKET, written out field by field (venue notes: Order books)."""
    return book_hash(
        market=CID,
        asset_id=asset_id,
        timestamp=str(timestamp_ms),
        bids=bids,
        asks=asks,
        min_order_size="5",
        tick_size="0.01",
        neg_risk=False,
        last_trade_price=last,
    )


# --- the replay invariant ------------------------------------------------------------------------


def test_replaying_the_events_of_thousands_of_steps_reproduces_every_book() -> None:
    markets = generate_markets(5, seed=2024)
    exchange, replica = replayed_exchange(markets, Clock(step_ms=97))
    simulator = MarketSimulator(exchange, seed=99)
    simulator.seed_books()
    replica.assert_matches(exchange)

    for step in range(4_000):
        simulator.step()
        if step % 7 == 0:
            replica.assert_matches(exchange)
        if step == 1_000:
            current = exchange.markets[markets[0].condition_id].tick_size
            coarser_or_finer = TickSize.TICK_0_01 if current is TickSize.TICK_0_001 else TickSize.TICK_0_001
            exchange.set_tick_size(markets[0].condition_id, coarser_or_finer)
        if step == 1_500:
            exchange.resolve_market(markets[1].condition_id, markets[1].tokens[1].token_id)
        if step == 2_000:
            late = make_market(77, tick_size=TickSize.TICK_0_001)
            exchange.add_market(late)
            replica.track(exchange.book_summary(token.token_id) for token in late.tokens)
    replica.assert_matches(exchange)

    kinds = {type(event) for batch in replica.batches for event in batch}
    assert kinds >= {PriceChangeMessage, LastTradePriceMessage, BookMessage, BestBidAskMessage, TickSizeChangeMessage}
    assert [message.market for message in replica.listed] == [make_market(77).condition_id]
    assert [message.market for message in replica.resolved] == [markets[1].condition_id]
    assert exchange.book_summary(make_market(77).tokens[0].token_id).bids, "the simulator should trade a late listing"


def test_every_listener_call_is_one_action_and_state_is_final_when_it_runs() -> None:
    exchange = Exchange([MARKET], clock_ms=Clock())
    seen: list[tuple[int, OrderBookSummary]] = []
    exchange.subscribe(lambda batch: seen.append((len(batch), exchange.book_summary(YES))))

    exchange.place(order("a", YES, Side.SELL, "0.5", "10"))
    exchange.place(order("t", YES, Side.BUY, "0.5", "5", owner="taker"))

    assert len(seen) == 2
    assert seen[-1][1] == exchange.book_summary(YES)


# --- hand-made actions ---------------------------------------------------------------------------


def test_events_of_a_resting_order_then_a_crossing_one() -> None:
    clock = Clock()
    exchange, replica = replayed_exchange([MARKET], clock)

    exchange.place(order("ask", YES, Side.SELL, "0.50", "10"))

    ask_10 = [PriceLevel("0.5", "10")]
    assert replica.batches[-1] == (
        PriceChangeMessage(
            market=CID,
            timestamp=str(T0_MS),
            price_changes=[
                PriceChange(YES, "0.5", "SELL", "10", summary_hash(YES, T0_MS, [], ask_10, ""), "0", "0.5"),
                PriceChange(NO, "0.5", "BUY", "10", summary_hash(NO, T0_MS, ask_10, [], ""), "0.5", "1"),
            ],
        ),
        BestBidAskMessage(CID, YES, best_bid="0", best_ask="0.5", spread="0.5", timestamp=str(T0_MS)),
        BestBidAskMessage(CID, NO, best_bid="0.5", best_ask="1", spread="0.5", timestamp=str(T0_MS)),
    )

    clock.now_ms = t1 = T0_MS + 333
    result = exchange.place(order("take", YES, Side.BUY, "0.55", "5", owner="taker"))

    assert result.status is SubmitStatus.FILLED
    assert [(fill.maker_order_id, fill.taker_price_micros) for fill in result.fills] == [("ask", 500_000)]
    ask_5 = [PriceLevel("0.5", "5")]
    yes_after = summary_hash(YES, t1, [], ask_5, "0.5")
    no_after = summary_hash(NO, t1, ask_5, [], "")
    assert replica.batches[-1] == (
        PriceChangeMessage(
            market=CID,
            timestamp=str(t1),
            price_changes=[
                # The trade's price comes in the last_trade_price after it: not hashed here yet.
                PriceChange(YES, "0.5", "SELL", "5", summary_hash(YES, t1, [], ask_5, ""), "0", "0.5"),
                PriceChange(NO, "0.5", "BUY", "5", no_after, "0.5", "1"),
            ],
        ),
        LastTradePriceMessage(YES, CID, "0.5", str(t1), side="BUY", size="5", fee_rate_bps="0"),
        BookMessage(YES, CID, [], ask_5, str(t1), yes_after, "5", "0.01", False, "0.5"),
        BookMessage(NO, CID, ask_5, [], str(t1), no_after, "5", "0.01", False, ""),
    )
    assert exchange.book_summary(YES) == OrderBookSummary(
        market=CID,
        asset_id=YES,
        timestamp=str(t1),
        hash=yes_after,
        bids=[],
        asks=ask_5,
        min_order_size="5",
        tick_size="0.01",
        neg_risk=False,
        last_trade_price="0.5",
    )
    assert exchange.last_trade(YES) == (500_000, Side.BUY)
    assert exchange.last_trade(NO) is None
    assert exchange.price_history(YES) == [(t1 // 1000, 500_000)]


def test_a_sweep_reports_each_level_and_one_trade_price_per_token() -> None:
    exchange, replica = replayed_exchange([MARKET], Clock())
    exchange.place(order("a50", YES, Side.SELL, "0.50", "10"))
    exchange.place(order("a51", NO, Side.BUY, "0.49", "10"))  # Yes-space ask 0.51
    exchange.place(order("b40", YES, Side.BUY, "0.40", "10"))

    exchange.place(order("sweep", YES, Side.BUY, "0.51", "15", TimeInForce.FAK, owner="taker"))

    price_change, *rest = replica.batches[-1]
    assert isinstance(price_change, PriceChangeMessage) and isinstance(price_change.price_changes, list)
    assert [(c.asset_id, c.price, c.side, c.size) for c in price_change.price_changes] == [
        (YES, "0.5", "SELL", "0"),
        (NO, "0.5", "BUY", "0"),
        (YES, "0.51", "SELL", "5"),
        (NO, "0.49", "BUY", "5"),
    ]
    # Best prices after each entry: first 0.50 is gone (best ask 0.51), then 0.51 shrinks.
    assert [(c.best_bid, c.best_ask) for c in price_change.price_changes] == [
        ("0.4", "0.51"),
        ("0.49", "0.6"),
        ("0.4", "0.51"),
        ("0.49", "0.6"),
    ]
    # A normal trade on Yes, then a mint with the No buyer: both tokens traded.
    assert [(type(event).__name__, event.asset_id) for event in rest] == [
        ("LastTradePriceMessage", YES),
        ("LastTradePriceMessage", NO),
        ("BookMessage", YES),
        ("BookMessage", NO),
        ("BestBidAskMessage", YES),
        ("BestBidAskMessage", NO),
    ]
    yes_trade, no_trade = rest[0], rest[1]
    assert isinstance(yes_trade, LastTradePriceMessage) and isinstance(no_trade, LastTradePriceMessage)
    assert (yes_trade.price, yes_trade.side, yes_trade.size) == ("0.51", "BUY", "15")
    assert (no_trade.price, no_trade.side, no_trade.size) == ("0.49", "BUY", "5")
    replica.assert_matches(exchange)


def test_best_bid_ask_only_when_the_best_prices_move() -> None:
    exchange, replica = replayed_exchange([MARKET], Clock())
    exchange.place(order("b40", YES, Side.BUY, "0.40", "10"))
    assert [type(event) for event in replica.batches[-1]] == [PriceChangeMessage, BestBidAskMessage, BestBidAskMessage]

    exchange.place(order("b39", YES, Side.BUY, "0.39", "10"))  # behind the best bid
    exchange.place(order("b40b", YES, Side.BUY, "0.40", "10"))  # joins the best bid
    assert [type(event) for event in replica.batches[-2]] == [PriceChangeMessage]
    assert [type(event) for event in replica.batches[-1]] == [PriceChangeMessage]

    exchange.cancel("b40")
    exchange.cancel("b40b")
    last = replica.batches[-1]
    assert [type(event) for event in last] == [PriceChangeMessage, BestBidAskMessage, BestBidAskMessage]
    assert last[1] == BestBidAskMessage(CID, YES, "0.39", "1", "0.61", str(T0_MS))
    assert last[2] == BestBidAskMessage(CID, NO, "0", "0.61", "0.61", str(T0_MS))
    replica.assert_matches(exchange)


@pytest.mark.parametrize(
    ("token", "side", "price"),
    [(YES, Side.SELL, "0.97"), (YES, Side.BUY, "0.03"), (NO, Side.BUY, "0.03"), (NO, Side.SELL, "0.99")],
)
def test_a_price_beyond_0_96_or_0_04_moves_the_market_to_the_finer_tick(token: TokenId, side: Side, price: str) -> None:
    exchange, replica = replayed_exchange([MARKET], Clock())
    exchange.place(order("extreme", token, side, price, "10"))

    *_, yes_change, no_change = replica.batches[-1]
    assert yes_change == TickSizeChangeMessage(YES, CID, "0.01", "0.001", str(T0_MS))
    assert no_change == TickSizeChangeMessage(NO, CID, "0.01", "0.001", str(T0_MS))
    assert exchange.markets[CID].tick_size is TickSize.TICK_0_001
    assert exchange.book_summary(YES).tick_size == "0.001"
    assert exchange.place(order("fine", YES, Side.SELL, "0.975", "5")).rests
    replica.assert_matches(exchange)


def test_prices_inside_the_band_keep_the_tick() -> None:
    exchange, replica = replayed_exchange([MARKET], Clock())
    exchange.place(order("a", YES, Side.SELL, "0.96", "10"))
    exchange.place(order("b", YES, Side.BUY, "0.04", "10"))
    assert not any(isinstance(event, TickSizeChangeMessage) for batch in replica.batches for event in batch)
    assert exchange.markets[CID].tick_size is TickSize.TICK_0_01


def test_set_tick_size_emits_tick_size_change_and_keeps_resting_prices() -> None:
    exchange, replica = replayed_exchange([make_market(1, tick_size=TickSize.TICK_0_001)], Clock())
    exchange.place(order("fine", YES, Side.SELL, "0.505", "10"))

    exchange.set_tick_size(CID, TickSize.TICK_0_01)
    exchange.set_tick_size(CID, TickSize.TICK_0_01)  # no change, no event

    assert replica.batches[-1] == (
        TickSizeChangeMessage(YES, CID, "0.001", "0.01", str(T0_MS)),
        TickSizeChangeMessage(NO, CID, "0.001", "0.01", str(T0_MS)),
    )
    assert exchange.book_summary(YES).asks == [PriceLevel("0.505", "10")]
    with pytest.raises(InvalidValueError):
        exchange.place(order("coarse", YES, Side.SELL, "0.515", "10"))
    replica.assert_matches(exchange)


# --- listings and resolution ---------------------------------------------------------------------


def test_add_market_emits_new_market() -> None:
    exchange, replica = replayed_exchange([MARKET], Clock())
    second = make_market(2, neg_risk=True)

    exchange.add_market(second)

    assert replica.batches[-1] == (
        NewMarketMessage(
            id="2",
            market=second.condition_id,
            assets_ids=["21", "22"],
            timestamp=str(T0_MS),
            question="Will test 2 pass?",
            slug="will-test-2-pass",
            description='This market will resolve to "Yes" if the answer to "Will test 2 pass?" is yes. '
            'Otherwise, this market will resolve to "No".',
            outcomes=["Yes", "No"],
        ),
    )
    listing = exchange.listing(second.condition_id)
    event = replica.batches[-1][0]
    assert (listing.listing_id, listing.slug, listing.description) == (event.id, event.slug, event.description)
    assert list(exchange.markets) == [CID, second.condition_id]
    assert exchange.tokens() == [YES, NO, "21", "22"]
    assert exchange.market_of("22") == second
    summary = exchange.book_summary("21")
    assert (summary.bids, summary.asks, summary.neg_risk, summary.last_trade_price) == ([], [], True, "")
    with pytest.raises(InvalidValueError, match="already listed"):
        exchange.add_market(second)


def test_resolve_market_cancels_its_orders_and_closes_it() -> None:
    exchange, replica = replayed_exchange([MARKET, make_market(2)], Clock())
    exchange.place(order("b", YES, Side.BUY, "0.40", "10"))
    exchange.place(order("a", NO, Side.BUY, "0.30", "10"))
    exchange.place(order("elsewhere", "21", Side.BUY, "0.30", "10"))

    cancellation = exchange.resolve_market(CID, NO)

    assert {cancelled.order_id for cancelled in cancellation.orders} == {"a", "b"}
    *book_events, resolved = replica.batches[-1]
    assert [type(event) for event in book_events] == [PriceChangeMessage, BestBidAskMessage, BestBidAskMessage]
    assert resolved == MarketResolvedMessage(
        id="1",
        market=CID,
        assets_ids=[YES, NO],
        winning_asset_id=NO,
        winning_outcome="No",
        timestamp=str(T0_MS),
        question="Will test 1 pass?",
        slug="will-test-1-pass",
        description='This market will resolve to "Yes" if the answer to "Will test 1 pass?" is yes. '
        'Otherwise, this market will resolve to "No".',
        outcomes=["Yes", "No"],
    )
    assert exchange.winning_token(CID) == NO
    assert exchange.winning_token(make_market(2).condition_id) is None
    assert [still.order_id for still in exchange.open_orders()] == ["elsewhere"]
    with pytest.raises(InvalidValueError, match="resolved"):
        exchange.place(order("late", YES, Side.BUY, "0.40", "10"))
    with pytest.raises(InvalidValueError, match="already resolved"):
        exchange.resolve_market(CID, YES)
    replica.assert_matches(exchange)


def test_resolve_market_needs_one_of_its_tokens() -> None:
    exchange = Exchange([MARKET], clock_ms=Clock())
    with pytest.raises(InvalidValueError, match="not part of this market"):
        exchange.resolve_market(CID, "99")


# --- orders --------------------------------------------------------------------------------------


def test_cancel_and_cancel_all() -> None:
    exchange, replica = replayed_exchange([MARKET, make_market(2)], Clock())
    exchange.place(order("a1", YES, Side.BUY, "0.40", "10", owner="alice"))
    exchange.place(order("a2", "21", Side.BUY, "0.40", "10", owner="alice"))
    exchange.place(order("b1", YES, Side.BUY, "0.41", "10", owner="bob"))
    calls = len(replica.batches)

    assert exchange.cancel("missing").orders == ()
    assert len(replica.batches) == calls, "nothing changed, nothing emitted"
    cancelled = exchange.cancel_all("alice")

    assert [gone.order_id for gone in cancelled] == ["a1", "a2"]
    assert len(replica.batches) == calls + 1, "one action, one call, one price_change per market"
    assert [event.market for event in replica.batches[-1] if isinstance(event, PriceChangeMessage)] == [
        CID,
        make_market(2).condition_id,
    ]
    assert exchange.open_orders("alice") == []
    assert [gone.order_id for gone in exchange.cancel("b1").orders] == ["b1"]
    replica.assert_matches(exchange)


def test_filled_orders_are_no_longer_cancellable() -> None:
    exchange = Exchange([MARKET], clock_ms=Clock())
    exchange.place(order("a", YES, Side.SELL, "0.50", "10"))
    exchange.place(order("t", YES, Side.BUY, "0.50", "10", owner="taker"))
    assert exchange.cancel("a").orders == ()
    exchange.place(order("a", YES, Side.SELL, "0.50", "10"))  # its id is free again


def test_place_refusals() -> None:
    exchange = Exchange([MARKET], clock_ms=Clock())
    exchange.place(order("live", YES, Side.BUY, "0.40", "10"))
    with pytest.raises(InvalidValueError, match="lower than the minimum") as caught:
        exchange.place(order("small", YES, Side.BUY, "0.40", "4.99"))
    assert caught.value.context["min_order_size"] == "5"
    with pytest.raises(InvalidValueError, match="unknown token"):
        exchange.place(order("x", TokenId("424242"), Side.BUY, "0.40", "10"))
    with pytest.raises(InvalidValueError, match="already live"):
        exchange.place(order("live", NO, Side.BUY, "0.40", "10"))


def test_gtd_orders_live_until_a_minute_before_their_expiration() -> None:
    """To expire in 90 s a client sends now + 60 + 30."""
    clock = Clock()
    exchange, replica = replayed_exchange([MARKET], clock)
    now_s = T0_MS // 1000
    with pytest.raises(InvalidValueError, match="more than 60 s"):
        exchange.place(order("soon", YES, Side.BUY, "0.40", "10", TimeInForce.GTD, expiration_s=now_s + 60))
    exchange.place(order("gtd", YES, Side.BUY, "0.40", "10", TimeInForce.GTD, expiration_s=now_s + 90))

    clock.now_ms = (now_s + 29) * 1000
    assert exchange.expire_orders() == []
    clock.now_ms = (now_s + 30) * 1000
    calls = len(replica.batches)
    # The expiry is an action of its own, before the new order (which would have crossed it).
    result = exchange.place(order("sell", YES, Side.SELL, "0.40", "10", TimeInForce.FAK, owner="taker"))

    assert result.fills == ()
    assert len(replica.batches) == calls + 1
    assert exchange.open_orders() == []
    replica.assert_matches(exchange)

    exchange.place(order("gtd2", YES, Side.BUY, "0.40", "10", TimeInForce.GTD, expiration_s=now_s + 200))
    clock.now_ms = (now_s + 140) * 1000
    assert [gone.order_id for gone in exchange.expire_orders()] == ["gtd2"]
    replica.assert_matches(exchange)


# --- reads ---------------------------------------------------------------------------------------


def test_book_summary_lists_best_prices_last() -> None:
    exchange = Exchange([MARKET], clock_ms=Clock())
    for number, (price, side) in enumerate(
        [("0.48", Side.BUY), ("0.49", Side.BUY), ("0.52", Side.SELL), ("0.53", Side.SELL)]
    ):
        exchange.place(order(f"o{number}", YES, side, price, "10"))

    yes = exchange.book_summary(YES)
    no = exchange.book_summary(NO)

    assert [level.price for level in yes.bids] == ["0.48", "0.49"]
    assert [level.price for level in yes.asks] == ["0.53", "0.52"]
    assert [level.price for level in no.bids] == ["0.47", "0.48"]
    assert [level.price for level in no.asks] == ["0.52", "0.51"]
    assert (exchange.best_bid(NO), exchange.best_ask(NO)) == (480_000, 510_000)
    assert yes.hash == ReplicaBook.from_snapshot(yes).summary().hash


def test_price_history_keeps_one_point_per_second() -> None:
    clock = Clock()
    exchange = Exchange([MARKET], clock_ms=clock)
    exchange.place(order("a", YES, Side.SELL, "0.50", "10"))
    exchange.place(order("b", YES, Side.SELL, "0.51", "10"))
    exchange.place(order("t1", YES, Side.BUY, "0.50", "5", owner="taker"))
    exchange.place(order("t2", YES, Side.BUY, "0.51", "10", owner="taker"))  # same second
    clock.now_ms += 1_000
    exchange.place(order("t3", NO, Side.SELL, "0.49", "5", owner="taker"))  # merges with the 0.51 Yes ask

    assert exchange.price_history(YES) == [(T0_MS // 1000, 510_000), (T0_MS // 1000 + 1, 510_000)]
    assert exchange.price_history(NO) == [(T0_MS // 1000 + 1, 490_000)]
    assert exchange.last_trade(NO) == (490_000, Side.SELL)


def test_unknown_ids() -> None:
    exchange = Exchange([MARKET], clock_ms=Clock())
    assert exchange.market_of("424242") is None
    assert exchange.market_of(NO) == MARKET
    with pytest.raises(InvalidValueError, match="unknown token"):
        exchange.book_summary("424242")
    with pytest.raises(InvalidValueError, match="unknown market"):
        exchange.set_tick_size(ConditionId("0x" + "ab" * 32), TickSize.TICK_0_001)


def test_duplicate_tokens_are_refused() -> None:
    clash = MarketInfo(
        condition_id=condition_id("0x" + "cd" * 32),
        question="Clash?",
        tokens=(MARKET.tokens[1], OutcomeToken(token_id("5"), "No")),
        tick_size=TickSize.TICK_0_01,
        min_order_size=Decimal(5),
    )
    with pytest.raises(InvalidValueError, match="token is already listed"):
        Exchange([MARKET, clash], clock_ms=Clock())


# --- listeners -----------------------------------------------------------------------------------


def test_unsubscribe_stops_delivery() -> None:
    exchange = Exchange([MARKET], clock_ms=Clock())
    received: list[Sequence[MarketEvent]] = []
    unsubscribe = exchange.subscribe(received.append)
    exchange.place(order("a", YES, Side.BUY, "0.40", "10"))
    unsubscribe()
    unsubscribe()
    exchange.place(order("b", YES, Side.BUY, "0.41", "10"))
    assert len(received) == 1


def test_fill_listeners_hear_every_placement_that_traded_whoever_placed_it() -> None:
    exchange = Exchange([MARKET], clock_ms=Clock())
    heard: list[list[tuple[str, str, int, int]]] = []
    unsubscribe = exchange.subscribe_fills(
        lambda fills: heard.append(
            [
                (fill.maker_order_id, fill.taker_order_id, fill.size_micros, fill.maker_remaining_micros)
                for fill in fills
            ]
        )
    )
    exchange.place(order("a", YES, Side.SELL, "0.50", "10", owner="alice"))
    exchange.place(order("b", NO, Side.BUY, "0.49", "10", owner="bob"))
    assert heard == [], "nothing traded"
    exchange.place(order("t", YES, Side.BUY, "0.51", "15", owner="taker"))
    # One call for the placement, its fills in matching order: the ask at 0.50, then a mint at 0.51.
    assert heard == [[("a", "t", 10_000_000, 0), ("b", "t", 5_000_000, 5_000_000)]]
    unsubscribe()
    exchange.place(order("u", YES, Side.BUY, "0.51", "5", owner="taker"))
    assert len(heard) == 1


def test_a_failing_listener_does_not_starve_the_others() -> None:
    exchange = Exchange([MARKET], clock_ms=Clock())
    received: list[Sequence[MarketEvent]] = []

    def broken(_batch: Sequence[MarketEvent]) -> None:
        raise RuntimeError("listener bug")

    exchange.subscribe(broken)
    exchange.subscribe(received.append)
    with pytest.raises(RuntimeError, match="listener bug"):
        exchange.place(order("a", YES, Side.BUY, "0.40", "10"))
    assert len(received) == 1
    assert exchange.book_summary(YES).bids == [PriceLevel("0.4", "10")]
