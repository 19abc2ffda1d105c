"""What the controller shows of the search: the results of its trials, ranked; its own
scalars; and the leaderboard artifact.

Scalars of the controller task:

* ``trials`` / ``completed``, ``running``, ``pruned``, ``failed``, ``stopped``: the counts,
  at iteration = seconds since the search started, whenever one changes;
* ``best objective`` / ``<title>/<series>`` (one objective): the best value so far, at
  iteration = number of finished trials; with several objectives ``pareto front`` /
  ``size`` instead.

The artifact ``leaderboard`` (JSON) lists every trial, best first (see
:func:`leaderboard_rows`); it is rewritten when a trial finishes (at most every
:data:`LEADERBOARD_EVERY_S`) and when the search ends.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from tunehouse.errors import TunehouseError
from tunehouse.hpo.config import Objective
from tunehouse.sdk.artifacts import upload_bytes
from tunehouse.store.base import Store
from tunehouse.store.records import EventBatch, ScalarEvent

LEADERBOARD = "leaderboard"
LEADERBOARD_EVERY_S = 2.0
#: Trial states, in leaderboard order after the ranked complete ones.
STATES = ("completed", "running", "pruned", "stopped", "failed")
#: Trial states in the order counts of them are shown.
COUNTED = ("completed", "running", "pruned", "failed", "stopped")
#: States of a trial that ended before its last iteration.
UNFINISHED = ("pruned", "failed", "stopped")


@dataclass(frozen=True)
class TrialResult:
    """One trial as the search sees it.

    Attributes:
        number: Trial number (the child's ``hpo/trial``).
        task_id: The child task.
        state: ``completed`` (it has objective values: ran to the end, or was stopped by
            ``max_iteration_per_job``/``time_limit_per_job`` with its last values),
            ``running`` (queued or running), ``pruned``, ``failed`` (its process failed,
            or it reported no objective) or ``stopped`` (ended by the end of the
            search, or aborted by someone else, before it reported an objective).
        values: The last value of each objective (None when it has none).
        iteration: The last iteration of the first objective.
        parameters: The sampled values, ``{"Section/name": text}``.
        reason: Why it ended as it did (the child's status reason or the outcome).
    """

    number: int
    task_id: str
    state: str
    values: list[float] | None
    iteration: int | None
    parameters: dict[str, str]
    reason: str = ""


def rank(results: list[TrialResult], objectives: tuple[Objective, ...],
         front: list[int]) -> list[TrialResult]:
    """``results`` best first: complete trials ranked (one objective: by value; several:
    the Pareto front ``front`` first, each part by the first objective), then running,
    pruned, stopped and failed ones by trial number."""
    first = objectives[0]

    def score(result: TrialResult) -> float:
        value = (result.values or [0.0])[0]
        return -value if first.sign == "max" else value

    complete = [r for r in results if r.state == "completed" and r.values is not None]
    on_front = set(front) if len(objectives) > 1 else set()
    ranked = sorted(complete, key=lambda r: (r.number not in on_front, score(r), r.number))
    rest = [r for r in results if r not in ranked]
    order = {state: index for index, state in enumerate(STATES)}
    return ranked + sorted(rest, key=lambda r: (order.get(r.state, len(order)), r.number))


def leaderboard_rows(ranked: list[TrialResult], objectives: tuple[Objective, ...]
                     ) -> list[dict[str, Any]]:
    """The leaderboard's rows: rank (1 = best, None unless complete), trial, task id,
    state, objectives by label, last iteration, parameters and reason."""
    rows: list[dict[str, Any]] = []
    for index, result in enumerate(ranked):
        row = asdict(result)
        values = row.pop("values")
        row["objectives"] = ({o.label: v for o, v in zip(objectives, values, strict=True)}
                             if values else {})
        row["rank"] = index + 1 if result.state == "completed" and values else None
        rows.append(row)
    return rows


class Progress:
    """Writes the controller's scalars and leaderboard (see the module doc)."""

    def __init__(self, store: Store, controller_id: str, objectives: tuple[Objective, ...],
                 started: float) -> None:
        self.store = store
        self.controller_id = controller_id
        self.objectives = objectives
        self.started = started
        self._token = uuid.uuid4().hex[:16]
        self._seq = 0
        self._counts: dict[str, int] = {}
        self._best_reported = 0
        self._board_written = 0.0
        self._board_dirty = True
        try:
            summaries = store.events.get_metric_summaries(controller_id)
        except TunehouseError:
            summaries = []
        for summary in summaries:  # a resumed controller goes on where it was
            if summary.title in ("best objective", "pareto front"):
                self._best_reported = max(self._best_reported, summary.last_iteration)

    def update(self, results: list[TrialResult], finished_order: list[int],
               front: list[int], force: bool = False) -> None:
        """Report what changed: counts, the best-so-far curve for trials finished since
        the last call (``finished_order``: trial numbers in the order they finished), and
        the leaderboard when something changed (throttled unless ``force``)."""
        counts = {state: 0 for state in STATES}
        for result in results:
            counts[result.state] = counts.get(result.state, 0) + 1
        events: list[ScalarEvent] = []
        now = time.time()
        elapsed = max(0, int(now - self.started))
        if counts != self._counts:
            events.extend(ScalarEvent("trials", state, elapsed, float(count), now)
                          for state, count in counts.items())
            self._counts = counts
            self._board_dirty = True
        events.extend(self._best_curve(results, finished_order, front, now))
        if events:
            self._send(events)
        if (self._board_dirty or force) and (
                force or now - self._board_written >= LEADERBOARD_EVERY_S):
            self.write_leaderboard(results, front)

    def _best_curve(self, results: list[TrialResult], finished_order: list[int],
                    front: list[int], now: float) -> list[ScalarEvent]:
        if len(finished_order) <= self._best_reported:
            return []
        by_number = {r.number: r for r in results}
        events: list[ScalarEvent] = []
        if len(self.objectives) > 1:
            events.append(ScalarEvent("pareto front", "size", len(finished_order),
                                      float(len(front)), now))
        else:
            objective = self.objectives[0]
            best: float | None = None
            for index, number in enumerate(finished_order, start=1):
                result = by_number.get(number)
                if result is not None and result.state == "completed" and result.values:
                    value = result.values[0]
                    if best is None or objective.better(value, best):
                        best = value
                if index > self._best_reported and best is not None:
                    events.append(ScalarEvent("best objective", objective.label, index, best,
                                              now))
        self._best_reported = len(finished_order)
        self._board_dirty = True
        return events

    def _send(self, events: list[ScalarEvent]) -> None:
        self._seq += 1
        self.store.events.add_events(EventBatch(
            batch_id=f"hpo-{self._token}-{self._seq}", task_id=self.controller_id,
            scalars=events))

    def write_leaderboard(self, results: list[TrialResult], front: list[int]) -> None:
        """Rewrite the leaderboard artifact."""
        ranked = rank(results, self.objectives, front)
        document = {
            "controller": self.controller_id,
            "objectives": [{"title": o.title, "series": o.series, "sign": o.sign}
                           for o in self.objectives],
            "updated": time.time(),
            "pareto_front": sorted(front) if len(self.objectives) > 1 else [],
            "trials": leaderboard_rows(ranked, self.objectives),
        }
        upload_bytes(self.store, self.controller_id, LEADERBOARD,
                     json.dumps(document, indent=1).encode(), kind="json",
                     content_type="application/json",
                     metadata={"filename": "leaderboard.json"})
        self._board_written = time.time()
        self._board_dirty = False
