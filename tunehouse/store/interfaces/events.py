"""Scalars and console lines of tasks."""

from __future__ import annotations

import abc

from tunehouse.store.records import BatchResult, EventBatch, LogLine, MetricSummary, SeriesData


class EventStore(abc.ABC):
    """What running tasks report: scalars (with per-metric summaries) and console lines."""

    @abc.abstractmethod
    def add_events(self, batch: EventBatch) -> BatchResult:
        """Store scalars and console lines of one task in one transaction, once per
        ``batch_id``, and update the per-metric summary. Works on tasks in any status."""

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
