"""How trials and searches end: failures, per-job limits, time limit, stop, several
objectives, and specs refused before anything runs."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers.wait import wait_until
from tests.hpo.helpers import Env
from tunehouse.errors import InvalidInput
from tunehouse.hpo.optimizer import HyperParameterOptimizer
from tunehouse.hpo.space import GridParameterRange, UniformParameterRange
from tunehouse.store.records import TaskQuery, TaskStatus

SPACE = [UniformParameterRange("x", 0.0, 1.0), UniformParameterRange("y", 0.0, 1.0)]


def test_a_failing_trial_does_not_stop_the_search(env: Env) -> None:
    base = env.base_task(epochs=2, sleep=0.01, fail_above=0.5)
    search = HyperParameterOptimizer(
        base, [GridParameterRange("x", [0.1, 0.9, 0.2, 0.8])], "objective", "value",
        strategy="grid", local=2, total_max_jobs=4, store=env.store, settings=env.settings)
    search.start()
    assert search.wait(timeout=120)
    children = {env.params(c.id)["Args/x"]: c for c in env.children(search.id or "")}
    assert sorted(children) == ["0.1", "0.2", "0.8", "0.9"]
    for x in ("0.8", "0.9"):
        assert children[x].status is TaskStatus.failed
        assert children[x].status_reason == f"exit code 1: x={x} is above 0.5"
    assert search.ending == ("completed", "4 trials: 2 completed, 0 pruned, 2 failed")
    states = {row["parameters"]["Args/x"]: row["state"]
              for row in env.leaderboard(search.id or "")["trials"]}
    assert states == {"0.1": "completed", "0.2": "completed", "0.8": "failed", "0.9": "failed"}


def test_max_failed_jobs_stops_the_search(env: Env) -> None:
    base = env.base_task(epochs=2, sleep=0.01, fail_above=0.0)  # every trial fails
    search = HyperParameterOptimizer(
        base, SPACE, "objective", "value", strategy="random", local=2, total_max_jobs=10,
        max_failed_jobs=2, store=env.store, settings=env.settings)
    search.start()
    assert search.wait(timeout=120)
    controller = env.store.tasks.get_task(search.id or "")
    assert controller.status is TaskStatus.failed
    assert controller.status_reason.startswith("2 trials failed (max_failed_jobs=2); last: "
                                               "trial ")
    assert "exit code 1: x=" in controller.status_reason
    children = env.children(controller.id)
    assert 2 <= len(children) <= 4
    assert all(c.status in (TaskStatus.failed, TaskStatus.aborted) for c in children)


def test_max_iteration_and_time_limit_per_job_stop_trials(env: Env) -> None:
    base = env.base_task(epochs=200, sleep=0.1)
    search = HyperParameterOptimizer(
        base, SPACE, "objective", "value", strategy="random", local=2, total_max_jobs=2,
        max_iteration_per_job=3, store=env.store, settings=env.settings)
    search.start()
    assert search.wait(timeout=60)
    for child in env.children(search.id or ""):
        assert child.status is TaskStatus.aborted
        assert child.status_reason == "stopped at iteration 3: max_iteration_per_job=3 reached"
    assert [r.state for r in search.results()] == ["completed", "completed"]
    assert all(r.values for r in search.results())

    timed = HyperParameterOptimizer(
        base, SPACE, "objective", "value", strategy="random", local=1, total_max_jobs=1,
        time_limit_per_job=2.5, store=env.store, settings=env.settings)
    timed.start()
    assert timed.wait(timeout=60)
    (child,) = env.children(timed.id or "")
    assert child.status is TaskStatus.aborted
    assert child.status_reason.startswith("stopped after 2.5 s: time_limit_per_job reached")
    assert child.completed is not None and child.started is not None
    assert (child.completed - child.started).total_seconds() < 5
    (result,) = timed.results()
    assert result.state == "completed" and result.values


def test_optimization_time_limit_and_stop_end_the_search(env: Env) -> None:
    base = env.base_task(epochs=200, sleep=0.1)
    limited = HyperParameterOptimizer(
        base, SPACE, "objective", "value", strategy="tpe", local=2, total_max_jobs=50,
        optimization_time_limit=3, store=env.store, settings=env.settings)
    limited.start()
    assert limited.wait(timeout=60)
    assert limited.ending is not None and limited.ending[0] == "completed"
    assert limited.ending[1].startswith("optimization_time_limit of 3 s reached")
    children = env.children(limited.id or "")
    assert len(children) == 2
    for child in children:
        assert child.status is TaskStatus.aborted
        assert child.status_reason.startswith("stopped: the search ended "
                                              "(optimization_time_limit of 3 s reached")

    stopped = HyperParameterOptimizer(
        base, SPACE, "objective", "value", strategy="random", local=2, total_max_jobs=50,
        store=env.store, settings=env.settings)
    stopped.start()
    # both running trials have reported (one that has not would end "stopped": on a loaded
    # machine the second one may start seconds after the first)
    wait_until(lambda: len(rs := stopped.results()) == 2 and all(r.iteration for r in rs),
               60, "both trials of the search to report an iteration", interval=0.2)
    stopped.stop()
    assert stopped.ending == ("aborted", "stopped by request")
    assert env.store.tasks.get_task(stopped.id or "").status is TaskStatus.aborted
    assert {c.status for c in env.children(stopped.id or "")} == {TaskStatus.aborted}
    assert {r.state for r in stopped.results()} == {"completed"}  # with their last values

    # an abort of the controller task (what `tunehouse tasks abort` does) ends it too
    aborted = HyperParameterOptimizer(
        base, SPACE, "objective", "value", strategy="random", local=1, total_max_jobs=50,
        store=env.store, settings=env.settings)
    aborted.start()
    env.store.tasks.request_abort(aborted.id or "", "enough")
    assert aborted.wait(timeout=30)
    assert aborted.ending == ("aborted", "aborted on request")
    assert {c.status for c in env.children(aborted.id or "")} <= {TaskStatus.aborted}


def test_two_objectives_give_a_pareto_front(env: Env) -> None:
    base = env.base_task(epochs=2, sleep=0.01)
    search = HyperParameterOptimizer(
        base, SPACE, ["objective", "objective"], ["value", "cost"], ["max", "min"],
        strategy="bohb", local=2, total_max_jobs=8, seed=5, store=env.store,
        settings=env.settings)
    assert search.config.early_stopping == "none"
    search.start()
    assert search.wait(timeout=120)
    results = search.results()
    front = search.get_pareto_front()
    assert front and all(r.state == "completed" for r in results)
    complete = [r for r in results if r.values]
    for member in front:
        assert member.values is not None
        value, cost = member.values
        assert not any(o.values[0] >= value and o.values[1] <= cost and o.values != member.values
                       for o in complete if o.values)
    off_front = [r for r in complete if r.number not in {m.number for m in front}]
    for other in off_front:  # every trial off the front is dominated by one on it
        assert other.values is not None
        assert any(m.values and m.values[0] >= other.values[0] and m.values[1] <= other.values[1]
                   for m in front)
    board = env.leaderboard(search.id or "")
    assert sorted(board["pareto_front"]) == sorted(m.number for m in front)
    assert env.scalars(search.id or "", "pareto front", "size")[1][-1] == len(front)
    with pytest.raises(InvalidInput, match="get_pareto_front"):
        search.get_best_parameters()


def test_bad_specs_are_refused_before_anything_runs(env: Env) -> None:
    base = env.base_task()

    def make(space: list[UniformParameterRange] = SPACE, **options: Any) -> None:
        arguments: dict[str, Any] = {"local": 1, "store": env.store,
                                     "settings": env.settings}
        arguments.update(options)
        HyperParameterOptimizer(base, space, "objective", "value", **arguments)

    with pytest.raises(InvalidInput, match="exactly one of execution_queue"):
        make(execution_queue="default")
    with pytest.raises(InvalidInput, match="exactly one of execution_queue"):
        make(local=None)
    with pytest.raises(InvalidInput, match="no parameter 'lr'"):
        make([UniformParameterRange("lr", 0.1, 0.2)])
    with pytest.raises(InvalidInput, match="unknown strategy 'hyperopt'"):
        make(strategy="hyperopt")
    with pytest.raises(InvalidInput, match="early stopping needs a single objective"):
        HyperParameterOptimizer(base, SPACE, ["objective", "objective"], ["value", "cost"],
                                ["max", "min"], early_stopping="median", local=1,
                                store=env.store, settings=env.settings)
    with pytest.raises(InvalidInput, match="'Args/x' is continuous"):
        make(strategy="grid")
    with pytest.raises(InvalidInput, match="objective_metric_sign must be 'max' or 'min'"):
        HyperParameterOptimizer(base, SPACE, "objective", "value", "up", local=1,
                                store=env.store, settings=env.settings)
    with pytest.raises(InvalidInput, match="total_max_jobs must be a whole number"):
        make(total_max_jobs=0)
    # nothing was created: the base task is the only task
    assert [t.id for t in env.store.tasks.list_tasks(TaskQuery()).tasks] == [base]
