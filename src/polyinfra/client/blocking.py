"""The blocking twin of :class:`~polyinfra.client.async_client.AsyncPolymarket`, for scripts.

:class:`Polymarket` owns one :class:`AsyncPolymarket` and a private event loop running in a
background thread, and forwards each method to it: the call is run on that loop and waited for,
and an async iterator becomes a blocking iterator. The methods are listed once below, each as
``name = _blocking(AsyncPolymarket.name)``: the descriptors take the signature and docstring from
the async method, so there is one implementation of every method and mypy checks callers of both.
The one exception is :meth:`Polymarket.live_books`: books that the loop updates in place are read
through :class:`BlockingLiveBooks`, which takes each read on the loop.

A blocking method called from inside a running event loop (a coroutine, an asyncio callback,
a notebook cell: Jupyter runs one) raises :class:`~polyinfra.errors.WrongContextError` instead of
freezing that loop; use :class:`AsyncPolymarket` and ``await`` there.
"""

from __future__ import annotations

import asyncio
import copy
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Concatenate, Generic, ParamSpec, Self, TypeVar, Unpack, cast, overload

from polyinfra.client.async_client import AsyncPolymarket
from polyinfra.client.config import ClientConfig, ClientSettings, secrets_wrapped
from polyinfra.clob.live_books import LiveBooks
from polyinfra.errors import WrongContextError
from polyinfra.model.book import OrderBook
from polyinfra.model.events import SyncState

__all__ = ["BlockingLiveBooks", "Polymarket"]

_P = ParamSpec("_P")
_T = TypeVar("_T")
_R = TypeVar("_R")
_END = object()
_CONSTRUCTION = "__init__"


class _LoopThread:
    """An event loop serving in a daemon thread, and the means to run work on it from another thread."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="polyinfra-client-loop", daemon=True)
        self._thread.start()
        self.closed = False

    def _serve(self) -> None:
        loop = self._loop
        asyncio.set_event_loop(loop)
        loop.run_forever()
        # A call that raced with close() is cancelled rather than left waiting for ever.
        leftover = asyncio.all_tasks(loop)
        for task in leftover:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*leftover, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    def run(self, work: Callable[[], Awaitable[_T]], what: str) -> _T:
        """Run ``work()`` on the loop and wait for its result (or its exception)."""
        _refuse_inside_event_loop(what)
        if self.closed:
            raise WrongContextError(f"Polymarket.{what}: this client is closed; make a new one")

        async def invoke() -> _T:
            return await work()

        future = asyncio.run_coroutine_threadsafe(invoke(), self._loop)
        try:
            return future.result()
        except BaseException:
            # KeyboardInterrupt while waiting: the work must not go on behind the caller's back.
            future.cancel()
            raise

    def iterate(self, open_iterator: Callable[[], AsyncIterator[_T]], what: str) -> Iterator[_T]:
        """A blocking iterator over the async iterator ``open_iterator()`` makes, which runs on the
        loop; leaving the loop early (``break``, an exception, garbage collection) closes it there."""
        iterator = self.run(_made(open_iterator), what)
        try:
            while True:
                item = self.run(lambda: _next_or_end(iterator), what)
                if item is _END:
                    return
                yield cast(_T, item)
        finally:
            self._close_iterator(iterator)

    def _close_iterator(self, iterator: AsyncIterator[Any]) -> None:
        close = getattr(iterator, "aclose", None)
        if close is None or self.closed:
            return
        if threading.current_thread() is self._thread:
            # Collected on the loop's own thread: it cannot wait for itself; the loop runs the close.
            self._loop.create_task(close())
        else:
            asyncio.run_coroutine_threadsafe(close(), self._loop).result()

    def stop(self) -> None:
        """Stop the loop and wait for its thread. Idempotent."""
        if self.closed:
            return
        self.closed = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()

    def abandon(self, close: Callable[[], Awaitable[None]]) -> None:
        """Run ``close()`` and then stop the loop, without waiting: for a client collected unclosed,
        whose finalizer may run on any thread, this loop's own included."""
        if self.closed:
            return
        self.closed = True

        async def close_then_stop() -> None:
            try:
                await close()
            finally:
                self._loop.stop()

        asyncio.run_coroutine_threadsafe(close_then_stop(), self._loop)


def _made(open_iterator: Callable[[], AsyncIterator[_T]]) -> Callable[[], Awaitable[AsyncIterator[_T]]]:
    async def make() -> AsyncIterator[_T]:
        return open_iterator()

    return make


async def _next_or_end(iterator: AsyncIterator[_T]) -> _T | object:
    try:
        return await anext(iterator)
    except StopAsyncIteration:
        return _END


def _refuse_inside_event_loop(what: str) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    if what == _CONSTRUCTION:
        raise WrongContextError(
            "Polymarket is the blocking client and was made inside a running event loop, which its calls "
            "would freeze; there, use `async with AsyncPolymarket(...) as client:` (same settings, same methods)"
        )
    raise WrongContextError(
        f"Polymarket.{what} blocks, and it was called inside a running event loop, which it would freeze; "
        f"there, use AsyncPolymarket and `await client.{what}(...)` (async iterators: `async for`)"
    )


class _Forwarded(Generic[_P, _R]):
    """A method of :class:`Polymarket` that forwards to the :class:`AsyncPolymarket` method of the
    same name; subclasses say how its answer is waited for."""

    def __init__(self, method: Callable[..., Any]) -> None:
        self.__doc__ = method.__doc__
        self._name = method.__name__

    @overload
    def __get__(self, instance: None, owner: type[Polymarket]) -> Self: ...
    @overload
    def __get__(self, instance: Polymarket, owner: type[Polymarket]) -> Callable[_P, _R]: ...
    def __get__(self, instance: Polymarket | None, owner: type[Polymarket]) -> Self | Callable[_P, _R]:
        if instance is None:
            return self
        call = self._bound(instance)
        call.__name__ = self._name
        call.__qualname__ = f"Polymarket.{self._name}"
        call.__doc__ = self.__doc__
        return call

    def _bound(self, client: Polymarket) -> Callable[_P, _R]:
        raise NotImplementedError


class _Blocking(_Forwarded[_P, _T]):
    """A coroutine method, run on the client's loop and waited for."""

    def __init__(self, method: Callable[Concatenate[AsyncPolymarket, _P], Coroutine[Any, Any, _T]]) -> None:
        super().__init__(method)
        self._method = method

    def _bound(self, client: Polymarket) -> Callable[_P, _T]:
        method, name = self._method, self._name

        def call(*args: _P.args, **kwargs: _P.kwargs) -> _T:
            core = client._core
            return client._loop.run(lambda: method(core, *args, **kwargs), name)

        return call


class _BlockingIterator(_Forwarded[_P, Iterator[_T]]):
    """An async-iterator method, as a blocking iterator."""

    def __init__(self, method: Callable[Concatenate[AsyncPolymarket, _P], AsyncIterator[_T]]) -> None:
        super().__init__(method)
        self._method = method

    def _bound(self, client: Polymarket) -> Callable[_P, Iterator[_T]]:
        method, name = self._method, self._name

        def call(*args: _P.args, **kwargs: _P.kwargs) -> Iterator[_T]:
            core = client._core
            return client._loop.iterate(lambda: method(core, *args, **kwargs), name)

        return call


class _OnLoop(_Forwarded[_P, _T]):
    """A plain method, run on the client's loop (the client's state lives there)."""

    def __init__(self, method: Callable[Concatenate[AsyncPolymarket, _P], _T]) -> None:
        super().__init__(method)
        self._method = method

    def _bound(self, client: Polymarket) -> Callable[_P, _T]:
        method, name = self._method, self._name

        def call(*args: _P.args, **kwargs: _P.kwargs) -> _T:
            core = client._core

            async def on_loop() -> _T:
                return method(core, *args, **kwargs)

            return client._loop.run(on_loop, name)

        return call


class BlockingLiveBooks:
    """Live order books of a :class:`Polymarket` client, read from the caller's thread.

    The books are :class:`~polyinfra.clob.live_books.LiveBooks` on the client's loop, updated in
    place between that loop's awaits; so every read here runs on the loop, between two updates, and
    :meth:`book` answers a copy that no update touches afterwards.
    """

    def __init__(self, books: LiveBooks, loop: _LoopThread) -> None:
        self._books = books
        self._loop = loop

    def __repr__(self) -> str:
        return f"BlockingLiveBooks({self._books!r})"

    def book(self, token_id: str) -> OrderBook:
        """A copy of the token's live book as it is now."""

        async def copied() -> OrderBook:
            return copy.deepcopy(self._books.book(token_id))

        return self._loop.run(copied, "live_books(...).book")

    def state(self, token_id: str) -> SyncState:
        """The token's sync state (``LIVE`` once its book is provably in sync)."""

        async def read() -> SyncState:
            return self._books.state(token_id)

        return self._loop.run(read, "live_books(...).state")

    def wait_until_live(self, token_ids: Iterable[str] | None = None, timeout_s: float = 30.0) -> bool:
        """Wait until the books of ``token_ids`` (default: all) are in sync; False on timeout."""
        return self._loop.run(
            lambda: self._books.wait_until_live(token_ids, timeout_s), "live_books(...).wait_until_live"
        )

    def subscribe(self, token_ids: Iterable[str]) -> None:
        """Keep the books of more tokens."""
        self._loop.run(lambda: self._books.subscribe(token_ids), "live_books(...).subscribe")

    def stop(self) -> None:
        """Stop these books (the client's close stops them too)."""
        self._loop.run(self._books.stop, "live_books(...).stop")


class Polymarket:
    """Market data and trading on the CLOB, blocking: :class:`~polyinfra.AsyncPolymarket`'s methods
    with the same arguments and answers, async iterators as plain iterators.

    Takes the same settings (keyword arguments > ``POLYINFRA_*`` environment > TOML file >
    defaults); connects at construction. Close with :meth:`close` or use ``with``.
    """

    def __init__(
        self,
        *,
        config: str | Path | None = None,
        environ: Mapping[str, str] | None = None,
        **settings: Unpack[ClientSettings],
    ) -> None:
        """The settings of :class:`~polyinfra.AsyncPolymarket`."""
        settings = secrets_wrapped(settings)  # from here on, no frame holds a secret in clear
        self._connect(lambda: AsyncPolymarket(config=config, environ=environ, **settings))

    @classmethod
    def from_toml(
        cls, path: str | Path, *, environ: Mapping[str, str] | None = None, **settings: Unpack[ClientSettings]
    ) -> Self:
        """A client configured by the TOML file at ``path`` (see :meth:`AsyncPolymarket.from_toml`)."""
        settings = secrets_wrapped(settings)
        return cls._made_by(lambda: AsyncPolymarket.from_toml(path, environ=environ, **settings))

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
        """A client of the local emulator; ``start=True`` runs one inside the client, stopped on
        :meth:`close` (see :meth:`AsyncPolymarket.emulator`)."""
        settings = secrets_wrapped(settings)
        return cls._made_by(
            lambda: AsyncPolymarket.emulator(
                start=start, port=port, emulator_options=emulator_options, environ=environ, **settings
            )
        )

    @classmethod
    def _made_by(cls, make: Callable[[], AsyncPolymarket]) -> Self:
        client = cls.__new__(cls)
        client._connect(make)
        return client

    def _connect(self, make: Callable[[], AsyncPolymarket]) -> None:
        self._loop = _LoopThread()
        try:

            async def made_and_opened() -> AsyncPolymarket:
                # Built on the loop, so that everything it creates belongs to that loop.
                core = make()
                await core.open()
                return core

            self._core: AsyncPolymarket = self._loop.run(made_and_opened, _CONSTRUCTION)
        except BaseException:
            self._loop.stop()
            raise
        # A client dropped without close() still closes its connections and ends its thread (the
        # finalizer holds the loop and the core, never the client itself).
        weakref.finalize(self, self._loop.abandon, self._core.aclose)

    def __repr__(self) -> str:
        core = getattr(self, "_core", None)
        return "Polymarket(not connected)" if core is None else repr(core).replace("AsyncPolymarket", "Polymarket", 1)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close every connection, stop the embedded emulator and the private loop. Idempotent."""
        if self._loop.closed:
            return
        try:
            self._loop.run(self._core.aclose, "close")
        finally:
            self._loop.stop()

    @property
    def config(self) -> ClientConfig:
        """The resolved settings."""
        return self._core.config

    @property
    def wallets(self) -> list[str]:
        """The wallet names, in the order they were added."""
        return self._core.wallets

    @property
    def async_client(self) -> AsyncPolymarket:
        """The async client underneath, for code running on its loop (callbacks of its streams)."""
        return self._core

    def live_books(self, token_ids: Iterable[str]) -> BlockingLiveBooks:
        """Order books of ``token_ids`` kept in sync over the market channel (see
        :meth:`AsyncPolymarket.live_books`), read safely from this thread."""
        return BlockingLiveBooks(self._loop.run(lambda: self._core.live_books(token_ids), "live_books"), self._loop)

    # --- the same methods as AsyncPolymarket ------------------------------------------------------

    add_wallet = _OnLoop(AsyncPolymarket.add_wallet)
    address = _OnLoop(AsyncPolymarket.address)

    markets = _BlockingIterator(AsyncPolymarket.markets)
    search = _BlockingIterator(AsyncPolymarket.search)
    market = _Blocking(AsyncPolymarket.market)
    market_rules = _Blocking(AsyncPolymarket.market_rules)
    book = _Blocking(AsyncPolymarket.book)
    books = _Blocking(AsyncPolymarket.books)
    price = _Blocking(AsyncPolymarket.price)
    midpoint = _Blocking(AsyncPolymarket.midpoint)
    midpoints = _Blocking(AsyncPolymarket.midpoints)
    spread = _Blocking(AsyncPolymarket.spread)
    spreads = _Blocking(AsyncPolymarket.spreads)
    last_trade = _Blocking(AsyncPolymarket.last_trade)
    prices_history = _Blocking(AsyncPolymarket.prices_history)
    tick_size = _Blocking(AsyncPolymarket.tick_size)
    neg_risk = _Blocking(AsyncPolymarket.neg_risk)
    book_events = _BlockingIterator(AsyncPolymarket.book_events)

    place_order = _Blocking(AsyncPolymarket.place_order)
    market_order = _Blocking(AsyncPolymarket.market_order)
    place_orders = _Blocking(AsyncPolymarket.place_orders)
    cancel = _Blocking(AsyncPolymarket.cancel)
    cancel_many = _Blocking(AsyncPolymarket.cancel_many)
    cancel_all = _Blocking(AsyncPolymarket.cancel_all)
    cancel_market = _Blocking(AsyncPolymarket.cancel_market)
    open_orders = _Blocking(AsyncPolymarket.open_orders)
    order = _Blocking(AsyncPolymarket.order)
    trades = _Blocking(AsyncPolymarket.trades)
    balance = _Blocking(AsyncPolymarket.balance)
    update_balance = _Blocking(AsyncPolymarket.update_balance)
    user_events = _BlockingIterator(AsyncPolymarket.user_events)

    reward_programs = _BlockingIterator(AsyncPolymarket.reward_programs)
    market_rewards = _Blocking(AsyncPolymarket.market_rewards)
    market_trades = _Blocking(AsyncPolymarket.market_trades)
    earnings = _Blocking(AsyncPolymarket.earnings)
    total_earnings = _Blocking(AsyncPolymarket.total_earnings)
    reward_percentages = _Blocking(AsyncPolymarket.reward_percentages)
    orders_scoring = _Blocking(AsyncPolymarket.orders_scoring)
    notifications = _Blocking(AsyncPolymarket.notifications)
    drop_notifications = _Blocking(AsyncPolymarket.drop_notifications)
    closed_only = _Blocking(AsyncPolymarket.closed_only)
    # on chain (polyinfra.client.onchain)
    approve = _Blocking(AsyncPolymarket.approve)
    wrap = _Blocking(AsyncPolymarket.wrap)
    unwrap = _Blocking(AsyncPolymarket.unwrap)
    split = _Blocking(AsyncPolymarket.split)
    merge = _Blocking(AsyncPolymarket.merge)
    redeem = _Blocking(AsyncPolymarket.redeem)
    redeem_all = _Blocking(AsyncPolymarket.redeem_all)
    convert = _Blocking(AsyncPolymarket.convert)
