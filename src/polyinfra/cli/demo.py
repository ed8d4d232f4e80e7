"""``polyinfra demo``: the embedded emulator with simulated activity, watched live, then proven in sync.

Starts the emulator in-process on a free port and runs the ``polyinfra watch`` session
(:func:`~polyinfra.cli.watch.watch_books`) against it over real sockets, on every token of every
simulated market: a live table on a terminal, plain lines otherwise. When the duration ends, the
simulated trading stops, and every live book is compared level by level with the emulator's own
REST book (``POST /books``): the demo ends with that proof (or the differences it found, and exit
code 1), how long it ran and how many frames it received, and commands to try next.

Below the CLOB's books, the emulator's US exchange books (its OPEN instruments) are watched the same way,
through :class:`~polyinfra.us.live_books.UsLiveBooks` on its gRPC port, and proven equal to the
emulator's own US books at the end; then a US order round trip (a GTC order placed and cancelled, a FOK that
cannot fill) shows what the order stream saw of it.

The demo records its own session (the CLOB's and the US exchange's books, the RTDS and PolyBolt frames)
into a temporary SQLite tape (its status shows the records the recorder acknowledged and the gaps), and once
the books have closed it replays that tape and checks the replayed books equal the live ones level by level,
and the replayed live-data events equal those the demo's subscriptions got: the proof says so, or exits 1.

Meanwhile a :class:`~polyinfra.live.live_data.LiveData` follows the emulator's RTDS activity (the
same fills, with the traders' wallets) and, with an API key the emulator issued, the BTC price over
PolyBolt: the proof shows a line of each, and a line of the large-trade radar
(:class:`~polyinfra.core.whale_radar.LargeTradeRadar`) run over that activity. A
:class:`~polyinfra.us.dropcopy.DropCopyArchiver` catches up on the executions the emulator's DropCopy
history holds, into a SQLite archive beside the tape: the proof's lines say whether each was archived
once and the token chain is unbroken, and how many of the firm's pooled gRPC streams the archiver and the
US books held together. Last, on the emulated Polygon (:mod:`~polyinfra.cli.demo_onchain`), a fresh wallet
holding only USDC.e has a BUY refused, approves the exchange and wraps pUSD through the client facade, and the
same BUY goes live; and a fresh Safe wraps and splits gaslessly through the relayer, its owner key paying no gas.
A :class:`~polyinfra.wallets.watch.WalletWatch` follows every wallet the Data API's leaderboard ranks
(:mod:`~polyinfra.cli.demo_wallets`): its line says whether it delivered every fill the emulator holds for
them, each once.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

import typer

from polyinfra.cli.book_view import WatchedMarket
from polyinfra.cli.demo_onchain import gasless_line, self_paid_line
from polyinfra.cli.demo_wallets import WalletsWatched
from polyinfra.cli.us_watch import us_view, watched_instrument
from polyinfra.cli.watch import Output, ShownClient, run_until_stopped, watch_books
from polyinfra.clob.live_books import LiveBooks
from polyinfra.clob.rest import ClobRestClient
from polyinfra.core.book_audit import diff_book
from polyinfra.core.us_dropcopy import DropCopyStream, chain_gaps
from polyinfra.core.us_instruments import UsInstrumentState
from polyinfra.core.whale_radar import LargeTrade, LargeTradeRadar
from polyinfra.emulator.faults import FaultConfig
from polyinfra.emulator.runner import Emulator
from polyinfra.errors import PolyinfraError
from polyinfra.live.live_data import LiveData, PriceSource
from polyinfra.model.book import OrderBook
from polyinfra.model.events import SyncState
from polyinfra.model.live_events import ActivityTrade, Gap, LiveEvent, PriceTick
from polyinfra.record.dropcopy_archive import SQLiteDropCopyArchive
from polyinfra.record.live_data_replay import LiveDataReplay
from polyinfra.record.polybolt_replay import PolyBoltReplay
from polyinfra.record.recorder import Recorder
from polyinfra.record.replay import Replay
from polyinfra.record.rtds_replay import RtdsReplay
from polyinfra.record.sqlite_sink import SQLiteSink
from polyinfra.record.us_replay import UsReplay
from polyinfra.us.dropcopy import DropCopyArchiver
from polyinfra.us.live_books import UsLiveBooks
from polyinfra.wire.clob_rest import OrderBookSummary

__all__ = ["SyncProof", "TapeProof", "compare_with_rest", "run_demo"]

# Once trading stops, the last frames in flight reach the books within milliseconds; this bounds
# the wait on a machine so busy that they do not, and the proof then shows what still differs.
_SETTLE_LIMIT_S: Final = 10.0
_SETTLE_POLL_S: Final = 0.1
_DIFFERENCES_SHOWN: Final = 10
_US_ORDERS_TIMEOUT_S: Final = 30.0
# The simulator's trades are 5 to 200 shares at mid-range prices: about one in five reaches this.
_LARGE_TRADE_USDC: Final = Decimal(50)
_CENT: Final = Decimal("0.01")
# The demo's own account on the emulator (Hardhat's second well-known test address): its API key
# authenticates the PolyBolt price stream.
_DEMO_TRADER: Final = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
# Executions the emulator's DropCopy history holds for the demo's archiver to catch up on.
_DEMO_EXECUTIONS: Final = 500
# The proof and these fit an 80-column terminal, as the screen above them does.
_NEXT_COMMANDS: Final = (
    "polyinfra emulator               # this exchange on 127.0.0.1:8080; then:",
    "polyinfra markets --active       # what it lists, with token ids",
    "polyinfra book TOKEN_ID          # one token's depth ladder",
    "polyinfra watch --top 2 --jsonl  # a JSON line per change, for scripts",
    "polyinfra live --crypto btcusd   # live prices; --topic activity:trades",
)


@dataclass(frozen=True, slots=True)
class SyncProof:
    """The end-of-demo comparison of every live book with the venue's REST book of it."""

    compared: int
    differences: tuple[str, ...]
    """One line per token that is not LIVE, missing from the REST answer, or differs (its levels as
    ``price: local -> venue``, bids then asks, best first, or its tick size)."""

    @property
    def equal(self) -> bool:
        return not self.differences


def compare_with_rest(
    books: Mapping[str, OrderBook], states: Mapping[str, SyncState], summaries: Sequence[OrderBookSummary]
) -> SyncProof:
    """Compare each of ``books`` level by level with its REST summary (``POST /books``)."""
    by_token = {summary.asset_id: summary for summary in summaries}
    differences = []
    for token, book in books.items():
        problems = []
        state = states.get(token, SyncState.SYNCING)
        if state is not SyncState.LIVE:
            problems.append(state.value)
        summary = by_token.get(token)
        if summary is None:
            problems.append("no REST book")
        else:
            diff = diff_book(book, summary)
            problems.extend(
                f"{level.side.value} {level.price}: {level.local_size} -> {level.venue_size}" for level in diff.levels
            )
            if diff.venue_tick_size is not None and diff.venue_tick_size is not diff.local_tick_size:
                problems.append(f"tick size {diff.local_tick_size} -> {diff.venue_tick_size}")
        if problems:
            differences.append(f"{token}: {', '.join(problems)}")
    return SyncProof(compared=len(books), differences=tuple(differences))


@dataclass(frozen=True, slots=True)
class TapeProof:
    """The demo's recording, replayed and compared with the books it recorded."""

    records: int
    gaps: int
    live_events: int
    """Live-data events (RTDS activity, prices) the subscriptions got, and the replay gave again."""
    differing: tuple[str, ...]
    """Tokens whose replayed book differs from the live one (levels, or a checkpoint diverged), and the
    live-data sources whose replayed events differ."""

    @property
    def equal(self) -> bool:
        return not self.differing


async def _replayed_proof(
    recorder: Recorder,
    sink: SQLiteSink,
    books: LiveBooks,
    us_levels: Mapping[str, _Levels],
    live_data: Sequence[tuple[LiveDataReplay, list[LiveEvent]]],
) -> TapeProof:
    """Replay the tape and compare every replayed book with the live book as it ended (the US exchange's
    as ``us_levels``), and each live-data replay's events with those its subscription got."""
    replay = Replay(sink)
    stats = await replay.run()
    differing = [
        token
        for token in books.tokens()
        if (replayed := replay.books.get(token)) is None or _levels(replayed) != _levels(books.book(token))
    ]
    us_replay = UsReplay(sink)
    await us_replay.run()
    differing.extend(
        symbol
        for symbol, levels in us_levels.items()
        if (us_replayed := us_replay.books.get(symbol)) is None or _levels(us_replayed) != levels
    )
    if stats.first_divergence is not None:
        differing.append(f"checkpoint {stats.first_divergence.event_id}")
    for live_replay, seen in live_data:
        if await live_replay.events() != seen:
            differing.append(f"{live_replay.source} events")
    recorded = recorder.stats
    written = 0 if recorded.acknowledged is None else recorded.acknowledged.records
    seen_events = sum(len(seen) for _, seen in live_data)
    return TapeProof(records=written, gaps=recorded.gaps, live_events=seen_events, differing=tuple(differing))


_Levels = tuple[list[tuple[int, int]], list[tuple[int, int]]]


def _levels(book: OrderBook) -> _Levels:
    return book.bid_levels_micros(), book.ask_levels_micros()


async def _settled_proof(books: LiveBooks, emulator: Emulator) -> SyncProof:
    """Stop the simulated trading, let the last frames arrive, and compare every book with REST."""
    emulator.pause()
    tokens = books.tokens()
    loop = asyncio.get_running_loop()
    give_up_at = loop.time() + _SETTLE_LIMIT_S
    async with ClobRestClient(emulator.urls["rest"]) as rest:
        while True:
            try:
                summaries = await rest.get_books(tokens)
                proof = compare_with_rest({token: books.book(token) for token in tokens}, books.states(), summaries)
            except PolyinfraError as error:
                # --poison-rate spoils REST answers too: one that cannot be read is asked again.
                proof = SyncProof(compared=len(tokens), differences=(f"the REST answer was refused: {error}",))
            if proof.equal or loop.time() >= give_up_at:
                return proof
            await asyncio.sleep(_SETTLE_POLL_S)


async def _settled_us_proof(books: UsLiveBooks, emulator: Emulator) -> SyncProof:
    """With the simulated trading stopped, let the last updates arrive and compare every US book with the
    emulator's own, level by level."""
    symbols = books.symbols()
    depth = books.depth
    loop = asyncio.get_running_loop()
    give_up_at = loop.time() + _SETTLE_LIMIT_S
    while True:
        differences = []
        for symbol in symbols:
            book = books.book(symbol)
            if books.state(symbol) is not SyncState.LIVE:
                differences.append(f"{symbol}: {books.state(symbol).value}")
            elif _levels(book) != emulator.us_market.levels_micros(symbol, depth):
                differences.append(f"{symbol}: levels differ from the emulator's")
        if not differences or loop.time() >= give_up_at:
            return SyncProof(compared=len(symbols), differences=tuple(differences))
        await asyncio.sleep(_SETTLE_POLL_S)


def run_demo(
    *, markets: int, seed: int, rate: float, duration_s: float, refresh_s: float, poison_rate: float, output: Output
) -> None:
    """Run the demo until ``duration_s`` elapses (0: until Ctrl-C, with no proof), then print its proof.

    ``poison_rate`` makes the emulator plant a hostile value in that share of its market-channel
    frames and REST answers: the status line then counts what the books refused. Raises
    :class:`typer.Exit` (code 1) when a book differs from the emulator's at the end.
    """
    faults = FaultConfig(poison_rate=poison_rate, poison_http_rate=poison_rate)
    ended: list[_DemoEnd] = []
    run_until_stopped(
        _demo(
            markets=markets,
            seed=seed,
            rate=rate,
            duration_s=duration_s,
            refresh_s=refresh_s,
            faults=faults,
            output=output,
            ended=ended,
        )
    )
    if not ended:
        return  # stopped with Ctrl-C: no proof to show
    (end,) = ended
    typer.echo("\n".join(_proof_lines(end)))
    if not (end.proof.equal and end.us_proof.equal and end.tape.equal):
        raise typer.Exit(1)


@dataclass(slots=True)
class _ActivitySeen:
    """What the demo's RTDS activity subscription delivered, and what the large-trade radar made of it."""

    trades: int = 0
    gaps: int = 0
    last: ActivityTrade | None = None
    radar: LargeTradeRadar = field(default_factory=lambda: LargeTradeRadar(_LARGE_TRADE_USDC))
    largest: LargeTrade | None = None
    events: list[LiveEvent] = field(default_factory=list)
    """Every event, for the tape's proof."""

    def __call__(self, event: LiveEvent) -> None:
        self.events.append(event)
        if isinstance(event, ActivityTrade):
            self.trades += 1
            self.last = event
            large = self.radar.observe(event)
            if large is not None and (self.largest is None or large.notional_usdc > self.largest.notional_usdc):
                self.largest = large
        elif isinstance(event, Gap):
            self.gaps += 1

    def line(self) -> str:
        seen = f"  RTDS activity: {self.trades:,} trades seen with their wallets, {self.gaps} gaps"
        last = self.last
        if last is not None:
            seen = f"{seen};\n  the last: {last.name} {last.side.value} {last.size} {last.outcome} @ {last.price}"
        flagged, observed = self.radar.flagged, self.radar.observed
        radar = f"  large-trade radar: {flagged:,} of {observed:,} trades ≥ ${_LARGE_TRADE_USDC}"
        largest = self.largest
        if largest is not None:
            # To the cent on screen; the radar compared the exact notional.
            radar += f", largest ${largest.notional_usdc.quantize(_CENT)} ({largest.trade.name})"
        return f"{seen}\n{radar}"


@dataclass(slots=True)
class _PricesSeen:
    """What the demo's PolyBolt price subscription delivered."""

    ticks: int = 0
    gaps: int = 0
    last: PriceTick | None = None
    events: list[LiveEvent] = field(default_factory=list)
    """Every event, for the tape's proof."""

    def __call__(self, event: LiveEvent) -> None:
        self.events.append(event)
        if isinstance(event, PriceTick):
            self.ticks += 1
            self.last = event
        elif isinstance(event, Gap):
            self.gaps += 1

    def line(self) -> str:
        last = "" if self.last is None else f", the last {self.last.symbol} {self.last.price}"
        return f"  PolyBolt prices: {self.ticks:,} ticks{last}, {self.gaps} gaps"


async def _data_api_line(emulator: Emulator) -> str:
    """The Data API's view of the session: its leaderboard's top wallet, and whether every fill the
    Data API reports for it is one RTDS published too (the same settlement hashes)."""
    from polyinfra.data.data_api import DataApiClient

    async with DataApiClient(emulator.urls["data"], lag_allowance_s=0) as data:
        board = await data.leaderboard_v2(time_period="ALL")
        if not board:
            return "  Data API: no trades yet"
        top = board[0]
        rows = await data.activity_v2(top.proxy_wallet, start_s=0)
    published = {
        (trade.payload.transaction_hash, trade.payload.proxy_wallet.lower())
        for trade in emulator.rtds_sources.published_activity
        if trade.kind == "trades"
    }
    agree = all((row.transaction_hash, row.proxy_wallet) in published for row in rows)
    name = top.user_name if isinstance(top.user_name, str) and top.user_name else top.proxy_wallet
    return (
        f"  Data API: {len(board)} wallets ranked; the top, {name}, P&L {top.pnl_usdc},\n"
        f"  over {len(rows):,} fills, {'each' if agree else 'NOT each'} one also on RTDS"
    )


class _DropCopyArchived:
    """The demo's DropCopy archiver: the emulator's synthetic executions, and those of the demo's own US orders,
    archived into SQLite beside the tape while the demo runs, then checked: every execution once, the token
    chain unbroken."""

    def __init__(self, emulator: Emulator, path: str, seed: int) -> None:
        emulator.us_dropcopy.generate(_DEMO_EXECUTIONS, seed=seed)
        self._emulator = emulator
        self._history = emulator.us_dropcopy
        self._archive = SQLiteDropCopyArchive(path)
        self._archiver = DropCopyArchiver(
            emulator.urls["grpc"], self._archive, firm="demo", streams=[DropCopyStream.EXECUTIONS], insecure=True
        )
        self._task = asyncio.create_task(self._archiver.run())

    async def line(self) -> str:
        status = self._archiver.status[DropCopyStream.EXECUTIONS]
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + _SETTLE_LIMIT_S
        reported = len(self._history.entries(DropCopyStream.EXECUTIONS))
        while status.new_events < reported and loop.time() < give_up_at:
            await asyncio.sleep(_SETTLE_POLL_S)
        # The archiver's stream and the US books' draw from the one budget the venue gives a firm.
        held = self._emulator.us_stream_budget.held("")
        limit = self._emulator.us_market_data_faults.streams_per_firm
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        ids = [execution_id for _, execution_id in self._archive.execution_ids("demo")]
        links = self._archive.chain("demo", DropCopyStream.EXECUTIONS)
        self._archive.close()
        once = len(ids) == len(set(ids)) == reported
        chain = "unbroken" if not chain_gaps(links) else "BROKEN"
        shown = "archived once" if once else f"archived of {reported}"
        return (
            f"  DropCopy: {len(ids):,} executions {shown}, a token chain of {len(links)} links {chain};\n"
            f"  the firm's gRPC streams: {held} of {limit}, DropCopy and market data pooled"
        )


async def _us_order_round_trip(emulator: Emulator, symbol: str) -> str:
    """Place a GTC order and cancel it, then a FOK that cannot fill, on the emulator's US exchange, and say what
    its order stream showed of them."""
    from polyinfra.core.us_order_view import OrderChangeKind
    from polyinfra.core.us_orders import UsOrderIntent, UsTimeInForce
    from polyinfra.model.numbers import Side
    from polyinfra.us.client import UsExchangeClient
    from polyinfra.us.order_entry import UsOrderEntry
    from polyinfra.us.order_stream import UsOrderStream

    async with UsExchangeClient(emulator.urls["grpc"], insecure=True) as us, UsOrderStream(us) as stream:
        entry = UsOrderEntry(us, stream=stream)
        instrument = await entry.instrument(symbol)
        # A bid at the lowest tick: far below the simulated asks, so the FOK cannot fill.
        lowest = UsOrderIntent(symbol, Side.BUY, instrument.tick_size, instrument.minimum_quantity)
        resting = await entry.place(lowest)
        await entry.cancel(order_id=resting.order_id)
        fok = await entry.place(UsOrderIntent(symbol, Side.BUY, lowest.price, lowest.quantity, UsTimeInForce.FOK))
        ended: dict[str, str] = {}
        async with asyncio.timeout(_US_ORDERS_TIMEOUT_S):
            async for change in stream.changes():
                if change.kind is OrderChangeKind.CLOSED:
                    ended[change.order.clord_id] = change.order.state
                if resting.clord_id in ended and fok.clord_id in ended:
                    break
    return f"  US orders seen on the stream: GTC {ended[resting.clord_id]}, FOK NEW then {ended[fok.clord_id]}"


@dataclass(frozen=True, slots=True)
class _DemoEnd:
    proof: SyncProof
    us_proof: SyncProof
    us_orders: str
    tape: TapeProof
    elapsed_s: float
    frames: int
    activity: str


async def _demo(
    *,
    markets: int,
    seed: int,
    rate: float,
    duration_s: float,
    refresh_s: float,
    faults: FaultConfig,
    output: Output,
    ended: list[_DemoEnd],
) -> None:
    proofs: list[SyncProof] = []
    data_lines: list[str] = []
    activity = _ActivitySeen()
    prices = _PricesSeen()
    us_proofs: list[SyncProof] = []
    us_orders: list[str] = []
    loop = asyncio.get_running_loop()
    started = loop.time()
    with tempfile.TemporaryDirectory(prefix="polyinfra-demo-") as tape_dir:
        sink = SQLiteSink(f"{tape_dir}/tape.db")
        try:
            async with (
                Emulator(markets=markets, seed=seed, rate=rate, faults=faults) as emulator,
                Recorder(sink) as recorder,
                UsLiveBooks(emulator.urls["grpc"], insecure=True, recorder=recorder) as us_books,
            ):
                us_instruments = [
                    instrument
                    for instrument in emulator.us_market.instruments
                    if instrument.state is UsInstrumentState.OPEN
                ]
                us_events = us_books.events()
                await us_books.subscribe([instrument.symbol for instrument in us_instruments])
                us_client = ShownClient(
                    us_view(us_books), us_events, [watched_instrument(instrument) for instrument in us_instruments]
                )
                dropcopy = _DropCopyArchived(emulator, f"{tape_dir}/dropcopy.db", seed)
                wallets = WalletsWatched(emulator)

                async def prove(books: LiveBooks) -> None:
                    proofs.append(await _settled_proof(books, emulator))
                    us_proofs.append(await _settled_us_proof(us_books, emulator))
                    us_orders.append(await _us_order_round_trip(emulator, us_instruments[0].symbol))
                    data_lines.append(await _data_api_line(emulator))
                    data_lines.append(await self_paid_line(emulator))
                    data_lines.append(await gasless_line(emulator))

                key = emulator.accounts.create(_DEMO_TRADER, 0) or emulator.accounts.derive(_DEMO_TRADER, 0)
                live_data = LiveData(
                    emulator.urls["rtds"],
                    credentials=None if key is None else key.credentials,
                    polybolt_url=emulator.urls["polybolt"],
                    recorder=recorder,
                )
                async with live_data as live:
                    await live.activity(callback=activity)
                    await live.prices(["btcusd"], callback=prices)
                    books = await watch_books(
                        emulator.urls["rest"],
                        emulator.urls["ws_market"],
                        [WatchedMarket.of(info) for info in emulator.exchange.markets.values()],
                        output=output,
                        title=f"polyinfra demo · embedded emulator, {markets} markets · Ctrl-C stops",
                        duration_s=duration_s,
                        refresh_s=refresh_s,
                        finish=prove,
                        recorder=recorder,
                        beside=[us_client],
                    )
                dropcopy_line = await dropcopy.line()
                wallets_line = await wallets.line()
            # The US books as they closed: every message they took is on the tape (recorded as received).
            us_levels = {symbol: _levels(us_books.book(symbol)) for symbol in us_books.symbols()}
            # Each subscription got every event of its topic: the replay of that topic gives them again.
            prices_replay = (RtdsReplay if live_data.polybolt is None else PolyBoltReplay)(
                sink, topics=[PriceSource.BINANCE.value]
            )
            live_replays = [(RtdsReplay(sink, topics=["activity"]), activity.events), (prices_replay, prices.events)]
            tape = await _replayed_proof(recorder, sink, books, us_levels, live_replays)
        finally:
            await sink.close()
    (proof,) = proofs
    (us_proof,) = us_proofs
    ended.append(
        _DemoEnd(
            proof,
            us_proof,
            us_orders[0],
            tape,
            elapsed_s=loop.time() - started,
            frames=books.stats.frames,
            activity="\n".join([activity.line(), prices.line(), dropcopy_line, *data_lines, wallets_line]),
        )
    )


def _proof_lines(end: _DemoEnd) -> list[str]:
    proof, tape = end.proof, end.tape
    ran = f"ran {end.elapsed_s:.1f} s and received {end.frames:,} frames"
    if proof.equal:
        lines = [
            f"proof: {ran}; then trading stopped and",
            f"  all {proof.compared} books were live and equal to the emulator's REST book, level by level",
        ]
    else:
        lines = [
            f"NOT in sync: {ran}; then trading stopped and",
            f"  {len(proof.differences)} of {proof.compared} books differed from the emulator's REST book",
            "  or were not live (price: local size -> emulator's size):",
            *(f"  {difference}" for difference in proof.differences[:_DIFFERENCES_SHOWN]),
        ]
    us_proof = end.us_proof
    if us_proof.equal:
        lines.append(f"  all {us_proof.compared} US exchange books were live and equal to the emulator's too")
    else:
        lines.append(
            f"  {len(us_proof.differences)} of {us_proof.compared} US exchange books differed or were not live:"
        )
        lines.extend(f"  {difference}" for difference in us_proof.differences[:_DIFFERENCES_SHOWN])
    lines.append(end.us_orders)
    recorded = f"the recorder's tape ({tape.records:,} records, {tape.gaps} gaps)"
    if tape.equal:
        lines.append(f"  {recorded} replayed into the same books,")
        lines.append(f"  and its RTDS and PolyBolt frames into the same {tape.live_events:,} events")
    else:
        lines.append(f"  {recorded} replayed into DIFFERENT books: {', '.join(tape.differing[:3])}")
    return [*lines, end.activity, "next, try:", *(f"  {command}" for command in _NEXT_COMMANDS)]
