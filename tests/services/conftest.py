"""Fixtures of the tests that talk to the NATS server at 127.0.0.1:4222 (NATS unreachable is a skip,
which CI counts as a failure under ``tests/services``)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import nats
import nats.errors
import nats.js.errors
import pytest
from nats.aio.client import Client

from tests.record.sinks import NATS_SERVER
from tests.unique_names import unique_name


@pytest.fixture
async def nats_client() -> AsyncIterator[Client]:
    try:
        client = await nats.connect(f"nats://{NATS_SERVER}", connect_timeout=5, allow_reconnect=False)
    except (nats.errors.Error, OSError) as exc:
        pytest.skip(f"NATS is unreachable at {NATS_SERVER}: {type(exc).__name__}")
    yield client
    await client.close()


@pytest.fixture
async def stream(nats_client: Client) -> AsyncIterator[str]:
    """A stream name of the test's own; the stream is deleted afterwards if the test made it."""
    name = unique_name("test")
    yield name
    with contextlib.suppress(nats.js.errors.NotFoundError):
        await nats_client.jetstream().delete_stream(name)
