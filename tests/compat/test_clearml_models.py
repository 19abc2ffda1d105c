"""ClearML's models on tunehouse: ``OutputModel`` weights uploaded to the file server
become a tunehouse model version of the task; ``Model(id).get_local_copy()`` reads them
back; bad input answers a 4xx in the envelope."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.compat.conftest import Key
from tests.compat.test_clearml_api import _call, _login
from tests.helpers.clearml import run_sdk, sdk_env
from tests.helpers.server import ServerProcess
from tunehouse.client.http import HttpStore

pytestmark = pytest.mark.timeout(300)

SAVE = """
import sys
from clearml import Task, OutputModel

task = Task.init(project_name="clearml-models", task_name="fit", reuse_last_task_id=False,
                 auto_resource_monitoring=False, output_uri=True)
model = OutputModel(task=task, name="net", framework="PyTorch", tags=["best"])
# uploaded before the call returns: in the background (the SDK's default) two snapshots
# may finish uploading in either order, and the SDK may skip the first
uri = model.update_weights(weights_filename=sys.argv[1], async_enable=False)
with open(sys.argv[1] + ".2", "wb") as f:  # the next snapshot: a new version
    f.write(b"second")
again = model.update_weights(weights_filename=sys.argv[1] + ".2", async_enable=False)
print("AGAIN=" + again)
print("TASK_ID=" + task.id)
print("MODEL_ID=" + model.id)
print("URI=" + uri)
task.close()
"""

LOAD = """
import hashlib, sys
from pathlib import Path
from clearml import Model, InputModel

model = Model(model_id=sys.argv[1])
print("NAME=" + model.name)
print("TASK=" + str(model.task))
print("FRAMEWORK=" + str(model.framework))
print("COPY=" + hashlib.sha256(Path(model.get_local_copy()).read_bytes()).hexdigest())
print("INPUT=" + InputModel(model_id=sys.argv[1]).url)
Model(model_id=sys.argv[1]).publish()
Model(model_id=sys.argv[1]).publish()  # twice: still fine
print("FOUND=" + ",".join(m.id for m in Model.query_models(project_name="clearml-models",
                                                           model_name="net")))
"""


def test_output_model_weights_become_a_tunehouse_model_version(
        server: ServerProcess, admin_key: Key, sdk_python: Path, tmp_path: Path) -> None:
    weights = tmp_path / "weights.bin"
    content = b"\x00weights\xff" * 1000
    weights.write_bytes(content)  # the SDK deletes it once uploaded
    env = sdk_env(server.url, admin_key.access_key, admin_key.secret_key, tmp_path / "sdk")
    run = run_sdk(sdk_python, SAVE, env, tmp_path / "work", args=(str(weights),))
    assert run.returncode == 0, run.stderr
    task_id, model_id = run.value("TASK_ID"), run.value("MODEL_ID")
    assert run.value("URI").startswith(f"{server.url}/clearml-files/")
    with HttpStore(server.url, admin_key.access_key, admin_key.secret_key) as store:
        versions = [m for m in store.models.list_models() if m.task_id == task_id]
        assert [(m.name, m.version, m.framework, m.sha256, m.size) for m in versions] == [
            ("net", 1, "PyTorch", hashlib.sha256(content).hexdigest(), len(content)),
            ("net", 2, "PyTorch", hashlib.sha256(b"second").hexdigest(), 6)]
        assert versions[0].metadata["clearml_model_id"] == model_id

    load = run_sdk(sdk_python, LOAD, env, tmp_path / "reader", args=(model_id,))
    assert load.returncode == 0, load.stderr
    assert (load.value("NAME"), load.value("TASK"), load.value("FRAMEWORK")) == (
        "net", task_id, "PyTorch")
    # the model's weights are its latest snapshot's
    assert load.value("COPY") == hashlib.sha256(b"second").hexdigest()
    assert load.value("INPUT") == run.value("AGAIN") != run.value("URI")
    assert load.value("FOUND") == model_id
    with HttpStore(server.url, admin_key.access_key, admin_key.secret_key) as store:
        published = [m.version for m in store.models.list_models(task_id=task_id) if m.published]
        assert published == [2]  # the version of the model's latest weights


def test_model_endpoints_refuse_bad_input(server: ServerProcess, admin_key: Key,
                                          other_key: Key) -> None:
    token = _login(server, admin_key)
    project = _call(server, token, "projects.create", {"name": "model-checks"})["data"]["id"]
    task_id = _call(server, token, "tasks.create", {"name": "owner", "type": "training",
                                                    "project": project})["data"]["id"]
    made = _call(server, token, "models.create", {"uri": "file:///w.bin", "name": "m",
                                                  "task": task_id, "labels": {"cat": 1}})
    model_id = made["data"]["id"]
    loose = _call(server, token, "models.create", {"uri": "s3://b/w", "name": "loose"})
    found = _call(server, token, "models.get_by_id", {"model": model_id})["data"]["model"]
    assert (found["task"], found["project"], found["labels"], found["ready"]) == (
        task_id, project, {"cat": 1}, False)
    # bad input: a 4xx naming the problem, in the envelope
    _call(server, token, "models.get_by_id", {"model": "0" * 32}, status=404)
    assert "'model'" in _call(server, token, "models.get_by_id", {"model": 5},
                              status=400)["meta"]["result_msg"]
    _call(server, token, "models.create", {"uri": 5, "name": "x"}, status=400)
    _call(server, token, "models.create", {"uri": "u"}, status=400)
    _call(server, token, "models.create", {"uri": "u", "name": " "}, status=400)
    _call(server, token, "models.create", {"uri": "u", "name": "x", "labels": []}, status=400)
    _call(server, token, "models.create", {"uri": "u", "name": "x", "task": "0" * 32},
          status=404)
    _call(server, token, "models.edit", {"model": "0" * 32, "name": "y"}, status=404)
    assert "models.delete is not supported by tunehouse yet" in _call(
        server, token, "models.delete", {"model": model_id}, status=400)["meta"]["result_msg"]
    _call(server, token, "models.edit", {"model": model_id, "tags": "a,b"}, status=200)
    _call(server, token, "models.edit", {"model": model_id, "ready": "yes"}, status=400)
    assert "bogus" in _call(server, token, "models.get_all", {"bogus": 1},
                            status=400)["meta"]["result_msg"]
    _call(server, token, "models.get_all", {"name": "("}, status=400)
    _call(server, token, "tasks.add_or_update_model", {"task": task_id, "name": "n",
                                                       "type": "sideways", "model": model_id},
          status=400)
    _call(server, token, "tasks.add_or_update_model", {"task": task_id, "name": "n",
                                                       "type": "input", "model": "0" * 32},
          status=404)
    _call(server, token, "tasks.add_or_update_model",
          {"task": task_id, "name": "net", "type": "output", "model": model_id})
    task = _call(server, token, "tasks.get_by_id", {"task": task_id})["data"]["task"]
    assert task["models"] == {"input": [], "output": [{"name": "net", "model": model_id}]}
    # published: its uri is kept
    _call(server, token, "models.set_ready", {"model": model_id})
    _call(server, token, "models.edit", {"model": model_id, "uri": "file:///x"}, status=409)
    listed = _call(server, token, "models.get_all", {"task": [task_id], "ready": True,
                                                     "only_fields": ["name"]})
    assert listed["data"]["models"] == [{"id": model_id, "name": "m"}]

    # another user (a viewer of the admin's projects): reads, changes nothing
    other = _login(server, other_key)
    _call(server, other, "models.get_by_id", {"model": model_id})
    _call(server, other, "models.get_by_id", {"model": loose["data"]["id"]}, status=404)
    _call(server, other, "models.edit", {"model": model_id, "name": "mine"}, status=403)
    _call(server, other, "models.create", {"uri": "u", "name": "x", "task": task_id},
          status=403)
    _call(server, other, "tasks.add_or_update_model",
          {"task": task_id, "name": "net", "type": "input", "model": model_id}, status=403)
    mine = _call(server, other, "models.create", {"uri": "u", "name": "mine"})["data"]["id"]
    _call(server, other, "models.edit", {"model": mine, "task": task_id}, status=403)
    asked = {"id": [model_id, mine, loose["data"]["id"]]}
    assert {m["id"] for m in _call(server, other, "models.get_all", asked)["data"]["models"]} \
        == {model_id, mine}  # not the admin's model without a task
