"""Event batches through a real server: 10,000+ events per request, idempotent resend."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import orjson
import pytest
from pydantic import ValidationError

from tests.helpers.large_batches import post_batch
from tests.helpers.server import ServerProcess
from tunehouse.server.bodies import LARGE_BODY_BYTES
from tunehouse.store.records import EventBatch, LogEvent, ScalarEvent, TaskCreate, TaskUpdate

NOT_ITERATIONS = [True, False, "5", 5.0]


def test_ten_thousand_events_in_one_batch_and_resend(server: ServerProcess) -> None:
    store = server.store()
    try:
        task = store.tasks.create_task(TaskCreate(project="events", name="big batch"))
        scalars = [ScalarEvent("loss", "train", i, 1.0 / (i + 1), 1000.0 + i) for i in range(12_000)]
        scalars[5] = ScalarEvent("loss", "train", 5, None, 1005.0)  # NaN travels as null
        logs = [LogEvent("stdout", f"line {i}", 1000.0 + i) for i in range(500)]
        batch = EventBatch(batch_id="batch-big-0001", task_id=task.id, scalars=scalars, logs=logs)
        first = store.events.add_events(batch)
        assert (first.duplicate, first.scalars, first.logs) == (False, 12_000, 500)
        again = store.events.add_events(batch)
        assert again.duplicate is True and again.batch_id == "batch-big-0001"

        [series] = store.events.get_scalars(task.id)
        assert series.total == 12_000 and len(series.x) == 12_000
        assert series.x[:3] == [0, 1, 2] and series.y[5] is None and series.y[0] == 1.0
        [sampled] = store.events.get_scalars(task.id, title="loss", series="train", max_points=100)
        assert sampled.sampled and len(sampled.x) <= 100
        assert sampled.x[0] == 0 and sampled.x[-1] == 11_999
        [summary] = store.events.get_metric_summaries(task.id)
        assert summary.count == 12_000 and summary.last_iteration == 11_999

        lines = store.events.get_logs(task.id, limit=100_000)
        assert len(lines) == 500 and lines[0].text == "line 0"
        after = store.events.get_logs(task.id, after_seq=lines[99].seq, limit=10)
        assert [line.text for line in after] == [f"line {i}" for i in range(100, 110)]
    finally:
        store.close()


def test_raw_batch_with_arrays(server: ServerProcess) -> None:
    with httpx.Client(base_url=f"{server.url}/api/v1",
                      auth=(server.access_key, server.secret_key), timeout=60) as api:
        task_id = api.post("/tasks", json={"project": "events", "name": "raw"}).json()["id"]
        body = {"batch_id": "raw-batch-01", "task_id": task_id,
                "scalars": [["acc", "val", i, 0.5, 1.0] for i in range(10_000)],
                "logs": [["stderr", "warning", 1.0]]}
        response = api.post("/events", json=body)
        assert response.status_code == 200, response.text
        assert response.json() == {"batch_id": "raw-batch-01", "duplicate": False,
                                   "scalars": 10_000, "logs": 1}
        assert api.post("/events", json=body).json()["duplicate"] is True
        scalars = api.get(f"/tasks/{task_id}/scalars", params={"max_points": 50}).json()
        assert scalars[0]["total"] == 10_000 and len(scalars[0]["x"]) <= 50
        missing = api.post("/events", json={**body, "batch_id": "raw-batch-02",
                                            "task_id": "no-such-task"})
        assert missing.status_code == 404


@pytest.mark.parametrize("iteration", NOT_ITERATIONS)
def test_records_take_iterations_as_integers_only(iteration: Any) -> None:
    data = {"batch_id": "batch-0001", "task_id": "t",
            "scalars": [["loss", "train", iteration, 1.0, 1.0]]}
    for parse in (lambda: EventBatch.model_validate(data),
                  lambda: EventBatch.model_validate_json(orjson.dumps(data))):
        with pytest.raises(ValidationError) as refused:
            parse()
        assert [error["loc"] for error in refused.value.errors()] == [("scalars", 0, 2)]
    with pytest.raises(ValidationError) as refused:
        TaskUpdate.model_validate({"last_iteration": iteration})
    assert refused.value.errors()[0]["loc"] == ("last_iteration",)


@pytest.mark.parametrize("iteration", NOT_ITERATIONS)
@pytest.mark.parametrize("count", [10, 200_000], ids=["parsed-whole", "streamed"])
def test_iterations_that_are_not_integers_are_422(api: httpx.Client, iteration: Any,
                                                  count: int) -> None:
    task_id = api.post("/tasks", json={"project": "events", "name": "iterations"}).json()["id"]
    scalars: list[list[Any]] = [["loss", "train", i, 0.5, 1.0] for i in range(count)]
    scalars[count - 3][2] = iteration
    body = orjson.dumps({"batch_id": uuid.uuid4().hex, "task_id": task_id, "scalars": scalars})
    assert (len(body) > LARGE_BODY_BYTES) == (count > 10)  # which of the two parsers
    response = post_batch(api, body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert f"body.scalars.{count - 3}.2: Input should be a valid integer" in error["message"]
    assert api.get(f"/tasks/{task_id}/metrics").json() == []
    patched = api.patch(f"/tasks/{task_id}", json={"last_iteration": iteration})
    assert patched.status_code == 422 and "last_iteration" in patched.json()["error"]["message"]
