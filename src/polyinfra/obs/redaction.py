"""Redaction: keep private keys, API secrets, passphrases, signatures, JWTs and auth headers out of text.

Pure functions over strings and containers; no I/O. Three mechanisms work together:

* **Known secrets.** :func:`register_secret` (called by whoever loads credentials, and by
  :class:`Secret`) records a secret together with every encoding it could be logged in: base64
  and url-safe base64 with and without padding, hex in either case with and without ``0x``, the
  same encodings of the bytes a hex or base64 secret decodes to (an API secret is url-safe base64
  of 32 bytes, a private key is hex of 32 bytes), and URL-encoded variants. :func:`redact` masks
  all of them wherever they appear.
* **Patterns that are always secrets**, registered or not: JWTs, PEM private keys (a US exchange
  client's RSA key), ``Bearer``/``Basic`` credentials
  and values under secret-looking names (``POLY_SIGNATURE``, ``POLY_PASSPHRASE``, ``POLY_API_KEY``,
  ``Authorization``, ``private_key``, ``"secret":``, ``passphrase=``, ...) in headers dumps, JSON,
  Python reprs and query strings.
* **Secret-named keys** in containers: :func:`redact_mapping` masks their values.

What is deliberately *not* masked: every ``0x`` + 64-hex string. Order hashes, condition ids and
transaction hashes look exactly like private keys and operators need them readable; private keys
are caught by registration and by the names they travel under. Token ids (``token_id``,
``asset_id``) and the API key's appearance as an order ``owner`` are identifiers, not secrets.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import threading
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Final, NoReturn

from polyinfra.errors import InvalidValueError

__all__ = [
    "MASK",
    "MIN_SECRET_CHARS",
    "Secret",
    "SecretScanner",
    "SecretSighting",
    "is_secret_key",
    "redact",
    "redact_mapping",
    "redact_url",
    "redact_url_credentials",
    "register_secret",
    "revealed",
    "secret_forms",
    "url_without_credentials",
]

MASK: Final = "[REDACTED]"
"""What every redacted value is replaced with."""

MIN_SECRET_CHARS: Final = 8
"""Shorter values cannot be registered: masking them by value would mask unrelated text."""

# A byte string shorter than this is not treated as the binary payload of a hex or base64 secret:
# short words like "cafe" or "test" are valid hex/base64 and must not grow decoded "forms".
_MIN_DECODED_BYTES: Final = 16

_AS_GIVEN: Final = "as given"

# --- secret-named keys -----------------------------------------------------------------------------

# Matched against a key lower-cased with everything but letters and digits removed, so that
# POLY_API_KEY, api-key, apiKey and "Api Key" are one name. Anchored at the end: the *kind* of a
# value is the last word of its name (api_secret, client_secret, access_token), and names that only
# start with such a word describe something else (signature_type, token_id, secret_name).
_SECRET_KEY_NAME: Final = re.compile(
    r"(?:secret|secretkey|passphrase|password|passwd|privatekey|privkey|mnemonic|signature|authorization"
    r"|cookie|jwt|apikeys?|assertion|credentials?|(?:^|access|refresh|id|bearer|auth|session|api|jwt)token)$"
)
_NOT_ALPHANUMERIC: Final = re.compile(r"[^a-z0-9]")


def is_secret_key(key: object) -> bool:
    """Whether values under ``key`` are secrets (``api_secret``, ``POLY_SIGNATURE``, ``token`` — not ``token_id``)."""
    return isinstance(key, str) and _SECRET_KEY_NAME.search(_NOT_ALPHANUMERIC.sub("", key.lower())) is not None


# --- patterns that are always secrets -----------------------------------------------------------

# header.payload.signature, both JSON parts starting with '{"' (base64url "eyJ"); the signature may
# be empty (alg "none").
_JWT: Final = re.compile(r"\beyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
# A whole PEM private-key block, or its start when the text was cut before its end line.
_PEM_PRIVATE_KEY: Final = re.compile(
    r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----(?:[A-Za-z0-9+/=\s\\n]*?-----END (?:[A-Z]+ )*PRIVATE KEY-----"
    r"|[A-Za-z0-9+/=\s\\n]*)"
)
_AUTH_SCHEME_CREDENTIALS: Final = re.compile(r"\b(Bearer|Basic)(\s+)[A-Za-z0-9\-._~+/]+=*", re.IGNORECASE)

# name, then ':' or '=', where the name may be quoted (JSON, Python repr) or escaped-quoted (JSON
# inside a JSON string). Only the name and separator are consumed, so a value that is not a secret
# (a URL after "http:") is still searched for secret names inside it. A name starts a word: not
# after a letter, digit or '_', nor inside a hyphenated word ("derive-api-key" is not "api-key",
# while the flag "--api-key" is), nor after '/': a path segment names an endpoint, not a value
# ("GET /auth/api-keys: read timed out" is an error text to keep whole).
_NAME_SEPARATOR: Final = re.compile(
    r"""(?<![A-Za-z0-9_/])(?<![A-Za-z0-9]-)(?P<name>[A-Za-z_][A-Za-z0-9_-]*)\\?["']?\s*[:=]\s*"""
)
# The value after a secret name: quoted, escaped-quoted, or bare up to a delimiter (headers dumps,
# query strings, key=value logs), with an auth scheme in front of it kept inside the value. A value
# already masked is matched whole, so that redacting twice changes nothing.
_VALUE: Final = re.compile(
    r"""\\"(?:(?!\\").)*\\"|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'"""
    r"""|(?:(?:Bearer|Basic)\s+)?(?:\[REDACTED\]|[^\s"',;&}\])\\]+)"""
)


# Every JWT contains "eyJ", every auth scheme and secret name one of these words. Searched in the
# lower-cased text: a case-insensitive pattern would be several times slower.
_PATTERN_HINT: Final = re.compile(
    r"eyj|secret|passphrase|passw|priv|mnemonic|signature|authorization|cookie|jwt|api.?keys?|assertion|credential"
    r"|token|bearer|basic"
)


def _masked_value(value: str) -> str:
    if value.startswith('\\"'):
        return f'\\"{MASK}\\"'
    if value[0] in "\"'":
        return f"{value[0]}{MASK}{value[0]}"
    return MASK


def _mask_secret_named_values(text: str) -> str:
    pieces: list[str] = []
    position = 0
    for name in _NAME_SEPARATOR.finditer(text):
        if name.start() < position or not is_secret_key(name["name"]):
            continue
        value = _VALUE.match(text, name.end())
        if value is None or value[0] == MASK:
            continue
        pieces += (text[position : name.end()], _masked_value(value[0]))
        position = value.end()
    if not pieces:
        return text
    pieces.append(text[position:])
    return "".join(pieces)


# --- known secrets ------------------------------------------------------------------------------


def _base64_forms(data: bytes, what: str) -> list[tuple[str, str]]:
    standard = base64.b64encode(data).decode()
    url_safe = base64.urlsafe_b64encode(data).decode()
    return [
        (standard, f"base64 of {what}"),
        (url_safe, f"url-safe base64 of {what}"),
        (standard.rstrip("="), f"unpadded base64 of {what}"),
        (url_safe.rstrip("="), f"unpadded url-safe base64 of {what}"),
    ]


def _hex_forms(data: bytes, what: str) -> list[tuple[str, str]]:
    lower = data.hex()
    upper = lower.upper()
    return [
        (lower, f"hex of {what}"),
        (upper, f"upper-case hex of {what}"),
        ("0x" + lower, f"0x-hex of {what}"),
        ("0x" + upper, f"0x upper-case hex of {what}"),
    ]


_HEX: Final = re.compile(r"(?:0[xX])?((?:[0-9a-fA-F]{2})+)")
_BASE64: Final = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")


def _decoded_bytes(value: str) -> tuple[bytes, str] | None:
    """The binary payload of a hex or base64 secret, with what it was decoded from."""
    hex_match = _HEX.fullmatch(value)
    if hex_match is not None:
        data = bytes.fromhex(hex_match[1])
        return (data, "the decoded hex") if len(data) >= _MIN_DECODED_BYTES else None
    if _BASE64.fullmatch(value) is None:
        return None
    unpadded = value.rstrip("=").replace("+", "-").replace("/", "_")
    try:
        data = base64.urlsafe_b64decode(unpadded + "=" * (-len(unpadded) % 4))
    except (binascii.Error, ValueError):
        return None
    return (data, "the decoded base64") if len(data) >= _MIN_DECODED_BYTES else None


def _is_degenerate(form: str) -> bool:
    # One repeated character (the hex of the all-zero test secret is "000...0") would mask every
    # zero hash and every run of that character: such encodings are not worth registering.
    core = form.removeprefix("0x").removeprefix("0X").rstrip("=")
    return len(set(core)) <= 1


def secret_forms(value: str) -> dict[str, str]:
    """Every text under which ``value`` may appear, mapped to a name for that form.

    The value itself (named ``"as given"``), its UTF-8 bytes and, when it is hex or base64 of at
    least 16 bytes, those decoded bytes, each in base64, url-safe base64 (padded and unpadded) and
    hex (lower and upper case, with and without ``0x``), plus URL-encoded variants. Encodings made
    of one repeated character are left out: they would match unrelated text.
    """
    # In order of preference: when two encodings give the same text, the first name is kept.
    candidates = [(value, _AS_GIVEN)]
    decoded = _decoded_bytes(value)
    if decoded is not None:
        data, what = decoded
        candidates += _hex_forms(data, what) + _base64_forms(data, what)
    encoded = value.encode()
    candidates += _base64_forms(encoded, "the text") + _hex_forms(encoded, "the text")
    forms: dict[str, str] = {}
    for text, name in candidates:
        if name == _AS_GIVEN or not _is_degenerate(text):
            forms.setdefault(text, name)
    for text, name in list(forms.items()):
        quoted = urllib.parse.quote(text, safe="")
        if quoted != text:
            forms.setdefault(quoted, f"URL-encoded {name}")
    return forms


def _any_of(texts: Iterable[str]) -> re.Pattern[str] | None:
    """One pattern matching any of ``texts``, preferring the longest (0x-hex over the hex inside it).

    Grouped by first character, so the engine picks a group in one step instead of trying every
    text at every position: about three times faster than a flat alternation on log lines.
    """
    rests_by_first: dict[str, list[str]] = {}
    for text in set(texts):
        rests_by_first.setdefault(text[0], []).append(text[1:])
    groups = [
        re.escape(first) + "(?:" + "|".join(map(re.escape, sorted(rests, key=len, reverse=True))) + ")"
        for first, rests in sorted(rests_by_first.items())
    ]
    return re.compile("|".join(groups)) if groups else None


class _Registry:
    """The known secrets' forms, held as a few compiled patterns of geometrically growing size.

    Compiling a pattern costs time in proportion to the forms in it, and a long-running process
    keeps registering secrets (every API key the emulator creates, every wallet a bot adds). One
    pattern over all of them, recompiled after each registration, made that quadratic: a process
    that had registered a few thousand forms spent half a second per new secret. Instead the forms
    live in levels, like a binary counter: new forms become the smallest level, merged with the
    smaller levels below them until the next one is bigger, so each level is at least as large as
    all the smaller ones together. A form is recompiled at most once per level, about log2(N)
    times in all, and :func:`redact` runs one ``sub`` per level. The forms of one secret are added
    together, so they stay in one pattern, which prefers the longest (``0x``-hex over the hex in it).

    Levels are compiled when next needed, not at each registration, so registering many
    credentials in a row (a wallet each, with their API keys) compiles once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._forms: set[str] = set()
        self._pending: set[str] = set()
        self._levels: list[tuple[frozenset[str], re.Pattern[str]]] = []
        """Largest first; each at least as large as all the smaller ones together."""
        self._patterns: tuple[re.Pattern[str], ...] = ()

    def add(self, value: str) -> None:
        with self._lock:
            new_forms = secret_forms(value).keys() - self._forms
            if new_forms:
                self._forms |= new_forms
                self._pending |= new_forms

    @property
    def patterns(self) -> tuple[re.Pattern[str], ...]:
        """The patterns over every form registered so far (none before the first registration)."""
        if self._pending:
            with self._lock:
                if self._pending:
                    self._compile_pending()
        return self._patterns

    def _compile_pending(self) -> None:
        merged = frozenset(self._pending)
        levels = self._levels
        while levels and len(levels[-1][0]) <= len(merged):
            merged |= levels.pop()[0]
        pattern = _any_of(merged)
        assert pattern is not None  # merged holds at least the pending forms
        levels.append((merged, pattern))
        self._patterns = tuple(pattern for _, pattern in levels)
        self._pending = set()


_registry = _Registry()


def register_secret(value: str) -> None:
    """Make :func:`redact` (and so every log line) mask ``value`` in every form :func:`secret_forms` lists.

    Call it for each credential when it is loaded: private keys, API secrets, passphrases, JWTs.
    Registering the same value again does nothing. Raises :class:`~polyinfra.errors.InvalidValueError`
    for values shorter than :data:`MIN_SECRET_CHARS`.
    """
    if len(value) < MIN_SECRET_CHARS:
        raise InvalidValueError(
            f"a secret shorter than {MIN_SECRET_CHARS} characters cannot be redacted by value",
            length=len(value),
        )
    _registry.add(value)


def redact(text: str) -> str:
    """``text`` with registered secrets (in any form), JWTs, auth credentials and secret-named values masked."""
    if len(text) < MIN_SECRET_CHARS:
        return text
    for pattern in _registry.patterns:
        text = pattern.sub(MASK, text)
    # Most log lines hold none of the words the patterns below need: one search skips all three.
    if _PATTERN_HINT.search(text.lower()) is None:
        return text
    text = _JWT.sub(MASK, text)
    text = _PEM_PRIVATE_KEY.sub(MASK, text)
    text = _mask_secret_named_values(text)
    return _AUTH_SCHEME_CREDENTIALS.sub(rf"\1\2{MASK}", text)


# A password query parameter of a connection URL (libpq's ``password`` and ``sslpassword``).
_URL_PASSWORD_PARAMETER: Final = re.compile(r"[?&](?:ssl)?password=([^&#]*)", re.IGNORECASE)


def _url_password_span(url: str) -> tuple[int, int] | None:
    """Where the password of ``scheme://user:PASSWORD@host`` stands in ``url``, if it has one.

    Everything after the user's ``:`` up to the *last* ``@`` counts: a mistyped or hostile URL may
    hold a raw ``@`` or ``/`` in its password, and a parser would then read part of the password as
    the host. A user name holding ``/``, ``?`` or ``#`` is no user name, so the whole of it counts then.
    """
    scheme_end = url.find("://")
    at = url.rfind("@")
    if scheme_end < 0 or at < scheme_end:
        return None
    start = scheme_end + len("://")
    colon = url.find(":", start, at)
    if colon < 0:
        return None
    if any(delimiter in url[start:colon] for delimiter in "/?#"):
        return start, at
    return colon + 1, at


def redact_url(url: str) -> str:
    """``url`` fit to show: the password in its userinfo masked (``postgresql://bob:[REDACTED]@db/x``),
    and whatever :func:`redact` masks (``?password=...``, registered secrets)."""
    span = _url_password_span(url)
    if span is not None:
        url = url[: span[0]] + MASK + url[span[1] :]
    return redact(url)


def redact_url_credentials(text: str, url: str) -> str:
    """``text`` with every credential of ``url`` (its userinfo password, its password query
    parameters; as written and percent-decoded) masked, and ``url`` itself shown as
    :func:`redact_url` shows it: for a text that may quote the URL or a piece of it, such as a
    connection library's error message."""
    span = _url_password_span(url)
    written = [url[span[0] : span[1]]] if span is not None else []
    written += _URL_PASSWORD_PARAMETER.findall(url)
    text = text.replace(url, redact_url(url))
    # Longest first: masking a password must not leave the tail of a longer form that contains it.
    for credential in sorted(
        {form for value in written for form in (value, urllib.parse.unquote(value)) if form}, key=len, reverse=True
    ):
        text = text.replace(credential, MASK)
    return redact(text)


def redact_mapping(obj: object) -> object:
    """A copy of ``obj`` safe to log: values under secret-named keys masked, strings (keys too) redacted.

    Mappings become dicts, lists and tuples keep their type, strings go through :func:`redact`,
    ``None`` under a secret key stays ``None`` (its absence is worth seeing); other values are
    returned as they are.
    """
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, Secret):
        return MASK
    if isinstance(obj, Mapping):
        # Keys are redacted too: a dict keyed by credential would otherwise print them.
        return {
            (redact(key) if isinstance(key, str) else key): (MASK if value is not None else None)
            if is_secret_key(key)
            else redact_mapping(value)
            for key, value in obj.items()
        }
    if isinstance(obj, list):
        return [redact_mapping(item) for item in obj]
    if isinstance(obj, tuple):
        return tuple(redact_mapping(item) for item in obj)
    return obj


# --- Secret -------------------------------------------------------------------------------------


class Secret:
    """A secret string that never shows itself: ``str``, ``repr`` and formatting give :data:`MASK`.

    :meth:`reveal` returns the value for the one place that needs it (signing, the bytes of an
    auth header written to the socket). A ``Secret`` cannot be pickled (it would be written out in
    clear); ``copy`` returns it as is. Values of :data:`MIN_SECRET_CHARS` or more are registered
    for redaction, so even a revealed value that reaches a log line is masked there; a value made
    for one request (a signature) passes ``register=False``, since registering one per request
    would grow the registry for as long as the process runs.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str, *, register: bool = True) -> None:
        if register and len(value) >= MIN_SECRET_CHARS:
            register_secret(value)
        self._value = value

    def reveal(self) -> str:
        """The secret value. Pass it straight to what needs it; never log or store it."""
        return self._value

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        return f"Secret({MASK})"

    def __format__(self, format_spec: str) -> str:
        return format(MASK, format_spec)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        # Constant time: equality of credentials must not leak their prefix through timing.
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        raise TypeError("a Secret cannot be pickled: it would be written out in clear")

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: object) -> Secret:
        return self


def revealed(values: Mapping[str, str | Secret]) -> dict[str, str]:
    """A copy of ``values`` with every :class:`Secret` revealed: for the code that writes them out
    (the HTTP transport, as it hands a request's headers to the socket) and nothing else."""
    return {name: value.reveal() if isinstance(value, Secret) else value for name, value in values.items()}


# --- scanning for leaks --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SecretSighting:
    """One known secret found in a text: which secret, in which form, and where (``text[position:end]``)."""

    secret_name: str
    form: str
    position: int
    end: int


# A fragment made of few distinct characters ("616161616161", the hex of "aaaaaa") says nothing
# about which secret it came from.
_MIN_FRAGMENT_VARIETY: Final = 4


class SecretScanner:
    """Finds known secrets, in every form :func:`secret_forms` lists, in text: for leak tests and log audits.

    ``secrets`` maps a name for each secret (``"api_secret"``) to its value. Unlike :func:`redact`
    it reports what it finds and changes nothing, and it knows only the secrets it was given.

    With ``fragment_chars``, pieces of a form count too: any run of at least ``2 * fragment_chars - 1``
    of its characters is found (it contains one of the form's ``fragment_chars``-long chunks at a
    fixed offset). Libraries that shorten long messages by cutting out their middle leave such
    pieces, and a third of a secret is a leak.
    """

    def __init__(self, secrets: Mapping[str, str], *, fragment_chars: int | None = None) -> None:
        self._names: dict[str, tuple[str, str]] = {}
        for secret_name, value in secrets.items():
            for form, form_name in secret_forms(value).items():
                self._names.setdefault(form, (secret_name, form_name))
        if fragment_chars is not None:
            for form, (secret_name, form_name) in list(self._names.items()):
                for start in range(0, len(form) - fragment_chars + 1, fragment_chars):
                    chunk = form[start : start + fragment_chars]
                    if len(set(chunk)) >= _MIN_FRAGMENT_VARIETY:
                        self._names.setdefault(chunk, (secret_name, f"a fragment ({form_name})"))
        self._pattern = _any_of(self._names)

    def scan(self, text: str) -> list[SecretSighting]:
        """Where the secrets appear in ``text``, in order; the longest form at each place, and
        consecutive fragments of one form reported once."""
        sightings: list[SecretSighting] = []
        if self._pattern is None:
            return sightings
        previous_end = -1
        for match in self._pattern.finditer(text):
            secret_name, form_name = self._names[match[0]]
            continues_previous = (
                match.start() == previous_end
                and sightings[-1].secret_name == secret_name
                and sightings[-1].form == form_name
            )
            if continues_previous:
                sightings[-1] = replace(sightings[-1], end=match.end())
            else:
                sightings.append(SecretSighting(secret_name, form_name, match.start(), match.end()))
            previous_end = match.end()
        return sightings


def url_without_credentials(url: str) -> str:
    """``url`` with all of its userinfo masked (``nats://[REDACTED]@host``), malformed URLs included.

    For URLs whose user name may itself be the credential: NATS takes a token there
    (``nats://TOKEN@host``), which :func:`redact_url`, masking only a password, would show; and for
    URLs of unknown schemes. What :func:`redact` masks is masked too."""
    scheme, separator, rest = url.partition("://")
    if not separator:  # no scheme: the text starts with the authority
        scheme, rest = "", url
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        url = f"{scheme}{separator}{MASK}@{authority.rpartition('@')[2]}{slash}{path}"
    return redact(url)  # ?password=..., registered secrets
