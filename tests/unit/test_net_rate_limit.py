"""The client-side rate limiter: window math, composed scopes, margin, per-wallet budgets, fairness
and deadlines. The core is driven with explicit times; the async and sync waiters with tiny windows
and assertions on order, states and counters, never on durations."""

from __future__ import annotations

import asyncio
import random
import threading

import pytest

from polyinfra.core.rate_limit_tables import EndpointRule, RateLimitTable, Route, Scope, Window
from polyinfra.core.venue_rate_limits import CLOB_LIMITS, DATA_LIMITS, GAMMA_LIMITS, SIGNER_TIERS, clob_limits
from polyinfra.errors import InvalidValueError, RateLimitedError
from polyinfra.net.rate_limit import AsyncRateLimiter, RateLimiter, SyncRateLimiter, TicketState
from polyinfra.obs.metrics import REGISTRY


def _table(*scopes: Scope, endpoints: tuple[EndpointRule, ...] = (), shared: tuple[str, ...] = ()) -> RateLimitTable:
    return RateLimitTable(venue="test", scopes=scopes, endpoints=endpoints, shared=shared)


def _single(limit: int, period_s: float, name: str = "only") -> Route:
    table = _table(Scope(name, (Window(limit, period_s),)), endpoints=(EndpointRule("GET /x", (name,), "g"),))
    return table.route("GET", "/x")


# --- tables -------------------------------------------------------------------------------------------


def test_clob_routes_draw_from_endpoint_venue_and_global_scopes() -> None:
    route = CLOB_LIMITS.route("GET", "/book?token_id=1")
    assert route.endpoint == "GET /book"
    assert route.path_template == "/book"
    assert [scope.name for scope in route.scopes] == ["clob:/book"]
    assert [scope.name for scope in route.shared] == ["clob", "all"]
    assert route.scopes[0].windows == (Window(1_500, 10.0),)
    assert route.shared[0].windows == (Window(9_000, 10.0),)
    assert route.shared[1].windows == (Window(15_000, 10.0),)
    assert route.group == "clob-public"
    assert route.bucket == "clob:/book"


def test_clob_table_uses_the_newer_trading_limits_of_apis_md() -> None:
    post_order = CLOB_LIMITS.route("POST", "/order")
    ip_scope, signer = post_order.scopes
    # The newer table supersedes 2025's 3,500 / 36,000.
    assert ip_scope.windows == (Window(5_000, 10.0), Window(120_000, 600.0))
    assert signer.per_wallet and signer.counts_items
    assert signer.windows == (Window(60, 1.5),)  # standard tier: 40/s, burst 60
    assert post_order.group == "clob-trading"
    cancel = CLOB_LIMITS.route("DELETE", "/orders")
    assert cancel.scopes[0].windows == (Window(2_000, 10.0), Window(15_000, 600.0))
    assert cancel.scopes[1].name == "clob:signer-cancels"
    ledger = CLOB_LIMITS.route("GET", "/data/orders")
    assert [scope.name for scope in ledger.scopes] == ["clob:/data/orders", "clob:ledger"]


def test_signer_tiers_set_the_per_wallet_buckets() -> None:
    elite = clob_limits("elite").route("POST", "/orders").scopes[1]
    assert elite.windows == (Window(900, 1.5),)
    assert set(SIGNER_TIERS) >= {"standard", "gold", "elite"}
    with pytest.raises(InvalidValueError):
        clob_limits("wood")


def test_paths_with_ids_resolve_to_templates() -> None:
    assert CLOB_LIMITS.route("GET", "/markets/0xabc").endpoint == "GET /markets/*"
    assert CLOB_LIMITS.route("get", "/data/order/0x12").endpoint == "GET /data/order/*"
    assert GAMMA_LIMITS.route("GET", "/tags/slug/politics/related-tags").endpoint == "GET /tags/**"
    assert GAMMA_LIMITS.route("GET", "/events/keyset").endpoint == "GET /events/keyset"
    assert [s.name for s in GAMMA_LIMITS.route("GET", "/events").scopes] == ["gamma:/events", "gamma:listing"]
    unknown = CLOB_LIMITS.route("GET", "/rewards/markets/0xdef")
    assert unknown.endpoint == "GET /rewards/**"
    assert unknown.scopes == ()
    assert unknown.group == "clob"
    # An explicit pattern resolves to its own rule.
    assert CLOB_LIMITS.route("GET", "/markets/*").endpoint == "GET /markets/*"
    assert DATA_LIMITS.route("GET", "/positions").scopes[0].windows == (Window(150, 10.0),)


def test_tables_refuse_undefined_scopes_and_bad_patterns() -> None:
    with pytest.raises(InvalidValueError):
        _table(endpoints=(EndpointRule("GET /x", ("missing",), "g"),))
    with pytest.raises(InvalidValueError):
        _table(Scope("a", (Window(1, 1.0),)), endpoints=(EndpointRule("GET x", ("a",), "g"),))
    with pytest.raises(InvalidValueError):
        _table(shared=("missing",))
    with pytest.raises(InvalidValueError):
        Window(0, 1.0)
    with pytest.raises(InvalidValueError):
        Window(1, 0.0)
    with pytest.raises(InvalidValueError):
        Scope("empty", ())


def test_scaled_tables_multiply_limits_like_the_emulator() -> None:
    scaled = CLOB_LIMITS.scaled(1.5)
    assert scaled.route("GET", "/book").scopes[0].windows == (Window(2_250, 10.0),)
    assert scaled.route("POST", "/order").scopes[0].windows == (Window(7_500, 10.0), Window(180_000, 600.0))
    tiny = CLOB_LIMITS.scaled(0.001)
    assert tiny.route("GET", "/ok").scopes[0].windows == (Window(1, 10.0),)  # never below 1
    with pytest.raises(InvalidValueError):
        CLOB_LIMITS.scaled(0)


# --- window math ------------------------------------------------------------------------------------


def test_a_window_admits_its_limit_then_counts_until_a_period_after_completion() -> None:
    limiter = RateLimiter(margin=1.0)
    route = _single(10, 10.0)
    tickets = [limiter.submit(route, now=0.0) for _ in range(10)]
    assert limiter.pump(0.0).admitted == tickets
    late = limiter.submit(route, now=0.5)
    result = limiter.pump(0.5)
    assert result.admitted == [] and late.state is TicketState.WAITING
    # Everything is in flight: when room comes depends on the answers.
    assert result.wake_at is None
    assert limiter.earliest_fit(late, 0.5) is None
    for ticket in tickets[:3]:
        limiter.complete(ticket, 1.0)
    assert limiter.pump(1.0).wake_at == 11.0
    assert limiter.earliest_fit(late, 1.0) == 11.0
    assert limiter.pump(10.999).admitted == []
    assert limiter.pump(11.0).admitted == [late]
    assert late.waited_s == 10.5


def test_the_margin_keeps_a_share_of_the_documented_limit() -> None:
    limiter = RateLimiter()  # 80 %
    route = _single(100, 10.0)
    for _ in range(81):
        limiter.submit(route, now=0.0)
    assert len(limiter.pump(0.0).admitted) == 80
    assert limiter.waiting == 1
    with pytest.raises(InvalidValueError):
        RateLimiter(margin=0.0)
    with pytest.raises(InvalidValueError):
        RateLimiter(margin=1.5)


def test_burst_and_sustained_windows_both_bind() -> None:
    scope = Scope("trade", (Window(5, 1.0), Window(8, 10.0)))
    route = _table(scope, endpoints=(EndpointRule("POST /t", ("trade",), "g"),)).route("POST", "/t")
    limiter = RateLimiter(margin=1.0)
    first = [limiter.submit(route, now=0.0) for _ in range(5)]
    assert limiter.pump(0.0).admitted == first
    for ticket in first:
        limiter.complete(ticket, 0.0)
    more = [limiter.submit(route, now=0.0) for _ in range(5)]
    # The burst window frees at 1.0; the sustained one holds the rest until 10.0.
    assert limiter.pump(0.0).wake_at == 1.0
    assert limiter.pump(1.0).admitted == more[:3]
    for ticket in more[:3]:
        limiter.complete(ticket, 1.0)
    assert limiter.pump(1.0).wake_at == 10.0
    assert limiter.pump(10.0).admitted == more[3:]


def test_a_request_must_fit_its_endpoint_and_the_shared_scopes() -> None:
    table = _table(
        Scope("narrow", (Window(3, 10.0),)),
        Scope("venue", (Window(5, 10.0),)),
        endpoints=(EndpointRule("GET /narrow", ("narrow",), "g"), EndpointRule("GET /wide", (), "g")),
        shared=("venue",),
    )
    narrow, wide = table.route("GET", "/narrow"), table.route("GET", "/wide")
    limiter = RateLimiter(margin=1.0)
    narrow_tickets = [limiter.submit(narrow, now=0.0) for _ in range(4)]
    wide_tickets = [limiter.submit(wide, now=0.0) for _ in range(3)]
    admitted = limiter.pump(0.0).admitted
    # 3 narrow (its own limit), then wide ones until the venue's 5; the 4th narrow waits.
    assert admitted == narrow_tickets[:3] + wide_tickets[:2]
    assert narrow_tickets[3].state is TicketState.WAITING
    assert wide_tickets[2].state is TicketState.WAITING


def test_per_wallet_scopes_keep_one_budget_per_wallet_and_charge_items() -> None:
    route = CLOB_LIMITS.route("POST", "/orders")
    limiter = RateLimiter()  # signer bucket: floor(60 * 0.8) = 48 orders per 1.5 s
    alice = limiter.submit(route, items=15, wallet="alice", now=0.0)
    alice_more = [limiter.submit(route, items=15, wallet="alice", now=0.0) for _ in range(3)]
    bob = limiter.submit(route, items=15, wallet="bob", now=0.0)
    admitted = limiter.pump(0.0).admitted
    assert admitted == [alice, *alice_more[:2], bob]  # 45 of alice's 48; bob has his own bucket
    assert alice_more[2].state is TicketState.WAITING
    with pytest.raises(RateLimitedError) as too_big:
        limiter.submit(route, items=49, wallet="carol", now=0.0)
    assert too_big.value.retriable is False
    assert too_big.value.context["scope"] == "clob:signer-orders"
    with pytest.raises(InvalidValueError):
        limiter.submit(route, items=0, now=0.0)


def test_waiters_are_served_first_come_first_served() -> None:
    route = _single(2, 1.0)
    limiter = RateLimiter(margin=1.0)
    for ticket in (limiter.submit(route, now=0.0), limiter.submit(route, now=0.0)):
        limiter.pump(0.0)
        limiter.complete(ticket, 0.0)
    waiting = [limiter.submit(route, now=0.1 * n) for n in range(1, 6)]
    assert limiter.pump(0.5).admitted == []
    served = []
    now = 1.0
    while len(served) < len(waiting):
        admitted = limiter.pump(now).admitted
        served += admitted
        for ticket in admitted:
            limiter.complete(ticket, now)
        now += 1.0
    assert served == waiting


def test_a_big_batch_is_not_starved_by_later_small_requests() -> None:
    scope = Scope("items", (Window(5, 1.0),), counts_items=True)
    route = _table(scope, endpoints=(EndpointRule("POST /b", ("items",), "g"),)).route("POST", "/b")
    limiter = RateLimiter(margin=1.0)
    first = limiter.submit(route, items=4, now=0.0)
    limiter.pump(0.0)
    limiter.complete(first, 0.0)
    batch = limiter.submit(route, items=3, now=0.1)
    small = limiter.submit(route, items=1, now=0.2)
    # One unit is free, enough for the small request, but the batch came first.
    assert limiter.pump(0.2).admitted == []
    assert limiter.pump(1.0).admitted == [batch, small]


def test_a_waiter_blocks_only_the_scopes_it_is_short_of() -> None:
    table = _table(
        Scope("health", (Window(1, 10.0),)),
        Scope("book", (Window(10, 10.0),)),
        Scope("venue", (Window(100, 10.0),)),
        endpoints=(EndpointRule("GET /ok", ("health",), "g"), EndpointRule("GET /book", ("book",), "g")),
        shared=("venue",),
    )
    limiter = RateLimiter(margin=1.0)
    health = [limiter.submit(table.route("GET", "/ok"), now=0.0) for _ in range(2)]
    book = limiter.submit(table.route("GET", "/book"), now=0.1)
    assert limiter.pump(0.1).admitted == [health[0], book]
    assert health[1].state is TicketState.WAITING


def test_a_hold_pauses_the_routes_own_scopes_only() -> None:
    table = _table(
        Scope("book", (Window(10, 10.0),)),
        Scope("venue", (Window(100, 10.0),)),
        endpoints=(EndpointRule("GET /book", ("book",), "g"), EndpointRule("GET /other", (), "g")),
        shared=("venue",),
    )
    limiter = RateLimiter(margin=1.0)
    limiter.hold(table.route("GET", "/book"), 5.0)
    book = limiter.submit(table.route("GET", "/book"), now=0.0)
    other = limiter.submit(table.route("GET", "/other"), now=0.0)
    result = limiter.pump(0.0)
    assert result.admitted == [other]
    assert result.wake_at == 5.0
    assert limiter.pump(5.0).admitted == [book]


def test_cancelled_tickets_give_their_units_back_and_leave_the_queue() -> None:
    route = _single(1, 10.0)
    limiter = RateLimiter(margin=1.0)
    sent = limiter.submit(route, now=0.0)
    limiter.pump(0.0)
    given_up = limiter.submit(route, now=0.0)
    limiter.cancel(given_up)
    limiter.cancel(sent)  # admitted but never sent
    assert limiter.waiting == 0
    after = limiter.submit(route, now=0.0)
    assert limiter.pump(0.0).admitted == [after]


# --- the waiters ---------------------------------------------------------------------------------


def _wait_count(bucket: str) -> float:
    return REGISTRY.get_sample_value("polyinfra_rate_limit_wait_seconds_count", {"bucket": bucket}) or 0.0


async def test_async_waiters_are_admitted_in_arrival_order_and_waits_are_measured() -> None:
    route = _single(1, 0.02, name="async-order")
    limiter = AsyncRateLimiter(RateLimiter(margin=1.0))
    before = _wait_count("async-order")
    order: list[int] = []

    async def request(number: int) -> None:
        ticket = await limiter.acquire(route)
        order.append(number)
        limiter.complete(ticket)

    tasks = []
    for number in range(8):
        tasks.append(asyncio.create_task(request(number)))
        await asyncio.sleep(0)  # arrive in this order
    await asyncio.gather(*tasks)
    assert order == list(range(8))
    assert _wait_count("async-order") - before == 8


async def test_concurrent_tasks_never_overshoot_a_window_at_the_receiving_end() -> None:
    """Tasks take random times to reach the 'venue' and to answer; counted as the venue counts
    (arrivals in any window), they never exceed the budget."""
    capacity, period_s = 10, 0.05
    route = _single(capacity, period_s, name="overshoot")
    limiter = AsyncRateLimiter(RateLimiter(margin=1.0))
    loop = asyncio.get_running_loop()
    arrivals: list[float] = []
    jitter = random.Random(7)

    async def request() -> None:
        ticket = await limiter.acquire(route)
        await asyncio.sleep(jitter.uniform(0, 0.01))
        arrivals.append(loop.time())
        await asyncio.sleep(jitter.uniform(0, 0.01))
        limiter.complete(ticket)

    await asyncio.gather(*(request() for _ in range(60)))
    arrivals.sort()
    for index, arrival in enumerate(arrivals):
        in_window = sum(1 for other in arrivals[: index + 1] if other > arrival - period_s)
        assert in_window <= capacity


async def test_async_acquire_refuses_at_once_when_room_comes_after_the_deadline() -> None:
    route = _single(1, 60.0, name="async-deadline")
    limiter = AsyncRateLimiter(RateLimiter(margin=1.0))
    first = await limiter.acquire(route)
    limiter.complete(first)
    now = asyncio.get_running_loop().time()
    with pytest.raises(RateLimitedError) as refused:
        await limiter.acquire(route, deadline_at=now + 1.0)
    assert refused.value.retriable
    assert 58.0 < refused.value.context["retry_after_s"] <= 60.0
    assert refused.value.context["request_sent"] is False
    assert limiter.core.waiting == 0


async def test_async_acquire_gives_up_when_the_deadline_passes_while_waiting() -> None:
    route = _single(1, 60.0, name="async-in-flight")
    limiter = AsyncRateLimiter(RateLimiter(margin=1.0))
    in_flight = await limiter.acquire(route)  # never completes: room depends on its answer
    with pytest.raises(RateLimitedError) as refused:
        await limiter.acquire(route, deadline_at=asyncio.get_running_loop().time() + 0.02)
    assert "retry_after_s" not in refused.value.context
    assert limiter.core.waiting == 0
    limiter.cancel(in_flight)
    assert (await limiter.acquire(route)).state is TicketState.ADMITTED


async def test_a_cancelled_waiter_leaves_the_queue() -> None:
    route = _single(1, 60.0, name="async-cancel")
    limiter = AsyncRateLimiter(RateLimiter(margin=1.0))
    await limiter.acquire(route)
    waiter = asyncio.create_task(limiter.acquire(route))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert limiter.core.waiting == 0


def test_sync_waiters_are_admitted_in_arrival_order() -> None:
    route = _single(1, 0.02, name="sync-order")
    limiter = SyncRateLimiter(RateLimiter(margin=1.0))
    blocker = limiter.acquire(route)  # everyone queues behind this one
    order: list[int] = []
    lock = threading.Lock()

    def request(number: int) -> None:
        ticket = limiter.acquire(route)
        with lock:
            order.append(number)
        limiter.complete(ticket)

    threads = []
    for number in range(5):
        thread = threading.Thread(target=request, args=(number,))
        thread.start()
        threads.append(thread)
        while True:  # arrive in this order
            with limiter._changed:
                if limiter.core.waiting == number + 1:
                    break
            threading.Event().wait(0.001)
    limiter.complete(blocker)
    for thread in threads:
        thread.join(timeout=10)
    assert order == list(range(5))


def test_sync_acquire_refuses_past_the_deadline() -> None:
    route = _single(1, 60.0, name="sync-deadline")
    limiter = SyncRateLimiter(RateLimiter(margin=1.0), clock=lambda: 100.0)
    limiter.complete(limiter.acquire(route))
    with pytest.raises(RateLimitedError) as refused:
        limiter.acquire(route, deadline_at=101.0)
    assert refused.value.context["retry_after_s"] == 60.0
    assert limiter.core.waiting == 0


# --- following the venue's per-signer buckets (venue notes: Rate limits) -----------------------------------------


def _admit_all(limiter: RateLimiter, route: Route, count: int, now: float, *, wallet: str, items: int = 1) -> None:
    tickets = [limiter.submit(route, items=items, wallet=wallet, now=now) for _ in range(count)]
    assert limiter.pump(now).admitted == tickets
    for ticket in tickets:
        limiter.complete(ticket, now)


def test_a_table_sizes_any_tier_as_it_is_scaled() -> None:
    assert CLOB_LIMITS.signer_tier == "standard"
    assert clob_limits("gold").signer_scopes("elite")[0].windows == (Window(900, 1.5),)
    scaled = clob_limits("gold").scaled(0.5)
    assert (scaled.signer_tier, scaled.factor) == ("gold", 0.5)
    orders, cancels = scaled.signer_scopes("standard")
    assert (orders.name, orders.windows) == ("clob:signer-orders", (Window(30, 1.5),))
    assert (cancels.name, cancels.windows) == ("clob:signer-cancels", (Window(60, 1.5),))
    with pytest.raises(InvalidValueError):
        CLOB_LIMITS.signer_scopes("wood")


def test_a_wallet_re_tiered_by_the_venue_gets_that_tiers_buckets_and_keeps_its_count() -> None:
    elite = clob_limits("elite")
    route = elite.route("POST", "/order")
    limiter = RateLimiter(margin=1.0)
    _admit_all(limiter, route, 50, 0.0, wallet="a")
    assert limiter.wallet_tier("a") is None
    limiter.set_wallet_tier("a", "standard", elite.signer_scopes("standard"))
    assert limiter.wallet_tier("a") == "standard"
    # Standard's order bucket is 60 per 1.5 s and 50 are already counted: 10 more fit, not 11.
    _admit_all(limiter, route, 10, 0.0, wallet="a")
    late = limiter.submit(route, wallet="a", now=0.0)
    assert limiter.pump(0.0).admitted == []
    assert limiter.pump(1.5).admitted == [late]
    # Another wallet, and a wallet whose ledgers do not exist yet, keep the table's tier.
    _admit_all(limiter, route, 500, 0.0, wallet="b")
    limiter.set_wallet_tier("c", "standard", elite.signer_scopes("standard"))
    with pytest.raises(RateLimitedError):
        limiter.submit(elite.route("POST", "/orders"), items=61, wallet="c", now=0.0)


def test_a_signer_hold_pauses_that_wallets_bucket_only() -> None:
    route = CLOB_LIMITS.route("POST", "/order")
    limiter = RateLimiter(margin=1.0)
    limiter.hold(route, 2.0, wallet="a", per_wallet_only=True)
    held = limiter.submit(route, wallet="a", now=0.0)
    other = limiter.submit(route, wallet="b", now=0.0)
    result = limiter.pump(0.0)
    assert result.admitted == [other], "the endpoint's IP-wide scope and other wallets are not held"
    assert result.wake_at == 2.0
    assert limiter.pump(2.0).admitted == [held]


def test_items_charged_after_the_fact_count_in_the_wallets_item_scopes_only() -> None:
    route = CLOB_LIMITS.route("DELETE", "/cancel-all")
    limiter = RateLimiter(margin=1.0)
    ticket = limiter.submit(route, wallet="a", now=0.0)
    limiter.pump(0.0)
    # The venue cancelled 150 orders: 1 + 150 against a cancel bucket of 120 per 1.5 s.
    limiter.complete(ticket, 0.0, extra_items=150)
    cancel = limiter.submit(CLOB_LIMITS.route("DELETE", "/order"), wallet="a", now=0.0)
    result = limiter.pump(0.0)
    assert result.admitted == []
    assert result.wake_at == 1.5
    assert limiter.pump(1.5).admitted == [cancel]
    with pytest.raises(InvalidValueError):
        limiter.complete(cancel, 1.5, extra_items=-1)


def test_us_order_entry_buckets_are_per_method_and_by_tier() -> None:
    from polyinfra.core.venue_rate_limits import us_order_entry_limits  # noqa: PLC0415 - the US table is this test's alone

    table = us_order_entry_limits(1)
    limiter = RateLimiter()  # 80 % of each: 24 inserts and 72 cancels a second at tier 1
    insert = table.route("RPC", "/OrderEntryAPI/InsertOrder")
    inserts = [limiter.submit(insert, now=0.0) for _ in range(25)]
    cancel = limiter.submit(table.route("RPC", "/OrderEntryAPI/CancelOrder"), now=0.0)
    limiter.pump(0.0)
    assert [ticket.state for ticket in inserts] == [TicketState.ADMITTED] * 24 + [TicketState.WAITING]
    assert cancel.state is TicketState.ADMITTED  # another method's bucket is its own
    assert us_order_entry_limits(4).route("RPC", "/OrderEntryAPI/InsertOrder").scopes[0].windows[0].limit == 400
    with pytest.raises(InvalidValueError):
        us_order_entry_limits(5)
