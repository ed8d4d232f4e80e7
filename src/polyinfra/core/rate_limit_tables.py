"""Rate-limit budgets as data: windows, scopes, endpoint rules and the table that routes a request to them.

* a :class:`Window` is "at most ``limit`` units in any ``period_s`` seconds";
* a :class:`Scope` is a named budget of one or more windows (a burst 10 s window, and a sustained
  10 min one for trading routes). A per-wallet scope keeps one budget per wallet id (the venue's
  per-signer order and cancel buckets); an item-counting scope charges a batch by its items;
* a :class:`SignerTier` sizes a wallet's per-signer order and cancel scopes;
* a :class:`RateLimitTable` maps endpoints (``"GET /book"``) to their own scopes and adds the
  scopes every request of the host draws from (the venue's general one and the global one):
  a request must fit all of them at once. :meth:`RateLimitTable.route` resolves a request to
  its :class:`Route`.

Pure: no clock, no I/O. The venue's documented tables are in :mod:`polyinfra.core.venue_rate_limits`;
the limiter that enforces a table is :mod:`polyinfra.net.rate_limit`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Final

from polyinfra.errors import InvalidValueError

__all__ = [
    "EndpointRule",
    "RateLimitTable",
    "Route",
    "Scope",
    "SignerTier",
    "Window",
]

_NO_SIGNER_TIERS: Final[Mapping[str, SignerTier]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Window:
    """At most ``limit`` units in any ``period_s`` seconds (a sliding window)."""

    limit: int
    period_s: float

    def __post_init__(self) -> None:
        if isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit < 1:
            raise InvalidValueError("a window's limit must be a positive integer", limit=self.limit)
        if not (math.isfinite(self.period_s) and self.period_s > 0):
            raise InvalidValueError("a window's period must be a positive number of seconds", period_s=self.period_s)


@dataclass(frozen=True, slots=True)
class Scope:
    """A named budget a request draws from.

    ``per_wallet``: one budget per wallet id instead of one for the whole process (the venue's
    per-signer buckets). ``counts_items``: a request costs its number of items (orders in a batch,
    ids to cancel) rather than 1.
    """

    name: str
    windows: tuple[Window, ...]
    per_wallet: bool = False
    counts_items: bool = False

    def __post_init__(self) -> None:
        if not self.windows:
            raise InvalidValueError("a scope needs at least one window", scope=self.name)


@dataclass(frozen=True, slots=True)
class EndpointRule:
    """Which scopes an endpoint draws from, beyond its table's shared ones, and its breaker group.

    ``pattern`` is ``"METHOD /path"``; a path segment ``*`` matches any one segment and a final
    ``**`` any one or more (``"GET /markets/*"``, ``"GET /tags/**"``).
    """

    pattern: str
    scopes: tuple[str, ...]
    group: str


@dataclass(frozen=True, slots=True)
class Route:
    """What one request is keyed and charged by, resolved by :meth:`RateLimitTable.route`.

    ``endpoint`` is the matching rule's pattern (or, for a path no rule names, a derived one with
    ids replaced by wildcards), safe as a metrics label. ``scopes`` are the endpoint's own,
    ``shared`` those of every request to the host.
    """

    endpoint: str
    group: str
    scopes: tuple[Scope, ...]
    shared: tuple[Scope, ...]

    @property
    def path_template(self) -> str:
        """The endpoint without its method: ``"/book"``, ``"/markets/*"``."""
        return self.endpoint.partition(" ")[2]

    @property
    def bucket(self) -> str:
        """The name of the most specific scope, for metrics."""
        return (self.scopes or self.shared)[0].name


class RateLimitTable:
    """The budgets of one host: its scopes, its endpoint rules and the scopes every request shares.

    Scope names are global: two tables that both name ``"all"`` share that budget when used by one
    limiter (the venue's general limit covers every host, venue notes: Rate limits).
    """

    def __init__(
        self,
        *,
        venue: str,
        scopes: Iterable[Scope],
        endpoints: Iterable[EndpointRule],
        shared: Sequence[str],
        signer_tiers: Mapping[str, SignerTier] = _NO_SIGNER_TIERS,
        signer_tier: str | None = None,
        factor: float = 1.0,
    ) -> None:
        self.venue = venue
        self.signer_tiers = signer_tiers
        """The volume tiers a wallet's per-signer scopes can be sized for (:meth:`signer_scopes`)."""
        self.signer_tier = signer_tier
        """The volume tier (a key of :attr:`signer_tiers`) its per-signer scopes are sized for, if any."""
        self.factor = factor
        """What every documented limit was multiplied by (:meth:`scaled`)."""
        self.scopes: Mapping[str, Scope] = {scope.name: scope for scope in scopes}
        self.endpoints = tuple(endpoints)
        self.shared_names = tuple(shared)
        for name in self.shared_names:
            if name not in self.scopes:
                raise InvalidValueError("a shared scope is not defined", venue=venue, scope=name)
        self._shared = tuple(self.scopes[name] for name in self.shared_names)
        self._exact: dict[tuple[str, str], EndpointRule] = {}
        self._wildcards: list[tuple[str, tuple[str, ...], EndpointRule]] = []
        for rule in self.endpoints:
            for name in rule.scopes:
                if name not in self.scopes:
                    raise InvalidValueError("an endpoint names an undefined scope", endpoint=rule.pattern, scope=name)
            method, _, path = rule.pattern.partition(" ")
            if not path.startswith("/"):
                raise InvalidValueError("an endpoint pattern is 'METHOD /path'", endpoint=rule.pattern)
            if "*" in path:
                self._wildcards.append((method, _segments(path), rule))
            else:
                self._exact[(method, path)] = rule

    def route(self, method: str, path: str) -> Route:
        """The route of a request: ``path`` is the request path (a query string is ignored) or a
        rule's own pattern path, so an explicit ``endpoint="GET /markets/*"`` resolves too."""
        method = method.upper()
        path = path.split("?", 1)[0] or "/"
        rule = self._exact.get((method, path))
        if rule is None:
            segments = _segments(path)
            rule = next(
                (
                    rule
                    for rule_method, pattern, rule in self._wildcards
                    if rule_method == method and _matches(pattern, segments)
                ),
                None,
            )
        if rule is None:
            return Route(
                endpoint=f"{method} {_derived_template(path)}", group=self.venue, scopes=(), shared=self._shared
            )
        return Route(
            endpoint=rule.pattern,
            group=rule.group,
            scopes=tuple(self.scopes[name] for name in rule.scopes),
            shared=self._shared,
        )

    def scaled(self, factor: float) -> RateLimitTable:
        """The same table with every limit multiplied by ``factor`` (rounded down, at least 1).

        For tests and demos against an emulator whose ``rate_limit_scale`` knob is the same factor
        (it rounds the same way), so both sides agree on every budget.
        """
        if not (math.isfinite(factor) and factor > 0):
            raise InvalidValueError("the scale factor must be a positive number", factor=factor)
        return RateLimitTable(
            venue=self.venue,
            scopes=[_scaled(scope, factor) for scope in self.scopes.values()],
            endpoints=self.endpoints,
            shared=self.shared_names,
            signer_tiers=self.signer_tiers,
            signer_tier=self.signer_tier,
            factor=self.factor * factor,
        )

    def signer_scopes(self, tier: str) -> tuple[Scope, ...]:
        """The per-signer scopes of volume ``tier``, scaled as this table is (see :meth:`scaled`)."""
        signer = self.signer_tiers.get(tier)
        if signer is None:
            raise InvalidValueError("unknown signer tier", tier=tier, known=sorted(self.signer_tiers))
        return tuple(_scaled(scope, self.factor) for scope in signer.scopes())


def _scaled(scope: Scope, factor: float) -> Scope:
    # Rounded down, at least 1: the emulator's rate_limit_scale rounds the same way.
    return replace(
        scope, windows=tuple(Window(max(1, math.floor(w.limit * factor)), w.period_s) for w in scope.windows)
    )


def _segments(path: str) -> tuple[str, ...]:
    return tuple(segment for segment in path.split("/") if segment)


def _matches(pattern: tuple[str, ...], segments: tuple[str, ...]) -> bool:
    if pattern and pattern[-1] == "**":
        head = pattern[:-1]
        if len(segments) <= len(head):
            return False
        segments = segments[: len(head)]
        pattern = head
    return len(pattern) == len(segments) and all(p in ("*", s) for p, s in zip(pattern, segments, strict=True))


def _derived_template(path: str) -> str:
    # Only the first segment is kept: the rest of an unknown path may hold ids (token, order,
    # condition), and a metrics label per id would grow without bound.
    segments = _segments(path)
    if not segments:
        return "/"
    return f"/{segments[0]}/**" if len(segments) > 1 else f"/{segments[0]}"


@dataclass(frozen=True, slots=True)
class SignerTier:
    """A per-signer token-bucket tier: orders and cancels per second and their bursts (venue notes: Rate limits)."""

    orders_per_s: int
    order_burst: int
    cancels_per_s: int
    cancel_burst: int

    def scopes(self) -> tuple[Scope, Scope]:
        """The order and cancel buckets as per-wallet, item-counting windows.

        A token bucket of rate ``r`` and capacity ``b`` lets ``b + r*t`` through in any ``t``
        seconds; a sliding window of ``b`` per ``b/r`` seconds never lets more (at most
        ``b*(floor(t*r/b) + 1)``) and sustains the same rate, so it is a safe stand-in.
        """
        return (
            Scope(
                "clob:signer-orders",
                (Window(self.order_burst, self.order_burst / self.orders_per_s),),
                per_wallet=True,
                counts_items=True,
            ),
            Scope(
                "clob:signer-cancels",
                (Window(self.cancel_burst, self.cancel_burst / self.cancels_per_s),),
                per_wallet=True,
                counts_items=True,
            ),
        )
