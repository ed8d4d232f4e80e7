"""Sinks by URL, as the command line names them: ``sqlite:///PATH`` and ``postgresql://...`` today
(``nats://`` is the sink still to come)."""

from __future__ import annotations

from typing import Final

from polyinfra.errors import RecorderError, SinkUrlError
from polyinfra.obs.redaction import redact_url
from polyinfra.record.sink import Sink
from polyinfra.record.sqlite_sink import SQLiteSink

__all__ = ["open_sink"]

_SQLITE_PREFIX: Final = "sqlite:///"
_POSTGRES_PREFIXES: Final = ("postgresql://", "postgres://")  # libpq takes both


def open_sink(url: str) -> Sink:
    """The sink ``url`` names. :class:`~polyinfra.errors.SinkUrlError` for a URL no sink serves,
    :class:`~polyinfra.errors.RecorderError` when the store cannot be opened."""
    if url.startswith(_SQLITE_PREFIX):
        path = url.removeprefix(_SQLITE_PREFIX)
        if not path:
            raise SinkUrlError("a SQLite sink URL needs a file path: sqlite:///PATH", url=url)
        return SQLiteSink(path)
    if url.startswith(_POSTGRES_PREFIXES):
        return _postgres_sink(url)
    scheme = url.partition("://")[0] if "://" in url else ""
    raise SinkUrlError(
        "unknown sink URL; the recorder stores to sqlite:///PATH or postgresql://...",
        url=redact_url(url),
        scheme=scheme or None,
    )


def _postgres_sink(url: str) -> Sink:
    # Imported here: psycopg is the optional extra "postgres", and SQLite users need not have it.
    try:
        from polyinfra.record.postgres_sink import PostgresSink  # noqa: PLC0415
    except ImportError as exc:
        raise RecorderError(
            "the PostgreSQL sink needs psycopg: pip install 'polyinfra[postgres]'", missing=exc.name
        ) from None
    return PostgresSink(url)
