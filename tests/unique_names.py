"""Names on the shared test servers that no other test, worker or concurrent run can also pick.

The suite runs in parallel (pytest-xdist workers, and other checkouts testing against the same
PostgreSQL and NATS servers at the same time), so anything a test creates outside its own process
needs a name of its own: a PostgreSQL schema, database or table, a NATS stream, key-value bucket or
subject prefix, a fleet name. :func:`unique_name` is the one way tests make such a name; it carries
the xdist worker id, so that a leftover on a server tells which worker made it.
"""

from __future__ import annotations

import os
import uuid


def unique_name(prefix: str, *, separator: str = "-") -> str:
    """``prefix``, the xdist worker id (``gw0``…, ``main`` without xdist) and 12 random hex digits,
    joined with ``separator``: ``-`` suits NATS names, ``_`` SQL identifiers. Letters, digits and
    the separator only, lower case, so the name needs no quoting on either server."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return separator.join([prefix, worker, uuid.uuid4().hex[:12]])
