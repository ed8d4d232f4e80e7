"""The emulated chain's contracts: ERC-20 ledgers, the Conditional Tokens, the pUSD adapters and ramps, in Python.

There is no EVM: each contract polyinfra calls is a handler over shared ledgers, doing what the deployed
contract does to balances, allowances, operators and payouts, and emitting the logs it emits
(:mod:`polyinfra.core.chain_events` encodes them, so the client decodes exactly these). Calldata is decoded
by :mod:`polyinfra.core.chain_calls`, the same table the client encodes with.

The ledgers are the CLOB emulator's own where the venue reads them: a wallet's pUSD, its pUSD allowances to
the exchanges and its outcome-token balances live in :class:`~polyinfra.emulator.accounts.Balances`, so an
approval, a wrap or a split on this chain is what the matching engine sees next (through the venue's
balance cache, which ``GET /balance-allowance/update`` refreshes). USDC.e, native USDC, the wrapped
collateral, other allowances, operator approvals and native POL are kept here.

Position ids: a listed market's positions over its kind's collateral (USDC.e, or WCOL for neg-risk) are its
listed token ids; any other (condition, collateral) pair gets the ids :mod:`polyinfra.core.ctf_positions`
derives, kept in a ledger of their own. So a split through the wrong adapter mints tokens nobody trades,
and a redeem over pUSD pays 0, as on the real chain. A market's payouts are what the simulator resolved it
to (``[1, 0]`` or ``[0, 1]``).

Emulator choices: the system contracts (the CTF, adapters, ramps, pUSD's vault) hold unlimited collateral,
because the emulator seeds wallets with shares that no deposit backs; every wallet starts with
:data:`SEED_NATIVE_WEI` of POL for gas.

Neg-risk conversion works on the neg-risk markets the exchange groups into an event
(:meth:`~polyinfra.emulator.exchange.Exchange.group_neg_risk_event`; any other market id reverts
``MarketNotPrepared``): the caller's NO of each question in the index set go to the burn address, and the caller
gets as many YES of every other question plus ``(m - 1) * amount`` collateral for m NOs given (pUSD through the
collateral adapters, USDC.e through the legacy adapter). The emulated events charge no conversion fee.

A call runs against a journal: a revert (:class:`Revert`) or a simulation (``commit=False``, for
``eth_call`` and ``eth_estimateGas``) undoes every write it made.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from polyinfra.core.chain_calls import MAX_UINT256, decode_call
from polyinfra.core.chain_contracts import (
    CTF,
    CTF_COLLATERAL_ADAPTER,
    CTF_COLLATERAL_ADAPTER_FIRST,
    NEG_RISK_ADAPTER,
    NEG_RISK_COLLATERAL_ADAPTER,
    NEG_RISK_COLLATERAL_ADAPTER_FIRST,
    NO_TOKEN_BURN_ADDRESS,
    OFFRAMP,
    ONRAMP,
    PUSD,
    USDC,
    USDC_E,
    WCOL,
)
from polyinfra.core.chain_events import ChainLog, encode_log
from polyinfra.core.ctf_positions import BINARY_PARTITION, binary_positions, neg_risk_question_id
from polyinfra.core.eip712 import to_checksum_address
from polyinfra.emulator.accounts import COLLATERAL, Balances
from polyinfra.emulator.exchange import Exchange
from polyinfra.errors import InvalidValueError, MalformedMessageError
from polyinfra.model.ids import ConditionId
from polyinfra.model.market import MarketInfo

__all__ = ["SEED_NATIVE_WEI", "UMA_ADAPTER", "CallOutcome", "ChainContracts", "Revert"]

SEED_NATIVE_WEI: Final = 100 * 10**18
"""POL every address starts with, for gas: 100."""
UMA_ADAPTER: Final = "0x65070BE91477460D8A7AeEb94ef92fe056C2f2A7"
"""The oracle the emulated chain names for standard markets: the UMA CTF adapter (V4) current markets use."""
_ZERO_ADDRESS: Final = "0x" + "00" * 20
_ZERO32: Final = "0x" + "00" * 32
_VAULT: Final = "0x0000000000000000000000000000000000005afe"
_TOKENS: Final = (USDC_E, USDC, PUSD, WCOL)
_STANDARD_ADAPTERS: Final = (CTF_COLLATERAL_ADAPTER, CTF_COLLATERAL_ADAPTER_FIRST)
_NEG_RISK_ADAPTERS: Final = (NEG_RISK_COLLATERAL_ADAPTER, NEG_RISK_COLLATERAL_ADAPTER_FIRST)
_SYSTEM: Final = frozenset((CTF, NEG_RISK_ADAPTER, ONRAMP, OFFRAMP, _VAULT, *_STANDARD_ADAPTERS, *_NEG_RISK_ADAPTERS))
# Execution gas per function, near the contracts' measured costs (venue notes: On chain), plus 21,000 intrinsic.
_GAS: Final = {
    "approve": 46_000,
    "setApprovalForAll": 46_000,
    "transfer": 52_000,
    "transferFrom": 60_000,
    "safeTransferFrom": 60_000,
    "wrap": 120_000,
    "unwrap": 110_000,
    "splitPosition": 220_000,
    "mergePositions": 180_000,
    "redeemPositions": 160_000,
    "convertPositions": 700_000,
}
_VIEW_GAS: Final = 30_000


@dataclass(frozen=True, slots=True)
class _Pair:
    """A binary condition's YES and NO ids over one collateral."""

    condition: str
    yes: int
    no: int
    collateral: str


_CTF_SHAPED: Final = (
    "splitPosition(address,bytes32,bytes32,uint256[],uint256)",
    "mergePositions(address,bytes32,bytes32,uint256[],uint256)",
    "redeemPositions(address,bytes32,bytes32,uint256[])",
)
_ERC1155_VIEWS: Final = ("balanceOf(address,uint256)", "balanceOfBatch(address[],uint256[])")
# The functions each emulated contract answers; any other listed selector reverts as a missing function.
_INTERFACES: Final = {
    "erc20": frozenset(
        (
            "approve(address,uint256)",
            "allowance(address,address)",
            "balanceOf(address)",
            "transfer(address,uint256)",
            "transferFrom(address,address,uint256)",
            "decimals()",
        )
    ),
    "ctf": frozenset(
        (
            *_ERC1155_VIEWS,
            *_CTF_SHAPED,
            "setApprovalForAll(address,bool)",
            "isApprovedForAll(address,address)",
            "safeTransferFrom(address,address,uint256,uint256,bytes)",
            "payoutNumerators(bytes32,uint256)",
            "payoutDenominator(bytes32)",
            "getOutcomeSlotCount(bytes32)",
        )
    ),
    "adapter": frozenset((*_CTF_SHAPED, "convertPositions(bytes32,uint256,uint256)")),
    "legacy": frozenset(
        (
            *_ERC1155_VIEWS,
            "splitPosition(bytes32,uint256)",
            "mergePositions(bytes32,uint256)",
            "redeemPositions(bytes32,uint256[])",
            "convertPositions(bytes32,uint256,uint256)",
        )
    ),
    "onramp": frozenset(("wrap(address,address,uint256)",)),
    "offramp": frozenset(("unwrap(address,address,uint256)",)),
}


def _interface(address: str) -> str | None:
    if address in _TOKENS:
        return "erc20"
    if address in _STANDARD_ADAPTERS or address in _NEG_RISK_ADAPTERS:
        return "adapter"
    return {CTF: "ctf", NEG_RISK_ADAPTER: "legacy", ONRAMP: "onramp", OFFRAMP: "offramp"}.get(address)


class Revert(Exception):  # noqa: N818 - the EVM's word; it never leaves the emulator
    """The call reverted with ``reason`` (the emulated chain answers it as the node would)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class CallOutcome:
    """What a call returned (ABI-encoded words), the logs it emitted and the gas it used."""

    output: bytes
    logs: list[ChainLog] = field(default_factory=list)
    gas_used: int = _VIEW_GAS


def _word(value: int) -> bytes:
    return value.to_bytes(32)


def _uint(value: object) -> int:
    """A decoded ``uint256`` argument (the ABI decoder answers ints for them; anything else is a bug here)."""
    if not isinstance(value, int):
        raise Revert("expected a uint256 argument")
    return value


def _position_logs(event: str, operator: str, pair: _Pair, amount: int, *, source: str, target: str) -> list[ChainLog]:
    """The CTF's logs of a split (``PositionSplit``, YES and NO minted) or a merge (burnt, ``PositionsMerge``)."""
    moved = encode_log(
        "TransferBatch",
        CTF,
        operator=operator,
        **{"from": source, "to": target},
        ids=[pair.yes, pair.no],
        values=[amount, amount],
    )
    position = encode_log(
        event,
        CTF,
        stakeholder=operator,
        collateralToken=pair.collateral,
        parentCollectionId=_ZERO32,
        conditionId=pair.condition,
        partition=list(BINARY_PARTITION),
        amount=amount,
    )
    return [position, moved] if event == "PositionSplit" else [moved, position]


class ChainContracts:
    """The contracts' state and handlers (module notes); ``call`` runs one call from ``sender``."""

    def __init__(self, exchange: Exchange, balances: Balances) -> None:
        self._exchange = exchange
        self._balances = balances
        self._erc20: dict[tuple[str, str], int] = {}
        self._allowances: dict[tuple[str, str, str], int] = {}
        self._operators: dict[tuple[str, str], bool] = {}
        self._positions: dict[tuple[str, int], int] = {}
        self._native: dict[str, int] = {}
        self._journal: list[Callable[[], None]] = []

    # --- calls ------------------------------------------------------------------------------------

    def call(self, sender: str, to: str, data: bytes, *, commit: bool) -> CallOutcome:
        """Run ``data`` against the contract at ``to`` as ``sender``; raises :class:`Revert` (state
        unchanged). With ``commit`` False nothing stays changed either way (a simulation)."""
        return self.call_batch(sender, [(to, data)], commit=commit)

    def call_batch(self, sender: str, calls: Sequence[tuple[str, bytes]], *, commit: bool) -> CallOutcome:
        """Run several calls as ``sender``, all or nothing, as a smart wallet's batch does: the logs and gas of
        them all, the output of the last; :class:`Revert` leaves the state as it was before the first."""
        self._journal = []
        try:
            outcome = CallOutcome(b"", [], 0)
            for to, data in calls:
                step = self._dispatch(to_checksum_address(sender), to_checksum_address(to), data)
                outcome = CallOutcome(step.output, outcome.logs + step.logs, outcome.gas_used + step.gas_used)
        except InvalidValueError as exc:
            # A ledger refusing a value (a balance past 2**256 - 1) is the EVM's checked-arithmetic revert.
            self._undo()
            raise Revert(f"arithmetic overflow: {exc.message}") from None
        except BaseException:
            self._undo()
            raise
        if not commit:
            self._undo()
        self._journal = []
        return outcome

    def native_balance(self, address: str) -> int:
        return self._native.get(to_checksum_address(address), SEED_NATIVE_WEI)

    def charge_gas(self, address: str, wei: int) -> None:
        """Take a mined transaction's fee from its sender (never below zero: the emulator does not refuse for gas)."""
        checksummed = to_checksum_address(address)
        self._native[checksummed] = max(0, self.native_balance(checksummed) - wei)

    def fund(self, address: str, token: str, micros: int) -> None:
        """Set ``address``'s balance of an ERC-20 ``token`` (the emulator's faucet)."""
        self._journal = []
        self._set_balance(to_checksum_address(token), to_checksum_address(address), micros)
        self._journal = []

    def is_contract(self, address: str) -> bool:
        """Whether ``address`` is one of the emulated contracts (``eth_getCode`` answers code for them)."""
        checksummed = to_checksum_address(address)
        return checksummed in _SYSTEM or checksummed in _TOKENS

    def balance_of(self, token: str, address: str) -> int:
        return self._balance(to_checksum_address(token), to_checksum_address(address))

    def payouts(self, condition: str) -> tuple[int, int] | None:
        """The reported payout numerators of a binary condition, None while unresolved or unknown."""
        info = self._listed(condition)
        if info is None:
            return None
        winner = self._exchange.winning_token(info.condition_id)
        if winner is None:
            return None
        return (1, 0) if winner == info.tokens[0].token_id else (0, 1)

    def resolution_log(self, condition: str) -> ChainLog | None:
        """The CTF's ``ConditionResolution`` of a listed market the simulator resolved, None otherwise. Its oracle
        is the neg-risk adapter for neg-risk markets and :data:`UMA_ADAPTER` for the others."""
        info, payouts = self._listed(condition), self.payouts(condition)
        if info is None or payouts is None:
            return None
        return encode_log(
            "ConditionResolution",
            CTF,
            conditionId=info.condition_id,
            oracle=NEG_RISK_ADAPTER if info.neg_risk else UMA_ADAPTER,
            questionId=self._question_id(info.condition_id),
            outcomeSlotCount=2,
            payoutNumerators=list(payouts),
        )

    def _question_id(self, condition: ConditionId) -> str:
        """The question a condition answers: for a neg-risk event's question the one its condition id is derived
        from (the market id plus its index), otherwise the listing's."""
        market = self._exchange.neg_risk_market_id(condition)
        if market is None:
            return self._exchange.listing(condition).question_id
        return neg_risk_question_id(market, self._exchange.neg_risk_questions(market).index(condition))

    def _dispatch(self, sender: str, to: str, data: bytes) -> CallOutcome:
        if not data and not self.is_contract(to):
            # A plain transfer to an account (no value is modelled): what fills a nonce gap.
            return CallOutcome(b"", [], 0)
        try:
            call = decode_call(data)
        except MalformedMessageError as exc:
            raise Revert(exc.message) from None
        name, args = call.function.name, call.args
        interface = _interface(to)
        if interface is None or call.function.signature not in _INTERFACES[interface]:
            raise Revert(f"{to} has no function {call.function.signature}")
        if to in _TOKENS:
            return self._erc20_call(to, sender, name, args)
        if to == CTF:
            return self._ctf_call(sender, name, args)
        if to in _STANDARD_ADAPTERS or to in _NEG_RISK_ADAPTERS:
            return self._adapter_call(to, sender, name, args)
        if to == NEG_RISK_ADAPTER:
            return self._legacy_adapter_call(sender, name, args)
        if to == ONRAMP:
            return self._wrap(sender, *args)
        return self._unwrap(sender, *args)

    # --- ERC-20 -----------------------------------------------------------------------------------

    def _erc20_call(self, token: str, sender: str, name: str, args: tuple[object, ...]) -> CallOutcome:
        if name == "balanceOf":
            return CallOutcome(_word(self._balance(token, str(args[0]))))
        if name == "allowance":
            return CallOutcome(_word(self._allowance(token, str(args[0]), str(args[1]))))
        if name == "decimals":
            return CallOutcome(_word(6))
        if name == "approve":
            spender, amount = str(args[0]), _uint(args[1])
            self._set_allowance(token, sender, spender, amount)
            log = encode_log("Approval", token, owner=sender, spender=spender, value=amount)
            return CallOutcome(_word(1), [log], _GAS[name])
        if name == "transfer":
            return self._transfer(token, sender, sender, str(args[0]), _uint(args[1]))
        if name == "transferFrom":
            source, target, amount = str(args[0]), str(args[1]), _uint(args[2])
            return self._transfer(token, sender, source, target, amount)
        raise Revert(f"ERC-20 has no function {name}")

    def _transfer(self, token: str, spender: str, source: str, target: str, amount: int) -> CallOutcome:
        logs = self._pull(token, spender, source, target, amount)
        return CallOutcome(_word(1), logs, _GAS["transferFrom"])

    def _pull(self, token: str, spender: str, source: str, target: str, amount: int) -> list[ChainLog]:
        """Move ``amount`` of ``token`` from ``source`` to ``target`` on ``spender``'s allowance (none
        needed when the spender is the source), as ``transferFrom`` does."""
        if spender != source:
            allowed = self._allowance(token, source, spender)
            if allowed < amount:
                raise Revert("ERC20: insufficient allowance")
            if allowed != MAX_UINT256:
                self._set_allowance(token, source, spender, allowed - amount)
        self._move(token, source, target, amount)
        return [encode_log("Transfer", token, **{"from": source, "to": target, "value": amount})]

    def _move(self, token: str, source: str, target: str, amount: int) -> None:
        if source != _ZERO_ADDRESS:
            held = self._balance(token, source)
            if source not in _SYSTEM:
                if held < amount:
                    raise Revert("ERC20: transfer amount exceeds balance")
                self._set_balance(token, source, held - amount)
        if target != _ZERO_ADDRESS:
            self._set_balance(token, target, self._balance(token, target) + amount)

    def _balance(self, token: str, owner: str) -> int:
        owner = to_checksum_address(owner)
        if token == PUSD:
            return self._balances.collateral(owner)
        return self._erc20.get((token, owner), 0)

    def _set_balance(self, token: str, owner: str, amount: int) -> None:
        if token == PUSD:
            old = self._balances.collateral(owner)
            self._balances.set_funds(owner, collateral_micros=amount)
            self._journal.append(lambda: self._balances.set_funds(owner, collateral_micros=old))
            return
        self._record(self._erc20, (token, owner))
        self._erc20[token, owner] = amount

    def _allowance(self, token: str, owner: str, spender: str) -> int:
        owner, spender = to_checksum_address(owner), to_checksum_address(spender)
        if token == PUSD and self._balances.tracks_spender(spender):
            return self._balances.on_chain(owner, COLLATERAL).allowances[spender]
        return self._allowances.get((token, owner, spender), 0)

    def _set_allowance(self, token: str, owner: str, spender: str, amount: int) -> None:
        spender = to_checksum_address(spender)
        if token == PUSD and self._balances.tracks_spender(spender):
            old = self._allowance(token, owner, spender)
            self._balances.set_funds(owner, allowances={spender: amount})
            self._journal.append(lambda: self._balances.set_funds(owner, allowances={spender: old}))
            return
        self._record(self._allowances, (token, owner, spender))
        self._allowances[token, owner, spender] = amount

    # --- Conditional Tokens (ERC-1155) ------------------------------------------------------------

    def _ctf_call(self, sender: str, name: str, args: tuple[object, ...]) -> CallOutcome:
        if name == "balanceOf":
            return CallOutcome(_word(self._position(str(args[0]), _uint(args[1]))))
        if name == "balanceOfBatch":
            return self._balance_of_batch(args)
        if name == "isApprovedForAll":
            return CallOutcome(_word(int(self._operators.get((str(args[0]), str(args[1])), False))))
        if name == "setApprovalForAll":
            operator, approved = str(args[0]), bool(args[1])
            self._record(self._operators, (sender, operator))
            self._operators[sender, operator] = approved
            log = encode_log("ApprovalForAll", CTF, owner=sender, operator=operator, approved=approved)
            return CallOutcome(b"", [log], _GAS[name])
        if name == "payoutDenominator":
            payouts = self.payouts(str(args[0]))
            return CallOutcome(_word(0 if payouts is None else sum(payouts)))
        if name == "payoutNumerators":
            payouts, index = self.payouts(str(args[0])), _uint(args[1])
            return CallOutcome(_word(0 if payouts is None or index > 1 else payouts[index]))
        if name == "getOutcomeSlotCount":
            return CallOutcome(_word(2 if self._listed(str(args[0])) else 0))
        if name == "safeTransferFrom":
            source, target = str(args[0]), str(args[1])
            token, amount = _uint(args[2]), _uint(args[3])
            if sender != source and not self._operators.get((source, sender), False):
                raise Revert("ERC1155: caller is not owner nor approved")
            self._move_position(source, target, token, amount)
            log = encode_log(
                "TransferSingle", CTF, operator=sender, **{"from": source, "to": target}, id=token, value=amount
            )
            return CallOutcome(b"", [log], _GAS[name])
        if name in {"splitPosition", "mergePositions", "redeemPositions"}:
            return self._ctf_position_call(sender, name, args)
        raise Revert(f"ConditionalTokens has no function {name}")

    def _balance_of_batch(self, args: tuple[object, ...]) -> CallOutcome:
        owners, ids = args
        assert isinstance(owners, tuple) and isinstance(ids, tuple)  # the ABI decoder answers tuples for arrays
        if len(owners) != len(ids):
            raise Revert("ERC1155: accounts and ids length mismatch")
        words = [self._position(str(owner), _uint(token)) for owner, token in zip(owners, ids, strict=True)]
        head = _word(32) + _word(len(words))
        return CallOutcome(head + b"".join(map(_word, words)))

    def _ctf_position_call(self, sender: str, name: str, args: tuple[object, ...]) -> CallOutcome:
        """The CTF's own split / merge / redeem: collateral in and out of the CTF itself (USDC.e or WCOL)."""
        collateral, parent, condition, sets = str(args[0]), str(args[1]), str(args[2]), args[3]
        if parent != _ZERO32 or sets != BINARY_PARTITION:
            raise Revert("the emulated CTF splits, merges and redeems binary conditions at the root only")
        ids = self._ids(condition, collateral)
        if name == "redeemPositions":
            payout, logs = self._redeem(sender, condition, ids, collateral=collateral, owner=sender)
            logs += self._pull(collateral, CTF, CTF, sender, payout) if payout else []
            return CallOutcome(b"", logs, _GAS[name])
        if ids is None:
            raise Revert("the emulated CTF holds positions over USDC.e and WCOL only")
        pair = _Pair(condition, *ids, collateral)
        amount = _uint(args[4])
        if name == "splitPosition":
            logs = self._pull(collateral, CTF, sender, CTF, amount)
            logs += self._mint(sender, sender, pair, amount)
        else:
            logs = self._burn(sender, sender, pair, amount)
            logs += self._pull(collateral, CTF, CTF, sender, amount)
        return CallOutcome(b"", logs, _GAS[name])

    def _mint(self, operator: str, owner: str, pair: _Pair, amount: int) -> list[ChainLog]:
        self._move_position(_ZERO_ADDRESS, owner, pair.yes, amount)
        self._move_position(_ZERO_ADDRESS, owner, pair.no, amount)
        return _position_logs("PositionSplit", operator, pair, amount, source=_ZERO_ADDRESS, target=owner)

    def _burn(self, operator: str, owner: str, pair: _Pair, amount: int) -> list[ChainLog]:
        self._move_position(owner, _ZERO_ADDRESS, pair.yes, amount)
        self._move_position(owner, _ZERO_ADDRESS, pair.no, amount)
        return _position_logs("PositionsMerge", operator, pair, amount, source=owner, target=_ZERO_ADDRESS)

    def _redeem(
        self, redeemer: str, condition: str, ids: tuple[int, int] | None, *, collateral: str, owner: str
    ) -> tuple[int, list[ChainLog]]:
        """Burn ``owner``'s whole YES and NO balances for the payouts; 0 for ids nobody holds (None)."""
        payouts = self.payouts(condition)
        if payouts is None:
            raise Revert("result for condition not received yet")
        payout = 0
        if ids is not None:
            yes, no = ids
            held_yes, held_no = self._position(owner, yes), self._position(owner, no)
            self._move_position(owner, _ZERO_ADDRESS, yes, held_yes)
            self._move_position(owner, _ZERO_ADDRESS, no, held_no)
            payout = (held_yes * payouts[0] + held_no * payouts[1]) // sum(payouts)
        log = encode_log(
            "PayoutRedemption",
            CTF,
            redeemer=redeemer,
            collateralToken=collateral,
            parentCollectionId=_ZERO32,
            conditionId=condition,
            indexSets=list(BINARY_PARTITION),
            payout=payout,
        )
        return payout, [log]

    def _ids(self, condition: str, collateral: str) -> tuple[int, int] | None:
        """The YES and NO ids of ``condition`` over ``collateral``: the listed tokens when that is the market's
        collateral, the derived ids over the other of USDC.e and WCOL, and None for any other collateral
        (pUSD above all): positions no one can hold here (module notes)."""
        info = self._listed(condition)
        if info is None:
            raise Revert("condition not prepared yet")
        collateral = to_checksum_address(collateral)
        if collateral == (WCOL if info.neg_risk else USDC_E):
            return int(info.tokens[0].token_id), int(info.tokens[1].token_id)
        if collateral not in (USDC_E, WCOL):
            return None
        positions = binary_positions(info.condition_id, neg_risk=collateral == WCOL)
        return positions.yes, positions.no

    def _listed(self, condition: str) -> MarketInfo | None:
        return self._exchange.markets.get(ConditionId(condition.lower()))

    def _position(self, owner: str, token: int) -> int:
        owner = to_checksum_address(owner)
        if self._exchange.market_of(str(token)) is not None:
            return self._balances.shares(owner, str(token))
        return self._positions.get((owner, token), 0)

    def _move_position(self, source: str, target: str, token: int, amount: int) -> None:
        for owner, delta in ((source, -amount), (target, amount)):
            if owner == _ZERO_ADDRESS:
                continue
            held = self._position(owner, token)
            if held + delta < 0:
                raise Revert("ERC1155: insufficient balance for transfer")
            self._set_position(owner, token, held + delta)

    def _set_position(self, owner: str, token: int, amount: int) -> None:
        owner = to_checksum_address(owner)
        if self._exchange.market_of(str(token)) is not None:
            old = self._balances.shares(owner, str(token))
            self._balances.set_shares(owner, str(token), amount)
            self._journal.append(lambda: self._balances.set_shares(owner, str(token), old))
            return
        self._record(self._positions, (owner, token))
        self._positions[owner, token] = amount

    # --- the pUSD collateral adapters and the legacy neg-risk adapter -----------------------------

    def _adapter_call(self, adapter: str, sender: str, name: str, args: tuple[object, ...]) -> CallOutcome:
        collateral = WCOL if adapter in _NEG_RISK_ADAPTERS else USDC_E
        if name == "convertPositions":
            return self._convert(adapter, sender, args, pays=PUSD)
        # The adapters keep the CTF's shapes but read only the condition and the amount.
        return self._settle_via(adapter, sender, name, args, self._pair(str(args[2]), collateral), pays=PUSD)

    def _legacy_adapter_call(self, sender: str, name: str, args: tuple[object, ...]) -> CallOutcome:
        if name in {"balanceOf", "balanceOfBatch"}:
            return self._ctf_call(sender, name, args)
        if name == "convertPositions":
            return self._convert(NEG_RISK_ADAPTER, sender, args, pays=USDC_E)
        return self._settle_via(NEG_RISK_ADAPTER, sender, name, args, self._pair(str(args[0]), WCOL), pays=USDC_E)

    def _pair(self, condition: str, collateral: str) -> _Pair:
        ids = self._ids(condition, collateral)
        assert ids is not None  # adapters only hold USDC.e or WCOL positions
        return _Pair(condition, *ids, collateral)

    def _settle_via(
        self, adapter: str, sender: str, name: str, args: tuple[object, ...], pair: _Pair, *, pays: str
    ) -> CallOutcome:
        """An adapter's split / merge / redeem for ``sender``, paid in and out in ``pays``."""
        if name == "splitPosition":
            amount = _uint(args[-1])
            logs = self._pull(pays, adapter, sender, adapter, amount)
            logs += self._mint(adapter, sender, pair, amount)
            return CallOutcome(b"", logs, _GAS[name])
        if not self._operators.get((sender, adapter), False):
            raise Revert("NotApprovedForAll")
        if name == "mergePositions":
            amount = _uint(args[-1])
            logs = self._burn(adapter, sender, pair, amount)
            logs += self._pull(pays, adapter, adapter, sender, amount)
            return CallOutcome(b"", logs, _GAS[name])
        ids = (pair.yes, pair.no)
        payout, logs = self._redeem(adapter, pair.condition, ids, collateral=pair.collateral, owner=sender)
        logs += self._pull(pays, adapter, adapter, sender, payout) if payout else []
        return CallOutcome(b"", logs, _GAS[name])

    def _convert(self, adapter: str, sender: str, args: tuple[object, ...], *, pays: str) -> CallOutcome:
        """``convertPositions(marketId, indexSet, amount)`` for ``sender`` (module notes), checked in the
        adapter's order: a prepared market, more than one question, an index set inside it."""
        if adapter in _STANDARD_ADAPTERS:
            raise Revert("MarketNotPrepared")  # a standard market id is no neg-risk market there
        market, index_set, amount = str(args[0]), _uint(args[1]), _uint(args[2])
        questions = self._exchange.neg_risk_questions(market)
        if not questions:
            raise Revert("MarketNotPrepared")
        if len(questions) < 2:
            raise Revert("NoConvertiblePositions")
        if index_set == 0 or index_set >= 1 << len(questions):
            raise Revert("InvalidIndexSet")
        if amount == 0:
            return CallOutcome(b"", [], _GAS["convertPositions"])
        if not self._operators.get((sender, adapter), False):
            raise Revert("NotApprovedForAll")
        given = [index for index in range(len(questions)) if index_set >> index & 1]
        logs: list[ChainLog] = []
        for index, condition in enumerate(questions):
            pair = self._pair(condition, WCOL)
            if index in given:
                self._move_position(sender, NO_TOKEN_BURN_ADDRESS, pair.no, amount)
                moved = {"from": sender, "to": NO_TOKEN_BURN_ADDRESS, "id": pair.no}
            else:
                self._move_position(_ZERO_ADDRESS, sender, pair.yes, amount)
                moved = {"from": adapter, "to": sender, "id": pair.yes}
            logs.append(encode_log("TransferSingle", CTF, operator=adapter, value=amount, **moved))
        if len(given) > 1:
            logs += self._pull(pays, adapter, adapter, sender, (len(given) - 1) * amount)
        logs.append(
            encode_log(
                "PositionsConverted",
                NEG_RISK_ADAPTER,
                stakeholder=sender if adapter == NEG_RISK_ADAPTER else adapter,
                marketId=market,
                indexSet=index_set,
                amount=amount,
            )
        )
        return CallOutcome(b"", logs, _GAS["convertPositions"])

    # --- ramps ------------------------------------------------------------------------------------

    def _wrap(self, sender: str, asset: object, to: object, amount: object) -> CallOutcome:
        asset, target, micros = to_checksum_address(str(asset)), str(to), _uint(amount)
        if asset not in (USDC_E, USDC):
            raise Revert("InvalidAsset")
        logs = self._pull(asset, ONRAMP, sender, _VAULT, micros)
        logs.append(encode_log("Wrapped", PUSD, caller=ONRAMP, asset=asset, to=target, amount=micros))
        self._move(PUSD, _ZERO_ADDRESS, target, micros)
        logs.append(encode_log("Transfer", PUSD, **{"from": _ZERO_ADDRESS, "to": target, "value": micros}))
        return CallOutcome(b"", logs, _GAS["wrap"])

    def _unwrap(self, sender: str, asset: object, to: object, amount: object) -> CallOutcome:
        asset, target, micros = to_checksum_address(str(asset)), str(to), _uint(amount)
        if asset not in (USDC_E, USDC):
            raise Revert("InvalidAsset")
        logs = self._pull(PUSD, OFFRAMP, sender, _ZERO_ADDRESS, micros)
        logs.append(encode_log("Unwrapped", PUSD, caller=OFFRAMP, asset=asset, to=target, amount=micros))
        logs += self._pull(asset, _VAULT, _VAULT, target, micros)
        return CallOutcome(b"", logs, _GAS["unwrap"])

    # --- the journal ------------------------------------------------------------------------------

    def _record(self, ledger: dict[Any, Any], key: object) -> None:
        if key in ledger:
            old = ledger[key]
            self._journal.append(lambda: ledger.__setitem__(key, old))
        else:
            self._journal.append(lambda: ledger.pop(key, None))

    def _undo(self) -> None:
        for undo in reversed(self._journal):
            undo()
        self._journal = []
