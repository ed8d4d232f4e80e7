"""Sinks by URL, as the command line names them: ``sqlite:///PATH``, ``postgresql://...`` and
``nats://[user:password@]host[:port]/STREAM``."""

from __future__ import annotations

from typing import Final

from polyinfra.errors import RecorderError, SinkUrlError
from polyinfra.obs.redaction import url_without_credentials
from polyinfra.record.sink import Sink
from polyinfra.record.sqlite_sink import SQLiteSink

__all__ = ["open_sink"]

_SQLITE_PREFIX: Final = "sqlite:///"
_POSTGRES_PREFIXES: Final = ("postgresql://", "postgres://")  # libpq takes both
_NATS_PREFIX: Final = "nats://"


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
    if url.startswith(_NATS_PREFIX):
        return _jetstream_sink(url)
    scheme = url.partition("://")[0] if "://" in url else ""
    raise SinkUrlError(
        "unknown sink URL; the recorder stores to sqlite:///PATH, postgresql://... or nats://HOST[:PORT]/STREAM",
        url=url_without_credentials(url),  # of an unknown scheme: its user name may be a token
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


def _jetstream_sink(url: str) -> Sink:
    # Imported here: nats-py is the optional extra "nats".
    try:
        from polyinfra.record.jetstream_sink import JetStreamSink  # noqa: PLC0415
    except ImportError as exc:
        raise SinkUrlError(
            "the NATS sink needs nats-py: pip install 'polyinfra[nats]'", url=url_without_credentials(url)
        ) from exc
    return JetStreamSink(url)
