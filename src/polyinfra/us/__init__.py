"""Clients of the Polymarket US exchange (gRPC)."""
