"""The emulated US exchange token endpoint, on the emulator's REST port.

Routes:

* ``POST /oauth/token``: the client-credentials exchange (venue notes: US exchange token endpoint).
  The body is JSON or form-encoded (either ``Content-Type``); the assertion is checked by
  :func:`~polyinfra.emulator.us.access_tokens.check_assertion` and a refusal is answered from
  :data:`~polyinfra.core.us_auth.OAUTH_REFUSALS`, the one table the client reads its errors from.
  A granted answer is ``{"access_token", "token_type": "Bearer", "expires_in"}``;
* ``POST /_emulator/us/clients``: register a client (:mod:`polyinfra.emulator.us.clients`),
  answered ``{"client_id", "scopes", "participant_id"}`` or 400 ``{"error": ...}``;
* ``GET /_emulator/us/auth`` and ``POST /_emulator/us/auth`` with a JSON object of knobs to change
  (all-or-nothing): the knobs (:class:`UsAuthKnobs`) and counters.

Time: the endpoint's clock (:class:`UsClock`) is ``base_clock_s`` (wall time by default, injectable)
run ``time_scale`` times faster from the moment the scale was set, so that tokens of 180 emulated
seconds pass in 1.8 real seconds at scale 100 and tests can run thousands of token lifetimes. A
client under a time scale must read time from the same clock (:attr:`UsTokenEndpoint.clock`).

Spent ``jti`` values are kept per client until their assertion's ``exp`` has passed (after which
the assertion is refused as expired anyway), so the memory is bounded by the assertions of the
last 5 minutes.
"""

from __future__ import annotations

import dataclasses
import math
import secrets
import time
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import ClassVar, Final

import msgspec
from aiohttp import web

from polyinfra.core.us_auth import OAUTH_REFUSALS, AssertionFault
from polyinfra.emulator.knobs import KnobValidator, ValidatedKnobs
from polyinfra.emulator.us.access_tokens import (
    AcceptedAudience,
    AccessGrant,
    check_assertion,
    issue_access_token,
    verify_access_token,
)
from polyinfra.emulator.us.clients import UsClients
from polyinfra.errors import InvalidValueError, MalformedMessageError
from polyinfra.obs.redaction import Secret
from polyinfra.wire.json_decoding import JsonDecoder
from polyinfra.wire.us_oauth import (
    CLIENT_ASSERTION_TYPE,
    CLIENT_CREDENTIALS_GRANT,
    CLIENT_REGISTRATION,
    MAX_OAUTH_BYTES,
    TOKEN_REQUEST,
    TokenRequest,
)

__all__ = [
    "DOCUMENTED_TOKEN_LIFETIME_S",
    "TOKEN_PATH",
    "UsAuthKnobs",
    "UsAuthStats",
    "UsClock",
    "UsTokenEndpoint",
    "token_request_from_body",
]

TOKEN_PATH: Final = "/oauth/token"
DOCUMENTED_TOKEN_LIFETIME_S: Final = 180
_FORM_FIELDS: Final = 16
_REFUSAL: Final = {row.fault: row for row in OAUTH_REFUSALS}
_KNOB_CHANGES: Final[JsonDecoder[dict[str, object]]] = JsonDecoder(dict[str, object], what="US auth knobs")
_encode = msgspec.json.Encoder().encode

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _positive_number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise InvalidValueError("must be a finite number greater than 0", field=name, value=value)
    return float(value)


def _non_negative_number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise InvalidValueError("must be a finite number, 0 or more", field=name, value=value)
    return float(value)


def _lifetime(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 86_400:
        raise InvalidValueError("must be a whole number of seconds from 1 to 86400", field=name, value=value)
    return value


def _audience(name: str, value: object) -> AcceptedAudience:
    if isinstance(value, str) and value in set(AcceptedAudience):
        return AcceptedAudience(value)
    raise InvalidValueError("must be one of " + ", ".join(AcceptedAudience), field=name, value=value)


_VALIDATORS: Final[Mapping[str, KnobValidator]] = {
    "token_lifetime_s": _lifetime,
    "early_expiry_s": _non_negative_number,
    "accepted_audience": _audience,
}


@dataclass(slots=True)
class UsAuthKnobs(ValidatedKnobs):
    """The token endpoint's settings and fault knob; every assignment is validated like
    :class:`~polyinfra.emulator.faults.FaultConfig`'s. The time scale is the clock's
    (:meth:`UsClock.set_scale`, or ``time_scale`` through :meth:`UsTokenEndpoint.update_knobs`)."""

    _validators: ClassVar[Mapping[str, KnobValidator]] = _VALIDATORS
    _kind: ClassVar[str] = "US auth knob"

    token_lifetime_s: int = DOCUMENTED_TOKEN_LIFETIME_S
    """The ``expires_in`` of issued tokens, in emulated seconds."""
    early_expiry_s: float = 0.0
    """Fault knob: tokens count as expired this many emulated seconds before their ``exp``, so a
    client meets 401 / ``UNAUTHENTICATED`` with a token it believes valid."""
    accepted_audience: AcceptedAudience = AcceptedAudience.TOKEN_URL
    """The assertion ``aud`` forms the tenant takes (the documented token URL by default)."""


class UsClock:
    """Unix seconds as the US endpoints see them: ``base_clock_s`` run :attr:`scale` times faster
    (emulated seconds per base second; 100: a 3-minute token lasts 1.8 s) from the last change of
    scale, continuous across changes."""

    def __init__(self, base_clock_s: Callable[[], float]) -> None:
        self._base = base_clock_s
        self._scale = 1.0
        self._base_anchor = self._emulated_anchor = base_clock_s()

    @property
    def scale(self) -> float:
        return self._scale

    def set_scale(self, scale: object) -> None:
        """Run ``scale`` times faster from now on (a finite number > 0)."""
        checked = _positive_number("time_scale", scale)
        self._emulated_anchor = self()
        self._base_anchor, self._scale = self._base(), checked

    def __call__(self) -> float:
        return self._emulated_anchor + (self._base() - self._base_anchor) * self._scale


@dataclass(slots=True)
class UsAuthStats:
    """Token requests answered: ``issued`` tokens and ``refused`` assertions by fault."""

    issued: int = 0
    refused: dict[str, int] = dataclasses.field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {"issued": self.issued, "refused": dict(self.refused)}


def token_request_from_body(body: bytes, content_type: str) -> TokenRequest:
    """The token request in a JSON or form-encoded body; :class:`MalformedMessageError` otherwise."""
    if content_type != "application/x-www-form-urlencoded":
        return TOKEN_REQUEST.decode(body)
    if len(body) > MAX_OAUTH_BYTES:
        raise MalformedMessageError(f"token request is larger than {MAX_OAUTH_BYTES} bytes", size=len(body))
    try:
        pairs = urllib.parse.parse_qsl(
            body.decode("ascii"), keep_blank_values=True, strict_parsing=True, max_num_fields=_FORM_FIELDS
        )
    except (UnicodeDecodeError, ValueError):
        pairs = None
    if pairs is None:
        raise MalformedMessageError("token request is not a form-encoded body")
    try:
        return msgspec.convert(dict(pairs), TokenRequest)
    except msgspec.ValidationError as exc:
        detail = str(exc)[:200]
    raise MalformedMessageError("token request does not match its schema", detail=detail)


class UsTokenEndpoint:
    """The token endpoint and its control routes (:meth:`routes`); :attr:`clients` the registered
    clients, :attr:`knobs` the settings, :attr:`clock` the US clock, :attr:`stats` the counters.
    :meth:`verify` is the check the emulated US APIs run on a bearer token."""

    def __init__(
        self,
        *,
        clients: UsClients | None = None,
        knobs: UsAuthKnobs | None = None,
        base_clock_s: Callable[[], float] = time.time,
    ) -> None:
        self.clients = clients if clients is not None else UsClients()
        self.knobs = knobs if knobs is not None else UsAuthKnobs()
        self.clock = UsClock(base_clock_s)
        self.stats = UsAuthStats()
        self._signing_key = Secret(secrets.token_urlsafe(32))
        self._spent: dict[str, dict[str, float]] = {}
        """Per client id, the spent jti values and their assertions' exp."""

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post(TOKEN_PATH, self._token),
            web.post("/_emulator/us/clients", self._register),
            web.get("/_emulator/us/auth", self._get_knobs),
            web.post("/_emulator/us/auth", self._set_knobs),
        ]

    def update_knobs(self, changes: Mapping[str, object]) -> None:
        """Change :attr:`knobs` and ``time_scale`` (the clock's) together, all or nothing."""
        knob_changes = dict(changes)
        scale = knob_changes.pop("time_scale", None)
        if scale is not None:
            _positive_number("time_scale", scale)
        self.knobs.update(knob_changes)
        if scale is not None:
            self.clock.set_scale(scale)

    def knob_values(self) -> dict[str, object]:
        """Every knob, ``time_scale`` included (JSON-ready)."""
        return {"time_scale": self.clock.scale, **self.knobs.as_dict()}

    def verify(self, authorization: str) -> AccessGrant:
        """The grant of an ``authorization`` value (``Bearer <token>``) now; :class:`~polyinfra.errors.JwtAuthError`
        for a missing, foreign or expired one (the ``early_expiry_s`` knob applied)."""
        scheme, _, token = authorization.partition(" ")
        return verify_access_token(
            token.strip() if scheme.lower() == "bearer" else "",
            key=self._signing_key,
            now_s=self.clock(),
            early_expiry_s=self.knobs.early_expiry_s,
        )

    async def _token(self, request: web.Request) -> web.Response:
        try:
            token_request = token_request_from_body(await request.read(), request.content_type)
        except MalformedMessageError:
            return self._refuse(AssertionFault.MALFORMED)
        if (
            token_request.grant_type != CLIENT_CREDENTIALS_GRANT
            or token_request.client_assertion_type != CLIENT_ASSERTION_TYPE
        ):
            return self._refuse(AssertionFault.MALFORMED)
        origin = f"{request.scheme}://{request.host}"
        now_s = self.clock()
        self._forget_spent(now_s)
        client = self.clients.get(token_request.client_id)
        fault, jti, exp = check_assertion(
            token_request.client_assertion,
            client,
            token_url=origin + TOKEN_PATH,
            accepted=self.knobs.accepted_audience,
            now_s=now_s,
            seen_jti=self._spent.get(token_request.client_id, {}),
        )
        if jti is not None and fault is not AssertionFault.REUSED_JTI:
            # A signed assertion spends its jti whether or not it is otherwise accepted.
            self._spent.setdefault(token_request.client_id, {})[jti] = exp
        if fault is not None or client is None:
            return self._refuse(fault or AssertionFault.UNKNOWN_CLIENT)
        lifetime_s = self.knobs.token_lifetime_s
        access_token = issue_access_token(
            client,
            issuer=origin + "/",
            audience=token_request.audience,
            now_s=now_s,
            lifetime_s=lifetime_s,
            jti=str(uuid.uuid4()),
            key=self._signing_key,
        )
        self.stats.issued += 1
        return _json({"access_token": access_token, "token_type": "Bearer", "expires_in": lifetime_s})

    def _forget_spent(self, now_s: float) -> None:
        for client_id in list(self._spent):
            spent = self._spent[client_id]
            for jti in [jti for jti, exp in spent.items() if exp < now_s]:
                del spent[jti]
            if not spent:
                del self._spent[client_id]

    def _refuse(self, fault: AssertionFault) -> web.Response:
        refusal = _REFUSAL[fault]
        self.stats.refused[fault.value] = self.stats.refused.get(fault.value, 0) + 1
        return _json(refusal.body(), status=refusal.status)

    async def _register(self, request: web.Request) -> web.Response:
        try:
            client = self.clients.register(CLIENT_REGISTRATION.decode(await request.read()))
        except (MalformedMessageError, InvalidValueError) as exc:
            return _json({"error": str(exc)}, status=HTTPStatus.BAD_REQUEST)
        return _json(
            {"client_id": client.client_id, "scopes": list(client.scopes), "participant_id": client.participant_id}
        )

    async def _get_knobs(self, request: web.Request) -> web.Response:
        return _json(self._state())

    async def _set_knobs(self, request: web.Request) -> web.Response:
        try:
            self.update_knobs(_KNOB_CHANGES.decode(await request.read()))
        except (MalformedMessageError, InvalidValueError) as exc:
            return _json({"error": str(exc)}, status=HTTPStatus.BAD_REQUEST)
        return _json(self._state())

    def _state(self) -> dict[str, object]:
        return {**self.knob_values(), "now_s": self.clock(), "clients": len(self.clients), **self.stats.as_dict()}


def _json(body: object, *, status: int = HTTPStatus.OK) -> web.Response:
    return web.Response(body=_encode(body), status=status, content_type="application/json")
