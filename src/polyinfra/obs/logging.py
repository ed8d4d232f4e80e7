"""Structured, redacted logging for polyinfra and everything it runs with.

:func:`configure_logging` sets up one pipeline for structlog loggers (:func:`get_logger`) and the
standard library's (aiohttp, httpx, websockets, asyncio, the emulator's ``logging.getLogger``):
JSON lines when the stream is not a terminal, the readable console renderer when it is. Every line
is redacted (:mod:`polyinfra.obs.redaction`) as the last step before rendering — values, nested
containers, formatted exception tracebacks — and the rendered line once more, so nothing escapes
whatever the caller logs. Standard-library records are also redacted when they are created, so any
other handler attached to them (a file, pytest's capture, an error tracker) sees the same masked text.

websockets' per-frame DEBUG lines are held back (its logger is set to INFO at least): they show
frames with their middle cut out, which redaction cannot recognise secrets in. httpx and httpcore
are held at WARNING: they log every request and connection step.

Correlation ids tie lines together: :func:`correlation_scope` binds ids such as ``request_id`` or
``session_id`` to every line logged inside it, from structlog or the standard library, in the same
task or thread.

Log levels, chosen for whoever reads them at 3 a.m.:

* ``DEBUG`` — per request, per frame, per order book update: for reproducing a problem, never on
  by default (it costs time on hot paths).
* ``INFO`` — lifecycle: started, connected, subscribed, listening, stopped. A healthy process logs
  a handful of these per hour, not per second.
* ``WARNING`` — degraded but recovering by itself: a retry, a 429 honoured, a reconnect, a book
  resync, a circuit breaker going half-open. Worth a look in the morning if it keeps happening.
* ``ERROR`` — needs a human: the breaker is open and stays open, a deadline was missed, credentials
  were refused, a background task died.
"""

from __future__ import annotations

import logging
import secrets
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import IO, Any, Final

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from polyinfra.errors import InvalidValueError
from polyinfra.obs.redaction import MASK, Secret, is_secret_key, redact, redact_mapping

__all__ = ["configure_logging", "correlation_scope", "get_logger", "new_correlation_id"]

# configure_logging replaces the handler it installed before, and only that one.
_HANDLER_NAME: Final = "polyinfra"

_PLAIN_VALUE_TYPES: Final = (bool, int, float, Decimal, type(None))


class _RedactedEvent(dict[str, Any]):
    """An event dict that already went through redaction (so record creation does not redact it again)."""


def _redacted_value(value: object) -> object:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, _PLAIN_VALUE_TYPES):
        return value
    if isinstance(value, Mapping | Sequence) and not isinstance(value, bytes | bytearray):
        return redact_mapping(value if isinstance(value, Mapping | list | tuple) else list(value))
    if isinstance(value, Secret):
        return MASK
    # Anything else is rendered through repr() anyway; redact that text now.
    return redact(repr(value))


def _redact_event(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Mask secret-named keys and redact every value, including formatted exceptions."""
    return _RedactedEvent(
        {
            key: (MASK if value is not None else None) if is_secret_key(key) else _redacted_value(value)
            for key, value in event_dict.items()
        }
    )


def _redact_rendered(logger: WrappedLogger, method_name: str, rendered: EventDict | str) -> str:
    """The last word: redact the rendered line itself (reprs of odd objects, renderer output).

    It runs after the renderer, so ``rendered`` is the line (structlog types a processor's input
    as an event dict).
    """
    return redact(str(rendered))


# Runs when a structlog logger is called, before the record reaches the standard library: the
# record already carries redacted values, whichever handlers receive it.
_STRUCTLOG_CHAIN: Final[list[Processor]] = [
    structlog.stdlib.filter_by_level,
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.PositionalArgumentsFormatter(),
    structlog.processors.StackInfoRenderer(),
    structlog.processors.format_exc_info,
    _redact_event,
    structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
]


class _RedactingRecordFactory:
    """Wraps a LogRecord factory so standard-library records hold redacted text from the start."""

    def __init__(self, factory: Callable[..., logging.LogRecord]) -> None:
        self._factory = factory

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self._factory(*args, **kwargs)
        if not isinstance(record.msg, _RedactedEvent):
            try:
                message = record.getMessage()
            except (TypeError, ValueError, KeyError):
                # Logging would report a broken format string later; keep its arguments out of it.
                message = f"{record.msg} (unformattable arguments)"
            record.msg = redact(message)
            record.args = None
        # Also for structlog's records: its exception() passes exc_info on to the standard library.
        if record.exc_info is not None:
            # Formatters reuse exc_text instead of formatting exc_info again.
            record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).removesuffix("\n"))
        return record


def _install_record_redaction() -> None:
    factory = logging.getLogRecordFactory()
    if not isinstance(factory, _RedactingRecordFactory):
        logging.setLogRecordFactory(_RedactingRecordFactory(factory))


def _is_terminal(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _renderer(*, json_lines: bool, colors: bool) -> Processor:
    if json_lines:
        return structlog.processors.JSONRenderer()
    # Plain tracebacks: the exception text is already formatted (and redacted); rich's pretty
    # tracebacks would also print local variables, secrets included.
    return structlog.dev.ConsoleRenderer(colors=colors, exception_formatter=structlog.dev.plain_traceback)


def configure_logging(level: str = "INFO", *, json_lines: bool | None = None, stream: IO[str] | None = None) -> None:
    """Send every log line (structlog and standard library) to ``stream``, redacted.

    ``level`` is a standard level name (``DEBUG``, ``INFO``, ...) applied to the root logger.
    ``stream`` defaults to ``sys.stderr``. ``json_lines`` chooses the renderer: one JSON object
    per line, or the human console format; ``None`` picks JSON unless ``stream`` is a terminal.
    Calling it again replaces the previous configuration; handlers added by others are kept.
    Raises :class:`~polyinfra.errors.InvalidValueError` for an unknown level.
    """
    numeric_level = logging.getLevelNamesMapping().get(level.upper())
    if numeric_level is None:
        raise InvalidValueError(f"unknown log level {level!r}", level=level)
    target = sys.stderr if stream is None else stream
    if json_lines is None:
        json_lines = not _is_terminal(target)
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.contextvars.merge_contextvars, structlog.stdlib.ExtraAdder()],
        processors=[
            # The logger's name comes from the record, so before the record is removed.
            structlog.stdlib.add_logger_name,
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.stdlib.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redact_event,
            _renderer(json_lines=json_lines, colors=not json_lines and _is_terminal(target)),
            _redact_rendered,
        ],
    )
    handler = logging.StreamHandler(target)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for previous in [existing for existing in root.handlers if existing.get_name() == _HANDLER_NAME]:
        # Not closed: the stream belongs to whoever passed it.
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(numeric_level)
    # websockets logs every frame at DEBUG with its middle cut out: no redaction can recognise a
    # secret split that way (the user channel's auth message), and it floods at the feed's rate.
    # Whoever needs those lines sets the "websockets" logger's level after this call.
    logging.getLogger("websockets").setLevel(max(numeric_level, logging.INFO))
    # httpx logs every request at INFO and httpcore every connection step at DEBUG, with full
    # URLs: per-request noise under the policy above (polyinfra's transport logs its requests at
    # DEBUG itself). Redaction still covers them when someone lowers these levels.
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(max(numeric_level, logging.WARNING))
    _install_record_redaction()
    # structlog loggers created elsewhere (structlog.get_logger) share the pipeline.
    structlog.configure(
        processors=_STRUCTLOG_CHAIN,
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger over the standard-library logger ``name``, redacting what it logs.

    It works before :func:`configure_logging` is called and whatever the application does with
    structlog's global configuration: its records go through the standard library, so an
    application that only calls ``logging.basicConfig`` still gets redacted lines.
    """
    logger: structlog.stdlib.BoundLogger = structlog.wrap_logger(
        logging.getLogger(name), processors=_STRUCTLOG_CHAIN, wrapper_class=structlog.stdlib.BoundLogger
    )
    return logger


def new_correlation_id() -> str:
    """A fresh random id (16 hex characters) for a request, a stream session or a job."""
    return secrets.token_hex(8)


@contextmanager
def correlation_scope(**ids: str) -> Iterator[None]:
    """Add ``ids`` (e.g. ``request_id=new_correlation_id()``) to every line logged inside the block.

    Scopes nest; leaving one restores the ids bound before it. The ids follow the current task or
    thread (context variables), so concurrent requests keep their own.
    """
    with structlog.contextvars.bound_contextvars(**ids):
        yield
