"""The approvals planner: what each intent needs, the legacy choice, and the reading of the chain's answers."""

from __future__ import annotations

import pytest

from polyinfra.core.approvals import (
    ApprovalKind,
    Intent,
    approval_call,
    approval_reads,
    missing_approvals,
    required_approvals,
)
from polyinfra.core.chain_calls import MAX_UINT256, decode_call
from polyinfra.core.chain_contracts import (
    CTF,
    CTF_COLLATERAL_ADAPTER,
    EXCHANGE_V2,
    NEG_RISK_ADAPTER,
    NEG_RISK_EXCHANGE_V2,
    ONRAMP,
    PUSD,
    USDC_E,
)
from polyinfra.errors import MalformedMessageError

OWNER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


def pairs(approvals: list) -> set[tuple[str, str, str]]:
    return {(a.kind.value, a.token, a.spender) for a in approvals}


def test_trading_needs_both_exchanges_and_the_legacy_adapter_is_explicit() -> None:
    with_legacy = required_approvals([Intent.TRADE, Intent.TRADE_NEG_RISK])
    assert pairs(with_legacy) == {
        ("ERC20", PUSD, EXCHANGE_V2),
        ("ERC1155", CTF, EXCHANGE_V2),
        ("ERC20", PUSD, NEG_RISK_EXCHANGE_V2),
        ("ERC1155", CTF, NEG_RISK_EXCHANGE_V2),
        ("ERC20", PUSD, NEG_RISK_ADAPTER),
        ("ERC1155", CTF, NEG_RISK_ADAPTER),
    }
    assert {a.spender for a in with_legacy if a.optional} == {NEG_RISK_ADAPTER}
    without = required_approvals([Intent.TRADE, Intent.TRADE_NEG_RISK], legacy_neg_risk_adapter=False)
    assert NEG_RISK_ADAPTER not in {a.spender for a in without}
    # The legacy grants belong to neg-risk trading only.
    assert NEG_RISK_ADAPTER not in {a.spender for a in required_approvals([Intent.TRADE])}


def test_operations_need_the_current_adapters_and_ramps_once_each() -> None:
    needed = required_approvals([Intent.SPLIT, Intent.MERGE, Intent.REDEEM, Intent.WRAP])
    assert pairs(needed) == {
        ("ERC20", PUSD, CTF_COLLATERAL_ADAPTER),
        ("ERC1155", CTF, CTF_COLLATERAL_ADAPTER),
        ("ERC20", USDC_E, ONRAMP),
    }


def test_reads_and_missing() -> None:
    needed = required_approvals([Intent.TRADE])
    reads = approval_reads(OWNER.lower(), needed)
    assert [decode_call(read.data).function.name for read in reads] == ["allowance", "isApprovedForAll"]
    assert decode_call(reads[0].data).args == (OWNER, EXCHANGE_V2)
    assert reads[1].to == CTF
    granted = [(10**6).to_bytes(32), (1).to_bytes(32)]
    assert missing_approvals(needed, granted) == []
    assert missing_approvals(needed, granted, at_least=2 * 10**6) == [needed[0]]
    assert missing_approvals(needed, [bytes(32), bytes(32)]) == needed
    # A malformed answer is never read as "not approved".
    with pytest.raises(MalformedMessageError):
        missing_approvals(needed, [b"", bytes(32)])
    with pytest.raises(MalformedMessageError):
        missing_approvals(needed, [bytes(32), (2).to_bytes(32)])


def test_approval_calls_exact_or_unlimited() -> None:
    erc20, erc1155 = required_approvals([Intent.TRADE])
    assert erc20.kind is ApprovalKind.ERC20
    to, data = approval_call(erc20)
    assert to == PUSD
    assert decode_call(data).args == (EXCHANGE_V2, MAX_UINT256)
    assert decode_call(approval_call(erc20, amount_micros=5_000_000)[1]).args == (EXCHANGE_V2, 5_000_000)
    to, data = approval_call(erc1155)
    assert to == CTF
    assert decode_call(data).args == (EXCHANGE_V2, True)
