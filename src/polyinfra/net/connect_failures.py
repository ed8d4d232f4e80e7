"""Why a connection could not be opened, in words that point at the fix.

httpx says "All connection attempts failed", websockets a bare ``ConnectionRefusedError``, OpenSSL
``WRONG_VERSION_NUMBER``; the usual causes are setup mistakes a user fixes in seconds when told
which: a server that is not running, ``https://`` (or ``wss://``) to a plain HTTP port, a mistyped
host. :func:`connect_failure` reads the OS or TLS exception at the bottom of a library's chain and
says which, for the REST transport and the WebSocket channels alike.
"""

from __future__ import annotations

import socket
import ssl
from typing import Final
from urllib.parse import urlsplit

__all__ = ["connect_failure"]

_LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "::1"})
# OpenSSL's reasons when the other end does not speak TLS at all (a plain HTTP server answering
# the ClientHello with "HTTP/1.1 400 ..."), as opposed to a certificate it does not trust.
_NOT_TLS_REASONS: Final = frozenset(
    {"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "UNKNOWN_PROTOCOL", "HTTP_REQUEST"}
)


def connect_failure(exc: BaseException, url: str) -> tuple[str, bool] | None:
    """Why a connection to ``url`` failed, in words that point at the fix, and whether retrying
    can help; None when the chain holds no cause this knows (the caller names the exception).

    The cause is the OS or TLS exception at the bottom of the library's chain. A TLS failure is
    final: the same handshake with the same server fails the same way."""
    parts = urlsplit(url)
    host = parts.hostname
    plain = "a ws://" if parts.scheme == "wss" else "an http://"
    chained: BaseException | None = exc
    while chained is not None:
        if isinstance(chained, ConnectionRefusedError):
            if host in _LOOPBACK_HOSTS:
                return "connection refused: is the emulator running? (polyinfra emulator)", True
            return "connection refused: is the host and port right, and the server up?", True
        if isinstance(chained, ssl.SSLCertVerificationError):
            return f"TLS certificate not trusted ({chained.verify_message})", False
        if isinstance(chained, ssl.SSLError):
            if chained.reason in _NOT_TLS_REASONS:
                return f"TLS handshake failed: is this {plain} URL?", False
            return f"TLS handshake failed ({chained.reason})", False
        if isinstance(chained, socket.gaierror):
            return "host name not found: check the URL", True
        chained = chained.__cause__ or chained.__context__
    return None
