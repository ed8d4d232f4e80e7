"""The emulator's one-port aiohttp application.

One port serves what the venue spreads over hosts: the public CLOB REST API
(:mod:`polyinfra.emulator.rest_api`), the authenticated trading API
(:mod:`polyinfra.emulator.trading_api`), the account extras (liquidity rewards,
:mod:`~polyinfra.emulator.rewards`; notifications, :mod:`~polyinfra.emulator.notifications`;
read-only and builder keys and the closed-only flag, :mod:`~polyinfra.emulator.account_keys`; a
market's trade events, :mod:`~polyinfra.emulator.market_activity`), the market and user channels
at ``/ws/market`` and ``/ws/user`` (:mod:`polyinfra.emulator.market_channel`,
:mod:`polyinfra.emulator.user_channel`), the RTDS live-data socket at ``/ws/rtds``
(:mod:`polyinfra.emulator.live.rtds_channel`, fed by :mod:`~polyinfra.emulator.live.rtds_sources`),
the US exchange's token endpoint ``POST /oauth/token`` with
its control routes under ``/_emulator/us/`` (:mod:`polyinfra.emulator.us.token_endpoint`),
plus control endpoints that are not part of the venue:

* ``GET /_emulator/faults``: the fault knobs as JSON; ``POST /_emulator/faults`` with a JSON object
  of knobs to change (all-or-nothing; 400 ``{"error": ...}`` for an unknown knob or a bad value),
  answered with the knobs after the change;
* ``POST /_emulator/pause`` and ``POST /_emulator/resume``: stop and restart the market simulator,
  answered with ``{"paused": bool}``;
* ``POST /_emulator/restart?seconds=N``: simulate a matching-engine restart (venue notes: Failure modes): venue
  REST requests answer 425 ``service not ready`` for N seconds, then order placements that are not
  post-only answer 503 post-only mode for ``post_only_seconds`` (default 120). Repeat ``prefix=/path``
  to restrict the 425s to paths starting with one of them;
* ``POST /_emulator/storm?seconds=N&status=503``: every venue REST request answers that 5xx status
  (default 503) for N seconds.
  Both answer with the outages now on (``seconds=0`` ends one), or 400 ``{"error": ...}``;
* ``GET /_emulator/wallets/{address}``: one wallet as the chain holds it and as the venue sees it,
  ``{"address", "chain": {"collateral", "allowances"}, "venue": {...}, "tier"}``, pUSD and allowances per
  V2 spender as decimal strings (``"unlimited"`` for the infinite approval every wallet starts with).
  ``POST /_emulator/wallets/{address}`` with ``{"collateral": "250.5", "allowances": {"<spender>":
  "0"}}`` (both optional) sets the wallet's pUSD and allowances on the "chain": a deposit or
  withdrawal, an approval or its revocation. Amounts are decimal strings of at most 6 decimals
  (``"unlimited"`` allowed for an allowance); spenders are the V2 exchanges the venue lists in
  ``GET /balance-allowance``. Answered like the GET, all-or-nothing, or 400 ``{"error": ...}`` for a
  bad address, amount, spender, tier or key. ``"tier"`` (optional too) is the signer's rate-limit
  tier, a lower-case tier name (``"gold"``, venue notes: Rate limits), shown in the answer. ``"owner"`` (optional)
  makes the address a deposit wallet (signature type POLY_1271) owned by that EOA, or transfers it:
  the venue takes a deposit wallet's orders only from its owner's key, and the answer's ``"owner"``
  shows it (null for a wallet that is no deposit wallet). ``"closed_only"`` (optional, a bool) puts
  the account of that EOA in or out of closed-only mode, shown in the answer. With the
  ``stale_balance_cache`` knob on, the venue's view keeps the old figures until
  ``GET /balance-allowance/update`` (venue notes: Failure modes);
* ``GET /_emulator/stats``: counters (connections, frames sent / dropped / duplicated, HTTP faults
  injected, simulator steps, ..., the RTDS socket's under ``rtds``), under ``rate_limits`` the mode,
  the scale and per scope the requests, ``over_limit``, ``throttled``, ``rejected`` and each window's
  limit and peak usage, and under ``signer_rate_limits`` the signer buckets' mode, scale and counters
  (in total and per signer).

Before routing, a middleware enforces the venue's rate limits (:mod:`polyinfra.emulator.rate_limits`,
mode and scale from the fault knobs ``rate_limits`` and ``rate_limit_scale``) and then the timed
outages, on every request except the control endpoints and the WebSocket upgrades: Cloudflare sits
in front of the venue, so a request is throttled before the matching engine can refuse it.
Then an order or cancel request is authenticated (401 with the venue's body if its L2 credentials
prove no API key) before anything of its body is read: the post-only gate after a restart and the
signer's buckets both read the orders. The API key's own address then pays its order or cancel
bucket (venue notes: Rate limits), never an address a stranger names in ``POLY_ADDRESS``: over it, 429
``{"error": "Too Many Requests"}`` with ``Retry-After``, or with the ``signer_rate_limit_warning``
knob the request goes through flagged ``Poly-RateLimit-Warning: true``. Every answer of a charged
request carries ``Poly-RateLimit-Remaining``, ``-Reset`` and ``-Tier``. ``POST
/_emulator/wallets/{address}`` with ``{"tier": "gold"}`` sets a signer's tier (``standard`` until
then); ``GET /_emulator/stats`` counts the buckets' requests and ``over_limit`` events under
``signer_rate_limits``, in total and per signer.

Bad input never costs more than its size nor ends in a 500 or a plain-text page: every refusal,
aiohttp's own included (no such route, method not allowed, a body over :data:`MAX_BODY_BYTES`),
answers the venue's ``{"error": "..."}`` with a 4xx; JSON bodies and numbers in query strings and
headers are bounded before they are decoded (:mod:`polyinfra.emulator.client_input`); credential
headers that are not ASCII are refused with 400; a client that goes away mid-request is a debug
line. Requests aiohttp's HTTP parser refuses before any route (a header line over 8,190 bytes,
control characters in a header) keep its plain-text 400.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Final, Protocol

import msgspec
from aiohttp import web

from polyinfra.core.auth_headers import (
    POLY_ADDRESS,
    POLY_API_KEY,
    POLY_NONCE,
    POLY_PASSPHRASE,
    POLY_SIGNATURE,
    POLY_TIMESTAMP,
)
from polyinfra.core.eip712 import to_checksum_address
from polyinfra.emulator.account_keys import AccountKeys, AccountKeysApi
from polyinfra.emulator.accounts import (
    COLLATERAL,
    UNLIMITED_ALLOWANCE_MICROS,
    Accounts,
    Funds,
    deposit_wallet_ownership,
)
from polyinfra.emulator.client_input import whole_number
from polyinfra.emulator.data.apis import DATA_PREFIX, GAMMA_PREFIX, DataApis
from polyinfra.emulator.exchange import Exchange
from polyinfra.emulator.faults import POST_ONLY_AFTER_RESTART_S, FaultConfig, OutageSchedule
from polyinfra.emulator.live.polybolt_channel import PolyBoltChannel, PolyBoltStats
from polyinfra.emulator.live.rtds_channel import PriceSeries, RtdsChannel, RtdsStats
from polyinfra.emulator.live.rtds_sources import RtdsSources
from polyinfra.emulator.market_activity import MarketActivity
from polyinfra.emulator.market_channel import ChannelSettings, ChannelStats, MarketChannel
from polyinfra.emulator.notifications import Notifications, NotificationsApi
from polyinfra.emulator.rate_limits import (
    RateLimiter,
    RateLimitMode,
    SignerBuckets,
    SignerLimitMode,
    SignerRoute,
    ThrottleGate,
    signer_route,
    signer_tier,
)
from polyinfra.emulator.rest_api import DEFAULT_PAGE_SIZE, RestApi, RestStats, too_many_requests
from polyinfra.emulator.rewards import LiquidityRewards, RewardProgram, RewardsApi
from polyinfra.emulator.trading_api import TradingApi, TradingSettings
from polyinfra.emulator.us.token_endpoint import TOKEN_PATH, UsTokenEndpoint
from polyinfra.emulator.user_channel import UserChannel
from polyinfra.errors import ApiError, InvalidNumberError, InvalidValueError, MalformedMessageError
from polyinfra.model.ids import ConditionId
from polyinfra.model.numbers import format_micros, parse_micros
from polyinfra.wire.clob_user import OrderMessage, TradeMessage
from polyinfra.wire.json_decoding import JsonDecoder

__all__ = ["MAX_BODY_BYTES", "EmulatorServer", "EmulatorStats", "SimulatorControl"]

MAX_BODY_BYTES: Final = 1024 * 1024
"""The largest request body read (413 beyond): the biggest venue request, 1,000 order ids to
cancel, is under 80 KB (the venue's own limit is not published)."""

_log = logging.getLogger(__name__)
_encode = msgspec.json.Encoder().encode

_UNLIMITED: Final = "unlimited"

# Paths that are not the CLOB's REST API: never rate limited, never in an outage. The US exchange's
# token endpoint is another venue's (its own host in production), with its own knobs; Gamma and the
# Data API are other hosts too, with their own limits and knobs (emulator.data).
_NOT_VENUE_REST = ("/_emulator/", "/ws/", TOKEN_PATH, GAMMA_PREFIX + "/", DATA_PREFIX + "/")

# Every credential header's value is ASCII (hex, digits, base64, a UUID); aiohttp hands other bytes
# on as lone surrogates, which no check past this one has to meet.
_CREDENTIAL_HEADERS: Final = (POLY_ADDRESS, POLY_API_KEY, POLY_NONCE, POLY_PASSPHRASE, POLY_SIGNATURE, POLY_TIMESTAMP)
_STATUS_DIGITS: Final = 3
_FAULT_CHANGES: Final[JsonDecoder[dict[str, object]]] = JsonDecoder(dict[str, object], what="fault knobs")

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class SimulatorControl(Protocol):
    """What the control endpoints need from whatever drives the market simulator."""

    @property
    def paused(self) -> bool: ...

    @property
    def steps(self) -> int:
        """Simulator actions taken so far."""
        ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...


@dataclass(frozen=True, slots=True)
class EmulatorStats:
    """Live counters of the servers (each part keeps counting after you read it)."""

    http: RestStats
    market_channel: ChannelStats
    user_channel: ChannelStats
    rtds: RtdsStats
    polybolt: PolyBoltStats

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {
            "http": dataclasses.asdict(self.http),
            "market_channel": dataclasses.asdict(self.market_channel),
            "user_channel": dataclasses.asdict(self.user_channel),
            "rtds": dataclasses.asdict(self.rtds),
            "polybolt": dataclasses.asdict(self.polybolt),
        }


class EmulatorServer:
    """The aiohttp application (:attr:`app`) over one exchange; run it with any aiohttp runner.

    ``clock_ms`` must be the exchange's clock. The application closes every socket when it shuts
    down; call :meth:`detach` once it has, to stop listening to the exchange. :attr:`outages`
    starts timed outages from Python; :attr:`rate_limiter` holds the rate-limit windows and counters,
    :attr:`signer_buckets` the per-signer token buckets, tiers and counters.
    """

    def __init__(
        self,
        exchange: Exchange,
        *,
        faults: FaultConfig,
        clock_ms: Callable[[], int],
        simulator: SimulatorControl,
        channel_settings: ChannelSettings | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        trading_settings: TradingSettings | None = None,
        reward_programs: Mapping[ConditionId, RewardProgram] | None = None,
        seed: int = 1,
        us_tokens: UsTokenEndpoint | None = None,
    ) -> None:
        settings = channel_settings or ChannelSettings()
        self.us_tokens = us_tokens if us_tokens is not None else UsTokenEndpoint()
        self._faults = faults
        self._simulator = simulator
        self.outages = OutageSchedule(time.monotonic)
        self.rate_limiter = RateLimiter(scale=faults.rate_limit_scale)
        self._throttle = ThrottleGate(self.rate_limiter)
        self.signer_buckets = SignerBuckets(scale=faults.rate_limit_scale)
        programs = reward_programs or {}
        self._rest = RestApi(
            exchange,
            faults=faults,
            outages=self.outages,
            clock_ms=clock_ms,
            page_size=page_size,
            reward_programs=programs,
        )
        self._market_channel = MarketChannel(exchange, faults, settings)
        self.accounts = Accounts()
        self.account_keys = AccountKeys(clock_ms=clock_ms)
        self._user_channel = UserChannel(self.accounts, faults, settings)
        self.notifications = Notifications(exchange)
        self.trading = TradingApi(
            exchange,
            self.accounts,
            account_keys=self.account_keys,
            user_events=self._publish_user_event,
            clock_ms=clock_ms,
            settings=trading_settings or TradingSettings(),
            page_size=page_size,
            faults=faults,
        )
        self.rewards = LiquidityRewards(
            exchange, programs, maker_wallet=self.trading.ledger.maker_address_of, clock_ms=clock_ms
        )
        self._market_activity = MarketActivity(exchange, trader_address=self._key_address, clock_ms=clock_ms)
        self.rtds = RtdsChannel(faults, backfill=self._rtds_backfill, symbols=self._rtds_symbols, clock_ms=clock_ms)
        self.polybolt = PolyBoltChannel(faults, credentials_valid=self._credentials_valid)
        self.rtds_sources = RtdsSources(
            exchange, self.rtds, trader_address=self._key_address, clock_ms=clock_ms, seed=seed, polybolt=self.polybolt
        )
        self.data_apis = DataApis(
            exchange,
            faults=faults,
            rtds_sources=self.rtds_sources,
            trader_address=self._key_address,
            clock_ms=clock_ms,
        )
        self.stats = EmulatorStats(
            http=self._rest.stats,
            market_channel=self._market_channel.stats,
            user_channel=self._user_channel.stats,
            rtds=self.rtds.stats,
            polybolt=self.polybolt.stats,
        )
        self.app = web.Application(middlewares=[_venue_error_shape, self._venue_edge], client_max_size=MAX_BODY_BYTES)
        self.app.add_routes(self._rest.routes())
        # The HTTP fault knobs live in the public API's route wrapper rather than in _venue_edge, so
        # the trading routes are wrapped here: a client's order path meets the same 429/425/5xx and
        # latency as its market-data path (faults.py). Control endpoints and sockets stay exempt.
        self.app.add_routes(
            [
                web.route(route.method, route.path, self._rest.venue_route(route.handler))
                for route in self.trading.routes()
            ]
        )
        account_routes = (
            *AccountKeysApi(self.account_keys, self.trading).routes(),
            *NotificationsApi(self.notifications, self.trading).routes(),
            *RewardsApi(
                self.rewards,
                exchange,
                self.trading,
                resting_order=self.trading.ledger.resting_order,
                page_size=page_size,
            ).routes(),
            *self._market_activity.routes(),
        )
        self.app.add_routes(
            [web.route(method, path, self._rest.venue_route(handler)) for method, path, handler in account_routes]
        )
        self.app.add_routes(self.us_tokens.routes())
        self.app.add_routes(self.data_apis.routes())
        self.app.add_routes(
            [
                web.get("/ws/market", self._market_channel.handle),
                web.get("/ws/user", self._user_channel.handle),
                web.get("/ws/rtds", self.rtds.handle),
                web.get("/ws/polybolt", self.polybolt.handle),
                web.get("/_emulator/faults", self._get_faults),
                web.post("/_emulator/faults", self._patch_faults),
                web.post("/_emulator/pause", self._pause),
                web.post("/_emulator/resume", self._resume),
                web.post("/_emulator/restart", self._restart),
                web.post("/_emulator/storm", self._storm),
                web.get("/_emulator/stats", self._get_stats),
                web.get("/_emulator/wallets/{address}", self._get_wallet),
                web.post("/_emulator/wallets/{address}", self._set_wallet),
            ]
        )
        self.app.on_startup.append(self._start_trading)
        self.app.on_shutdown.append(self._close_sockets)

    def detach(self) -> None:
        """Stop listening to the exchange."""
        self._market_channel.detach()
        self.rewards.close()
        self._market_activity.close()
        self.rtds_sources.close()
        self.data_apis.close()

    def _publish_user_event(self, api_key: str, condition_id: str, event: OrderMessage | TradeMessage) -> None:
        # The same order events feed the user channel and the notifications, so the two always agree.
        self.notifications.record(api_key, condition_id, event)
        self._user_channel.publish(api_key, condition_id, event)

    def _key_address(self, api_key: str) -> str | None:
        key = self.accounts.get(api_key)
        return None if key is None else key.address

    def _credentials_valid(self, api_key: str, secret: str, passphrase: str) -> bool:
        """Whether a PolyBolt ``auth`` op names an API key this emulator issued, with its secret and passphrase."""
        key = self.accounts.get(api_key)
        if key is None:
            return False
        credentials = key.credentials
        return hmac.compare_digest(secret.encode(), credentials.secret.reveal().encode()) and hmac.compare_digest(
            passphrase.encode(), credentials.passphrase.reveal().encode()
        )

    def _rtds_backfill(self, topic: str, venue_symbol: str) -> PriceSeries | None:
        return self.rtds_sources.backfill(topic, venue_symbol)

    def _rtds_symbols(self, topic: str) -> Iterable[str]:
        return self.rtds_sources.symbols(topic)

    async def _start_trading(self, app: web.Application) -> None:
        self.trading.start()

    async def _close_sockets(self, app: web.Application) -> None:
        await self._market_channel.close_all()
        await self._user_channel.close_all()
        await self.rtds.close_all()
        await self.polybolt.close_all()
        self.trading.close()

    @web.middleware
    async def _venue_edge(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        if request.path.startswith(_NOT_VENUE_REST):
            return await handler(request)
        for name in _CREDENTIAL_HEADERS:
            if not request.headers.get(name, "").isascii():
                return _json({"error": f"Invalid {name} header"}, status=HTTPStatus.BAD_REQUEST)
        limited = await self._enforce_rate_limits(request)
        if limited is not None:
            return limited
        outage = self._rest.outage_response(request)
        if outage is not None:
            return outage
        route = signer_route(request.method, request.path)
        if route is None:
            return await handler(request)
        # Nothing of a trading request is decoded before its credentials are checked, and a signer's
        # buckets are charged only for requests that prove they are its own.
        try:
            key = await self.trading.authenticate(request)
        except ApiError as error:
            return _json({"error": error.message}, status=error.status)
        refused = await self._rest.post_only_refusal(request)
        if refused is not None:
            return refused
        return await self._charge_signer(request, handler, route, key.address)

    def _signer_limit_mode(self) -> SignerLimitMode:
        if self._faults.rate_limits is RateLimitMode.OFF:
            return SignerLimitMode.OFF
        return SignerLimitMode.WARN if self._faults.signer_rate_limit_warning else SignerLimitMode.ENFORCE

    async def _charge_signer(
        self, request: web.Request, handler: _Handler, route: SignerRoute, signer: str
    ) -> web.StreamResponse:
        mode = self._signer_limit_mode()
        if mode is SignerLimitMode.OFF:
            return await handler(request)
        buckets = self.signer_buckets
        buckets.scale = self._faults.rate_limit_scale
        cost = route.cost(await request.read()) if route.per_item else 1
        now_us = buckets.clock_us()
        decision = buckets.charge(signer, route.bucket, cost, now_us, enforce=mode is SignerLimitMode.ENFORCE)
        if not decision.passed:
            retry_after_s = decision.retry_after_s(now_us)
            refused = too_many_requests(retry_after_s or 1)
            if retry_after_s is None:
                # A batch costing more than the burst never passes (venue notes: Rate limits): no time to come back.
                del refused.headers["Retry-After"]
            refused.headers.update(decision.headers())
            return refused
        response = await handler(request)
        if route.debits_cancelled and response.status == HTTPStatus.OK and isinstance(response, web.Response):
            # The orders cancelled are only known now; the venue debits them after the fact.
            cancelled = SignerRoute.cancelled(response.body if isinstance(response.body, bytes) else b"")
            decision = buckets.debit_after(signer, route.bucket, cancelled, buckets.clock_us(), decision)
        response.headers.update(decision.headers())
        return response

    async def _enforce_rate_limits(self, request: web.Request) -> web.Response | None:
        limiter = self.rate_limiter
        limiter.scale = self._faults.rate_limit_scale
        # The venue's limits are per IP (venue notes: Rate limits).
        client = request.remote or "unknown"
        scopes = limiter.covering(request.method, request.path)
        now = asyncio.get_running_loop().time()
        limiter.arrive(client, scopes, now)
        mode = self._faults.rate_limits
        if mode is RateLimitMode.THROTTLE:
            await self._throttle.pass_through(client, scopes)
        elif mode is RateLimitMode.REJECT:
            wait_s = limiter.admit_or_reject(client, scopes, now)
            if wait_s > 0:
                # Retry-After is whole seconds; rounding up never invites a retry that still does not fit.
                return too_many_requests(max(1, math.ceil(wait_s)))
        else:
            for scope in scopes:
                limiter.admit(client, scope, now)
        return None

    async def _get_faults(self, request: web.Request) -> web.Response:
        return _json(self._faults.as_dict())

    async def _patch_faults(self, request: web.Request) -> web.Response:
        try:
            changes = _FAULT_CHANGES.decode(await request.read())
            self._faults.update(changes)
        except MalformedMessageError as exc:
            return _json({"error": f"expected a JSON object of fault knobs: {exc}"}, status=HTTPStatus.BAD_REQUEST)
        except InvalidValueError as exc:
            return _json({"error": str(exc)}, status=HTTPStatus.BAD_REQUEST)
        return _json(self._faults.as_dict())

    async def _pause(self, request: web.Request) -> web.Response:
        self._simulator.pause()
        return _json({"paused": self._simulator.paused})

    async def _resume(self, request: web.Request) -> web.Response:
        self._simulator.resume()
        return _json({"paused": self._simulator.paused})

    async def _restart(self, request: web.Request) -> web.Response:
        query = request.query
        try:
            self.outages.restart(
                seconds=_seconds(query, "seconds"),
                post_only_seconds=_seconds(query, "post_only_seconds", default=POST_ONLY_AFTER_RESTART_S),
                prefixes=query.getall("prefix", ["/"]),
            )
        except InvalidValueError as exc:
            return _json({"error": str(exc)}, status=HTTPStatus.BAD_REQUEST)
        return _json(self.outages.as_dict())

    async def _storm(self, request: web.Request) -> web.Response:
        query = request.query
        try:
            self.outages.storm(
                seconds=_seconds(query, "seconds"),
                status=_status(query.get("status", str(HTTPStatus.SERVICE_UNAVAILABLE.value))),
            )
        except InvalidValueError as exc:
            return _json({"error": str(exc)}, status=HTTPStatus.BAD_REQUEST)
        return _json(self.outages.as_dict())

    async def _get_wallet(self, request: web.Request) -> web.Response:
        try:
            return _json(self._wallet_body(request.match_info["address"]))
        except InvalidValueError as exc:
            return _json({"error": str(exc)}, status=HTTPStatus.BAD_REQUEST)

    async def _set_wallet(self, request: web.Request) -> web.Response:
        address = request.match_info["address"]
        try:
            change = _WALLET_CHANGE.decode(await request.read() or b"{}")
            # Checked before anything changes: the route is all-or-nothing.
            to_checksum_address(address)
            tier = None if change.tier is None else signer_tier(change.tier)
            ownership = None if change.owner is None else deposit_wallet_ownership(address, change.owner)
            self.trading.balances.set_funds(
                address,
                collateral_micros=None if change.collateral is None else _micros("collateral", change.collateral),
                allowances={
                    spender: UNLIMITED_ALLOWANCE_MICROS if amount == _UNLIMITED else _micros(spender, amount)
                    for spender, amount in change.allowances.items()
                },
            )
            if tier is not None:
                self.signer_buckets.set_tier(address, tier)
            if ownership is not None:
                self.accounts.set_deposit_wallet_owner(*ownership)
            if change.closed_only is not None:
                self.account_keys.set_closed_only(address, change.closed_only)
        except MalformedMessageError as exc:
            message = (
                f'expected {{"collateral": "<pUSD>", "allowances": {{"<spender>": "<pUSD>"}}, "tier": "<tier>", '
                f'"owner": "<address>", "closed_only": <bool>}}: {exc}'
            )
            return _json({"error": message}, status=HTTPStatus.BAD_REQUEST)
        except InvalidValueError as exc:
            return _json({"error": str(exc)}, status=HTTPStatus.BAD_REQUEST)
        return _json(self._wallet_body(address))

    def _wallet_body(self, address: str) -> dict[str, object]:
        balances = self.trading.balances
        return {
            "address": to_checksum_address(address),
            "chain": _funds_body(balances.on_chain(address, COLLATERAL)),
            "venue": _funds_body(balances.venue_view(address, COLLATERAL)),
            "tier": self.signer_buckets.tier(address).name,
            "owner": self.accounts.deposit_wallet_owner(address),
            "closed_only": self.account_keys.closed_only(address),
        }

    async def _get_stats(self, request: web.Request) -> web.Response:
        body: dict[str, object] = dict(self.stats.as_dict())
        body["simulator"] = {"paused": self._simulator.paused, "steps": self._simulator.steps}
        self.rate_limiter.scale = self._faults.rate_limit_scale
        body["rate_limits"] = {"mode": self._faults.rate_limits, **self.rate_limiter.as_dict()}
        self.signer_buckets.scale = self._faults.rate_limit_scale
        body["signer_rate_limits"] = {"mode": self._signer_limit_mode(), **self.signer_buckets.as_dict()}
        return _json(body)


def _json(body: object, *, status: int = HTTPStatus.OK) -> web.Response:
    return web.Response(body=_encode(body), status=status, content_type="application/json")


class _WalletChange(msgspec.Struct, forbid_unknown_fields=True):
    """The body of ``POST /_emulator/wallets/{address}``: decimal strings and a tier name, each optional."""

    collateral: str | None = None
    allowances: dict[str, str] = msgspec.field(default_factory=dict)
    tier: str | None = None
    owner: str | None = None
    closed_only: bool | None = None


_WALLET_CHANGE: Final[JsonDecoder[_WalletChange]] = JsonDecoder(_WalletChange, what="wallet change")


def _micros(field: str, text: str) -> int:
    try:
        return parse_micros(text)
    except InvalidNumberError as exc:
        message = f"{exc.message}: amounts are decimal strings of pUSD"
        raise InvalidValueError(message, field=field, value=text) from None


def _funds_body(funds: Funds) -> dict[str, object]:
    return {
        "collateral": format_micros(funds.balance_micros),
        "allowances": {
            spender: _UNLIMITED if amount == UNLIMITED_ALLOWANCE_MICROS else format_micros(amount)
            for spender, amount in funds.allowances.items()
        },
    }


def _seconds(query: Mapping[str, str], name: str, *, default: float | None = None) -> float:
    text = query.get(name)
    if text is None:
        if default is None:
            raise InvalidValueError("a number of seconds is required", field=name)
        return default
    try:
        return float(text)
    except ValueError:
        raise InvalidValueError("must be a number of seconds", field=name, value=text) from None


def _status(text: str) -> int:
    status = whole_number(text, max_digits=_STATUS_DIGITS)
    if status is None:
        raise InvalidValueError("must be an HTTP status", field="status", value=text)
    return status


@web.middleware
async def _venue_error_shape(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """Every refusal in the venue's ``{"error": ...}`` shape, aiohttp's own too (no route, wrong
    method, body too large); a client gone mid-request is only a debug line."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < HTTPStatus.BAD_REQUEST:
            raise
        refusal = _json({"error": exc.reason}, status=exc.status)
        if "Allow" in exc.headers:
            refusal.headers["Allow"] = exc.headers["Allow"]
        return refusal
    except ConnectionResetError:
        _log.debug("client went away during %s %s", request.method, request.path)
        # Never written: the connection is gone; aiohttp drops it quietly.
        return _json({"error": "connection lost"}, status=HTTPStatus.BAD_REQUEST)
    except Exception:
        # An emulator bug: logged with its traceback, still answered in the venue's shape.
        _log.exception("unexpected error answering %s %s", request.method, request.path)
        return _json({"error": "Internal Server Error"}, status=HTTPStatus.INTERNAL_SERVER_ERROR)
