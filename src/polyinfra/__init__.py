"""polyinfra: production-grade Python infrastructure for Polymarket.

The names below are the supported public API. The pure domain model, the sans-I/O core and the
error tree load eagerly; the clients and the emulator (which pull in httpx, websockets and
aiohttp) load on first use, so ``import polyinfra`` stays cheap for code that only needs books.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from polyinfra.core.book_hash import book_hash, book_hash_matches, legacy_book_hash
from polyinfra.core.market_feed import FeedStats, MarketFeed
from polyinfra.errors import (
    ApiError,
    BookHashMismatchError,
    InvalidNumberError,
    InvalidTickSizeError,
    InvalidValueError,
    MalformedMessageError,
    PolyinfraError,
    ProtocolError,
    ResyncRequiredError,
    TransportError,
)
from polyinfra.model.book import Depth, FillEstimate, Level, OrderBook
from polyinfra.model.events import (
    BookEvent,
    BookUpdated,
    MarketListed,
    MarketResolved,
    SyncState,
    SyncStateChanged,
    TickSizeChanged,
    TradePrinted,
)
from polyinfra.model.ids import ConditionId, TokenId
from polyinfra.model.market import FeeSchedule, MarketInfo, OutcomeToken
from polyinfra.model.numbers import Side, TickSize, micros_to_decimal, parse_micros, to_micros

if TYPE_CHECKING:
    from polyinfra.clob.live_books import LiveBooks
    from polyinfra.clob.market_channel import MarketChannel
    from polyinfra.clob.rest import ClobRestClient, SyncClobRestClient
    from polyinfra.emulator.faults import FaultConfig
    from polyinfra.emulator.runner import Emulator

try:
    __version__ = version("polyinfra")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

_LAZY = {
    "ClobRestClient": "polyinfra.clob.rest",
    "SyncClobRestClient": "polyinfra.clob.rest",
    "LiveBooks": "polyinfra.clob.live_books",
    "MarketChannel": "polyinfra.clob.market_channel",
    "Emulator": "polyinfra.emulator.runner",
    "FaultConfig": "polyinfra.emulator.faults",
}

__all__ = [
    "ApiError",
    "BookEvent",
    "BookHashMismatchError",
    "BookUpdated",
    "ClobRestClient",
    "ConditionId",
    "Depth",
    "Emulator",
    "FaultConfig",
    "FeeSchedule",
    "FeedStats",
    "FillEstimate",
    "InvalidNumberError",
    "InvalidTickSizeError",
    "InvalidValueError",
    "Level",
    "LiveBooks",
    "MalformedMessageError",
    "MarketChannel",
    "MarketFeed",
    "MarketInfo",
    "MarketListed",
    "MarketResolved",
    "OrderBook",
    "OutcomeToken",
    "PolyinfraError",
    "ProtocolError",
    "ResyncRequiredError",
    "Side",
    "SyncClobRestClient",
    "SyncState",
    "SyncStateChanged",
    "TickSize",
    "TickSizeChanged",
    "TokenId",
    "TradePrinted",
    "TransportError",
    "__version__",
    "book_hash",
    "book_hash_matches",
    "legacy_book_hash",
    "micros_to_decimal",
    "parse_micros",
    "to_micros",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'polyinfra' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
