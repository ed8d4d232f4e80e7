"""``polyinfra demo`` end to end: a subprocess, not a terminal, so it prints plain lines."""

from __future__ import annotations

import re
import subprocess
import sys


def test_demo_prints_in_sync_books_as_plain_lines() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "polyinfra.cli.main", "demo", "--markets", "3", "--duration", "3", "--refresh-s", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    blocks = [block for block in result.stdout.split("--- ") if block.strip()]
    assert len(blocks) >= 2, result.stdout
    status, *book_lines = blocks[-1].strip().splitlines()
    # Three markets, two tokens each: every book is live and in sync with the emulator.
    assert "in sync 6/6" in status, status
    assert "hash mismatches 0" in status, status
    assert len(book_lines) == 6
    line = re.compile(r"^\d\. .+ (Yes|No): bid 0\.\d+ ask 0\.\d+ mid 0\.\d+ spread 0\.\d+ depth5 \$[\d,]+/\$[\d,]+ ")
    assert all(line.match(book_line) for book_line in book_lines), book_lines
