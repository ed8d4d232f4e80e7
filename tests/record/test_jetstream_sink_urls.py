"""``nats://`` sink URLs and subject tokens: no server needed (tests/services runs the sink itself)."""

from __future__ import annotations

import sys

import pytest

from polyinfra.errors import SinkUrlError
from polyinfra.record.jetstream_sink import JetStreamSink, subject_token
from polyinfra.record.sink_urls import open_sink

# Not one of the secrets the test session registers for redaction: the code must mask it itself.
PASSWORD = "jetstream-pw-5b0e9c1d7f"


def test_open_sink_names_the_stream_after_the_host_without_connecting() -> None:
    sink = open_sink("nats://127.0.0.1:1/recording-1")
    assert isinstance(sink, JetStreamSink)
    assert sink.stream == "recording-1"
    assert sink.url == "nats://127.0.0.1:1/recording-1"


@pytest.mark.parametrize(
    "url",
    [
        "nats://127.0.0.1:4222",
        "nats://127.0.0.1:4222/",
        "nats://127.0.0.1:4222/a/b",
        "nats://127.0.0.1:4222/a.b",
        "nats://127.0.0.1:4222/" + "s" * 65,
        "nats://127.0.0.1:4222/stream?tls=1",
        "nats:///stream",
        "nats://127.0.0.1:99999/stream",
        "nats://127.0.0.1:port/stream",
    ],
)
def test_a_malformed_url_is_a_sink_url_error_without_its_credentials(url: str) -> None:
    with_password = url.replace("nats://", f"nats://recorder:{PASSWORD}@")
    for given in (url, with_password):
        with pytest.raises(SinkUrlError) as raised:
            open_sink(given)
        assert PASSWORD not in str(raised.value) + repr(raised.value)


def test_an_unknown_scheme_is_refused_without_its_credentials() -> None:
    with pytest.raises(SinkUrlError) as raised:
        open_sink(f"redis://{PASSWORD}@127.0.0.1/0")
    assert PASSWORD not in str(raised.value)
    assert raised.value.context["url"] == "redis://[REDACTED]@127.0.0.1/0"


@pytest.mark.parametrize(
    ("text", "token"),
    [
        ("clob", "clob"),
        ("", "_"),
        ("_", "%5F"),
        ("a.b", "a%2Eb"),
        ("*", "%2A"),
        (">", "%3E"),
        ("é", "%C3%A9"),
        ("a b\tc", "a%20b%09c"),
        ("%", "%25"),
    ],
)
def test_subject_tokens_escape_what_nats_gives_a_meaning(text: str, token: str) -> None:
    assert subject_token(text) == token


def test_a_long_key_becomes_a_digest_and_distinct_keys_stay_distinct() -> None:
    long_keys = ["7" * 100, "7" * 101, "." * 34, "." * 40]
    tokens = [subject_token(key) for key in long_keys]
    assert tokens[0] == "7" * 100
    assert all(token.startswith("~") and len(token) == 41 for token in tokens[1:])
    assert len(set(tokens)) == len(tokens)


def test_without_nats_py_a_nats_url_says_which_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "polyinfra.record.jetstream_sink")
    monkeypatch.setitem(sys.modules, "nats", None)  # what an install without the extra imports
    with pytest.raises(SinkUrlError, match=r"polyinfra\[nats\]") as raised:
        open_sink(f"nats://{PASSWORD}@127.0.0.1/recording")
    assert PASSWORD not in str(raised.value)
