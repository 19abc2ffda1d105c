"""Scalars and console lines of the SQL store: batched ingest and downsampled reads.

Each (task, title, series) is one ``metrics`` row (the summary) whose integer id keys the
compact ``scalars`` table; ``seq`` numbers a metric's points 0..count-1 in report order.
While a metric's points arrive in iteration order (``in_order``), seq order is iteration
order and a downsampled read fetches just the sampled seqs by primary key.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tunehouse.common.series import is_system_title
from tunehouse.errors import InvalidInput
from tunehouse.store import schema as t
from tunehouse.store.interfaces.events import EventStore
from tunehouse.store.records import (
    NAME_MAX,
    BatchResult,
    EventBatch,
    LogEvent,
    LogLine,
    MetricSummary,
    ScalarEvent,
    SeriesData,
)
from tunehouse.store.sql.database import SqlArea, note_child_change, utcnow

LOG_STREAMS = frozenset({"stdout", "stderr", "log"})
MAX_LOG_LIMIT = 100_000
MAX_SAMPLED_KEYS = 10_000
_SUMMARY_COLUMNS = ("id", "title", "series", "count", "last", "min", "max", "last_iteration",
                    "in_order")
_UPDATE_SUMMARY = sa.update(t.metrics).where(t.metrics.c.id == sa.bindparam("metric_id")).values(
    count=sa.bindparam("new_count"), last=sa.bindparam("new_last"),
    min=sa.bindparam("new_min"), max=sa.bindparam("new_max"),
    last_iteration=sa.bindparam("new_last_iteration"), in_order=sa.bindparam("new_in_order"))


def sample_positions(total: int, max_points: int) -> list[int]:
    """Evenly strided positions in ``range(total)``, first and last included, at most
    ``max_points`` of them."""
    if total <= max_points:
        return list(range(total))
    step = (total - 1) / (max_points - 1)
    return sorted({round(i * step) for i in range(max_points)})


@dataclass(frozen=True)
class _Chunk:
    """Events of a batch (or of a chunk of one), checked and grouped for writing."""

    groups: dict[tuple[str, str], list[tuple[int, float | None, float]]]
    logs: list[LogEvent]
    scalar_count: int


def _prepare(batch: EventBatch, scalar_offset: int = 0, log_offset: int = 0) -> _Chunk:
    """Check a batch or chunk and group its scalars by metric; InvalidInput names the first
    bad event (the offsets number the events of a chunk within its whole batch)."""
    _check_walls("scalars", 4, scalar_offset, [event.wall for event in batch.scalars])
    _check_walls("logs", 2, log_offset, [event.wall for event in batch.logs])
    for stream, _text, _wall in batch.logs:
        if stream not in LOG_STREAMS:
            raise InvalidInput(f"unknown log stream {stream!r}: use {sorted(LOG_STREAMS)}")
    return _Chunk(_group_scalars(batch), batch.logs, len(batch.scalars))


def _prepare_each(chunks: Iterable[EventBatch]) -> Iterator[_Chunk]:
    scalars = logs = 0
    for chunk in chunks:
        yield _prepare(chunk, scalars, logs)
        scalars += len(chunk.scalars)
        logs += len(chunk.logs)


def _check_walls(kind: str, position: int, offset: int, walls: list[float]) -> None:
    """InvalidInput naming the first event whose wall-clock time is NaN or infinite (it
    would be stored differently by SQLite and PostgreSQL, or not at all)."""
    for index, wall in enumerate(walls, start=offset):
        if not math.isfinite(wall):
            raise InvalidInput(
                f"invalid request: body.{kind}.{index}.wall: the wall-clock time must be "
                f"a finite number of seconds, got {wall!r}",
                detail=[{"loc": ["body", kind, index, position], "type": "finite_number",
                         "msg": "wall-clock time must be finite"}])


def _group_scalars(batch: EventBatch) -> dict[tuple[str, str], list[tuple[int, float | None, float]]]:
    groups: dict[tuple[str, str], list[tuple[int, float | None, float]]] = {}
    for title, series, iteration, value, wall in batch.scalars:
        points = groups.get((title, series))
        if points is None:
            for kind, name in (("title", title), ("series", series)):
                if not name or len(name) > NAME_MAX:
                    raise InvalidInput(f"scalar {kind} must be 1 to {NAME_MAX} characters, got {name!r}")
            points = groups[(title, series)] = []
        if value is not None and value != value:  # NaN
            value = None
        points.append((iteration, value, wall))
    return groups


class SqlEventStore(SqlArea, EventStore):
    """Scalars and console lines on SQL (see :class:`~tunehouse.store.interfaces.EventStore`)."""

    def add_events(self, batch: EventBatch) -> BatchResult:
        # checked and grouped before the write transaction takes the database's lock
        return self._write_chunks(batch.batch_id, batch.task_id, [_prepare(batch)])

    def add_event_chunks(self, batch_id: str, task_id: str,
                         chunks: Iterable[EventBatch]) -> BatchResult:
        """One batch given as consecutive chunks, stored in one transaction: a chunk is
        checked, grouped and written before the next is read, so memory holds one chunk
        (the server streams large request bodies through here). Invalid input in any
        chunk stores nothing of the batch."""
        return self._write_chunks(batch_id, task_id, _prepare_each(chunks))

    def _write_chunks(self, batch_id: str, task_id: str,
                      chunks: Iterable[_Chunk]) -> BatchResult:
        with self._write() as conn:
            task = self._lock_task_for_events(conn, task_id)
            inserted = conn.execute(self._insert(t.event_batches).values(
                batch_id=batch_id, task_id=task_id, created=utcnow(),
            ).on_conflict_do_nothing(index_elements=["batch_id"])
                .returning(t.event_batches.c.batch_id)).first()
            if inserted is None:
                return BatchResult(batch_id=batch_id, duplicate=True, scalars=0, logs=0)
            scalars = logs = 0
            top_iteration: int | None = None
            for chunk in chunks:
                top = self._store_scalars(conn, task_id, chunk.groups)
                if top is not None:
                    top_iteration = top if top_iteration is None else max(top, top_iteration)
                if chunk.logs:
                    self._store_logs(conn, task_id, chunk.logs)
                scalars += chunk.scalar_count
                logs += len(chunk.logs)
            now = utcnow()
            values: dict[str, Any] = {"updated": now, "last_seen": now}
            if top_iteration is not None and (task.last_iteration is None
                                              or top_iteration > task.last_iteration):
                values["last_iteration"] = top_iteration
            conn.execute(sa.update(t.tasks).where(t.tasks.c.id == task_id).values(**values))
            note_child_change(conn, task.parent_id)
        return BatchResult(batch_id=batch_id, duplicate=False, scalars=scalars, logs=logs)

    def _store_scalars(self, conn: Connection, task_id: str,
                       groups: dict[tuple[str, str], list[tuple[int, float | None, float]]]
                       ) -> int | None:
        """Append the grouped points, update the summaries; returns the top iteration of
        the training series (system series, :func:`is_system_title`, count samples, not
        iterations, so they do not advance the task's last iteration)."""
        if not groups:
            return None
        existing = {
            (row.title, row.series): row for row in conn.execute(
                sa.select(*(t.metrics.c[name] for name in _SUMMARY_COLUMNS))
                .where(t.metrics.c.task_id == task_id)).all()
        }
        rows: list[tuple[int, int, int, float | None, float]] = []
        updates: list[dict[str, Any]] = []
        top_iteration: int | None = None
        for key, points in groups.items():
            current = existing.get(key)
            if current is None:
                metric_id = conn.execute(sa.insert(t.metrics).values(
                    task_id=task_id, title=key[0], series=key[1], count=0, last=None,
                    min=None, max=None, last_iteration=points[0][0], in_order=True,
                ).returning(t.metrics.c.id)).scalar_one()
                count, low, high, previous, in_order = 0, None, None, points[0][0], True
            else:
                metric_id, count = current.id, current._mapping["count"]
                low, high = current.min, current.max
                previous, in_order = current.last_iteration, current.in_order
            top = previous
            for seq, (iteration, value, wall) in enumerate(points, start=count):
                rows.append((metric_id, seq, iteration, value, wall))
                if iteration < previous:
                    in_order = False
                previous = iteration
                if iteration > top:
                    top = iteration
                if value is not None:
                    if low is None or value < low:
                        low = value
                    if high is None or value > high:
                        high = value
            updates.append({"metric_id": metric_id, "new_count": count + len(points),
                            "new_last": points[-1][1], "new_min": low, "new_max": high,
                            "new_last_iteration": top, "new_in_order": in_order})
            if not is_system_title(key[0]):
                top_iteration = top if top_iteration is None else max(top_iteration, top)
        self._bulk_insert_scalars(conn, rows)
        conn.execute(_UPDATE_SUMMARY, updates)
        return top_iteration

    def _bulk_insert_scalars(self, conn: Connection,
                             rows: Sequence[tuple[int, int, int, float | None, float]]) -> None:
        cursor = conn.connection.cursor()
        try:
            if self.is_postgres:
                with cursor.copy(  # type: ignore[attr-defined]
                        "COPY scalars (metric_id, seq, iteration, value, wall) "
                        "FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types(["int4", "int4", "int8", "float8", "float8"])
                    for row in rows:
                        copy.write_row(row)
            else:
                cursor.executemany(
                    "INSERT INTO scalars (metric_id, seq, iteration, value, wall) "
                    "VALUES (?, ?, ?, ?, ?)", rows)
        finally:
            cursor.close()

    def _store_logs(self, conn: Connection, task_id: str, lines: Sequence[LogEvent]) -> None:
        last = conn.execute(sa.select(sa.func.max(t.log_lines.c.seq))
                            .where(t.log_lines.c.task_id == task_id)).scalar_one()
        start = (last or 0) + 1
        conn.execute(sa.insert(t.log_lines), [
            {"task_id": task_id, "seq": seq, "stream": stream, "text": text, "wall": wall}
            for seq, (stream, text, wall) in enumerate(lines, start=start)
        ])

    def get_metric_summaries(self, task_id: str) -> list[MetricSummary]:
        with self._read() as conn:
            self._require_task(conn, task_id)
            rows = conn.execute(
                sa.select(t.metrics).where(t.metrics.c.task_id == task_id)
                .order_by(t.metrics.c.title, t.metrics.c.series)).all()
        return [MetricSummary(title=r.title, series=r.series, count=r._mapping["count"], last=r.last,
                              min=r.min, max=r.max, last_iteration=r.last_iteration)
                for r in rows]

    def get_scalars(self, task_id: str, title: str | None = None, series: str | None = None,
                    max_points: int | None = None) -> list[SeriesData]:
        if max_points is not None and max_points < 2:
            raise InvalidInput("max_points must be at least 2 (the first and the last point)")
        query = sa.select(t.metrics.c.id, t.metrics.c.title, t.metrics.c.series,
                          t.metrics.c.count, t.metrics.c.in_order).where(
            t.metrics.c.task_id == task_id).order_by(t.metrics.c.title, t.metrics.c.series)
        if title is not None:
            query = query.where(t.metrics.c.title == title)
        if series is not None:
            query = query.where(t.metrics.c.series == series)
        result: list[SeriesData] = []
        with self._read() as conn:
            self._require_task(conn, task_id)
            for metric in conn.execute(query).all():
                result.append(self._read_series(conn, metric, max_points))
        return result

    def _read_series(self, conn: Connection, metric: Any, max_points: int | None) -> SeriesData:
        total = metric._mapping["count"]
        sampled = max_points is not None and total > max_points
        positions = sample_positions(total, max_points) if sampled and max_points else []
        if positions and metric.in_order and len(positions) <= MAX_SAMPLED_KEYS:
            if self.is_postgres:
                sql, params = "seq = ANY(?)", [metric.id, positions]
            else:
                sql, params = f"seq IN ({', '.join('?' * len(positions))})", [metric.id, *positions]
            points = self._raw_rows(
                conn, f"SELECT iteration, value, wall FROM scalars WHERE metric_id = ? AND {sql} "
                "ORDER BY seq", params)
        else:
            points = self._raw_rows(
                conn, "SELECT iteration, value, wall, seq FROM scalars WHERE metric_id = ? "
                "ORDER BY seq",
                [metric.id])
            if not metric.in_order:
                points.sort(key=lambda point: (point[0], point[3]))
            if sampled:
                assert max_points is not None
                points = [points[i] for i in sample_positions(len(points), max_points)]
        return SeriesData.model_construct(
            title=metric.title, series=metric.series, x=[p[0] for p in points],
            y=[p[1] for p in points], wall=[p[2] for p in points], total=total,
            sampled=sampled)

    def scalar_events(self, task_id: str) -> Iterator[ScalarEvent]:
        """Every scalar of the task as reported (with its wall time), metric by metric in
        report order: what an offline run uploads (SQL store only)."""
        with self._read() as conn:
            self._require_task(conn, task_id)
            metrics = conn.execute(sa.select(t.metrics.c.id, t.metrics.c.title,
                                             t.metrics.c.series)
                                   .where(t.metrics.c.task_id == task_id)
                                   .order_by(t.metrics.c.id)).all()
            for metric in metrics:
                for iteration, value, wall in self._raw_rows(
                        conn, "SELECT iteration, value, wall FROM scalars WHERE metric_id = ? "
                        "ORDER BY seq", [metric.id]):
                    yield ScalarEvent(metric.title, metric.series, iteration, value, wall)

    def get_logs(self, task_id: str, after_seq: int = 0, limit: int = 1000) -> list[LogLine]:
        if not 1 <= limit <= MAX_LOG_LIMIT:
            raise InvalidInput(f"limit must be between 1 and {MAX_LOG_LIMIT}")
        with self._read() as conn:
            self._require_task(conn, task_id)
            rows = conn.execute(
                sa.select(t.log_lines.c.seq, t.log_lines.c.stream, t.log_lines.c.text,
                          t.log_lines.c.wall)
                .where(t.log_lines.c.task_id == task_id, t.log_lines.c.seq > after_seq)
                .order_by(t.log_lines.c.seq).limit(limit)).all()
        return [LogLine(seq=r.seq, stream=r.stream, text=r.text, wall=r.wall) for r in rows]

