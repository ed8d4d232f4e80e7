"""The I/O layer every venue client is built on: HTTP transport, rate limits, retries, circuit breakers.

Each module keeps a pure core (time and randomness are arguments) with thin async and sync
drivers over it, so the decisions are unit-tested without sockets or sleeps:

* :mod:`polyinfra.net.rate_limit`: the limiter over the budget tables of :mod:`polyinfra.core.rate_limit_tables`
  (sliding windows per scope), FIFO-fair waiting;
* :mod:`polyinfra.net.retry`: backoff schedule and the retry / reconcile decision;
* :mod:`polyinfra.net.breaker`: circuit breakers per endpoint group;
* :mod:`polyinfra.net.http`: :class:`~polyinfra.net.http.HttpTransport` and its sync twin, over the one
  request pipeline of :mod:`polyinfra.net.http_pipeline` (what a request is given and returns:
  :mod:`polyinfra.net.http_request`; the venue's signer headers: :mod:`polyinfra.net.signer_limit_headers`;
  httpx's exceptions translated: :mod:`polyinfra.net.http_failures`).
"""
