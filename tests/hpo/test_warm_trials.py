"""``local=N`` searches run their trials in the local agent's warm interpreters when the
base task's environment records its imports, with the same outcomes as cold trials."""

from __future__ import annotations

import pytest

from tests.hpo.helpers import Env
from tunehouse.hpo.optimizer import HyperParameterOptimizer
from tunehouse.hpo.space import GridParameterRange
from tunehouse.store.records import TaskStatus


@pytest.mark.timeout(180)
def test_local_trials_start_warm_and_end_as_cold_ones(env: Env) -> None:
    base = env.base_task(epochs=2, sleep=0.3, fail_above=0.85,
                         imports=["argparse", "tunehouse"])
    search = HyperParameterOptimizer(
        base, [GridParameterRange("x", [0.1, 0.3, 0.5, 0.7, 0.9, 0.2])], "objective", "value",
        strategy="grid", local=2, total_max_jobs=6, store=env.store, settings=env.settings)
    search.start()
    assert search.wait(timeout=150)
    children = {env.params(c.id)["Args/x"]: c for c in env.children(search.id or "")}
    assert len(children) == 6
    starts = {}
    for x, child in children.items():
        lines = [line.text for line in env.store.events.get_logs(child.id, limit=1000)]
        starts[x] = next(line for line in lines if line.startswith(
            ("tunehouse agent: warm start", "tunehouse agent: cold start")))
        if x == "0.9":
            assert (child.status, child.status_reason) == (
                TaskStatus.failed, "exit code 1: x=0.9 is above 0.85")
        else:
            assert child.status is TaskStatus.completed, child.status_reason
            _, values = env.scalars(child.id, "objective", "value")
            quality = 1.0 - (float(x) - 0.3) ** 2 - (0.5 - 0.6) ** 2
            assert values == pytest.approx([quality * 0.5, quality * 0.75])
    # the first trial starts cold while the interpreter for the base task's environment
    # imports; the next ones are forked from it (a second trial claimed at once waits for it)
    cold = [line for line in starts.values() if "cold start" in line]
    assert len(cold) == 1, starts
    assert cold[0].endswith("no warm interpreter was made for this environment yet")


@pytest.mark.timeout(120)
def test_warm_start_off_starts_every_trial_cold_and_is_recorded(env: Env) -> None:
    base = env.base_task(epochs=1, sleep=0.1, imports=["argparse", "tunehouse"])
    search = HyperParameterOptimizer(
        base, [GridParameterRange("x", [0.1, 0.3, 0.5])], "objective", "value",
        strategy="grid", local=2, warm_start=False, total_max_jobs=3, store=env.store,
        settings=env.settings)
    search.start()
    assert search.wait(timeout=100)
    children = env.children(search.id or "")
    assert len(children) == 3
    for child in children:
        assert child.status is TaskStatus.completed, child.status_reason
        lines = [line.text for line in env.store.events.get_logs(child.id, limit=1000)]
        assert not any(line.startswith("tunehouse agent: warm start") for line in lines)
    resumed = HyperParameterOptimizer.resume(search.id or "", store=env.store,
                                             settings=env.settings)
    assert resumed.config.warm is False  # kept with the search: a resume starts cold too
