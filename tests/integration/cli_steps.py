"""Running ``polyinfra`` as a real process from an async test, whose event loop keeps serving the
emulator the command talks to meanwhile."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping

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
