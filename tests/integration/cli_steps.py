"""Running ``polyinfra`` from an async test, whose event loop keeps serving the emulator the command talks to
meanwhile: as a real process (:func:`run_polyinfra`, for what is about the process: its exit, its signals, its
environment), or in this process (:func:`run_polyinfra_in_process`, the same command line and answers without a
Python start-up and its imports: seconds saved per command on a busy machine)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping

from typer.testing import CliRunner

from polyinfra.cli.main import app

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


async def run_polyinfra_in_process(*arguments: str, env: Mapping[str, str] | None = None) -> tuple[int, str, str]:
    """As :func:`run_polyinfra`, in a worker thread of this process (the commands run their own event loop);
    ``env`` here only adds to this process's environment, for the command's duration. An exception the command
    does not turn into its exit code is raised here."""

    def invoke() -> tuple[int, str, str]:
        result = CliRunner().invoke(app, list(arguments), env=env, catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    return await asyncio.wait_for(asyncio.to_thread(invoke), WAIT_S)
