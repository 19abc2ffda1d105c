"""The read model of a search (``tunehouse.hpo.report``) and its importance
(``tunehouse.hpo.importance``): ranking, counts and budget from the store (leaderboard or
children), importance that is deterministic, cached per state, encoded from the stored
space and marked unreliable below its minimum; and the optimizer reading the same."""

from __future__ import annotations

import random

import pytest

from tests.hpo.helpers import Env, Seeded, seed_search, write_leaderboard
from tunehouse.errors import InvalidInput
from tunehouse.hpo import importance as importance_module
from tunehouse.hpo.config import Objective
from tunehouse.hpo.importance import (
    MIN_TRIALS,
    RELIABLE_MIN_TRIALS,
    compute_importance,
    reliable_minimum,
)
from tunehouse.hpo.progress import TrialResult
from tunehouse.hpo.report import load_report
from tunehouse.hpo.space import parse_space

SPACE = ("Args/lr: uniform(0.0001, 0.01)\nArgs/dropout: choice([0.2, 0.3, 0.4])\n"
         "Args/batch: choice([16, 32, 64])\n")
OBJECTIVE = Objective("objective", "value", "max")


def example_trials(count: int, seed: int = 1) -> list[Seeded]:
    """Trials of a search like the example's: the learning rate matters most."""
    rng = random.Random(seed)
    found = []
    for _ in range(count):
        lr = rng.uniform(0.0001, 0.01)
        dropout, batch = rng.choice(["0.2", "0.3", "0.4"]), rng.choice(["16", "32", "64"])
        value = 0.95 - 3000 * (lr - 0.004) ** 2 - 0.3 * (float(dropout) - 0.2) ** 2
        found.append(Seeded({"Args/lr": repr(lr), "Args/dropout": dropout,
                             "Args/batch": batch}, value + rng.gauss(0, 0.005)))
    return found


def results(trials: list[Seeded]) -> list[TrialResult]:
    return [TrialResult(number=n, task_id=str(n), state=t.end,
                        values=[t.value] if t.value is not None else None, iteration=1,
                        parameters=t.parameters) for n, t in enumerate(trials)]


def test_ranking_counts_and_budget_from_children_then_leaderboard(env: Env) -> None:
    trials = [Seeded({"Args/lr": "0.001"}, 0.3), Seeded({"Args/lr": "0.002"}, 0.9),
              Seeded({"Args/lr": "0.003"}, None, "failed"),
              Seeded({"Args/lr": "0.004"}, 0.2, "pruned"),
              Seeded({"Args/lr": "0.005"}, 0.5), Seeded({"Args/lr": "0.006"}, None, "running")]
    controller = seed_search(env.store, "Args/lr: uniform(0.0001, 0.01)", trials, total=8,
                             ended=False)
    from_children = load_report(env.store, controller)
    assert from_children.source == "children"
    assert [(t.number, t.state) for t in from_children.trials] == [
        (1, "completed"), (4, "completed"), (0, "completed"), (5, "running"),
        (3, "pruned"), (2, "failed")]
    assert [row["rank"] for row in from_children.rows()] == [1, 2, 3, None, None, None]
    assert from_children.counts == {"completed": 3, "running": 1, "pruned": 1, "failed": 1,
                                    "stopped": 0}
    budget = from_children.budget
    assert (budget.total, budget.made, budget.done, budget.left) == (8, 6, 5, 2)
    assert budget.percent == 62 and budget.time_limit_s is None
    assert from_children.best is not None and from_children.best.number == 1
    assert [t.number for t in from_children.ended_trials] == [2, 3]
    assert from_children.ended_trials[0].reason == "exit code 1: it broke"
    assert len(from_children.names) == 6

    write_leaderboard(env.store, controller)
    from_board = load_report(env.store, controller)
    assert from_board.source == "leaderboard" and from_board.updated is not None
    assert from_board.trials == from_children.trials
    assert from_board.counts == from_children.counts
    assert from_board.budget.made == 6


def test_a_minimised_objective_ranks_lowest_first(env: Env) -> None:
    trials = [Seeded({"Args/lr": "0.001"}, 0.3), Seeded({"Args/lr": "0.002"}, 0.1)]
    controller = seed_search(env.store, "Args/lr: uniform(0.0001, 0.01)", trials,
                             objective=("objective", "value", "min"))
    report = load_report(env.store, controller)
    assert [t.values for t in report.trials] == [[0.1], [0.3]]
    assert report.budget.left == 0 and report.budget.percent == 100


def test_a_task_that_is_not_a_search_is_refused(env: Env) -> None:
    with pytest.raises(InvalidInput, match="is not a search"):
        load_report(env.store, env.base_task())


def test_importance_is_deterministic_and_cached_per_state() -> None:
    space = parse_space(SPACE)
    trials = results(example_trials(16))
    first = compute_importance(space, OBJECTIVE, trials)
    assert first.n_trials == 16 and first.minimum == RELIABLE_MIN_TRIALS and first.reliable
    assert list(first.values)[0] == "Args/lr" and first.note == ""
    assert abs(sum(first.values.values()) - 1.0) < 1e-9
    assert compute_importance(space, OBJECTIVE, list(reversed(trials))) is first  # cached
    importance_module._CACHE.clear()  # lost: computed again, the same figures
    again = compute_importance(space, OBJECTIVE, trials)
    assert again is not first and again == first
    # running, pruned and failed trials are not what it rests on: no new state
    others = [TrialResult(number=100 + n, task_id="x", state=state, values=None,
                          iteration=None, parameters={}) for n, state in
              enumerate(("running", "pruned", "failed", "stopped"))]
    assert compute_importance(space, OBJECTIVE, trials + others) is again
    # a trial completing is a new state
    one_more = results(example_trials(17))
    assert compute_importance(space, OBJECTIVE, one_more).n_trials == 17


def test_importance_below_its_minimum_is_marked_unreliable() -> None:
    space = parse_space(SPACE)
    few = compute_importance(space, OBJECTIVE, results(example_trials(6)))
    assert few.values and few.n_trials == 6 and not few.reliable
    assert few.note == "reliable from 15 complete trials (5 per parameter, at least 15)"
    assert few.to_dict()["reliable"] is False and few.to_dict()["n_trials"] == 6
    none = compute_importance(space, OBJECTIVE, results(example_trials(MIN_TRIALS - 1)))
    assert none.values == {} and not none.reliable
    assert none.note == f"needs at least {MIN_TRIALS} complete trials ({MIN_TRIALS - 1} so far)"
    assert reliable_minimum(3) == 15 and reliable_minimum(6) == 30


def test_importance_reads_the_stored_space_per_parameter() -> None:
    """A grid or a parameter set is judged per task parameter; values outside the space
    are left out and said so."""
    space = parse_space("Args/x: grid([0.1, 0.2, 0.3])\nArgs/opt: grid([adam, sgd])\n")
    rng = random.Random(4)
    trials = [Seeded({"Args/x": x, "Args/opt": opt},
                     (1 - (float(x) - 0.2) ** 2) + (0.01 if opt == "adam" else 0)
                     + rng.gauss(0, 0.001))
              for x in ("0.1", "0.2", "0.3") for opt in ("adam", "sgd")]
    trials.append(Seeded({"Args/x": "0.7", "Args/opt": "adam"}, 0.5))  # not in the grid
    found = compute_importance(space, OBJECTIVE, results(trials))
    assert set(found.values) == {"Args/x", "Args/opt"} and found.n_trials == 6
    assert "1 complete trial left out (a value outside the search space)" in found.note


def test_the_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importance_module, "CACHE_SIZE", 2)
    space = parse_space(SPACE)
    for seed in range(4):
        compute_importance(space, OBJECTIVE, results(example_trials(5, seed=seed)))
    assert len(importance_module._CACHE) <= 2


def test_the_optimizer_gives_the_reports_importance(env: Env) -> None:
    """``parameter_importance()`` of a search taken up from the store (nothing left to
    run) is the report's, whichever way the report was read."""
    from tunehouse.hpo.optimizer import HyperParameterOptimizer

    controller = seed_search(env.store, SPACE, example_trials(16))
    search = HyperParameterOptimizer.resume(controller, store=env.store,
                                            settings=env.settings)
    search.start()
    assert search.wait(timeout=10)
    live = search.parameter_importance()
    stored = load_report(env.store, controller).importance()
    assert live == stored.values and list(live)[0] == "Args/lr"
    assert search.report().importance() == stored
    assert search.counts() == {"completed": 16, "running": 0, "pruned": 0, "failed": 0,
                               "stopped": 0}
