"""Condition, collection and position ids against the official and verified vectors (venue notes: On chain)."""

from __future__ import annotations

import pytest

from polyinfra.core.chain_contracts import PUSD, USDC_E, WCOL
from polyinfra.core.ctf_positions import (
    Outcome,
    binary_positions,
    check_partition,
    collection_id,
    condition_id,
    neg_risk_condition_id,
    neg_risk_market_id,
    neg_risk_question_id,
    position_collateral,
    position_id,
)
from polyinfra.errors import InvalidValueError, PositionCollateralError

GO_CONDITION = "0x41771a29f1fa3b5ac743ddcf224017f802bd69152c1a65230ec666abfc22b708"
TRUMP_CONDITION = "0xdd22472e552920b8438158ea7238bfadfa4f736aa4cee91a6b86c39ead110917"
TRAP_CONDITION = "0xf2bc5c88f5e205286e06d4806923dc2761dd0df117110608ec0f95d9d182efba"


def test_condition_id_official_vector() -> None:
    assert (
        condition_id(
            "0x6A9D222616C90FcA5754cd1333cFD9b7fb6a4F74",
            "0x01741d802f72305df80da4d6e8ecd3a50287f09ec62edb3bd95ac7c395b2f5ef",
            2,
        )
        == "0x491b47c68ed1de5b01c359fd5d14a285b68af60b14ec7939acfee2afbfbb8ec8"
    )


def test_collection_and_position_ids_official_vectors() -> None:
    assert collection_id(GO_CONDITION, 1) == "0x63ecd1f555d88721e1d063640ec7719a904925b55bf9a8c3e9d1dddfa86b1a6b"
    assert collection_id(GO_CONDITION, 2) == "0x610f95f837bfcb4a52eedebd551bbdd7f273edeb47ad140cfba8287e6fed1929"
    positions = binary_positions(GO_CONDITION, neg_risk=False)
    assert positions.collateral == USDC_E
    assert positions.yes == 87848146419241057657677458104196204655830537958664996373577118668208015365957
    assert positions.no == 11831001752042525186810643219442170205387399550590230096735412415464402686073
    assert positions.of(Outcome.NO) == positions.no
    assert position_id(USDC_E, collection_id(GO_CONDITION, 1)) == positions.yes


def test_neg_risk_positions_are_over_wrapped_collateral() -> None:
    assert collection_id(TRUMP_CONDITION, 1) == "0x13c5bd8e1449325256f875332875131b41b7ff90b7ec816a38259785663eb2d8"
    assert collection_id(TRUMP_CONDITION, 2) == "0x679fe1f869287ffd909cce0e21e144a5801ccc3a6934d482ce01f8bacf9ed144"
    positions = binary_positions(TRUMP_CONDITION, neg_risk=True)
    assert positions.collateral == WCOL == position_collateral(neg_risk=True)
    assert positions.yes == 21742633143463906290569050155826241533067272736897614950488156847949938836455
    assert positions.no == 48331043336612883890938759509493159234755048973500640148014422747788308965732


def test_pusd_is_refused_as_position_collateral() -> None:
    assert (
        binary_positions(TRAP_CONDITION, neg_risk=False).yes
        == 79271933354357980253136288605181231275403247125972443314258298490063254253319
    )
    with pytest.raises(PositionCollateralError, match="pays 0"):
        position_id(PUSD, collection_id(TRAP_CONDITION, 1))
    with pytest.raises(PositionCollateralError):
        position_id(PUSD.lower(), collection_id(TRAP_CONDITION, 1))


def test_nested_collection_adds_curve_points_commutatively() -> None:
    # A parent collection is decompressed and added as a point: nesting A in B equals nesting B in A.
    a = collection_id(GO_CONDITION, 1)
    b = collection_id(TRUMP_CONDITION, 2)
    assert collection_id(GO_CONDITION, 1, parent_collection_id=b) == collection_id(
        TRUMP_CONDITION, 2, parent_collection_id=a
    )
    assert collection_id(GO_CONDITION, 1, parent_collection_id=b) != a


def test_partitions() -> None:
    assert check_partition([1, 2], 2) is True
    assert check_partition([1, 2], 3) is False
    assert check_partition([1, 6], 3) is True
    for bad in ([1], [1, 1], [3, 1], [0, 1], [1, 4]):
        with pytest.raises(InvalidValueError):
            check_partition(bad, 2)
    with pytest.raises(InvalidValueError):
        collection_id(GO_CONDITION, 0)


def test_neg_risk_ids() -> None:
    market = neg_risk_market_id("0x2F5e3684cb1F318ec51b00Edba38d79Ac2c0aA9d", 0, b"metadata")
    assert market.endswith("00")
    question = neg_risk_question_id(market, 3)
    assert question[:-2] == market[:-2]
    assert question.endswith("03")
    assert neg_risk_condition_id(question) == condition_id("0xd91E80cF2E7be2e162c6513ceD06f1dD0dA35296", question, 2)
    with pytest.raises(InvalidValueError):
        neg_risk_question_id(question, 1)
    with pytest.raises(InvalidValueError):
        neg_risk_question_id(market, 256)
