"""The sink conformance suite on NATS JetStream (127.0.0.1:4222), kill -9 of writers included, and
what only this sink has: subjects per source/channel/key, dedupe on read past the server's window,
the server's max payload, corrupt messages, a stream that takes other subjects, credentials, and a
server killed with acks in flight (a private nats-server: the shared one is never killed).

Each test gets a stream of its own, deleted afterwards. NATS unreachable is a skip, which CI counts
as a failure for ``tests/services``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import shutil
import signal
import subprocess
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import nats
import nats.errors
import nats.js.errors
import pytest
from nats.aio.client import Client

from polyinfra.errors import CorruptRecordError, RecorderError, SinkWriteError
from polyinfra.record.jetstream_sink import DUPLICATE_WINDOW_S, JetStreamSink
from polyinfra.record.records import Record
from tests.closed_ports import closed_port
from tests.record.sinks import make_records, sink_url

# Every test of the suite and its ``sink`` fixture, run here against the ``url`` fixture below.
from tests.record.test_sink_conformance import *  # noqa: F403
from tests.record.test_sink_conformance import HANG_GUARD_S

pytestmark = pytest.mark.services


@pytest.fixture(params=["jetstream"])
async def url(request: pytest.FixtureRequest, tmp_path: Path, nats_client: Client) -> AsyncIterator[str]:
    stream_url = sink_url(request.param, tmp_path)
    yield stream_url
    with contextlib.suppress(nats.js.errors.NotFoundError):  # the test never opened it
        await nats_client.jetstream().delete_stream(_stream_of(stream_url))


def _stream_of(url: str) -> str:
    return urllib.parse.urlsplit(url).path.removeprefix("/")


async def _read(sink: JetStreamSink) -> list[Record]:
    return [record async for record in sink.read()]


def _record(index: int, **changes: object) -> Record:
    return msgspec.structs.replace(make_records(1, start=index)[0], **changes)


async def test_the_stream_keeps_its_explicit_duplicate_window(url: str, nats_client: Client) -> None:
    sink = JetStreamSink(url)
    await sink.write(make_records(1))
    await sink.close()
    info = await nats_client.jetstream().stream_info(_stream_of(url))
    assert info.config.duplicate_window == DUPLICATE_WINDOW_S
    assert info.config.subjects == [f"polyinfra.{_stream_of(url)}.>"]


async def test_each_record_goes_to_its_source_channel_and_key_subject(url: str, nats_client: Client) -> None:
    sink = JetStreamSink(url)
    records = [
        _record(0, key="7123"),
        _record(1, source="recorder", channel="", key=""),
        _record(2, key="a.b *>_ é"),
        _record(3, key="9" * 150),
    ]
    await sink.write(records)
    await sink.close()
    stream = _stream_of(url)
    info = await nats_client.jetstream().stream_info(stream, subjects_filter=">")
    prefix = f"polyinfra.{stream}."
    assert {subject.removeprefix(prefix) for subject in info.state.subjects or {}} == {
        "clob.market.7123",
        "recorder._._",
        "clob.market.a%2Eb%20%2A%3E%5F%20%C3%A9",
        "clob.market.~" + hashlib.blake2b(b"9" * 150, digest_size=20).hexdigest(),
    }
    assert await _read(JetStreamSink(url)) == records


async def test_a_re_send_the_server_did_not_drop_is_read_once(url: str, nats_client: Client) -> None:
    sink = JetStreamSink(url)
    records = make_records(10)
    await sink.write(records)
    # What a re-send after the duplicate window looks like in the stream: the same event again,
    # under another message id, which the server stores.
    stream = _stream_of(url)
    jetstream = nats_client.jetstream()
    for record in (records[3], records[7]):
        subject = f"polyinfra.{stream}.clob.market._"
        headers = {"Nats-Msg-Id": f"late re-send of {record.event_id}"}
        await jetstream.publish(subject, msgspec.msgpack.encode(record), headers=headers)
        await jetstream.publish(subject, msgspec.msgpack.encode(record))
    assert (await jetstream.stream_info(stream)).state.messages == 14
    assert await _read(sink) == records
    await sink.close()


async def test_a_record_over_the_max_payload_is_a_typed_error_and_nothing_of_its_batch_is_stored(url: str) -> None:
    sink = JetStreamSink(url)
    await sink.write(make_records(1))
    _, max_payload = await sink._connected()
    oversized = _record(2, payload=b"x" * max_payload)
    with pytest.raises(SinkWriteError, match="max payload") as raised:
        await sink.write([_record(1), oversized])
    assert raised.value.retriable is False
    assert raised.value.context["max_payload"] == max_payload
    await sink.write([_record(1)])  # the connection survived
    assert [record.event_id for record in await _read(sink)] == [_record(0).event_id, _record(1).event_id]
    await sink.close()


async def test_an_undecodable_message_is_a_corrupt_record(url: str, nats_client: Client) -> None:
    sink = JetStreamSink(url)
    await sink.write(make_records(2))
    stream = _stream_of(url)
    await nats_client.jetstream().publish(f"polyinfra.{stream}.clob.market._", json.dumps({"kind": 1}).encode())
    with pytest.raises(CorruptRecordError) as raised:
        await _read(sink)
    assert raised.value.context["seq"] == 3
    await sink.close()


async def test_a_stream_that_takes_other_subjects_is_refused(url: str, nats_client: Client) -> None:
    stream = _stream_of(url)
    await nats_client.jetstream().add_stream(name=stream, subjects=[f"elsewhere.{stream}"])
    sink = JetStreamSink(url)
    with pytest.raises(SinkWriteError, match="does not take the recorder's subjects") as raised:
        await sink.write(make_records(1))
    assert not raised.value.retriable
    with pytest.raises(RecorderError, match="does not take the recorder's subjects"):
        await sink.headers()
    await sink.close()


async def test_credentials_in_the_url_reach_no_log_url_or_error(url: str, caplog: pytest.LogCaptureFixture) -> None:
    # Not one of the secrets the test session registers for redaction: the sink must mask it itself.
    password = "jetstream-pw-5b0e9c1d7f"
    with_password = url.replace("nats://", f"nats://recorder:{password}@")
    sink = JetStreamSink(with_password)  # this server has no accounts: it ignores the credentials
    await sink.write(make_records(3))
    assert len(await _read(sink)) == 3
    assert password not in sink.url
    assert "[REDACTED]@" in sink.url
    await sink.close()

    unreachable = JetStreamSink(f"nats://recorder:{password}@127.0.0.1:1/{_stream_of(url)}")
    with caplog.at_level(logging.DEBUG), pytest.raises(SinkWriteError) as raised:
        await unreachable.write(make_records(1))
    assert raised.value.retriable
    assert "NATS connection error" in caplog.text  # the log was captured, and it is masked
    assert password not in str(raised.value) + repr(raised.value) + caplog.text


class _PrivateServer:
    """A nats-server of the test's own (the shared one must not be killed), its store kept across restarts."""

    def __init__(self, store: Path) -> None:
        self.port = closed_port()
        self._store = store
        self.process: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        binary = shutil.which("nats-server")
        if binary is None:
            pytest.skip("nats-server is not installed")
        command = [binary, "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self._store)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        async with asyncio.timeout(HANG_GUARD_S):  # a barrier: until it answers
            while True:
                try:
                    client = await nats.connect(f"nats://127.0.0.1:{self.port}", allow_reconnect=False)
                except (nats.errors.Error, OSError):
                    await asyncio.sleep(0.05)
                    continue
                await client.close()
                return

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()


async def test_a_server_killed_with_acks_in_flight_fails_the_batch_and_its_retry_stores_it_once(
    tmp_path: Path,
) -> None:
    server = _PrivateServer(tmp_path / "store")
    await server.start()
    sink = JetStreamSink(f"nats://127.0.0.1:{server.port}/crash")
    records = make_records(200)
    try:
        await sink.write(records[:100])
        assert server.process is not None
        server.process.send_signal(signal.SIGSTOP)  # takes the next batch into its socket, acks nothing
        batch = asyncio.create_task(sink.write(records[100:]))
        # Until the whole batch waits for its acks; or, should the client give the stopped server up first
        # (its pings unanswered), until the batch has failed on its own: either way it fails, and then the
        # retry must store it once.
        async with asyncio.timeout(HANG_GUARD_S):
            while len(sink._acks_in_flight) < 100 and not batch.done():
                await asyncio.sleep(0.01)
        server.kill()
        with pytest.raises(SinkWriteError):
            await asyncio.wait_for(batch, HANG_GUARD_S)
        await server.start()
        async with asyncio.timeout(HANG_GUARD_S):
            while True:  # as the recorder does: the batch again until it is acknowledged
                try:
                    await sink.write(records[100:])
                    break
                except SinkWriteError:
                    await asyncio.sleep(0.05)
        assert await _read(sink) == records
    finally:
        await sink.close()
        if server.process is not None and server.process.poll() is None:
            server.kill()
