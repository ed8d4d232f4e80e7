"""Polymarket's on-chain operations from an EOA: approve, wrap and unwrap pUSD, split, merge, redeem, convert.

Each operation is planned before anything is signed (:class:`OperationPlan`): the approvals it still lacks
(read in one JSON-RPC batch through the planner of :mod:`polyinfra.core.approvals`), then its own call, each
with what it does and its estimated gas, and what the wallet's balances will show afterwards. ``dry_run``
returns the plan; otherwise its calls are sent in order by the sender (an EOA's
:class:`~polyinfra.chain.sender.TransactionSender`, one nonce each, or a smart wallet's
:class:`~polyinfra.chain.relayer.RelayerSender`, gaslessly), under the caller's ``key`` so that the same operation
asked twice is sent once.

Standard markets go through the current pUSD collateral adapter, neg-risk markets through the neg-risk one
(venue notes: On chain): split takes pUSD and gives YES and NO, merge the reverse, redeem takes the whole YES
and NO balances and pays pUSD by the payouts. A redeem before the payouts are reported is refused here with
:class:`~polyinfra.errors.ConditionNotResolvedError` (the contract would revert). After every operation that
moves balances, ``refresh`` is awaited with the outcome tokens the wallet sent or received (read from the
transactions' ERC-1155 transfer logs, so a conversion's YES of other questions count too): the CLOB reads pUSD
and each outcome token through a cache that only ``GET /balance-allowance/update`` refreshes, and freshly split
shares it has not re-read cannot be sold.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from polyinfra.chain.sender import CallSender, SentTransaction
from polyinfra.core.approvals import (
    Approval,
    ApprovalKind,
    Intent,
    approval_call,
    approval_reads,
    missing_approvals,
    required_approvals,
)
from polyinfra.core.chain_calls import encode_call
from polyinfra.core.chain_contracts import (
    CTF,
    CTF_COLLATERAL_ADAPTER,
    NEG_RISK_COLLATERAL_ADAPTER,
    OFFRAMP,
    ONRAMP,
    PUSD,
    USDC_E,
)
from polyinfra.core.ctf_positions import BINARY_PARTITION
from polyinfra.errors import ConditionNotResolvedError, InvalidValueError, MalformedMessageError, PolyinfraError
from polyinfra.model.numbers import format_micros
from polyinfra.net.json_rpc import JsonRpcClient
from polyinfra.wire.clob_rest import Market

__all__ = ["ChainOperations", "OperationPlan", "OperationResult", "PlannedCall", "RedeemCandidate"]

_ZERO32: Final = "0x" + "00" * 32


@dataclass(frozen=True, slots=True)
class PlannedCall:
    """One transaction of a plan: its target, calldata, what it does, and its gas (None while an earlier call
    of the plan must land first for it to be estimated)."""

    to: str
    data: bytes
    description: str
    gas: int | None


@dataclass(frozen=True, slots=True)
class OperationPlan:
    """What an operation will send and what it changes."""

    operation: str
    calls: tuple[PlannedCall, ...]
    changes: tuple[str, ...]

    @property
    def estimated_gas(self) -> int:
        return sum(call.gas or 0 for call in self.calls)


@dataclass(frozen=True, slots=True)
class OperationResult:
    """A plan and the transactions that carried it out (none for a dry run)."""

    plan: OperationPlan
    transactions: tuple[SentTransaction, ...]


@dataclass(frozen=True, slots=True)
class RedeemCandidate:
    """A market :meth:`ChainOperations.redeem_all` looks at: its condition, kind and the two token ids
    (the CLOB's token ids are the chain's position ids)."""

    condition_id: str
    neg_risk: bool
    yes_token: str
    no_token: str

    @classmethod
    def of(cls, market: Market) -> RedeemCandidate | None:
        """The candidate a CLOB market is, None for one still open (only a closed market can have its payouts
        reported: reading the open ones would cost reads for nothing) or not binary."""
        if not market.closed or len(market.tokens) != 2:
            return None
        return cls(market.condition_id, market.neg_risk, market.tokens[0].token_id, market.tokens[1].token_id)


@dataclass(frozen=True, slots=True)
class _Step:
    """An operation's own call: its name, the intents whose approvals it needs (with the allowance it needs),
    the call, and what it changes."""

    name: str
    intents: tuple[Intent, ...]
    needed_micros: int
    to: str
    data: bytes
    description: str
    changes: tuple[str, ...]


class ChainOperations:
    """The operations of the module notes, for the EOA of ``sender`` (or, with a
    :class:`~polyinfra.chain.relayer.RelayerSender`, its Safe, proxy or deposit wallet, gaslessly).

    ``refresh`` is awaited after balances moved, with the token ids of the outcome tokens that moved (empty when
    only pUSD did): it asks the CLOB to re-read pUSD and each of them (``GET /balance-allowance/update``);
    ``legacy_neg_risk_adapter`` chooses whether neg-risk trading approvals include the legacy adapter
    (:mod:`polyinfra.core.approvals`); ``on_progress`` hears one line per transaction as it confirms.
    """

    def __init__(
        self,
        sender: CallSender,
        rpc: JsonRpcClient,
        *,
        refresh: Callable[[tuple[str, ...]], Awaitable[None]] | None = None,
        legacy_neg_risk_adapter: bool = True,
        on_progress: Callable[[str], None] | None = None,
    ) -> None:
        self._sender = sender
        self._rpc = rpc
        self._refresh = refresh
        self._legacy = legacy_neg_risk_adapter
        self._progress = on_progress or (lambda _line: None)

    @property
    def address(self) -> str:
        return self._sender.address

    # --- approvals --------------------------------------------------------------------------------

    async def missing(self, intents: Iterable[Intent], *, at_least_micros: int = 1) -> list[Approval]:
        """The approvals ``intents`` need that the chain does not show, read in one batch."""
        needed = required_approvals(intents, legacy_neg_risk_adapter=self._legacy)
        reads = approval_reads(self.address, needed)
        answers = await self._rpc.batch([_read(read.to, read.data) for read in reads])
        return missing_approvals(needed, [_word_bytes(answer) for answer in answers], at_least=at_least_micros)

    async def approve(
        self,
        intents: Iterable[Intent],
        *,
        amount_micros: int | None = None,
        dry_run: bool = False,
        key: str | None = None,
    ) -> OperationResult:
        """Grant what ``intents`` lack: unlimited allowances, or exactly ``amount_micros`` by choice."""
        missing = await self.missing(intents, at_least_micros=amount_micros or 1)
        calls = [await self._approval_call(approval, amount_micros) for approval in missing]
        plan = OperationPlan("approve", tuple(calls), tuple(call.description for call in calls))
        return await self._run(plan, dry_run=dry_run, key=key, moves_balances=bool(calls))

    # --- pUSD -------------------------------------------------------------------------------------

    async def wrap(self, amount_micros: int, *, dry_run: bool = False, key: str | None = None) -> OperationResult:
        """USDC.e into pUSD through the onramp (approving the onramp first if needed)."""
        _positive(amount_micros)
        data = encode_call("wrap(address,address,uint256)", USDC_E, self.address, amount_micros)
        amount = format_micros(amount_micros)
        return await self._operation(
            _Step(
                "wrap",
                (Intent.WRAP,),
                amount_micros,
                ONRAMP,
                data,
                f"wrap {amount} USDC.e into pUSD",
                (f"USDC.e -{amount}", f"pUSD +{amount}"),
            ),
            dry_run=dry_run,
            key=key,
        )

    async def unwrap(self, amount_micros: int, *, dry_run: bool = False, key: str | None = None) -> OperationResult:
        """pUSD back into USDC.e through the offramp."""
        _positive(amount_micros)
        data = encode_call("unwrap(address,address,uint256)", USDC_E, self.address, amount_micros)
        amount = format_micros(amount_micros)
        return await self._operation(
            _Step(
                "unwrap",
                (Intent.UNWRAP,),
                amount_micros,
                OFFRAMP,
                data,
                f"unwrap {amount} pUSD into USDC.e",
                (f"pUSD -{amount}", f"USDC.e +{amount}"),
            ),
            dry_run=dry_run,
            key=key,
        )

    # --- positions --------------------------------------------------------------------------------

    async def split(
        self, condition_id: str, amount_micros: int, *, neg_risk: bool, dry_run: bool = False, key: str | None = None
    ) -> OperationResult:
        """pUSD into as many YES and NO shares of the market."""
        _positive(amount_micros)
        data = _adapter_call("splitPosition(address,bytes32,bytes32,uint256[],uint256)", condition_id, amount_micros)
        amount = format_micros(amount_micros)
        intent = Intent.SPLIT_NEG_RISK if neg_risk else Intent.SPLIT
        return await self._operation(
            _Step(
                "split",
                (intent,),
                amount_micros,
                _adapter(neg_risk),
                data,
                f"split {amount} pUSD into YES and NO",
                (f"pUSD -{amount}", f"YES +{amount}", f"NO +{amount}"),
            ),
            dry_run=dry_run,
            key=key,
        )

    async def merge(
        self, condition_id: str, amount_micros: int, *, neg_risk: bool, dry_run: bool = False, key: str | None = None
    ) -> OperationResult:
        """As many YES and NO shares back into pUSD."""
        _positive(amount_micros)
        data = _adapter_call("mergePositions(address,bytes32,bytes32,uint256[],uint256)", condition_id, amount_micros)
        amount = format_micros(amount_micros)
        intent = Intent.MERGE_NEG_RISK if neg_risk else Intent.MERGE
        return await self._operation(
            _Step(
                "merge",
                (intent,),
                1,
                _adapter(neg_risk),
                data,
                f"merge {amount} YES and NO into pUSD",
                (f"YES -{amount}", f"NO -{amount}", f"pUSD +{amount}"),
            ),
            dry_run=dry_run,
            key=key,
        )

    async def redeem(
        self, condition_id: str, *, neg_risk: bool, dry_run: bool = False, key: str | None = None
    ) -> OperationResult:
        """The whole YES and NO balances of a resolved market into pUSD by its payouts."""
        if await self._payout_denominator(condition_id) == 0:
            raise ConditionNotResolvedError(
                "the market's payouts are not reported yet: nothing can be redeemed", condition_id=condition_id
            )
        data = encode_call(
            "redeemPositions(address,bytes32,bytes32,uint256[])", PUSD, _ZERO32, condition_id, list(BINARY_PARTITION)
        )
        intent = Intent.REDEEM_NEG_RISK if neg_risk else Intent.REDEEM
        return await self._operation(
            _Step(
                "redeem",
                (intent,),
                1,
                _adapter(neg_risk),
                data,
                f"redeem every YES and NO of {condition_id[:10]}…",
                ("YES and NO -all", "pUSD +payout"),
            ),
            dry_run=dry_run,
            key=key,
        )

    async def convert(
        self, market_id: str, index_set: int, amount_micros: int, *, dry_run: bool = False, key: str | None = None
    ) -> OperationResult:
        """Give up ``amount`` NO of each neg-risk question in ``index_set`` (a bitmask) for YES of the others and
        pUSD, net of the market's fee."""
        _positive(amount_micros)
        if index_set <= 0:
            raise InvalidValueError("index_set names at least one question's NO", index_set=index_set)
        data = encode_call("convertPositions(bytes32,uint256,uint256)", market_id, index_set, amount_micros)
        amount = format_micros(amount_micros)
        return await self._operation(
            _Step(
                "convert",
                (Intent.CONVERT,),
                1,
                NEG_RISK_COLLATERAL_ADAPTER,
                data,
                f"convert {amount} NO of questions {index_set:#b}",
                (f"NO -{amount} each", "YES and pUSD +"),
            ),
            dry_run=dry_run,
            key=key,
        )

    async def redeem_all(
        self, candidates: Sequence[RedeemCandidate], *, dry_run: bool = False, key: str | None = None
    ) -> list[OperationResult]:
        """Redeem every candidate market that is resolved and where the wallet holds shares: payouts and
        balances are read in one batch first, so unresolved or empty markets cost nothing."""
        reads: list[tuple[str, Sequence[object]]] = []
        for candidate in candidates:
            reads.append(_read(CTF, encode_call("payoutDenominator(bytes32)", candidate.condition_id)))
            for token in (candidate.yes_token, candidate.no_token):
                reads.append(_read(CTF, encode_call("balanceOf(address,uint256)", self.address, int(token))))
        answers = [int.from_bytes(_word_bytes(answer)) for answer in await self._rpc.batch(reads)] if reads else []
        results = []
        for index, candidate in enumerate(candidates):
            denominator, yes, no = answers[3 * index : 3 * index + 3]
            if denominator == 0 or yes + no == 0:
                continue
            sub_key = None if key is None else f"{key}:{candidate.condition_id}"
            results.append(
                await self.redeem(candidate.condition_id, neg_risk=candidate.neg_risk, dry_run=dry_run, key=sub_key)
            )
        return results

    # --- internals --------------------------------------------------------------------------------

    async def _operation(self, step: _Step, *, dry_run: bool, key: str | None) -> OperationResult:
        missing = await self.missing(step.intents, at_least_micros=step.needed_micros)
        calls = [await self._approval_call(approval, None) for approval in missing]
        gas = None if calls else await self._sender.estimate_gas(step.to, step.data)
        calls.append(PlannedCall(step.to, step.data, step.description, gas))
        plan = OperationPlan(step.name, tuple(calls), step.changes)
        return await self._run(plan, dry_run=dry_run, key=key, moves_balances=True)

    async def _approval_call(self, approval: Approval, amount_micros: int | None) -> PlannedCall:
        to, data = approval_call(approval, amount_micros=amount_micros)
        if approval.kind is ApprovalKind.ERC20:
            amount = "unlimited" if amount_micros is None else format_micros(amount_micros)
            what = f"approve {amount} {_token_name(approval.token)} to {approval.spender} ({approval.reason})"
        else:
            what = f"let {approval.spender} move outcome tokens ({approval.reason})"
        return PlannedCall(to, data, what, await self._sender.estimate_gas(to, data))

    async def _run(
        self, plan: OperationPlan, *, dry_run: bool, key: str | None, moves_balances: bool
    ) -> OperationResult:
        if dry_run:
            return OperationResult(plan, ())
        sent = []
        for index, call in enumerate(plan.calls, start=1):
            self._progress(f"[{index}/{len(plan.calls)}] {call.description}: confirming…")
            sub_key = None if key is None else f"{key}:{index}"
            transaction = await self._sender.send(call.to, call.data, key=sub_key)
            self._progress(f"[{index}/{len(plan.calls)}] {call.description}: mined in block {transaction.block_number}")
            sent.append(transaction)
        if moves_balances and sent and self._refresh is not None:
            await self._refresh(_outcome_tokens_moved(self.address, sent))
        return OperationResult(plan, tuple(sent))

    async def _payout_denominator(self, condition_id: str) -> int:
        method, params = _read(CTF, encode_call("payoutDenominator(bytes32)", condition_id))
        answer = await self._rpc.call(method, *params)
        return int.from_bytes(_word_bytes(answer))


def _outcome_tokens_moved(wallet: str, sent: Iterable[SentTransaction]) -> tuple[str, ...]:
    """The ids (decimal, as the CLOB names tokens) of the ERC-1155 tokens ``wallet`` sent or received in
    ``sent``, in first-seen order."""
    moved: dict[str, None] = {}
    for transaction in sent:
        for event in transaction.events:
            fields = event.fields
            if event.event not in {"TransferSingle", "TransferBatch"} or wallet not in (fields["from"], fields["to"]):
                continue
            ids = fields["ids"] if event.event == "TransferBatch" else (fields["id"],)
            assert isinstance(ids, tuple | list)  # the log decoder answers arrays as sequences
            moved.update((str(token), None) for token in ids)
    return tuple(moved)


def _adapter_call(signature: str, condition_id: str, amount_micros: int) -> bytes:
    # The adapters read only the condition and the amount; the CTF's other arguments are passed as the SDK does.
    return encode_call(signature, PUSD, _ZERO32, condition_id, list(BINARY_PARTITION), amount_micros)


def _adapter(neg_risk: bool) -> str:
    return NEG_RISK_COLLATERAL_ADAPTER if neg_risk else CTF_COLLATERAL_ADAPTER


def _read(to: str, data: bytes) -> tuple[str, tuple[object, ...]]:
    """An ``eth_call`` of ``data`` at ``to`` on the latest block, as a JSON-RPC method and params."""
    return "eth_call", ({"to": to, "data": "0x" + data.hex()}, "latest")


def _token_name(token: str) -> str:
    return {PUSD: "pUSD", USDC_E: "USDC.e"}.get(token, token)


def _positive(amount_micros: int) -> None:
    if isinstance(amount_micros, bool) or not isinstance(amount_micros, int) or amount_micros <= 0:
        raise InvalidValueError("an amount is a positive number of micro-units", amount_micros=amount_micros)


def _word_bytes(answer: object) -> bytes:
    """One ``eth_call`` answer as bytes; an error answer is raised, never read as zero (venue notes: On chain)."""
    if isinstance(answer, PolyinfraError):
        raise answer
    if not isinstance(answer, str) or not answer.startswith("0x"):
        raise MalformedMessageError("an eth_call answers 0x-prefixed hex", answer=answer)
    try:
        return bytes.fromhex(answer[2:])
    except ValueError:
        raise MalformedMessageError("an eth_call answers 0x-prefixed hex", answer=answer) from None
