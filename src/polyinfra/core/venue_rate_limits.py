"""The venues' rate limits as data: the budgets polyinfra keeps its requests within.

The venue enforces its limits per IP with Cloudflare sliding windows and throttles (delays) or
rejects (429) what goes over (venue notes: Rate limits). These tables are its documented budgets
(:data:`CLOB_LIMITS` with the per-signer buckets of :data:`SIGNER_TIERS`, :data:`GAMMA_LIMITS`,
:data:`DATA_LIMITS`), the US exchange's (:data:`US_TOKEN_LIMITS`, :func:`us_order_entry_limits`),
a Polygon node's (:data:`RPC_LIMITS`) and the relayer's (:func:`relayer_limits`), in the vocabulary
of :mod:`polyinfra.core.rate_limit_tables`. :mod:`polyinfra.net.rate_limit` enforces them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from polyinfra.core.rate_limit_tables import EndpointRule, RateLimitTable, Scope, SignerTier, Window
from polyinfra.errors import InvalidValueError

__all__ = [
    "CLOB_LIMITS",
    "DATA_LIMITS",
    "GAMMA_LIMITS",
    "GLOBAL_SCOPE",
    "RELAYER_DAILY_QUOTAS",
    "RPC_LIMITS",
    "SIGNER_TIERS",
    "US_ORDER_ENTRY_TIERS",
    "US_TOKEN_LIMITS",
    "clob_limits",
    "relayer_limits",
    "us_order_entry_limits",
]

_BURST_S: Final = 10.0
_SUSTAINED_S: Final = 600.0

GLOBAL_SCOPE: Final = Scope("all", (Window(15_000, _BURST_S),))
"""The venue's general limit over every host and endpoint (venue notes: Rate limits)."""


def _burst(name: str, limit: int) -> Scope:
    return Scope(name, (Window(limit, _BURST_S),))


def _trading(name: str, burst: int, sustained: int) -> Scope:
    return Scope(name, (Window(burst, _BURST_S), Window(sustained, _SUSTAINED_S)))


SIGNER_TIERS: Final[Mapping[str, SignerTier]] = {
    # Tiers by 30-day maker volume, refreshed every 3 h.
    "standard": SignerTier(40, 60, 80, 120),
    "copper": SignerTier(60, 90, 120, 180),
    "bronze": SignerTier(80, 120, 160, 240),
    "silver": SignerTier(200, 300, 400, 600),
    "gold": SignerTier(400, 600, 800, 1_200),
    "platinum": SignerTier(450, 675, 900, 1_350),
    "diamond": SignerTier(525, 787, 1_050, 1_575),
    "elite": SignerTier(600, 900, 1_200, 1_800),
}

_CLOB_SCOPES: Final = (
    # The newer table (venue notes: Rate limits); the 2025 trading numbers were lower.
    _burst("clob", 9_000),
    _burst("clob:/ok", 100),
    _burst("clob:balance-allowance", 200),
    _burst("clob:balance-allowance/update", 50),
    _burst("clob:/book", 1_500),
    _burst("clob:/price", 1_500),
    _burst("clob:/midpoint", 1_500),
    _burst("clob:/books", 500),
    _burst("clob:/prices", 500),
    _burst("clob:/midpoints", 500),
    _burst("clob:/prices-history", 1_000),
    _burst("clob:/tick-size", 200),
    _burst("clob:ledger", 900),
    _burst("clob:/data/orders", 500),
    _burst("clob:/data/trades", 500),
    _burst("clob:/notifications", 125),
    _burst("clob:api-keys", 100),
    _trading("clob:POST /order", 5_000, 120_000),
    _trading("clob:DELETE /order", 5_000, 120_000),
    _trading("clob:POST /orders", 2_000, 21_000),
    _trading("clob:DELETE /orders", 2_000, 15_000),
    _trading("clob:DELETE /cancel-all", 250, 6_000),
    _trading("clob:DELETE /cancel-market-orders", 1_500, 21_000),
)

_PUBLIC, _ACCOUNT, _TRADING = "clob-public", "clob-account", "clob-trading"

_CLOB_ENDPOINTS: Final = (
    EndpointRule("GET /", ("clob:/ok",), _PUBLIC),
    EndpointRule("GET /ok", ("clob:/ok",), _PUBLIC),
    EndpointRule("GET /book", ("clob:/book",), _PUBLIC),
    EndpointRule("POST /books", ("clob:/books",), _PUBLIC),
    EndpointRule("GET /price", ("clob:/price",), _PUBLIC),
    EndpointRule("POST /prices", ("clob:/prices",), _PUBLIC),
    EndpointRule("GET /prices", ("clob:/prices",), _PUBLIC),
    EndpointRule("GET /midpoint", ("clob:/midpoint",), _PUBLIC),
    EndpointRule("POST /midpoints", ("clob:/midpoints",), _PUBLIC),
    EndpointRule("GET /prices-history", ("clob:/prices-history",), _PUBLIC),
    EndpointRule("GET /tick-size", ("clob:/tick-size",), _PUBLIC),
    EndpointRule("GET /tick-size/*", ("clob:/tick-size",), _PUBLIC),
    # Public routes without an own limit: listed so their metrics label is a template.
    EndpointRule("GET /time", (), _PUBLIC),
    EndpointRule("GET /version", (), _PUBLIC),
    EndpointRule("GET /spread", (), _PUBLIC),
    EndpointRule("POST /spreads", (), _PUBLIC),
    EndpointRule("GET /last-trade-price", (), _PUBLIC),
    EndpointRule("POST /last-trades-prices", (), _PUBLIC),
    EndpointRule("GET /neg-risk", (), _PUBLIC),
    EndpointRule("GET /fee-rate", (), _PUBLIC),
    EndpointRule("GET /fee-rate/*", (), _PUBLIC),
    EndpointRule("GET /markets", (), _PUBLIC),
    EndpointRule("GET /markets/*", (), _PUBLIC),
    EndpointRule("GET /simplified-markets", (), _PUBLIC),
    EndpointRule("GET /sampling-markets", (), _PUBLIC),
    EndpointRule("GET /sampling-simplified-markets", (), _PUBLIC),
    EndpointRule("GET /clob-markets/*", (), _PUBLIC),
    EndpointRule("GET /markets-by-token/*", (), _PUBLIC),
    # Account and ledger (L2). The ledger budget covers the listed order, trade and notification reads.
    EndpointRule("GET /balance-allowance", ("clob:balance-allowance",), _ACCOUNT),
    EndpointRule("GET /balance-allowance/update", ("clob:balance-allowance/update",), _ACCOUNT),
    EndpointRule("GET /data/orders", ("clob:/data/orders", "clob:ledger"), _ACCOUNT),
    EndpointRule("GET /data/trades", ("clob:/data/trades", "clob:ledger"), _ACCOUNT),
    EndpointRule("GET /data/order/*", ("clob:ledger",), _ACCOUNT),
    EndpointRule("GET /notifications", ("clob:/notifications", "clob:ledger"), _ACCOUNT),
    EndpointRule("DELETE /notifications", ("clob:/notifications",), _ACCOUNT),
    EndpointRule("POST /auth/api-key", ("clob:api-keys",), _ACCOUNT),
    EndpointRule("DELETE /auth/api-key", ("clob:api-keys",), _ACCOUNT),
    EndpointRule("GET /auth/derive-api-key", ("clob:api-keys",), _ACCOUNT),
    EndpointRule("GET /auth/api-keys", ("clob:api-keys",), _ACCOUNT),
    # Trading: the IP windows plus the signer's order or cancel bucket (cost: orders or ids;
    # /cancel-all and /cancel-market-orders are debited 1 up front, the rest after the fact).
    EndpointRule("POST /order", ("clob:POST /order", "clob:signer-orders"), _TRADING),
    EndpointRule("POST /orders", ("clob:POST /orders", "clob:signer-orders"), _TRADING),
    EndpointRule("DELETE /order", ("clob:DELETE /order", "clob:signer-cancels"), _TRADING),
    EndpointRule("DELETE /orders", ("clob:DELETE /orders", "clob:signer-cancels"), _TRADING),
    EndpointRule("DELETE /cancel-all", ("clob:DELETE /cancel-all", "clob:signer-cancels"), _TRADING),
    EndpointRule(
        "DELETE /cancel-market-orders", ("clob:DELETE /cancel-market-orders", "clob:signer-cancels"), _TRADING
    ),
    EndpointRule("POST /v1/heartbeats", (), _TRADING),
)


def clob_limits(tier: str = "standard") -> RateLimitTable:
    """The CLOB's table with the per-signer buckets of a volume ``tier`` (a key of :data:`SIGNER_TIERS`)."""
    signer = SIGNER_TIERS.get(tier)
    if signer is None:
        raise InvalidValueError("unknown signer tier", tier=tier, known=sorted(SIGNER_TIERS))
    return RateLimitTable(
        venue="clob",
        scopes=(GLOBAL_SCOPE, *_CLOB_SCOPES, *signer.scopes()),
        endpoints=_CLOB_ENDPOINTS,
        shared=("clob", "all"),
        signer_tiers=SIGNER_TIERS,
        signer_tier=tier,
    )


CLOB_LIMITS: Final = clob_limits()
"""The CLOB's documented limits, standard signer tier (venue notes: Rate limits)."""

GAMMA_LIMITS: Final = RateLimitTable(
    venue="gamma",
    scopes=(
        GLOBAL_SCOPE,
        _burst("gamma", 4_000),
        _burst("gamma:/events", 500),
        _burst("gamma:/markets", 300),
        _burst("gamma:listing", 900),
        _burst("gamma:/comments", 200),
        _burst("gamma:/tags", 200),
        _burst("gamma:/public-search", 350),
    ),
    endpoints=(
        EndpointRule("GET /events", ("gamma:/events", "gamma:listing"), "gamma"),
        EndpointRule("GET /events/keyset", ("gamma:/events", "gamma:listing"), "gamma"),
        EndpointRule("GET /events/**", ("gamma:/events",), "gamma"),
        EndpointRule("GET /markets", ("gamma:/markets", "gamma:listing"), "gamma"),
        EndpointRule("GET /markets/keyset", ("gamma:/markets", "gamma:listing"), "gamma"),
        EndpointRule("GET /markets/**", ("gamma:/markets",), "gamma"),
        EndpointRule("POST /markets/information", ("gamma:/markets",), "gamma"),
        EndpointRule("GET /comments", ("gamma:/comments",), "gamma"),
        EndpointRule("GET /comments/**", ("gamma:/comments",), "gamma"),
        EndpointRule("GET /tags", ("gamma:/tags",), "gamma"),
        EndpointRule("GET /tags/**", ("gamma:/tags",), "gamma"),
        EndpointRule("GET /public-search", ("gamma:/public-search",), "gamma"),
    ),
    shared=("gamma", "all"),
)
"""Gamma's documented limits (venue notes: Rate limits)."""

DATA_LIMITS: Final = RateLimitTable(
    venue="data",
    scopes=(
        GLOBAL_SCOPE,
        _burst("data", 1_000),
        _burst("data:/trades", 200),
        _burst("data:/positions", 150),
        _burst("data:/closed-positions", 150),
        _burst("data:/ok", 100),
        _burst("data:/v2/user-pnl", 200),
    ),
    endpoints=(
        EndpointRule("GET /ok", ("data:/ok",), "data"),
        EndpointRule("GET /trades", ("data:/trades",), "data"),
        EndpointRule("GET /positions", ("data:/positions",), "data"),
        EndpointRule("GET /closed-positions", ("data:/closed-positions",), "data"),
        # v2 replaces the v1 routes (venue notes: Data API); until its limits are documented, it is
        # assumed to share theirs.
        EndpointRule("GET /v2/trades", ("data:/trades",), "data"),
        EndpointRule("GET /v2/positions", ("data:/positions",), "data"),
        # The user P&L API's own row (venue notes: Rate limits).
        EndpointRule("GET /v2/user-pnl", ("data:/v2/user-pnl",), "data"),
    ),
    shared=("data", "all"),
)
"""The Data API's documented limits (venue notes: Rate limits)."""

US_TOKEN_LIMITS: Final = RateLimitTable(
    venue="us-token",
    scopes=(_burst("us:token", 50),),
    endpoints=(EndpointRule("POST /oauth/token", ("us:token",), "us-token"),),
    shared=("us:token",),
)
"""The US exchange's token endpoint. Its limits are not published; a token manager asks once per
token (every 2.5 minutes), so this only stops a runaway loop from getting the client id throttled."""


US_ORDER_ENTRY_TIERS: Final[Mapping[int, Mapping[str, int]]] = {
    tier: {
        "InsertOrder": insert,
        "CancelReplaceOrder": insert,
        "CancelOrder": cancel,
        "InsertOrderList": 50,
        "CancelOrderList": 50,
        "CancelReplaceOrderList": 50,
    }
    for tier, (insert, cancel) in {1: (30, 90), 2: (100, 300), 3: (200, 600), 4: (400, 1200)}.items()
}
"""The US exchange's order-entry requests per second by volume tier 1-4, per method; a list counts once,
whatever it holds (at most 20) (venue notes: US exchange order entry)."""


def us_order_entry_limits(tier: int) -> RateLimitTable:
    """The US exchange's per-method order-entry buckets of volume ``tier`` (1 to 4).

    The venue's buckets hold one second's worth and refill continuously; a one-second sliding window of the
    same size admits the same requests in any second, so the limiter's windows model them. Route requests as
    ``table.route("RPC", "/OrderEntryAPI/InsertOrder")``.
    """
    rates = US_ORDER_ENTRY_TIERS.get(tier)
    if rates is None:
        raise InvalidValueError("the US order-entry tier is 1 to 4", tier=tier)
    return RateLimitTable(
        venue="us-orders",
        scopes=[Scope(f"us:{method}", (Window(rate, 1.0),)) for method, rate in rates.items()],
        endpoints=[EndpointRule(f"RPC /OrderEntryAPI/{method}", (f"us:{method}",), "us-orders") for method in rates],
        shared=(),
    )


RPC_LIMITS: Final = RateLimitTable(
    venue="rpc",
    scopes=(_burst("rpc", 500),),
    endpoints=(EndpointRule("POST /rpc", ("rpc",), "rpc"),),
    shared=("rpc",),
)
"""A Polygon JSON-RPC node. Providers' free tiers allow some tens of requests a second and answer 429 beyond;
500 per 10 s stays inside the common ones, and a batch counts once. A paid node can be given a scaled table."""


RELAYER_DAILY_QUOTAS: Final[Mapping[str, int]] = {"unverified": 100, "verified": 10_000}
"""Relayed transactions a builder may submit per day, by tier (venue notes: Relayer); a relayer API key for one's own
wallets, and the partner tier, have no daily quota."""


def relayer_limits(daily_quota: int | None = RELAYER_DAILY_QUOTAS["unverified"]) -> RateLimitTable:
    """The relayer's budgets: ``POST /submit`` at most 25 a minute and, unless ``daily_quota`` is None, that many a
    day (each submit is one unit, whatever the number of calls it batches). Reads share a generous burst scope."""
    submit_windows = [Window(25, 60.0)]
    if daily_quota is not None:
        submit_windows.append(Window(daily_quota, 86_400.0))
    return RateLimitTable(
        venue="relayer",
        scopes=(Scope("relayer:submit", tuple(submit_windows)), _burst("relayer", 200)),
        endpoints=(EndpointRule("POST /submit", ("relayer:submit",), "relayer-submit"),),
        shared=("relayer",),
    )
