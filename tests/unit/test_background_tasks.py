"""The clients' task supervisor: a long-running task that dies is logged, counted and restarted after a
backoff; a cancelled one is not a death; a one-shot task's failure is counted, not repeated."""

from __future__ import annotations

import asyncio

from polyinfra.net.ws_sessions import BackgroundTasks, describe_failure
from polyinfra.obs.metrics import REGISTRY

HUGE_TEXT = "9" * 100_000


def _failures_exported(task: str) -> float:
    return REGISTRY.get_sample_value("polyinfra_task_failures_total", {"task": task}) or 0.0


def _tasks() -> BackgroundTasks:
    return BackgroundTasks("test", restart_initial_s=0.001, restart_max_s=0.01, random=lambda: 0.0)


async def test_a_dead_supervised_task_is_restarted_until_it_returns(gate_log_lines: list[str]) -> None:
    runs = 0

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs <= 2:
            raise ValueError(HUGE_TEXT)  # as int() of a 100,000-digit string would, text and all

    name = "test supervised flaky"
    exported = _failures_exported(name)
    tasks = _tasks()
    await asyncio.wait_for(tasks.supervise(flaky, name), timeout=30)

    assert runs == 3
    assert tasks.failures == {name: 2}
    assert _failures_exported(name) - exported == 2
    failures = [line for line in gate_log_lines if "background task failed" in line]
    assert len(failures) == 2 and all("restart_in_s" in line and "ValueError" in line for line in failures)
    # The exception's text is in the log only as far as a bounded excerpt.
    assert all(len(line) < 5_000 for line in failures), max(map(len, failures))


async def test_cancelling_a_supervised_task_is_not_a_death() -> None:
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    tasks = _tasks()
    task = tasks.supervise(forever, "test supervised forever")
    await started.wait()
    await tasks.stop()

    assert task.cancelled()
    assert tasks.failures == {}


async def test_a_one_shot_task_failure_is_counted_not_repeated() -> None:
    runs = 0

    async def once() -> None:
        nonlocal runs
        runs += 1
        raise RecursionError("maximum recursion depth exceeded while deserializing an object")

    tasks = _tasks()
    task = tasks.spawn(once(), "test one-shot")
    await asyncio.gather(task, return_exceptions=True)
    await asyncio.sleep(0)  # done callbacks run on the next loop iteration

    assert runs == 1
    assert tasks.failures == {"test one-shot": 1}


def test_failure_descriptions_are_bounded() -> None:
    description = describe_failure(ValueError(HUGE_TEXT))
    assert description.startswith("ValueError: 999")
    assert len(description) < 400 and "(100000 chars)" in description
