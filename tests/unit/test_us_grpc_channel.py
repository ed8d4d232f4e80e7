"""Every US exchange channel carries the keepalive the venue recommends: a ping every 60 s, 20 s to answer,
pings while no call runs (its load balancer closes connections idle for 10 minutes)."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from polyinfra.net import grpc_channel


@pytest.mark.parametrize("insecure", [True, False])
def test_channels_open_with_the_venues_keepalive(monkeypatch: pytest.MonkeyPatch, insecure: bool) -> None:
    opened: list[dict[str, Any]] = []

    def capture(target: str, *arguments: Any, options: list[tuple[str, Any]]) -> str:
        opened.append(dict(options))
        return target

    monkeypatch.setattr(grpc.aio, "insecure_channel", capture)
    monkeypatch.setattr(grpc.aio, "secure_channel", capture)
    grpc_channel.open_channel("127.0.0.1:1", insecure=insecure)
    [options] = opened
    assert options["grpc.keepalive_time_ms"] == 60_000 and options["grpc.keepalive_timeout_ms"] == 20_000
    assert options["grpc.keepalive_permit_without_calls"] == 1
