"""Shared steps of the US auth tests: a manual clock, RSA keys, the client's registration and a
token manager reading the emulator's time-scaled US clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from polyinfra.emulator.runner import Emulator
from polyinfra.obs.redaction import Secret
from polyinfra.us.token_manager import TokenManager, token_endpoint_transport
from polyinfra.wire.us_oauth import ClientRegistration

CLIENT_ID = "polyinfra-test-firm"
PARTICIPANT = "firms/polyinfra-test/users/trader-1"
SCOPES = ["read:marketdata", "read:instruments"]
START_S = 1_800_000_000.0
TIME_SCALE = 100.0
CYCLES = 1_800
"""Token lifetimes the refresh tests run through (time-scaled)."""


class ManualClock:
    """Unix seconds that move only when a test moves them."""

    def __init__(self, now_s: float = START_S) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        self.now_s += seconds


class Keys:
    """Two RSA key pairs: the client's registered one and a stranger's. Its repr shows no key."""

    def __init__(self) -> None:
        self.client = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def __repr__(self) -> str:
        return "Keys(client, stranger)"


def private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def registration(keys: Keys, scopes: list[str] = SCOPES) -> ClientRegistration:
    return ClientRegistration(
        client_id=CLIENT_ID, public_key_pem=public_pem(keys.client), scopes=scopes, participant_id=PARTICIPANT
    )


EmulatorFactory = Callable[..., Awaitable[Emulator]]


@asynccontextmanager
async def token_manager(
    emulator: Emulator, base: ManualClock, private_key: rsa.RSAPrivateKey | Secret, **options: Any
) -> AsyncIterator[TokenManager]:
    url = emulator.urls["us_token"]
    async with token_endpoint_transport(url, clock=base) as transport:
        settings: dict[str, Any] = {"participant_id": PARTICIPANT, "clock_s": emulator.us_tokens.clock} | options
        async with TokenManager(
            client_id=CLIENT_ID, private_key=private_key, token_url=url, transport=transport, **settings
        ) as manager:
            yield manager


def seconds_at_scale(emulated_s: float) -> float:
    """Base-clock seconds for ``emulated_s`` of the emulator's US clock."""
    return emulated_s / TIME_SCALE
