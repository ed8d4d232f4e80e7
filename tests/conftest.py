"""The secret-leak gate: no known test secret may appear in any log line or exception text of the run.

For the whole session it

* registers a fixed set of test secrets for redaction, as an application registers its credentials
  (the :func:`known_secrets` fixture hands them to tests that need credentials);
* routes every log line, structlog and standard library, every level down to DEBUG, through
  polyinfra's logging pipeline into a scanner;
* scans every test report: exception text (failures and errors) and the captured stdout, stderr
  and log sections;

and looks for each secret in every form :func:`polyinfra.obs.redaction.secret_forms` lists
(as given, base64, url-safe base64, hex, decoded bytes, URL-encoded), and for fragments of them
(23 characters or more). A test during which a secret
appears gets an error at teardown naming the test, the secret and the form; a sighting outside any
test fails the session. Under pytest-xdist each worker runs its own gate and hands its sightings
outside tests to the controller, which fails the run and prints them.

How the suite runs in parallel, and the one way tests name what they create on the shared
PostgreSQL and NATS servers (:func:`tests.unique_names.unique_name`): tests/README.md.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import pytest

from polyinfra.obs.logging import configure_logging
from polyinfra.obs.redaction import SecretScanner, redact, register_secret


@dataclass(frozen=True, slots=True, repr=False)
class KnownTestSecrets:
    """Credentials used across the tests. Each value is a secret the gate watches for.

    Its repr names the fields only: pytest prints the locals of a failing test, fixtures included.
    """

    # Hardhat/Anvil account #0, the official clients' test key.
    private_key: str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
    # 32 zero bytes, url-safe base64 (its hex, 64 zeros, is not watched: it is every zero hash).
    api_secret: str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
    # The official clients' test passphrase (venue notes: Test vectors).
    api_passphrase: str = "a" * 64
    # 32 random bytes, so that the decoded-bytes forms of a realistic API secret are watched too.
    random_api_secret: str = "RvQDlBjfs9DTCS-Uzem-myh60ZhN52LHWim-FJRzBxs="
    # An RS256 client assertion shaped like the US exchange's Private-Key-JWT. Its header
    # starts with "kid", so that its fragments do not match the generic '{"alg":"RS256","typ":"JWT"}'.
    jwt: str = (
        "eyJraWQiOiJwb2x5aW5mcmEtdGVzdCIsImFsZyI6IlJTMjU2IiwidHlwIjoiSldUIn0."
        "eyJpc3MiOiJwb2x5aW5mcmEtdGVzdCIsInN1YiI6InBvbHlpbmZyYS10ZXN0IiwiYXVkIjoiaHR0cHM6Ly9hcGkucG9seW1hcmtldC51cyIs"
        "ImV4cCI6MTcwMDAwMDAwMH0._8m9UvDvP3NLo3p_1njYqNV7Ze3cC8fCMFKZg0uTqvNUnzM91xr2wvTMEvVvJlIOQw_9uDciAnAOrGaiDPhdqQ"
    )

    def by_name(self) -> dict[str, str]:
        return asdict(self)

    def __repr__(self) -> str:
        return f"KnownTestSecrets({', '.join(self.by_name())})"


KNOWN_TEST_SECRETS = KnownTestSecrets()

_CONTEXT_CHARS = 60

# Any 23 consecutive characters of a secret's form count as a leak (websockets, for one, logs long
# frames with their middle cut out).
GATE_FRAGMENT_CHARS = 12


class _LeakGate:
    """Scans text for the known secrets and remembers where each one was seen."""

    def __init__(self, secrets: KnownTestSecrets) -> None:
        self._scanner = SecretScanner(secrets.by_name(), fragment_chars=GATE_FRAGMENT_CHARS)
        self._lock = threading.Lock()
        self._leaks: dict[str | None, list[str]] = {}
        self.current_test: str | None = None
        self.kept_lines: list[str] | None = None

    def scan(self, text: str, where: str) -> None:
        sightings = self._scanner.scan(text)
        if not sightings:
            return
        # The text before each sighting tells where it came from, with the sightings in it replaced.
        pieces: list[str] = []
        marker_positions: list[int] = []
        cursor = 0
        for sighting in sightings:
            pieces.append(text[cursor : sighting.position])
            marker_positions.append(sum(map(len, pieces)))
            pieces.append(f"<{sighting.secret_name}>")
            cursor = sighting.end
        masked = "".join(pieces)
        with self._lock:
            for sighting, marker in zip(sightings, marker_positions, strict=True):
                before = redact(masked[max(0, marker - _CONTEXT_CHARS) : marker])
                self._leaks.setdefault(self.current_test, []).append(
                    f"test secret {sighting.secret_name!r} appeared as {sighting.form} in {where}, after: {before!r}"
                )

    def take_leaks(self, test: str | None) -> list[str]:
        with self._lock:
            return self._leaks.pop(test, [])


class _ScanningStream(io.TextIOBase):
    """The stream every log line is written to: scanned, optionally kept for the current test, dropped."""

    def __init__(self, gate: _LeakGate) -> None:
        super().__init__()
        self._gate = gate

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._gate.scan(text, "a log line")
        kept = self._gate.kept_lines
        if kept is not None:
            kept.append(text)
        return len(text)


_gate = _LeakGate(KNOWN_TEST_SECRETS)
_gate_stream = _ScanningStream(_gate)


def arm_gate() -> None:
    """Route all logging, at DEBUG, to the gate (again, if a test reconfigured logging)."""
    root = logging.getLogger()
    if root.level != logging.DEBUG or not any(
        getattr(handler, "stream", None) is _gate_stream for handler in root.handlers
    ):
        configure_logging("DEBUG", json_lines=True, stream=_gate_stream)


def pytest_configure(config: pytest.Config) -> None:
    for value in KNOWN_TEST_SECRETS.by_name().values():
        register_secret(value)
    arm_gate()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    arm_gate()
    _gate.current_test = item.nodeid
    try:
        return (yield)
    finally:
        _gate.current_test = None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report: pytest.TestReport = yield
    if report.longrepr is not None:
        _gate.scan(report.longreprtext, f"the {report.when} exception text")
    if report.when == "teardown":
        # Sections accumulate over setup, call and teardown: scanning them once covers all three.
        for title, content in report.sections:
            _gate.scan(content, f"the report section {title!r}")
        leaks = _gate.take_leaks(item.nodeid)
        if leaks:
            report.outcome = "failed"
            report.longrepr = f"secret leak in {item.nodeid}:\n" + "\n".join(sorted(set(leaks)))
    return report


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    outside_tests = [*config.stash.get(_OUTSIDE_TESTS_KEY, []), *_gate.take_leaks(None)]
    worker_output = getattr(config, "workeroutput", None)
    if worker_output is not None:
        # An xdist worker: its exit status and terminal are not the run's, so its sightings go
        # to the controller, which fails the session and prints them (pytest_testnodedown).
        worker_output[_WORKER_OUTPUT_KEY] = outside_tests
        return
    if outside_tests:
        config.stash[_OUTSIDE_TESTS_KEY] = outside_tests
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_OUTSIDE_TESTS_KEY = pytest.StashKey[list[str]]()
_WORKER_OUTPUT_KEY = "polyinfra_secret_leaks_outside_tests"


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """xdist's controller, as each worker finishes: take over the worker's outside-test sightings."""
    sightings = getattr(node, "workeroutput", {}).get(_WORKER_OUTPUT_KEY, [])
    if sightings:
        config: pytest.Config = node.config
        config.stash[_OUTSIDE_TESTS_KEY] = [*config.stash.get(_OUTSIDE_TESTS_KEY, []), *sightings]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    outside_tests = config.stash.get(_OUTSIDE_TESTS_KEY, [])
    if outside_tests:
        terminalreporter.section("secret leak outside any test", red=True)
        for leak in sorted(set(outside_tests)):
            terminalreporter.line(leak, red=True)


@pytest.fixture(scope="session")
def known_secrets() -> KnownTestSecrets:
    """The test credentials the leak gate watches for (already registered for redaction)."""
    return KNOWN_TEST_SECRETS


@pytest.fixture
def isolated_logging() -> Iterator[None]:
    """For tests that call ``configure_logging`` themselves: the gate takes logging back afterwards."""
    yield
    arm_gate()


@pytest.fixture
def gate_log_lines() -> Iterator[list[str]]:
    """Every log line (rendered, as the gate saw it) emitted during the test, in order."""
    _gate.kept_lines = lines = []
    try:
        yield lines
    finally:
        _gate.kept_lines = None


@pytest.fixture
def secret_scanner() -> SecretScanner:
    """A scanner for the known test secrets: the gate's own detector."""
    return SecretScanner(KNOWN_TEST_SECRETS.by_name(), fragment_chars=GATE_FRAGMENT_CHARS)
