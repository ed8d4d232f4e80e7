"""What both replay servers share: playing a tape to its subscribers as if it were live.

The market channel's (:mod:`polyinfra.record.replay_server`) and the US exchange's
(:mod:`polyinfra.record.us_replay_server`) differ in what they serve and over which protocol; how the tape
is played is the same, and held here:

* **Start point.** The records before ``start_wall_ns`` are replayed at once and served to nobody; only then
  is the port opened, so the first client already sees the books as they stood there (a client served
  during the fast-forward would get books the records after them never reach).
* **Pace.** ``speed`` times the recorded pace (:class:`~polyinfra.record.pacing.Pacer`, against an injected
  clock and sleep), or with None as fast as the subscribers take it: before each record the server waits
  until they have room (each server says what room is, and cuts off a client that takes nothing).
* **Pause.** ``paused`` holds the tape at its start until :meth:`TapeServer.resume`; :meth:`TapeServer.pause`
  holds it again before its next record, and resuming goes on at the recorded pace (no catching up).
* **End.** At the tape's end, or at a damaged record (a :class:`~polyinfra.errors.PolyinfraError`, whose text
  the server keeps), the player stops and what was replayed stays served; an unexpected error is logged
  with its traceback, the same way.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Self

from polyinfra.errors import InvalidValueError, PolyinfraError
from polyinfra.record.pacing import Pacer
from polyinfra.record.records import Record

__all__ = ["TapeServer"]

_log = logging.getLogger(__name__)


class TapeServer(ABC):
    """A tape served on a port; run it with ``async with`` (or :meth:`start` and :meth:`stop`). ``what`` names
    the server in errors and logs."""

    def __init__(
        self,
        what: str,
        *,
        speed: float | None,
        start_wall_ns: int | None,
        paused: bool,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self._what = what
        self._pacer = None if speed is None else Pacer(speed, clock=clock, sleep=sleep)
        self._start_wall_ns = start_wall_ns
        self._playing = asyncio.Event()
        if not paused:
            self._playing.set()
        self._at_start = asyncio.Event()
        self._listening = asyncio.Event()
        self._player: asyncio.Task[None] | None = None

    # --- what each server does ----------------------------------------------------------------------

    @abstractmethod
    async def _prepare(self) -> None:
        """What the server must know before the tape plays."""

    @abstractmethod
    def _records(self) -> AsyncIterator[Record]:
        """The tape's records, unapplied."""

    @abstractmethod
    def _apply(self, record: Record, *, warming: bool) -> None:
        """Replay one record, and serve what it changed unless ``warming`` (before the start point)."""

    @abstractmethod
    async def _room(self) -> None:
        """Until every subscriber can take more (a tape played as fast as it goes waits for them)."""

    @abstractmethod
    async def _open(self) -> None:
        """Bind the port and serve (raises when the port cannot be had)."""

    @abstractmethod
    async def _close(self) -> None:
        """End every client and release the port."""

    @abstractmethod
    def _ended(self, error: str | None) -> None:
        """The tape has ended, or stopped at a damaged record (``error`` says why)."""

    # --- running ----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Replay the tape up to the start point, then open the port."""
        if self._player is not None:
            raise InvalidValueError(f"a {self._what} starts once")
        await self._prepare()
        self._player = asyncio.create_task(self._play(), name=f"{self._what} player")
        await self._at_start.wait()
        try:
            await self._open()
        except BaseException:
            await self.stop()
            raise
        self._listening.set()

    async def stop(self) -> None:
        """Stop the replay, end every client and release the port."""
        if self._player is not None:
            self._player.cancel()
            await asyncio.gather(self._player, return_exceptions=True)
        await self._close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.stop()

    def pause(self) -> None:
        """Hold the replay before its next record; what is served stays as it is."""
        self._playing.clear()

    def resume(self) -> None:
        """Go on from where it was paused, at the recorded pace from here (no catching up)."""
        if self._pacer is not None:
            self._pacer.restart()
        self._playing.set()

    async def wait_done(self) -> None:
        """Until the tape has ended (or stopped at a damaged record)."""
        if self._player is None:
            raise InvalidValueError(f"the {self._what} is not running")
        await asyncio.shield(self._player)

    # --- the tape ---------------------------------------------------------------------------------

    async def _play(self) -> None:
        start_ns = self._start_wall_ns
        error: str | None = None
        try:
            async for record in self._records():
                warming = start_ns is not None and record.recv_wall_ns < start_ns
                if not warming:
                    if not self._listening.is_set():
                        self._at_start.set()
                        await self._listening.wait()
                    await self._due(record)
                self._apply(record, warming=warming)
        except PolyinfraError as exc:
            # A damaged tape: what was replayed up to it stays served, and the server says why it ended.
            _log.error("the %s stopped: %s", self._what, exc)
            error = str(exc)
        except Exception:
            # A bug: logged with its traceback; the server goes on serving what was replayed.
            _log.exception("the %s stopped on an unexpected error", self._what)
            error = "unexpected error (see the log)"
        finally:
            self._ended(error)
            self._at_start.set()

    async def _due(self, record: Record) -> None:
        """Wait while paused, then until the record is due (at ``max`` speed: until every subscriber has
        room for more); a pause during the wait holds it again."""
        while True:
            await self._playing.wait()
            if self._pacer is not None:
                await self._pacer.wait_for(record)
            else:
                await self._room()
            if self._playing.is_set():
                return
