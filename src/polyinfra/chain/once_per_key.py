"""At most one run of an operation per caller key: what makes on-chain sends idempotent.

A caller that asks twice under the same key (a retry after a crash of its own, a duplicated message) gets the first
run's result, or waits for the run still in flight; it never starts a second one, which on chain would sign and pay
twice. A run that failed frees its key: it left nothing that can still land, so the caller may try again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["OncePerKey"]

_T = TypeVar("_T")


class OncePerKey(Generic[_T]):
    """The settled or in-flight run of each key (module notes)."""

    def __init__(self) -> None:
        self._runs: dict[str, asyncio.Future[_T]] = {}

    async def run(self, key: str | None, operation: Callable[[], Awaitable[_T]]) -> _T:
        """``operation()``'s result, run once for ``key`` (every time when ``key`` is None)."""
        if key is None:
            return await operation()
        if key in self._runs:
            return await asyncio.shield(self._runs[key])
        # Published before the first await, so a concurrent call with the same key waits for this one.
        done: asyncio.Future[_T] = asyncio.get_running_loop().create_future()
        self._runs[key] = done
        try:
            result = await operation()
        except BaseException as exc:
            del self._runs[key]
            done.set_exception(exc)
            done.exception()  # retrieved here: concurrent waiters re-raise it, nobody else has to
            raise
        done.set_result(result)
        return result
