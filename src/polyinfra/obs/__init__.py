"""Observability: structured logging, redaction of secrets, Prometheus metrics.

I/O layers and consumers use this package; the pure core (``model/``, ``core/``, ``wire/``) never does.
"""
