"""Wire structs to domain MarketInfo: real captures on the happy path, typed errors otherwise."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest
from msgspec import UNSET

from polyinfra.core.from_wire import market_info_from_clob_market_info, market_info_from_gamma, market_info_from_market
from polyinfra.errors import InvalidNumberError, InvalidTickSizeError, InvalidValueError
from polyinfra.model.ids import TokenId
from polyinfra.model.market import FeeSchedule, OutcomeToken
from polyinfra.model.numbers import TickSize
from polyinfra.wire.clob_rest import ClobMarketInfo, ClobToken, FeeDetails, Market, MarketsPage, MarketToken
from polyinfra.wire.gamma import GammaFeeSchedule, GammaMarket
from tests.shared_data import NAUTILUS_CAPTURES as CAPTURES

ELECTION = "0xdd22472e552920b8438158ea7238bfadfa4f736aa4cee91a6b86c39ead110917"
YES = TokenId("21742633143463906290569050155826241533067272736897614950488156847949938836455")
NO = TokenId("48331043336612883890938759509493159234755048973500640148014422747788308965732")


def _market(name: str = "http_responses/market.json") -> Market:
    return msgspec.json.decode((CAPTURES / name).read_bytes(), type=Market)


def _clob_info(**changes: object) -> ClobMarketInfo:
    info = ClobMarketInfo(
        game_start_time="2023-11-07T05:31:56Z",
        rewards={},
        tokens=[ClobToken(YES, "Yes"), ClobToken(NO, "No")],
        min_order_size=Decimal(5),
        min_tick_size=Decimal("0.01"),
        fee_details=FeeDetails(rate=Decimal("0.02"), exponent=Decimal(2), taker_only=True),
        min_order_age_s=123,
    )
    return msgspec.structs.replace(info, **changes)


def test_real_market_capture_becomes_market_info() -> None:
    info = market_info_from_market(_market())

    assert info.condition_id == ELECTION
    assert info.question == "Will Donald Trump win the 2024 US Presidential Election?"
    assert info.tokens == (OutcomeToken(YES, "Yes"), OutcomeToken(NO, "No"))
    assert info.tick_size is TickSize.TICK_0_001
    assert info.min_order_size == Decimal(5)
    assert info.neg_risk is True
    # /markets carries no fee curve: unknown, not zero.
    assert info.fee_schedule is None
    assert info.complement(YES) == NO


@pytest.mark.parametrize(
    "name",
    [
        "rust_test_data/clob_market_closed_binary_accepting_true.json",
        "rust_test_data/clob_market_closed_binary_accepting_false.json",
    ],
)
def test_closed_market_captures_convert(name: str) -> None:
    market = _market(name)
    info = market_info_from_market(market)
    assert info.condition_id == market.condition_id
    assert [token.token_id for token in info.tokens] == [token.token_id for token in market.tokens]


def test_real_markets_page_converts_except_the_one_without_token_ids() -> None:
    page = msgspec.json.decode((CAPTURES / "http_responses/markets.json").read_bytes(), type=MarketsPage)
    converted, refused = [], []
    for market in page.data:
        try:
            converted.append(market_info_from_market(market))
        except InvalidValueError as exc:
            refused.append(exc)
    assert len(converted) == 99
    # The real page holds a test market whose two tokens have empty ids.
    [error] = refused
    assert error.context["field"] == "token_id"
    assert error.context["value"] == ""
    assert str(error.context["market"]).startswith("0x5374183a")
    assert {info.min_order_size for info in converted} >= {Decimal(5), Decimal(15), Decimal("14.96")}


@pytest.mark.parametrize("count", [0, 1, 3])
def test_market_that_is_not_binary_is_refused(count: int) -> None:
    tokens = [MarketToken(str(index + 1), f"Outcome {index}", Decimal("0.3"), False) for index in range(count)]
    with pytest.raises(InvalidValueError, match="not a binary market") as caught:
        market_info_from_market(msgspec.structs.replace(_market(), tokens=tokens))
    assert caught.value.context == {"market": ELECTION, "tokens": count}


def test_market_with_twice_the_same_token_is_refused() -> None:
    yes = _market().tokens[0]
    with pytest.raises(InvalidValueError, match="same token id"):
        market_info_from_market(msgspec.structs.replace(_market(), tokens=[yes, yes]))


def test_market_with_a_bad_token_id_is_refused() -> None:
    tokens = [MarketToken("0x12", "Yes", Decimal("0.5"), False), _market().tokens[1]]
    with pytest.raises(InvalidValueError) as caught:
        market_info_from_market(msgspec.structs.replace(_market(), tokens=tokens))
    assert caught.value.context == {"market": ELECTION, "field": "token_id", "value": "0x12"}


def test_market_with_a_bad_condition_id_is_refused() -> None:
    with pytest.raises(InvalidValueError, match="condition id"):
        market_info_from_market(msgspec.structs.replace(_market(), condition_id="0xdd22"))


@pytest.mark.parametrize("tick", [Decimal("0.02"), Decimal(0), Decimal("NaN"), Decimal("-0.01")])
def test_market_with_a_tick_size_the_venue_does_not_use_is_refused(tick: Decimal) -> None:
    with pytest.raises(InvalidTickSizeError) as caught:
        market_info_from_market(msgspec.structs.replace(_market(), minimum_tick_size=tick))
    assert caught.value.context["market"] == ELECTION
    assert caught.value.context["field"] == "minimum_tick_size"


@pytest.mark.parametrize("size", [Decimal(-5), Decimal("0.0000001"), Decimal("Infinity")])
def test_market_with_an_invalid_min_order_size_is_refused(size: Decimal) -> None:
    with pytest.raises(InvalidNumberError) as caught:
        market_info_from_market(msgspec.structs.replace(_market(), minimum_order_size=size))
    assert caught.value.context["field"] == "minimum_order_size"
    assert isinstance(caught.value, InvalidValueError)


def test_clob_market_info_becomes_market_info_with_its_fee_curve() -> None:
    info = market_info_from_clob_market_info(ELECTION, _clob_info(neg_risk=True))

    assert info.condition_id == ELECTION
    assert info.question == ""
    assert info.tokens == (OutcomeToken(YES, "Yes"), OutcomeToken(NO, "No"))
    assert info.tick_size is TickSize.TICK_0_01
    assert info.min_order_size == Decimal(5)
    assert info.neg_risk is True
    assert info.fee_schedule == FeeSchedule(rate=Decimal("0.02"), exponent=2, taker_only=True)


def test_clob_market_info_defaults_for_absent_keys() -> None:
    info = market_info_from_clob_market_info(
        ELECTION,
        _clob_info(
            tokens=[None, ClobToken(YES, "Yes"), ClobToken(NO, "No")],
            min_order_size=UNSET,
            fee_details=None,
            condition_id=ELECTION.upper().replace("0X", "0x"),
        ),
    )
    assert info.tokens[0].token_id == YES
    assert info.min_order_size == Decimal(0)
    assert info.neg_risk is False
    assert info.fee_schedule == FeeSchedule()


def test_clob_market_info_fee_defaults_inside_fd() -> None:
    zero = market_info_from_clob_market_info(ELECTION, _clob_info(fee_details=FeeDetails()))
    assert zero.fee_schedule == FeeSchedule()
    float_exponent = FeeDetails(rate=Decimal("0.25"), exponent=Decimal("2.0"))
    assert market_info_from_clob_market_info(ELECTION, _clob_info(fee_details=float_exponent)).fee_schedule == (
        FeeSchedule(rate=Decimal("0.25"), exponent=2, taker_only=True)
    )


def test_clob_market_info_for_another_market_is_refused() -> None:
    other = "0x" + "1" * 64
    with pytest.raises(InvalidValueError, match="another market") as caught:
        market_info_from_clob_market_info(ELECTION, _clob_info(condition_id=other))
    assert caught.value.context == {"market": ELECTION, "field": "c", "value": other}


def test_clob_market_info_with_one_token_is_refused() -> None:
    with pytest.raises(InvalidValueError, match="not a binary market"):
        market_info_from_clob_market_info(ELECTION, _clob_info(tokens=[ClobToken(YES, "Yes"), None]))


def test_clob_market_info_with_a_bad_tick_is_refused() -> None:
    with pytest.raises(InvalidTickSizeError) as caught:
        market_info_from_clob_market_info(ELECTION, _clob_info(min_tick_size=Decimal("0.03")))
    assert caught.value.context["field"] == "mts"


@pytest.mark.parametrize(
    ("details", "error", "field"),
    [
        (FeeDetails(rate=Decimal("1.5"), exponent=Decimal(1)), InvalidNumberError, "fd.r"),
        (FeeDetails(rate=Decimal(-1), exponent=Decimal(1)), InvalidNumberError, "fd.r"),
        (FeeDetails(rate=Decimal("NaN"), exponent=Decimal(1)), InvalidNumberError, "fd.r"),
        (FeeDetails(rate=Decimal("0.02"), exponent=Decimal("1.5")), InvalidNumberError, "fd.e"),
        (FeeDetails(rate=Decimal("0.02"), exponent=Decimal(-1)), InvalidNumberError, "fd.e"),
        (FeeDetails(rate=Decimal("0.02")), InvalidValueError, "fd.e"),
    ],
)
def test_clob_market_info_with_an_invalid_fee_curve_is_refused(
    details: FeeDetails, error: type[InvalidValueError], field: str
) -> None:
    with pytest.raises(error) as caught:
        market_info_from_clob_market_info(ELECTION, _clob_info(fee_details=details))
    assert caught.value.context["market"] == ELECTION
    assert caught.value.context["field"] == field


def test_a_gamma_market_joins_into_market_info() -> None:
    market = msgspec.json.decode((CAPTURES / "rust_test_data/gamma_market.json").read_bytes(), type=GammaMarket)
    info = market_info_from_gamma(market)
    assert [token.outcome for token in info.tokens] == ["Up", "Down"]
    assert info.tokens[0].token_id.startswith("1042398980388071")
    assert (info.tick_size, info.min_order_size, info.neg_risk) == (TickSize.TICK_0_01, Decimal(5), False)
    assert info.fee_schedule is None, "fees on without a curve is unknown, not zero"
    curved = msgspec.structs.replace(
        market, fee_schedule=GammaFeeSchedule(rate=Decimal("0.03"), exponent=Decimal(1), taker_only=True)
    )
    assert market_info_from_gamma(curved).fee_schedule == FeeSchedule(rate=Decimal("0.03"), exponent=1)
    assert market_info_from_gamma(msgspec.structs.replace(market, fees_enabled=False)).fee_schedule == FeeSchedule()
    with pytest.raises(InvalidValueError):
        market_info_from_gamma(msgspec.structs.replace(market, clob_token_ids='["1"]'))
    with pytest.raises(InvalidNumberError):
        market_info_from_gamma(
            msgspec.structs.replace(
                market, fee_schedule=GammaFeeSchedule(rate=Decimal("0.03"), exponent=Decimal("1e9"))
            )
        )
