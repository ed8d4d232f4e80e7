"""``polyinfra demo`` end to end: plain lines in a pipe, the live screen on an 80-column terminal."""

from __future__ import annotations

import os
import re
import subprocess
import sys

# A hang guard, below pytest's 300 s timeout: a 4 s demo took over 60 s on a 2-core machine loaded 6-fold.
WAIT_S = 240
# Cursor movement, colours and the like: what a terminal interprets and does not show.
TERMINAL_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r")


def _demo(*arguments: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "polyinfra.cli.main", "demo", "--markets", "3", *arguments],
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        check=False,
        env=env,
    )


# The demo's last word: how long, how many frames, the comparison of every book with REST, and the
# replay of the demo's own recording compared with the live books and the live-data events it got, the RTDS
# activity and PolyBolt prices it saw,
# the Data API's top wallet, whose every fill RTDS published too, a fresh wallet made to trade on chain, a
# fresh Safe acting gaslessly through the relayer (its owner's POL unchanged), and the wallet watch over every
# ranked wallet.
PROOF = re.compile(
    r"^proof: ran [\d.]+ s and received [\d,]+ frames; then trading stopped and\n"
    r"  all 6 books were live and equal to the emulator's REST book, level by level\n"
    r"  all 3 US exchange books were live and equal to the emulator's too\n"
    r"  US orders seen on the stream: GTC CANCELED, FOK NEW then EXPIRED\n"
    r"  the recorder's tape \([1-9][\d,]* records, 0 gaps\) replayed into the same books,\n"
    r"  and its RTDS and PolyBolt frames into the same [1-9][\d,]* events\n"
    r"  RTDS activity: [1-9][\d,]* trades seen with their wallets, 0 gaps;\n"
    r"  the last: sim-\S+ (BUY|SELL) [\d.]+ (Yes|No) @ 0\.\d+\n"
    r"  large-trade radar: [\d,]+ of [1-9][\d,]* trades ≥ \$50(, largest \$\d+\.\d\d \(sim-\S+\))?\n"
    r"  PolyBolt prices: [1-9][\d,]* ticks, the last btcusd [\d.]+, 0 gaps\n"
    r"  DropCopy: 504 executions archived once, a token chain of [1-9]\d* links unbroken;\n"
    r"  the firm's gRPC streams: [2-9] of 20, DropCopy and market data pooled\n"
    r"  Data API: [1-9]\d* wallets ranked; the top, sim-\S+, P&L -?[\d.]+,\n"
    r"  over [1-9][\d,]* fills, each one also on RTDS\n"
    r"  on chain: a fresh wallet's BUY refused; approve and wrap 25 pUSD\n"
    r"  \([1-9]\d* transactions\), then the same BUY live\n"
    r"  gasless: a fresh Safe wraps 10 pUSD and splits 5 through the relayer,\n"
    r"  which sent [1-9]\d* transactions \(deploying the Safe first\); the owner key\n"
    r"  paid no gas: its POL (?P<pol>\d+(\.\d+)?) before, (?P=pol) after\n"
    r"  wallet watch: [1-9]\d* wallets off the leaderboard, [1-9][\d,]* fills each once\n"
    r"  \(all the Data API holds\), 0 losses; [1-9]\d* running;\n"
    r"  the busiest, sim-\S+, [1-9][\d,]* fills, P&L -?[\d.]+\n"
    r"next, try:\n(  polyinfra .+\n){2,5}\Z",
    re.MULTILINE,
)


def test_demo_prints_live_books_as_plain_lines_when_not_a_terminal() -> None:
    result = _demo("--duration", "3", "--refresh-s", "1")
    assert result.returncode == 0, result.stderr
    assert "\x1b[" not in result.stdout
    proof = PROOF.search(result.stdout)
    assert proof, result.stdout[-1000:]
    blocks = [block for block in result.stdout[: proof.start()].split("--- ") if block.strip()]
    assert len(blocks) >= 4, result.stdout
    # Each refresh: the CLOB's block, then the US exchange's (its three OPEN instruments, numbered on).
    us_status, *us_lines = blocks[-1].strip().splitlines()
    assert "US live 3/3" in us_status and len(us_lines) == 3, blocks[-1]
    assert all(re.match(r"^[456]\. \S+ · .+ Yes: live bid 0\.\d+ ask 0\.\d+ ", line) for line in us_lines), us_lines
    status, *book_lines = blocks[-2].strip().splitlines()
    # Three markets, two tokens each: every book is live, in sync with the emulator.
    assert "live 6/6" in status, status
    assert re.search(r" · recorder: [1-9][\d,]* records acknowledged · gaps 0 · queue [\d,]+$", status), status
    assert len(book_lines) == 6
    line = re.compile(
        r"^[123]\. Will .+\? (Yes|No): live bid 0\.\d+ ask 0\.\d+ mid 0\.\d+ spread 0\.\d+ "
        r"depth5 \$[\d,]+/\$[\d,]+ last (0\.\d+|-) msg/s [\d.]+ age [\d.]+s$"
    )
    assert all(line.match(book_line) for book_line in book_lines), book_lines


def test_demo_screen_fits_an_80_column_terminal() -> None:
    # rich's switches for "stdout is an interactive terminal of this size".
    terminal = os.environ | {"TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1", "COLUMNS": "80", "LINES": "30"}
    result = _demo("--duration", "3", "--refresh-s", "0.5", env=terminal)
    assert result.returncode == 0, result.stderr
    shown = [line for line in TERMINAL_CONTROL.sub("", result.stdout).split("\n") if line]
    assert shown and max(len(line) for line in shown) <= 80, max(shown, key=len)
    assert any(re.match(r"\s+bid\s+ask\s+mid\s+spread\s+depth \$\s+last\s+msg/s state\s+age$", line) for line in shown)
    # The last screen drawn: all six tokens live.
    statuses = [line for line in shown if line.startswith("live ")]
    assert statuses and statuses[-1].startswith("live 6/6 · "), statuses[-1:]
    assert any(line.startswith("US live 3/3 · ") for line in shown)
    assert any(re.match(r"recorder: [1-9][\d,]* records acknowledged · gaps 0", line) for line in shown)
    assert PROOF.search("\n".join(shown) + "\n"), shown[-8:]


def test_demo_with_poisoned_data_counts_what_it_refused_and_keeps_running() -> None:
    # One frame or REST answer in five carries a hostile value: the status line counts the refusals,
    # and no task dies (a death would show as "task restarts").
    result = _demo("--duration", "4", "--refresh-s", "1", "--poison-rate", "0.2")
    assert result.returncode == 0, result.stderr
    counted = [int(found.replace(",", "")) for found in re.findall(r" · malformed ([\d,]+)", result.stdout)]
    assert counted and counted[-1] > 0, result.stdout[-2000:]
    assert "task restarts" not in result.stdout
