"""Running ``polyinfra`` from an async test, as a real process or in-process, while the test's event
loop keeps serving the emulator the command talks to."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping

from typer.testing import CliRunner

from polyinfra.cli.main import app
from tests.conftest import arm_gate

WAIT_S = 60.0


async def start_polyinfra(*arguments: str, env: Mapping[str, str] | None = None) -> asyncio.subprocess.Process:
    """``polyinfra ARGUMENTS`` started, with ``env`` as its whole environment (default: this process's)."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "polyinfra.cli.main",
        *arguments,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )


async def run_polyinfra(*arguments: str, env: Mapping[str, str] | None = None) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``polyinfra ARGUMENTS`` run to its end (``env``: as for
    :func:`start_polyinfra`)."""
    process = await start_polyinfra(*arguments, env=env)
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), WAIT_S)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def run_polyinfra_in_process(
    *arguments: str, env: Mapping[str, str | None] | None = None, stdin: bytes | None = None
) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``polyinfra ARGUMENTS`` run by its Typer app in a thread of
    this process (with an event loop of its own), while the test's loop keeps serving the emulator.

    For tests of what a command prints and exits with, not of its process: starting one costs about
    a second of CPU in imports. A test about the process itself (a signal, a kill, what a crash
    leaves behind) uses :func:`start_polyinfra`. ``env`` overrides this process's environment for
    the run (``None`` removes a variable), as a process would see it. An exception that escapes the
    command, which as a process would end in a traceback, is raised here. The command sets up
    logging for itself; the secret-leak gate takes logging back afterwards.
    """
    runner = CliRunner()
    try:
        result = await asyncio.to_thread(
            runner.invoke, app, list(arguments), input=stdin, env=env, prog_name="polyinfra"
        )
    finally:
        arm_gate()
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr
