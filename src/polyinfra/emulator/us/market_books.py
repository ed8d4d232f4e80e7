"""The emulator's US market as the books its market-data service serves: each update rendered from the
matching engines when it is sent (the whole book to the subscribed depth, aggregated by price or one entry
per resting order, the instrument's scales and state, the last trade, the emulator's time)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from polyinfra.core.us_instruments import UsInstrument
from polyinfra.emulator.us.market import UsMarket
from polyinfra.wire.us.polymarket.v1 import marketdatasubscription_pb2 as md

__all__ = ["MarketBooks"]


class MarketBooks:
    """``market``'s books, as a :class:`~polyinfra.emulator.us.market_data.ServedBooks`."""

    def __init__(self, market: UsMarket) -> None:
        self._market = market

    @property
    def instruments(self) -> Sequence[UsInstrument]:
        return self._market.instruments

    def instrument(self, symbol: str) -> UsInstrument | None:
        return self._market.instrument(symbol)

    def subscribe(self, listener: Callable[[str], None]) -> Callable[[], None]:
        return self._market.subscribe(listener)

    def update(self, symbol: str, depth: int, *, unaggregated: bool = False) -> md.MarketDataUpdate:
        """The symbol's book now, to ``depth``, as the venue sends it."""
        instrument = self._market.instrument(symbol)
        assert instrument is not None  # only listed symbols are ever subscribed
        bids, offers = (self._market.orders if unaggregated else self._market.levels)(symbol, depth)
        message = md.MarketDataUpdate(
            symbol=symbol,
            bids=[md.BookEntry(px=px, qty=qty) for px, qty in bids],
            offers=[md.BookEntry(px=px, qty=qty) for px, qty in offers],
            state=f"INSTRUMENT_STATE_{instrument.state.name}",
            price_scale=instrument.price_scale,
            quantity_scale=instrument.quantity_scale,
        )
        last_trade = self._market.last_trade(symbol)
        if last_trade is not None:
            message.stats.last_trade_px, message.stats.last_trade_qty = last_trade
        message.transact_time.GetCurrentTime()
        return message
