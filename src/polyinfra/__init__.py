"""polyinfra: production-grade Python infrastructure for Polymarket.

Start with :class:`Polymarket` (blocking) or :class:`AsyncPolymarket` (async): market data,
trading and many wallets behind one object. The names below are the supported public API. The
pure domain model, the sans-I/O core and the error tree load eagerly; the clients and the emulator
(which pull in httpx, websockets and aiohttp) load on first use, so ``import polyinfra`` stays
cheap for code that only needs books.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from polyinfra.core.book_hash import book_hash, book_hash_matches, legacy_book_hash
from polyinfra.core.market_feed import FeedStats, MarketFeed
from polyinfra.errors import (
    ApiError,
    AuthError,
    BookHashMismatchError,
    CircuitOpenError,
    CursorRejectedError,
    FencedOffError,
    InsufficientBalanceError,
    InsufficientLiquidityError,
    InvalidNumberError,
    InvalidOrderError,
    InvalidSignatureError,
    InvalidTickSizeError,
    InvalidValueError,
    MalformedMessageError,
    MinimumSizeError,
    NotFoundError,
    OrderRejectedError,
    PaginationError,
    PolyinfraError,
    PriceRangeError,
    ProtocolError,
    RateLimitedError,
    RequestTimeoutError,
    ResyncRequiredError,
    TickSizeViolationError,
    TransportError,
    UnknownWalletError,
    WrongContextError,
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
from polyinfra.model.orders import SignatureType, TimeInForce
from polyinfra.model.trading_events import OrderUpdate, TradeUpdate

if TYPE_CHECKING:
    from polyinfra.client.async_client import AsyncPolymarket
    from polyinfra.client.blocking import BlockingLiveBooks, Polymarket
    from polyinfra.client.results import Balance, OrderRequest, PlacedOrder
    from polyinfra.clob.live_books import LiveBooks
    from polyinfra.clob.market_channel import MarketChannel
    from polyinfra.clob.rest import ClobRestClient, SyncClobRestClient
    from polyinfra.clob.trading import AssetType, BalanceAllowance, CancelResult, OpenOrder, TradingClient
    from polyinfra.core.us_dropcopy import (
        ChainLink,
        DropCopyStream,
        LinkKind,
        UsExecution,
        UsInstrumentChange,
        UsPositionChange,
        UsTradeReport,
    )
    from polyinfra.core.us_instruments import UsInstrument, UsInstrumentState
    from polyinfra.core.us_orders import UsOrderIntent, UsTimeInForce
    from polyinfra.core.wallet_watch_state import Continuity, LossEvent, WatchSettings, WatchStats
    from polyinfra.data.data_api import DataApiClient
    from polyinfra.data.gamma import GammaClient
    from polyinfra.emulator.faults import FaultConfig
    from polyinfra.emulator.runner import Emulator
    from polyinfra.live.live_data import LiveData
    from polyinfra.model.wallet_activity import WalletActivity
    from polyinfra.record.dropcopy_archive import DropCopyArchive, open_archive
    from polyinfra.us.client import UsExchangeClient
    from polyinfra.us.dropcopy import DropCopyArchiver
    from polyinfra.us.live_books import UsLiveBooks
    from polyinfra.us.order_entry import UsOrderEntry
    from polyinfra.us.order_stream import UsOrderStream
    from polyinfra.wallets.registry import WalletConfig, WalletRegistry
    from polyinfra.wallets.watch import WalletWatch

_LAZY = {
    "AsyncPolymarket": "polyinfra.client.async_client",
    "Polymarket": "polyinfra.client.blocking",
    "BlockingLiveBooks": "polyinfra.client.blocking",
    "Balance": "polyinfra.client.results",
    "OrderRequest": "polyinfra.client.results",
    "PlacedOrder": "polyinfra.client.results",
    "AssetType": "polyinfra.clob.trading",
    "BalanceAllowance": "polyinfra.clob.trading",
    "CancelResult": "polyinfra.clob.trading",
    "OpenOrder": "polyinfra.clob.trading",
    "TradingClient": "polyinfra.clob.trading",
    "WalletConfig": "polyinfra.wallets.registry",
    "WalletRegistry": "polyinfra.wallets.registry",
    "WalletWatch": "polyinfra.wallets.watch",
    "WalletActivity": "polyinfra.model.wallet_activity",
    "Continuity": "polyinfra.core.wallet_watch_state",
    "LossEvent": "polyinfra.core.wallet_watch_state",
    "WatchSettings": "polyinfra.core.wallet_watch_state",
    "WatchStats": "polyinfra.core.wallet_watch_state",
    "ClobRestClient": "polyinfra.clob.rest",
    "SyncClobRestClient": "polyinfra.clob.rest",
    "LiveBooks": "polyinfra.clob.live_books",
    "LiveData": "polyinfra.live.live_data",
    "GammaClient": "polyinfra.data.gamma",
    "DataApiClient": "polyinfra.data.data_api",
    "MarketChannel": "polyinfra.clob.market_channel",
    "Emulator": "polyinfra.emulator.runner",
    "FaultConfig": "polyinfra.emulator.faults",
    "UsExchangeClient": "polyinfra.us.client",
    "UsInstrument": "polyinfra.core.us_instruments",
    "UsInstrumentState": "polyinfra.core.us_instruments",
    "UsLiveBooks": "polyinfra.us.live_books",
    "DropCopyArchiver": "polyinfra.us.dropcopy",
    "DropCopyArchive": "polyinfra.record.dropcopy_archive",
    "open_archive": "polyinfra.record.dropcopy_archive",
    "DropCopyStream": "polyinfra.core.us_dropcopy",
    "UsExecution": "polyinfra.core.us_dropcopy",
    "UsTradeReport": "polyinfra.core.us_dropcopy",
    "UsInstrumentChange": "polyinfra.core.us_dropcopy",
    "UsPositionChange": "polyinfra.core.us_dropcopy",
    "ChainLink": "polyinfra.core.us_dropcopy",
    "LinkKind": "polyinfra.core.us_dropcopy",
    "UsOrderEntry": "polyinfra.us.order_entry",
    "UsOrderIntent": "polyinfra.core.us_orders",
    "UsOrderStream": "polyinfra.us.order_stream",
    "UsTimeInForce": "polyinfra.core.us_orders",
}

__all__ = [
    "ApiError",
    "AssetType",
    "AsyncPolymarket",
    "AuthError",
    "Balance",
    "BalanceAllowance",
    "BlockingLiveBooks",
    "BookEvent",
    "BookHashMismatchError",
    "BookUpdated",
    "CancelResult",
    "ChainLink",
    "CircuitOpenError",
    "ClobRestClient",
    "ConditionId",
    "Continuity",
    "CursorRejectedError",
    "DataApiClient",
    "Depth",
    "DropCopyArchive",
    "DropCopyArchiver",
    "DropCopyStream",
    "Emulator",
    "FaultConfig",
    "FeeSchedule",
    "FeedStats",
    "FencedOffError",
    "FillEstimate",
    "GammaClient",
    "InsufficientBalanceError",
    "InsufficientLiquidityError",
    "InvalidNumberError",
    "InvalidOrderError",
    "InvalidSignatureError",
    "InvalidTickSizeError",
    "InvalidValueError",
    "Level",
    "LinkKind",
    "LiveBooks",
    "LiveData",
    "LossEvent",
    "MalformedMessageError",
    "MarketChannel",
    "MarketFeed",
    "MarketInfo",
    "MarketListed",
    "MarketResolved",
    "MinimumSizeError",
    "NotFoundError",
    "OpenOrder",
    "OrderBook",
    "OrderRejectedError",
    "OrderRequest",
    "OrderUpdate",
    "OutcomeToken",
    "PaginationError",
    "PlacedOrder",
    "PolyinfraError",
    "Polymarket",
    "PriceRangeError",
    "ProtocolError",
    "RateLimitedError",
    "RequestTimeoutError",
    "ResyncRequiredError",
    "Side",
    "SignatureType",
    "SyncClobRestClient",
    "SyncState",
    "SyncStateChanged",
    "TickSize",
    "TickSizeChanged",
    "TickSizeViolationError",
    "TimeInForce",
    "TokenId",
    "TradePrinted",
    "TradeUpdate",
    "TradingClient",
    "TransportError",
    "UnknownWalletError",
    "UsExchangeClient",
    "UsExecution",
    "UsInstrument",
    "UsInstrumentChange",
    "UsInstrumentState",
    "UsLiveBooks",
    "UsOrderEntry",
    "UsOrderIntent",
    "UsOrderStream",
    "UsPositionChange",
    "UsTimeInForce",
    "UsTradeReport",
    "WalletActivity",
    "WalletConfig",
    "WalletRegistry",
    "WalletWatch",
    "WatchSettings",
    "WatchStats",
    "WrongContextError",
    "__version__",
    "book_hash",
    "book_hash_matches",
    "legacy_book_hash",
    "micros_to_decimal",
    "open_archive",
    "parse_micros",
    "to_micros",
]


def _installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415 (about 30 ms: only when asked)

    try:
        return version("polyinfra")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


def __getattr__(name: str) -> Any:
    # __version__ is looked up on first use too: reading the installed metadata costs about 50 ms,
    # a third of `import polyinfra`, which every command-line start pays.
    if name == "__version__":
        value: Any = _installed_version()
    elif (module := _LAZY.get(name)) is not None:
        value = getattr(importlib.import_module(module), name)
    else:
        raise AttributeError(f"module 'polyinfra' has no attribute {name!r}")
    globals()[name] = value
    return value
