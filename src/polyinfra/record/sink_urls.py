"""Sinks by URL, as the command line names them: ``sqlite:///PATH`` today (``postgresql://`` and
``nats://`` are the sinks still to come)."""

from __future__ import annotations

from typing import Final

from polyinfra.errors import SinkUrlError
from polyinfra.record.sink import Sink
from polyinfra.record.sqlite_sink import SQLiteSink

__all__ = ["open_sink"]

_SQLITE_PREFIX: Final = "sqlite:///"


def open_sink(url: str) -> Sink:
    """The sink ``url`` names. :class:`~polyinfra.errors.SinkUrlError` for a URL no sink serves,
    :class:`~polyinfra.errors.RecorderError` when the store cannot be opened."""
    if url.startswith(_SQLITE_PREFIX):
        path = url.removeprefix(_SQLITE_PREFIX)
        if not path:
            raise SinkUrlError("a SQLite sink URL needs a file path: sqlite:///PATH", url=url)
        return SQLiteSink(path)
    scheme = url.partition("://")[0] if "://" in url else ""
    raise SinkUrlError("unknown sink URL; the recorder stores to sqlite:///PATH", url=url, scheme=scheme or None)
