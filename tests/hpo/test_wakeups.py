"""The search loop wakes on its children's writes, not on its regular pass.

The test plays the agent of the search's queue (claims its trials, reports for them and
ends them through the store) while the loop's regular pass (``CHILDREN_POLL_S``) is set
far beyond the test's waits: a finished trial's slot refilled, or a report acted on, within
those waits can only come from the store waking the loop. The latencies themselves are
measured by ``benchmarks/hpo_wakeups.py``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers.wait import wait_until
from tests.hpo.helpers import Env
from tunehouse.hpo import controller
from tunehouse.hpo.optimizer import HyperParameterOptimizer
from tunehouse.hpo.space import UniformParameterRange
from tunehouse.hpo.trials import read_new_points
from tunehouse.store.base import Store
from tunehouse.store.records import EventBatch, StatusChange, Task, TaskStatus

SPACE = [UniformParameterRange("x", 0.0, 1.0), UniformParameterRange("y", 0.0, 1.0)]
#: The loop's regular pass in these tests: longer than any of their waits.
SLOW_PASS_S = 120.0
#: Generous: a wake-up takes milliseconds, this allows for a loaded machine.
WAKE_S = 15.0


@pytest.fixture(autouse=True)
def slow_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(controller, "CHILDREN_POLL_S", SLOW_PASS_S)


def start_search(env: Env, queue: str, concurrent: int = 1,
                 **options: object) -> HyperParameterOptimizer:
    search = HyperParameterOptimizer(
        env.base_task(), SPACE, "objective", "value", strategy="random", seed=3,
        execution_queue=queue, max_number_of_concurrent_tasks=concurrent, store=env.store,
        settings=env.settings, **options)  # type: ignore[arg-type]
    search.start()
    return search


def claim(env: Env, queue: str) -> Task:
    """The next trial of ``queue``, claimed as its agent."""
    return wait_until(lambda: env.store.queues.claim_task([queue], "test-agent", wait_s=1),
                      WAKE_S, f"a trial queued in {queue}")


def report(env: Env, task_id: str, iteration: int, value: float) -> None:
    env.store.events.add_events(EventBatch(
        batch_id=f"{task_id}-{iteration}", task_id=task_id,
        scalars=[("objective", "value", iteration, value, 0.0)]))


@pytest.fixture
def searches() -> Iterator[list[HyperParameterOptimizer]]:
    """Searches a test started: a failed test's search is stopped (at its next pass)."""
    started: list[HyperParameterOptimizer] = []
    yield started
    for search in started:
        if search.ending is None:
            search.stop(timeout=0)


def test_a_finished_trials_slot_is_refilled_at_once(
        env: Env, searches: list[HyperParameterOptimizer]) -> None:
    search = start_search(env, "wake-refill", total_max_jobs=2)
    searches.append(search)
    first = claim(env, "wake-refill")
    report(env, first.id, 0, 0.5)
    assert len(env.children(search.id or "")) == 1  # one at a time: no second trial yet
    env.store.tasks.change_status(first.id, StatusChange(status=TaskStatus.completed))
    second = claim(env, "wake-refill")  # created and queued once the first ended
    assert second.id != first.id
    report(env, second.id, 0, 0.7)
    env.store.tasks.change_status(second.id, StatusChange(status=TaskStatus.completed))
    assert search.wait(timeout=WAKE_S)  # the budget is used: the last end ends the search
    assert search.ending == ("completed", "2 trials: 2 completed, 0 pruned, 0 failed")


def test_a_report_is_judged_at_once(env: Env,
                                    searches: list[HyperParameterOptimizer]) -> None:
    search = start_search(env, "wake-judge", total_max_jobs=1, max_iteration_per_job=2)
    searches.append(search)
    trial = claim(env, "wake-judge")
    report(env, trial.id, 1, 0.5)
    assert not env.store.tasks.get_task(trial.id).abort_requested
    report(env, trial.id, 2, 0.6)  # reaches max_iteration_per_job: the trial is stopped
    stopped = wait_until(lambda: env.store.tasks.get_task(trial.id).abort_requested, WAKE_S,
                         f"the abort of {trial.id} requested")
    assert stopped
    outcome = env.outcome(trial.id)
    assert outcome is not None and (outcome.kind, outcome.iteration) == ("stopped", 2)
    env.store.tasks.change_status(trial.id, StatusChange(status=TaskStatus.aborted,
                                                         reason="aborted on request"))
    assert search.wait(timeout=WAKE_S)
    assert search.ending == ("completed", "1 trials: 1 completed, 0 pruned, 0 failed")


def test_a_pass_woken_by_one_trial_reads_nothing_of_a_quiet_one(
        env: Env, searches: list[HyperParameterOptimizer],
        monkeypatch: pytest.MonkeyPatch) -> None:
    reads: Counter[str] = Counter()

    def counted(store: Store, task_id: str, *args: Any) -> Any:
        reads[task_id] += 1
        return read_new_points(store, task_id, *args)

    monkeypatch.setattr(controller, "read_new_points", counted)
    search = start_search(env, "wake-quiet", total_max_jobs=2, max_iteration_per_job=3,
                          concurrent=2)
    searches.append(search)
    busy, quiet = claim(env, "wake-quiet"), claim(env, "wake-quiet")
    wait_until(lambda: reads[quiet.id], WAKE_S, f"the reports of {quiet.id} read")
    before = reads[quiet.id]
    for iteration in (1, 2, 3):  # the third reaches max_iteration_per_job
        report(env, busy.id, iteration, 0.5)
    wait_until(lambda: env.store.tasks.get_task(busy.id).abort_requested, WAKE_S,
               f"the abort of {busy.id} requested")
    assert reads[busy.id] >= 2  # read in the passes its reports woke
    assert reads[quiet.id] == before  # nothing written to it since: not read again
    env.store.tasks.change_status(busy.id, StatusChange(status=TaskStatus.aborted,
                                                        reason="aborted on request"))
    report(env, quiet.id, 1, 0.7)
    env.store.tasks.change_status(quiet.id, StatusChange(status=TaskStatus.completed))
    assert search.wait(timeout=WAKE_S)
    assert search.ending == ("completed", "2 trials: 2 completed, 0 pruned, 0 failed")
