"""The search page's timeline data (:mod:`tunehouse.hpo.timeline`): each trial of a worker
in the first of its slots free when it started, waiting trials on their own lane."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tunehouse.hpo.progress import TrialResult
from tunehouse.hpo.timeline import NO_WORKER, QUEUED_LANE, trial_spans
from tunehouse.store.records import Task, TaskStatus, TaskType

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _at(seconds: int | None) -> datetime | None:
    return None if seconds is None else T0 + timedelta(seconds=seconds)


def _task(task_id: str, created: int, started: int | None, ended: int | None,
          worker: str | None) -> Task:
    return Task(id=task_id, project_id="p", project="p", name=task_id, user="u",
                status=TaskStatus.in_progress, type=TaskType.training,
                created=_at(created) or T0,
                updated=T0,
                started=_at(started), completed=_at(ended), worker=worker)


def _trial(number: int, state: str) -> TrialResult:
    return TrialResult(number=number, task_id=f"t{number}", state=state, values=None,
                       iteration=None, parameters={})


def test_trials_of_a_worker_share_its_slots_in_start_order() -> None:
    tasks = {task.id: task for task in [
        _task("t0", 0, 1, 10, "agent-a"), _task("t1", 0, 2, 5, "agent-a"),
        _task("t2", 0, 6, 9, "agent-a"),   # slot 2 is free again at 5
        _task("t3", 0, 7, None, "agent-a"),  # both busy at 7: a third slot
        _task("t4", 0, 3, 4, "agent-b"), _task("t5", 8, None, None, None),
        _task("t6", 0, 2, 3, None)]}
    states = ["completed", "completed", "pruned", "running", "failed", "running", "stopped"]
    spans = trial_spans([_trial(n, s) for n, s in enumerate(states)], tasks)
    lanes = {span.number: span.lane for span in spans}
    assert lanes == {0: "agent-a · slot 1", 1: "agent-a · slot 2", 2: "agent-a · slot 2",
                     3: "agent-a · slot 3", 4: "agent-b · slot 1", 5: QUEUED_LANE,
                     6: f"{NO_WORKER} · slot 1"}
    by_number = {span.number: span for span in spans}
    assert by_number[5].state == "queued" and by_number[5].started is None
    assert by_number[3].ended is None and by_number[0].ended == (T0 + timedelta(seconds=10)).timestamp()
    assert [span.number for span in spans] == [0, 1, 6, 4, 2, 3, 5]  # by start, waiting last


def test_a_trial_without_its_task_is_left_out() -> None:
    assert trial_spans([_trial(0, "completed")], {}) == []
