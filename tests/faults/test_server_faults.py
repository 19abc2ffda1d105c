"""The server under bad input and failing storage: a clear 4xx/5xx naming the cause,
never a dropped connection or a bare 500 (issue 8, cases 6 and 7 and the small ones)."""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import uvicorn

from tests.helpers.server import ServerProcess, free_port, running_server
from tests.helpers.tmpfs import remount_read_only
from tests.helpers.wait import wait_until
from tunehouse.errors import InvalidInput
from tunehouse.settings import Settings
from tunehouse.store.records import EventBatch, TaskCreate


def _task(api: httpx.Client) -> str:
    response = api.post("/tasks", json={"project": f"faults/{uuid.uuid4().hex[:8]}",
                                        "name": "t"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _batch(task_id: str, scalars: list[list[object]]) -> bytes:
    return orjson.dumps({"batch_id": uuid.uuid4().hex, "task_id": task_id, "scalars": scalars},
                        option=orjson.OPT_SERIALIZE_NUMPY)


@pytest.mark.parametrize("wall", [float("nan"), float("inf"), float("-inf")])
def test_a_non_finite_wall_time_is_422_naming_the_field(api: httpx.Client, wall: float) -> None:
    task_id = _task(api)
    body = f'{{"batch_id":"{uuid.uuid4().hex}","task_id":"{task_id}","scalars":' \
           f'[["a","b",0,1.0,0.5],["a","b",1,1.0,{_json_number(wall)}]]}}'
    response = api.post("/events", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert "body.scalars.1.wall" in response.json()["error"]["message"]
    assert api.get(f"/tasks/{task_id}/metrics").json() == []  # nothing of the batch stored
    assert api.get("/health").status_code == 200  # the same kept-alive connection still works


def _json_number(value: float) -> str:
    # pydantic reads NaN/Infinity literals (JSON5-style) as floats; orjson would write null.
    return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")


def test_a_latin1_body_is_422(api: httpx.Client) -> None:
    body = '{"project": "faults/x", "name": "caf\xe9"}'.encode("latin-1")
    response = api.post("/tasks", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert "not valid UTF-8" in response.json()["error"]["message"]


@pytest.mark.parametrize("path", ["/tasks", "/events"])
def test_json_nested_too_deeply_is_422(api: httpx.Client, path: str) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    response = api.post(path, content=deep, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert "deep" in response.json()["error"]["message"] \
        or "recursion" in response.json()["error"]["message"]


# ------------------------------------------------------------------ 500 and keep-alive
@pytest.fixture
def failing_app_server(tmp_path: Path) -> Iterator[str]:
    """The real app plus one route that fails unexpectedly, served by uvicorn."""
    from fastapi import FastAPI

    from tunehouse.server.app import create_app

    app: FastAPI = create_app(Settings.from_env(env={}, home=tmp_path / "home"))

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, 30, "the in-process uvicorn server to start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_an_internal_error_is_500_and_keeps_the_connection(failing_app_server: str) -> None:
    connections: list[object] = []

    def remember(response: httpx.Response) -> None:
        stream = response.extensions.get("network_stream")
        connections.append(stream)

    with httpx.Client(base_url=failing_app_server,
                      event_hooks={"response": [remember]}) as client:
        failed = client.get("/boom")
        assert failed.status_code == 500
        assert failed.json() == {"error": {"code": "internal",
                                           "message": "internal server error"}}
        assert "a bug" not in failed.text
        assert client.get("/api/v1/health").status_code == 200  # no "connection reset"
    assert connections[0] is connections[1]  # the same kept-alive connection served both


def test_the_client_resends_an_idempotent_request_once_after_a_dropped_connection(
        tmp_path: Path) -> None:
    with running_server(tmp_path / "home") as server:
        store = server.store()
        try:
            task = store.tasks.create_task(TaskCreate(project="faults/resend", name="t"))
            server.kill()  # the kept-alive connection is now dead on the server side
            server._start()
            assert store.tasks.get_task(task.id).id == task.id
            result = store.events.add_events(EventBatch(
                batch_id=uuid.uuid4().hex, task_id=task.id, scalars=[("a", "b", 0, 1.0, 1.0)]))
            assert not result.duplicate
        finally:
            store.close()


# ------------------------------------------------------------------ storage failures
def test_a_full_disk_is_507(tmpfs: Callable[[str], Path]) -> None:
    home = tmpfs("8m")
    with running_server(home / "home") as server:
        auth = (server.access_key, server.secret_key)
        with httpx.Client(base_url=f"{server.url}/api/v1", auth=auth, timeout=60) as api:
            big = api.put("/blobs", content=b"x" * (16 << 20),
                          headers={"Content-Type": "application/octet-stream"})
            assert big.status_code == 507, big.text
            assert big.json()["error"]["code"] == "storage_full"
            assert "full" in big.json()["error"]["message"]
            task_id = _task(api)
            _fill(home)
            full = _post_events_until_refused(api, task_id)
            assert full.status_code == 507, full.text
            assert full.json()["error"]["code"] == "storage_full"
            _unfill(home)
            after = api.post("/events", content=_batch(task_id, [["a", "b", 0, 1.0, 1.0]]),
                             headers={"Content-Type": "application/json"})
            assert after.status_code == 200, after.text  # space again: it works again


def test_read_only_blob_storage_is_503(tmpfs: Callable[[str], Path], tmp_path: Path) -> None:
    blobs = tmpfs("1m")
    remount_read_only(blobs)
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.json").write_text(orjson.dumps({"artifacts": str(blobs)}).decode())
    with running_server(home) as server:
        auth = (server.access_key, server.secret_key)
        with httpx.Client(base_url=f"{server.url}/api/v1", auth=auth, timeout=60) as api:
            response = api.put("/blobs", content=b"weights",
                               headers={"Content-Type": "application/octet-stream"})
            assert response.status_code == 503, response.text
            assert response.json()["error"]["code"] == "storage_unavailable"
            assert "cannot be written" in response.json()["error"]["message"]


@pytest.mark.postgres
def test_a_read_only_database_is_503(tmp_path: Path) -> None:
    from sqlalchemy import create_engine, text

    from tests.server.conftest import fresh_pg_database

    url, drop = fresh_pg_database()
    try:
        with running_server(tmp_path / "home", db_url=url) as server:
            auth = (server.access_key, server.secret_key)
            with httpx.Client(base_url=f"{server.url}/api/v1", auth=auth, timeout=60) as api:
                task_id = _task(api)
            engine = create_engine(url, isolation_level="AUTOCOMMIT")
            with engine.connect() as conn:
                name = conn.execute(text("select current_database()")).scalar_one()
                conn.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
            engine.dispose()
            server.restart()  # new connections are read-only
            with httpx.Client(base_url=f"{server.url}/api/v1", auth=auth, timeout=60) as api:
                response = api.post("/events", content=_batch(task_id, [["a", "b", 0, 1.0, 1.0]]),
                                    headers={"Content-Type": "application/json"})
                assert response.status_code == 503, response.text
                assert response.json()["error"]["code"] == "storage_unavailable"
                assert "read-only" in response.json()["error"]["message"]
    finally:
        drop()  # type: ignore[operator]


def _fill(home: Path) -> None:
    """Take every free byte of the filesystem (unbuffered, so closing cannot fail)."""
    fd = os.open(home / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (64 << 10, 4 << 10, 512, 1):
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * size):
                    pass
    finally:
        os.close(fd)


def _unfill(home: Path) -> None:
    (home / "filler").unlink()


def _post_events_until_refused(api: httpx.Client, task_id: str) -> httpx.Response:
    points = [["loss", "train", i, float(i), 1.0] for i in range(2000)]
    for _ in range(200):
        response = api.post("/events", content=_batch(task_id, points),  # type: ignore[arg-type]
                            headers={"Content-Type": "application/json"})
        if response.status_code != 200:
            return response
    raise AssertionError("the full disk never refused a batch")


def test_store_errors_name_the_field_in_embedded_mode_too(tmp_path: Path) -> None:
    from tunehouse.store.sql import SqlStore

    with SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "blobs") as store:
        task = store.tasks.create_task(TaskCreate(project="faults/embedded", name="t"))
        with pytest.raises(InvalidInput, match=r"scalars\.0\.wall"):
            store.events.add_events(EventBatch(batch_id=uuid.uuid4().hex, task_id=task.id,
                                               scalars=[("a", "b", 0, 1.0, float("nan"))]))


def test_server_fixture_is_shared(server: ServerProcess) -> None:
    assert server.url.startswith("http://127.0.0.1:")
