"""The scope each DropCopy stream needs, checked per RPC by an emulator that checks tokens: the instrument-state
stream needs ``read:instruments`` (the venue documents it so), the other three ``read:dropcopy``. For each
stream, a token with every other read scope is refused naming the one missing, and a token with that scope
alone opens it, through the archiver as a user runs it."""

from __future__ import annotations

import asyncio

import pytest

from polyinfra.core.us_dropcopy import DropCopyStream
from polyinfra.emulator.us.grpc_auth_check import scope_of
from polyinfra.errors import GrpcAuthError
from polyinfra.record.dropcopy_archive import SQLiteDropCopyArchive
from tests.integration.us_auth_steps import EmulatorFactory, Keys, ManualClock, registration, token_manager
from tests.integration.us_dropcopy_steps import emulator_archiver, until

READ_SCOPES = ["read:marketdata", "read:instruments", "read:dropcopy", "read:reports", "read:orders"]
NEEDED = {
    DropCopyStream.EXECUTIONS: "read:dropcopy",
    DropCopyStream.TRADES: "read:dropcopy",
    DropCopyStream.INSTRUMENTS: "read:instruments",
    DropCopyStream.POSITIONS: "read:dropcopy",
}
TIME_SCALE = 0.001


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()


def test_the_scope_table_names_each_streams_scope() -> None:
    for stream, scope in NEEDED.items():
        assert scope_of(f"/polymarket.v1.DropCopyAPI/{stream.method}") == scope
    assert scope_of("/polymarket.v1.ReportAPI/SearchExecutions") == "read:reports"
    assert scope_of("/grpc.health.v1.Health/Check") is None


@pytest.mark.parametrize("stream", list(DropCopyStream))
async def test_each_stream_needs_its_own_scope(
    stream: DropCopyStream, emulator_factory: EmulatorFactory, keys: Keys, tmp_path: object
) -> None:
    needed = NEEDED[stream]
    base = ManualClock()
    others = [scope for scope in READ_SCOPES if scope != needed]
    emulator = await emulator_factory(
        markets=1, us_require_auth=True, us_clients=[registration(keys, others)], us_clock_s=base
    )
    emulator.us_dropcopy.faults.update({"time_scale": TIME_SCALE, "heartbeat_interval_s": 50.0})
    archive = SQLiteDropCopyArchive(f"{tmp_path}/archive.db")
    async with token_manager(emulator, base, keys.client) as tokens:
        refused_archiver = emulator_archiver(emulator, archive, "firm", stream, time_scale=TIME_SCALE, tokens=tokens)
        with pytest.raises(GrpcAuthError) as refused:
            await asyncio.wait_for(refused_archiver.run(), 30)
    assert refused.value.context["code"] == "PERMISSION_DENIED" and needed in refused.value.message

    emulator.us_tokens.clients.register(registration(keys, [needed]))
    async with token_manager(emulator, base, keys.client) as tokens:
        archiver = emulator_archiver(emulator, archive, "firm", stream, time_scale=TIME_SCALE, tokens=tokens)
        run = asyncio.create_task(archiver.run())
        try:
            await until(lambda: archiver.status[stream].responses >= 1, "the stream opened")
        finally:
            run.cancel()
            await asyncio.gather(run, return_exceptions=True)
    assert archiver.status[stream].last_error is None
    archive.close()
