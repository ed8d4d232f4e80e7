"""Known secrets pushed through real code paths never reach a log line, and the gate catches them when they do.

The first tests send the session's test credentials where a careless caller would: in L2 headers,
an ``Authorization`` header, a query string (httpx logs URLs), the user channel's auth message
(websockets logs frames), and the context of an exception that is then logged. Each test shows
the raw text holds a secret — so a missing redaction would trip the gate — and that no captured
line does. The last test runs a pytest session with this suite's gate on tests that leak, and
checks that it fails naming the test, the secret and the form.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from polyinfra.errors import PolyinfraError, TransportError
from polyinfra.net.http import HttpTransport
from polyinfra.obs.logging import get_logger
from polyinfra.obs.redaction import MASK, SecretScanner
from tests.integration.conftest import EmulatorFactory

WAIT_S = 30.0
API_KEY = "000000000-0000-0000-0000-000000000000"  # the official test key: an identifier, not a watched secret


def _l2_headers(secrets: Any) -> dict[str, str]:
    return {
        "POLY_ADDRESS": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        # A made-up HMAC: signatures are masked by name, whatever their value.
        "POLY_SIGNATURE": "ZwAdJKvoYRlEKDkNMwd5BuwNNtg93kNaR_oU2HrfVvc=",
        "POLY_TIMESTAMP": "1000000",
        "POLY_API_KEY": API_KEY,
        "POLY_PASSPHRASE": secrets.api_passphrase,
        "Authorization": f"Bearer {secrets.jwt}",
    }


async def test_credentials_in_headers_and_query_reach_no_log_line(
    emulator_factory: EmulatorFactory, known_secrets: Any, gate_log_lines: list[str], secret_scanner: SecretScanner
) -> None:
    emulator = await emulator_factory()
    token = next(iter(emulator.exchange.markets.values())).tokens[0].token_id
    params = {"token_id": token, "api_secret": known_secrets.api_secret}
    raw_url = str(httpx.URL(emulator.urls["rest"] + "/book", params=params))
    assert secret_scanner.scan(raw_url), "the URL httpx logs holds the secret"

    httpx_logger = logging.getLogger("httpx")
    level = httpx_logger.level
    httpx_logger.setLevel(logging.INFO)  # held at WARNING by default; this test wants its URL lines
    try:
        async with HttpTransport(emulator.urls["rest"]) as transport:
            response = await transport.request("GET", "/book", params=params, headers=_l2_headers(known_secrets))
    finally:
        httpx_logger.setLevel(level)
    assert response.status == 200

    logged = "".join(gate_log_lines)
    url_lines = [json.loads(line) for line in gate_log_lines if "HTTP Request: GET" in line]
    assert url_lines, "httpx logged the request URL"
    assert f"api_secret={MASK}" in url_lines[0]["event"]
    assert token in url_lines[0]["event"], "token ids stay readable"
    assert secret_scanner.scan(logged) == []


async def test_an_exception_carrying_secrets_is_redacted_when_logged(
    emulator_factory: EmulatorFactory, known_secrets: Any, gate_log_lines: list[str], secret_scanner: SecretScanner
) -> None:
    emulator = await emulator_factory()
    headers = _l2_headers(known_secrets)
    async with HttpTransport(emulator.urls["rest"]) as transport:
        try:
            try:
                await transport.request("GET", "/no-such-endpoint", headers=headers)
            except PolyinfraError as venue_error:
                # The mistake the redaction layer exists for: credentials in an error's context.
                raise TransportError(
                    "placing the order failed",
                    request={"headers": headers, "private_key": known_secrets.private_key},
                    signing_key_b64=base64.b64encode(bytes.fromhex(known_secrets.private_key[2:])).decode(),
                ) from venue_error
        except TransportError as error:
            raw_context = repr(dict(error.context))
            error_text = str(error)
            get_logger("polyinfra.test.leaks").exception("placing failed", attempt=1)
            logging.getLogger("polyinfra.test.leaks.stdlib").error("placing failed: %s", error, exc_info=True)

    assert {sighting.secret_name for sighting in secret_scanner.scan(raw_context)} == {
        "api_passphrase",
        "jwt",
        "private_key",
    }, "the exception carries the secrets"
    assert secret_scanner.scan(error_text) == [], "but its text never shows them"
    logged = "".join(gate_log_lines)
    assert logged.count("TransportError: placing the order failed") == 2, "both tracebacks were logged"
    assert "NotFoundError" in logged or "ApiError" in logged or "HttpClientError" in logged, "with their cause"
    assert secret_scanner.scan(logged) == []


async def test_the_user_channel_auth_message_reaches_no_log_line(
    emulator_factory: EmulatorFactory, known_secrets: Any, gate_log_lines: list[str], secret_scanner: SecretScanner
) -> None:
    emulator = await emulator_factory()
    auth = {"apiKey": API_KEY, "secret": known_secrets.random_api_secret, "passphrase": known_secrets.api_passphrase}
    # Without "type" the emulator rejects the message and logs the rejection.
    rejected = json.dumps({"auth": auth, "markets": []})
    subscription = json.dumps({"auth": auth, "type": "user", "markets": []})
    assert secret_scanner.scan(rejected) and secret_scanner.scan(subscription)
    async with websockets.connect(emulator.urls["ws_user"]) as socket:
        await socket.send(rejected)
        await socket.send(subscription)
        # Credentials of no live key: the socket is dropped, and both refusals are logged.
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(socket.recv(), WAIT_S)
    assert any("ignoring invalid client message" in line for line in gate_log_lines)
    assert any("dropping the socket" in line for line in gate_log_lines)
    # websockets' frame dumps (cut in the middle, so unrecognisable to redaction) are held back.
    assert not any("TEXT" in line for line in gate_log_lines)
    assert secret_scanner.scan("".join(gate_log_lines)) == []


_LEAKING_TESTS = """
    import base64
    import logging

    from polyinfra.obs.logging import get_logger


    def test_clean_logging(known_secrets):
        get_logger("inner").warning("login", passphrase=known_secrets.api_passphrase)
        logging.getLogger("inner.stdlib").warning("secret=%s", known_secrets.api_secret)


    def test_prints_a_decoded_private_key(known_secrets):
        print(base64.b64encode(bytes.fromhex(known_secrets.private_key[2:])).decode())


    def test_raises_with_a_passphrase(known_secrets):
        # Not a PolyinfraError (whose text is redacted): a plain exception is only caught by the gate.
        raise ValueError("rejected with passphrase " + known_secrets.api_passphrase)


    def test_prints_a_frame_with_its_middle_cut_out(known_secrets):
        frame = '{"auth": {"apiKey": "k", "secret": "%s"}}' % known_secrets.random_api_secret
        print("> TEXT %r [%d bytes]" % (frame[:50] + "..." + frame[-25:], len(frame)))
"""

_LEAK_OUTSIDE_TESTS = """

def pytest_collection_finish(session):
    _gate_stream.write("a line written outside any test: " + KNOWN_TEST_SECRETS.jwt + "\\n")
"""


# The suite runs under pytest-xdist, where a worker's exit status and terminal are not the run's:
# the gate must fail the run and name the leak there as well as in one process.
@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one process", "xdist workers"])
def test_the_gate_fails_a_session_that_leaks_naming_test_secret_and_form(
    tmp_path: Path, secret_scanner: SecretScanner, workers: list[str]
) -> None:
    conftest = (Path(__file__).parents[1] / "conftest.py").read_text()
    (tmp_path / "conftest.py").write_text(conftest + _LEAK_OUTSIDE_TESTS)
    (tmp_path / "test_leaks.py").write_text(textwrap.dedent(_LEAKING_TESTS))
    (tmp_path / "pytest.ini").write_text("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rA", *workers, str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout
    assert result.returncode == 1, output + result.stderr
    assert "PASSED test_leaks.py::test_clean_logging" in output
    assert "secret leak in test_leaks.py::test_clean_logging" not in output
    assert (
        "secret leak in test_leaks.py::test_prints_a_decoded_private_key:\n"
        "test secret 'private_key' appeared as base64 of the decoded hex in the report section 'Captured stdout call'"
    ) in output
    assert (
        "secret leak in test_leaks.py::test_raises_with_a_passphrase:\n"
        "test secret 'api_passphrase' appeared as as given in the call exception text"
    ) in output
    assert (
        "secret leak in test_leaks.py::test_prints_a_frame_with_its_middle_cut_out:\n"
        "test secret 'random_api_secret' appeared as a fragment"
    ) in output
    assert "secret leak outside any test" in output
    assert "test secret 'jwt' appeared as as given in a log line" in output
    # The gate's own messages show where a secret appeared, not the secret.
    messages = [line for line in output.splitlines() if line.startswith("test secret ")]
    assert len(messages) >= 4
    assert secret_scanner.scan("\n".join(messages)) == []
