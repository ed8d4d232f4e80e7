"""``polyinfra record``, ``coverage`` and ``replay`` (as in test_cli_record) on a tape in PostgreSQL (a
fresh schema of the server at 127.0.0.1:5432), and a server that does not answer as one line
without the URL's password."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.cli_steps import run_polyinfra_in_process
from tests.integration.conftest import EmulatorFactory, emulator_factory  # noqa: F401 (the fixture)
from tests.integration.test_cli_record import record_then_coverage_then_replay
from tests.record.sinks import postgres_schema

pytestmark = pytest.mark.services


async def test_record_then_coverage_then_replay_on_postgresql(
    emulator_factory: EmulatorFactory,  # noqa: F811
    tmp_path: Path,
) -> None:
    with postgres_schema() as url:
        await record_then_coverage_then_replay(emulator_factory, url, tmp_path / "parquet")


async def test_a_server_that_does_not_answer_is_one_line_without_the_password() -> None:
    code, out, err = await run_polyinfra_in_process("replay", "--sink", "postgresql://bob:hunter2@127.0.0.1:1/tape")
    assert code == 1
    assert err.startswith("polyinfra replay: PostgreSQL read failed: connection failed:")
    assert len(err.strip().splitlines()) == 1
    assert "hunter2" not in out + err
