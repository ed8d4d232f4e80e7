"""Hostile conversions into the emulated neg-risk adapters: any market id, index set and amount either reverts
(state untouched) or moves exactly what the adapter's rule says, never more; the call never escapes untyped."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from polyinfra.core.chain_calls import encode_call
from polyinfra.core.chain_contracts import CTF, NEG_RISK_ADAPTER, NEG_RISK_COLLATERAL_ADAPTER, PUSD, USDC_E
from polyinfra.emulator.accounts import Balances
from polyinfra.emulator.chain.contracts import ChainContracts, Revert
from polyinfra.emulator.exchange import Exchange
from polyinfra.emulator.simulator import generate_neg_risk_event

EVENT = generate_neg_risk_event(3, seed=4)
HOLDER = "0x00000000000000000000000000000000000000aa"


def contracts() -> ChainContracts:
    exchange = Exchange(list(EVENT.questions), clock_ms=lambda: 1_700_000_000_000)
    exchange.group_neg_risk_event(EVENT.market_id, [info.condition_id for info in EVENT.questions])
    chain = ChainContracts(exchange, Balances([]))
    for adapter in (NEG_RISK_ADAPTER, NEG_RISK_COLLATERAL_ADAPTER):
        chain.call(HOLDER, CTF, encode_call("setApprovalForAll(address,bool)", adapter, True), commit=True)
    return chain


def holdings(chain: ChainContracts) -> list[int]:
    tokens = [int(token.token_id) for info in EVENT.questions for token in info.tokens]
    call = encode_call("balanceOfBatch(address[],uint256[])", [HOLDER] * len(tokens), tokens)
    words = chain.call(HOLDER, CTF, call, commit=False).output[64:]
    return [int.from_bytes(words[index : index + 32]) for index in range(0, len(words), 32)]


@given(
    market=st.sampled_from([EVENT.market_id, "0x" + "00" * 32])
    | st.binary(min_size=32, max_size=32).map(lambda raw: "0x" + raw.hex()),
    index_set=st.integers(0, 16) | st.integers(0, 2**256 - 1),
    amount=st.integers(0, 2 * 10**9) | st.integers(0, 2**256 - 1),  # seeded holdings: 10**9 each
    legacy=st.booleans(),
)
def test_convert_reverts_or_moves_exactly(market: str, index_set: int, amount: int, legacy: bool) -> None:
    chain = contracts()
    adapter, pays = (NEG_RISK_ADAPTER, USDC_E) if legacy else (NEG_RISK_COLLATERAL_ADAPTER, PUSD)
    before, paid_before = holdings(chain), chain.balance_of(pays, HOLDER)
    data = encode_call("convertPositions(bytes32,uint256,uint256)", market, index_set, amount)
    try:
        chain.call(HOLDER, adapter, data, commit=True)
    except Revert:
        assert holdings(chain) == before and chain.balance_of(pays, HOLDER) == paid_before
        return
    given_up = [index for index in range(3) if index_set >> index & 1]
    after = holdings(chain)
    for index in range(3):
        yes, no = 2 * index, 2 * index + 1
        assert after[no] == before[no] - (amount if index in given_up else 0)
        assert after[yes] == before[yes] + (0 if index in given_up else amount)
    assert chain.balance_of(pays, HOLDER) == paid_before + max(len(given_up) - 1, 0) * amount
