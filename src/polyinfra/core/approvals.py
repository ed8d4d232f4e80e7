"""The approvals a wallet needs for what it wants to do on Polymarket, planned from what the chain says it has. Pure.

Each contract that moves a wallet's tokens must first be allowed to: an ERC-20 ``approve(spender, amount)``
for collateral, an ERC-1155 ``setApprovalForAll(operator, true)`` on the CTF for outcome tokens. Which
spender each operation needs is fixed by the contracts (venue notes: On chain, approvals by operation)::

    intent            ERC-20 allowance                         CTF operator
    trade standard    pUSD -> Exchange V2                      Exchange V2
    trade neg-risk    pUSD -> NegRisk Exchange V2              NegRisk Exchange V2
    split             pUSD -> the market kind's pUSD adapter   -
    merge / redeem    -                                        the market kind's pUSD adapter
    convert           -                                        the neg-risk pUSD adapter
    wrap              USDC.e -> onramp                         -
    unwrap            pUSD -> offramp                          -

Whether the CLOB also wants pUSD and CTF grants to the legacy neg-risk adapter for neg-risk trading is where
the sources disagree: the official SDK sets none, users and third parties report orders refused or settlement
reverted without them. The planner makes it a choice, ``legacy_neg_risk_adapter``, on by default because the
grants are cheap and harmless; the rows it adds are marked ``optional`` so a caller can show why.

A plan is three pure steps: :func:`required_approvals` for the intents, :func:`approval_reads` the calls
that read their current state (sent as one JSON-RPC batch), :func:`missing_approvals` from the answers.
:func:`approval_call` then encodes one grant, unlimited or of an exact amount by the caller's choice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from polyinfra.core.chain_calls import MAX_UINT256, encode_call
from polyinfra.core.chain_contracts import (
    CTF,
    CTF_COLLATERAL_ADAPTER,
    EXCHANGE_V2,
    NEG_RISK_ADAPTER,
    NEG_RISK_COLLATERAL_ADAPTER,
    NEG_RISK_EXCHANGE_V2,
    OFFRAMP,
    ONRAMP,
    PUSD,
    USDC_E,
)
from polyinfra.core.eip712 import to_checksum_address
from polyinfra.errors import InvalidValueError, MalformedMessageError

__all__ = [
    "Approval",
    "ApprovalKind",
    "Intent",
    "ReadCall",
    "approval_call",
    "approval_reads",
    "missing_approvals",
    "required_approvals",
]


class Intent(StrEnum):
    """What a wallet wants to do; each needs its own grants (module notes)."""

    TRADE = "trade"
    TRADE_NEG_RISK = "trade-neg-risk"
    SPLIT = "split"
    SPLIT_NEG_RISK = "split-neg-risk"
    MERGE = "merge"
    MERGE_NEG_RISK = "merge-neg-risk"
    REDEEM = "redeem"
    REDEEM_NEG_RISK = "redeem-neg-risk"
    CONVERT = "convert"
    WRAP = "wrap"
    UNWRAP = "unwrap"


class ApprovalKind(StrEnum):
    ERC20 = "ERC20"
    ERC1155 = "ERC1155"


@dataclass(frozen=True, slots=True)
class Approval:
    """One grant: ``token`` lets ``spender`` move the wallet's tokens; ``reason`` says which intent needs it,
    ``optional`` marks the legacy neg-risk adapter grants the sources disagree on."""

    kind: ApprovalKind
    token: str
    spender: str
    reason: str
    optional: bool = False


@dataclass(frozen=True, slots=True)
class ReadCall:
    """An ``eth_call`` reading one approval's state: to ``to`` with ``data``."""

    approval: Approval
    to: str
    data: bytes


def _erc20(token: str, spender: str, reason: str, *, optional: bool = False) -> Approval:
    return Approval(ApprovalKind.ERC20, token, spender, reason, optional)


def _ctf(operator: str, reason: str, *, optional: bool = False) -> Approval:
    return Approval(ApprovalKind.ERC1155, CTF, operator, reason, optional)


_LEGACY_REASON: Final = "neg-risk trading (legacy adapter; the sources disagree whether the CLOB checks it)"

_NEEDS: Final[dict[Intent, tuple[Approval, ...]]] = {
    Intent.TRADE: (_erc20(PUSD, EXCHANGE_V2, "buy in standard markets"), _ctf(EXCHANGE_V2, "sell in standard markets")),
    Intent.TRADE_NEG_RISK: (
        _erc20(PUSD, NEG_RISK_EXCHANGE_V2, "buy in neg-risk markets"),
        _ctf(NEG_RISK_EXCHANGE_V2, "sell in neg-risk markets"),
    ),
    Intent.SPLIT: (_erc20(PUSD, CTF_COLLATERAL_ADAPTER, "split standard markets"),),
    Intent.SPLIT_NEG_RISK: (_erc20(PUSD, NEG_RISK_COLLATERAL_ADAPTER, "split neg-risk markets"),),
    Intent.MERGE: (_ctf(CTF_COLLATERAL_ADAPTER, "merge and redeem standard markets"),),
    Intent.MERGE_NEG_RISK: (_ctf(NEG_RISK_COLLATERAL_ADAPTER, "merge, redeem and convert neg-risk markets"),),
    Intent.REDEEM: (_ctf(CTF_COLLATERAL_ADAPTER, "merge and redeem standard markets"),),
    Intent.REDEEM_NEG_RISK: (_ctf(NEG_RISK_COLLATERAL_ADAPTER, "merge, redeem and convert neg-risk markets"),),
    Intent.CONVERT: (_ctf(NEG_RISK_COLLATERAL_ADAPTER, "merge, redeem and convert neg-risk markets"),),
    Intent.WRAP: (_erc20(USDC_E, ONRAMP, "wrap USDC.e into pUSD"),),
    Intent.UNWRAP: (_erc20(PUSD, OFFRAMP, "unwrap pUSD into USDC.e"),),
}
_LEGACY: Final = (
    _erc20(PUSD, NEG_RISK_ADAPTER, _LEGACY_REASON, optional=True),
    _ctf(NEG_RISK_ADAPTER, _LEGACY_REASON, optional=True),
)


def required_approvals(intents: Iterable[Intent], *, legacy_neg_risk_adapter: bool = True) -> list[Approval]:
    """Every grant the intents need, each (token, spender) once, in a stable order (module notes)."""
    wanted = set(intents)
    found: dict[tuple[ApprovalKind, str, str], Approval] = {}
    for intent in Intent:
        if intent in wanted:
            for approval in _NEEDS[intent]:
                found.setdefault((approval.kind, approval.token, approval.spender), approval)
    if legacy_neg_risk_adapter and Intent.TRADE_NEG_RISK in wanted:
        for approval in _LEGACY:
            found.setdefault((approval.kind, approval.token, approval.spender), approval)
    return list(found.values())


def approval_reads(owner: str, approvals: Sequence[Approval]) -> list[ReadCall]:
    """The ``eth_call``s reading the current state of each grant of ``owner``, in order."""
    checksummed = to_checksum_address(owner)
    reads = []
    for approval in approvals:
        if approval.kind is ApprovalKind.ERC20:
            data = encode_call("allowance(address,address)", checksummed, approval.spender)
        else:
            data = encode_call("isApprovedForAll(address,address)", checksummed, approval.spender)
        reads.append(ReadCall(approval, approval.token, data))
    return reads


def missing_approvals(approvals: Sequence[Approval], answers: Sequence[bytes], *, at_least: int = 1) -> list[Approval]:
    """The grants whose read (the ``eth_call`` results, in the order of :func:`approval_reads`) shows them
    missing: an allowance below ``at_least`` micro-units or an operator not approved. An answer that is
    not one 32-byte word is a :class:`~polyinfra.errors.MalformedMessageError`, never read as zero: a flaky
    node must not make the planner grant or skip anything by mistake."""
    if len(answers) != len(approvals):
        raise InvalidValueError("one answer per approval read", approvals=len(approvals), answers=len(answers))
    missing = []
    for approval, answer in zip(approvals, answers, strict=True):
        if len(answer) != 32:
            raise MalformedMessageError("an approval read answers one 32-byte word", length=len(answer))
        value = int.from_bytes(answer)
        if approval.kind is ApprovalKind.ERC1155 and value > 1:
            raise MalformedMessageError("isApprovedForAll answers 0 or 1", value=value)
        if value < (at_least if approval.kind is ApprovalKind.ERC20 else 1):
            missing.append(approval)
    return missing


def approval_call(approval: Approval, *, amount_micros: int | None = None) -> tuple[str, bytes]:
    """``(to, data)`` granting ``approval``: an ERC-20 approve of ``amount_micros`` (unlimited when None),
    or ``setApprovalForAll(operator, true)``."""
    if approval.kind is ApprovalKind.ERC1155:
        return approval.token, encode_call("setApprovalForAll(address,bool)", approval.spender, True)
    amount = MAX_UINT256 if amount_micros is None else amount_micros
    if not 0 <= amount <= MAX_UINT256:
        raise InvalidValueError("an allowance is between 0 and 2**256 - 1", amount_micros=amount_micros)
    return approval.token, encode_call("approve(address,uint256)", approval.spender, amount)
