"""Contract of the ``events`` area: scalars, summaries, downsampling, console.

Run against every backend (SQLite, PostgreSQL, HTTP to a server); the HTTP backend shares one
server per module, so every test names its projects, queues, models and workers uniquely.
"""

from __future__ import annotations

import math

import pytest

from tests.store.contract.helpers import S, batch_id, new_task, task_in, unique
from tunehouse.errors import (
    InvalidInput,
)
from tunehouse.store.base import Store
from tunehouse.store.records import (
    EventBatch,
)


# ---------------------------------------------------------------- events
def test_events_are_stored_once_per_batch(store: Store) -> None:
    task_id = new_task(store)
    batch = EventBatch(batch_id=batch_id(), task_id=task_id,
                       scalars=[("loss", "train", i, float(10 - i), 100.0 + i) for i in range(5)],
                       logs=[("stdout", "a", 1.0), ("stderr", "b", 2.0)])
    first = store.events.add_events(batch)
    assert (first.duplicate, first.scalars, first.logs) == (False, 5, 2)
    again = store.events.add_events(batch)
    assert again.duplicate and again.batch_id == batch.batch_id
    [series] = store.events.get_scalars(task_id)
    assert series.x == [0, 1, 2, 3, 4] and series.total == 5
    assert len(store.events.get_logs(task_id)) == 2
    assert store.tasks.get_task(task_id).last_iteration == 4


def test_monitor_samples_do_not_advance_the_last_iteration(store: Store) -> None:
    """The resource monitor's iteration counts seconds: a 6-epoch run stays at 5."""
    task_id = new_task(store)
    store.events.add_events(EventBatch(batch_id=batch_id(), task_id=task_id, scalars=[
        (":monitor:", "cpu_percent", 40, 12.0, 0.0),
        (":monitor:machine", "memory_used_gb", 45, 3.0, 0.0),
        (":monitor:gpu", "gpu_0_utilization", 41, 90.0, 0.0)]))
    assert store.tasks.get_task(task_id).last_iteration is None
    store.events.add_events(EventBatch(batch_id=batch_id(), task_id=task_id, scalars=[
        ("loss", "train", epoch, 1.0 / (epoch + 1), 0.0) for epoch in range(6)
    ] + [(":monitor:", "cpu_percent", 50, 13.0, 0.0)]))
    assert store.tasks.get_task(task_id).last_iteration == 5
    summaries = {(m.title, m.series): m for m in store.events.get_metric_summaries(task_id)}
    assert summaries[(":monitor:", "cpu_percent")].last_iteration == 50


def test_summaries_track_last_min_max_and_nan(store: Store) -> None:
    task_id = new_task(store)
    store.events.add_events(EventBatch(batch_id=batch_id(), task_id=task_id, scalars=[
        ("loss", "train", 0, 3.0, 0.0), ("loss", "train", 1, None, 0.0),
        ("acc", "val", 0, 0.5, 0.0), ("loss", "train", 2, 1.0, 0.0),
    ]))
    store.events.add_events(EventBatch(batch_id=batch_id(), task_id=task_id, scalars=[
        ("loss", "train", 3, 2.0, 0.0), ("loss", "train", 4, float("nan"), 0.0),
        ("only_nan", "x", 0, None, 0.0),
    ]))
    summaries = {(m.title, m.series): m for m in store.events.get_metric_summaries(task_id)}
    assert list(summaries) == [("acc", "val"), ("loss", "train"), ("only_nan", "x")]
    loss = summaries[("loss", "train")]
    assert (loss.count, loss.last, loss.min, loss.max, loss.last_iteration) == (5, None, 1.0, 3.0, 4)
    nan_only = summaries[("only_nan", "x")]
    assert (nan_only.min, nan_only.max, nan_only.last) == (None, None, None)
    [series] = store.events.get_scalars(task_id, title="loss", series="train")
    assert series.y == [3.0, None, 1.0, 2.0, None]
    assert all(v is None or not math.isnan(v) for v in series.y)


def test_scalars_are_read_in_iteration_order(store: Store) -> None:
    task_id = new_task(store)
    store.events.add_events(EventBatch(batch_id=batch_id(), task_id=task_id, scalars=[
        ("m", "s", 5, 5.0, 0.0), ("m", "s", 1, 1.0, 0.0), ("m", "s", 3, 3.0, 0.0),
        ("m", "s", 1, 1.5, 0.0),
    ]))
    [series] = store.events.get_scalars(task_id)
    assert series.x == [1, 1, 3, 5] and series.y == [1.0, 1.5, 3.0, 5.0]
    [sampled] = store.events.get_scalars(task_id, max_points=2)
    assert sampled.x == [1, 5] and sampled.sampled
    assert store.events.get_metric_summaries(task_id)[0].last_iteration == 5


def test_downsampling_keeps_first_last_and_bound(store: Store) -> None:
    task_id = new_task(store)
    for start in range(0, 5000, 1000):
        store.events.add_events(EventBatch(batch_id=batch_id(), task_id=task_id, scalars=[
            ("loss", "train", i, float(i), 0.0) for i in range(start, start + 1000)
        ] + [("acc", "train", i, 1.0, 0.0) for i in range(start // 100, start // 100 + 10)]))
    full = store.events.get_scalars(task_id, title="loss")
    assert len(full) == 1 and len(full[0].x) == 5000 and not full[0].sampled
    for max_points in (2, 3, 100, 999, 4999):
        [series] = store.events.get_scalars(task_id, title="loss", series="train", max_points=max_points)
        assert series.sampled and series.total == 5000
        assert 2 <= len(series.x) <= max_points
        assert series.x[0] == 0 and series.x[-1] == 4999
        assert series.x == sorted(series.x) and series.y == [float(x) for x in series.x]
    short = store.events.get_scalars(task_id, title="acc", max_points=100)
    assert len(short[0].x) == 50 and not short[0].sampled
    with pytest.raises(InvalidInput):
        store.events.get_scalars(task_id, max_points=1)
    assert store.events.get_scalars(task_id, title="nope") == []


def test_logs_after_seq_and_limit(store: Store) -> None:
    task_id = new_task(store)
    for chunk in range(3):
        store.events.add_events(EventBatch(batch_id=batch_id(), task_id=task_id, logs=[
            ("stdout", f"line {chunk * 10 + i}", float(i)) for i in range(10)]))
    lines = store.events.get_logs(task_id)
    assert [line.text for line in lines] == [f"line {i}" for i in range(30)]
    seqs = [line.seq for line in lines]
    assert seqs == sorted(seqs) and len(set(seqs)) == 30 and seqs[0] > 0
    after = store.events.get_logs(task_id, after_seq=seqs[9], limit=5)
    assert [line.text for line in after] == [f"line {i}" for i in range(10, 15)]
    assert store.events.get_logs(task_id, after_seq=seqs[-1]) == []


def test_events_work_in_any_status_and_reject_bad_input(store: Store) -> None:
    task_id = task_in(store, S.completed, unique("queue"))
    store.events.add_events(EventBatch(batch_id=batch_id(), task_id=task_id,
                                scalars=[("late", "s", 0, 1.0, 0.0)]))
    with pytest.raises(InvalidInput):
        store.events.add_events(EventBatch(batch_id=batch_id(), task_id=task_id,
                                    scalars=[("", "s", 0, 1.0, 0.0)]))
    with pytest.raises(InvalidInput):
        store.events.add_events(EventBatch(batch_id=batch_id(), task_id=task_id,
                                    logs=[("bogus", "x", 0.0)]))
    assert [m.title for m in store.events.get_metric_summaries(task_id)] == ["late"]


def test_negative_zero_keeps_its_sign(store: Store) -> None:
    task_id = new_task(store)
    store.events.add_events(EventBatch(batch_id=batch_id(), task_id=task_id,
                                       scalars=[("loss", "s", 0, -0.0, 1.0),
                                                ("loss", "s", 1, 0.0, 1.0)]))
    [series] = store.events.get_scalars(task_id)
    assert [math.copysign(1.0, y) for y in series.y] == [-1.0, 1.0]  # type: ignore[arg-type]
    [summary] = store.events.get_metric_summaries(task_id)
    assert summary.min is not None and math.copysign(1.0, summary.min) == -1.0
