"""``polyinfra wallets pnl``, ``wallets signals`` and ``wallets whales``: what the Data API's rows say about
one wallet, a group of wallets, and one market's holders.

* ``pnl ADDR``: the wallet's ledger built from its activity (:func:`~polyinfra.wallets.wallet_pnl.wallet_pnl`:
  seeded from positions as of the history's start when the history does not reach back far enough), open
  positions marked at the CLOB's midpoints, the realized series as a terminal chart (``--png FILE`` draws
  it with the optional ``plot`` extra), and the drift against the venue's own ``/v2/user-pnl`` series
  (:func:`~polyinfra.core.pnl_reconciliation.reconcile`);
* ``signals ADDR...``: markets where enough of the given wallets bought the same outcome inside the window
  (:func:`~polyinfra.core.consensus.consensus_signals`);
* ``whales --market ID``: the market's top holders by shares and by P&L
  (:func:`~polyinfra.core.whale_radar.top_holders`), the day's leaderboard and its biggest winners.

Each reads through the client the ``wallets`` group's factory makes and closes it when done; the work
after the reads is the pure core's. ``--lines`` prints exact ``name value`` lines instead of the screen.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from polyinfra.cli.options import (
    COMMAND_LOG_LEVEL,
    EMULATOR_REST_URL,
    LogLevelOption,
    RestOption,
    configure_command_logging,
    one_line_errors,
    rest_client,
)
from polyinfra.cli.wallet_commands import VENUE_DATA_URL, wallet_addresses
from polyinfra.errors import InvalidValueError
from polyinfra.model.numbers import decimal_text

if TYPE_CHECKING:
    from decimal import Decimal

    from rich.console import RenderableType

    from polyinfra.cli.wallet_commands import ClientFactory
    from polyinfra.core.consensus import ConsensusSignal
    from polyinfra.core.pnl_reconciliation import Reconciliation
    from polyinfra.core.whale_radar import HolderRow
    from polyinfra.data.data_api import DataApiClient
    from polyinfra.wallets.wallet_pnl import WalletPnl
    from polyinfra.wire.data_api import V2BiggestWinner, V2LeaderboardEntry

__all__ = ["register_insight_commands"]

_DataUrlOption = Annotated[str, typer.Option("--data-url", metavar="URL", help="The Data API's base URL.")]
_LinesOption = Annotated[bool, typer.Option("--lines", help="Print exact 'name value' lines instead of the screen.")]


def register_insight_commands(wallets_app: typer.Typer, client_factory: ClientFactory) -> None:
    """Add ``pnl``, ``signals`` and ``whales`` to the ``wallets`` group."""

    @wallets_app.command("pnl")
    def pnl(
        address: Annotated[str, typer.Argument(metavar="ADDR", help="The proxy wallet's address.")],
        *,
        data_url: _DataUrlOption = VENUE_DATA_URL,
        rest: RestOption = EMULATOR_REST_URL,
        png: Annotated[
            Path | None, typer.Option("--png", metavar="FILE", help="Also draw the series to FILE (the plot extra).")
        ] = None,
        lines: _LinesOption = False,
        log_level: LogLevelOption = COMMAND_LOG_LEVEL,
    ) -> None:
        """One wallet's P&L from its activity, checked against the venue's.

        Realized by source, open positions at the CLOB's mids, the realized series as a chart, and the drift
        against the venue's own /v2/user-pnl series. A history that starts after the wallet's first trade is
        opened with its positions as of that start, and says so."""
        configure_command_logging(log_level)
        with one_line_errors("wallets pnl"):
            wallet = _address(address)
            found, marks = asyncio.run(_wallet_pnl(client_factory(data_url), rest, wallet))
            ledger, reconciliation = found.ledger, found.reconciliation
            valuation = ledger.valuation(marks.get)
            series = ledger.realized_series()
            if png is not None:
                from polyinfra.cli.pnl_chart import write_png

                write_png(series, png, title=f"realized P&L of {wallet[:10]}")
            if lines:
                from polyinfra.cli.wallet_pnl_view import pnl_lines

                for line in [*pnl_lines(wallet, valuation), *_start_lines(found), *_drift_lines(reconciliation)]:
                    typer.echo(line)
                return
            from rich.console import Console, Group
            from rich.text import Text

            from polyinfra.cli.wallet_pnl_view import pnl_screen

            start = Text("\n".join(_start_lines(found)), style="yellow")
            drift = Text("\n".join(_drift_lines(reconciliation)), style="green" if reconciliation.ok else "yellow")
            Console().print(Group(pnl_screen(wallet, valuation, series), start, drift))

    @wallets_app.command("signals")
    def signals(
        addresses: Annotated[
            list[str] | None, typer.Argument(metavar="ADDR...", help="The wallets whose buys vote.")
        ] = None,
        *,
        file: Annotated[
            Path | None,
            typer.Option("--file", metavar="FILE", help="Also the addresses in FILE, one a line (# comments)."),
        ] = None,
        data_url: _DataUrlOption = VENUE_DATA_URL,
        min_wallets: Annotated[int, typer.Option("--min-wallets", min=1, help="Voters needed on one outcome.")] = 3,
        agreement: Annotated[
            float, typer.Option("--agreement", min=0.0, max=1.0, help="Least share of the market's voters agreeing.")
        ] = 0.6,
        window_s: Annotated[int, typer.Option("--window-s", min=1, help="Only buys this recent count.")] = 3_600,
        min_usd: Annotated[
            float, typer.Option("--min-usd", min=0.0, help="Least a voter must have bought in the window (USDC).")
        ] = 0.0,
        lines: _LinesOption = False,
        log_level: LogLevelOption = COMMAND_LOG_LEVEL,
    ) -> None:
        """Consensus: outcomes enough of the wallets bought.

        Markets where at least --min-wallets of the wallets bought the same outcome within --window-s, and
        they are at least --agreement of the market's voters."""
        from decimal import Decimal

        configure_command_logging(log_level)
        with one_line_errors("wallets signals"):
            wallets = wallet_addresses(addresses or [], file)
            found = asyncio.run(
                _signals(
                    client_factory(data_url),
                    wallets,
                    now_s=int(time.time()),
                    window_s=window_s,
                    min_wallets=min_wallets,
                    agreement=Decimal(str(agreement)),
                    min_usd=Decimal(str(min_usd)),
                )
            )
            _show([_signal_line(signal) for signal in found] or ["no consensus"], lines, _signal_table(found))

    @wallets_app.command("whales")
    def whales(
        *,
        market: Annotated[str, typer.Option("--market", metavar="ID", help="The market's condition id.")],
        data_url: _DataUrlOption = VENUE_DATA_URL,
        top: Annotated[int, typer.Option("--top", min=1, max=100, help="Rows per ranking.")] = 10,
        lines: _LinesOption = False,
        log_level: LogLevelOption = COMMAND_LOG_LEVEL,
    ) -> None:
        """A market's whales, the leaderboard and the biggest winners.

        Top holders by shares and by P&L; the day's leaderboard by P&L and its biggest winners."""
        from polyinfra.core.whale_radar import HolderRank, top_holders

        configure_command_logging(log_level)
        with one_line_errors("wallets whales"):
            holders, board, winners = asyncio.run(_whales(client_factory(data_url), market.lower()))
            by_size = top_holders(holders, by=HolderRank.SIZE, limit=top)
            by_pnl = top_holders(holders, by=HolderRank.PNL, limit=top)
            text = [
                *(f"holder {row.wallet} {row.outcome_index} {row.amount} {_or_dash(row.pnl)}" for row in by_size),
                *(f"pnl {row.wallet} {row.outcome_index} {row.pnl}" for row in by_pnl),
                *(f"leader {entry.rank} {entry.proxy_wallet} {_or_dash(entry.pnl_usdc)}" for entry in board[:top]),
                *(f"winner {w.rank} {w.proxy_wallet} {w.condition_id} {w.pnl_usdc}" for w in winners[:top]),
            ]
            _show(text or ["no holders"], lines, _whale_tables(by_size, by_pnl, board[:top], winners[:top]))


def _address(text: str) -> str:
    return wallet_addresses([text], None)[0]


async def _wallet_pnl(client: DataApiClient, rest_url: str, wallet: str) -> tuple[WalletPnl, dict[str, Decimal]]:
    """The wallet's P&L from its activity (seeded when the history starts late), and the mids of the tokens
    still held (a token without a mid stays unmarked)."""
    from polyinfra.wallets.wallet_pnl import wallet_pnl

    async with client:
        found = await wallet_pnl(client, wallet)
    tokens = sorted({p.token_id for p in found.ledger.positions() if p.token_id is not None})
    marks: dict[str, Decimal] = {}
    if tokens:
        async with rest_client(rest_url) as rest:
            marks = await rest.get_midpoints(tokens)
    return found, marks


def _start_lines(found: WalletPnl) -> list[str]:
    """Where the ledger starts: nothing when from the wallet's first row; otherwise the positions it was
    seeded with as of the history's start, and the venue's realized P&L before it."""
    if not found.from_positions:
        return []
    when = datetime.fromtimestamp(found.history_start_s, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    lines = [
        f"from_positions as of {when} ({found.history_start_s})",
        f"seeded {len(found.seeded)} positions costing {decimal_text(found.seeded_cost)}",
    ]
    before = found.venue_before
    if before is not None and before.realized_market is not None:
        lines.append(f"venue_realized_before {decimal_text(before.realized_market)}")
    return lines


def _drift_lines(reconciliation: Reconciliation) -> list[str]:
    """One line per compared component: its worst drift against the venue's series."""
    if not reconciliation.drifts:
        return ["venue P&L series: nothing to compare"]
    found = []
    for name in sorted({d.component for d in reconciliation.drifts}):
        worst = reconciliation.worst(name)
        if worst is not None:
            found.append(f"drift {name} {worst.drift} at {worst.timestamp_s}")
    found.append(f"reconciled {'ok' if reconciliation.ok else 'DRIFT'} (tolerance {reconciliation.tolerance})")
    return found


async def _signals(
    client: DataApiClient,
    wallets: list[str],
    *,
    now_s: int,
    window_s: int,
    min_wallets: int,
    agreement: Decimal,
    min_usd: Decimal,
) -> list[ConsensusSignal]:
    from polyinfra.core.consensus import consensus_signals, stakes_from_activity
    from polyinfra.core.wallet_activity_rows import activity_from_v2

    async with client:
        rows = [
            activity_from_v2(row)
            for wallet in wallets
            for row in await client.activity_v2(wallet, start_s=now_s - window_s)
        ]
    return consensus_signals(
        stakes_from_activity(rows),
        now_s=now_s,
        window_s=window_s,
        min_wallets=min_wallets,
        min_agreement=agreement,
        min_stake_usdc=min_usd,
    )


def _signal_line(signal: ConsensusSignal) -> str:
    return (
        f"signal {signal.condition_id} {signal.outcome_index} voters {signal.voters}/{signal.all_voters}"
        f" agreement {signal.agreement:.2f} stake {signal.stake_usdc}"
    )


def _signal_table(found: list[ConsensusSignal]) -> RenderableType:
    from rich.table import Table

    table = Table(title=f"Consensus signals ({len(found)})")
    for column in ("market", "outcome", "voters", "agreement", "stake USDC"):
        table.add_column(column, justify="left" if column == "market" else "right")
    for signal in found:
        table.add_row(
            signal.condition_id,
            str(signal.outcome_index),
            f"{signal.voters}/{signal.all_voters}",
            f"{signal.agreement:.0%}",
            f"{signal.stake_usdc:,.2f}",
        )
    return table


async def _whales(
    client: DataApiClient, market: str
) -> tuple[list[HolderRow], list[V2LeaderboardEntry], list[V2BiggestWinner]]:
    from polyinfra.core.from_wire import holders_from_v2

    if not market:
        raise InvalidValueError("--market needs a condition id")
    async with client:
        holders = holders_from_v2(await client.holders_v2([market]), condition_id=market)
        board = await client.leaderboard_v2(order_by="PNL")
        winners = await client.biggest_winners()
    return holders, board, winners


def _whale_tables(
    by_size: list[HolderRow],
    by_pnl: list[HolderRow],
    board: list[V2LeaderboardEntry],
    winners: list[V2BiggestWinner],
) -> RenderableType:
    from rich.console import Group
    from rich.table import Table

    tables = []
    for title, rows in (("Top holders by shares", by_size), ("Top holders by P&L", by_pnl)):
        table = Table(title=title)
        for column in ("wallet", "outcome", "shares", "P&L"):
            table.add_column(column, justify="left" if column == "wallet" else "right")
        for row in rows:
            table.add_row(row.wallet, str(row.outcome_index), f"{row.amount:,.2f}", _or_dash(row.pnl))
        tables.append(table)
    leaders = Table(title="Leaderboard (day, by P&L)")
    for column in ("rank", "wallet", "P&L"):
        leaders.add_column(column, justify="left" if column == "wallet" else "right")
    for entry in board:
        leaders.add_row(str(entry.rank), entry.proxy_wallet, _or_dash(entry.pnl_usdc))
    biggest = Table(title="Biggest winners (day, best resolved position)")
    for column in ("rank", "wallet", "market", "P&L"):
        biggest.add_column(column, justify="left" if column in ("wallet", "market") else "right")
    for winner in winners:
        biggest.add_row(str(winner.rank), winner.proxy_wallet, winner.condition_id, str(winner.pnl_usdc))
    return Group(*tables, leaders, biggest)


def _or_dash(value: Decimal | None) -> str:
    return "-" if value is None else str(value)


def _show(text: list[str], lines: bool, screen: RenderableType) -> None:
    if lines:
        for line in text:
            typer.echo(line)
        return
    from rich.console import Console

    Console().print(screen)
