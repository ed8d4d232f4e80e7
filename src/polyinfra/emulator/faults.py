"""Fault knobs: make the emulated venue misbehave on purpose, reproducibly.

A :class:`FaultConfig` is one mutable settings object shared by every socket and request of an
emulator; changing a field (from a test, or through ``POST /_emulator/faults``) takes effect on the
next message or request. Every assignment is validated, so a config never holds a value the
servers cannot act on.

Probabilistic faults draw from :class:`FaultDice`, a seeded random stream per connection (and one
for HTTP), so a test that uses one connection sees the same faults on every run.

What each knob does (all off by default):

* ``drop_every_messages`` / ``drop_every_seconds``: abort each WebSocket connection (no close
  frame, the client sees an abnormal closure) after it has sent that many data frames / been open
  that long.
* ``freeze``: send no data frames at all while set, sockets stay open; ``freeze_answers_ping``
  chooses whether ``PING`` (text and protocol level) still gets its ``PONG``. The venue's known
  failure is the first flavour: PING/PONG fine, no data for hours (venue notes: Failure modes).
* ``drop_rate``, ``duplicate_rate``, ``reorder_rate``: per data frame, drop it, send it twice, or
  hold it back and send it right after the next data frame.
* ``malformed_rate``: per data frame, replace it with a corrupt one: either text that is not JSON
  (the frame cut in half) or the same events without their required ``timestamp`` field.
* ``poison_rate``, ``poison_http_rate``: hostile input, by class. Per WebSocket data frame (market
  and user channels) and per answer to a venue REST request that only reads (every ``GET``, such
  as ``/book``, ``/data/orders``, ``/data/trades``, ``/auth/api-keys``, and the public batch reads
  ``POST /books``, ``/prices``, ``/midpoints``, ``/spreads``, ``/last-trades-prices``; never an
  order placement or cancellation, whose effect the client must learn), send a copy with one value
  replaced by a hostile one of a class drawn from ``poison_classes``: ``deep_nesting`` (arrays
  nested 50,000 deep), ``huge_digits`` (a 5,000-digit number), ``huge_exponent`` (``1e999999``),
  ``wrong_type`` (an object where a string was, ...), ``invalid_utf8`` (bytes that are not UTF-8
  inside a string; such a frame goes out as a binary frame, as a text frame cannot carry them).
  The place and the value are drawn from the same seeded stream, so a run reproduces
  (:mod:`polyinfra.emulator.poison`).
* ``latency_ms``: every WebSocket frame leaves that much later than it was produced, and every
  venue HTTP response is delayed by that much.
* ``http_429_rate``, ``http_425_rate``, ``http_5xx_rate``: answer a venue REST request (public or
  trading) with 429 (``Retry-After: retry_after_s``), 425 ``service not ready`` or
  ``http_5xx_status`` instead of handling it.
* ``trade_retry_rate``, ``trade_failure_rate``: per matched trade, whether its first settlement
  attempt fails (the trade goes RETRYING instead of MINED), and for a retried trade whether the
  retry fails too (FAILED, its balance changes undone) rather than going MINED then CONFIRMED
  (venue notes: User channel; :mod:`polyinfra.emulator.order_ledger`).
* ``stale_balance_cache``: the venue's balance cache lags the chain (venue notes: Failure modes). While set,
  what ``GET /balance-allowance`` answers and what order validation uses for a (wallet, asset) is a
  snapshot taken before the chain's first change to it (a fill, a deposit or approval through
  ``POST /_emulator/wallets/{address}``), refreshed only by ``GET /balance-allowance/update`` for
  that wallet and asset; switching it off shows the chain again (:mod:`polyinfra.emulator.accounts`).

The RTDS socket (:mod:`polyinfra.emulator.live.rtds_channel`) has knobs of its own, so a test of it
leaves the CLOB channels alone:

* ``rtds_silence_without_ping_s`` (venue behaviour, on by default: 360): a connection that has not
  sent ``PING`` for this long stops receiving data for good while its socket stays open
  (venue notes: RTDS); 0 never silences. Measured on the emulator's RTDS clock, which a test may replace;
* ``rtds_freeze``: no RTDS data frames while set, sockets open, ``PING`` still answered;
* ``rtds_drop_rate``: per RTDS data frame, the probability it is silently not sent;
* ``rtds_close_after_messages`` with ``rtds_close_code``: close each RTDS socket after it has sent that
  many data frames (0: never), with that close code (0: abort without a close frame).

The PolyBolt socket (:mod:`polyinfra.emulator.live.polybolt_channel`) has its own, as data:

* ``polybolt_close_after_messages`` with ``polybolt_close_code``: close each PolyBolt socket after it
  has sent that many data frames (0: never), with that close code (4001, 4002, 4003, 4008, ...);
* ``polybolt_seq_skip_every``: every that many data frames of a connection, one ``seq`` number is
  skipped (a frame lost on the way; 0: never);
* ``polybolt_slow_consumer_every``: every that many data frames, one is discarded as if the client
  read too slowly, and the next frame of its channel reports it in ``dropped`` (0: never);
* ``polybolt_refuse_handshakes`` with ``polybolt_retry_after_s``: the first that many handshakes are
  refused with 429 and that ``Retry-After``.

Two knobs are the venue's normal behaviour rather than faults, and are on by default:

* ``rate_limits``: what happens to a venue REST request over the documented rate limits,
  ``throttle`` (delay it, as the venue does), ``reject`` (429) or ``off``
  (:mod:`polyinfra.emulator.rate_limits`);
* ``rate_limit_scale``: multiplies every documented limit, so a test can reach one in a few requests.

``signer_rate_limit_warning`` replays the venue's first two weeks of per-signer token buckets
(from 2026-07-24, venue notes: Rate limits): a request its signer's bucket cannot pay for is let through with
``Poly-RateLimit-Warning: true`` instead of answered 429. ``rate_limits`` at ``off`` switches the
signer buckets off too.

:class:`OutageSchedule` holds the timed outages a test (or ``POST /_emulator/restart`` and
``/_emulator/storm``) starts: a matching-engine restart and a 5xx storm.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import ClassVar, Final

from polyinfra.emulator.knobs import KnobValidator, ValidatedKnobs
from polyinfra.emulator.poison import PoisonClass
from polyinfra.emulator.rate_limits import RateLimitMode
from polyinfra.errors import InvalidValueError

__all__ = [
    "POST_ONLY_AFTER_RESTART_S",
    "FaultConfig",
    "FaultDice",
    "HttpFault",
    "MessageFate",
    "OutageSchedule",
    "knob_count",
    "knob_flag",
    "knob_non_negative_seconds",
    "knob_positive_count",
    "knob_positive_number",
    "knob_probability",
]

POST_ONLY_AFTER_RESTART_S: Final = 120.0
"""The matching engine accepts only post-only orders and cancels for 2 minutes after a restart."""


def knob_probability(name: str, value: object) -> float:
    number = _number(name, value)
    if not 0.0 <= number <= 1.0:
        raise InvalidValueError("a probability must be between 0 and 1", field=name, value=value)
    return number


def knob_non_negative_seconds(name: str, value: object) -> float:
    number = _number(name, value)
    if number < 0:
        raise InvalidValueError("must not be negative", field=name, value=value)
    return number


def knob_count(name: str, value: object) -> int:
    """A knob's value as a non-negative int (the validators here serve every protocol's knobs)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValueError("must be an integer", field=name, value=value)
    if value < 0:
        raise InvalidValueError("must not be negative", field=name, value=value)
    return value


def _seed(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValueError("must be an integer", field=name, value=value)
    return value


def knob_positive_count(name: str, value: object) -> int:
    """A knob's value as an int of at least 1."""
    count = knob_count(name, value)
    if count == 0:
        raise InvalidValueError("must be at least 1", field=name, value=value)
    return count


def knob_flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidValueError("must be true or false", field=name, value=value)
    return value


def _server_error_status(name: str, value: object) -> int:
    status = knob_count(name, value)
    if not 500 <= status <= 599:
        raise InvalidValueError("must be a 5xx HTTP status", field=name, value=value)
    return status


def _rate_limit_mode(name: str, value: object) -> RateLimitMode:
    if isinstance(value, str) and value in set(RateLimitMode):
        return RateLimitMode(value)
    raise InvalidValueError("must be one of " + ", ".join(RateLimitMode), field=name, value=value)


def _poison_classes(name: str, value: object) -> tuple[PoisonClass, ...]:
    known = set(PoisonClass)
    if isinstance(value, list | tuple) and value and all(isinstance(item, str) and item in known for item in value):
        return tuple(PoisonClass(item) for item in dict.fromkeys(value))
    raise InvalidValueError("must be a non-empty list of " + ", ".join(PoisonClass), field=name, value=value)


def knob_positive_number(name: str, value: object) -> float:
    number = _number(name, value)
    if number <= 0:
        raise InvalidValueError("must be greater than 0", field=name, value=value)
    return number


def _number(name: str, value: object) -> float:
    # bool is an int subclass; "true" as a rate is a caller mistake, not 1.0.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidValueError("must be a finite number", field=name, value=value)
    return float(value)


def _close_code(name: str, value: object) -> int:
    code = knob_count(name, value)
    if code and not 1000 <= code <= 4999:
        raise InvalidValueError("must be 0 (abort) or a WebSocket close code, 1000-4999", field=name, value=value)
    return code


_VALIDATORS: Mapping[str, Callable[[str, object], object]] = {
    "seed": _seed,
    "drop_every_messages": knob_count,
    "drop_every_seconds": knob_non_negative_seconds,
    "freeze": knob_flag,
    "freeze_answers_ping": knob_flag,
    "drop_rate": knob_probability,
    "duplicate_rate": knob_probability,
    "reorder_rate": knob_probability,
    "malformed_rate": knob_probability,
    "poison_rate": knob_probability,
    "poison_http_rate": knob_probability,
    "poison_classes": _poison_classes,
    "latency_ms": knob_count,
    "http_429_rate": knob_probability,
    "http_425_rate": knob_probability,
    "http_5xx_rate": knob_probability,
    "http_5xx_status": _server_error_status,
    "trade_retry_rate": knob_probability,
    "trade_failure_rate": knob_probability,
    "stale_balance_cache": knob_flag,
    "retry_after_s": knob_count,
    "rate_limits": _rate_limit_mode,
    "rate_limit_scale": knob_positive_number,
    "signer_rate_limit_warning": knob_flag,
    "rtds_silence_without_ping_s": knob_non_negative_seconds,
    "rtds_freeze": knob_flag,
    "rtds_drop_rate": knob_probability,
    "rtds_close_after_messages": knob_count,
    "rtds_close_code": _close_code,
    "polybolt_close_after_messages": knob_count,
    "polybolt_close_code": _close_code,
    "polybolt_seq_skip_every": knob_count,
    "polybolt_slow_consumer_every": knob_count,
    "polybolt_refuse_handshakes": knob_count,
    "polybolt_retry_after_s": knob_count,
}


@dataclass(slots=True)
class FaultConfig(ValidatedKnobs):
    """The emulator's fault knobs; see the module docstring for what each one does.

    Assigning a field validates it and raises :class:`~polyinfra.errors.InvalidValueError` for a
    value of the wrong type or range. :meth:`update` changes several fields all-or-nothing.
    """

    _validators: ClassVar[Mapping[str, KnobValidator]] = _VALIDATORS
    _kind: ClassVar[str] = "fault knob"

    seed: int = 0
    """Seed of the random streams behind the ``*_rate`` knobs."""
    drop_every_messages: int = 0
    """Abort each WebSocket connection after this many data frames (0: never)."""
    drop_every_seconds: float = 0.0
    """Abort each WebSocket connection this long after it opened (0: never)."""
    freeze: bool = False
    """Send no WebSocket data frames while set; sockets stay open."""
    freeze_answers_ping: bool = True
    """While frozen, still answer PING with PONG (the venue's zombie-socket flavour)."""
    drop_rate: float = 0.0
    """Probability that a data frame is silently not sent."""
    duplicate_rate: float = 0.0
    """Probability that a data frame is sent twice in a row."""
    reorder_rate: float = 0.0
    """Probability that a data frame is held back and sent after the next one."""
    malformed_rate: float = 0.0
    """Probability that a data frame is replaced by a corrupt one."""
    poison_rate: float = 0.0
    """Probability that a WebSocket data frame carries one hostile value of ``poison_classes``."""
    poison_http_rate: float = 0.0
    """Probability that an answer to a reading venue REST request carries one hostile value."""
    poison_classes: tuple[PoisonClass, ...] = tuple(PoisonClass)
    """The classes of hostile value the poison knobs draw from (every class by default)."""
    latency_ms: int = 0
    """Extra delay on every WebSocket frame and every venue HTTP response."""
    http_429_rate: float = 0.0
    """Probability that a venue REST request is answered 429 Too Many Requests."""
    http_425_rate: float = 0.0
    """Probability that a venue REST request is answered 425 ``service not ready``."""
    http_5xx_rate: float = 0.0
    """Probability that a venue REST request is answered with ``http_5xx_status``."""
    http_5xx_status: int = 500
    """The status of injected server errors (500-599)."""
    retry_after_s: int = 1
    """The ``Retry-After`` header of injected 429 answers, in seconds."""
    trade_retry_rate: float = 0.0
    """Probability that a matched trade goes RETRYING instead of MINED."""
    trade_failure_rate: float = 0.0
    """Probability that a RETRYING trade ends FAILED instead of going MINED."""
    stale_balance_cache: bool = False
    """The venue's balance/allowance view is a snapshot only ``/balance-allowance/update`` refreshes."""
    # Throttle by default because that is what the venue does (venue notes: Rate limits): a client tested here
    # meets slow answers when it overruns a limit, as in production, not errors it never sees there.
    rate_limits: RateLimitMode = RateLimitMode.THROTTLE
    """What to do with requests over the documented rate limits: throttle, reject (429) or off."""
    rate_limit_scale: float = 1.0
    """Multiplies every documented rate limit (0.01: a hundredth of the venue's budget)."""
    signer_rate_limit_warning: bool = False
    """Per-signer buckets only warn (``Poly-RateLimit-Warning: true``) instead of answering 429."""
    rtds_silence_without_ping_s: float = 360.0
    """RTDS: a connection without ``PING`` for this long receives no more data (0: never)."""
    rtds_freeze: bool = False
    """RTDS: send no data frames while set; sockets stay open and ``PING`` is answered."""
    rtds_drop_rate: float = 0.0
    """RTDS: probability that a data frame is silently not sent."""
    rtds_close_after_messages: int = 0
    """RTDS: close each socket after this many data frames (0: never)."""
    rtds_close_code: int = 0
    """RTDS: the close code of ``rtds_close_after_messages`` (0: abort without a close frame)."""
    polybolt_close_after_messages: int = 0
    """PolyBolt: close each socket after this many data frames (0: never)."""
    polybolt_close_code: int = 0
    """PolyBolt: the close code of ``polybolt_close_after_messages`` (0: abort without a close frame)."""
    polybolt_seq_skip_every: int = 0
    """PolyBolt: skip one ``seq`` number every this many data frames of a connection (0: never)."""
    polybolt_slow_consumer_every: int = 0
    """PolyBolt: discard one data frame in this many and report it in the next ``dropped`` (0: never)."""
    polybolt_refuse_handshakes: int = 0
    """PolyBolt: refuse this many handshakes (from the emulator's start) with 429."""
    polybolt_retry_after_s: int = 1
    """PolyBolt: the ``Retry-After`` of a refused handshake, in seconds."""

    def as_dict(self) -> dict[str, object]:
        """Every knob and its current value (JSON-ready)."""
        knobs = dataclasses.asdict(self)
        knobs["poison_classes"] = list(self.poison_classes)  # as JSON gives it back
        return knobs


@dataclass(frozen=True, slots=True)
class MessageFate:
    """What happens to one WebSocket data frame."""

    drop: bool = False
    malformed: bool = False
    duplicate: bool = False
    reorder: bool = False
    poison: PoisonClass | None = None


class HttpFault(Enum):
    """An HTTP fault to answer a venue REST request with, instead of handling it."""

    TOO_MANY_REQUESTS = "429"
    TOO_EARLY = "425"
    SERVER_ERROR = "5xx"


class FaultDice:
    """A seeded random stream that decides faults for one connection (or for HTTP).

    The stream is derived from ``(config.seed, stream)`` and restarts when the config's seed
    changes, so the same seed and stream name always give the same sequence of decisions. A knob
    at 0 draws nothing, so switching one knob on does not shift the others' sequences before it.
    """

    def __init__(self, config: FaultConfig, stream: str) -> None:
        self._config = config
        self._stream = stream
        self._seed = config.seed
        self._random = random.Random(f"{config.seed}/{stream}")

    def _roll(self, probability: float) -> bool:
        if probability <= 0.0:
            return False
        if self._config.seed != self._seed:
            self._seed = self._config.seed
            self._random = random.Random(f"{self._seed}/{self._stream}")
        return self._random.random() < probability

    def message_fate(self) -> MessageFate:
        """Decide what happens to the next data frame."""
        config = self._config
        if self._roll(config.drop_rate):
            return MessageFate(drop=True)
        return MessageFate(
            malformed=self._roll(config.malformed_rate),
            duplicate=self._roll(config.duplicate_rate),
            reorder=self._roll(config.reorder_rate),
            poison=self.poison(config.poison_rate),
        )

    def poison(self, rate: float) -> PoisonClass | None:
        """With probability ``rate``, the class of hostile value the next message carries."""
        if not self._roll(rate):
            return None
        classes = self._config.poison_classes
        return classes[self.pick(len(classes))]

    def pick(self, count: int) -> int:
        """An index below ``count``, from the same stream (where a poison lands, say)."""
        return self._random.randrange(count)

    def corrupt_as_non_json(self) -> bool:
        """For a malformed frame: True to send non-JSON text, False for a broken schema."""
        return self._roll(0.5)

    def http_fault(self) -> HttpFault | None:
        """Decide whether the next venue REST request fails, and how."""
        config = self._config
        if self._roll(config.http_429_rate):
            return HttpFault.TOO_MANY_REQUESTS
        if self._roll(config.http_425_rate):
            return HttpFault.TOO_EARLY
        if self._roll(config.http_5xx_rate):
            return HttpFault.SERVER_ERROR
        return None

    def trade_retries(self) -> bool:
        """Decide whether the next matched trade's first settlement attempt fails (RETRYING)."""
        return self._roll(self._config.trade_retry_rate)

    def retry_fails(self) -> bool:
        """For a RETRYING trade: True when the retry fails too (FAILED)."""
        return self._roll(self._config.trade_failure_rate)


class OutageSchedule:
    """Timed venue outages: a matching-engine restart and a 5xx storm (venue notes: Failure modes).

    * :meth:`restart`: for ``seconds``, venue REST requests whose path starts with one of
      ``prefixes`` answer 425 ``service not ready``; then, for ``post_only_seconds``, order
      placements that are not post-only answer 503 post-only mode. The venue restarts only its
      matching engine, so trading will narrow ``prefixes`` to the order endpoints; until the
      emulator has them, the default covers every venue route.
    * :meth:`storm`: for ``seconds``, every venue REST request answers ``status``.

    Starting one replaces the previous one of its kind; ``seconds`` 0 ends it. ``clock_s`` is a
    monotonic clock in seconds.
    """

    def __init__(self, clock_s: Callable[[], float]) -> None:
        self._clock_s = clock_s
        self._restart_ends_at = -math.inf
        self._post_only_ends_at = -math.inf
        self._restart_prefixes: tuple[str, ...] = ("/",)
        self._storm_ends_at = -math.inf
        self._storm_status = 503

    def restart(
        self,
        *,
        seconds: float,
        post_only_seconds: float = POST_ONLY_AFTER_RESTART_S,
        prefixes: Sequence[str] = ("/",),
    ) -> None:
        """Start a matching-engine restart now (raises :class:`InvalidValueError` for bad values)."""
        seconds = knob_non_negative_seconds("seconds", seconds)
        post_only_seconds = knob_non_negative_seconds("post_only_seconds", post_only_seconds)
        if not prefixes or not all(isinstance(prefix, str) and prefix.startswith("/") for prefix in prefixes):
            raise InvalidValueError("path prefixes must start with /", field="prefixes", value=list(prefixes))
        now = self._clock_s()
        self._restart_ends_at = now + seconds
        self._post_only_ends_at = self._restart_ends_at + post_only_seconds
        self._restart_prefixes = tuple(prefixes)

    def storm(self, *, seconds: float, status: int = 503) -> None:
        """Start a storm of ``status`` answers now (raises :class:`InvalidValueError` for bad values)."""
        seconds = knob_non_negative_seconds("seconds", seconds)
        self._storm_status = _server_error_status("status", status)
        self._storm_ends_at = self._clock_s() + seconds

    def restarting(self, path: str) -> bool:
        """Whether a request to ``path`` falls in the restart window now."""
        return self._clock_s() < self._restart_ends_at and path.startswith(self._restart_prefixes)

    def post_only_remaining_s(self) -> float:
        """Seconds of post-only mode left (0.0 when not in it)."""
        now = self._clock_s()
        if self._restart_ends_at <= now < self._post_only_ends_at:
            return self._post_only_ends_at - now
        return 0.0

    def storm_status(self) -> int | None:
        """The status every venue REST request answers now, if a storm is on."""
        return self._storm_status if self._clock_s() < self._storm_ends_at else None

    def as_dict(self) -> dict[str, object]:
        """What is on now and for how long (JSON-ready)."""
        now = self._clock_s()
        return {
            "restart_remaining_s": max(0.0, self._restart_ends_at - now),
            "restart_prefixes": list(self._restart_prefixes),
            "post_only_remaining_s": self.post_only_remaining_s(),
            "storm_remaining_s": max(0.0, self._storm_ends_at - now),
            "storm_status": self.storm_status(),
        }
