"""Run the emulator in-process: for tests, the CLI and the demo.

    async with Emulator(markets=3, seed=7, rate=0) as emulator:
        emulator.urls["rest"]       # "http://127.0.0.1:<port>"
        emulator.simulator.step()   # one deterministic market action, when rate=0
        emulator.faults.freeze = True
        emulator.outages.restart(seconds=5)   # 425 "service not ready", then post-only mode

The exchange, the simulator and the servers exist as soon as the :class:`Emulator` is built; the
socket is bound and the simulator starts on :meth:`Emulator.start` (or ``async with``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Protocol

from aiohttp import web

from polyinfra.emulator.accounts import Accounts
from polyinfra.emulator.chain.contracts import ChainContracts
from polyinfra.emulator.chain.node import ChainNode
from polyinfra.emulator.chain.relayer_api import RELAYER_PREFIX, relayer_routes
from polyinfra.emulator.chain.rpc_api import RPC_PATH, chain_routes
from polyinfra.emulator.data.apis import DATA_PREFIX, GAMMA_PREFIX, DataApis
from polyinfra.emulator.data.crowd import WalletCrowd
from polyinfra.emulator.exchange import Exchange
from polyinfra.emulator.faults import FaultConfig, OutageSchedule
from polyinfra.emulator.live.polybolt_channel import PolyBoltChannel
from polyinfra.emulator.live.rtds_channel import RtdsChannel
from polyinfra.emulator.live.rtds_sources import RtdsSources
from polyinfra.emulator.market_channel import (
    DEFAULT_CLOSE_TIMEOUT_S,
    DEFAULT_PING_TIMEOUT_S,
    DEFAULT_SEND_QUEUE_LIMIT,
    DEFAULT_SUBSCRIBE_TIMEOUT_S,
    ChannelSettings,
)
from polyinfra.emulator.rate_limits import RateLimiter, SignerBuckets
from polyinfra.emulator.rest_api import DEFAULT_PAGE_SIZE
from polyinfra.emulator.rewards import LiquidityRewards
from polyinfra.emulator.server import EmulatorServer, EmulatorStats
from polyinfra.emulator.simulator import MarketSimulator, generate_markets, generate_neg_risk_event, reward_programs
from polyinfra.emulator.trading_api import TradingApi, TradingSettings
from polyinfra.emulator.us.clients import UsClients
from polyinfra.emulator.us.dropcopy_control import dropcopy_routes
from polyinfra.emulator.us.dropcopy_faults import UsDropCopyFaults
from polyinfra.emulator.us.dropcopy_history import DropCopyHistory
from polyinfra.emulator.us.dropcopy_service import DropCopyService, ReportService
from polyinfra.emulator.us.grpc_auth_check import RequireUsAuth
from polyinfra.emulator.us.grpc_server import UsGrpcServer
from polyinfra.emulator.us.instruments import US_INSTRUMENTS
from polyinfra.emulator.us.market import UsMarket, generated_instruments
from polyinfra.emulator.us.market_books import MarketBooks
from polyinfra.emulator.us.market_data import MarketDataService
from polyinfra.emulator.us.market_data_control import market_data_routes
from polyinfra.emulator.us.market_data_faults import UsMarketDataFaults
from polyinfra.emulator.us.order_control import order_routes
from polyinfra.emulator.us.order_engine import UsOrderEngine
from polyinfra.emulator.us.order_entry_service import OrderEntryService, PositionService, StreamHub
from polyinfra.emulator.us.order_faults import UsOrderFaults
from polyinfra.emulator.us.renumbered_protos import renumbered_protos
from polyinfra.emulator.us.stream_budget import StreamBudget
from polyinfra.emulator.us.token_endpoint import TOKEN_PATH, UsTokenEndpoint
from polyinfra.errors import InvalidValueError
from polyinfra.wire.clob_ws import MarketEvent, MarketResolvedMessage
from polyinfra.wire.us.polymarket.v1 import dropcopy_pb2, positions_pb2, report_pb2, trading_pb2
from polyinfra.wire.us_oauth import ClientRegistration

__all__ = ["Emulator"]

_log = logging.getLogger(__name__)

# The venue's price feeds tick once a second (venue notes: RTDS).
_PRICE_INTERVAL_S = 1.0


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class _Steppable(Protocol):
    def step(self) -> None: ...


class _SimulatorDriver:
    """Calls every simulator's ``step`` (the CLOB's and the US exchange's) at a steady rate, unless paused."""

    def __init__(self, *simulators: _Steppable) -> None:
        self._simulators = simulators
        self._paused = False
        self._steps = 0

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def steps(self) -> int:
        return self._steps

    def pause(self) -> None:
        self._paused = True

    def resume(self) -> None:
        self._paused = False

    async def run(self, rate: float) -> None:
        """Step ``rate`` times a second until cancelled."""
        loop = asyncio.get_running_loop()
        interval_s = 1.0 / rate
        next_step_at = loop.time()
        while True:
            # A late wake-up is not made up with a burst: the schedule restarts from now.
            next_step_at = max(next_step_at + interval_s, loop.time())
            await asyncio.sleep(next_step_at - loop.time())
            if not self._paused:
                for simulator in self._simulators:
                    simulator.step()
                self._steps += 1


class Emulator:
    """The local exchange: exchange core, market simulator and servers on one port.

    ``markets`` markets are generated from ``seed`` (which also seeds the simulator), so the same
    arguments give the same markets and the same sequence of events. ``rate`` is simulated actions
    per second (0: none; drive :attr:`simulator` and :attr:`rtds_sources` by hand; otherwise the RTDS
    prices tick once a second). ``port`` 0 picks a free port.
    ``subscribe_timeout_s`` and ``ping_timeout_s`` are the channels' idle limits,
    ``send_queue_limit`` the frames one WebSocket client may have waiting before it counts as too
    slow, ``page_size`` the markets (and orders, trades) per page of the paged endpoints,
    ``trading`` the trade-lifecycle and heartbeat timers. ``seed_books`` False starts every book
    empty, so that trading tests' orders only meet each other. ``us_clients`` are the US exchange
    clients its token endpoint knows from the start; ``us_clock_s`` is the base of its US clock
    (unix seconds; the ``time_scale`` knob runs it faster), for tests. The US exchange's gRPC services listen
    on ``grpc_port`` (0: a free port), on the same host; ``us_renumbered_protos`` serves them with field and
    enum numbers that are not polyinfra's (the venue's published ones kept), to exercise the reflection path;
    ``us_require_auth`` checks every call's access token and scope, as the venue does.
    ``us_markets`` lists that many generated OPEN instruments beside the fixed ones (for streams of many
    symbols). :attr:`us_market` holds the US books (the simulator steps them with the CLOB's),
    :attr:`us_market_data_faults` the market-data streams' fault knobs. :attr:`us_orders` is the US order
    engine (order entry and positions over gRPC), :attr:`us_order_faults` its knobs and :attr:`us_streams` its
    order and position streams; it reports to :attr:`us_dropcopy`, the DropCopy history (its ``faults`` are the
    DropCopy knobs) served by :attr:`us_dropcopy_service` and the report search. ``crowd_wallets`` adds that
    many traders (:attr:`crowd`) that take liquidity one order per simulator step, for the Data API to report
    on many wallets. :attr:`us_stream_budget` is the firms' pooled budget of concurrent streams every streaming
    RPC draws from. ``neg_risk_questions`` (0, or 2 to 6) lists a neg-risk market of that many questions after
    the others, prepared on the emulated neg-risk adapter so that its NO positions convert (:attr:`neg_risk_event`).
    ``clock_ms`` (unix ms) is the exchange's clock, which its fills, the Data API's lag and the chain's blocks
    read: a test may run a session of minutes in a second by advancing its own.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        markets: int = 5,
        seed: int = 1,
        rate: float = 20.0,
        faults: FaultConfig | None = None,
        subscribe_timeout_s: float = DEFAULT_SUBSCRIBE_TIMEOUT_S,
        ping_timeout_s: float = DEFAULT_PING_TIMEOUT_S,
        send_queue_limit: int = DEFAULT_SEND_QUEUE_LIMIT,
        page_size: int = DEFAULT_PAGE_SIZE,
        trading: TradingSettings | None = None,
        seed_books: bool = True,
        us_clients: Iterable[ClientRegistration] = (),
        us_clock_s: Callable[[], float] = time.time,
        grpc_port: int = 0,
        us_markets: int = 0,
        us_renumbered_protos: bool = False,
        us_require_auth: bool = False,
        crowd_wallets: int = 0,
        neg_risk_questions: int = 0,
        clock_ms: Callable[[], int] = _wall_clock_ms,
    ) -> None:
        if not (math.isfinite(rate) and rate >= 0):
            raise InvalidValueError("rate must be a non-negative number of actions per second", rate=rate)
        if not 0 <= port <= 65_535:
            raise InvalidValueError("port must be 0 (any free port) to 65535", port=port)
        if not 0 <= grpc_port <= 65_535:
            raise InvalidValueError("grpc_port must be 0 (any free port) to 65535", grpc_port=grpc_port)
        self._host = host
        self._requested_port = port
        self._rate = rate
        self.faults = faults if faults is not None else FaultConfig()
        listed = generate_markets(markets, seed=seed)
        self.neg_risk_event = generate_neg_risk_event(neg_risk_questions, seed=seed) if neg_risk_questions else None
        if self.neg_risk_event is not None:
            listed += self.neg_risk_event.questions
        self.exchange = Exchange(listed, clock_ms=clock_ms)
        if self.neg_risk_event is not None:
            event = self.neg_risk_event
            self.exchange.group_neg_risk_event(event.market_id, [info.condition_id for info in event.questions])
        self.simulator = MarketSimulator(self.exchange, seed=seed)
        if seed_books:
            self.simulator.seed_books()
        us_instruments = (*US_INSTRUMENTS, *generated_instruments(us_markets))
        self.us_market = UsMarket(us_instruments, seed=seed)
        if seed_books:
            self.us_market.seed_books()
        self.crowd = WalletCrowd(self.exchange, wallets=crowd_wallets, seed=seed)
        """``crowd_wallets`` more traders taking liquidity (step it by hand when ``rate`` is 0)."""
        self._driver = _SimulatorDriver(self.simulator, self.us_market, self.crowd)
        self._server = EmulatorServer(
            self.exchange,
            faults=self.faults,
            clock_ms=clock_ms,
            simulator=self._driver,
            channel_settings=ChannelSettings(
                subscribe_timeout_s=subscribe_timeout_s,
                ping_timeout_s=ping_timeout_s,
                send_queue_limit=send_queue_limit,
            ),
            page_size=page_size,
            trading_settings=trading,
            reward_programs=reward_programs(listed, seed=seed),
            seed=seed,
            us_tokens=UsTokenEndpoint(clients=UsClients(us_clients), base_clock_s=us_clock_s),
        )
        self._requested_grpc_port = grpc_port
        self.us_market_data_faults = UsMarketDataFaults()
        # One pooled budget of concurrent streams per firm for every streaming RPC, as the venue has; its
        # limit is the market-data knob ``streams_per_firm``.
        self.us_stream_budget = StreamBudget(lambda: self.us_market_data_faults.streams_per_firm)
        self.us_market_data = MarketDataService(
            MarketBooks(self.us_market), self.us_market_data_faults, self.us_stream_budget
        )
        self._server.app.add_routes(market_data_routes(self.us_market_data, self.us_market_data_faults))
        self.us_dropcopy = DropCopyHistory(us_instruments, UsDropCopyFaults())
        self.us_dropcopy_service = DropCopyService(self.us_dropcopy, self.us_stream_budget)
        self._server.app.add_routes(dropcopy_routes(self.us_dropcopy, self.us_dropcopy_service))
        self.us_order_faults = UsOrderFaults()
        self.us_streams = StreamHub(self.us_stream_budget)
        self.us_orders = UsOrderEngine(
            self.us_market,
            listeners=[self.us_streams, self.us_dropcopy],
            faults=self.us_order_faults,
            clock_s=us_clock_s,
        )
        self._server.app.add_routes(order_routes(self.us_orders, self.us_streams))
        # The emulated Polygon shares the CLOB's wallets: an approval or a wrap there is what the venue sees.
        self.chain = ChainNode(ChainContracts(self.exchange, self.trading.balances), clock_ms=clock_ms)
        self._server.app.add_routes(chain_routes(self.chain, self.trading.balances))
        relayer_api_routes, self.relayer_knobs = relayer_routes(self.chain, clock_ms=clock_ms)
        self._server.app.add_routes(relayer_api_routes)
        self._unsubscribe_chain = self.exchange.subscribe(self._report_resolutions)
        self.us_grpc = UsGrpcServer(
            lambda: self.us_market.instruments,
            protos=renumbered_protos() if us_renumbered_protos else None,
            market_data=self.us_market_data,
            services=[
                (dropcopy_pb2.DESCRIPTOR.services_by_name["DropCopyAPI"], self.us_dropcopy_service),
                (report_pb2.DESCRIPTOR.services_by_name["ReportAPI"], ReportService(self.us_dropcopy)),
                (
                    trading_pb2.DESCRIPTOR.services_by_name["OrderEntryAPI"],
                    OrderEntryService(self.us_orders, self.us_streams, self.us_order_faults, us_clock_s),
                ),
                (
                    positions_pb2.DESCRIPTOR.services_by_name["PositionAPI"],
                    PositionService(self.us_orders, self.us_streams, self.us_order_faults),
                ),
            ],
            interceptors=[RequireUsAuth(self._server.us_tokens)] if us_require_auth else (),
        )
        self._runner: web.AppRunner | None = None
        self._driver_task: asyncio.Task[None] | None = None
        self._price_task: asyncio.Task[None] | None = None
        self._port: int | None = None
        self._stopped = False

    def _report_resolutions(self, events: Sequence[MarketEvent]) -> None:
        for event in events:
            if isinstance(event, MarketResolvedMessage):
                self.chain.report_resolution(event.market)

    @property
    def stats(self) -> EmulatorStats:
        """Live counters of the servers (also at ``GET /_emulator/stats``)."""
        return self._server.stats

    @property
    def app(self) -> web.Application:
        """The aiohttp application: its router lists every route the emulator serves."""
        return self._server.app

    @property
    def trading(self) -> TradingApi:
        """The authenticated trading API: its :attr:`TradingApi.balances` are the wallets' balances."""
        return self._server.trading

    @property
    def rewards(self) -> LiquidityRewards:
        """The markets' liquidity-reward programs and what makers earned (also at ``/rewards/...``)."""
        return self._server.rewards

    @property
    def outages(self) -> OutageSchedule:
        """Start a simulated matching-engine restart or a 5xx storm (also ``POST /_emulator/restart``, ``/storm``)."""
        return self._server.outages

    @property
    def rate_limiter(self) -> RateLimiter:
        """The enforced rate limits' windows and counters (mode and scale are :attr:`faults` knobs)."""
        return self._server.rate_limiter

    @property
    def signer_buckets(self) -> SignerBuckets:
        """The per-signer token buckets, tiers and counters; a test may swap their ``clock_us``."""
        return self._server.signer_buckets

    @property
    def rtds(self) -> RtdsChannel:
        """The RTDS socket: its :attr:`~RtdsChannel.stats`, and the ``clock_s`` of its no-PING silence."""
        return self._server.rtds

    @property
    def accounts(self) -> Accounts:
        """The API keys the emulator issued (a test may create one directly)."""
        return self._server.accounts

    @property
    def polybolt(self) -> PolyBoltChannel:
        """The PolyBolt socket: its :attr:`~PolyBoltChannel.stats`, the ``clock_s`` of its rate limit, ``ping_all``."""
        return self._server.polybolt

    @property
    def rtds_sources(self) -> RtdsSources:
        """What RTDS streams: ``tick_prices()`` by hand when ``rate`` is 0, ``published_activity``."""
        return self._server.rtds_sources

    @property
    def data_apis(self) -> DataApis:
        """Gamma and the Data API: their :attr:`~DataApis.knobs`, :attr:`~DataApis.ledger` (the ground truth of
        every wallet's activity), :meth:`~DataApis.stats` (rate-limit counters) and the ``view``'s clock."""
        return self._server.data_apis

    @property
    def us_tokens(self) -> UsTokenEndpoint:
        """The US exchange's token endpoint: its clients, knobs, clock and the token check the US APIs run."""
        return self._server.us_tokens

    @property
    def port(self) -> int:
        """The bound port (the free one picked for port 0)."""
        if self._port is None:
            raise InvalidValueError("the emulator is not running")
        return self._port

    @property
    def urls(self) -> dict[str, str]:
        """``{"rest": "http://host:port", "ws_market": "ws://…/ws/market", "ws_user": "ws://…/ws/user",
        "rtds": "ws://…/ws/rtds", "polybolt": "ws://…/ws/polybolt",
        "us_token": "http://host:port/oauth/token", "grpc": "host:grpc_port",
        "gamma": "http://host:port/gamma", "data": "http://host:port/data-api", "rpc": "http://host:port/rpc",
        "relayer": "http://host:port/relayer"}`` (``rpc``: the emulated Polygon's JSON-RPC,
        :mod:`polyinfra.emulator.chain.rpc_api`; ``relayer``: the gasless relayer,
        :mod:`polyinfra.emulator.chain.relayer_api`)."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        authority = f"{host}:{self.port}"
        return {
            "rest": f"http://{authority}",
            "ws_market": f"ws://{authority}/ws/market",
            "ws_user": f"ws://{authority}/ws/user",
            "rtds": f"ws://{authority}/ws/rtds",
            "polybolt": f"ws://{authority}/ws/polybolt",
            "us_token": f"http://{authority}{TOKEN_PATH}",
            "grpc": f"{host}:{self.us_grpc.port}",
            "gamma": f"http://{authority}{GAMMA_PREFIX}",
            "data": f"http://{authority}{DATA_PREFIX}",
            "rpc": f"http://{authority}{RPC_PATH}",
            "relayer": f"http://{authority}{RELAYER_PREFIX}",
        }

    @property
    def paused(self) -> bool:
        return self._driver.paused

    def pause(self) -> None:
        """Stop simulated activity (the servers keep serving)."""
        self._driver.pause()

    def resume(self) -> None:
        """Restart simulated activity after :meth:`pause`."""
        self._driver.resume()

    async def start(self) -> None:
        """Bind the port, start serving and start the simulator. An emulator runs once."""
        if self._runner is not None or self._stopped:
            raise InvalidValueError("an emulator starts once")
        runner = web.AppRunner(
            self._server.app,
            access_log=None,
            # Sockets are closed by the app's shutdown hook; this only bounds a stuck handler.
            shutdown_timeout=DEFAULT_CLOSE_TIMEOUT_S + 1.0,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._requested_port)
            await site.start()
            await self.us_grpc.start(self._host, self._requested_grpc_port)
        except BaseException:
            await self.us_grpc.stop()
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = runner.addresses[0][1]
        if self._rate > 0:
            self._driver_task = asyncio.create_task(self._driver.run(self._rate), name="emulator simulator")
            self._driver_task.add_done_callback(_log_simulator_failure)
            self._price_task = asyncio.create_task(
                self._server.rtds_sources.run(_PRICE_INTERVAL_S), name="emulator rtds prices"
            )
            self._price_task.add_done_callback(_log_simulator_failure)
        _log.info("emulator listening on %s", self.urls["rest"])

    async def stop(self) -> None:
        """Stop the simulator, close every socket and release the port."""
        self._stopped = True
        for task in (self._driver_task, self._price_task):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._driver_task = self._price_task = None
        await self.us_grpc.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self._port = None
        self._server.detach()
        self._unsubscribe_chain()
        self.us_market_data.close()

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()


def _log_simulator_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        _log.error("the market simulator stopped", exc_info=task.exception())
