"""``polyinfra wallets track`` over a scripted source: the JSON lines it prints (fills once, wallet
rows), the table it draws from the stats, and the refusals of bad input (exit code 2)."""

from __future__ import annotations

import asyncio
import io
import json
import time
from pathlib import Path

import typer
from rich.console import Console
from typer.testing import CliRunner

from polyinfra.cli.wallet_commands import (
    register_wallet_commands,
    track_wallets,
    wallet_addresses,
    wallet_lines,
    wallet_table,
)
from polyinfra.core.wallet_watch_state import LossEvent, LossReason, PageRequest, WalletWatchState
from polyinfra.errors import HttpClientError
from polyinfra.model.wallet_activity import ActivityPage
from polyinfra.record.sqlite_sink import SQLiteSink
from tests.wallet_world import ScriptedActivity, make_truth, wallet_address


async def _until(condition: object, bound: int = 2_000) -> None:
    """Wait (briefly, bounded) for ``condition()``: the watch fetches at once, the lines follow."""
    for _ in range(bound):
        if condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the tracked output never came")


async def test_track_prints_each_fill_once_and_wallet_rows_and_keeps_its_state(tmp_path: Path) -> None:
    start = int(time.time()) - 2_000  # a backlog the first walks fetch at once
    truth = make_truth(4, 1_000, seed=8, busy_share=1.0, start_s=start)
    source = ScriptedActivity(truth, clock=time.time)
    out = io.StringIO()
    sink = SQLiteSink(tmp_path / "wallets.db")
    expected = sum(len(rows) for rows in truth.values())
    run = asyncio.create_task(
        track_wallets(
            source, list(truth), sink=sink, budget_rps=50.0, since_s=start, duration_s=0, refresh_s=0.01, out=out
        )
    )
    try:
        lines = lambda: [json.loads(line) for line in out.getvalue().splitlines()]  # noqa: E731
        await _until(lambda: sum(line["type"] == "fill" for line in lines()) >= expected)
        await _until(lambda: any(line["type"] == "wallet" and line["fills"] > 0 for line in lines()))
    finally:
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
        await sink.close()
    fills = [line for line in lines() if line["type"] == "fill"]
    assert len(fills) == expected
    assert len({(fill["transaction_hash"], fill["token_id"]) for fill in fills}) == expected
    assert fills[0]["size"] == "10.5" and fills[0]["source"] == "data_api"  # exact, as decimal strings
    rows = [line for line in lines() if line["type"] == "wallet"]
    assert {row["wallet"] for row in rows} == set(truth)
    assert {row["continuity"] for row in rows} == {"running"}


def test_the_table_and_lines_show_each_wallet_with_its_continuity() -> None:
    state = WalletWatchState()
    quiet, lossy = wallet_address(1), wallet_address(2)
    state.add(quiet, now_s=1_000, since_s=900)
    state.add(lossy, now_s=1_000, since_s=900)
    for _ in range(2):
        request = state.next_request(1_000)
        assert isinstance(request, PageRequest)
        if request.wallet == lossy:
            state.on_error(request, HttpClientError("cursor expired", status=400), 1_000)
        else:
            state.on_page(request, ActivityPage(quiet, (), None, 990), 1_000)
    stats = state.stats(1_005)
    console = Console(width=160, record=True)
    console.print(wallet_table(stats, 1_005))
    text = console.export_text()
    assert quiet in text and lossy in text
    assert "possible-data-loss" in text and "running" in text
    assert "requests 2/100 per 10 s" in text
    rows = {row["wallet"]: row for row in map(json.loads, wallet_lines(stats, 1_005))}
    assert rows[quiet]["watermark_age_s"] == 15.0 and rows[quiet]["continuity"] == "running"
    assert rows[lossy]["losses"] == 1 and rows[lossy]["last_fill_s"] is None
    losses = [item for item in state.drain() if isinstance(item, LossEvent)]
    assert [loss.reason for loss in losses] == [LossReason.CONTINUITY_LOST]


class _ClosingActivity(ScriptedActivity):
    """A scripted source that records being closed, as the Data API client is when a command ends."""

    closed = 0

    async def aclose(self) -> None:
        _ClosingActivity.closed += 1


def _app() -> typer.Typer:
    app = typer.Typer(rich_markup_mode=None)

    @app.callback()
    def _root() -> None:
        """Test root."""

    register_wallet_commands(app, lambda url: _ClosingActivity({}, clock=time.time))
    return app


def test_bad_input_is_refused_with_exit_code_2(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(_app(), ["wallets", "track"]).exit_code == 2
    result = runner.invoke(_app(), ["wallets", "track", "0x12"])
    assert result.exit_code == 2 and "not a wallet address" in result.output
    missing = runner.invoke(_app(), ["wallets", "track", "--file", str(tmp_path / "none.txt")])
    assert missing.exit_code == 2 and "cannot read the wallet file" in missing.output
    help_text = runner.invoke(_app(), ["wallets", "track", "--help"], terminal_width=200).output
    assert "--budget-rps" in help_text and "loss event" in help_text


def test_track_closes_its_client_when_it_ends() -> None:
    before = _ClosingActivity.closed
    result = CliRunner().invoke(_app(), ["wallets", "track", wallet_address(1), "--jsonl", "--duration", "0.05"])
    assert result.exit_code == 0, result.output
    assert _ClosingActivity.closed == before + 1


def test_a_wallet_file_with_comments_and_repeats_is_read(tmp_path: Path) -> None:
    listing = tmp_path / "wallets.txt"
    listing.write_text(f"# whales\n{wallet_address(1).upper().replace('0X', '0x')}\n\n{wallet_address(2)}  # b\n")
    assert wallet_addresses([wallet_address(1)], listing) == [wallet_address(1), wallet_address(2)]
