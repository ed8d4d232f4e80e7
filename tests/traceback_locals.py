"""What an error tracker would record of an exception: every local of every frame of its traceback
and of every exception it chains (``__cause__`` and ``__context__``, followed whether suppressed or
not), searched for secrets."""

from __future__ import annotations

from collections.abc import Iterator

import httpcore
import httpx

from polyinfra.obs.redaction import SecretScanner

_MAX_DEPTH = 6


def _chained(error: BaseException) -> Iterator[BaseException]:
    pending = [error]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending += [chained for chained in (current.__cause__, current.__context__) if chained is not None]


def _texts(value: object, depth: int = 0) -> Iterator[str]:
    """The text a tracker shows of ``value``: its repr, its nested container values one by one
    (serializers walk them), and the headers an httpx / httpcore request carries."""
    yield repr(value)
    if depth >= _MAX_DEPTH:
        return
    if isinstance(value, bytes | bytearray):
        yield bytes(value).decode("latin-1")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _texts(key, depth + 1)
            yield from _texts(item, depth + 1)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _texts(item, depth + 1)
    elif isinstance(value, httpx.Request):
        yield str(value)
        yield from _texts(value.headers, depth + 1)
    elif isinstance(value, httpx.Headers):
        yield str(value)
        yield from _texts(list(value.raw), depth + 1)
    elif isinstance(value, httpcore.Request):
        yield from _texts(value.headers, depth + 1)


def secrets_in_traceback_locals(error: BaseException, scanner: SecretScanner) -> list[str]:
    """Where a known secret shows among the locals of ``error``'s frames and its chain's: one line
    per sighting naming the exception, the function, the local and the secret (never the value)."""
    found: list[str] = []
    for exception in _chained(error):
        traceback = exception.__traceback__
        while traceback is not None:
            frame = traceback.tb_frame
            for name, value in frame.f_locals.items():
                for text in _texts(value):
                    for sighting in scanner.scan(text):
                        found.append(
                            f"{type(exception).__name__}: {frame.f_code.co_qualname}() local {name!r} shows "
                            f"{sighting.secret_name} ({sighting.form})"
                        )
            traceback = traceback.tb_next
    return sorted(set(found))
