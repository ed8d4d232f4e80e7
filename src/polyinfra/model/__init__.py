"""Pure domain model: exact numbers, ids, market metadata and the L2 order book. No I/O."""
