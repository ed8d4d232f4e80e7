"""The US clients the emulated token issuer knows, and the two ways to register one.

* ``POST /_emulator/us/clients`` with ``{"client_id", "public_key_pem", "scopes": [...],
  "participant_id"}`` (:class:`~polyinfra.wire.us_oauth.ClientRegistration`);
* ``polyinfra emulator --us-client SPEC``, where SPEC is comma-separated ``name=value`` pairs:
  ``id=<client id>,key=<public key PEM file>,scopes=<scope> <scope>...,participant=<participant id>``
  (``scopes`` space-separated as in OAuth, ``participant`` optional), e.g.
  ``id=firm-a,key=firm-a.pub,scopes=read:marketdata read:instruments,participant=firms/A/users/u1``.

Both are checked whole before anything is registered: a client id and scopes of printable ASCII
without spaces, at most :data:`MAX_SCOPES` scopes, and an RSA public key in PEM. Registering a
client id again replaces it (a key rotation).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Final

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from polyinfra.emulator.us.access_tokens import UsClient
from polyinfra.errors import InvalidValueError
from polyinfra.wire.us_oauth import ClientRegistration

__all__ = ["MAX_SCOPES", "UsClients", "registration_from_flag", "us_client"]

MAX_SCOPES: Final = 32
_MAX_NAME_CHARS: Final = 256
_MAX_PEM_CHARS: Final = 16_384
_FLAG_FIELDS: Final = frozenset({"id", "key", "scopes", "participant"})
_FLAG_FORM: Final = "id=<client id>,key=<public key PEM file>,scopes=<scope> <scope>...[,participant=<participant id>]"


class UsClients:
    """The registered clients, by client id."""

    def __init__(self, registrations: Iterable[ClientRegistration] = ()) -> None:
        self._clients: dict[str, UsClient] = {}
        for registration in registrations:
            self.register(registration)

    def register(self, registration: ClientRegistration) -> UsClient:
        """Add (or replace) the client ``registration`` describes; :class:`InvalidValueError` if it is not valid."""
        client = us_client(registration)
        self._clients[client.client_id] = client
        return client

    def get(self, client_id: str) -> UsClient | None:
        return self._clients.get(client_id)

    def __len__(self) -> int:
        return len(self._clients)


def us_client(registration: ClientRegistration) -> UsClient:
    """The client of a registration, every part checked."""
    client_id = _name("client_id", registration.client_id)
    if len(registration.scopes) > MAX_SCOPES:
        raise InvalidValueError(f"at most {MAX_SCOPES} scopes", field="scopes", count=len(registration.scopes))
    scopes = tuple(dict.fromkeys(_name("scopes", scope) for scope in registration.scopes))
    participant = registration.participant_id
    return UsClient(
        client_id=client_id,
        public_key=_public_key(registration.public_key_pem),
        scopes=scopes,
        participant_id=None if participant is None else _name("participant_id", participant),
    )


def _name(field: str, value: str) -> str:
    if not (0 < len(value) <= _MAX_NAME_CHARS and value.isascii() and value.isprintable() and " " not in value):
        raise InvalidValueError(
            f"{field} must be 1 to {_MAX_NAME_CHARS} printable ASCII characters without spaces", field=field
        )
    return value


def _public_key(pem: str) -> RSAPublicKey:
    key = None
    if len(pem) <= _MAX_PEM_CHARS and pem.isascii():
        try:
            key = load_pem_public_key(pem.encode())
        except (ValueError, TypeError, UnsupportedAlgorithm):
            key = None
    if not isinstance(key, RSAPublicKey):
        raise InvalidValueError(
            "public_key_pem must be an RSA public key in PEM (openssl rsa -in key.pem -pubout)", field="public_key_pem"
        )
    return key


def registration_from_flag(spec: str) -> ClientRegistration:
    """The registration a ``--us-client`` value describes (module docstring); the key file is read now."""
    fields: dict[str, str] = {}
    for part in spec.split(","):
        name, equals, value = part.partition("=")
        name = name.strip()
        if not equals or name not in _FLAG_FIELDS or name in fields:
            raise InvalidValueError(f"--us-client takes {_FLAG_FORM}", part=name[:_MAX_NAME_CHARS])
        fields[name] = value.strip()
    missing = sorted({"id", "key", "scopes"} - fields.keys())
    if missing:
        raise InvalidValueError(f"--us-client takes {_FLAG_FORM}; missing {', '.join(missing)}")
    path = Path(fields["key"])
    try:
        pem = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidValueError(
            "cannot read the --us-client public key file", path=str(path), reason=type(error).__name__
        ) from None
    return ClientRegistration(
        client_id=fields["id"],
        public_key_pem=pem,
        scopes=fields["scopes"].split(),
        participant_id=fields.get("participant") or None,
    )
