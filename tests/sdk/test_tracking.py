"""Tracked scripts in subprocesses, against the embedded store and a real server."""

from __future__ import annotations

import gzip
import io
import json
import os
import signal
import subprocess
from pathlib import Path

import numpy as np

from tests.helpers.wait import wait_for_file
from tests.sdk.conftest import Backend, json_from, task_id_from
from tunehouse.store.records import TaskStatus


def blob_bytes(backend: Backend, sha256: str) -> bytes:
    return b"".join(backend.store.artifacts.open_blob(sha256))


def test_basic_run_records_everything(backend: Backend) -> None:
    done = backend.run("basic_run.py", "--lr", "0.3")
    assert done.returncode == 0, done.stderr
    task_id = task_id_from(done.stdout)
    store = backend.store
    record = store.tasks.get_task(task_id)
    assert record.status == TaskStatus.completed
    assert record.project == "sdk/basic" and record.name == "basic run"
    assert record.tags == ["t1", "t2"]

    params = {f"{p.section}/{p.name}": (p.value, p.type) for p in store.tasks.get_parameters(task_id)}
    assert params["Args/lr"] == ("0.3", "float")
    assert params["Args/epochs"] == ("3", "int")
    assert params["Args/name"] == ("resnet", "str")
    assert params["General/batch"] == ("32", "int")
    assert params["General/use_bn"] == ("true", "bool")
    assert params["General/layers"] == ("[64, 32]", "list")
    assert params["General/optimizer.name"] == ("adam", "str")
    assert params["General/optimizer.beta"] == ("0.9", "float")
    assert params["General/note"] == ("null", "NoneType")
    assert params["Hyper/width"] == ("128", "int")
    assert params["Hyper/label"] == ("wide", "str")
    assert "Hyper/method" not in params
    assert json_from(done.stdout, "PARAMS")["General/layers"] == [64, 32]
    assert json_from(done.stdout, "CONFIG")["optimizer"] == {"name": "adam", "beta": 0.9}

    configs = {c.name: json.loads(c.text) for c in store.tasks.get_configurations(task_id)}
    assert configs["training"] == {"schedule": {"warmup": 5}}

    scalars = json_from(done.stdout, "SCALARS")
    assert scalars["loss"]["train"] == {"x": [0, 1, 2], "y": [1.0, 0.5, 1.0 / 3]}
    assert scalars["loss"]["val"]["y"] == [2.0, 1.0, 2.0 / 3]
    assert scalars["nan"]["series"]["y"] == [None]
    assert scalars["Summary"]["accuracy"] == {"x": [0], "y": [0.93]}

    artifacts = {a.name: a for a in store.artifacts.list_artifacts(task_id)}
    assert blob_bytes(backend, artifacts["file"].sha256) == b"some data\n"
    assert artifacts["folder"].kind == "folder"
    assert json.loads(blob_bytes(backend, artifacts["dict"].sha256)) == {"k": [1, 2]}
    array = np.load(io.BytesIO(blob_bytes(backend, artifacts["array"].sha256)))
    assert array.tolist() == [[0, 1, 2], [3, 4, 5]]
    frame = gzip.decompress(blob_bytes(backend, artifacts["frame"].sha256)).decode()
    assert frame.splitlines() == [",c", "0,1", "1,2", "2,3"]
    table = blob_bytes(backend, artifacts["table/table/rows"].sha256).decode()
    assert table.splitlines() == [",a,b", "0,1,3.5", "1,2,4.5"]
    assert artifacts["table/table/rows"].metadata["iteration"] == 1

    logs = [(line.stream, line.text) for line in store.events.get_logs(task_id, limit=1000)]
    assert ("log", "free text line") in logs
    assert ("stdout", "fd-level stdout") in logs
    assert ("stdout", "python stdout line") in logs
    assert ("stderr", "python stderr line") in logs

    script = store.tasks.get_script(task_id)
    assert script.entry_point.endswith("basic_run.py")
    # Inside this repository: the commit identifies the script; its text is kept as well
    # when it is untracked or the repository has no remote (a fresh CI clone has one).
    assert script.commit or "Task.init" in script.script_text
    assert script.repository
    assert script.argv[1:] == ["--lr", "0.3"]
    env = store.tasks.get_environment(task_id)
    assert env.seed == 1337
    assert any(p.lower().startswith("numpy==") for p in env.packages)
    assert env.python and env.hostname and env.cpu_count > 0
    # what an agent's warm interpreter imports ahead of a clone: installed distributions'
    # top-level modules imported by the end of the run (no standard-library module)
    imports = env.extra["warm_imports"]
    assert {"numpy", "pandas", "tunehouse"} <= set(imports) and imports == sorted(imports)
    assert "json" not in imports and "argparse" not in imports


def test_export_task_holds_the_whole_record(backend: Backend) -> None:
    done = backend.run("basic_run.py")
    assert done.returncode == 0, done.stderr
    task_id = task_id_from(done.stdout)
    from tunehouse.sdk.task import Task

    exported = Task(backend.store, backend.settings, backend.store.tasks.get_task(task_id)).export_task()
    assert exported["status"] == "completed"
    assert exported["parameters"]["Args/lr"] == {"value": "0.1", "type": "float",
                                                 "description": ""}
    assert exported["configurations"]["training"]
    assert {m["title"] for m in exported["metrics"]} >= {"loss", "Summary"}
    assert {a["name"] for a in exported["artifacts"]} >= {"file", "dict", "array"}
    assert exported["packages"] and exported["environment"]["python"]
    assert exported["script"]["entry_point"].endswith("basic_run.py")
    json.dumps(exported)


def test_every_scalar_stored_before_an_uncaught_exception(backend: Backend) -> None:
    done = backend.run("report_then_raise.py", "100000", timeout=240)
    assert done.returncode == 1
    assert "ValueError: boom after 100000 scalars" in done.stderr
    task_id = task_id_from(done.stdout)
    store = backend.store
    record = store.tasks.get_task(task_id)
    assert record.status == TaskStatus.failed
    assert "ValueError: boom after 100000 scalars" in record.status_reason
    assert "Traceback (most recent call last)" in record.status_message
    (summary,) = [m for m in store.events.get_metric_summaries(task_id) if m.title == "metric"]
    assert summary.count == 100_000
    assert (summary.min, summary.max, summary.last_iteration) == (0.0, 99999.0, 99999)
    (series,) = store.events.get_scalars(task_id, title="metric")
    assert series.total == 100_000 and series.x == list(range(100_000))
    logs = [line.text for line in store.events.get_logs(task_id, limit=1000)]
    assert "ValueError: boom after 100000 scalars" in logs
    assert any(text.startswith("Traceback") for text in logs)


def test_console_capture_includes_c_level_writes(backend: Backend) -> None:
    done = backend.run("console_output.py")
    assert done.returncode == 0, done.stderr
    for text in ("python print", "os.write stdout", "libc write stdout", "progress 100%"):
        assert text in done.stdout  # still shown to the user
    assert "os.write stderr" in done.stderr
    task_id = task_id_from(done.stdout)
    logs = [(line.stream, line.text) for line in backend.store.events.get_logs(task_id, limit=1000)]
    assert ("stdout", "python print") in logs
    assert ("stderr", "python stderr") in logs
    assert ("stdout", "os.write stdout") in logs
    assert ("stderr", "os.write stderr") in logs
    assert ("stdout", "libc write stdout") in logs
    assert ("stdout", "progress 100%") in logs
    assert ("stdout", "no newline at the end") in logs
    assert not any("progress 10%" in text for _, text in logs)


def test_keyboard_interrupt_marks_aborted(backend: Backend, tmp_path: Path) -> None:
    done = backend.run("interrupt.py", "keyboard", str(tmp_path))
    assert done.returncode != 0
    task_id = task_id_from(done.stdout)
    record = backend.store.tasks.get_task(task_id)
    assert record.status == TaskStatus.aborted
    assert record.status_reason == "KeyboardInterrupt"
    (summary,) = backend.store.events.get_metric_summaries(task_id)
    assert summary.count == 10


def test_sigterm_marks_aborted_and_keeps_default_exit(backend: Backend, tmp_path: Path) -> None:
    proc = backend.start("interrupt.py", "sigterm", str(tmp_path))
    wait_for_file(tmp_path / "ready", proc=proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGTERM, err
    task_id = task_id_from(out)
    record = backend.store.tasks.get_task(task_id)
    assert record.status == TaskStatus.aborted and record.status_reason == "SIGTERM"
    assert backend.store.events.get_metric_summaries(task_id)[0].count == 10


def _git(repo: Path, *args: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com")
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                          text=True, env=env).stdout.strip()


def test_git_state_is_recorded(backend: Backend, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "remote", "add", "origin", "https://alice:s3cret-token@example.com/org/repo.git")
    script = Path(__file__).parent / "scripts" / "minimal.py"
    (repo / "train.py").write_text(script.read_text())
    (repo / "model.py").write_text("WIDTH = 1\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "first")
    commit = _git(repo, "rev-parse", "HEAD")
    (repo / "model.py").write_text("WIDTH = 2\n")
    (repo / "notes.txt").write_text("untracked\n")
    done = backend.run(str(repo / "train.py"), cwd=repo)
    assert done.returncode == 0, done.stderr
    recorded = backend.store.tasks.get_script(task_id_from(done.stdout))
    assert recorded.repository == "https://example.com/org/repo.git"
    assert "s3cret" not in recorded.model_dump_json()
    assert recorded.commit == commit
    assert recorded.branch == "main"
    assert "-WIDTH = 1" in recorded.diff and "+WIDTH = 2" in recorded.diff
    assert recorded.untracked_files == ["notes.txt"]
    assert recorded.entry_point == "train.py"
    assert recorded.working_dir == "."
    assert recorded.script_text == ""


def test_a_server_started_later_shows_embedded_runs(embedded: Backend) -> None:
    from tests.helpers.server import running_server

    done = embedded.run("basic_run.py")
    assert done.returncode == 0, done.stderr
    task_id = task_id_from(done.stdout)
    home = Path(embedded.env["TUNEHOUSE_HOME"])
    embedded.store.close()
    with running_server(home) as server:
        store = server.store()
        try:
            assert store.tasks.get_task(task_id).status == TaskStatus.completed
            assert {m.title for m in store.events.get_metric_summaries(task_id)} >= {"loss"}
        finally:
            store.close()


def test_reports_from_a_forked_child_are_stored(embedded: Backend) -> None:
    done = embedded.run("fork_child.py")
    assert done.returncode == 0, done.stderr
    task_id = task_id_from(done.stdout)
    counts = {m.title: m.count for m in embedded.store.events.get_metric_summaries(task_id)}
    assert counts == {"parent": 2, "child": 100}
    assert embedded.store.tasks.get_task(task_id).status == TaskStatus.completed


def test_repository_without_remote_keeps_path_and_script_text(backend: Backend,
                                                              tmp_path: Path) -> None:
    repo = tmp_path / "local-repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    script = Path(__file__).parent / "scripts" / "minimal.py"
    (repo / "train.py").write_text(script.read_text())
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "first")
    done = backend.run(str(repo / "train.py"), cwd=repo)
    assert done.returncode == 0, done.stderr
    recorded = backend.store.tasks.get_script(task_id_from(done.stdout))
    assert recorded.repository == repo.resolve().as_posix()
    assert recorded.commit == _git(repo, "rev-parse", "HEAD")
    assert recorded.script_text == script.read_text()
