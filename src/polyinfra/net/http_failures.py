"""httpx's exceptions as polyinfra errors, and the frames of a failed send cleared of what they held.

:func:`translate_httpx_error` turns an exception raised while sending into the :class:`TransportError` /
:class:`RequestTimeoutError` / :class:`MalformedMessageError` a caller can act on, saying whether the request
can have been sent. :func:`forget_locals_below` clears the locals of the frames an escaping exception passed
through below the send, which held the revealed headers (the module docstring of :mod:`polyinfra.net.http`
says why).
"""

from __future__ import annotations

import traceback

import httpx

from polyinfra.errors import MalformedMessageError, PolyinfraError, RequestTimeoutError, TransportError
from polyinfra.net.connect_failures import connect_failure

__all__ = ["forget_locals_below", "translate_httpx_error"]


def translate_httpx_error(exc: Exception, method: str, path: str, base_url: str) -> PolyinfraError:
    """The polyinfra error for an httpx exception, saying whether the request can have been sent.

    A failed connection names the URL and its likely cause: httpx says only "All connection
    attempts failed" or an OpenSSL code, and the usual causes (a stopped server, https:// to a
    plain HTTP port) are mistakes of setup a user fixes in seconds when told which."""
    failed = f"{method} {path}"
    cause = type(exc).__name__
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        phase = "connect" if isinstance(exc, httpx.ConnectTimeout) else "pool"
        return RequestTimeoutError(
            f"{failed}: {phase} timed out",
            request_sent=False,
            phase=phase,
            endpoint=path,
            method=method,
            cause=cause,
        )
    if isinstance(exc, httpx.TimeoutException):
        phase = "write" if isinstance(exc, httpx.WriteTimeout) else "read"
        return RequestTimeoutError(
            f"{failed}: {phase} timed out", phase=phase, endpoint=path, method=method, cause=cause
        )
    if isinstance(exc, httpx.ConnectError):
        reason, retriable = connect_failure(exc, base_url) or ("could not connect", True)
        return TransportError(
            f"{failed}: cannot connect to {base_url}: {reason}",
            retriable=retriable,
            request_sent=False,
            endpoint=path,
            method=method,
            url=base_url,
            cause=cause,
            detail=str(exc)[:200],
        )
    if isinstance(exc, httpx.LocalProtocolError | httpx.UnsupportedProtocol | httpx.InvalidURL):
        return TransportError(
            f"{failed}: the request is not valid HTTP",
            retriable=False,
            request_sent=False,
            endpoint=path,
            method=method,
            cause=cause,
        )
    if isinstance(exc, httpx.DecodingError):
        return MalformedMessageError(
            f"{failed}: the answer's content encoding is broken", endpoint=path, method=method, cause=cause
        )
    return TransportError(
        f"{failed}: the connection failed", endpoint=path, method=method, cause=cause, detail=str(exc)[:200]
    )


def forget_locals_below(failure: BaseException, handled: BaseException | None) -> None:
    """Clear the locals of the finished frames ``failure`` passed through, and of every exception it
    chains down to ``handled`` (the caller's own, which is not ours to touch): below the send they
    hold the revealed headers. The frame still running (``_send``'s) is left as it is."""
    pending = [failure]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if current is handled or id(current) in seen:
            continue
        seen.add(id(current))
        traceback.clear_frames(current.__traceback__)
        pending += [chained for chained in (current.__cause__, current.__context__) if chained is not None]
