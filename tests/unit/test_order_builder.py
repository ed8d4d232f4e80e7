"""build_order: the V2 fields it produces, every validation with its message, and unique stamps
across threads and asyncio tasks."""

from __future__ import annotations

import asyncio
import itertools
import threading
from decimal import Decimal

import pytest

from polyinfra.core.order_builder import SALT_BITS, BuiltOrder, OrderStamp, OrderStamper, build_order
from polyinfra.errors import (
    AmountPrecisionError,
    InsufficientBalanceError,
    InvalidOrderError,
    InvalidValueError,
    MinimumSizeError,
    PriceRangeError,
    TickSizeViolationError,
)
from polyinfra.model.ids import ConditionId, TokenId
from polyinfra.model.market import MarketInfo, OutcomeToken
from polyinfra.model.numbers import Side, TickSize
from polyinfra.model.orders import BYTES32_ZERO, SignatureType, TimeInForce, UnsignedOrder

D = Decimal
EOA = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
SAFE = "0x" + "ab" * 20
TOKEN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
NOW_MS = 1_710_000_000_000
BUILDER = "0x" + "12" * 32
MARKET = MarketInfo(
    condition_id=ConditionId("0x" + "aa" * 32),
    question="?",
    tokens=(OutcomeToken(TokenId(TOKEN), "Yes"), OutcomeToken(TokenId("1234"), "No")),
    tick_size=TickSize.TICK_0_01,
    min_order_size=D(5),
    neg_risk=True,
)


def _stamper() -> OrderStamper:
    return OrderStamper(lambda: NOW_MS, salt_key=7)


def _build(**overrides: object) -> BuiltOrder:
    arguments: dict[str, object] = {
        "token_id": TOKEN,
        "side": Side.BUY,
        "price": "0.56",
        "size": "21.04",
        "maker": EOA,
        "stamper": _stamper(),
        "tick_size": TickSize.TICK_0_01,
        "min_order_size": 5,
        "neg_risk": False,
    }
    arguments.update(overrides)
    return build_order(**arguments)  # type: ignore[arg-type]


def test_limit_order_fields() -> None:
    built = _build(builder=BUILDER)
    salt, timestamp_ms = OrderStamper(lambda: NOW_MS, salt_key=7).next()
    assert built.order == UnsignedOrder(
        salt=salt,
        maker=EOA,
        signer=EOA,
        token_id=int(TOKEN),
        maker_amount=11782400,
        taker_amount=21040000,
        side=Side.BUY,
        signature_type=SignatureType.EOA,
        timestamp_ms=timestamp_ms,
        metadata=BYTES32_ZERO,
        builder=BUILDER,
        expiration_s=0,
        neg_risk=False,
    )
    assert (built.time_in_force, built.post_only, built.amounts.floored) == (TimeInForce.GTC, False, False)


@pytest.mark.parametrize(
    ("side", "price", "size", "tick", "maker", "taker"),
    [  # V2 builder rows through the builder
        (Side.BUY, "0.5", "100", TickSize.TICK_0_1, 50000000, 100000000),
        (Side.SELL, "0.5", "100", TickSize.TICK_0_1, 100000000, 50000000),
        (Side.SELL, "0.56", "21.04", TickSize.TICK_0_01, 21040000, 11782400),
        (Side.BUY, "0.056", "21.04", TickSize.TICK_0_001, 1178240, 21040000),
        (Side.SELL, "0.0056", "21.04", TickSize.TICK_0_0001, 21040000, 117824),
        (Side.BUY, "0.82", "20.0", TickSize.TICK_0_01, 16400000, 20000000),
    ],
)
def test_official_builder_vectors(side: Side, price: str, size: str, tick: TickSize, maker: int, taker: int) -> None:
    order = _build(side=side, price=price, size=size, tick_size=tick).order
    assert (order.maker_amount, order.taker_amount, order.side) == (maker, taker, side)


def test_market_info_routes_neg_risk_and_checks_the_token() -> None:
    order = _build(tick_size=None, min_order_size=None, neg_risk=None, market=MARKET).order
    assert order.neg_risk
    with pytest.raises(InvalidValueError, match="not part of this market"):
        _build(token_id="999", tick_size=None, min_order_size=None, neg_risk=None, market=MARKET)
    with pytest.raises(InvalidValueError, match="not both"):
        _build(market=MARKET)
    with pytest.raises(InvalidValueError, match="all required"):
        _build(neg_risk=None)


def test_market_orders() -> None:
    buy = _build(price="0.56", size=None, amount="100", time_in_force=TimeInForce.FOK)
    assert (buy.order.maker_amount, buy.order.taker_amount) == (100000000, 178571400)
    sell = _build(side=Side.SELL, price="0.56", size="100", time_in_force=TimeInForce.FAK)
    assert (sell.order.maker_amount, sell.order.taker_amount) == (100000000, 56000000)
    with pytest.raises(InvalidOrderError, match="market BUY takes amount"):
        _build(size="100", amount="10", time_in_force=TimeInForce.FOK)
    with pytest.raises(InvalidOrderError, match="needs amount"):
        _build(size="100", time_in_force=TimeInForce.FOK)
    with pytest.raises(InvalidOrderError, match="limit orders take size"):
        _build(amount="10")


def test_validation_messages_name_the_value_and_the_fix() -> None:
    with pytest.raises(TickSizeViolationError, match=r"^price 0\.555 is not on the 0\.01 tick; use 0\.55 or 0\.56"):
        _build(price="0.555")
    with pytest.raises(PriceRangeError, match=r"outside \[0\.01, 0\.99\]"):
        _build(price="0.999")
    with pytest.raises(
        MinimumSizeError, match=r"size 4\.99 is below the market's minimum order size of 5; use at least 5"
    ):
        _build(size="4.999")
    with pytest.raises(MinimumSizeError, match=r"\$2\.00 at 0\.56 buys 3\.5714 shares.*spend at least \$2\.80"):
        _build(size=None, amount="2", time_in_force=TimeInForce.FAK)
    with pytest.raises(AmountPrecisionError, match=r"use 21\.04"):
        _build(size="21.045", floor=False)
    with pytest.raises(InsufficientBalanceError, match=r"needs 12\.34 pUSD, balance 10\.00"):
        _build(price="0.5", size="24.68", balance=D("10.00"))
    with pytest.raises(InsufficientBalanceError, match=r"needs 100\.00 shares, balance 50\.00"):
        _build(side=Side.SELL, size="100", balance="50")
    assert _build(price="0.5", size="24.68", balance="12.34").order.maker_amount == 12340000


def test_floored_size_is_reported() -> None:
    built = _build(size="21.049")
    assert built.amounts.floored
    assert (built.amounts.requested, built.amounts.used) == (D("21.049"), D("21.04"))


def test_post_only_and_order_types() -> None:
    assert _build(post_only=True).post_only
    for tif in (TimeInForce.FOK, TimeInForce.FAK):
        with pytest.raises(InvalidOrderError, match="post_only is only for GTC or GTD"):
            _build(size=None, amount="10", time_in_force=tif, post_only=True)
        with pytest.raises(InvalidOrderError, match="expiration_s is only for GTD"):
            _build(size=None, amount="10", time_in_force=tif, expiration_s=NOW_MS // 1000 + 3600)
    with pytest.raises(InvalidOrderError, match="expiration_s is only for GTD"):
        _build(expiration_s=NOW_MS // 1000 + 3600)


def test_gtd_expiration_threshold() -> None:
    now_s = NOW_MS // 1000
    with pytest.raises(InvalidOrderError, match="needs expiration_s"):
        _build(time_in_force=TimeInForce.GTD)
    with pytest.raises(
        InvalidOrderError, match=rf"within the venue's 60 s security threshold; use at least {now_s + 61}"
    ):
        _build(time_in_force=TimeInForce.GTD, expiration_s=now_s + 60)
    built = _build(time_in_force=TimeInForce.GTD, expiration_s=now_s + 61, post_only=True)
    assert (built.order.expiration_s, built.time_in_force, built.post_only) == (now_s + 61, TimeInForce.GTD, True)


def test_signers_per_signature_type() -> None:
    safe = _build(maker=SAFE, signer=EOA, signature_type=SignatureType.POLY_GNOSIS_SAFE).order
    assert (safe.maker, safe.signer, safe.signature_type) == (SAFE, EOA, SignatureType.POLY_GNOSIS_SAFE)
    deposit = _build(maker=SAFE, signature_type=SignatureType.POLY_1271).order
    assert deposit.signer == SAFE
    with pytest.raises(InvalidValueError, match="need signer"):
        _build(maker=SAFE, signature_type=SignatureType.POLY_PROXY)
    with pytest.raises(InvalidValueError, match="maker is the proxy/Safe"):
        _build(signer=EOA, signature_type=SignatureType.POLY_PROXY)
    with pytest.raises(InvalidValueError, match="signer is the maker itself"):
        _build(signer=SAFE)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("maker", "0x1234"),
        ("builder", "0x12"),
        ("metadata", "zero"),
        ("token_id", "0x12"),
        ("token_id", 0),
        ("token_id", str(1 << 256)),
        ("price", 0.56),
        ("expiration_s", -1),
    ],
)
def test_malformed_inputs(field: str, value: object) -> None:
    with pytest.raises(InvalidValueError):
        _build(**{field: value})


# --- stamps ------------------------------------------------------------------------------------------------


def test_timestamps_strictly_increase_within_one_millisecond_and_when_the_clock_steps_back() -> None:
    readings = iter([NOW_MS, NOW_MS, NOW_MS, NOW_MS - 5_000, NOW_MS + 10])
    stamper = OrderStamper(lambda: next(readings), salt_key=1)
    assert [stamper.next().timestamp_ms for _ in range(5)] == [NOW_MS, NOW_MS + 1, NOW_MS + 2, NOW_MS + 3, NOW_MS + 10]


def test_salts_are_deterministic_with_a_key_and_fit_a_json_number() -> None:
    first = [OrderStamper(lambda: NOW_MS, salt_key=42).next().salt for _ in range(2)]
    assert first[0] == first[1]
    stamper = OrderStamper(lambda: NOW_MS)
    salts = [stamper.next().salt for _ in range(10_000)]
    assert all(0 <= salt < 1 << SALT_BITS for salt in salts)
    assert len(set(salts)) == len(salts)
    assert max(salts) > 1 << (SALT_BITS - 4)  # spread over the range, not a visible counter


def test_32_threads_x_10000_stamps_never_repeat() -> None:
    stamper = OrderStamper(lambda: NOW_MS)  # a frozen clock: the worst case for timestamps
    results: list[list[OrderStamp]] = [[] for _ in range(32)]
    start = threading.Barrier(32)

    def worker(out: list[OrderStamp]) -> None:
        start.wait()
        out.extend(stamper.next() for _ in range(10_000))

    threads = [threading.Thread(target=worker, args=(out,)) for out in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stamps = list(itertools.chain.from_iterable(results))
    assert len(stamps) == 320_000
    assert len({stamp.salt for stamp in stamps}) == 320_000
    assert len({stamp.timestamp_ms for stamp in stamps}) == 320_000
    for out in results:  # each thread sees its own stamps strictly increasing
        assert all(a.timestamp_ms < b.timestamp_ms for a, b in itertools.pairwise(out))


async def test_asyncio_tasks_building_orders_never_repeat() -> None:
    stamper = OrderStamper(lambda: NOW_MS)

    async def task() -> list[UnsignedOrder]:
        orders = []
        for _ in range(500):
            orders.append(_build(stamper=stamper).order)
            await asyncio.sleep(0)
        return orders

    batches = await asyncio.gather(*(task() for _ in range(64)))
    orders = [order for batch in batches for order in batch]
    assert len({order.salt for order in orders}) == len(orders) == 32_000
    assert len({order.timestamp_ms for order in orders}) == 32_000
