"""When a search's trials waited and ran, and where: the data of the search page's timeline.

Each trial is one bar on a *lane*: a slot of the worker (agent) that ran it. A worker runs
several trials at once when it has several slots (the local agent of a search runs
``local`` of them), so the trials of one worker are packed into slots: a trial goes to the
first slot of its worker free when it started. A trial that never started (still queued)
is on the lane ``queued``. Times are seconds since the epoch; a bar that has not ended
ends ``now`` (the page draws it up to the moment it was read).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from tunehouse.hpo.progress import TrialResult
from tunehouse.store.records import Task

#: The lane of the trials that have not started.
QUEUED_LANE = "queued"
#: The worker of a trial that started without one (run outside any agent).
NO_WORKER = "no worker"


@dataclass(frozen=True)
class TrialSpan:
    """One bar of the timeline.

    Attributes:
        number: The trial's number.
        task_id: Its task.
        state: Its state in the search (``completed``, ``running``, ``pruned``, ...);
            ``queued`` while it waits in its queue.
        lane: ``<worker> · slot <n>`` (or :data:`QUEUED_LANE`).
        created: When the task was made (it then waited in its queue).
        started: When it started (None: not yet).
        ended: When it ended (None: it has not).
    """

    number: int
    task_id: str
    state: str
    lane: str
    created: float
    started: float | None
    ended: float | None


def epoch_seconds(moment: datetime | None) -> float | None:
    """``moment`` in seconds since the epoch (a naive one is UTC, as the store keeps it)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def trial_spans(trials: Iterable[TrialResult], tasks: Mapping[str, Task]) -> list[TrialSpan]:
    """The bars of ``trials`` (those whose task is in ``tasks``), by start then number,
    each trial of a worker in the first of its slots free when it started."""
    spans: list[TrialSpan] = []
    for trial in trials:
        task = tasks.get(trial.task_id)
        if task is None:
            continue
        started = epoch_seconds(task.started)
        state = "queued" if started is None and trial.state == "running" else trial.state
        spans.append(TrialSpan(number=trial.number, task_id=trial.task_id, state=state,
                               lane=QUEUED_LANE if started is None else (task.worker or NO_WORKER),
                               created=epoch_seconds(task.created) or 0.0, started=started,
                               ended=epoch_seconds(task.completed) if started is not None
                               else None))
    spans.sort(key=lambda s: (s.started is None, s.started or s.created, s.number))
    busy: dict[str, list[float | None]] = {}  # worker -> when each slot is free again
    placed = []
    for span in spans:
        if span.started is None:
            placed.append(span)
            continue
        slots = busy.setdefault(span.lane, [])
        start = span.started
        free = next((i for i, until in enumerate(slots)
                     if until is not None and until <= start), None)
        if free is None:
            free = len(slots)
            slots.append(None)
        slots[free] = span.ended
        placed.append(TrialSpan(**{**asdict(span), "lane": f"{span.lane} · slot {free + 1}"}))
    return placed
