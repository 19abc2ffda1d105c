"""The plain progress of ``tunehouse hpo start`` when its output is not a terminal (a log,
CI): one line per trial as it finishes (:func:`tunehouse.cli.hpo.trial_lines`), each once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tunehouse.cli.hpo import trial_lines
from tunehouse.hpo.config import Objective, SearchConfig
from tunehouse.hpo.progress import TrialResult
from tunehouse.hpo.report import build_report
from tunehouse.hpo.space import parse_space
from tunehouse.store.records import Task, TaskStatus, TaskType


def _controller() -> Task:
    now = datetime.now(UTC)
    return Task(id="c" * 32, project_id="p", project="p", name="search", user="u",
                type=TaskType.optimizer, status=TaskStatus.in_progress, created=now,
                updated=now, started=now - timedelta(seconds=65), completed=now)


def _trial(number: int, state: str, value: float | None = None, reason: str = "") -> TrialResult:
    return TrialResult(number=number, task_id=f"t{number}", state=state,
                       values=None if value is None else [value], iteration=1,
                       parameters={"Args/x": "0.1"}, reason=reason)


def test_each_finished_trial_is_one_line_once() -> None:
    config = SearchConfig(base_task_id="b" * 32, space=parse_space("Args/x: uniform(0, 1)"),
                          objectives=(Objective("accuracy", "validation", "max"),),
                          total_max_jobs=4)
    seen: set[int] = set()
    first = build_report(_controller(), config, [_trial(0, "completed", 0.91),
                                                 _trial(1, "running")])
    assert trial_lines(first, seen) == [
        "trial 0 completed: accuracy/validation 0.91 | best 0.91 (trial 0) | 1/4 done | 1m05s"]
    second = build_report(_controller(), config, [
        _trial(0, "completed", 0.91), _trial(1, "completed", 0.95123),
        _trial(2, "pruned", reason="pruned at iteration 1: value 0.4 (median rule)")])
    lines = trial_lines(second, seen)
    assert [line.split(" | ")[0] for line in lines] == [
        "trial 1 completed: accuracy/validation 0.9512",
        "trial 2 pruned: pruned at iteration 1: value 0.4 (median rule)"]
    assert all(" | best 0.9512 (trial 1) | 3/4 done | 1m05s" in line for line in lines)
    assert trial_lines(second, seen) == []  # nothing new: nothing printed
