"""``polyinfra wallets pnl``, ``signals`` and ``whales`` in process over the emulator's Data API and CLOB
(the commands run their own event loop, so they run in a thread beside the emulator's): their exact lines
against the emulator's ground truth (its ledger)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import httpx
from typer.testing import CliRunner, Result

from polyinfra.cli.main import app
from polyinfra.core.wallet_activity_rows import activity_from_v2
from polyinfra.core.wallet_ledger import WalletLedger
from polyinfra.data.data_api import DataApiClient
from polyinfra.emulator.live.rtds_sources import agent_wallet
from polyinfra.emulator.runner import Emulator
from polyinfra.model.numbers import MICROS, Side
from tests.integration.conftest import EmulatorFactory
from tests.integration.wallet_pnl_steps import SteppedClock, trade_script


async def _invoke(*arguments: str) -> Result:
    return await asyncio.to_thread(CliRunner().invoke, app, list(arguments))


async def _crowd(emulator_factory: EmulatorFactory) -> Emulator:
    emulator = await emulator_factory(markets=2, crowd_wallets=30)
    for _ in range(90):
        emulator.simulator.step()
        emulator.crowd.step()
    return emulator


async def test_whales_ranks_the_markets_holders_as_the_ledger_holds_them(emulator_factory: EmulatorFactory) -> None:
    emulator = await _crowd(emulator_factory)
    market = next(iter(emulator.exchange.markets.values()))
    held = sorted(
        (
            (position.size_micros, book.wallet)
            for book in emulator.data_apis.ledger.books(until_ms=2**62)
            for position in book.positions.values()
            if position.condition_id == market.condition_id and position.size_micros > 0
        ),
        reverse=True,
    )
    assert held
    result = await _invoke(
        "wallets", "whales", "--market", market.condition_id, "--data-url", emulator.urls["data"], "--lines"
    )
    assert result.exit_code == 0, result.output
    holders = [line.split() for line in result.output.splitlines() if line.startswith("holder ")]
    assert holders[0][1] == held[0][1]
    assert Decimal(holders[0][3]) == Decimal(held[0][0]) / MICROS
    assert [Decimal(row[3]) for row in holders] == sorted((Decimal(row[3]) for row in holders), reverse=True)
    assert any(line.startswith("leader 1 ") for line in result.output.splitlines())
    screen = await _invoke("wallets", "whales", "--market", market.condition_id, "--data-url", emulator.urls["data"])
    assert screen.exit_code == 0, screen.output
    for title in ("Top holders by shares", "Top holders by P&L", "Leaderboard", "Biggest winners"):
        assert title in screen.output


async def test_pnl_prints_the_ledger_of_the_wallets_activity_and_its_drift(
    emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    emulator = await _crowd(emulator_factory)
    async with DataApiClient(emulator.urls["data"]) as client:
        for member in emulator.crowd.members:
            wallet = agent_wallet(member).lower()
            ledger = WalletLedger(wallet)
            ledger.apply_all(activity_from_v2(row) for row in await client.activity_v2(wallet, start_s=0))
            if ledger.positions():
                break
        else:
            raise AssertionError("no crowd wallet holds a position")
    result = await _invoke(
        "wallets", "pnl", wallet, "--data-url", emulator.urls["data"], "--rest", emulator.urls["rest"], "--lines",
        "--png", str(tmp_path / "pnl.png"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = dict(line.split(" ", 1) for line in result.output.splitlines())
    assert Decimal(lines["realized_market"]) == ledger.realized.realized_market
    assert lines["reconciled"].startswith("ok")  # the emulator's /v2/user-pnl comes from the same fills
    positions = [line for line in result.output.splitlines() if line.startswith("position ")]
    assert len(positions) == len(ledger.positions())
    assert "value -" not in result.output  # every held token marked at its mid
    assert (tmp_path / "pnl.png").read_bytes().startswith(b"\x89PNG")


async def test_pnl_of_a_wallet_that_received_tokens_by_transfer_starts_from_its_positions(
    emulator_factory: EmulatorFactory,
) -> None:
    clock = SteppedClock()
    emulator = await emulator_factory(clock_ms=clock)
    emulator.data_apis.view.clock_ms = clock
    trade_script(emulator, clock, "trader-sender", [(Side.BUY, 0, 20)])
    sender, receiver = agent_wallet("trader-sender").lower(), agent_wallet("trader-received").lower()
    yes = next(iter(emulator.exchange.markets.values())).tokens[0].token_id
    clock.advance()
    async with httpx.AsyncClient() as http:
        moved = {"sender": sender, "receiver": receiver, "token_id": yes, "size_micros": 10 * MICROS}
        answer = await http.post(emulator.urls["rest"] + "/_emulator/data/transfer", json=moved)
    assert answer.status_code == 200, answer.text
    # The feed lists none of the 10 YES received: the sale of 6 and a buy of NO are all the history says.
    trade_script(emulator, clock, "trader-received", [(Side.SELL, 0, 6), (Side.BUY, 1, 5)])
    sold = [row for row in emulator.data_apis.ledger.rows_of(receiver, until_ms=2**62) if row.side is Side.SELL]
    assert sum(row.size_micros for row in sold) == 6 * MICROS
    urls = ("--data-url", emulator.urls["data"], "--rest", emulator.urls["rest"])
    result = await _invoke("wallets", "pnl", receiver, *urls, "--lines")
    assert result.exit_code == 0, result.output
    lines = dict(line.split(" ", 1) for line in result.output.splitlines())
    assert lines["from_positions"].startswith("as of ")
    assert lines["seeded"] == "1 positions costing 0"  # 10 YES, received at no cost
    # Shares that cost nothing realize what they were sold for: exactly the sale's cash.
    assert Decimal(lines["realized_market"]) == Decimal(sum(row.usdc_picos for row in sold)) / MICROS**2
    assert lines["reconciled"].startswith("ok")
    positions = sorted(line.split()[2:5:2] for line in result.output.splitlines() if line.startswith("position "))
    assert positions == [["0", "4"], ["1", "5"]]
    screen = await _invoke("wallets", "pnl", receiver, *urls)
    assert screen.exit_code == 0, screen.output
    assert "from_positions as of" in screen.output


async def test_signals_report_outcomes_enough_wallets_bought(emulator_factory: EmulatorFactory, tmp_path: Path) -> None:
    emulator = await _crowd(emulator_factory)
    wallets = [agent_wallet(member).lower() for member in emulator.crowd.members]
    buyers: dict[tuple[str, int], set[str]] = {}
    for wallet in wallets:
        for row in emulator.data_apis.ledger.rows_of(wallet, until_ms=2**62):
            if row.side is Side.BUY:
                buyers.setdefault((row.condition_id, row.outcome_index), set()).add(wallet)
    listing = tmp_path / "wallets.txt"
    listing.write_text("\n".join(wallets[1:]) + "\n")
    result = await _invoke(
        "wallets", "signals", wallets[0], "--file", str(listing), "--data-url", emulator.urls["data"],
        "--min-wallets", "2", "--agreement", "0", "--window-s", "3600", "--lines",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    signals = [line.split() for line in result.output.splitlines() if line.startswith("signal ")]
    assert signals
    for _, condition_id, outcome, _, voters, *_ in signals:
        backing, _ = voters.split("/")
        assert 2 <= int(backing) <= len(buyers[(condition_id, int(outcome))])


async def test_bad_input_exits_2() -> None:
    result = await _invoke("wallets", "pnl", "0xnot-an-address")
    assert result.exit_code == 2
    assert "not a wallet address" in result.output
