"""A shard's stream that only its lease holder can write: fencing enforced by the JetStream server.

A fleet recorder holds a shard by a lease (:mod:`polyinfra.record.shard_leases`) whose fencing number
grows with every new holder. A process that was paused (a stop-the-world pause, a frozen VM) can wake
up still believing it holds the lease; checking the lease before each write does not stop it, since
the lease can change hands between the check and the write. So the store itself refuses:

* the shard has a stream of its own, written by its holder only, so the holder knows the stream's
  last message exactly;
* every message the holder publishes names the message it must follow, and the server stores it
  only when the stream's last message is that one: the first message of a batch says
  ``Nats-Expected-Last-Sequence: <the stream's last sequence>``, each later one
  ``Nats-Expected-Last-Msg-Id: <the event id before it>``. Ids, not sequence numbers, after the
  first: once one message was refused, a later one of the same batch expecting "sequence n + 2"
  could match a stream that moved on by one other message; no message but its own predecessor
  carries the id it expects. The first message goes by sequence because a server restart forgets
  the last message id;
* a new holder first publishes a **takeover marker** (on ``polyinfra.<stream>.fence``, with its
  fencing number and an id of its own) expecting the last sequence it read: that one message breaks
  the old holder's chain, so every later message of the old holder is refused by the server and
  nothing of it is stored. Two would-be holders racing to publish a marker are ordered the same way.

::

    holder A:  marker(f=3) ─ rec ─ rec ─ rec ─┐              (each expects the one before it)
    holder B:                                 └ marker(f=7) ─ rec ─ rec ...
    A, awake again:                             rec (expects A's last) ──> refused: FencedOffError

Every message carries ``Polyinfra-Fence: <fencing number>`` and ``Nats-Msg-Id: <event id>``.
After a failed write the sink does not know what the server took, so before its next write it reads
the stream's last message: another holder's fencing number there means the shard was taken over
(:class:`~polyinfra.errors.FencedOffError`, not retriable); its own means the batch went in up to that
event (each message expects the one before, so what went in is always a prefix), and only the rest is
sent again, so no event is sent twice and the server's duplicate window never drops a message of the
chain (which would leave the stream's last message where the next message does not expect it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import nats.js.errors

from polyinfra.errors import FencedOffError, RecorderError, SinkWriteError
from polyinfra.record.jetstream_sink import JetStreamSink, PublishRefusedError

__all__ = ["FENCE_HEADER", "FencedJetStreamSink"]

FENCE_HEADER: Final = "Polyinfra-Fence"
_MSG_ID: Final = "Nats-Msg-Id"
_EXPECTED_LAST_SEQ: Final = "Nats-Expected-Last-Sequence"
_EXPECTED_LAST_ID: Final = "Nats-Expected-Last-Msg-Id"
_WRONG_LAST: Final = frozenset({10071, 10070})
"""The JetStream API error codes of a publish whose expected last sequence or message id was not
the stream's."""


class FencedJetStreamSink(JetStreamSink):
    """The stream of ``url`` written under fencing number ``fence``; :meth:`claim` before writing."""

    def __init__(self, url: str, *, fence: int) -> None:
        super().__init__(url)
        self.fence = fence
        self._fence_subject = f"polyinfra.{self.stream}.fence"
        self._last_seq: int | None = None
        """The stream's last sequence as far as this writer knows it (None: read it again first)."""

    async def claim(self) -> None:
        """Publish the takeover marker: from here on, writes under a lower fencing number are refused.
        :class:`~polyinfra.errors.FencedOffError` when a higher fencing number claimed the stream first."""
        await self._publish([(self._fence_subject, b"", f"takeover {self.fence}")], "takeover marker")

    async def _publish(self, messages: Sequence[tuple[str, bytes, str]], what: str) -> None:
        if self._last_seq is None:
            messages = messages[await self._stored_prefix(messages, claiming=what == "takeover marker") :]
            if not messages:
                return
        try:
            await super()._publish(messages, what)
        except SinkWriteError as exc:
            self._last_seq = None
            if _refused_for_sequence(exc):
                await self._stored_prefix(messages, claiming=False)  # raises when fenced off
            raise
        assert self._last_seq is not None
        self._last_seq += len(messages)

    def _headers(self, message_ids: Sequence[str]) -> list[dict[str, str]]:
        assert self._last_seq is not None
        fence = str(self.fence)
        headers = [{FENCE_HEADER: fence, _MSG_ID: message_id} for message_id in message_ids]
        if headers:
            headers[0][_EXPECTED_LAST_SEQ] = str(self._last_seq)
        for previous_id, message_headers in zip(message_ids, headers[1:], strict=False):
            message_headers[_EXPECTED_LAST_ID] = previous_id
        return headers

    async def _stored_prefix(self, messages: Sequence[tuple[str, bytes, str]], *, claiming: bool) -> int:
        """Read the stream's last message: how many of ``messages`` it shows already stored, and
        ``_last_seq`` set from it. Fenced off when a higher fencing number wrote it (or, unless
        ``claiming``, any other fencing number: a holder's own chain starts at its own marker)."""
        jetstream, _ = await self._writable()
        last_seq = (await self._call(jetstream.stream_info(self.stream))).state.last_seq
        stored_fence, stored_event = -1, ""
        if last_seq:
            try:
                last = await self._call(jetstream.get_msg(self.stream, seq=last_seq))
            except RecorderError as exc:
                if isinstance(exc.__cause__, nats.js.errors.NotFoundError):
                    raise SinkWriteError("the shard stream's last message went away; try again", url=self.url) from exc
                raise
            headers = last.headers or {}
            stored_fence = _fence_number(headers.get(FENCE_HEADER, ""))
            stored_event = headers.get(_MSG_ID, "")
        if stored_fence > self.fence or (not claiming and stored_fence != self.fence):
            raise FencedOffError(
                "another recorder took over this shard: its lease has a newer fencing number",
                url=self.url,
                fence=self.fence,
                newer_fence=stored_fence,
            )
        self._last_seq = last_seq
        for index, (_, _, message_id) in enumerate(messages):
            if message_id == stored_event and stored_fence == self.fence:
                return index + 1
        return 0


def _refused_for_sequence(exc: SinkWriteError) -> bool:
    cause = exc.__cause__
    return isinstance(cause, PublishRefusedError) and cause.err_code in _WRONG_LAST


def _fence_number(text: str) -> int:
    """A stored fencing number; -1 for a message written without one (no holder's)."""
    return int(text) if text.isdigit() and len(text) < 20 else -1
