"""Structured logging: JSON lines or console, correlation ids, stdlib routing, redaction of everything."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from typing import Any

import pytest
import structlog

from polyinfra.errors import InvalidValueError, TransportError
from polyinfra.obs.logging import configure_logging, correlation_scope, get_logger, new_correlation_id
from polyinfra.obs.redaction import MASK, SecretScanner

pytestmark = pytest.mark.usefixtures("isolated_logging")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def _configure(*, level: str = "DEBUG", json_lines: bool | None = None) -> io.StringIO:
    stream = io.StringIO()
    configure_logging(level, json_lines=json_lines, stream=stream)
    return stream


def test_json_lines_when_the_stream_is_not_a_terminal() -> None:
    stream = _configure()
    get_logger("polyinfra.test").info("connected", url="ws://127.0.0.1:1/ws/market", tokens=3)
    [line] = _json_lines(stream)
    assert line["event"] == "connected"
    assert (line["level"], line["logger"]) == ("info", "polyinfra.test")
    assert (line["url"], line["tokens"]) == ("ws://127.0.0.1:1/ws/market", 3)
    assert line["timestamp"].endswith("Z")


def test_console_renderer_on_a_terminal() -> None:
    stream = _Terminal()
    configure_logging("INFO", stream=stream)
    get_logger("polyinfra.test").warning("resyncing", token_id="123")
    output = stream.getvalue()
    assert "resyncing" in output
    assert "token_id" in output and "123" in output
    with pytest.raises(json.JSONDecodeError):
        json.loads(output)


def test_json_lines_can_be_forced_on_a_terminal() -> None:
    stream = _Terminal()
    configure_logging("INFO", json_lines=True, stream=stream)
    get_logger("polyinfra.test").info("started")
    assert _json_lines(stream)[0]["event"] == "started"


def test_level_filters_structlog_and_stdlib() -> None:
    stream = _configure(level="WARNING")
    get_logger("polyinfra.test").info("not shown")
    logging.getLogger("aiohttp.access").info("not shown either")
    get_logger("polyinfra.test").warning("shown")
    logging.getLogger("aiohttp.server").error("also shown")
    assert [line["event"] for line in _json_lines(stream)] == ["shown", "also shown"]


def test_websockets_frame_dumps_are_held_back_unless_asked_for() -> None:
    stream = _configure()
    logging.getLogger("websockets.client").debug('> TEXT \'{"auth": {"passphrase": "aaaa...\' [120 bytes]')
    logging.getLogger("websockets.client").info("connection closed")
    assert [line["event"] for line in _json_lines(stream)] == ["connection closed"]


def test_unknown_level_is_an_invalid_value() -> None:
    with pytest.raises(InvalidValueError):
        configure_logging("LOUD", stream=io.StringIO())


def test_reconfiguring_replaces_the_previous_stream() -> None:
    first = _configure()
    second = _configure()
    get_logger("polyinfra.test").info("once")
    assert first.getvalue() == ""
    assert len(_json_lines(second)) == 1


def test_correlation_ids_reach_structlog_and_stdlib_lines_and_nest() -> None:
    stream = _configure()
    log = get_logger("polyinfra.test")
    session_id = new_correlation_id()
    with correlation_scope(session_id=session_id):
        log.info("session opened")
        with correlation_scope(request_id="req-1"):
            logging.getLogger("aiohttp.server").info("request handled")
        log.info("session still open")
    log.info("after")
    lines = _json_lines(stream)
    assert [(line.get("session_id"), line.get("request_id")) for line in lines] == [
        (session_id, None),
        (session_id, "req-1"),
        (session_id, None),
        (None, None),
    ]


async def test_concurrent_tasks_keep_their_own_correlation_ids() -> None:
    stream = _configure()
    log = get_logger("polyinfra.test")
    both_inside = asyncio.Barrier(2)

    async def request(request_id: str) -> None:
        with correlation_scope(request_id=request_id):
            await both_inside.wait()
            log.info("answered", expected=request_id)

    await asyncio.gather(request("a"), request("b"))
    lines = _json_lines(stream)
    assert len(lines) == 2
    assert all(line["request_id"] == line["expected"] for line in lines)


def test_correlation_ids_are_fresh() -> None:
    ids = {new_correlation_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(len(correlation_id) == 16 for correlation_id in ids)


def test_structlog_values_and_nested_containers_are_redacted(known_secrets: Any) -> None:
    stream = _configure()
    get_logger("polyinfra.test").info(
        "posting order with %s",
        known_secrets.api_passphrase,
        api_secret=known_secrets.api_secret,
        headers={"POLY_PASSPHRASE": known_secrets.api_passphrase, "POLY_TIMESTAMP": "1000000"},
        body=f'{{"owner": "k", "signature": "0xabc", "note": "{known_secrets.jwt}"}}',
        by_key={known_secrets.random_api_secret: 1},
        token_id="71321045679252212594626385532706912750332728571942532289631379312455583992563",
    )
    output = stream.getvalue()
    assert SecretScanner(known_secrets.by_name()).scan(output) == []
    [line] = _json_lines(stream)
    assert line["event"] == f"posting order with {MASK}"
    assert line["api_secret"] == MASK
    assert line["headers"] == {"POLY_PASSPHRASE": MASK, "POLY_TIMESTAMP": "1000000"}
    assert json.loads(line["body"]) == {"owner": "k", "signature": MASK, "note": MASK}
    # A secret used as a dict key is only caught by the last pass over the rendered line.
    assert line["by_key"] == {MASK: 1}
    assert line["token_id"].startswith("7132")


def test_stdlib_loggers_are_routed_and_redacted(known_secrets: Any) -> None:
    stream = _configure()
    logging.getLogger("aiohttp.client").debug(
        "sending %r [%d bytes]", json.dumps({"auth": {"secret": known_secrets.api_secret}}), 99
    )
    logging.getLogger("polyinfra.emulator.runner").info(
        "credentials loaded", extra={"private_key": known_secrets.private_key, "wallet": "0xf39F"}
    )
    output = stream.getvalue()
    assert SecretScanner(known_secrets.by_name()).scan(output) == []
    first, second = _json_lines(stream)
    assert (first["logger"], first["level"]) == ("aiohttp.client", "debug")
    assert MASK in first["event"]
    assert (second["private_key"], second["wallet"]) == (MASK, "0xf39F")


def test_other_handlers_receive_redacted_stdlib_records(known_secrets: Any) -> None:
    _configure()
    seen: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = seen.append  # type: ignore[method-assign]
    logger = logging.getLogger("polyinfra.test.other_handler")
    logger.addHandler(handler)
    try:
        try:
            raise TransportError("connect failed", detail=f"passphrase={known_secrets.api_passphrase}")
        except TransportError:
            logger.exception("request to %s failed", f"https://x/?secret={known_secrets.api_secret}")
    finally:
        logger.removeHandler(handler)
    [record] = seen
    text = logging.Formatter().format(record)
    assert "request to https://x/?secret=" in text
    assert "TransportError: connect failed" in text
    assert SecretScanner(known_secrets.by_name()).scan(text) == []


def test_structlog_records_are_redacted_before_any_handler(known_secrets: Any) -> None:
    seen: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = seen.append  # type: ignore[method-assign]
    logger = logging.getLogger("polyinfra.test.structlog_records")
    logger.addHandler(handler)
    try:
        get_logger("polyinfra.test.structlog_records").warning("login", passphrase=known_secrets.api_passphrase)
    finally:
        logger.removeHandler(handler)
    [record] = seen
    assert SecretScanner(known_secrets.by_name()).scan(record.getMessage()) == []
    assert MASK in record.getMessage()


@pytest.mark.parametrize("json_lines", [True, False])
def test_exception_tracebacks_are_redacted(known_secrets: Any, json_lines: bool) -> None:
    stream = _configure(json_lines=json_lines)
    context = {"endpoint": "/order", "secret": known_secrets.api_secret, "key": known_secrets.private_key}
    try:
        raise TransportError("POST /order failed", request=context)
    except TransportError:
        get_logger("polyinfra.test").exception("order not sent", attempt=1)
        logging.getLogger("httpx").error("stdlib view", exc_info=True)
    try:
        raise ValueError(f"bad header Authorization: Bearer {known_secrets.jwt}")
    except ValueError:
        get_logger("polyinfra.test").error("header rejected", exc_info=True)
    output = stream.getvalue()
    assert output.count("Traceback (most recent call last)") == 3
    assert "TransportError: POST /order failed" in output
    assert SecretScanner(known_secrets.by_name()).scan(output) == []


def test_structlog_global_configuration_shares_the_pipeline(known_secrets: Any) -> None:
    stream = _configure()
    structlog.get_logger("app").info("from the application", client_secret=known_secrets.random_api_secret)
    [line] = _json_lines(stream)
    assert (line["event"], line["client_secret"], line["logger"]) == ("from the application", MASK, "app")
