"""The curated public surface of ``polyinfra``."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version

import pytest

import polyinfra


def test_every_public_name_resolves() -> None:
    for name in polyinfra.__all__:
        assert getattr(polyinfra, name) is not None, name


def test_importing_polyinfra_does_not_load_the_network_stacks() -> None:
    code = "import sys, polyinfra; print(sorted(m for m in ('aiohttp', 'httpx', 'websockets') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_the_version_is_read_from_the_metadata_only_when_asked() -> None:
    code = "import sys, polyinfra; print('importlib.metadata' in sys.modules, polyinfra.__version__)"
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert shown.split() == ["False", version("polyinfra")]


def test_lazy_names_are_the_real_classes() -> None:
    from polyinfra.emulator.runner import Emulator  # noqa: PLC0415 - imported late on purpose: it is lazy

    assert polyinfra.Emulator is Emulator


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        polyinfra.NoSuchThing  # noqa: B018


def test_the_client_facade_and_the_trading_names_are_public() -> None:
    expected = {
        "Polymarket",
        "AsyncPolymarket",
        "OrderRequest",
        "PlacedOrder",
        "Balance",
        "Side",
        "TimeInForce",
        "SignatureType",
        "AssetType",
        "CancelResult",
        "OpenOrder",
        "OrderUpdate",
        "TradeUpdate",
        "TradingClient",
        "WalletConfig",
        "WalletRegistry",
        "InvalidSignatureError",
        "OrderRejectedError",
        "InsufficientBalanceError",
        "InsufficientLiquidityError",
        "MinimumSizeError",
        "TickSizeViolationError",
        "UnknownWalletError",
        "WrongContextError",
    }
    assert expected <= set(polyinfra.__all__)


def test_the_wallet_watch_and_its_events_are_public() -> None:
    assert {"WalletWatch", "WalletActivity", "LossEvent", "Continuity", "WatchSettings", "WatchStats"} <= set(
        polyinfra.__all__
    )
    assert polyinfra.WalletWatch.__module__ == "polyinfra.wallets.watch"
    assert polyinfra.LossEvent.__module__ == "polyinfra.core.wallet_watch_state"


def test_importing_the_facade_name_stays_lazy() -> None:
    code = (
        "import sys, polyinfra; polyinfra.__all__; "
        "print(sorted(m for m in ('aiohttp', 'httpx', 'websockets', 'polyinfra.client.blocking') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_the_blocking_client_does_not_load_the_emulator() -> None:
    code = "import sys, polyinfra; polyinfra.Polymarket; print('aiohttp' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "False"


def test_the_dropcopy_archiver_and_its_records_are_public_and_lazy() -> None:
    from polyinfra.core.us_dropcopy import UsExecution  # noqa: PLC0415 - imported late on purpose: it is lazy
    from polyinfra.record.dropcopy_archive import open_archive  # noqa: PLC0415
    from polyinfra.us.dropcopy import DropCopyArchiver  # noqa: PLC0415

    assert (polyinfra.DropCopyArchiver, polyinfra.open_archive, polyinfra.UsExecution) == (
        DropCopyArchiver,
        open_archive,
        UsExecution,
    )
    names = {"DropCopyArchive", "DropCopyStream", "UsTradeReport", "UsInstrumentChange", "UsPositionChange"}
    assert names | {"ChainLink", "LinkKind", "FencedOffError"} <= set(polyinfra.__all__)
    code = "import sys, polyinfra; print(sorted(m for m in ('grpc', 'sqlite3', 'google.protobuf') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
