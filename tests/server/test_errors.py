"""Bad input gets a 4xx naming the problem, never a 5xx; HttpStore maps errors back."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.helpers.server import ServerProcess, free_port, running_server
from tunehouse.client.http import HttpStore
from tunehouse.errors import InvalidInput, InvalidTransition, NotFound, ServerUnavailable
from tunehouse.store.records import StatusChange, TaskCreate, TaskStatus


def _error(response: httpx.Response) -> dict:
    assert response.headers["content-type"].startswith("application/json")
    return response.json()["error"]


def _task(api: httpx.Client) -> str:
    response = api.post("/tasks", json={"project": "errors", "name": "t"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@pytest.mark.parametrize("path", ["/tasks/nope", "/tasks/nope/parameters", "/tasks/nope/scalars",
                                  "/tasks/nope/logs", "/tasks/nope/script", "/models/nope",
                                  "/projects/no/such/project", "/users/nobody",
                                  "/blobs/" + "a" * 64, "/no/such/route"])
def test_unknown_records_are_404(api: httpx.Client, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 404, response.text
    assert _error(response)["code"] == "not_found"


def test_missing_and_extra_fields_are_422_naming_them(api: httpx.Client) -> None:
    response = api.post("/tasks", json={"project": "p"})
    assert response.status_code == 422
    error = _error(response)
    assert error["code"] == "invalid" and "name" in error["message"]
    response = api.post("/tasks", json={"project": "p", "name": "n", "colour": "red"})
    assert response.status_code == 422 and "colour" in _error(response)["message"]
    response = api.post("/tasks", json={"project": "a//b", "name": "n"})
    assert response.status_code == 422 and "project" in _error(response)["message"]
    response = api.get("/tasks", params={"limit": "many"})
    assert response.status_code == 422 and "limit" in _error(response)["message"]
    response = api.get("/tasks", params={"status": "sleeping"})
    assert response.status_code == 422 and "status" in _error(response)["message"]


def test_bad_event_batches_are_422_naming_the_field(api: httpx.Client) -> None:
    task_id = _task(api)
    response = api.post("/events", json={"batch_id": "short", "task_id": task_id})
    assert response.status_code == 422 and "batch_id" in _error(response)["message"]
    response = api.post("/events", json={"batch_id": "batch-0001", "task_id": task_id,
                                         "scalars": [["loss", "train", "x", 1.0, 0.0]]})
    assert response.status_code == 422
    assert "scalars.0.2" in _error(response)["message"]
    response = api.post("/events", content=b"")
    assert response.status_code == 422 and "body" in _error(response)["message"]


def test_names_with_control_characters_are_422_naming_the_field(api: httpx.Client) -> None:
    task_id = _task(api)
    sha = "0" * 64
    for method, path, body, field in (
        ("POST", "/tasks", {"project": "errors", "name": "a\x00b"}, "name"),
        ("POST", "/tasks", {"project": "errors/\x00", "name": "n"}, "project"),
        ("PATCH", f"/tasks/{task_id}", {"name": "two\nlines"}, "name"),
        ("POST", "/projects", {"name": "errors/\x1b[31m"}, "name"),
        ("POST", f"/tasks/{task_id}/clone", {"name": "a\x00b"}, "name"),
        ("POST", "/models", {"name": "m\x00", "sha256": sha, "size": 0}, "name"),
        ("POST", f"/tasks/{task_id}/artifacts", {"name": "a\x00", "sha256": sha, "size": 0},
         "name"),
    ):
        response = api.request(method, path, json=body)
        assert response.status_code == 422, (path, response.text)
        message = _error(response)["message"]
        assert f"body.{field}: " in message and "control characters" in message, message


@pytest.mark.parametrize("path", ["/tasks", "/events", "/auth/login"])
def test_malformed_json_is_422(api: httpx.Client, path: str) -> None:
    response = api.post(path, content=b'{"project": "p", ',
                        headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert _error(response)["code"] == "invalid"


def test_invalid_transition_is_409_naming_both_states(api: httpx.Client) -> None:
    task_id = _task(api)
    response = api.post(f"/tasks/{task_id}/status", json={"status": "completed"})
    assert response.status_code == 409
    error = _error(response)
    assert error["code"] == "invalid_transition"
    assert "created" in error["message"] and "completed" in error["message"]


@pytest.mark.parametrize("sha", ["abc", "A" * 64, "g" * 64, "0" * 63, "0" * 65, "..%2F..%2Fetc"])
def test_bad_sha256_is_422(api: httpx.Client, sha: str) -> None:
    response = api.get(f"/blobs/{sha}")
    assert response.status_code in (404, 422), response.text
    if "%2F" not in sha:
        assert response.status_code == 422 and "sha256" in _error(response)["message"]


def test_wrong_method_is_405_in_the_error_format(api: httpx.Client) -> None:
    response = api.delete("/projects")
    assert response.status_code == 405 and _error(response)["code"] == "method_not_allowed"


def test_http_store_raises_the_store_exceptions(server: ServerProcess) -> None:
    store = server.store()
    try:
        with pytest.raises(NotFound):
            store.tasks.get_task("nope")
        task = store.tasks.create_task(TaskCreate(project="errors", name="mapped"))
        with pytest.raises(InvalidTransition) as caught:
            store.tasks.change_status(task.id, StatusChange(status=TaskStatus.completed))
        assert caught.value.detail == {"from": "created", "to": "completed"}
        with pytest.raises(InvalidInput):
            store.artifacts.open_blob("not-a-sha")
        with pytest.raises(NotFound):
            store.artifacts.open_blob("b" * 64)
    finally:
        store.close()


def test_unreachable_server_is_server_unavailable() -> None:
    store = HttpStore(f"http://127.0.0.1:{free_port()}", "THKEY", "secret", timeout=5)
    try:
        with pytest.raises(ServerUnavailable) as caught:
            store.tasks.list_projects()
        assert "cannot reach" in caught.value.message
    finally:
        store.close()


def test_oversized_bodies_are_413(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.json").write_text(json.dumps({"max_request_mb": 1}))
    with running_server(home) as server, httpx.Client(
            base_url=f"{server.url}/api/v1", auth=(server.access_key, server.secret_key),
            timeout=60) as api:
        big = json.dumps({"project": "p", "name": "n", "comment": "x" * (2 << 20)}).encode()
        response = api.post("/tasks", content=big, headers={"content-type": "application/json"})
        assert response.status_code == 413
        assert _error(response)["code"] == "payload_too_large"

        def chunked():  # no Content-Length: the server counts the streamed bytes
            for _ in range(40):
                yield b"x" * 65536

        response = api.post("/events", content=chunked(),
                            headers={"content-type": "application/json"})
        assert response.status_code == 413

        def small_chunks():
            yield b'{"project": "p", '
            yield b'"name": "chunked"}'

        response = api.post("/tasks", content=small_chunks(),
                            headers={"content-type": "application/json"})
        assert response.status_code == 201, response.text
        # uploads stream and are not limited by max_request_mb
        blob = api.put("/blobs", content=b"y" * (3 << 20))
        assert blob.status_code == 201 and blob.json()["size"] == 3 << 20


def test_numbers_beyond_64_bits_are_422(api: httpx.Client) -> None:
    task_id = _task(api)
    huge = 2**70
    for response in (
        api.get("/tasks", params={"offset": huge}),
        api.get(f"/tasks/{task_id}/logs", params={"after_seq": huge}),
        api.patch(f"/tasks/{task_id}", json={"last_iteration": huge}),
        api.post("/events", json={"batch_id": "huge-iteration", "task_id": task_id,
                                  "scalars": [["loss", "train", huge, 1.0, 0.0]]}),
    ):
        assert response.status_code == 422, response.text
        assert _error(response)["code"] == "invalid"
