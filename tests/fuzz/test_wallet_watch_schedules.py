"""The wallet watch's core over random schedules of outages, refusals, stops and pagination ceilings:
whatever happens, every row of the ground truth up to each wallet's stored watermark is delivered
exactly once or lies inside a loss event, nothing is invented, and the budget is never exceeded.
And the stored state it restarts from: hostile payloads end as a typed error or a valid state."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from polyinfra.core.wallet_watch_state import WalletWatchState, WatchSettings
from polyinfra.errors import CorruptRecordError
from polyinfra.record.records import Record, RecordKind, SessionHeader, SourceChannel
from polyinfra.record.sink import Sink
from polyinfra.wallets.watch_store import StoredWatch, WalletWatchStore
from tests.wallet_world import T0, ScriptedActivity, Simulation, budget_kept, check_exactly_once, make_truth

DURATION_S = 1_500
_SPAN = st.tuples(st.integers(0, DURATION_S), st.integers(1, 900)).map(lambda span: (T0 + span[0], T0 + sum(span)))


@settings(max_examples=40)
@given(
    seed=st.integers(0, 2**16),
    outages=st.lists(_SPAN, max_size=3),
    refusals=st.lists(_SPAN, max_size=2),
    stops=st.lists(st.tuples(st.integers(0, DURATION_S), st.integers(1, 1_200)), max_size=2),
    ceiling=st.sampled_from([None, 25, 60]),
    horizon=st.sampled_from([None, 300, 900]),
    budget_rps=st.sampled_from([0.5, 2.0, 8.0]),
)
def test_every_row_once_or_lost_whatever_the_schedule(
    seed: int,
    outages: list[tuple[int, int]],
    refusals: list[tuple[int, int]],
    stops: list[tuple[int, int]],
    ceiling: int | None,
    horizon: int | None,
    budget_rps: float,
) -> None:
    truth = make_truth(8, DURATION_S, seed=seed, busy_share=0.5)
    source = ScriptedActivity(
        truth, clock=lambda: T0, outages=outages, refusals=refusals, ceiling_rows=ceiling, retention_s=horizon
    )
    watch_settings = WatchSettings(
        budget_rps=budget_rps, page_limit=10, horizon_s=horizon, dedupe_window_s=120, max_interval_s=60.0
    )
    sim = Simulation(source, watch_settings)
    wallets = list(truth)
    sim.start(wallets, since_s=T0)
    for stop_at, down_s in sorted(stops):
        sim.run_until(T0 + stop_at)
        sim.now_s = max(sim.now_s, T0 + stop_at) + max(down_s, watch_settings.budget_window_s)
        sim.start(wallets, since_s=T0)
    # Long enough after the last start for the smallest budget to walk through the backlog of the stops.
    sim.run_until(max(sim.now_s, T0 + DURATION_S) + 2_500)
    check_exactly_once(truth, sim.delivered, sim.losses, watermarks=sim.watermarks())
    assert budget_kept(source.calls, watch_settings.capacity, watch_settings.budget_window_s)
    # Once the trouble is over every wallet catches up: the end of the truth is behind every watermark.
    assert min(sim.watermarks().values()) >= T0 + DURATION_S


class _MemorySink(Sink):
    """Records in a list, written order kept (only what the watch store uses)."""

    def __init__(self, records: Sequence[Record]) -> None:
        self.url = "memory:"
        self._records = list(records)

    async def write_header(self, header: SessionHeader) -> None:
        raise NotImplementedError

    async def write(self, records: Sequence[Record]) -> None:
        self._records.extend(records)

    async def read_chunks(
        self,
        *,
        start_wall_ns: int | None = None,
        end_wall_ns: int | None = None,
        kinds: Collection[RecordKind] | None = None,
        source_channel: SourceChannel | None = None,
    ) -> AsyncIterator[Sequence[Record]]:
        yield [
            record
            for record in self._records
            if (kinds is None or record.kind in kinds)
            and (source_channel is None or (record.source, record.channel) == source_channel)
            and (start_wall_ns is None or record.recv_wall_ns >= start_wall_ns)
            and (end_wall_ns is None or record.recv_wall_ns < end_wall_ns)
        ]

    async def headers(self) -> list[SessionHeader]:
        return []

    async def close(self) -> None:
        return None


_WATCH_KINDS = [RecordKind.WALLET_FILL, RecordKind.WALLET_PROGRESS, RecordKind.WALLET_LOSS, RecordKind.WALLET_REQUESTS]
_INT = st.integers(-(2**63), 2**64 - 1)
# Shapes that decode, with hostile values: progress of huge or negative watermarks, losses and rows of any time,
# request times that are not finite or far from now.
_SHAPED = st.one_of(
    st.lists(st.floats() | st.integers(-(2**63), 2**63 - 1), max_size=8),
    st.lists(
        st.fixed_dictionaries(
            {"wallet": st.text(max_size=6), "watermark_s": _INT, "walk_start_s": _INT, "cursor": st.none()}
        ),
        max_size=3,
    ),
    st.fixed_dictionaries(
        {
            "wallet": st.text(max_size=6),
            "from_s": _INT,
            "to_s": _INT,
            "reason": st.sampled_from(["horizon-expired", "x"]),
        }
    ),
)
_PAYLOAD = st.one_of(
    st.binary(max_size=64),
    st.builds(msgspec.msgpack.encode, _SHAPED),
    st.builds(
        msgspec.msgpack.encode,
        st.recursive(
            st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=12) | st.binary(max_size=8),
            lambda inner: st.lists(inner, max_size=8) | st.dictionaries(st.text(max_size=12), inner, max_size=8),
            max_leaves=30,
        ),
    ),
)


@settings(max_examples=40)
@given(
    stored=st.lists(
        st.tuples(st.sampled_from(_WATCH_KINDS), _PAYLOAD, st.integers(0, 2**62)),
        max_size=6,
    )
)
async def test_stored_state_that_does_not_decode_is_a_typed_error(stored: list[tuple[RecordKind, bytes, int]]) -> None:
    records = [
        Record(f"e{index}", "s", "wallets", "watch", "", kind, wall_ns, 0, None, payload)
        for index, (kind, payload, wall_ns) in enumerate(stored)
    ]
    try:
        state = await WalletWatchStore(_MemorySink(records)).load(
            dedupe_window_s=60, default_since_s=T0, requests_since_s=T0 - 10
        )
    except CorruptRecordError:
        return
    assert isinstance(state, StoredWatch)
    # Whatever times were stored, a restart's budget holds no more than one window's, none from outside it.
    core = WalletWatchState(WatchSettings(budget_rps=1.0, budget_window_s=10.0))
    core.precharge(state.requests_s, T0)
    charged = core.sent_in_window(T0)
    assert len(charged) <= core.settings.capacity
    assert all(T0 - 10 < sent <= T0 for sent in charged)
