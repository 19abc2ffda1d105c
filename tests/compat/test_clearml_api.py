"""Bad input through the ClearML API: every answer is ClearML's envelope, with a 4xx for
the client's errors, naming the endpoint (the SDK retries forever otherwise)."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.compat.conftest import Key
from tests.helpers.clearml import run_sdk, sdk_env
from tests.helpers.server import ServerProcess
from tunehouse.compat.clearml import tokens

pytestmark = pytest.mark.timeout(120)


def _login(server: ServerProcess, key: Key) -> str:
    answer = httpx.get(f"{server.url}/clearml/auth.login",
                       auth=(key.access_key, key.secret_key))
    assert answer.status_code == 200, answer.text
    return str(answer.json()["data"]["token"])


def _call(server: ServerProcess, token: str | None, endpoint: str, body: Any = None,
          method: str = "GET", content: bytes | None = None,
          status: int = 200) -> dict[str, Any]:
    """Call ``endpoint``; check the envelope and that its result code is ``status``."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = httpx.request(method, f"{server.url}/clearml/{endpoint}", headers=headers,
                           json=body if content is None else None, content=content)
    envelope = answer.json()
    meta = envelope["meta"]
    assert (answer.status_code, meta["result_code"]) == (status, status), envelope
    assert meta["endpoint"]["name"] == endpoint.rsplit("/", 1)[-1]
    assert set(meta) >= {"id", "trx", "result_subcode", "result_msg", "error_stack"}
    assert "data" in envelope
    return envelope


@pytest.fixture(scope="module")
def token(server: ServerProcess, admin_key: Key) -> str:
    return _login(server, admin_key)


@pytest.fixture(scope="module")
def task_id(server: ServerProcess, token: str) -> str:
    project = _call(server, token, "v2.23/projects.create", {"name": "api-checks"})
    created = _call(server, token, "v2.23/tasks.create",
                    {"name": "checked", "type": "training",
                     "project": project["data"]["id"]}, method="POST")
    return str(created["data"]["id"])


def test_token_announces_the_api_version_the_sdk_reads(token: str) -> None:
    body = token.split(".")[1]
    decoded = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    assert decoded["api_version"] == "2.31" and decoded["identity"]["user"] == "admin"
    assert decoded["exp"] > time.time()


def test_versioned_and_bare_paths_and_every_method(server: ServerProcess, token: str,
                                                   task_id: str) -> None:
    for endpoint in ("v2.23/tasks.get_by_id", "tasks.get_by_id", "v2.9/tasks.get_by_id"):
        for method in ("GET", "POST", "PUT"):
            found = _call(server, token, endpoint, {"task": task_id}, method=method)
            assert found["data"]["task"]["id"] == task_id


def test_unknown_and_unsupported_endpoints(server: ServerProcess, token: str) -> None:
    unknown = _call(server, token, "v2.23/tasks.frobnicate", {}, status=404)
    assert "tasks.frobnicate" in unknown["meta"]["result_msg"]
    later = _call(server, token, "v2.23/tasks.publish", {"task": "x"}, status=400)
    assert "tasks.publish is not supported by tunehouse yet" in later["meta"]["result_msg"]
    answer = httpx.get(f"{server.url}/clearml/not-an-endpoint")
    assert answer.status_code == 404 and answer.json()["meta"]["endpoint"]["name"]
    bare = httpx.get(f"{server.url}/clearml")
    assert bare.status_code == 404 and bare.json()["meta"]["result_code"] == 404


def test_malformed_bodies_and_wrong_types(server: ServerProcess, token: str,
                                          task_id: str) -> None:
    bad_json = _call(server, token, "tasks.get_by_id", content=b"{not json", status=400)
    assert "malformed JSON" in bad_json["meta"]["result_msg"]
    _call(server, token, "tasks.get_by_id", content=b"[1, 2]", status=400)
    wrong = _call(server, token, "tasks.create", {"name": 5, "type": "training"}, status=400)
    assert "'name'" in wrong["meta"]["result_msg"]
    long = _call(server, token, "tasks.create", {"name": "n" * 300, "type": "training"},
                 status=400)
    assert "name" in long["meta"]["result_msg"]
    _call(server, token, "tasks.edit", {"task": task_id, "hyperparams": {
        "": {"lr": {"value": "1"}}}}, status=400)
    kind = _call(server, token, "tasks.create", {"name": "n", "type": "qc"}, status=400)
    assert "'qc'" in kind["meta"]["result_msg"]
    params = _call(server, token, "tasks.edit",
                   {"task": task_id, "hyperparams": {"General": {"lr": 3}}}, status=400)
    assert "hyperparams.General.lr" in params["meta"]["result_msg"]
    # checked whole before anything is written: no task is left half made
    _call(server, token, "tasks.create", {"name": "never", "type": "training",
                                          "configuration": {"c": {"value": []}}}, status=400)
    assert _call(server, token, "tasks.get_all", {"name": "^never$"})["data"]["tasks"] == []
    by_id = _call(server, token, "tasks.get_all", {"id": [task_id], "status": ["completed"]})
    assert by_id["data"]["tasks"] == []  # filters apply to tasks asked for by id too
    _call(server, token, "tasks.get_all", {"page_size": "many"}, status=400)
    _call(server, token, "tasks.get_all", {"bogus_filter": 1}, status=400)
    _call(server, token, "tasks.get_by_id", {"task": "0" * 32}, status=404)
    line = _call(server, token, "events.add_batch", content=b'{"type": "log"}\nnope\n',
                 status=400)
    assert "line 2" in line["meta"]["result_msg"]


def test_events_tunehouse_does_not_keep_are_counted_as_errors(server: ServerProcess,
                                                              token: str, task_id: str) -> None:
    batch = (b'{"type": "training_stats_scalar", "task": "%s", "iter": 1, "metric": "m", '
             b'"variant": "v", "value": 2.5, "timestamp": 1000}\n'
             b'{"type": "training_stats_vector", "task": "%s", "iter": 1, "metric": "m", '
             b'"variant": "v", "values": [1, 2]}\n'
             b'{"type": "training_debug_image", "task": "%s", "iter": 1, "metric": "m", '
             b'"variant": "v", "url": "http://x/y.png"}\n') % ((task_id.encode(),) * 3)
    answer = _call(server, token, "events.add_batch", content=batch, method="POST")
    assert answer["data"]["added"] == 1 and answer["data"]["errors"] == 2
    assert sorted(answer["data"]["errors_info"]) == [
        "events of type 'training_stats_vector' are not supported by tunehouse yet",
        "training_debug_image events whose url is not a file of tunehouse's file server "
        "are not supported by tunehouse yet"]


def test_debug_images_name_their_file_on_the_file_server(server: ServerProcess, token: str,
                                                         task_id: str) -> None:
    files = f"{server.url}/clearml-files"
    path = f"api-checks/checked.{task_id}/metrics/layer/kernel/layer_kernel_00000000.jpeg"
    auth = {"Authorization": f"Bearer {token}"}
    for content in (b"first image", b"second image"):  # the SDK reuses the file's name
        assert httpx.post(files, headers=auth,
                          files={path: ("x.jpeg", content, "image/jpeg")}).status_code == 200
        iteration = 0 if content == b"first image" else 1
        image = {"type": "training_debug_image", "task": task_id, "iter": iteration,
                 "metric": "layer", "variant": "kernel", "url": f"{files}/{path}"}
        missing = {**image, "url": f"{files}/{path}.missing"}
        batch = "\n".join(json.dumps(event) for event in (image, missing)).encode()
        answer = _call(server, token, "events.add_batch", content=batch, method="POST")
        assert (answer["data"]["added"], answer["data"]["errors"]) == (1, 1)
    bad = _call(server, token, "events.add_batch", status=400, content=json.dumps(
        {**image, "url": 5}).encode())
    assert "url" in bad["meta"]["result_msg"]
    with server.store() as store:
        kept = {a.name: a for a in store.artifacts.list_artifacts(task_id)
                if a.kind == "clearml-debug-image"}
        assert sorted(kept) == ["debug_image/layer/kernel/0", "debug_image/layer/kernel/1"]
        # each iteration keeps its own image, though the file was replaced
        assert [b"".join(store.artifacts.open_blob(kept[name].sha256)) for name in sorted(kept)] \
            == [b"first image", b"second image"]
        assert kept["debug_image/layer/kernel/1"].content_type == "image/jpeg"


def test_tokens_missing_forged_and_expired(server: ServerProcess, admin_key: Key) -> None:
    _call(server, None, "tasks.get_all", {}, status=401)
    forged = tokens.issue(b"not the server's key" * 2, admin_key.user, admin_key.access_key,
                          admin=True)
    assert "bad signature" in _call(server, forged, "tasks.get_all", {},
                                    status=401)["meta"]["result_msg"]
    key = tokens.signing_key(bytes.fromhex((server.home / "session-secret").read_text()))
    expired = tokens.issue(key, admin_key.user, admin_key.access_key,
                           now=time.time() - tokens.TOKEN_TTL_S - 10)
    assert _call(server, expired, "tasks.get_all", {},
                 status=401)["meta"]["result_subcode"] == 21
    _call(server, "a.b.c", "tasks.get_all", {}, status=401)
    wrong = httpx.get(f"{server.url}/clearml/auth.login", auth=(admin_key.access_key, "wrong"))
    assert wrong.status_code == 401 and wrong.json()["meta"]["endpoint"]["name"] == "auth.login"


def test_another_users_task(server: ServerProcess, other_key: Key, task_id: str) -> None:
    token = _login(server, other_key)
    # a viewer (the default role) reads the admin's task but changes nothing of it
    _call(server, token, "tasks.get_by_id", {"task": task_id})
    denied = _call(server, token, "tasks.edit", {"task": task_id, "name": "mine"}, status=403)
    assert denied["meta"]["result_msg"]
    _call(server, token, "tasks.started", {"task": task_id}, status=403)


def test_the_sdk_does_not_hang_on_refusals(server: ServerProcess, admin_key: Key,
                                           other_key: Key, sdk_python: Path, tmp_path: Path,
                                           task_id: str) -> None:
    """A wrong secret: the SDK raises; another user's task: it logs the 403 (the SDK's
    way with a failed edit) and the task is unchanged. Neither retries forever."""
    wrong = sdk_env(server.url, admin_key.access_key, "wrong-secret", tmp_path / "wrong")
    run = run_sdk(sdk_python, "from clearml import Task\nTask.init('p', 't')\n", wrong,
                  tmp_path / "a", timeout=60)
    assert run.returncode != 0 and "401" in run.stderr
    other = sdk_env(server.url, other_key.access_key, other_key.secret_key, tmp_path / "other")
    script = ("import sys\nfrom clearml import Task\n"
              f"task = Task.get_task(task_id='{task_id}')\n"
              "print('NAME=' + task.name)\n"
              "task.set_parameters({'General/lr': 1})\n")
    run = run_sdk(sdk_python, script, other, tmp_path / "b", timeout=60)
    assert run.value("NAME") == "checked"
    assert "Action failed <403/0: tasks.edit" in run.stdout + run.stderr
    with server.store() as store:
        assert store.tasks.get_parameters(task_id) == []


def test_a_large_batch_is_stored(server: ServerProcess, token: str, task_id: str) -> None:
    """Over the server's large-body size (4 MiB): read in a large-body slot, token and
    all, whatever the method (the SDK sends GET with a body)."""
    line = (b'{"type": "log", "task": "%s", "iter": 0, "msg": "%s", "level": "info", '
            b'"timestamp": 1000}\n') % (task_id.encode(), b"x" * 1000)
    body = line * 5000
    assert len(body) > 5 << 20
    for method in ("GET", "POST"):
        answer = _call(server, token, "v2.23/events.add_batch", content=body, method=method)
        assert answer["data"]["added"] == 5000
    with server.store() as store:  # the same batch twice is stored once
        assert len(store.events.get_logs(task_id, limit=10_000)) == 5000


def test_file_server_refusals(server: ServerProcess, token: str, other_key: Key,
                              task_id: str) -> None:
    files = f"{server.url}/clearml-files"
    auth = {"Authorization": f"Bearer {token}"}
    assert httpx.post(files, files={"a/b.bin": ("b.bin", b"x")}).status_code == 401
    for kind, body in (("multipart/form-data", b"--x\r\n"),
                       ("multipart/form-data; boundary=x", b"garbage"),
                       ("multipart/form-data; boundary=x", b"--x\r\nnot a part"),
                       ("multipart/form-data; boundary=x",
                        b"--x\r\nContent-Disposition: form-data\r\n\r\nv\r\n--x--\r\n")):
        broken = httpx.post(files, headers={**auth, "Content-Type": kind}, content=body)
        assert broken.status_code == 400 and "multipart" in broken.json()["error"], body
    nowhere = httpx.post(files, headers=auth, files={"a/b.bin": ("b.bin", b"x")})
    assert nowhere.status_code == 400 and "must name one" in nowhere.json()["error"]
    path = f"api-checks/checked.{task_id}/artifacts/x/x.bin"
    assert httpx.post(files, headers=auth, files={path: ("x.bin", b"xyz")}).status_code == 200
    got = httpx.get(f"{files}/{path}", headers=auth)
    assert (got.status_code, got.content) == (200, b"xyz")
    assert httpx.get(f"{files}/{path}.missing", headers=auth).status_code == 404
    assert httpx.delete(f"{files}/{path}", headers=auth).status_code == 400
    other = {"Authorization": f"Bearer {_login(server, other_key)}"}
    denied = httpx.post(files, headers=other, files={path: ("x.bin", b"mine")})
    assert denied.status_code == 403
    assert httpx.get(f"{files}/{path}", headers=auth).content == b"xyz"


def test_queue_and_worker_endpoints_refuse_bad_input(server: ServerProcess, token: str,
                                                     task_id: str) -> None:
    missing = _call(server, token, "queues.get_next_task", {"queue": "no-such-queue"},
                    status=404)
    assert "no-such-queue" in missing["meta"]["result_msg"]
    _call(server, token, "queues.get_by_id", {}, status=400)
    _call(server, token, "queues.get_all", {"name": "(("}, status=400)
    _call(server, token, "queues.add_task", {"queue": "x", "task": task_id}, status=400)
    _call(server, token, "workers.register", {"worker": "bad\nname"}, status=400)
    _call(server, token, "workers.register", {"worker": "w:cpu:0", "queues": ["nope"]},
          status=404)
    _call(server, token, "tasks.enqueue", {"task": task_id, "queue": "nope"}, status=404)
    _call(server, token, "events.scalar_metrics_iter_histogram",
          {"task": task_id, "key": "timestamp"}, status=400)
    _call(server, token, "tasks.get_all", {"order_by": ["-last_metrics.a.b"]}, status=400)
    # a queue entry and its status move together
    queue = _call(server, token, "queues.create", {"name": "api-queue"})["data"]["id"]
    _call(server, token, "tasks.enqueue", {"task": task_id, "queue": queue})
    entries = _call(server, token, "queues.get_by_id", {"queue": queue})["data"]["queue"]
    assert [e["task"] for e in entries["entries"]] == [task_id]
    _call(server, token, "tasks.enqueue", {"task": task_id, "queue": queue}, status=409)
    _call(server, token, "tasks.dequeue", {"task": task_id})
    assert _call(server, token, "queues.get_by_id",
                 {"queue": queue})["data"]["queue"]["entries"] == []


def test_a_plain_users_key_cannot_pull_nor_write_for_others(server: ServerProcess,
                                                            other_key: Key,
                                                            task_id: str) -> None:
    token = _login(server, other_key)
    queue = _call(server, token, "queues.create", {"name": "mallory-queue"})["data"]["id"]
    _call(server, token, "workers.register", {"worker": "m:cpu:0", "queues": [queue]},
          status=403)
    _call(server, token, "tasks.ping", {"task": task_id}, status=403)
    _call(server, token, "tasks.started", {"task": task_id}, status=403)
