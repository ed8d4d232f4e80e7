"""``polyinfra wallets track``: many wallets' fills, gap-free, as a live table or JSON lines.

The commands are built around a *client factory* (the Data API base URL in, a
:class:`~polyinfra.data.data_api.DataApiClient` out, closed when the command ends), so they run over the
venue's Data API or the emulator's. ``wallets pnl``, ``signals`` and ``whales`` live in
:mod:`~polyinfra.cli.wallet_insight_commands`. :func:`wallet_table` and :func:`wallet_lines` are
plain functions of :meth:`WalletWatch.stats() <polyinfra.wallets.watch.WalletWatch.stats>`, so a
dashboard or the demo can show the same view. rich and the watch are imported when the command runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Final, TextIO

import msgspec
import typer

from polyinfra.cli.options import (
    METRICS_HOST,
    STREAM_LOG_LEVEL,
    DurationOption,
    LogLevelOption,
    MetricsHostOption,
    MetricsPortOption,
    RefreshOption,
    configure_command_logging,
    metrics_endpoint,
    one_line_errors,
)
from polyinfra.errors import InvalidValueError

if TYPE_CHECKING:
    from rich.table import Table

    from polyinfra.core.wallet_watch_state import WatchEvent, WatchStats
    from polyinfra.data.data_api import DataApiClient
    from polyinfra.model.wallet_activity import WalletActivitySource
    from polyinfra.record.sink import Sink

__all__ = ["ClientFactory", "register_wallet_commands", "track_wallets", "wallet_lines", "wallet_table"]

ClientFactory = Callable[[str], "DataApiClient"]
"""The Data API base URL in, the client every ``wallets`` command reads through out."""

VENUE_DATA_URL: Final = "https://data-api.polymarket.com"
_encode = msgspec.json.Encoder(decimal_format="string").encode

_TRACK_EPILOG = (
    "Every fill of every wallet is shown once, whether the live push or the Data API brought it first. "
    "Where continuity cannot be proven (a pagination ceiling, a cursor the venue dropped, an outage longer "
    "than the history it keeps) a loss event names the wallet and the span instead. With --store the "
    "watermarks, cursors, delivered fills and the requests of the budget's window persist, so a restart "
    "resumes where it stopped and does not spend the window's budget again.\n\n"
    "--jsonl prints one JSON object per line: type fill (the row, numbers as decimal strings), type loss "
    "(wallet, from_s, to_s, reason) and, every --refresh-s, type wallet (the table's row).\n\n"
    "Exit codes: 0 done, 1 the source or the store failed, 2 bad input."
)


def register_wallet_commands(app: typer.Typer, client_factory: ClientFactory) -> None:
    """Add the ``wallets`` group to ``app``, reading through the clients ``client_factory`` makes."""
    from polyinfra.cli.wallet_insight_commands import register_insight_commands

    wallets_app = typer.Typer(
        help="Wallets: fills gap-free, P&L, consensus, whales.",
        no_args_is_help=True,
    )

    @wallets_app.command("track", epilog=_TRACK_EPILOG)
    def track(
        *,
        addresses: Annotated[
            list[str] | None, typer.Argument(metavar="ADDR...", help="Proxy wallet addresses to track.")
        ] = None,
        file: Annotated[
            Path | None,
            typer.Option("--file", metavar="FILE", help="Also track the addresses in FILE, one a line (# comments)."),
        ] = None,
        data_url: Annotated[
            str, typer.Option("--data-url", metavar="URL", help="The Data API's base URL.")
        ] = VENUE_DATA_URL,
        store: Annotated[
            str | None,
            typer.Option(
                "--store",
                metavar="URL",
                help="Keep the watch's state in a recorder sink: sqlite:///PATH or postgresql://...",
            ),
        ] = None,
        budget_rps: Annotated[
            float,
            typer.Option("--budget-rps", min=0.1, help="Data API requests per second across all wallets."),
        ] = 10.0,
        since_s: Annotated[
            int | None,
            typer.Option(
                "--since", metavar="UNIX_S", help="Where wallets without stored progress start (default: now)."
            ),
        ] = None,
        jsonl: Annotated[bool, typer.Option("--jsonl", help="Print JSON lines instead of the table.")] = False,
        duration: DurationOption = 0.0,
        refresh_s: RefreshOption = 1.0,
        log_level: LogLevelOption = STREAM_LOG_LEVEL,
        metrics_port: MetricsPortOption = None,
        metrics_host: MetricsHostOption = METRICS_HOST,
    ) -> None:
        """Track wallets' fills gap-free: a live table, or JSON lines.

        The table shows per wallet its fills, last fill, watermark age and continuity.
        """
        configure_command_logging(log_level)
        with one_line_errors("wallets track"), metrics_endpoint("wallets track", metrics_port, metrics_host):
            wallets = wallet_addresses(addresses or [], file)
            asyncio.run(
                _track(
                    client_factory(data_url),
                    wallets,
                    store_url=store,
                    budget_rps=budget_rps,
                    since_s=since_s,
                    jsonl=jsonl,
                    duration_s=duration,
                    refresh_s=refresh_s,
                )
            )

    register_insight_commands(wallets_app, client_factory)
    app.add_typer(wallets_app, name="wallets")


def wallet_addresses(addresses: Sequence[str], file: Path | None) -> list[str]:
    """The addresses given and those in ``file``, lower case, each once, checked to be addresses."""
    given = list(addresses)
    if file is not None:
        try:
            text = file.read_text()
        except OSError as exc:
            raise InvalidValueError(f"cannot read the wallet file: {exc.strerror}", path=str(file)) from None
        given += [line.split("#", 1)[0].strip() for line in text.splitlines()]
    wallets = list(dict.fromkeys(address.strip().lower() for address in given if address.strip()))
    if not wallets:
        raise InvalidValueError("give wallet addresses, or --file with one a line")
    for wallet in wallets:
        if len(wallet) != 42 or not wallet.startswith("0x") or not all(c in "0123456789abcdef" for c in wallet[2:]):
            raise InvalidValueError("not a wallet address (0x and 40 hex digits)", address=wallet[:60])
    return wallets


async def _track(
    client: DataApiClient,
    wallets: list[str],
    *,
    store_url: str | None,
    budget_rps: float,
    since_s: int | None,
    jsonl: bool,
    duration_s: float,
    refresh_s: float,
) -> None:
    from rich.console import Console
    from rich.live import Live

    from polyinfra.record.sink_urls import open_sink

    sink = None if store_url is None else open_sink(store_url)
    run = functools.partial(
        track_wallets, client, wallets, sink=sink, budget_rps=budget_rps, since_s=since_s, duration_s=duration_s,
        refresh_s=refresh_s,
    )  # fmt: skip
    try:
        if jsonl:
            await run(out=sys.stdout)
        else:
            with Live(console=Console(), auto_refresh=False) as screen:
                await run(on_stats=lambda stats: screen.update(wallet_table(stats, time.time()), refresh=True))
    finally:
        await client.aclose()
        if sink is not None:
            await sink.close()


async def track_wallets(
    source: WalletActivitySource,
    wallets: list[str],
    *,
    sink: Sink | None,
    budget_rps: float,
    since_s: int | None,
    duration_s: float,
    refresh_s: float,
    out: TextIO | None = None,
    on_stats: Callable[[WatchStats], None] | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Run the watch for ``duration_s`` (0: until cancelled): every event as a JSON line on ``out``
    (if given), and every ``refresh_s`` the stats to ``on_stats`` and as ``wallet`` lines on ``out``."""
    from polyinfra.wallets.watch import WalletWatch

    watch = WalletWatch(source, wallets, store=sink, budget_rps=budget_rps, since_s=since_s, clock=clock, sleep=sleep)
    async with watch:

        async def events() -> None:
            async for event in watch:
                if out is not None:
                    out.write(event_line(event) + "\n")
                    out.flush()

        async def report() -> None:
            while True:
                await sleep(refresh_s)
                stats = watch.stats()
                if on_stats is not None:
                    on_stats(stats)
                if out is not None:
                    out.writelines(line + "\n" for line in wallet_lines(stats, clock()))
                    out.flush()

        tasks = [asyncio.create_task(events()), asyncio.create_task(report())]
        try:
            if duration_s > 0:
                await sleep(duration_s)
            else:
                await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            for task in tasks:
                if not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]


def event_line(event: WatchEvent) -> str:
    """A fill or a loss event as one JSON object (``type`` first)."""
    from polyinfra.core.wallet_watch_state import LossEvent

    kind = "loss" if isinstance(event, LossEvent) else "fill"
    return _encode({"type": kind, **msgspec.structs.asdict(event)}).decode()


def _age(now_s: float, then_s: int | None) -> float | None:
    return None if then_s is None else round(max(0.0, now_s - then_s), 1)


def wallet_lines(stats: WatchStats, now_s: float) -> list[str]:
    """The table's rows as JSON objects of ``type`` ``wallet``."""
    return [
        _encode(
            {
                "type": "wallet",
                "wallet": wallet.wallet,
                "fills": wallet.fills,
                "last_fill_s": wallet.last_fill_s,
                "watermark_s": wallet.watermark_s,
                "watermark_age_s": _age(now_s, wallet.watermark_s),
                "continuity": wallet.continuity.value,
                "losses": wallet.losses,
                "requests": wallet.requests,
            }
        ).decode()
        for wallet in stats.wallets
    ]


def wallet_table(stats: WatchStats, now_s: float) -> Table:
    """The watch as a table: one row per wallet, the budget in the caption."""
    from rich.table import Table

    table = Table(title=f"Tracked wallets ({len(stats.wallets)})")
    for column in ("wallet", "fills", "last fill age s", "watermark age s", "continuity", "losses"):
        table.add_column(column, justify="left" if column in ("wallet", "continuity") else "right")
    styles = {"running": "green", "degraded": "yellow", "possible-data-loss": "bold red"}
    for wallet in sorted(stats.wallets, key=lambda row: (-row.fills, row.wallet)):
        last = _age(now_s, wallet.last_fill_s)
        table.add_row(
            wallet.wallet,
            str(wallet.fills),
            "-" if last is None else f"{last:.0f}",
            f"{_age(now_s, wallet.watermark_s):.0f}",
            f"[{styles[wallet.continuity.value]}]{wallet.continuity.value}[/]",
            str(wallet.losses),
        )
    table.caption = (
        f"requests {stats.requests_in_window}/{stats.budget_per_window} per {stats.budget_window_s:g} s"
        f" ({stats.requests} in all); duplicates dropped {stats.duplicates}; queued {stats.queued}"
    )
    return table
