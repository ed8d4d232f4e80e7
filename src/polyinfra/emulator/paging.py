"""The venue's cursor paging over a list, shared by the emulator's paged public and account routes.

A cursor is base64 of a decimal offset (``"MA=="`` is 0, ``"MTAw"`` is 100); ``"LTE="`` (-1) marks
the end. Both raw and url-encoded cursors arrive as the same text once the query is decoded.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from http import HTTPStatus
from typing import Final, TypeVar

from polyinfra.emulator.client_input import cursor_offset
from polyinfra.errors import ApiError

__all__ = ["END_CURSOR", "START_CURSOR", "page_of"]

START_CURSOR: Final = "MA=="
END_CURSOR: Final = "LTE="

_Item = TypeVar("_Item")


def page_of(items: Sequence[_Item], cursor: str | None, page_size: int) -> tuple[list[_Item], str]:
    """The page of ``items`` at ``cursor`` (the first page when None or empty) and the next cursor;
    :class:`ApiError` 400 for a cursor that is not one. An offset past the end is an empty last page."""
    text = cursor or START_CURSOR
    offset = cursor_offset(text)
    if offset is None:
        raise ApiError("invalid next_cursor", status=HTTPStatus.BAD_REQUEST, next_cursor=text)
    if offset < 0 or offset >= len(items):
        return [], END_CURSOR
    end = offset + page_size
    return list(items[offset:end]), END_CURSOR if end >= len(items) else _cursor(end)


def _cursor(offset: int) -> str:
    return base64.b64encode(str(offset).encode()).decode()
