"""The emulated US exchange's DropCopy history: what it reported, kept with resume tokens.

:class:`DropCopyHistory` is a :class:`~polyinfra.emulator.us.exchange_events.UsExchangeEvents` listener: the
order engine tells it every execution, trade capture report, instrument state change and position change,
and it appends each to that stream's log with the next sequence number and a transact time (the event's
own; a log's times never go backwards, so a resume by time is a bisection). Streams read the logs; a new
record wakes them.

A resume token is opaque to clients; ours is ``b"pdc1"``, the history's epoch, the sequence number of the
next record and the time the token was issued (big-endian 4 + 4 + 8 + 8 bytes). :meth:`resume_position`
says where a token or a time resumes, or why the token is refused: malformed (INVALID_ARGUMENT), from
another epoch or refused by the knob (FAILED_PRECONDITION), older than the token lifetime or pointing
into pruned history (OUT_OF_RANGE, "expired"). :meth:`expire_tokens` starts a new epoch: every token
issued so far becomes invalid while the records stay, as after the venue's maintenance windows.

The instrument-state stream opens with every instrument's current state (:meth:`current_instruments`),
as the venue's does, then goes on from where it resumes. The retention rule (the ``retention_s`` knob)
prunes records older than that from the front of every log.

:meth:`generate` makes synthetic activity through the same listener methods (for tests and demos, at
``POST /_emulator/us/dropcopy/generate``): fills across symbols, each with its trade report and the
position it leaves.
"""

from __future__ import annotations

import asyncio
import bisect
import random
import struct
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from google.protobuf.message import Message

from polyinfra.core.us_dropcopy import DropCopyStream
from polyinfra.core.us_instruments import UsInstrument, UsInstrumentState, instrument_to_wire
from polyinfra.emulator.us.dropcopy_faults import UsDropCopyFaults
from polyinfra.errors import InvalidValueError
from polyinfra.wire.us.polymarket.v1 import dropcopy_pb2, enums_pb2, orders_pb2, positions_pb2, refdata_pb2

__all__ = ["DropCopyHistory", "Entry", "TokenRefusal"]

_TOKEN: Final = struct.Struct(">4sIQQ")
_TOKEN_MAGIC: Final = b"pdc1"
MAX_GENERATED: Final = 200_000


@dataclass(frozen=True, slots=True)
class Entry:
    """One record of a log: its sequence number, time, symbol and the message streams carry."""

    seq: int
    time_ns: int
    symbol: str
    message: Message


@dataclass(frozen=True, slots=True)
class TokenRefusal:
    """Why a resume token is refused: the gRPC status name and the venue-style message."""

    code: str
    message: str


class _Log:
    __slots__ = ("entries", "first_seq", "next_seq", "times")

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.times: list[int] = []
        self.first_seq = 0  # the oldest retained record's sequence number
        self.next_seq = 0

    def append(self, time_ns: int, symbol: str, message: Message) -> Entry:
        time_ns = max(time_ns, self.times[-1] if self.times else 0)
        entry = Entry(self.next_seq, time_ns, symbol, message)
        self.entries.append(entry)
        self.times.append(time_ns)
        self.next_seq += 1
        return entry

    def prune_before(self, time_ns: int) -> None:
        cut = bisect.bisect_left(self.times, time_ns)
        if cut:
            del self.entries[:cut]
            del self.times[:cut]
            self.first_seq = self.entries[0].seq if self.entries else self.next_seq

    def index_of(self, seq: int) -> int:
        return seq - self.first_seq

    def first_at(self, time_ns: int) -> int:
        """The sequence number of the first record at or after ``time_ns``."""
        return self.first_seq + bisect.bisect_left(self.times, time_ns)


class DropCopyHistory:
    """The four logs, the resume tokens over them and the wake-ups of the streams reading them."""

    def __init__(
        self,
        instruments: Sequence[UsInstrument],
        faults: UsDropCopyFaults,
        *,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self._instruments = {instrument.symbol: instrument for instrument in instruments}
        self.faults = faults
        self._clock_ns = clock_ns
        self._logs = {stream: _Log() for stream in DropCopyStream}
        self._epoch = 1
        self._waiters: set[asyncio.Event] = set()
        self._generated = 0
        self._last_generated_ns = 0
        self._positions: dict[tuple[str, str], int] = {}

    # --- the listener (UsExchangeEvents) ------------------------------------------------------

    def execution(self, execution: orders_pb2.Execution) -> None:
        self._append(DropCopyStream.EXECUTIONS, execution.transact_time, execution.order.symbol, execution)

    def trade(self, trade: orders_pb2.Trade) -> None:
        self._append(DropCopyStream.TRADES, trade.aggressor.transact_time, trade.aggressor.order.symbol, trade)

    def instrument_state_change(self, instrument: refdata_pb2.Instrument) -> None:
        self._append(DropCopyStream.INSTRUMENTS, instrument.update_time, instrument.symbol, instrument)

    def position_change(self, change: dropcopy_pb2.PositionChange) -> None:
        self._append(DropCopyStream.POSITIONS, change.change_time, change.position.symbol, change)

    def _append(self, stream: DropCopyStream, timestamp: object, symbol: str, message: Message) -> None:
        time_ns = timestamp.ToNanoseconds() or self._clock_ns()  # type: ignore[attr-defined]
        self._logs[stream].append(time_ns, symbol, message)
        self.prune()
        for waiter in self._waiters:
            waiter.set()

    # --- reading ------------------------------------------------------------------------------

    def now_ns(self) -> int:
        return self._clock_ns()

    def prune(self) -> None:
        """Apply the retention rule to every log."""
        if self.faults.retention_s:
            horizon = self._clock_ns() - int(self.faults.scaled_s(self.faults.retention_s) * 1e9)
            for log in self._logs.values():
                log.prune_before(horizon)

    def entries(self, stream: DropCopyStream) -> list[Entry]:
        """The retained records of ``stream``, oldest first (a copy)."""
        return list(self._logs[stream].entries)

    def read(self, stream: DropCopyStream, seq: int, limit: int, symbols: frozenset[str]) -> tuple[list[Entry], int]:
        """Up to ``limit`` records from ``seq`` on (of ``symbols``; empty: all) and the sequence number to
        read from next."""
        log = self._logs[stream]
        index = max(0, log.index_of(seq))
        found: list[Entry] = []
        while index < len(log.entries) and len(found) < limit:
            entry = log.entries[index]
            index += 1
            if not symbols or entry.symbol in symbols:
                found.append(entry)
        return found, log.first_seq + index

    def end(self, stream: DropCopyStream) -> int:
        """The sequence number the next record of ``stream`` will get."""
        return self._logs[stream].next_seq

    def token(self, seq: int) -> bytes:
        """The resume token that resumes at ``seq``."""
        return _TOKEN.pack(_TOKEN_MAGIC, self._epoch, seq, self._clock_ns())

    def resume_position(self, stream: DropCopyStream, token: bytes, time_ns: int | None) -> int | TokenRefusal:
        """Where a subscription resumes: after ``token``, from ``time_ns``, or (neither) live from now."""
        log = self._logs[stream]
        self.prune()
        if token:
            if len(token) != _TOKEN.size or token[:4] != _TOKEN_MAGIC:
                return TokenRefusal("INVALID_ARGUMENT", "malformed resume token")
            _, epoch, seq, issued_ns = _TOKEN.unpack(token)
            if self.faults.refuse_tokens or epoch != self._epoch:
                return TokenRefusal("FAILED_PRECONDITION", "resume token is no longer valid")
            lifetime_s = self.faults.scaled_s(self.faults.token_lifetime_s)
            if lifetime_s and self._clock_ns() - issued_ns > lifetime_s * 1e9:
                return TokenRefusal("OUT_OF_RANGE", "resume token expired")
            if seq < log.first_seq or seq > log.next_seq:
                return TokenRefusal("OUT_OF_RANGE", "resume token expired: its history was pruned")
            return int(seq)
        if time_ns is not None:
            return log.first_at(time_ns)
        return log.next_seq

    def expire_tokens(self) -> int:
        """Make every token issued so far invalid (a new epoch); returns the new epoch."""
        self._epoch += 1
        return self._epoch

    def waiter(self) -> asyncio.Event:
        """An event set whenever a record is appended; :meth:`forget` it when done."""
        event = asyncio.Event()
        self._waiters.add(event)
        return event

    def forget(self, event: asyncio.Event) -> None:
        self._waiters.discard(event)

    # --- synthetic activity -------------------------------------------------------------------

    def generate(self, executions: int, *, symbols: Iterable[str] = (), seed: int = 0) -> int:
        """``executions`` fills across ``symbols`` (none: every OPEN instrument), each with a NEW trade report
        and a position change, through the listener methods; returns the first generated number."""
        if isinstance(executions, bool) or not isinstance(executions, int) or not 0 < executions <= MAX_GENERATED:
            raise InvalidValueError(f"executions must be 1 to {MAX_GENERATED}", executions=executions)
        named = list(symbols) or [s for s, i in self._instruments.items() if i.state is UsInstrumentState.OPEN]
        unknown = [symbol for symbol in named if symbol not in self._instruments]
        if unknown or not named:
            raise InvalidValueError("generate needs listed symbols", unknown=unknown[:10])
        rng = random.Random(seed)
        first = self._generated
        for _ in range(executions):
            self._generate_fill(self._instruments[rng.choice(named)], rng)
        return first

    def _generate_fill(self, instrument: UsInstrument, rng: random.Random) -> None:
        number = self._generated
        self._generated += 1
        ticks = max(1, instrument.price_scale // instrument.tick_units)
        px = rng.randrange(1, ticks) * instrument.tick_units if ticks > 1 else instrument.tick_units
        qty = rng.randrange(1, 50) * max(1, instrument.minimum_quantity_units)
        side = rng.choice(("SIDE_BUY", "SIDE_SELL"))
        order = orders_pb2.Order(
            id=f"ord-{number}",
            clord_id=f"cl-{number}",
            symbol=instrument.symbol,
            account="firms/emulator/accounts/1",
            side=side,
            type="ORDER_TYPE_LIMIT",
            order_qty=qty,
            cum_qty=qty,
            price=px,
            state="ORDER_STATE_FILLED",
            price_scale=instrument.price_scale,
            fractional_quantity_scale=instrument.quantity_scale,
        )
        execution = orders_pb2.Execution(
            id=f"exec-{number}",
            order=order,
            last_shares=qty,
            last_px=px,
            type="EXECUTION_TYPE_FILL",
            trade_id=f"trade-{number}",
            aggressor=True,
            # The venue's fee on a taker fill, in notional units (dollars x price scale x quantity scale).
            commission_notional_collected=rng.randrange(0, 100) * instrument.quantity_scale,
        )
        # Strictly increasing times: every generated record has a natural key of its own.
        self._last_generated_ns = max(self._clock_ns(), self._last_generated_ns + 1)
        execution.transact_time.FromNanoseconds(self._last_generated_ns)
        self.execution(execution)
        self.trade(
            orders_pb2.Trade(
                id=f"trade-{number}", aggressor=execution, state="TRADE_STATE_NEW", reporting_counterparty=side
            )
        )
        key = (order.account, instrument.symbol)
        self._positions[key] = self._positions.get(key, 0) + (qty if side == "SIDE_BUY" else -qty)
        change = dropcopy_pb2.PositionChange(
            position=positions_pb2.Position(
                account=order.account, symbol=instrument.symbol, net_position=self._positions[key]
            ),
            change_time=execution.transact_time,
        )
        self.position_change(change)

    def bust(self, trade_id: str) -> bool:
        """Send ``trade_id`` again in state BUSTED; False when no such trade was reported."""
        found = next(
            (
                entry.message
                for entry in reversed(self._logs[DropCopyStream.TRADES].entries)
                if isinstance(entry.message, orders_pb2.Trade) and entry.message.id == trade_id
            ),
            None,
        )
        if found is None:
            return False
        busted = orders_pb2.Trade()
        busted.CopyFrom(found)
        busted.state = enums_pb2.TRADE_STATE_BUSTED
        self.trade(busted)
        return True

    def current_instruments(self) -> list[refdata_pb2.Instrument]:
        """Every instrument in its current state: its last reported change, else its listing (``update_time``
        unset: it never changed). The instrument-state stream opens with these."""
        latest: dict[str, Message] = {
            entry.symbol: entry.message for entry in self._logs[DropCopyStream.INSTRUMENTS].entries
        }
        current = []
        for symbol, instrument in self._instruments.items():
            found = latest.get(symbol)
            current.append(found if isinstance(found, refdata_pb2.Instrument) else instrument_to_wire(instrument))
        return current
