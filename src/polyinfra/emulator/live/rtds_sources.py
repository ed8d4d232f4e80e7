"""What the emulator's RTDS socket streams: activity from the matching engine's real fills, crypto
and equity prices as seeded random walks, and comments (venue notes: RTDS).

* **Activity.** Every fill becomes, on ``activity``, a ``trades`` row for the taker and one for the
  maker, and an ``orders_matched`` row for the taker, as the venue reports them. Each fill is one
  settlement transaction with its own hash. Traders are named as elsewhere in the emulator: an API
  key's wallet address, or for a simulator agent a fixed address derived from its name
  (:func:`agent_wallet`), with the agent's name; markets by their listing slug and question.
  :attr:`RtdsSources.published_activity` keeps what was published, the ground truth a test
  compares a client's collection with.
* **Prices.** One :meth:`RtdsSources.tick_prices` moves every symbol one step: Binance
  (``btcusdt``) walks each tick; Chainlink (``btc/usd``) starts a new round only now and then and
  repeats the last round in between, as the real feed holds it; the TWAP topics average the last
  30 and 60 Chainlink points; equities (``aapl``) walk with four decimals. Every number comes from
  one ``random.Random(seed)`` and is exact integer arithmetic, printed as decimal text.
* **PolyBolt.** The same walks feed the PolyBolt socket when one is given (Binance's walk stands for
  ``price.crypto``, the 60-second TWAP for ``price.crypto.twap``, equities for ``price.equity``), and
  each fill's taker price is a ``price.polymarket`` point of its token.
* **Comments.** :meth:`RtdsSources.post_comment`, and now and then one from an agent on a tick.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from polyinfra.core.eip712 import to_checksum_address
from polyinfra.core.matching import Fill
from polyinfra.core.rtds_topics import PriceSource
from polyinfra.emulator.exchange import Exchange
from polyinfra.emulator.live.polybolt_channel import PolyBoltChannel
from polyinfra.emulator.live.rtds_channel import PriceSeries, RtdsChannel
from polyinfra.model.numbers import micros_to_decimal
from polyinfra.wire.rtds import ActivityPayload, CommentPayload, CommentProfile, PriceUpdate

__all__ = ["BACKFILL_POINTS", "PublishedTrade", "RtdsSources", "agent_wallet", "settlement_hash"]

BACKFILL_POINTS: Final = 120
"""Points a price backfill holds: about two minutes at one a second, as the venue's."""
_PUBLISHED_KEPT: Final = 100_000

# (coin, starting price in cents); equities (ticker, starting price in 1/10,000 dollars).
_COINS: Final = (("btc", 6_116_412), ("eth", 345_678), ("sol", 18_955), ("xrp", 62))
_EQUITIES: Final = (("aapl", 3_079_150), ("nvda", 1_402_500), ("tsla", 2_513_300))
_CHAINLINK_NEW_ROUND_PERCENT: Final = 25
_COMMENT_PERCENT: Final = 5
_E18_PER_CENT: Final = 10**16
_TWAP_WINDOWS: Final = ((PriceSource.TWAP_30S, 30), (PriceSource.TWAP_60S, 60))


def agent_wallet(name: str) -> str:
    """The fixed wallet address a simulator agent trades from (checksummed)."""
    digest = hashlib.sha256(f"polyinfra emulator agent {name}".encode()).hexdigest()
    return to_checksum_address("0x" + digest[:40])


def settlement_hash(number: int) -> str:
    """The transaction hash of the emulator's ``number``-th fill (from 1): every feed that reports
    fills (RTDS activity, the Data API) names a fill's settlement by it, so they agree."""
    return "0x" + hashlib.sha256(f"emulator fill {number}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class PublishedTrade:
    """One activity row as published: ``kind`` is ``trades`` or ``orders_matched``."""

    kind: str
    payload: ActivityPayload


class RtdsSources:
    """Feeds ``channel`` from ``exchange`` and the random walks; ``trader_address`` names an API
    key's wallet (None for the simulator's agents); ``clock_ms`` is the exchange's clock."""

    def __init__(
        self,
        exchange: Exchange,
        channel: RtdsChannel,
        *,
        trader_address: Callable[[str], str | None],
        clock_ms: Callable[[], int],
        seed: int,
        polybolt: PolyBoltChannel | None = None,
    ) -> None:
        self._exchange = exchange
        self._channel = channel
        self._polybolt = polybolt
        self._trader_address = trader_address
        self._clock_ms = clock_ms
        self._random = random.Random(seed)
        self._transactions = 0
        self._comments = 0
        self._cents = {coin: cents for coin, cents in _COINS}
        self._chainlink_cents = dict(self._cents)
        self._equity_units = {ticker: units for ticker, units in _EQUITIES}
        self._series: dict[tuple[str, str], deque[tuple[int, str]]] = {}
        self._last_point_ms = 0
        self.published_activity: deque[PublishedTrade] = deque(maxlen=_PUBLISHED_KEPT)
        """Every activity row published (the latest 100,000): the ground truth."""
        self.published_comments: deque[CommentPayload] = deque(maxlen=_PUBLISHED_KEPT)
        """Every comment published (the latest 100,000): what Gamma's ``/comments`` serves."""
        self._unsubscribe = exchange.subscribe_fills(self._on_fills)
        self.tick_prices()

    def close(self) -> None:
        self._unsubscribe()

    def backfill(self, topic: str, venue_symbol: str) -> PriceSeries | None:
        series = self._series.get((topic, venue_symbol.lower()))
        return None if series is None else PriceSeries(list(series))

    def symbols(self, topic: str) -> Iterable[str]:
        return [symbol for series_topic, symbol in self._series if series_topic == topic]

    async def run(self, interval_s: float) -> None:
        """Tick the prices every ``interval_s`` until cancelled."""
        while True:
            await asyncio.sleep(interval_s)
            self.tick_prices()

    # --- prices ---------------------------------------------------------------------------------------

    def tick_prices(self) -> None:
        """Move every price one step and publish it (see the module docstring)."""
        rng = self._random
        # One point a second at most, strictly later than the last, as the venue's series are.
        timestamp_ms = max(self._clock_ms() // 1000 * 1000, self._last_point_ms + 1000)
        self._last_point_ms = timestamp_ms
        for coin, last_cents in self._cents.items():
            cents = max(1, last_cents + rng.randint(-last_cents // 500 - 1, last_cents // 500 + 1))
            self._cents[coin] = cents
            value = Decimal(cents).scaleb(-2)
            self._publish(PriceSource.BINANCE, f"{coin}usdt", value, f"{value:.8f}", timestamp_ms)
            if rng.randrange(100) < _CHAINLINK_NEW_ROUND_PERCENT:
                self._chainlink_cents[coin] = cents
            held = self._chainlink_cents[coin]
            self._publish(
                PriceSource.CHAINLINK, f"{coin}/usd", Decimal(held).scaleb(-2), str(held * _E18_PER_CENT), timestamp_ms
            )
            history = self._series[(PriceSource.CHAINLINK, f"{coin}/usd")]
            for topic, window in _TWAP_WINDOWS:
                recent = [Decimal(value) for _, value in list(history)[-window:]]
                average = (sum(recent, Decimal(0)) / len(recent)).quantize(Decimal("0.01"))
                exact = str(int(average.scaleb(2)) * _E18_PER_CENT)
                self._publish(topic, f"{coin}/usd", average, exact, timestamp_ms, window_s=window)
        for ticker, last_units in self._equity_units.items():
            units = max(1, last_units + rng.randint(-last_units // 1000 - 1, last_units // 1000 + 1))
            self._equity_units[ticker] = units
            value = Decimal(units).scaleb(-4)
            self._publish(PriceSource.EQUITY, ticker, value, str(value), timestamp_ms)
        if rng.randrange(100) < _COMMENT_PERCENT and self._exchange.markets:
            self._random_comment()

    def _publish(
        self, topic: str, symbol: str, value: Decimal, exact: str, timestamp_ms: int, *, window_s: int | None = None
    ) -> None:
        self._series.setdefault((topic, symbol), deque(maxlen=BACKFILL_POINTS)).append((timestamp_ms, str(value)))
        update = PriceUpdate(symbol=symbol, timestamp=timestamp_ms, value=value, full_accuracy_value=exact)
        if window_s is not None:
            update.window_s = window_s
        self._channel.publish(topic, "update", update, symbol=symbol)
        if self._polybolt is not None:
            self._polybolt.publish_rtds_price(topic, symbol, value, timestamp_ms)

    # --- comments -------------------------------------------------------------------------------------

    def post_comment(self, body: str, *, parent_entity_id: int, user_address: str, name: str = "") -> CommentPayload:
        """Publish a ``comment_created`` on the event ``parent_entity_id``; returns it."""
        self._comments += 1
        comment = CommentPayload(
            id=str(1_000_000 + self._comments),
            body=body,
            parent_entity_id=parent_entity_id,
            parent_entity_type="Event",
            user_address=user_address.lower(),
            profile=CommentProfile(name=name, proxy_wallet=user_address.lower()),
        )
        self.published_comments.append(comment)
        self._channel.publish("comments", "comment_created", comment)
        return comment

    def _random_comment(self) -> None:
        agent = self._random.choice(("sim-taker-1", "sim-taker-2", "sim-maker-1"))
        market = self._random.choice(list(self._exchange.markets.values()))
        listing = self._exchange.listing(market.condition_id)
        self.post_comment(
            f"{agent} on {market.question}",
            parent_entity_id=int(listing.listing_id),
            user_address=agent_wallet(agent),
            name=agent,
        )

    # --- activity -------------------------------------------------------------------------------------

    def _on_fills(self, fills: Sequence[Fill]) -> None:
        timestamp_s = self._clock_ms() // 1000
        for fill in fills:
            market = self._exchange.market_of(fill.taker_token_id)
            if market is None:
                continue
            self._transactions += 1
            if self._polybolt is not None:
                taker_price = micros_to_decimal(fill.taker_price_micros)
                self._polybolt.publish_market_price(fill.taker_token_id, taker_price, self._clock_ms())
            transaction = settlement_hash(self._transactions)
            listing = self._exchange.listing(market.condition_id)
            size = micros_to_decimal(fill.size_micros)
            rows = (
                ("trades", fill.taker_owner, fill.taker_token_id, fill.taker_side.value, fill.taker_price_micros),
                ("trades", fill.maker_owner, fill.maker_token_id, fill.maker_side.value, fill.maker_price_micros),
                (
                    "orders_matched",
                    fill.taker_owner,
                    fill.taker_token_id,
                    fill.taker_side.value,
                    fill.taker_price_micros,
                ),
            )
            for kind, owner, token, side, price_micros in rows:
                address = self._trader_address(owner)
                payload = ActivityPayload(
                    asset=token,
                    condition_id=market.condition_id,
                    side=side,
                    price=micros_to_decimal(price_micros),
                    size=size,
                    timestamp=timestamp_s,
                    proxy_wallet=agent_wallet(owner) if address is None else address,
                    transaction_hash=transaction,
                    outcome=market.outcome_of(token),
                    slug=listing.slug,
                    event_slug=listing.slug,
                    title=market.question,
                    name=owner if address is None else "",
                    pseudonym=owner if address is None else "",
                )
                self.published_activity.append(PublishedTrade(kind, payload))
                self._channel.publish("activity", kind, payload)
