"""How long the ``polyinfra`` command takes to start, against two anchors measured in the same run.

Run: ``python bench/cli_startup.py [--runs N] [--top K]``

Each case is a fresh interpreter (``python -c``), so start-up is measured as a user meets it:

* anchors: ``python -c pass`` (the interpreter alone) and ``python -c "import typer"`` (the
  command-line library every ``polyinfra`` command needs, the floor for this CLI);
* ``polyinfra --help``, ``polyinfra --version`` and ``polyinfra order sign --help``, run through
  ``polyinfra.cli.main.main()`` as the installed script does.

Each case runs ``--runs`` times, interleaved so that a busy moment of the machine hits every case
alike; the median wall time is reported, as milliseconds and as a ratio to each anchor. Then
``-X importtime`` of ``polyinfra --help`` lists the ``--top`` modules by cumulative import time:
what the start-up is spent on. Measure an older checkout with the same interpreter by pointing
``PYTHONPATH`` at its ``src``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Final

_RUN_CLI: Final = "import sys; sys.argv = ['polyinfra', *{arguments!r}]\nfrom polyinfra.cli.main import main\nmain()"

ANCHORS: Final = {
    "python -c pass": "pass",
    'python -c "import typer"': "import typer",
}
CASES: Final = {
    "polyinfra --help": ["--help"],
    "polyinfra --version": ["--version"],
    "polyinfra order sign --help": ["order", "sign", "--help"],
}


def _program(arguments: Sequence[str]) -> str:
    return _RUN_CLI.format(arguments=list(arguments))


def _wall_time_s(code: str) -> float:
    started = time.perf_counter()
    # --version did not exist before this bench: a failing case still measures its start-up.
    subprocess.run([sys.executable, "-c", code], capture_output=True, check=False)
    return time.perf_counter() - started


def _import_times(code: str) -> list[tuple[int, str]]:
    """``(cumulative microseconds, module)`` of every import ``code`` makes, largest first."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=False
    )
    rows = []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, module = line.removeprefix("import time:").split("|")
        rows.append((int(cumulative), module.strip()))
    return sorted(rows, reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15, help="runs of each case (median reported)")
    parser.add_argument("--top", type=int, default=12, help="modules listed by cumulative import time")
    options = parser.parse_args()

    programs = dict(ANCHORS)
    programs |= {name: _program(arguments) for name, arguments in CASES.items()}
    times: dict[str, list[float]] = {name: [] for name in programs}
    for code in programs.values():
        _wall_time_s(code)  # warm the file cache: the first run of each reads .pyc files from disk
    for _ in range(options.runs):
        for name, code in programs.items():
            times[name].append(_wall_time_s(code))
    medians = {name: statistics.median(samples) for name, samples in times.items()}
    bare, typer_only = (medians[name] for name in ANCHORS)

    print(f"python {sys.version.split()[0]}, median of {options.runs} runs each")
    print(f"{'case':<32}{'ms':>8}{'x pass':>9}{'x typer':>9}")
    for name, median in medians.items():
        print(f"{name:<32}{median * 1000:>8.1f}{median / bare:>9.2f}{median / typer_only:>9.2f}")

    print(f"\npolyinfra --help: top {options.top} modules by cumulative import time")
    for cumulative_us, module in _import_times(_program(CASES["polyinfra --help"]))[: options.top]:
        print(f"{cumulative_us / 1000:>8.1f} ms  {module}")


if __name__ == "__main__":
    main()
