"""Calldata and log encoding against the vectors of the venue notes (On chain: calldata, selectors, topics)."""

from __future__ import annotations

import pytest

from polyinfra.core.chain_calls import FUNCTIONS, MAX_UINT256, decode_call, encode_call
from polyinfra.core.chain_contracts import CTF, EXCHANGE_V2, PUSD, USDC_E
from polyinfra.core.chain_events import EVENTS, ChainLog, decode_log, encode_log
from polyinfra.errors import InvalidValueError, MalformedMessageError

COND = "0x41771a29f1fa3b5ac743ddcf224017f802bd69152c1a65230ec666abfc22b708"
ZERO32 = "0x" + "00" * 32
HARDHAT = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"

SELECTORS = {
    "approve(address,uint256)": "095ea7b3",
    "allowance(address,address)": "dd62ed3e",
    "balanceOf(address)": "70a08231",
    "transfer(address,uint256)": "a9059cbb",
    "transferFrom(address,address,uint256)": "23b872dd",
    "decimals()": "313ce567",
    "setApprovalForAll(address,bool)": "a22cb465",
    "isApprovedForAll(address,address)": "e985e9c5",
    "balanceOf(address,uint256)": "00fdd58e",
    "balanceOfBatch(address[],uint256[])": "4e1273f4",
    "safeTransferFrom(address,address,uint256,uint256,bytes)": "f242432a",
    "prepareCondition(address,bytes32,uint256)": "d96ee754",
    "reportPayouts(bytes32,uint256[])": "c49298ac",
    "splitPosition(address,bytes32,bytes32,uint256[],uint256)": "72ce4275",
    "mergePositions(address,bytes32,bytes32,uint256[],uint256)": "9e7212ad",
    "redeemPositions(address,bytes32,bytes32,uint256[])": "01b7037c",
    "payoutNumerators(bytes32,uint256)": "0504c814",
    "payoutDenominator(bytes32)": "dd34de67",
    "getOutcomeSlotCount(bytes32)": "d42dc0c2",
    "splitPosition(bytes32,uint256)": "a3d7da1d",
    "mergePositions(bytes32,uint256)": "b10c5c17",
    "redeemPositions(bytes32,uint256[])": "dbeccb23",
    "convertPositions(bytes32,uint256,uint256)": "c64748c4",
    "wrap(address,address,uint256)": "62355638",
    "unwrap(address,address,uint256)": "8cc7104f",
}

TOPICS = {
    "Transfer": "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef",
    "Approval": "8c5be1e5ebec7d5bd14f71427d1e84f3dd0314c0f7b2291e5b200ac8c7c3b925",
    "TransferSingle": "c3d58168c5ae7397731d063d5bbf3d657854427343f4c083240f7aacaa2d0f62",
    "TransferBatch": "4a39dc06d4c0dbc64b70af90fd698a233a518aa5d07e595d983b8c0526c8f7fb",
    "ApprovalForAll": "17307eab39ab6107e8899845ad3d59bd9653f200f220920489ca2b5937696c31",
    "ConditionPreparation": "ab3760c3bd2bb38b5bcf54dc79802ed67338b4cf29f3054ded67ed24661e4177",
    "ConditionResolution": "b44d84d3289691f71497564b85d4233648d9dbae8cbdbb4329f301c3a0185894",
    "PositionSplit": "2e6bb91f8cbcda0c93623c54d0403a43514fabc40084ec96b6d5379a74786298",
    "PositionsMerge": "6f13ca62553fcc2bcd2372180a43949c1e4cebba603901ede2f4e14f36b282ca",
    "PayoutRedemption": "2682012a4a4f1973119f1c9b90745d1bd91fa2bab387344f044cb3586864d18d",
    "Wrapped": "c00a5c84859ae82a7f5e6a2773283fb525335d5b3195f61174aa1ecc7e15dd84",
    "Unwrapped": "18b42b684d0b621cc609f4d888916e5ed9e934a476259ec1c11ec116f2b9aa7f",
}


def test_every_selector_matches_the_venue_notes() -> None:
    assert {fn.signature: fn.selector.hex() for fn in FUNCTIONS.values()} == SELECTORS


def test_every_listed_topic_matches_the_venue_notes() -> None:
    for name, topic in TOPICS.items():
        assert EVENTS[name].topic0.hex() == topic
    # The neg-risk adapter's own events: topic prefixes from the venue notes.
    assert EVENTS["NegRiskPositionSplit"].topic0.hex().startswith("bbed930d")
    assert EVENTS["NegRiskPositionsMerge"].topic0.hex().endswith("a04")
    assert EVENTS["NegRiskPayoutRedemption"].topic0.hex().startswith("9140a6a2")
    assert EVENTS["PositionsConverted"].topic0.hex().startswith("b03d19dd")


def test_calldata_vectors() -> None:
    assert encode_call("approve(address,uint256)", EXCHANGE_V2, MAX_UINT256).hex() == (
        "095ea7b3000000000000000000000000e111180000d2663c0091e4f400237545b87b996b" + "f" * 64
    )
    assert encode_call("setApprovalForAll(address,bool)", EXCHANGE_V2, True).hex() == (
        "a22cb465000000000000000000000000e111180000d2663c0091e4f400237545b87b996b" + "0" * 63 + "1"
    )
    split = encode_call("splitPosition(address,bytes32,bytes32,uint256[],uint256)", PUSD, ZERO32, COND, [1, 2], 10**6)
    assert split.hex() == (
        "72ce4275000000000000000000000000c011a7e12a19f7b1f670d46f03b03f3342e82dfb"
        + "0" * 64
        + COND[2:]
        + "00000000000000000000000000000000000000000000000000000000000000a0"
        + "00000000000000000000000000000000000000000000000000000000000f4240"
        + "0000000000000000000000000000000000000000000000000000000000000002"
        + "0000000000000000000000000000000000000000000000000000000000000001"
        + "0000000000000000000000000000000000000000000000000000000000000002"
    )
    redeem = encode_call("redeemPositions(address,bytes32,bytes32,uint256[])", PUSD, ZERO32, COND, [1, 2])
    assert redeem[:4].hex() == "01b7037c"
    assert redeem[4 + 96 : 4 + 128] == (0x80).to_bytes(32)
    assert encode_call("redeemPositions(bytes32,uint256[])", COND, [10**6, 0]).hex() == (
        "dbeccb23"
        + COND[2:]
        + "0000000000000000000000000000000000000000000000000000000000000040"
        + "0000000000000000000000000000000000000000000000000000000000000002"
        + "00000000000000000000000000000000000000000000000000000000000f4240"
        + "0" * 64
    )
    assert encode_call("wrap(address,address,uint256)", USDC_E, HARDHAT, 10**6).hex() == (
        "623556380000000000000000000000002791bca1f2de4661ed88a30c99a7a9449aa84174"
        "000000000000000000000000f39fd6e51aad88f6f4ce6ab8827279cfffb92266"
        "00000000000000000000000000000000000000000000000000000000000f4240"
    )


def test_decode_call_round_trips_and_refuses_garbage() -> None:
    data = encode_call("splitPosition(address,bytes32,bytes32,uint256[],uint256)", PUSD, ZERO32, COND, [1, 2], 7)
    call = decode_call(data)
    assert call.function.name == "splitPosition"
    assert call.args == (PUSD, ZERO32, COND, (1, 2), 7)
    with pytest.raises(MalformedMessageError, match="selector"):
        decode_call(b"\xde\xad\xbe\xef")
    with pytest.raises(MalformedMessageError):
        decode_call(data[:40])
    with pytest.raises(MalformedMessageError, match="too long"):
        decode_call(data[:4] + b"\x00" * 70_000)
    with pytest.raises(InvalidValueError):
        encode_call("approve(address,uint256)", EXCHANGE_V2, -1)
    with pytest.raises(InvalidValueError):
        encode_call("nope()")


def test_logs_round_trip_and_unknown_topics_are_skipped() -> None:
    log = encode_log(
        "PayoutRedemption",
        CTF,
        redeemer=HARDHAT,
        collateralToken=USDC_E,
        parentCollectionId=ZERO32,
        conditionId=COND,
        indexSets=[1, 2],
        payout=1_500_000,
    )
    assert len(log.topics) == 4
    decoded = decode_log(log)
    assert decoded is not None
    assert decoded.event == "PayoutRedemption"
    assert decoded.fields["payout"] == 1_500_000
    assert decoded.fields["collateralToken"] == USDC_E
    assert decode_log(ChainLog(CTF, (b"\x01" * 32,), b"")) is None
    assert decode_log(ChainLog(CTF, (), b"")) is None
    with pytest.raises(MalformedMessageError):
        decode_log(ChainLog(CTF, log.topics[:2], log.data))
    with pytest.raises(MalformedMessageError):
        decode_log(ChainLog(CTF, log.topics, log.data[:50]))
