"""The fleet sink: a NATS JetStream stream per recording, ``nats://[user:password@]host[:port]/STREAM``.

Layout. Each record is one message on ``polyinfra.<stream>.<source>.<channel>.<key or _>`` (each part
escaped into a subject token, see :func:`subject_token`), so a fleet consumer can follow one token of
one channel with a subject filter. The message is the whole record as a msgpack envelope (raw payload
included, untouched); session headers go to ``polyinfra.<stream>.sessions``.

Acknowledged. :meth:`JetStreamSink.write` publishes the batch without waiting between messages and
returns once the server acknowledged every one of them (each message names a reply subject of the
sink's own; nats-py's ``publish_async`` is not used because it leaves the future of a message the
server refused unanswered, an error its callback raises instead of setting) (a JetStream ack means the stream stored the
message, replicated as the stream is configured; a single server syncs its files to disk every
``sync_interval``, 2 minutes by default, so only ``sync_interval: always`` or replicas make an ack
survive a power cut). One failed or missing ack fails the batch with
:class:`~polyinfra.errors.SinkWriteError`, and the recorder writes it again.

Stored once. Every message carries ``Nats-Msg-Id: <event_id>``, and the server drops a message whose
id it saw within the stream's duplicate window (:data:`DUPLICATE_WINDOW_S`, set explicitly when this
sink creates the stream). That window is a server-side memory of recent ids, not a unique index: an
event re-sent after it (a writer retrying through a long outage, a tape written again hours later) is
stored a second time. Reads therefore drop every ``event_id`` already read (and every session header
already read), so a reader never sees an event twice whatever the window; the price is the set of
event ids of one read, held for that read.

Order. Messages from one connection reach the stream in the order they were published, so the stream
order is the written order, and reads return it as the SQLite sink returns its ``seq`` order (first
copy wins). One limit: a batch the server took only in part (a stream leader change mid-batch) is
written again, and its missing records then come after the ones that did go in. A ``kill -9`` cannot
do that: the server receives a prefix of what the writer sent.

A recorder fleet. ``polyinfra record --fleet`` writes each shard of its token universe into a stream of
its own, ``STREAM-shard-N`` (:func:`shard_stream_name`; the fencing that keeps a shard to its lease
holder is per stream, see :mod:`polyinfra.record.fenced_sink`). A read of ``STREAM`` when no stream of
that name exists but shard streams do reads the fleet's recording: each shard stream whole, one after
another (every key belongs to one shard, so each key's records stay in their written order).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import re
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Sequence
from typing import Any, Final, TypeVar

import msgspec
import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig

from polyinfra.errors import CorruptRecordError, MalformedMessageError, RecorderError, SinkUrlError, SinkWriteError
from polyinfra.obs.logging import get_logger
from polyinfra.obs.redaction import MASK, url_without_credentials
from polyinfra.record.records import Record, RecordKind, SessionHeader, SourceChannel
from polyinfra.record.sink import Sink
from polyinfra.wire.json_decoding import JsonDecoder

__all__ = [
    "DUPLICATE_WINDOW_S",
    "JetStreamSink",
    "PublishRefusedError",
    "parse_nats_url",
    "record_subject",
    "shard_stream_name",
    "shard_stream_url",
    "stored_message",
    "stored_sequence",
    "subject_token",
]

_log = get_logger(__name__)

DUPLICATE_WINDOW_S: Final = 120.0
"""How long the server remembers message ids to drop re-sends (JetStream's own default, stated here so
it does not change under us). Longer costs server memory: one entry per message in the window."""
_DEFAULT_PORT: Final = 4222
_STREAM_NAME: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Longer tokens are hashed: NATS caps a protocol line (subject included) at 4 KB by default.
_MAX_PLAIN_TOKEN_CHARS: Final = 100
_PLAIN_TOKEN: Final = re.compile(f"[A-Za-z0-9-]{{1,{_MAX_PLAIN_TOKEN_CHARS}}}")
_MSG_ID: Final = "Nats-Msg-Id"
_SHARD_SUFFIX: Final = "-shard-"
_MAX_SHARD_DIGITS: Final = 4
# What nats-py writes around the header pairs: "NATS/1.0\r\n" before, "\r\n" after.
_HEADER_FRAMING_BYTES: Final = 12
_ACK_TIMEOUT_S: Final = 60.0
"""Hang guard for a batch's acks (an ack lost with its connection fails the batch, which is retried)."""
_READ_CHUNK_MESSAGES: Final = 2_000
_FETCH_TIMEOUT_S: Final = 60.0
"""Hang guard for one fetch: reads only ask for messages the consumer said are there."""
# The server removes a read's consumer this long after its last fetch: long, because a paced replay
# waits between chunks as long as the tape's own time between them; it only reclaims a reader that died.
_READER_INACTIVE_S: Final = 24 * 3600.0
_CONNECT_TIMEOUT_S: Final = 5.0
# nats-py reconnects a few times on its own (re-sending what it buffered); past that the connection
# closes and the sink opens a new one at its next call. Bounded, because nats-py spends the same
# attempts on the first connect: an unreachable server fails a call in about two seconds.
_RECONNECT_ATTEMPTS: Final = 4
_RECONNECT_WAIT_S: Final = 0.5
_RECORDS_FILTER: Final = "polyinfra.{}.*.*.*"
_SESSIONS_FILTER: Final = "polyinfra.{}.sessions"
_ENCODE = msgspec.msgpack.Encoder().encode
_DECODE_RECORD = msgspec.msgpack.Decoder(Record).decode
_DECODE_HEADER = msgspec.msgpack.Decoder(SessionHeader).decode
_T = TypeVar("_T")


class PublishRefusedError(Exception):
    """The server refused one published message (internal: the sink turns it into a
    :class:`~polyinfra.errors.SinkWriteError`, this as its cause)."""

    def __init__(self, err_code: int, description: str) -> None:
        super().__init__(f"err_code={err_code} {description}")
        self.err_code = err_code


class _ApiError(msgspec.Struct):
    err_code: int = 0
    description: str = ""


class _PublishAnswer(msgspec.Struct):
    seq: int = 0
    error: _ApiError | None = None


_MAX_ANSWER_BYTES: Final = 64 * 1024
_DECODE_ANSWER: Final[JsonDecoder[_PublishAnswer]] = JsonDecoder(
    _PublishAnswer, what="JetStream publish answer", max_bytes=_MAX_ANSWER_BYTES
)
_NO_RESPONDERS: Final = "503"
_NO_RESPONDERS_CODE: Final = 503


def stored_sequence(answer: bytes) -> int:
    """The stream sequence the server's answer to a published message gives it;
    :class:`PublishRefusedError` when the answer is a refusal or does not decode."""
    try:
        decoded = _DECODE_ANSWER.decode(answer)
    except MalformedMessageError as exc:
        raise PublishRefusedError(0, f"the server's answer does not decode: {exc.message[:200]}") from exc
    if decoded.error is not None:
        raise PublishRefusedError(decoded.error.err_code, decoded.error.description[:200])
    return decoded.seq


def subject_token(text: str) -> str:
    """``text`` as one NATS subject token, distinct texts giving distinct tokens: letters, digits and
    ``-`` stay, every other byte becomes ``%XX`` (``_`` too: the empty text is ``_``), and a token
    longer than 100 characters becomes ``~`` and a BLAKE2b digest of the text."""
    if _PLAIN_TOKEN.fullmatch(text):
        return text
    if not text:
        return "_"
    escaped = "".join(
        chr(byte) if byte < 0x80 and (chr(byte).isalnum() or byte == 0x2D) else f"%{byte:02X}" for byte in text.encode()
    )
    if len(escaped) <= _MAX_PLAIN_TOKEN_CHARS:
        return escaped
    return "~" + hashlib.blake2b(text.encode(), digest_size=20).hexdigest()


@functools.lru_cache(maxsize=65_536)
def record_subject(stream: str, source: str, channel: str, key: str) -> str:
    """The subject of a record of ``source``, ``channel`` and ``key`` in ``stream``."""
    return f"polyinfra.{stream}.{subject_token(source)}.{subject_token(channel)}.{subject_token(key)}"


def shard_stream_name(stream: str, shard: int) -> str:
    """The stream that holds shard ``shard`` of the fleet recording ``stream``."""
    return f"{stream}{_SHARD_SUFFIX}{shard}"


def shard_stream_url(url: str, shard: int) -> str:
    """``nats://.../STREAM`` of a fleet recording as the URL of its shard ``shard``'s stream."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + shard_stream_name(parts.path.removeprefix("/"), shard)))


def stored_message(message: Msg) -> Record | SessionHeader | None:
    """What a message of a recording's stream holds: a record, a session header, or None (a fleet's
    takeover marker); :class:`~polyinfra.errors.CorruptRecordError` for one that does not decode."""
    # polyinfra.STREAM.sessions and polyinfra.STREAM.fence; a record's subject has five tokens.
    stream_level = message.subject.split(".", 2)[2:]
    try:
        if stream_level == ["sessions"]:
            return _DECODE_HEADER(message.data)
        if stream_level == ["fence"]:
            return None
        return _DECODE_RECORD(message.data)
    except msgspec.DecodeError as exc:
        raise CorruptRecordError(
            f"a stored message cannot be read back: {exc}"[:300],
            stream=message.metadata.stream,
            seq=message.metadata.sequence.stream,
        ) from exc


def _header_bytes(headers: dict[str, str]) -> int:
    """The size of ``headers`` as nats-py frames them: the server counts them against its max payload."""
    return _HEADER_FRAMING_BYTES + sum(len(name) + len(value.encode()) + 4 for name, value in headers.items())


class JetStreamSink(Sink):
    """Records in the JetStream stream the URL names (created when missing).

    A stream that exists already is used as it is (an operator may have set its replicas, limits
    or duplicate window), provided it takes the sink's subjects. The connection opens on first use.
    """

    def __init__(self, url: str) -> None:
        self.url = url_without_credentials(url)
        self._server, self.stream, self._credential = parse_nats_url(url, self.url)
        self._subjects = f"polyinfra.{self.stream}.>"
        self._sessions_subject = f"polyinfra.{self.stream}.sessions"
        self._connection: Client | None = None
        self._jetstream: JetStreamContext | None = None
        self._connecting = asyncio.Lock()
        self._acks_in_flight: set[asyncio.Future[Any]] = set()
        self._ack_waiters: dict[str, asyncio.Future[Any]] = {}
        self._ack_inbox = ""
        self._ack_count = 0
        # What reads read: the stream, a fleet's shard streams (found when the stream is missing), or
        # nothing (neither exists yet: the first write creates the stream).
        self._read_streams = [self.stream]

    # --- writes ------------------------------------------------------------------------------------

    async def write_header(self, header: SessionHeader) -> None:
        await self._publish([(self._sessions_subject, _ENCODE(header), f"session {header.session_id}")], "header")

    async def write(self, records: Sequence[Record]) -> None:
        stream = self.stream
        await self._publish(
            [
                (record_subject(stream, record.source, record.channel, record.key), _ENCODE(record), record.event_id)
                for record in records
            ],
            "batch",
        )

    async def _publish(self, messages: Sequence[tuple[str, bytes, str]], what: str) -> None:
        """Publish ``(subject, payload, message id)`` messages back to back, then wait for every ack."""
        try:
            _, max_payload = await self._writable()
        except RecorderError as exc:
            raise SinkWriteError(f"JetStream {what} not stored: {exc.message}", retriable=exc.retriable) from exc
        headers = self._headers([message_id for _, _, message_id in messages])
        # Checked before anything is sent: the server answers an oversized message by closing the
        # connection, and a batch must not go in part.
        for (_, payload, message_id), message_headers in zip(messages, headers, strict=True):
            size = len(payload) + _header_bytes(message_headers)
            if size > max_payload:
                raise SinkWriteError(
                    "a record is larger than the NATS server's max payload",
                    retriable=False,
                    event_id=message_id[:100],
                    bytes=size,
                    max_payload=max_payload,
                )
        acks: list[asyncio.Future[Any]] = []
        connection = self._connection
        assert connection is not None
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(_ACK_TIMEOUT_S):
                for (subject, payload, _), message_headers in zip(messages, headers, strict=True):
                    self._ack_count += 1
                    reply = f"{self._ack_inbox}.{self._ack_count}"
                    ack: asyncio.Future[Any] = loop.create_future()
                    self._ack_waiters[reply] = ack
                    acks.append(ack)
                    self._acks_in_flight.add(ack)
                    await connection.publish(subject, payload, reply=reply, headers=message_headers)
                await asyncio.gather(*acks)
        except (nats.errors.Error, OSError, TimeoutError, PublishRefusedError) as exc:
            raise SinkWriteError(f"JetStream {what} not acknowledged: {self._described(exc)}", url=self.url) from exc
        finally:
            self._acks_in_flight.difference_update(acks)
            for ack in acks:
                ack.cancel()  # an ack that will never come
            for reply in [reply for reply, waiter in self._ack_waiters.items() if waiter.done()]:
                del self._ack_waiters[reply]

    async def _on_ack(self, message: Msg) -> None:
        """The server's answer to one published message: its sequence, or why it refused it."""
        waiter = self._ack_waiters.pop(message.subject, None)
        if waiter is None or waiter.done():
            return
        if message.headers and message.headers.get("Status") == _NO_RESPONDERS:
            waiter.set_exception(PublishRefusedError(_NO_RESPONDERS_CODE, "no stream takes this subject"))
            return
        try:
            waiter.set_result(stored_sequence(message.data))
        except PublishRefusedError as exc:
            waiter.set_exception(exc)

    def _headers(self, message_ids: Sequence[str]) -> list[dict[str, str]]:
        """The headers of a batch's messages: the id the server deduplicates by."""
        return [{_MSG_ID: message_id} for message_id in message_ids]

    # --- reads -------------------------------------------------------------------------------------

    async def read_chunks(
        self,
        *,
        start_wall_ns: int | None = None,
        end_wall_ns: int | None = None,
        kinds: Collection[RecordKind] | None = None,
        source_channel: SourceChannel | None = None,
    ) -> AsyncIterator[Sequence[Record]]:
        seen: set[str] = set()
        subject_filter = _RECORDS_FILTER
        if source_channel is not None:
            # The server sends only that channel's messages (their subjects name it; the check
            # below stays for a message published under a subject that is not its record's).
            source, channel = source_channel
            subject_filter = f"polyinfra.{{}}.{subject_token(source)}.{subject_token(channel)}.*"
        async for messages in self._messages_of_every_stream(subject_filter):
            chunk = []
            for record in self._decoded(messages, _DECODE_RECORD, "record"):
                if record.event_id in seen:
                    continue
                seen.add(record.event_id)
                if (
                    (kinds is None or record.kind in kinds)
                    and (source_channel is None or (record.source, record.channel) == source_channel)
                    and (start_wall_ns is None or record.recv_wall_ns >= start_wall_ns)
                    and (end_wall_ns is None or record.recv_wall_ns < end_wall_ns)
                ):
                    chunk.append(record)
            yield chunk

    async def headers(self) -> list[SessionHeader]:
        by_session: dict[str, SessionHeader] = {}
        async for messages in self._messages_of_every_stream(_SESSIONS_FILTER):
            for header in self._decoded(messages, _DECODE_HEADER, "session header"):
                by_session.setdefault(header.session_id, header)
        return sorted(by_session.values(), key=lambda header: header.started_wall_ns)

    async def read_streams(self) -> list[tuple[JetStreamContext, str]]:
        """The JetStream context and each stream a read of this sink reads (a fleet's shard streams,
        or the stream itself): for a consumer of its own, as the PostgreSQL relay has."""
        jetstream, _ = await self._connected()
        return [(jetstream, stream) for stream in self._read_streams]

    async def _messages_of_every_stream(self, subject_filter: str) -> AsyncIterator[list[Msg]]:
        """:meth:`_messages` of each stream a read reads; ``subject_filter`` names the stream ``{}``."""
        await self._connected()
        for stream in self._read_streams:
            async for messages in self._messages(stream, subject_filter.format(stream)):
                yield messages

    async def _messages(self, stream: str, subject_filter: str) -> AsyncIterator[list[Msg]]:
        """``stream``'s messages on ``subject_filter`` in stream order, as far as the stream went
        when the read began, a fetch at a time (an ephemeral consumer, deleted afterwards)."""
        jetstream, _ = await self._connected()
        config = ConsumerConfig(
            ack_policy=AckPolicy.NONE,
            deliver_policy=DeliverPolicy.ALL,
            mem_storage=True,
            inactive_threshold=_READER_INACTIVE_S,
        )
        subscription = await self._call(jetstream.pull_subscribe(subject_filter, stream=stream, config=config))
        consumer: str | None = None
        try:
            info = await self._call(subscription.consumer_info())
            consumer, remaining = info.name, info.num_pending or 0
            while remaining > 0:
                messages = await self._call(
                    subscription.fetch(min(remaining, _READ_CHUNK_MESSAGES), timeout=_FETCH_TIMEOUT_S)
                )
                remaining -= len(messages)
                yield messages
        finally:
            await self._call(subscription.unsubscribe())
            if consumer is not None:
                await self._call(jetstream.delete_consumer(stream, consumer))

    def _decoded(self, messages: Iterable[Msg], decode: Callable[[bytes], Any], what: str) -> Iterable[Any]:
        for message in messages:
            try:
                yield decode(message.data)
            except msgspec.DecodeError as exc:  # ValidationError included
                raise CorruptRecordError(
                    f"a stored {what} cannot be read back: {exc}",
                    stream=message.metadata.stream,
                    seq=message.metadata.sequence.stream,
                ) from exc

    # --- the connection ----------------------------------------------------------------------------

    async def close(self) -> None:
        async with self._connecting:
            if self._connection is not None:
                await self._call(self._connection.close())
                self._connection = self._jetstream = None

    async def _connected(self) -> tuple[JetStreamContext, int]:
        """The JetStream context and the server's max payload, connecting (again) when needed."""
        async with self._connecting:
            if self._connection is None or self._connection.is_closed:
                connection = await self._call(
                    nats.connect(
                        servers=[self._server],
                        name="polyinfra-recorder",
                        connect_timeout=_CONNECT_TIMEOUT_S,
                        reconnect_time_wait=_RECONNECT_WAIT_S,
                        max_reconnect_attempts=_RECONNECT_ATTEMPTS,
                        error_cb=self._log_error,
                        disconnected_cb=self._fail_acks_in_flight,
                    )
                )
                jetstream = connection.jetstream()
                try:
                    await self._ensure_stream(jetstream)
                    self._ack_inbox = connection.new_inbox()
                    await self._call(connection.subscribe(f"{self._ack_inbox}.*", cb=self._on_ack))
                except RecorderError:
                    await self._call(connection.close())
                    raise
                self._connection, self._jetstream = connection, jetstream
            assert self._jetstream is not None
            return self._jetstream, self._connection.max_payload

    async def _writable(self) -> tuple[JetStreamContext, int]:
        """As :meth:`_connected`, the stream created if it is missing (reads never create it: a
        read of a fleet's name before the fleet made its shard streams must not take the name)."""
        jetstream, max_payload = await self._connected()
        if self._read_streams == []:
            config = StreamConfig(
                name=self.stream,
                subjects=[self._subjects],
                storage=StorageType.FILE,
                duplicate_window=DUPLICATE_WINDOW_S,
            )
            await self._call(jetstream.add_stream(config))  # the same config twice is no error
            self._read_streams = [self.stream]
        if self._read_streams != [self.stream]:
            raise RecorderError(
                "this stream name is a recorder fleet's: write to it with polyinfra record --fleet",
                retriable=False,
                url=self.url,
            )
        return jetstream, max_payload

    async def _ensure_stream(self, jetstream: JetStreamContext) -> None:
        """Find what reads read: the stream, a fleet's shard streams, or nothing yet (``[]``)."""
        try:
            info = await jetstream.stream_info(self.stream)
        except nats.js.errors.NotFoundError:
            self._read_streams = await self._shard_streams(jetstream)
            return
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            raise RecorderError(
                f"cannot open the JetStream stream: {self._described(exc)}", retriable=True, url=self.url
            ) from exc
        else:
            if self._subjects not in (info.config.subjects or []):
                raise RecorderError(
                    "the JetStream stream exists but does not take the recorder's subjects",
                    url=self.url,
                    subjects=self._subjects,
                )

    async def _shard_streams(self, jetstream: JetStreamContext) -> list[str]:
        """The shard streams of a fleet recording named like this sink's stream, by shard number."""
        shard = re.compile(re.escape(self.stream + _SHARD_SUFFIX) + f"([0-9]{{1,{_MAX_SHARD_DIGITS}}})")
        found = []
        offset = 0
        while page := await self._call(jetstream.streams_info(offset)):  # the server answers a page at a time
            offset += len(page)
            for info in page:
                matched = shard.fullmatch(info.config.name or "")
                if matched:
                    found.append((int(matched.group(1)), info.config.name or ""))
        return [name for _, name in sorted(found)]

    async def _call(self, call: Awaitable[_T]) -> _T:
        """Await a nats-py call, its errors turned into :class:`~polyinfra.errors.RecorderError`."""
        try:
            return await call
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            # Retriable: the connection or the server failed, not the request.
            raise RecorderError(
                f"JetStream request failed: {self._described(exc)}", retriable=True, url=self.url
            ) from exc

    def _described(self, exc: BaseException) -> str:
        """The exception's type and text, the URL's credential masked (nats-py may quote the URL)."""
        text = f"{type(exc).__name__}: {exc}"[:300]
        return text.replace(self._credential, MASK) if self._credential else text

    async def _fail_acks_in_flight(self) -> None:
        # The ack of a message sent before the connection dropped may never come: fail its batch now
        # (the recorder sends it again, deduplicated) rather than at the hang guard.
        for ack in self._acks_in_flight:
            if not ack.done():
                ack.set_exception(nats.errors.ConnectionClosedError())

    async def _log_error(self, exc: Exception) -> None:
        # nats-py's default callback logs the exception whole; this one masks the credential.
        _log.warning("NATS connection error", url=self.url, error=self._described(exc))


def parse_nats_url(url: str, shown_url: str) -> tuple[str, str, str | None]:
    """The server URL for nats-py, the stream name and the URL's credential (password or token), from
    ``nats://[user:password@|token@]host[:port]/STREAM``; ``shown_url`` is what errors show."""
    parts = urllib.parse.urlsplit(url)
    stream = parts.path.removeprefix("/")
    try:
        port = parts.port or _DEFAULT_PORT
    except ValueError as exc:
        raise SinkUrlError("a NATS sink URL has a port from 1 to 65535", url=shown_url) from exc
    if parts.scheme != "nats" or not parts.hostname or parts.query or parts.fragment:
        raise SinkUrlError("a NATS sink URL is nats://[user:password@]host[:port]/STREAM", url=shown_url)
    if not _STREAM_NAME.fullmatch(stream):
        raise SinkUrlError(
            "a NATS sink URL names its stream after the host: 1 to 64 letters, digits, '_' or '-'", url=shown_url
        )
    credential = parts.password or parts.username
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    userinfo = parts.netloc.rpartition("@")[0]
    return f"nats://{userinfo + '@' if userinfo else ''}{host}:{port}", stream, credential or None
