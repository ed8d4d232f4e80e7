"""``polyinfra us dropcopy`` as a real process against the emulator: the status line, the summary and the
archive it leaves (restarts are ``test_us_dropcopy_archiver``'s), a store or a lease it cannot use (a lease
server that is down: a prompt typed error naming it, not a minute of retries), and a server of other field
numbers (read with ``--reflection``, refused without)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import pytest

from polyinfra.cli.fleet_record import open_lease_bucket
from polyinfra.core.us_dropcopy import DropCopyStream
from polyinfra.emulator.runner import Emulator
from polyinfra.errors import LeaseError
from polyinfra.record.dropcopy_archive import SQLiteDropCopyArchive
from tests.closed_ports import closed_port
from tests.integration.cli_steps import run_polyinfra


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(markets=1, rate=0) as running:
        running.us_dropcopy.faults.update({"time_scale": 0.001, "heartbeat_interval_s": 100.0})
        yield running


async def test_the_archiver_command_reports_its_streams_and_archives_them(emulator: Emulator, tmp_path: Path) -> None:
    emulator.us_dropcopy.generate(120, seed=1)
    store = f"sqlite:///{tmp_path / 'archive.db'}"
    arguments = ("us", "dropcopy", "--grpc", emulator.urls["grpc"], "--insecure", "--store", store, "--firm", "f")
    code, out, err = await run_polyinfra(*arguments, "--duration", "2", "--refresh-s", "0.5")
    assert code == 0, err
    assert "executions" in out and "caught up" in out and "gaps 0" in out
    assert "executions: 120 events (120 new)" in out
    assert "trades: 120 events (120 new)" in out and "positions: 120 events (120 new)" in out
    archive = SQLiteDropCopyArchive(tmp_path / "archive.db")
    assert archive.count("f", DropCopyStream.EXECUTIONS) == 120
    archive.close()


async def test_a_store_or_a_lease_it_cannot_use_is_a_one_line_error(emulator: Emulator, tmp_path: Path) -> None:
    target = emulator.urls["grpc"]
    code, _, err = await run_polyinfra("us", "dropcopy", "--grpc", target, "--insecure", "--store", "mysql://x")
    assert code == 2 and "sqlite:///PATH or postgresql://" in err
    store = "sqlite:///" + str(tmp_path / "a.db")
    code, _, err = await run_polyinfra("us", "dropcopy", "--store", store, "--lease", "redis://u:hunter22@h/f")
    assert code == 2 and "--lease nats://" in err and "hunter22" not in err


async def test_a_lease_server_that_is_down_ends_the_command_naming_it(tmp_path: Path) -> None:
    server = f"127.0.0.1:{closed_port()}"
    store = "sqlite:///" + str(tmp_path / "a.db")
    lease = f"nats://fleet-user:hunter22@{server}/fleet"
    code, _, err = await run_polyinfra("us", "dropcopy", "--store", store, "--lease", lease)
    assert code == 1, err
    assert f"cannot connect to the NATS server nats://[REDACTED]@{server} of the fleet's lease bucket" in err
    assert "ConnectionRefusedError" in err and "hunter22" not in err


async def test_the_first_lease_connection_gives_up_within_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    connects: list[dict[str, Any]] = []
    connect = nats.connect

    async def recorded(*arguments: Any, **options: Any) -> Any:
        connects.append(options)
        return await connect(*arguments, **options)

    monkeypatch.setattr(nats, "connect", recorded)
    server = f"nats://127.0.0.1:{closed_port()}"
    with pytest.raises(LeaseError) as refused:
        await open_lease_bucket(server, "leases", f"{server}/fleet")
    assert refused.value.context["server"] == server
    (options,) = connects
    # nats-py tries the server once more per retry (none would mean retrying forever), each try waiting at most
    # the connect timeout, with the reconnect wait between them: a few seconds in all.
    retries = options["max_reconnect_attempts"]
    assert retries >= 1
    assert (retries + 1) * options["connect_timeout"] + retries * options["reconnect_time_wait"] <= 10


async def test_the_command_speaks_the_servers_numbering_with_reflection_and_refuses_it_without(
    tmp_path: Path,
) -> None:
    async with Emulator(markets=1, rate=0, us_renumbered_protos=True) as renumbered:
        renumbered.us_dropcopy.faults.update({"time_scale": 0.001, "heartbeat_interval_s": 100.0})
        renumbered.us_dropcopy.generate(20, seed=1)
        target = renumbered.urls["grpc"]
        store = f"sqlite:///{tmp_path / 'archive.db'}"
        arguments = ("us", "dropcopy", "--grpc", target, "--insecure", "--store", store, "--streams", "executions")
        code, out, err = await run_polyinfra(*arguments)
        assert code == 1 and "its numbers are not ours" in err and "protos diff" in err, err
        assert "executions: 0 events (0 new), 0 responses" in out and "refused" in out
        code, out, err = await run_polyinfra(*arguments, "--reflection", "--duration", "2", "--refresh-s", "0.5")
    assert code == 0, err
    assert "executions: 20 events (20 new)" in out
