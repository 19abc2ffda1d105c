"""Scalars and console lines of tasks."""

from __future__ import annotations

import abc
from collections.abc import Iterable

from tunehouse.store.records import (
    BatchResult,
    EventBatch,
    LogEvent,
    LogLine,
    MetricSummary,
    ScalarEvent,
    SeriesData,
)


class EventStore(abc.ABC):
    """What running tasks report: scalars (with per-metric summaries) and console lines."""

    @abc.abstractmethod
    def add_events(self, batch: EventBatch) -> BatchResult:
        """Store scalars and console lines of one task in one transaction, once per
        ``batch_id``, and update the per-metric summary. Works on tasks in any status."""

    def add_event_chunks(self, batch_id: str, task_id: str,
                         chunks: Iterable[EventBatch]) -> BatchResult:
        """One batch given as consecutive chunks (each an ``EventBatch`` with the same ids):
        the same contract as :meth:`add_events`. Implementations that can (the SQL store)
        write chunk by chunk in one transaction, so a large batch never sits in memory
        whole; this default joins the chunks and calls :meth:`add_events`."""
        scalars: list[ScalarEvent] = []
        logs: list[LogEvent] = []
        for chunk in chunks:
            scalars.extend(chunk.scalars)
            logs.extend(chunk.logs)
        return self.add_events(EventBatch(batch_id=batch_id, task_id=task_id,
                                          scalars=scalars, logs=logs))

    @abc.abstractmethod
    def get_metric_summaries(self, task_id: str) -> list[MetricSummary]: ...

    @abc.abstractmethod
    def get_scalars(self, task_id: str, title: str | None = None, series: str | None = None,
                    max_points: int | None = None) -> list[SeriesData]:
        """Reported series in iteration order (then report order). With ``max_points``
        each series longer than it is downsampled to at most ``max_points`` points (an
        evenly strided sample that keeps the first and the last point)."""

    @abc.abstractmethod
    def get_logs(self, task_id: str, after_seq: int = 0, limit: int = 1000) -> list[LogLine]:
        """Console lines with ``seq > after_seq``, oldest first."""
