"""The emulator's fixed set of US exchange instruments.

Sport-style symbols as the venue names its markets (the market slug), covering the shapes the venue lists
(venue notes: US exchange instruments): price_scale 100 with a 0.01 tick, price_scale 1000 with 0.005 and
0.001 ticks; hundredths of a contract (fractional scale 100, the venue's default since mid 2026) and whole
contracts; open, pre-open, suspended and expired (settled) states.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from types import MappingProxyType
from typing import Final

from polyinfra.core.us_instruments import UsInstrument, UsInstrumentState

__all__ = ["US_INSTRUMENTS"]


# symbol, description, league, price scale, tick, quantity scale, state, expiration date
_LISTING: Final = (
    ("tec-nfl-sbw-2026-02-08-kc", "Kansas City wins the Super Bowl", "NFL", 1000, "0.001", 100, "OPEN", "2026-02-08"),
    ("tec-nfl-sbw-2026-02-08-phi", "Philadelphia wins the Super Bowl", "NFL", 1000, "0.001", 100, "OPEN", "2026-02-08"),
    ("aec-mlb-nyy-bos-2026-04-10", "New York Yankees beat Boston", "MLB", 1000, "0.005", 100, "OPEN", "2026-04-10"),
    ("aec-atp-sinner-alcaraz-2026-07-12", "Sinner beats Alcaraz", "ATP", 100, "0.01", 100, "PREOPEN", "2026-07-12"),
    ("aec-nba-lal-bos-2026-01-15", "Los Angeles Lakers beat Boston", "NBA", 100, "0.01", 1, "SUSPENDED", "2026-01-15"),
    ("aec-nfl-buf-kc-2026-01-26", "Buffalo beats Kansas City", "NFL", 100, "0.01", 1, "EXPIRED", "2026-01-26"),
)

US_INSTRUMENTS: Final[tuple[UsInstrument, ...]] = tuple(
    UsInstrument(
        symbol=symbol,
        state=UsInstrumentState[state],
        price_scale=price_scale,
        quantity_scale=quantity_scale,
        tick_size=Decimal(tick),
        minimum_quantity=Decimal(1) / quantity_scale,
        description=description,
        settlement_currency="USD",
        settlement_price_scale=price_scale,
        expiration_date=date.fromisoformat(expires),
        metadata=MappingProxyType({"league": league}),
    )
    for symbol, description, league, price_scale, tick, quantity_scale, state, expires in _LISTING
)
