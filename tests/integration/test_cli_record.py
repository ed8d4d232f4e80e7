"""``polyinfra record``, ``coverage`` and ``replay`` against an emulator in this test's event loop:
record, as a real process, until the status line shows frames acknowledged, stop it with Ctrl-C,
then read the tape back with the other commands, run in-process (tests.integration.cli_steps)."""

from __future__ import annotations

import asyncio
import re
import signal
import sqlite3
from pathlib import Path

import httpx

from tests.integration.cli_steps import WAIT_S, run_polyinfra_in_process, start_polyinfra
from tests.integration.conftest import EmulatorFactory

ACKNOWLEDGED_WANTED = 50


async def test_record_then_coverage_then_replay(emulator_factory: EmulatorFactory, tmp_path: Path) -> None:
    sink = f"sqlite:///{tmp_path / 'tape.db'}"
    await record_then_coverage_then_replay(emulator_factory, sink, tmp_path / "parquet")
    # A record that cannot be read back is one line too.
    with sqlite3.connect(tmp_path / "tape.db") as editor:
        editor.execute(
            "UPDATE records SET recv_mono_ns = 'not a time'"
            " WHERE seq = (SELECT MAX(seq) FROM records WHERE kind = 'frame received')"
        )
    code, _, err = await run_polyinfra_in_process("export", "--sink", sink, "--out", str(tmp_path / "again"))
    assert code == 1
    assert err.startswith("polyinfra export: a stored record cannot be read back") and len(err.splitlines()) == 1, err


async def record_then_coverage_then_replay(emulator_factory: EmulatorFactory, sink: str, out_dir: Path) -> None:
    """``record``, ``coverage``, ``replay`` and ``export`` (into ``out_dir``) on one tape in ``sink``
    (tests/services runs them on PostgreSQL)."""
    emulator = await emulator_factory(markets=2, seed=3, rate=100.0)
    urls = ["--rest", emulator.urls["rest"], "--ws", emulator.urls["ws_market"]]
    recording = await start_polyinfra(
        "record", "--sink", sink, "--top", "2", "--status-s", "0.1", "--metrics-port", "0", *urls
    )
    assert recording.stderr is not None
    status = re.compile(rb"acknowledged ([\d,]+) ")
    metrics_url = None
    async with asyncio.timeout(WAIT_S):
        while True:
            line = await recording.stderr.readline()
            assert line, "polyinfra record ended before acknowledging anything"
            if line.startswith(b"polyinfra record: Prometheus metrics at "):
                metrics_url = line.split()[-1].decode()
            found = status.search(line)
            if found and int(found.group(1).replace(b",", b"")) >= ACKNOWLEDGED_WANTED:
                break
    assert metrics_url is not None
    async with httpx.AsyncClient() as http:
        scraped = (await http.get(metrics_url)).text
    written = re.search(r'polyinfra_recorder_records_total\{channel="market",source="clob"\} (\S+)', scraped)
    assert written is not None and float(written.group(1)) >= ACKNOWLEDGED_WANTED - 1
    recording.send_signal(signal.SIGINT)
    _, rest = await asyncio.wait_for(recording.communicate(), WAIT_S)
    assert recording.returncode == 0, rest.decode()
    assert "gaps 0 (0 records dropped)" in rest.decode()

    code, out, err = await run_polyinfra_in_process("coverage", "--sink", sink)
    assert code == 0, err
    tokens = list(emulator.exchange.tokens())
    assert all(f"{token}: covered" in out for token in tokens[:4])
    assert "subscribed" in out

    code, out, err = await run_polyinfra_in_process("replay", "--sink", sink, "--speed", "1000")
    assert code == 0, err
    assert re.search(r"[1-9][\d,]* checkpoints matched, 0 diverged, 0 hash mismatches", out), out

    code, out, err = await run_polyinfra_in_process("export", "--sink", sink, "--out", str(out_dir))
    assert code == 0, err
    assert re.match(r"exported [1-9][\d,]* book_deltas, [\d,]+ trades, [1-9][\d,]* best_bid_ask rows into ", out), out
    assert (out_dir / "coverage.json").is_file()
    # A bad --out is one line: a directory already exported into, a path under a file.
    for bad in (out_dir, out_dir / "coverage.json" / "below"):
        code, _, err = await run_polyinfra_in_process("export", "--sink", sink, "--out", str(bad))
        assert code == 1
        assert err.startswith("polyinfra export: ") and len(err.strip().splitlines()) == 1, err


async def test_a_sink_url_nothing_serves_is_one_line_and_exit_code_2() -> None:
    code, _, err = await run_polyinfra_in_process("replay", "--sink", "mysql://127.0.0.1/tape")
    assert code == 2
    assert err.startswith("polyinfra replay: unknown sink URL")
    assert len(err.strip().splitlines()) == 1
