"""A port on 127.0.0.1 that nothing listens on, for tests of what a client does when a server is down."""

from __future__ import annotations

import socket


def closed_port() -> int:
    """A port bound, then closed again: connecting to it is refused (nothing else takes it meanwhile
    unless it asks for that very port)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
