"""The front door: one object for market data and trading, with any number of named wallets.

:class:`AsyncPolymarket` is the implementation; :class:`~polyinfra.client.blocking.Polymarket`
runs it on a private event loop and offers the same methods blocking. Both are composed of the
layers below, nothing of their own: :class:`~polyinfra.clob.rest.ClobRestClient` for market data,
:class:`~polyinfra.wallets.registry.WalletRegistry` for the wallets' trading sessions (sharing one
rate limiter with the market-data calls: the venue counts every request of this IP),
:func:`~polyinfra.core.order_builder.build_order` and
:func:`~polyinfra.core.order_signing.sign_order` for orders, and
:class:`~polyinfra.clob.live_books.LiveBooks` / :class:`~polyinfra.clob.user_channel.UserChannel`
for the streams.

Placing an order needs the token's market rules (tick size, minimum size, neg-risk, fee curve):
they are fetched once per token and cached on the client. A tick size changes rarely (near 0.04
and 0.96); when the venue refuses an order for its tick, the token's rules are dropped from the
cache with the error, so placing it again reads the current ones.

Nothing connects at construction: the first call opens the connections (and starts the embedded
emulator of ``emulator(start=True)``), ``aclose`` or ``async with`` closes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, Unpack, cast

from polyinfra.client.config import (
    ClientConfig,
    ClientSettings,
    key_source,
    parse_signature_type,
    resolve_config,
    same_host_websocket_url,
    secrets_wrapped,
    wrap_secret,
)
from polyinfra.client.onchain import ChainAccess, OnChainMethods
from polyinfra.client.results import Balance, OrderRequest, PlacedOrder, balance_from_wire
from polyinfra.client.wallets import ClientWallets, order_signer, wallet_config
from polyinfra.clob.live_books import LiveBooks
from polyinfra.clob.rest import ClobRestClient
from polyinfra.clob.trading import (
    AssetType,
    CancelResult,
    OpenOrder,
    OrderSubmission,
    SendOrderResponse,
    TradingClient,
)
from polyinfra.clob.user_channel import UserChannel
from polyinfra.core.from_wire import order_book_from_summary
from polyinfra.core.order_amounts import discover_market_price, exact_decimal
from polyinfra.core.order_builder import BuiltOrder, OrderStamper, build_order, wall_clock_ms
from polyinfra.core.order_signing import SignedOrder, sign_order
from polyinfra.errors import (
    InvalidOrderError,
    InvalidValueError,
    PolyinfraError,
    TickSizeViolationError,
    WrongContextError,
)
from polyinfra.model.book import OrderBook
from polyinfra.model.events import BookEvent
from polyinfra.model.market import MarketInfo
from polyinfra.model.numbers import Side, TickSize
from polyinfra.model.orders import SignatureType, TimeInForce
from polyinfra.model.trading_events import UserChannelEvent
from polyinfra.net.http import HttpTransport
from polyinfra.obs.redaction import Secret
from polyinfra.wallets.registry import WalletConfig, WalletRegistry
from polyinfra.wire.clob_account import Notification
from polyinfra.wire.clob_rest import Market, MarketTradeEvent
from polyinfra.wire.clob_rewards import MarketRewards, RewardsMarket, TotalUserEarning, UserEarning
from polyinfra.wire.clob_user import TradeRecord

if TYPE_CHECKING:
    from polyinfra.chain.operations import ChainOperations
    from polyinfra.emulator.runner import Emulator

__all__ = ["DEFAULT_WALLET", "EMULATOR_PORT", "AsyncPolymarket"]

DEFAULT_WALLET = "default"
"""The name of the wallet configured from the key setting (``POLYINFRA_PRIVATE_KEY``, ...)."""
EMULATOR_PORT = 8080
"""Where ``polyinfra emulator`` serves, and where :meth:`AsyncPolymarket.emulator` looks for it."""


@dataclass(frozen=True, slots=True)
class _Connection:
    registry: WalletRegistry
    rest: ClobRestClient
    rest_transport: HttpTransport


@dataclass(frozen=True, slots=True)
class _Intent:
    """One order's arguments, checked before anything is fetched or signed."""

    token_id: str
    side: Side
    price: Decimal
    size: Decimal | None
    """Shares; None for a market BUY, which spends ``amount`` dollars instead."""
    time_in_force: TimeInForce
    post_only: bool = False
    expiration_s: int = 0
    amount: Decimal | None = None


class AsyncPolymarket(OnChainMethods):
    """Market data and trading on the CLOB, async. :class:`~polyinfra.Polymarket` is its blocking twin.

    Settings come from the keyword arguments, then the ``POLYINFRA_*`` environment variables, then
    the TOML file ``config`` (or ``POLYINFRA_CONFIG``), then the defaults: the real venue
    (``https://clob.polymarket.com``), Polygon. ``rest_url="http://127.0.0.1:8080"`` alone points
    everything at an emulator. A key given in any of them (``private_key``, ``private_key_file``)
    becomes the wallet named ``"default"``; :meth:`add_wallet` adds more.

    Prices, sizes and amounts are ``Decimal``, ``str`` or ``int``; a ``float`` is refused with an
    :class:`~polyinfra.errors.InvalidNumberError` showing the fix. Every answer is typed, every
    failure a :class:`~polyinfra.errors.PolyinfraError`. Secrets never show in a ``repr``.
    """

    def __init__(
        self,
        *,
        config: str | Path | None = None,
        environ: Mapping[str, str] | None = None,
        **settings: Unpack[ClientSettings],
    ) -> None:
        """``settings`` are :class:`~polyinfra.client.config.ClientSettings`; ``config`` names the TOML
        file; ``environ`` replaces ``os.environ`` as the environment read."""
        # Rebound at once: from here on no frame holds the key or the API secrets as plain text.
        settings = secrets_wrapped(settings)
        self._config: ClientConfig = resolve_config(
            settings, environ=os.environ if environ is None else environ, config_file=config
        )
        self._wallets = ClientWallets(self._config.chain_id)
        if self._config.key is not None:
            self._wallets.add(
                wallet_config(
                    DEFAULT_WALLET,
                    self._config.key.read(),
                    signature_type=self._config.signature_type,
                    funder=self._config.funder,
                    chain_id=self._config.chain_id,
                    credentials=self._config.credentials,
                )
            )
        self._embedded_options: dict[str, Any] | None = None
        self._embedded: Emulator | None = None
        self._connection: _Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._open_lock = asyncio.Lock()
        self._closed = False
        self._rules: dict[str, MarketInfo] = {}
        self._live_books: list[LiveBooks] = []
        self._stamper = OrderStamper(wall_clock_ms)
        self._chain: ChainAccess | None = None

    @classmethod
    def from_toml(
        cls, path: str | Path, *, environ: Mapping[str, str] | None = None, **settings: Unpack[ClientSettings]
    ) -> Self:
        """A client configured by the TOML file at ``path`` (keyword arguments and the environment
        still take precedence over it)."""
        settings = secrets_wrapped(settings)
        return cls(config=path, environ=environ, **settings)

    @classmethod
    def emulator(
        cls,
        *,
        start: bool = False,
        port: int | None = None,
        emulator_options: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
        **settings: Unpack[ClientSettings],
    ) -> Self:
        """A client of the local exchange emulator.

        Without ``start``, of the one already serving on 127.0.0.1 (``polyinfra emulator``, port
        :data:`EMULATOR_PORT` unless ``port`` says otherwise). With ``start=True``, of an emulator
        run inside this client (on a free port unless ``port`` is given), started on first use
        and stopped on close; ``emulator_options`` go to :class:`~polyinfra.emulator.runner.Emulator`
        (``markets``, ``seed``, ``rate``, ...). ``settings`` are the constructor's (``rest_url`` and
        ``ws_url`` excepted); the emulator takes any key and funds every wallet it meets.
        """
        settings = secrets_wrapped(settings)
        chosen_port = (0 if start else EMULATOR_PORT) if port is None else port
        rest_url = f"http://127.0.0.1:{chosen_port}"
        settings["rest_url"] = rest_url
        settings["ws_url"] = same_host_websocket_url(rest_url)
        client = cls(environ=environ, **settings)
        if start:
            client._embedded_options = {**(emulator_options or {}), "port": chosen_port}
        return client

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(rest_url={self._config.rest_url!r}, wallets={self._wallets.names!r}, "
            f"default_wallet={self._wallets.default!r})"
        )

    # --- lifecycle ------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    @property
    def config(self) -> ClientConfig:
        """The resolved settings (for an embedded emulator, its URLs once started)."""
        return self._config

    @property
    def embedded_emulator(self) -> Emulator | None:
        """The emulator this client started (``emulator(start=True)``), once it runs."""
        return self._embedded

    async def open(self) -> None:
        """Connect (and start the embedded emulator); the first call of any method does it too."""
        await self._opened()

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        running = asyncio.get_running_loop()
        if self._loop is not None and running is not self._loop:
            # Its connections, locks and tasks belong to the loop it opened on; another loop gets
            # obscure failures from them, so the mistake is named here instead.
            raise WrongContextError(
                "this client was opened in another event loop (another asyncio.run?); make one client per event loop"
            )
        return running

    async def _opened(self) -> _Connection:
        running = self._running_loop()
        async with self._open_lock:
            if self._closed:
                raise WrongContextError("this client is closed; make a new one")
            if self._connection is None:
                self._loop = running
                if self._embedded_options is not None:
                    await self._start_embedded(self._embedded_options)
                rest_url = self._config.rest_url
                registry = WalletRegistry(rest_url)
                # One limiter for everything: the venue's endpoint and IP windows count every request.
                rest_transport = HttpTransport(rest_url, limiter=registry.limiter)
                self._wallets.attach(registry)
                self._connection = _Connection(
                    registry, ClobRestClient(rest_url, transport=rest_transport), rest_transport
                )
            return self._connection

    async def _start_embedded(self, options: Mapping[str, Any]) -> None:
        from polyinfra.emulator.runner import Emulator  # noqa: PLC0415 - aiohttp loads only for an embedded emulator

        emulator = Emulator(**options)
        await emulator.start()
        self._embedded = emulator
        rest_url = emulator.urls["rest"]
        self._config = replace(
            self._config,
            rest_url=rest_url,
            ws_url=same_host_websocket_url(rest_url),
            rpc_url=emulator.urls["rpc"],
            relayer_url=emulator.urls["relayer"],
        )

    async def aclose(self) -> None:
        """Stop the streams, close every connection and stop the embedded emulator. Idempotent."""
        self._running_loop()
        async with self._open_lock, contextlib.AsyncExitStack() as closing:
            # Run last to first, each even when one before it raised: the emulator stops last.
            self._closed = True
            if self._embedded is not None:
                closing.push_async_callback(self._embedded.stop)
            connection, self._connection = self._connection, None
            chain, self._chain = self._chain, None
            if chain is not None:
                closing.push_async_callback(chain.aclose)
            if connection is not None:
                closing.push_async_callback(connection.registry.aclose)
                closing.push_async_callback(connection.rest_transport.aclose)
            live_books, self._live_books = self._live_books, []
            for books in live_books:
                closing.push_async_callback(books.stop)

    # --- wallets --------------------------------------------------------------------------------

    def add_wallet(
        self,
        name: str,
        *,
        private_key: str | Secret | None = None,
        private_key_file: str | Path | None = None,
        signature_type: SignatureType | int | str = SignatureType.EOA,
        funder: str | None = None,
        default: bool = False,
    ) -> WalletConfig:
        """Add a wallet under ``name``, its key given inline or as a file. The first wallet is the
        default; ``default=True`` makes this one the default. ``funder`` is the address holding the
        funds: leave it out for EOA, and for a proxy / Safe (``signature_type`` 1 / 2) to use the
        one derived from the key; a deposit wallet (3) must be named. Its API key is created or
        derived on its first trading call."""
        private_key = cast(Secret | None, wrap_secret(private_key))  # from here on, held only wrapped
        given = {"private_key": private_key, "private_key_file": private_key_file}
        source = key_source({name: value for name, value in given.items() if value is not None})
        if source is None:
            raise InvalidValueError("add_wallet needs private_key or private_key_file", wallet=name)
        config = wallet_config(
            name,
            source.read(),
            signature_type=parse_signature_type(signature_type),
            funder=funder,
            chain_id=self._config.chain_id,
        )
        self._wallets.add(config, default=default)
        return config

    @property
    def wallets(self) -> list[str]:
        """The wallet names, in the order they were added."""
        return self._wallets.names

    def address(self, wallet: str | None = None) -> str:
        """The address holding ``wallet``'s funds: the order maker (the funder, or the key's own)."""
        return self._wallets.config(wallet).maker

    # --- market data ----------------------------------------------------------------------------

    async def markets(self) -> AsyncIterator[Market]:
        """Every market of the venue's catalogue (``GET /markets``), page by page as consumed."""
        rest = (await self._opened()).rest
        async for market in rest.iter_markets():
            yield market

    async def search(self, text: str) -> AsyncIterator[Market]:
        """Markets whose question, slug or tags contain ``text`` (case-insensitive). The venue's CLOB has
        no search endpoint: this walks :meth:`markets` and filters here, so it reads the whole
        catalogue when few markets match."""
        if not isinstance(text, str):
            raise InvalidValueError("search takes the text to look for, as a str", text=text)
        async for market in self.markets():
            if market.mentions(text):
                yield market

    async def market(self, condition_id: str) -> MarketInfo:
        """A market's two tokens and trading rules (``GET /markets/{condition_id}``)."""
        return await (await self._opened()).rest.get_market(condition_id)

    async def market_rules(self, token_id: str) -> MarketInfo:
        """The rules orders of ``token_id`` are built with: tick size, minimum size, neg-risk and fee
        curve (``/clob-markets``), cached per token (module docstring)."""
        rules = self._rules.get(token_id)
        if rules is None:
            rest = (await self._opened()).rest
            rules = await rest.get_clob_market_info(await rest.get_market_by_token(token_id))
            self._rules[token_id] = rules
        return rules

    async def book(self, token_id: str) -> OrderBook:
        """The token's order book now (``GET /book``)."""
        summary = await (await self._opened()).rest.get_book(token_id)
        return order_book_from_summary(summary)

    async def books(self, token_ids: Iterable[str]) -> dict[str, OrderBook]:
        """The books of several tokens (``POST /books``, batched), by token id; tokens the venue
        knows nothing of are left out."""
        summaries = await (await self._opened()).rest.get_books(token_ids)
        return {summary.asset_id: order_book_from_summary(summary) for summary in summaries}

    async def price(self, token_id: str, side: Side | str) -> Decimal:
        """The best price a ``side`` order would get (``GET /price``)."""
        return await (await self._opened()).rest.get_price(token_id, side)

    async def midpoint(self, token_id: str) -> Decimal:
        return await (await self._opened()).rest.get_midpoint(token_id)

    async def midpoints(self, token_ids: Iterable[str]) -> dict[str, Decimal]:
        return await (await self._opened()).rest.get_midpoints(token_ids)

    async def spread(self, token_id: str) -> Decimal:
        return await (await self._opened()).rest.get_spread(token_id)

    async def spreads(self, token_ids: Iterable[str]) -> dict[str, Decimal]:
        return await (await self._opened()).rest.get_spreads(token_ids)

    async def last_trade(self, token_id: str) -> tuple[Decimal, Side] | None:
        """The last trade's price and side, None when the token never traded."""
        return await (await self._opened()).rest.get_last_trade_price(token_id)

    async def prices_history(
        self,
        token_id: str,
        *,
        interval: str | None = None,
        start_s: int | None = None,
        end_s: int | None = None,
        fidelity_minutes: int | None = None,
    ) -> list[tuple[int, Decimal]]:
        """(unix seconds, price) points, oldest first: an ``interval`` back from now ("1d", "1w",
        ...) or ``start_s`` to ``end_s``."""
        rest = (await self._opened()).rest
        return await rest.get_prices_history(
            token_id, interval=interval, start_s=start_s, end_s=end_s, fidelity_minutes=fidelity_minutes
        )

    async def tick_size(self, token_id: str) -> TickSize:
        return await (await self._opened()).rest.get_tick_size(token_id)

    async def neg_risk(self, token_id: str) -> bool:
        return await (await self._opened()).rest.get_neg_risk(token_id)

    async def live_books(self, token_ids: Iterable[str]) -> LiveBooks:
        """Order books of ``token_ids`` kept in sync over the market channel, started and
        subscribed; read them with ``.book(token_id)``. They stop when the client closes."""
        config = self._config
        await self._opened()
        books = LiveBooks(config.rest_url, f"{config.ws_url}/ws/market")
        await books.start()
        self._live_books.append(books)
        await books.subscribe(token_ids)
        return books

    async def book_events(self, token_ids: Iterable[str]) -> AsyncIterator[BookEvent]:
        """The book events of ``token_ids`` from live books of their own, for as long as the
        iteration lasts."""
        config = self._config
        await self._opened()
        async with LiveBooks(config.rest_url, f"{config.ws_url}/ws/market") as books:
            events = books.events()
            await books.subscribe(token_ids)
            async for event in events:
                yield event

    # --- trading --------------------------------------------------------------------------------

    async def place_order(
        self,
        token_id: str,
        side: Side | str,
        price: Decimal | str | int,
        size: Decimal | str | int,
        order_type: TimeInForce | str = TimeInForce.GTC,
        *,
        post_only: bool = False,
        expiration: int | None = None,
        wallet: str | None = None,
    ) -> PlacedOrder:
        """Build, sign and post one limit order of ``size`` shares at ``price``.

        ``order_type`` is GTC (rests until cancelled), GTD (rests until ``expiration``, unix
        seconds, at least a minute ahead), FOK or FAK (match now or never, ``price`` the worst
        accepted). ``post_only`` refuses to take liquidity. Sizes are not rounded: more than 2
        decimals is refused with the fix. Raises the typed error of the venue's refusal.
        """
        intent = _intent(OrderRequest(token_id, side, price, size, order_type, post_only, expiration))
        config = self._wallets.config(wallet)
        return await self._post(intent, await self._build(intent, config), config)

    async def market_order(
        self,
        token_id: str,
        side: Side | str,
        amount: Decimal | str | int,
        order_type: TimeInForce | str = TimeInForce.FOK,
        *,
        wallet: str | None = None,
    ) -> PlacedOrder:
        """Buy for ``amount`` dollars, or sell ``amount`` shares, at once (as the venue counts
        market orders), priced from the book now: the price of the level that covers ``amount``
        is the worst accepted. FOK (default) fills entirely or not at all; FAK takes what there is.
        """
        checked_side = _side(side)
        time_in_force = _time_in_force(order_type)
        if time_in_force.rests:
            raise InvalidOrderError(
                "market orders are FOK or FAK; use place_order for GTC / GTD", order_type=str(order_type)
            )
        wanted = exact_decimal(amount, "amount")
        config = self._wallets.config(wallet)
        price = discover_market_price(await self.book(token_id), checked_side, wanted, time_in_force).price
        buy = checked_side is Side.BUY
        intent = _Intent(
            token_id=token_id,
            side=checked_side,
            price=price,
            size=None if buy else wanted,
            amount=wanted if buy else None,
            time_in_force=time_in_force,
        )
        return await self._post(intent, await self._build(intent, config), config)

    async def place_orders(
        self, orders: Sequence[OrderRequest], *, wallet: str | None = None
    ) -> list[PlacedOrder | PolyinfraError]:
        """Place many orders in as few requests as the venue allows (15 per ``POST /orders``).
        One result per order, in order: the placed order, or the typed error of that order alone
        (refused here or by the venue); the others are placed all the same."""
        if isinstance(orders, OrderRequest) or not orders:
            raise InvalidValueError("place_orders takes a non-empty list of OrderRequest")
        config = self._wallets.config(wallet)
        results: list[PlacedOrder | PolyinfraError | None] = []
        ready: list[tuple[int, _Intent, BuiltOrder]] = []
        for request in orders:
            try:
                intent = _intent(request)
                ready.append((len(results), intent, await self._build(intent, config)))
                results.append(None)
            except PolyinfraError as error:
                results.append(error)
        if ready:
            client = await self._wallets.session(config.wallet_id)
            submissions = [
                OrderSubmission(self._signed(built, config), intent.time_in_force, intent.post_only)
                for _, intent, built in ready
            ]
            answers = await client.post_orders(submissions)
            for (index, intent, built), answer in zip(ready, answers, strict=True):
                if isinstance(answer, TickSizeViolationError):
                    self._rules.pop(intent.token_id, None)
                results[index] = (
                    answer if isinstance(answer, PolyinfraError) else _placed(built, intent, config, answer)
                )
        # Every None was a placeholder for an order of ``ready``, and each got its answer above.
        return cast(list[PlacedOrder | PolyinfraError], results)

    async def _build(self, intent: _Intent, config: WalletConfig) -> BuiltOrder:
        return build_order(
            token_id=intent.token_id,
            side=intent.side,
            price=intent.price,
            size=intent.size,
            amount=intent.amount,
            time_in_force=intent.time_in_force,
            post_only=intent.post_only,
            expiration_s=intent.expiration_s,
            maker=config.maker,
            signer=order_signer(config),
            signature_type=config.signature_type,
            market=await self.market_rules(intent.token_id),
            stamper=self._stamper,
            # An order is signed exactly as asked or not at all: a size with too many decimals is
            # refused with the fix rather than silently cut.
            floor=False,
        )

    def _signed(self, built: BuiltOrder, config: WalletConfig) -> SignedOrder:
        return sign_order(built.order, config.key, chain_id=self._config.chain_id)

    async def _post(self, intent: _Intent, built: BuiltOrder, config: WalletConfig) -> PlacedOrder:
        client = await self._wallets.session(config.wallet_id)
        try:
            answer = await client.post_order(
                self._signed(built, config), order_type=intent.time_in_force, post_only=intent.post_only
            )
        except TickSizeViolationError:
            # The market's tick changed since its rules were cached: the next order reads the new one.
            self._rules.pop(intent.token_id, None)
            raise
        return _placed(built, intent, config, answer)

    async def _chain_operations(self, wallet: str | None) -> ChainOperations:
        """The on-chain operations of ``wallet`` (:mod:`polyinfra.client.onchain`), over ``rpc_url`` (and
        ``relayer_url`` for a smart wallet)."""
        await self._opened()  # an embedded emulator's node is known once it runs
        if self._chain is None:
            self._chain = ChainAccess(
                self._config.rpc_url,
                self._config.chain_id,
                relayer_url=self._config.relayer_url,
                relayer_api_key=self._config.relayer_api_key,
                builder=self._config.builder_credentials,
                relayer_poll_interval_s=self._config.relayer_poll_interval_s,
                relayer_max_polls=self._config.relayer_max_polls,
            )
        return await self._chain.operations(self._wallets.config(wallet), lambda: self._wallets_session(wallet))

    async def cancel(self, order_id: str, *, wallet: str | None = None) -> CancelResult:
        return await (await self._wallets_session(wallet)).cancel(order_id)

    async def cancel_many(self, order_ids: Sequence[str], *, wallet: str | None = None) -> CancelResult:
        return await (await self._wallets_session(wallet)).cancel_many(order_ids)

    async def cancel_all(self, *, wallet: str | None = None) -> CancelResult:
        """Every open order of the wallet."""
        return await (await self._wallets_session(wallet)).cancel_all()

    async def cancel_market(
        self, *, market: str | None = None, asset_id: str | None = None, wallet: str | None = None
    ) -> CancelResult:
        """The wallet's open orders in a market (condition id) and/or of one token."""
        return await (await self._wallets_session(wallet)).cancel_market(market=market, asset_id=asset_id)

    async def open_orders(
        self, *, market: str | None = None, asset_id: str | None = None, wallet: str | None = None
    ) -> list[OpenOrder]:
        """The wallet's open orders, optionally of one market or token (every page)."""
        client = await self._wallets_session(wallet)
        return [order async for order in client.iter_open_orders(market=market, asset_id=asset_id)]

    async def order(self, order_id: str, *, wallet: str | None = None) -> OpenOrder:
        """One order by id; :class:`~polyinfra.errors.NotFoundError` when the venue knows none."""
        return await (await self._wallets_session(wallet)).get_order(order_id)

    async def trades(
        self,
        *,
        market: str | None = None,
        asset_id: str | None = None,
        after_s: int | None = None,
        before_s: int | None = None,
        wallet: str | None = None,
    ) -> list[TradeRecord]:
        """The wallet's trades (every page), filtered as given."""
        client = await self._wallets_session(wallet)
        trades = client.iter_trades(market=market, asset_id=asset_id, after_s=after_s, before_s=before_s)
        return [trade async for trade in trades]

    async def balance(
        self, *, asset_type: AssetType | str | None = None, token_id: str | None = None, wallet: str | None = None
    ) -> Balance:
        """pUSD held, or shares of ``token_id``, and the allowances, as the venue sees them."""
        client = await self._wallets_session(wallet)
        return balance_from_wire(
            await client.get_balance_allowance(_asset_type(asset_type, token_id), token_id=token_id)
        )

    async def update_balance(
        self, *, asset_type: AssetType | str | None = None, token_id: str | None = None, wallet: str | None = None
    ) -> None:
        """Make the venue re-read the chain: the fix for "not enough balance / allowance" despite funds."""
        client = await self._wallets_session(wallet)
        await client.update_balance_allowance(_asset_type(asset_type, token_id), token_id=token_id)

    async def user_events(
        self, *, markets: Iterable[str] = (), wallet: str | None = None
    ) -> AsyncIterator[UserChannelEvent]:
        """The wallet's order and trade events (``OrderUpdate``, ``TradeUpdate``) of ``markets``
        (condition ids; none: every market), for as long as the iteration lasts. Orders already
        open when it starts come first, as reconciled events."""
        client = await self._wallets_session(wallet)
        channel = UserChannel(f"{self._config.ws_url}/ws/user", client, markets=markets)
        events = channel.events()  # before the start: the open orders reconciled at once are in it
        try:
            await channel.start()
            async for event in events:
                yield event
        finally:
            await channel.stop()

    # --- rewards and account notices ------------------------------------------------------------

    async def reward_programs(self) -> AsyncIterator[RewardsMarket]:
        """The markets paying liquidity rewards now, with their rates, minimum size and maximum spread."""
        rest = (await self._opened()).rest
        async for program in rest.iter_current_rewards():
            yield program

    async def market_rewards(self, condition_id: str) -> list[MarketRewards]:
        """The reward program of one market (condition id), with its tokens."""
        rest = (await self._opened()).rest
        return [entry async for entry in rest.iter_market_rewards(condition_id)]

    async def market_trades(self, condition_id: str) -> list[MarketTradeEvent]:
        """The market's latest fills as the venue publishes them (every trader's, newest first)."""
        return await (await self._opened()).rest.get_market_trade_events(condition_id)

    async def earnings(self, day: date, *, wallet: str | None = None) -> list[UserEarning]:
        """What the wallet earned in liquidity rewards on ``day``, per market (every page)."""
        client = await self._wallets_session(wallet)
        return [earning async for earning in client.iter_earnings(day)]

    async def total_earnings(self, day: date, *, wallet: str | None = None) -> list[TotalUserEarning]:
        """The wallet's reward earnings on ``day`` over every market, one entry per asset."""
        return await (await self._wallets_session(wallet)).get_total_earnings(day)

    async def reward_percentages(self, *, wallet: str | None = None) -> dict[str, Decimal]:
        """The wallet's share of each market's reward pool today, in percent, by condition id."""
        return await (await self._wallets_session(wallet)).get_reward_percentages()

    async def orders_scoring(self, order_ids: Sequence[str], *, wallet: str | None = None) -> dict[str, bool]:
        """Whether each resting order earns liquidity rewards as it stands now, by order id."""
        return await (await self._wallets_session(wallet)).are_orders_scoring(order_ids)

    async def notifications(self, *, wallet: str | None = None) -> list[Notification]:
        """The venue's notices about the wallet's orders (fills, cancels), oldest first."""
        return await (await self._wallets_session(wallet)).get_notifications()

    async def drop_notifications(self, ids: Sequence[int], *, wallet: str | None = None) -> None:
        """Dismiss notices by id (ids the venue does not know are ignored)."""
        await (await self._wallets_session(wallet)).drop_notifications(ids)

    async def closed_only(self, *, wallet: str | None = None) -> bool:
        """True when the venue lets the wallet's account only close positions (its BUYs are refused)."""
        return await (await self._wallets_session(wallet)).get_closed_only_mode()

    async def _wallets_session(self, wallet: str | None) -> TradingClient:
        await self._opened()
        return await self._wallets.session(wallet)


def _side(value: Side | str) -> Side:
    if isinstance(value, str) and value in Side.__members__:
        return Side(value)
    raise InvalidValueError('side must be Side.BUY / Side.SELL or "BUY" / "SELL"', side=value)


def _time_in_force(value: TimeInForce | str) -> TimeInForce:
    if isinstance(value, str) and value in TimeInForce.__members__:
        return TimeInForce(value)
    raise InvalidValueError(
        f"order_type must be one of {', '.join(kind.value for kind in TimeInForce)}", order_type=value
    )


def _intent(request: OrderRequest) -> _Intent:
    """The order's arguments checked, before any I/O: a float or a typo fails here, at once."""
    if not isinstance(request, OrderRequest):
        raise InvalidValueError("each order is an OrderRequest(token_id, side, price, size, ...)", order=request)
    expiration = request.expiration
    if expiration is not None and (isinstance(expiration, bool) or not isinstance(expiration, int)):
        raise InvalidValueError("expiration is an int of unix seconds", expiration=expiration)
    if not isinstance(request.token_id, str):
        raise InvalidValueError("token_id is the token's decimal id as a str", token_id=request.token_id)
    return _Intent(
        token_id=request.token_id,
        side=_side(request.side),
        price=exact_decimal(request.price, "price"),
        size=exact_decimal(request.size, "size"),
        time_in_force=_time_in_force(request.order_type),
        post_only=_flag(request.post_only, "post_only"),
        expiration_s=expiration or 0,
    )


def _flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidValueError(f"{name} is True or False", field=name, value=value)
    return value


def _asset_type(value: AssetType | str | None, token_id: str | None) -> AssetType:
    if value is None:
        return AssetType.COLLATERAL if token_id is None else AssetType.CONDITIONAL
    if isinstance(value, str) and value in AssetType.__members__:
        return AssetType(value)
    raise InvalidValueError("asset_type must be COLLATERAL or CONDITIONAL", asset_type=value)


def _placed(built: BuiltOrder, intent: _Intent, config: WalletConfig, answer: SendOrderResponse) -> PlacedOrder:
    amounts = built.amounts
    return PlacedOrder(
        order_id=answer.order_id,
        status=answer.status,
        token_id=intent.token_id,
        side=amounts.side,
        price=amounts.price,
        size=amounts.shares,
        amount=amounts.collateral,
        order_type=built.time_in_force,
        wallet=config.wallet_id,
        trade_ids=tuple(answer.trade_ids),
        response=answer,
    )
