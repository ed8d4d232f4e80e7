"""Clients for the global CLOB (REST market data, market channel)."""
