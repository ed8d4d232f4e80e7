"""Checks of a component's settings, done once when it is built.

A bad setting (a zero timeout, a negative queue size, ``True`` for a count, a URL without a
scheme) must fail where the component is created, with the setting's name, not hours later inside
a background task, or as a connection error that hides the typo behind retries.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final
from urllib.parse import urlsplit

from polyinfra.errors import InvalidValueError

__all__ = ["HTTP_SCHEMES", "WS_SCHEMES", "positive_int", "positive_number", "service_url"]

HTTP_SCHEMES: Final = ("http", "https")
WS_SCHEMES: Final = ("ws", "wss")


def positive_number(name: str, value: float) -> float:
    """``value`` as a float when it is a finite number above 0; else :class:`InvalidValueError`."""
    # bool is an int subclass: True as a timeout is a caller's mistake, not 1 second.
    if not (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0):
        raise InvalidValueError("must be a positive number", field=name, value=value)
    return float(value)


def positive_int(name: str, value: int) -> int:
    """``value`` when it is an int of at least 1; else :class:`InvalidValueError`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidValueError("must be a positive integer", field=name, value=value)
    return value


def service_url(name: str, url: str, schemes: Sequence[str]) -> str:
    """``url`` when it names a host under one of ``schemes`` (e.g. ``("http", "https")``); else
    :class:`InvalidValueError` saying how to write it (``127.0.0.1:8080`` alone would otherwise
    reach httpx as a relative URL and fail only when the first request is sent)."""
    forms = " or ".join(f"{scheme}://..." for scheme in schemes)
    if not isinstance(url, str) or "://" not in url:
        raise InvalidValueError(f"URL has no scheme: use {forms}", field=name, url=url)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises for a port that is not a number in range
    except ValueError as error:
        raise InvalidValueError(f"URL is not valid ({error}): use {forms}", field=name, url=url) from None
    if parts.scheme.lower() not in schemes:
        wanted = " or ".join(schemes)
        raise InvalidValueError(f"URL scheme {parts.scheme!r} is not {wanted}: use {forms}", field=name, url=url)
    if not parts.hostname:
        raise InvalidValueError(f"URL has no host: use {forms}", field=name, url=url)
    return url
