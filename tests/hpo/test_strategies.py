"""Each strategy on the synthetic objective, with real trial processes run by the
controller's own agent (``local=2``) on a real embedded store."""

from __future__ import annotations

import itertools

import pytest

from tests.hpo.helpers import Env, max_overlap
from tunehouse.hpo.optimizer import HyperParameterOptimizer
from tunehouse.hpo.space import (
    DiscreteParameterRange,
    GridParameterRange,
    UniformParameterRange,
)
from tunehouse.store.records import TaskStatus, TaskType


def test_grid_runs_exactly_the_grid(env: Env) -> None:
    base = env.base_task(epochs=2, sleep=0.01)
    search = HyperParameterOptimizer(
        base, [GridParameterRange("x", [0.1, 0.3, 0.5]),
               DiscreteParameterRange("Args/y", [0.2, 0.6])],
        "objective", "value", "max", strategy="grid", local=2, total_max_jobs=20,
        store=env.store, settings=env.settings)
    search.start()
    assert search.wait(timeout=120)
    controller = env.store.tasks.get_task(search.id or "")
    assert controller.type is TaskType.optimizer
    assert controller.status is TaskStatus.completed, controller.status_reason
    children = env.children(controller.id)
    assert sorted(env.trial_number(c.id) for c in children) == list(range(6))
    points = sorted((env.params(c.id)["Args/x"], env.params(c.id)["Args/y"]) for c in children)
    assert points == sorted(itertools.product(["0.1", "0.3", "0.5"], ["0.2", "0.6"]))
    assert all(c.status is TaskStatus.completed for c in children)
    assert search.get_best_parameters() == {"Args/x": "0.3", "Args/y": "0.6"}
    board = env.leaderboard(controller.id)
    assert [row["rank"] for row in board["trials"]] == [1, 2, 3, 4, 5, 6]
    assert board["trials"][0]["parameters"] == {"Args/x": "0.3", "Args/y": "0.6"}
    steps, best = env.scalars(controller.id, "best objective", "objective/value")
    assert steps == list(range(1, 7)) and best == sorted(best)
    assert env.scalars(controller.id, "trials", "completed")[1][-1] == 6


@pytest.mark.parametrize("strategy", ["random", "tpe"])
def test_budget_and_concurrency_hold(env: Env, strategy: str) -> None:
    base = env.base_task(epochs=3, sleep=0.1)
    search = HyperParameterOptimizer(
        base, [UniformParameterRange("x", 0.0, 1.0), UniformParameterRange("y", 0.0, 1.0)],
        "objective", "value", "max", strategy=strategy, local=3,
        max_number_of_concurrent_tasks=2, total_max_jobs=5, seed=3,
        store=env.store, settings=env.settings)
    search.start()
    assert search.wait(timeout=120)
    children = env.children(search.id or "")
    assert len(children) == 5
    assert sorted(env.trial_number(c.id) for c in children) == list(range(5))
    assert all(c.status is TaskStatus.completed for c in children)
    assert max_overlap(children) <= 2
    top = search.get_top_experiments(3)
    values = [env.scalars(t.id, "objective", "value")[1][-1] for t in top]
    assert values == sorted(values, reverse=True) and len(top) == 3
    assert search.ending == ("completed", "5 trials: 5 completed, 0 pruned, 0 failed")


def test_bohb_prunes_and_records_why(env: Env) -> None:
    base = env.base_task(epochs=9, sleep=0.15)
    search = HyperParameterOptimizer(
        base, [UniformParameterRange("x", 0.0, 1.0), UniformParameterRange("y", 0.0, 1.0)],
        "objective", "value", "max", strategy="bohb", local=2, total_max_jobs=10,
        max_iteration_per_job=9, seed=7, store=env.store, settings=env.settings)
    search.start()
    assert search.wait(timeout=150)
    children = env.children(search.id or "")
    assert len(children) == 10
    decided = [c for c in children if env.outcome(c.id) is not None]
    for child in decided:  # a prune decided as the trial ended: it completed, unpruned
        if child.status is TaskStatus.completed:
            assert "pruned" not in child.tags
    pruned = [c for c in decided if c.status is not TaskStatus.completed]
    assert pruned, "nothing was pruned"
    board = {row["task_id"]: row for row in env.leaderboard(search.id or "")["trials"]}
    for child in pruned:
        outcome = env.outcome(child.id)
        assert outcome is not None and outcome.kind == "pruned"
        assert outcome.iteration is not None
        assert child.status is TaskStatus.aborted
        assert child.status_reason == outcome.reason
        assert child.status_reason.startswith(f"pruned at iteration {outcome.iteration}: "
                                              f"value ")
        assert "Hyperband" in child.status_reason and "pruned" in child.tags
        assert board[child.id]["state"] == "pruned"
        assert board[child.id]["reason"] == child.status_reason
        # the decision came within 2 s of the report that triggered it
        steps, walls = env.scalars(child.id, "clock", "wall")
        reported = walls[steps.index(outcome.iteration)]
        assert outcome.decided - reported < 2.0
        assert child.completed is not None
        assert child.completed.timestamp() - outcome.decided < 3.0
    assert search.ending is not None and search.ending[0] == "completed"


def test_four_local_trials_lose_no_reported_point(env: Env) -> None:
    epochs, chatter = 5, 3000
    base = env.base_task(epochs=epochs, sleep=0.0, chatter=chatter)
    search = HyperParameterOptimizer(
        base, [UniformParameterRange("x", 0.0, 1.0)], "objective", "value",
        strategy="random", local=4, max_number_of_concurrent_tasks=4, total_max_jobs=4,
        store=env.store, settings=env.settings)
    search.start()
    assert search.wait(timeout=120)
    children = env.children(search.id or "")
    assert len(children) == 4 and all(c.status is TaskStatus.completed for c in children)
    for child in children:
        points = env.store.events.get_scalars(child.id, "chatter", "point")[0]
        assert points.total == epochs * chatter
        assert points.x == list(range(epochs * chatter))
        assert env.scalars(child.id, "objective", "value")[0] == list(range(epochs))
    assert {r.iteration for r in search.results()} == {epochs - 1}
