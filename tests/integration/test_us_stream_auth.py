"""US exchange auth under live market data: UsLiveBooks and UsExchangeClient with a TokenManager
against an emulator that checks every gRPC call's token and scope (``us_require_auth``).

Time is a manual clock: the emulator's US clock runs on it at :data:`TIME_SCALE`, the token manager
reads that clock, so a 3-minute token lifetime passes when the test says so and never by luck.
The books' silence watchdog keeps its own (wall) clock: heartbeats come every 50 ms. Chaos with
tokens that expire early is in test_us_live_books.py, beside the chaos without tokens.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from polyinfra.core.us_auth import REFRESH_MARGIN_S
from polyinfra.emulator.runner import Emulator
from polyinfra.errors import GrpcAuthError, GrpcUnavailableError, MissingScopeError
from polyinfra.model.events import BookEvent, SyncState, SyncStateChanged
from polyinfra.obs.redaction import SecretScanner
from polyinfra.us.client import UsExchangeClient
from polyinfra.us.live_books import UsLiveBooks
from polyinfra.us.token_manager import TokenManager
from tests.conftest import GATE_FRAGMENT_CHARS
from tests.integration.cli_steps import run_polyinfra
from tests.integration.us_auth_steps import (
    CLIENT_ID,
    CYCLES,
    PARTICIPANT,
    TIME_SCALE,
    EmulatorFactory,
    Keys,
    ManualClock,
    private_pem,
    registration,
    seconds_at_scale,
    token_manager,
)
from tests.integration.us_market_data_steps import converged, until
from tests.traceback_locals import secrets_in_traceback_locals

TOKEN_LIFETIME_S = 180.0
DEPTH = 5
KC = "tec-nfl-sbw-2026-02-08-kc"
FAST = {"reconnect_initial_s": 0.01, "reconnect_max_s": 0.1}
# How far each cycle moves the US clock: into the refresh margin of the current token, so the
# next token() mints its successor; the old token is still valid at the venue (refreshed early).
CYCLE_S = TOKEN_LIFETIME_S - REFRESH_MARGIN_S + 1


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()


async def authenticated_emulator(
    emulator_factory: EmulatorFactory, keys: Keys, base: ManualClock, scopes: list[str] | None = None, **knobs: float
) -> Emulator:
    emulator = await emulator_factory(
        markets=1,
        us_markets=12,
        us_require_auth=True,
        us_clients=[registration(keys) if scopes is None else registration(keys, scopes)],
        us_clock_s=base,
    )
    emulator.us_tokens.update_knobs({"time_scale": TIME_SCALE, **knobs})
    emulator.us_market_data_faults.heartbeat_interval_s = 0.05
    return emulator


def symbols_of(emulator: Emulator) -> list[str]:
    return [instrument.symbol for instrument in emulator.us_market.instruments]


async def started(
    emulator_factory: EmulatorFactory, keys: Keys, **knobs: float
) -> tuple[ManualClock, Emulator, list[str]]:
    """The manual clock, an emulator checking tokens on it, and the emulator's symbols."""
    base = ManualClock()
    emulator = await authenticated_emulator(emulator_factory, keys, base, **knobs)
    return base, emulator, symbols_of(emulator)


@asynccontextmanager
async def live_books(emulator: Emulator, tokens: TokenManager) -> AsyncIterator[tuple[UsLiveBooks, list[BookEvent]]]:
    events: list[BookEvent] = []
    async with UsLiveBooks(emulator.urls["grpc"], insecure=True, tokens=tokens, depth=DEPTH, **FAST) as books:
        books.add_listener(events.append)
        await books.subscribe(symbols_of(emulator))
        assert await books.wait_until_live(timeout_s=60)
        yield books, events


def went_stale(events: list[BookEvent]) -> list[SyncStateChanged]:
    return [event for event in events if isinstance(event, SyncStateChanged) and event.new is SyncState.STALE]


async def test_the_emulator_refuses_market_data_and_reference_data_without_a_token(
    emulator_factory: EmulatorFactory, keys: Keys
) -> None:
    emulator = await authenticated_emulator(emulator_factory, keys, ManualClock())
    async with UsExchangeClient(emulator.urls["grpc"], insecure=True) as exchange:
        assert await exchange.health() == "ok"  # health stays open, as at the venue
        with pytest.raises(GrpcAuthError) as refused:
            await exchange.symbols()
    assert refused.value.context["code"] == "UNAUTHENTICATED"


async def test_1800_refreshes_under_a_live_stream_never_interrupt_it(
    emulator_factory: EmulatorFactory, keys: Keys
) -> None:
    base, emulator, symbols = await started(emulator_factory, keys)
    async with (
        token_manager(emulator, base, keys.client) as tokens,
        live_books(emulator, tokens) as (books, events),
        UsExchangeClient(emulator.urls["grpc"], insecure=True, tokens=tokens) as exchange,
    ):
        opening_token = tokens.current
        for cycle in range(CYCLES):
            base.advance(seconds_at_scale(CYCLE_S))
            await tokens.token()
            emulator.us_market.step()
            if cycle % 100 == 0:
                # A unary call of the same manager between refreshes: always the fresh token.
                assert await exchange.symbols() == symbols
        # The stream's own token lapsed long ago: the venue checks a token when a call opens.
        assert opening_token is not None and opening_token.remaining_s(emulator.us_tokens.clock()) < -1_000
        await converged(books, emulator, symbols, DEPTH)
        stats = books.stats()
    assert tokens.stats.refreshes == CYCLES + 1 and tokens.stats.replacements == 0
    assert emulator.us_tokens.stats.issued == CYCLES + 1
    assert (stats.reconnects, stats.last_stream_error, stats.subscription_errors) == (0, None, {})
    assert went_stale(events) == [] and books.stream_failure is None
    assert stats.messages["update"] > len(symbols)


async def test_a_token_that_expires_early_under_a_live_stream_is_replaced_once_on_reconnect(
    emulator_factory: EmulatorFactory, keys: Keys
) -> None:
    base, emulator, symbols = await started(emulator_factory, keys, early_expiry_s=60)
    async with token_manager(emulator, base, keys.client) as tokens, live_books(emulator, tokens) as (books, events):
        first = tokens.current
        # 140 s into its life: 40 s left by the manager's count, expired by the venue's.
        base.advance(seconds_at_scale(140))
        for _ in range(50):
            emulator.us_market.step()
        await converged(books, emulator, symbols, DEPTH)
        assert books.stats().reconnects == 0  # the live stream did not notice
        # The reconnect opens with the refused token, then once with its replacement.
        assert emulator.us_market_data.drop_all() == 1
        await until(lambda: books.stats().reconnects == 2, "the reconnect, refused once and opened again")
        assert await books.wait_until_live(timeout_s=60)
        for _ in range(50):
            emulator.us_market.step()
        await converged(books, emulator, symbols, DEPTH)
        second = tokens.current
    assert first is not None and second is not None and second.value != first.value
    assert (tokens.stats.replacements, emulator.us_tokens.stats.issued) == (1, 2)
    # The one failure seen is the drop; the refused token never surfaced.
    assert isinstance(books.stream_failure, GrpcUnavailableError)
    assert {event.token_id for event in went_stale(events)} == set(symbols)  # the drop, once each


async def test_a_token_that_lapses_during_a_reconnect_is_minted_anew(
    emulator_factory: EmulatorFactory, keys: Keys
) -> None:
    base, emulator, symbols = await started(emulator_factory, keys)
    async with token_manager(emulator, base, keys.client) as tokens, live_books(emulator, tokens) as (books, _):
        base.advance(seconds_at_scale(TOKEN_LIFETIME_S + 60))
        assert emulator.us_market_data.drop_all() == 1
        await until(lambda: books.stats().reconnects >= 1, "the reconnect")
        assert await books.wait_until_live(timeout_s=60)
        for _ in range(50):
            emulator.us_market.step()
        await converged(books, emulator, symbols, DEPTH)
    assert (tokens.stats.refreshes, tokens.stats.replacements) == (2, 0)
    assert books.stats().reconnects == 1 and isinstance(books.stream_failure, GrpcUnavailableError)


async def test_a_missing_market_data_scope_is_the_typed_error_naming_it(
    emulator_factory: EmulatorFactory, keys: Keys
) -> None:
    base = ManualClock()
    emulator = await authenticated_emulator(emulator_factory, keys, base, scopes=["read:instruments"])
    symbol = symbols_of(emulator)[0]
    async with (
        token_manager(emulator, base, keys.client) as tokens,
        UsLiveBooks(emulator.urls["grpc"], insecure=True, tokens=tokens, **FAST) as books,
    ):
        with pytest.raises(MissingScopeError) as refused:
            await books.snapshot([symbol])
        await books.subscribe([symbol])  # reference data is granted
        await until(lambda: books.stream_failure is not None, "the stream refused")
        failure = books.stream_failure
        assert books.state(symbol) is not SyncState.LIVE
        token = tokens.current
    assert refused.value.context["scope"] == "read:marketdata"
    assert isinstance(failure, MissingScopeError) and failure.context["scope"] == "read:marketdata"
    assert tokens.stats.replacements == 0
    # What an error tracker would record of either error holds no token.
    assert token is not None
    scanner = SecretScanner({"token": token.value.reveal()}, fragment_chars=GATE_FRAGMENT_CHARS)
    assert secrets_in_traceback_locals(refused.value, scanner) == []
    assert secrets_in_traceback_locals(failure, scanner) == []


async def test_a_missing_reference_data_scope_leaves_no_token_in_traceback_locals(
    emulator_factory: EmulatorFactory, keys: Keys
) -> None:
    base = ManualClock()
    emulator = await authenticated_emulator(emulator_factory, keys, base, scopes=["read:marketdata"])
    async with (
        token_manager(emulator, base, keys.client) as tokens,
        UsExchangeClient(emulator.urls["grpc"], insecure=True, tokens=tokens) as exchange,
    ):
        with pytest.raises(MissingScopeError) as refused:
            await exchange.symbols()
        token = tokens.current
    assert refused.value.context["scope"] == "read:instruments"
    assert token is not None
    scanner = SecretScanner({"token": token.value.reveal()}, fragment_chars=GATE_FRAGMENT_CHARS)
    assert secrets_in_traceback_locals(refused.value, scanner) == []


# --- the command line ------------------------------------------------------------------------------------


def credentials_environment(key_file: Path) -> dict[str, str]:
    return without_credentials() | {
        "POLYINFRA_US_CLIENT_ID": CLIENT_ID,
        "POLYINFRA_US_PRIVATE_KEY_FILE": str(key_file),
        "POLYINFRA_US_PARTICIPANT_ID": PARTICIPANT,
    }


def without_credentials() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if not name.startswith("POLYINFRA_US_")}


async def test_us_instruments_and_watch_authenticate_with_the_environments_credentials(
    emulator_factory: EmulatorFactory, keys: Keys, tmp_path: Path
) -> None:
    emulator = await emulator_factory(markets=1, us_require_auth=True, us_clients=[registration(keys)])
    key_file = tmp_path / "us-key.pem"
    key_file.write_text(private_pem(keys.client))
    where = ("--grpc", emulator.urls["grpc"], "--insecure", "--token-url", emulator.urls["us_token"])
    code, out, err = await run_polyinfra("us", "instruments", *where, "--json", env=credentials_environment(key_file))
    assert code == 0, err
    listed = {json.loads(line)["symbol"] for line in out.splitlines()}
    assert listed == set(symbols_of(emulator))
    code, out, err = await run_polyinfra(
        "us", "watch", *where, "--symbols", KC, "--jsonl", "--duration", "1", env=credentials_environment(key_file)
    )
    assert code == 0, err
    assert json.loads(out.splitlines()[-1])["sync_state"] == "live"
    assert emulator.us_tokens.stats.issued == 2  # one token per command
    assert "eyJ" not in out + err  # no JWT: neither the token nor the assertion
    code, _, err = await run_polyinfra("us", "instruments", *where, env=without_credentials())
    assert code == 1 and "UNAUTHENTICATED" in err
    half = without_credentials() | {"POLYINFRA_US_CLIENT_ID": CLIENT_ID}
    code, _, err = await run_polyinfra("us", "instruments", *where, env=half)
    assert code == 2 and "POLYINFRA_US_PRIVATE_KEY_FILE" in err  # a usage error


async def test_protos_diff_and_reflection_send_the_token_and_say_when_one_is_needed(
    emulator_factory: EmulatorFactory, keys: Keys, tmp_path: Path
) -> None:
    # The emulator started as with --us-require-auth: reflection needs a valid token there.
    emulator = await emulator_factory(markets=1, us_require_auth=True, us_clients=[registration(keys)])
    target = emulator.urls["grpc"]
    key_file = tmp_path / "us-key.pem"
    key_file.write_text(private_pem(keys.client))
    diff = ("us", "protos", "diff", "--grpc", target, "--insecure", "--token-url", emulator.urls["us_token"])
    code, out, err = await run_polyinfra(*diff, env=without_credentials())
    assert code == 1 and out == ""
    assert "needs an access token and none is configured" in err and "POLYINFRA_US_CLIENT_ID" in err
    code, out, err = await run_polyinfra(*diff, env=credentials_environment(key_file))
    assert (code, out) == (0, ""), err
    assert err.strip() == f"0 differences from polyinfra's protos (reflection at {target})"
    assert "eyJ" not in out + err


async def test_reflection_is_an_authenticated_call_like_the_others(
    emulator_factory: EmulatorFactory, keys: Keys
) -> None:
    base = ManualClock()
    emulator = await authenticated_emulator(emulator_factory, keys, base)
    target = emulator.urls["grpc"]
    async with (
        token_manager(emulator, base, keys.client) as tokens,
        UsExchangeClient(target, insecure=True, tokens=tokens, protos="reflection") as exchange,
    ):
        assert [instrument.symbol for instrument in await exchange.instruments([KC])] == [KC]
        assert await exchange.protos() is not None
    async with UsExchangeClient(target, insecure=True, protos="reflection") as exchange:
        with pytest.raises(GrpcAuthError, match="none is configured") as refused:
            await exchange.instruments([KC])
    assert refused.value.context["code"] == "UNAUTHENTICATED" and "tokens=" in refused.value.context["hint"]
