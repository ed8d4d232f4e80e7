"""The US exchange's DropCopy, sans-I/O: typed events, the trade-state rule, the token chain and "caught up".

A firm's back office archives DropCopy's four streams (executions, trade capture reports, instrument
state changes, position changes; venue notes: US exchange DropCopy). This module holds what the
archiver decides, as pure functions and state that the I/O layer drives with the responses it read
and the times it read them:

* the decoders (:func:`decode_batch` and one per message) from the venue's messages to
  :class:`UsExecution`, :class:`UsTradeReport`, :class:`UsInstrumentChange` and :class:`UsPositionChange`,
  with exact decimals: an execution's prices and quantities through its order's own scales (the venue
  copies them onto every order), else the instrument's reference data; commissions are in notional
  units, dollars times ``price_scale`` times ``fractional_quantity_scale``, negative for a rebate;
* :func:`trade_effect`: the same trade id comes again whenever its state changes, so trades are kept
  per ``(id, state)``; ``TRADE_STATE_BUSTED`` reverses every earlier record of that id;
* :class:`TokenChain`: the token-chain ledger. Every response carries a resume token (token-only
  responses are the heartbeats); each applied batch is a :class:`ChainLink` from the token it resumed
  after to the token it ends on. :func:`chain_gaps` proves the links join up, or names where they
  do not;
* :class:`CatchUp`: there is no "replay done" message, so the archiver estimates it: a token-only
  response, or a batch whose newest transact time is within ``lag_s`` of the wall clock;
* :func:`checked_stream_deadline`: a deadline on a resumable stream kills its replay, and the replay
  restarts from the same token every time, so the archive never catches up (the venue docs' top
  failure mode); a deadline shorter than :data:`MIN_RESUMABLE_DEADLINE_S` is refused.

One stream's life in the ledger::

    start ──batch──> continuous ──batch──> continuous ── ... ──(token refused)──> gap ──batch──> by_time ──> ...
    (resume token: stored one, or none)                        (named: resumed from the last applied time,
                                                                the window re-read through the report search)

A link joins its predecessor when its ``token_in`` is the predecessor's ``token_out``. The only other
accepted join is a ``gap`` link (whose note names why the chain broke and how the window was
reconciled) followed by a ``by_time`` link. Anything else is a gap :func:`chain_gaps` reports.

Nothing here reads a clock: wall times come in as nanoseconds.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import Context, Decimal
from enum import Enum, StrEnum
from typing import Final

from google.protobuf.message import Message

from polyinfra.core.us_instruments import MAX_SCALE, UsInstrument, UsInstrumentState
from polyinfra.errors import InvalidValueError, MalformedMessageError
from polyinfra.wire.us.polymarket.v1 import dropcopy_pb2, enums_pb2, orders_pb2, refdata_pb2

__all__ = [
    "MAX_TOKEN_BYTES",
    "MIN_RESUMABLE_DEADLINE_S",
    "CatchUp",
    "ChainGap",
    "ChainLink",
    "DecodedBatch",
    "DropCopyEvent",
    "DropCopyStream",
    "LinkKind",
    "TokenChain",
    "TradeEffect",
    "UsExecution",
    "UsInstrumentChange",
    "UsPositionChange",
    "UsTradeReport",
    "chain_gaps",
    "checked_stream_deadline",
    "decode_batch",
    "execution_from_wire",
    "instrument_change_from_wire",
    "position_change_from_wire",
    "trade_effect",
    "trade_from_wire",
]

MAX_TOKEN_BYTES: Final = 4096
MAX_ID_CHARS: Final = 200
MIN_RESUMABLE_DEADLINE_S: Final = 3600.0
_MAX_SECONDS: Final = 253_402_300_799  # 9999-12-31T23:59:59Z, the protobuf Timestamp's range
_EXACT: Final = Context(prec=60)


class DropCopyStream(StrEnum):
    """The four DropCopy streams, named as the archive stores them."""

    EXECUTIONS = "executions"
    TRADES = "trades"
    INSTRUMENTS = "instruments"
    POSITIONS = "positions"

    @property
    def method(self) -> str:
        """The ``DropCopyAPI`` RPC that serves the stream."""
        return _METHODS[self]


_METHODS: Final = {
    DropCopyStream.EXECUTIONS: "CreateDropCopySubscription",
    DropCopyStream.TRADES: "CreateTradeCaptureReportSubscription",
    DropCopyStream.INSTRUMENTS: "CreateInstrumentStateChangeSubscription",
    DropCopyStream.POSITIONS: "CreatePositionChangeSubscription",
}


@dataclass(frozen=True, slots=True)
class UsExecution:
    """One execution report (``execution.id`` is unique); prices in dollars, quantities in contracts,
    ``commission`` in dollars (negative: a rebate)."""

    id: str
    order_id: str
    clord_id: str
    account: str
    symbol: str
    side: str
    type: str
    last_quantity: Decimal
    last_price: Decimal
    commission: Decimal
    trade_id: str
    aggressor: bool
    text: str
    transact_time_ns: int


@dataclass(frozen=True, slots=True)
class UsTradeReport:
    """One state of a trade: the same ``id`` comes once per ``state`` (NEW, CLEARED, BUSTED, ...)."""

    id: str
    state: str
    symbol: str
    price: Decimal
    quantity: Decimal
    aggressor_execution_id: str
    passive_execution_id: str
    transact_time_ns: int


@dataclass(frozen=True, slots=True)
class UsInstrumentChange:
    """An instrument's state at ``changed_time_ns`` (its ``update_time``; 0 when the venue sends none)."""

    symbol: str
    state: UsInstrumentState
    changed_time_ns: int


@dataclass(frozen=True, slots=True)
class UsPositionChange:
    """A position after a change: quantities in contracts; ``cost`` and ``realized`` in dollars, read
    as notional units like commissions."""

    account: str
    symbol: str
    net_position: Decimal
    quantity_bought: Decimal
    quantity_sold: Decimal
    cost: Decimal
    realized: Decimal
    change_time_ns: int


DropCopyEvent = UsExecution | UsTradeReport | UsInstrumentChange | UsPositionChange


@dataclass(frozen=True, slots=True)
class DecodedBatch:
    """One response: its resume token, its events with the raw message of each (the archive keeps both),
    and the newest event time in it (None for a token-only response)."""

    token: bytes
    events: tuple[tuple[DropCopyEvent, bytes], ...]
    newest_time_ns: int | None


# --- decoding ------------------------------------------------------------------------------------


def _timestamp_ns(seconds: int, nanos: int, what: str) -> int:
    if not (0 <= seconds <= _MAX_SECONDS and 0 <= nanos <= 999_999_999):
        raise MalformedMessageError(f"{what} is not a valid timestamp", seconds=seconds, nanos=nanos)
    return seconds * 1_000_000_000 + nanos


def _id(value: str, what: str, *, required: bool = True) -> str:
    if (required and not value) or len(value) > MAX_ID_CHARS:
        raise MalformedMessageError(f"{what} must be 1 to {MAX_ID_CHARS} characters", value=value[:80])
    return value


def _ratio(units: int, scale: int) -> Decimal:
    return _EXACT.divide(Decimal(units), Decimal(scale))


def _scales(
    symbol: str, price_scale: int, quantity_scale: int, reference: Mapping[str, UsInstrument]
) -> tuple[int, int]:
    """The order's own scales when it carries them, else the instrument's; a symbol with neither is refused
    (never guessed: the venue lists scales of 100 and 1000 side by side)."""
    if price_scale:
        if not (1 <= price_scale <= MAX_SCALE and 0 <= quantity_scale <= MAX_SCALE):
            raise MalformedMessageError("an order's scales are out of range", symbol=symbol[:80])
        return price_scale, quantity_scale or 1
    instrument = reference.get(symbol)
    if instrument is None:
        raise MalformedMessageError(
            "no scales for the symbol: not in the reference data", symbol=symbol[:80], missing_reference=True
        )
    return instrument.price_scale, instrument.quantity_scale


def _enum_name(enum: object, value: int, prefix: str, what: str) -> str:
    try:
        name: str = enum.Name(value)  # type: ignore[attr-defined]
    except ValueError:
        raise MalformedMessageError(f"unknown {what}", value=value) from None
    return name.removeprefix(prefix)


def execution_from_wire(message: orders_pb2.Execution, reference: Mapping[str, UsInstrument]) -> UsExecution:
    """The venue's ``Execution`` as a :class:`UsExecution`; :class:`MalformedMessageError` for anything else."""
    order = message.order
    symbol = _id(order.symbol, "an execution's symbol")
    price_scale, quantity_scale = _scales(symbol, order.price_scale, order.fractional_quantity_scale, reference)
    if message.last_shares < 0 or message.last_px < 0:
        raise MalformedMessageError("an execution's quantity or price is negative", execution_id=message.id[:80])
    return UsExecution(
        id=_id(message.id, "an execution's id"),
        order_id=_id(order.id, "an execution's order id", required=False),
        clord_id=_id(order.clord_id, "an execution's client order id", required=False),
        account=_id(order.account, "an execution's account", required=False),
        symbol=symbol,
        side=_enum_name(enums_pb2.Side, order.side, "SIDE_", "side"),
        type=_enum_name(enums_pb2.ExecutionType, message.type, "EXECUTION_TYPE_", "execution type"),
        last_quantity=_ratio(message.last_shares, quantity_scale),
        last_price=_ratio(message.last_px, price_scale),
        commission=_ratio(message.commission_notional_collected, price_scale * quantity_scale),
        trade_id=_id(message.trade_id, "an execution's trade id", required=False),
        aggressor=message.aggressor,
        text=message.text[:MAX_ID_CHARS],
        transact_time_ns=_timestamp_ns(message.transact_time.seconds, message.transact_time.nanos, "transact_time"),
    )


def trade_from_wire(message: orders_pb2.Trade, reference: Mapping[str, UsInstrument]) -> UsTradeReport:
    """The venue's ``Trade`` (one state of it) as a :class:`UsTradeReport`."""
    state = _enum_name(enums_pb2.TradeState, message.state, "TRADE_STATE_", "trade state")
    if state == "UNDEFINED":
        raise MalformedMessageError("a trade without a state", trade_id=message.id[:80])
    aggressor = execution_from_wire(message.aggressor, reference)
    return UsTradeReport(
        id=_id(message.id, "a trade's id"),
        state=state,
        symbol=aggressor.symbol,
        price=aggressor.last_price,
        quantity=aggressor.last_quantity,
        aggressor_execution_id=aggressor.id,
        passive_execution_id=_id(message.passive.id, "a trade's passive execution id", required=False),
        transact_time_ns=aggressor.transact_time_ns,
    )


def instrument_change_from_wire(message: refdata_pb2.Instrument) -> UsInstrumentChange:
    """An instrument-state-change message as a :class:`UsInstrumentChange`."""
    try:
        state = UsInstrumentState(message.state)
    except ValueError:
        raise MalformedMessageError("unknown instrument state", state=message.state) from None
    changed = message.update_time
    return UsInstrumentChange(
        symbol=_id(message.symbol, "an instrument's symbol"),
        state=state,
        changed_time_ns=_timestamp_ns(changed.seconds, changed.nanos, "update_time"),
    )


def position_change_from_wire(
    message: dropcopy_pb2.PositionChange, reference: Mapping[str, UsInstrument]
) -> UsPositionChange:
    """A ``PositionChange`` as a :class:`UsPositionChange` (its scales from the reference data)."""
    position = message.position
    symbol = _id(position.symbol, "a position's symbol")
    price_scale, quantity_scale = _scales(symbol, 0, 0, reference)
    notional = price_scale * quantity_scale
    return UsPositionChange(
        account=_id(position.account, "a position's account", required=False),
        symbol=symbol,
        net_position=_ratio(position.net_position, quantity_scale),
        quantity_bought=_ratio(position.qty_bought, quantity_scale),
        quantity_sold=_ratio(position.qty_sold, quantity_scale),
        cost=_ratio(position.cost, notional),
        realized=_ratio(position.realized, notional),
        change_time_ns=_timestamp_ns(message.change_time.seconds, message.change_time.nanos, "change_time"),
    )


def _event_time_ns(event: DropCopyEvent) -> int:
    if isinstance(event, UsExecution | UsTradeReport):
        return event.transact_time_ns
    if isinstance(event, UsInstrumentChange):
        return event.changed_time_ns
    return event.change_time_ns


def decode_batch(stream: DropCopyStream, response: Message, reference: Mapping[str, UsInstrument]) -> DecodedBatch:
    """One subscription response of ``stream`` (already parsed into its message type) as a batch."""
    token = bytes(getattr(response, "resume_token", b""))
    if len(token) > MAX_TOKEN_BYTES:
        raise MalformedMessageError(f"a resume token is longer than {MAX_TOKEN_BYTES} bytes", size=len(token))
    events: list[tuple[DropCopyEvent, bytes]] = []
    if isinstance(response, dropcopy_pb2.CreateDropCopySubscriptionResponse):
        events = [(execution_from_wire(m, reference), m.SerializeToString()) for m in response.executions]
    elif isinstance(response, dropcopy_pb2.CreateTradeCaptureReportSubscriptionResponse):
        events = [(trade_from_wire(m, reference), m.SerializeToString()) for m in response.trade_capture_reports]
    elif isinstance(response, dropcopy_pb2.CreateInstrumentStateChangeSubscriptionResponse):
        events = [(instrument_change_from_wire(m), m.SerializeToString()) for m in response.instruments]
    elif isinstance(response, dropcopy_pb2.CreatePositionChangeSubscriptionResponse):
        events = [(position_change_from_wire(m, reference), m.SerializeToString()) for m in response.position_changes]
    else:
        raise InvalidValueError("not a DropCopy response", stream=stream, type=type(response).__name__)
    newest = max((_event_time_ns(event) for event, _ in events), default=None)
    return DecodedBatch(token=token, events=tuple(events), newest_time_ns=newest)


# --- trades --------------------------------------------------------------------------------------


class TradeEffect(Enum):
    """What a trade report does to the archive."""

    APPLY = "apply"  # a state not seen for this id
    DUPLICATE = "duplicate"  # this (id, state) is stored already: at-least-once delivery
    REVERSE = "reverse"  # BUSTED: store it and mark every earlier record of the id reversed


def trade_effect(stored_states: Collection[str], state: str) -> TradeEffect:
    """The effect of a report in ``state`` for a trade id whose stored states are ``stored_states``."""
    if state in stored_states:
        return TradeEffect.DUPLICATE
    return TradeEffect.REVERSE if state == "BUSTED" else TradeEffect.APPLY


# --- the token chain -----------------------------------------------------------------------------


class LinkKind(StrEnum):
    START = "start"  # the first batch this archive applied for the stream
    CONTINUOUS = "continuous"  # resumed after the previous link's token
    GAP = "gap"  # the chain broke (a token refused); the note says why and how it was reconciled
    BY_TIME = "by_time"  # the first batch of a stream resumed by time after a gap


@dataclass(frozen=True, slots=True)
class ChainLink:
    """One applied response: ``events`` in it, ``new_events`` of them not already archived."""

    kind: LinkKind
    token_in: bytes
    token_out: bytes
    events: int
    new_events: int
    note: str = ""


@dataclass(frozen=True, slots=True)
class ChainGap:
    """Where two consecutive links do not join (``index`` is the later one's position)."""

    index: int
    expected_token: bytes
    token_in: bytes


class TokenChain:
    """The ledger of one stream as the archiver builds it: what the next link resumes after and of what kind.

    ``last_token`` is the stored token; without one, ``by_time`` says the stream resumes by time after a gap
    (the next link is a ``by_time`` one), otherwise nothing was archived yet (the next link is a ``start``)."""

    def __init__(self, last_token: bytes | None, *, by_time: bool = False) -> None:
        self._token = last_token
        if last_token is not None:
            self._next_kind = LinkKind.CONTINUOUS
        else:
            self._next_kind = LinkKind.BY_TIME if by_time else LinkKind.START

    @property
    def token(self) -> bytes | None:
        """The token the next link resumes after (None at a start or after a gap: the stream goes by time)."""
        return self._token

    def link(self, token_out: bytes, events: int, new_events: int) -> ChainLink:
        """The link of a batch that ended on ``token_out``; call :meth:`applied` once it is durable."""
        return ChainLink(self._next_kind, self._token or b"", token_out, events, new_events)

    def applied(self, link: ChainLink) -> None:
        self._token = link.token_out
        self._next_kind = LinkKind.CONTINUOUS

    def gap(self, note: str, events: int) -> ChainLink:
        """The link that names a break: the stored token was refused; ``note`` says why and what
        reconciled the window (``events`` records re-read). Then :meth:`after_gap`: the stream goes on by time."""
        return ChainLink(LinkKind.GAP, self._token or b"", b"", events, 0, note)

    def after_gap(self) -> None:
        self._token = None
        self._next_kind = LinkKind.BY_TIME


def chain_gaps(links: Sequence[ChainLink]) -> list[ChainGap]:
    """Every place ``links`` (one stream's, in order) fail to join; empty proves an unbroken chain (a
    ``gap`` link followed by a ``by_time`` one is a named, reconciled break, not a failure)."""
    gaps: list[ChainGap] = []
    for index in range(1, len(links)):
        before, link = links[index - 1], links[index]
        if link.kind is LinkKind.BY_TIME and before.kind is LinkKind.GAP:
            continue
        if link.kind is LinkKind.GAP and link.token_in == before.token_out:
            continue
        if link.kind is LinkKind.START or link.token_in != before.token_out:
            gaps.append(ChainGap(index, before.token_out, link.token_in))
    return gaps


# --- caught up -----------------------------------------------------------------------------------


class CatchUp:
    """Whether a stream has replayed to the present: a token-only response says so (the venue sends them
    when it has nothing more), and so does a batch whose newest event is within ``lag_s`` of the wall
    clock. Per stream; times in nanoseconds."""

    def __init__(self, lag_s: float = 5.0) -> None:
        self._lag_ns = int(lag_s * 1_000_000_000)
        self.caught_up = False
        self.lag_ns: int | None = None

    def observe(self, newest_time_ns: int | None, wall_ns: int) -> None:
        if newest_time_ns is None:
            self.caught_up = True
            return
        self.lag_ns = max(0, wall_ns - newest_time_ns)
        self.caught_up = self.lag_ns <= self._lag_ns

    def reset(self) -> None:
        """A new session starts replaying."""
        self.caught_up = False


def checked_stream_deadline(deadline_s: float | None) -> float | None:
    """``deadline_s`` for a resumable stream: None (no deadline, the right choice) or at least
    :data:`MIN_RESUMABLE_DEADLINE_S`; a shorter one is an :class:`InvalidValueError`."""
    if deadline_s is not None and not deadline_s >= MIN_RESUMABLE_DEADLINE_S:
        raise InvalidValueError(
            "a deadline on a resumable DropCopy stream cuts its replay short, and the replay restarts from the "
            f"same token every time: leave it unset or make it at least {MIN_RESUMABLE_DEADLINE_S:.0f} s",
            deadline_s=deadline_s,
        )
    return deadline_s
