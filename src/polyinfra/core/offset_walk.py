"""Fail-closed offset paging for the Data API's v1 routes, sans-I/O.

The v1 routes page by ``offset`` and ``limit`` up to a per-route ceiling (``/positions`` and ``/activity``
10,000, ``/closed-positions`` 100,000, ``/v1/leaderboard`` 1,000; venue notes: Data API), and past some offsets
the venue has been seen to answer the same rows again instead of the next ones. A library that pages until a
short page arrives then returns a silently short history.
:class:`OffsetWalk` is the walk that refuses to:

* a page shorter than ``limit`` ends the walk (the venue's v1 pages are full until the end);
* a full page whose next offset would pass the ceiling raises :class:`~polyinfra.errors.PaginationError`
  (``reason="offset_ceiling"``): there may be more rows and no way to reach them on this route;
* a page holding a row already seen raises :class:`~polyinfra.errors.PaginationError`
  (``reason="repeated_rows"``): the route stopped advancing, so nothing after it is proven.

Rows are compared by a key the caller gives (a transaction hash with wallet, asset and side), never
by position. The walk holds the keys of every row seen: a v1 walk is at most the ceiling's rows.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field

from polyinfra.errors import InvalidValueError, PaginationError

__all__ = ["OffsetWalk"]


@dataclass(slots=True)
class OffsetWalk:
    """One offset walk over ``endpoint``: ask :attr:`offset`, then :meth:`accept` the page's row keys.

    ``max_offset`` is the largest offset the route takes; :attr:`done` turns true after the last page.
    """

    endpoint: str
    limit: int
    max_offset: int
    offset: int = 0
    done: bool = False
    _seen: set[Hashable] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.limit < 1 or self.max_offset < 0:
            raise InvalidValueError("an offset walk needs a positive limit", limit=self.limit)

    def accept(self, keys: Iterable[Hashable]) -> None:
        """Take one page's row keys (in page order); raises :class:`PaginationError` when the walk
        cannot prove completeness (see the module docstring)."""
        if self.done:
            raise InvalidValueError("the walk is over", endpoint=self.endpoint)
        count = 0
        for key in keys:
            count += 1
            if key in self._seen:
                raise PaginationError(
                    "the venue repeated rows of an earlier page: the history past this offset is unproven",
                    reason="repeated_rows",
                    endpoint=self.endpoint,
                    offset=self.offset,
                )
            self._seen.add(key)
        if count < self.limit:
            self.done = True
            return
        next_offset = self.offset + self.limit
        if next_offset > self.max_offset:
            raise PaginationError(
                "a full page at the route's offset ceiling: more rows may exist that this route cannot page to",
                reason="offset_ceiling",
                endpoint=self.endpoint,
                offset=self.offset,
                max_offset=self.max_offset,
            )
        self.offset = next_offset
