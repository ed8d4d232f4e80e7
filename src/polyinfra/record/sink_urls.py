"""Sinks by URL, as the command line names them: ``sqlite:///PATH`` and
``nats://[user:password@]host[:port]/STREAM`` (``postgresql://`` is the sink still to come)."""

from __future__ import annotations

from typing import Final

from polyinfra.errors import SinkUrlError
from polyinfra.obs.redaction import url_without_credentials
from polyinfra.record.sink import Sink
from polyinfra.record.sqlite_sink import SQLiteSink

__all__ = ["open_sink"]

_SQLITE_PREFIX: Final = "sqlite:///"
_NATS_PREFIX: Final = "nats://"


def open_sink(url: str) -> Sink:
    """The sink ``url`` names. :class:`~polyinfra.errors.SinkUrlError` for a URL no sink serves,
    :class:`~polyinfra.errors.RecorderError` when the store cannot be opened."""
    if url.startswith(_SQLITE_PREFIX):
        path = url.removeprefix(_SQLITE_PREFIX)
        if not path:
            raise SinkUrlError("a SQLite sink URL needs a file path: sqlite:///PATH", url=url)
        return SQLiteSink(path)
    if url.startswith(_NATS_PREFIX):
        # Imported here: nats-py is the optional extra polyinfra[nats].
        try:
            from polyinfra.record.jetstream_sink import JetStreamSink  # noqa: PLC0415
        except ImportError as exc:
            raise SinkUrlError(
                "the NATS sink needs nats-py: pip install 'polyinfra[nats]'", url=url_without_credentials(url)
            ) from exc
        return JetStreamSink(url)
    scheme = url.partition("://")[0] if "://" in url else ""
    raise SinkUrlError(
        "unknown sink URL; the recorder stores to sqlite:///PATH or nats://HOST[:PORT]/STREAM",
        url=url_without_credentials(url),
        scheme=scheme or None,
    )
