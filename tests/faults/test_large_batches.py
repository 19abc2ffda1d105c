"""Event batches near the server's size limit: memory bounded per request and in total,
and returned afterwards (issue 8, case 2). Peak RSS is read from ``/proc`` of the real
server process (``VmHWM`` after resetting it through ``clear_refs``)."""

from __future__ import annotations

import uuid

import httpx
import orjson
import pytest

from tests.helpers.large_batches import post_at_once, post_batch, scalar_batch
from tests.helpers.process_memory import memory_mib, reset_peak
from tests.helpers.server import ServerProcess

MIB = 1 << 20


def new_task(api: httpx.Client) -> str:
    return str(api.post("/tasks", json={"project": f"faults/{uuid.uuid4().hex[:8]}",
                                        "name": "big"}).json()["id"])


@pytest.mark.slow
def test_a_63_mib_batch_adds_at_most_300_mib_and_gives_it_back(
        server: ServerProcess, api: httpx.Client) -> None:
    task_id = new_task(api)
    body = scalar_batch(task_id, 1_600_000)
    assert 60 * MIB < len(body) < 64 * MIB
    pid = server.proc.pid
    reset_peak(pid)
    before = memory_mib(pid)["VmRSS"]
    response = post_batch(api, body)
    assert response.status_code == 200, response.text
    assert response.json()["scalars"] == 1_600_000
    peak = memory_mib(pid)["VmHWM"]
    assert peak - before <= 300, f"RSS {before} MiB -> peak {peak} MiB"
    [summary] = api.get(f"/tasks/{task_id}/metrics").json()
    assert summary["count"] == 1_600_000 and summary["last_iteration"] == 1_599_999
    after = memory_mib(pid)["VmRSS"]
    assert after - before <= 150, f"RSS {before} MiB before, {after} MiB after"


@pytest.mark.slow
def test_four_concurrent_43_mib_batches_are_bounded(
        server: ServerProcess, api: httpx.Client) -> None:
    task_ids = [new_task(api) for _ in range(4)]
    bodies = [scalar_batch(task_id, 1_100_000) for task_id in task_ids]
    pid = server.proc.pid
    reset_peak(pid)
    before = memory_mib(pid)["VmRSS"]
    results = post_at_once(server, bodies)
    assert results == [200] * 4
    peak = memory_mib(pid)["VmHWM"]
    assert peak - before <= 600, f"RSS {before} MiB -> peak {peak} MiB"
    for task_id in task_ids:
        assert api.get(f"/tasks/{task_id}/metrics").json()[0]["count"] == 1_100_000


def test_an_invalid_event_deep_in_a_large_batch_stores_nothing(api: httpx.Client) -> None:
    task_id = new_task(api)
    count = 200_000
    points = [["loss", "train", i, 0.5, 1.0] for i in range(count)]
    points[150_123][2] = "not an iteration"
    body = orjson.dumps({"batch_id": uuid.uuid4().hex, "task_id": task_id, "scalars": points})
    assert len(body) > 4 * MIB  # the streamed path
    response = post_batch(api, body)
    assert response.status_code == 422, response.text
    assert "body.scalars.150123.2" in response.json()["error"]["message"]
    assert api.get(f"/tasks/{task_id}/metrics").json() == []


def test_an_unknown_field_in_a_large_batch_is_refused(api: httpx.Client) -> None:
    task_id = new_task(api)
    body = scalar_batch(task_id, 150_000, scalar=[["typo", "s", 0, 1.0, 1.0]])
    response = post_batch(api, body)
    assert response.status_code == 422, response.text
    assert "body.scalar" in response.json()["error"]["message"]
    assert api.get(f"/tasks/{task_id}/metrics").json() == []


def test_a_large_batch_is_stored_once_and_with_its_console(api: httpx.Client) -> None:
    task_id = new_task(api)
    logs = [["stdout", f"line {i} with [brackets], commas", 2.0] for i in range(30_000)]
    body = scalar_batch(task_id, 120_000, logs=logs)
    first = post_batch(api, body)
    assert first.status_code == 200 and first.json()["logs"] == 30_000
    again = post_batch(api, body)
    assert again.json()["duplicate"] is True
    assert api.get(f"/tasks/{task_id}/metrics").json()[0]["count"] == 120_000
    lines = api.get(f"/tasks/{task_id}/logs", params={"limit": 100_000}).json()
    assert len(lines) == 30_000 and lines[-1]["text"] == "line 29999 with [brackets], commas"
