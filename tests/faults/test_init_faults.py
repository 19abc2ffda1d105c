"""``Task.init`` with a server that is restarting or away (issue 8, case 4): it retries
without leaving an orphan task, and when the server stays away the run goes on offline
and ``tunehouse sync`` creates it later with everything it recorded."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tests.helpers.cli import run_cli
from tests.helpers.server import ServerProcess, clean_env, free_port, running_server
from tunehouse.store.records import TaskQuery

REPO_ROOT = Path(__file__).resolve().parents[2]

TRAIN = """
    import json, sys
    from tunehouse import Task
    task = Task.init(project_name="faults/init", task_name=sys.argv[1])
    params = task.connect({"lr": 0.01, "layers": 3})
    for i in range(2500):
        task.get_logger().report_scalar("loss", "train", 1.0 / (i + 1), i)
    print("hello from the run")
    task.upload_artifact("summary", {"best": 0.5})
    task.close()
    print("TASK=" + task.id)
"""


def _env(server_url: str, home: Path, **extra: str) -> dict[str, str]:
    return {**clean_env(TUNEHOUSE_HOME=str(home), TUNEHOUSE_SERVER=server_url, **extra),
            "PYTHONPATH": str(REPO_ROOT)}


def _start_train(tmp_path: Path, env: dict[str, str], name: str) -> subprocess.Popen[str]:
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(TRAIN))
    return subprocess.Popen([sys.executable, str(script), name], env=env, cwd=tmp_path,
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _task_id(out: str) -> str:
    return [line for line in out.splitlines() if line.startswith("TASK=")][-1][5:]


def test_init_waits_for_a_server_that_comes_back(tmp_path: Path) -> None:
    port = free_port()
    server_home = tmp_path / "server"
    with running_server(server_home, port=port) as server:
        creds = (server.access_key, server.secret_key)
        server.stop()  # down when the script starts
        env = _env(server.url, tmp_path / "client", TUNEHOUSE_ACCESS_KEY=creds[0],
                   TUNEHOUSE_SECRET_KEY=creds[1])
        proc = _start_train(tmp_path, env, "comes back")
        time.sleep(3)
        server._start()
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
        assert "running offline" not in err
        store = server.store()
        try:
            page = store.tasks.list_tasks(TaskQuery(project="faults/init", name="comes back"))
            assert page.total == 1  # no orphan from the attempts
            [task] = page.tasks
            assert task.id == _task_id(out) and task.status.value == "completed"
            assert store.events.get_metric_summaries(task.id)[0].count == 2500
        finally:
            store.close()


def test_a_run_without_server_goes_offline_and_sync_uploads_it(tmp_path: Path) -> None:
    port = free_port()
    client_home = tmp_path / "client"
    with running_server(tmp_path / "server", port=port) as server:
        creds = {"TUNEHOUSE_ACCESS_KEY": server.access_key,
                 "TUNEHOUSE_SECRET_KEY": server.secret_key}
        server.stop()
        env = _env(server.url, client_home, TUNEHOUSE_INIT_TIMEOUT="2", **creds)
        out, err = _start_train(tmp_path, env, "offline").communicate(timeout=180)
        assert "TASK=" in out, err
        task_id = _task_id(out)
        assert "running offline" in err and "tunehouse sync" in err
        assert (client_home / "offline" / task_id).is_dir()

        server._start()
        for attempt in range(2):  # the second sync finds nothing left to do
            synced = run_cli("sync", env=env)
            assert synced.returncode == 0, synced.stdout + synced.stderr
            assert (f"uploaded offline run {task_id}" in synced.stdout) == (attempt == 0)
        assert not (client_home / "offline" / task_id).exists()
        _check_uploaded(server, task_id)


def _check_uploaded(server: ServerProcess, task_id: str) -> None:
    store = server.store()
    try:
        task = store.tasks.get_task(task_id)
        assert (task.project, task.name, task.status.value) == ("faults/init", "offline",
                                                                "completed")
        params = {p.name: p.value for p in store.tasks.get_parameters(task_id)}
        assert params == {"lr": "0.01", "layers": "3"}
        [loss] = store.events.get_scalars(task_id, title="loss")
        assert loss.total == 2500 and loss.x[:3] == [0, 1, 2] and loss.y[1] == 0.5
        assert any("hello from the run" in line.text
                   for line in store.events.get_logs(task_id, limit=10_000))
        assert [a.name for a in store.artifacts.list_artifacts(task_id)] == ["summary"]
        assert store.tasks.get_script(task_id).entry_point.endswith("train.py")
    finally:
        store.close()
