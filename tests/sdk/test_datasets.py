"""``Task.add_input_dataset``: what a task trained on, stored as an ``input-dataset``
artifact, against the embedded store and a real server, and in an offline run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers.cli import run_cli
from tests.helpers.server import ServerProcess, free_port
from tests.sdk.conftest import REPO_ROOT, Backend
from tunehouse.errors import InvalidInput
from tunehouse.sdk import datasets
from tunehouse.sdk.task import Task
from tunehouse.store.records import TaskCreate

LARGE = datasets.SMALL_FILE_BYTES + 1


def make_tree(root: Path) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "labels.csv").write_text("a,b\n1,2\n")
    (root / "images" / "one.bin").write_bytes(b"\x01" * 100)
    (root / "images" / "two.bin").write_bytes(b"\x02" * 200)
    (root / "big.bin").write_bytes(b"\x00" * LARGE)
    return root


def handle(backend: Backend, name: str = "datasets") -> Task:
    record = backend.store.tasks.create_task(TaskCreate(project="sdk/datasets", name=name))
    return Task(backend.store, backend.settings, record)


def fingerprint(path: Path) -> str:
    return datasets.describe(path)["fingerprint"]


def test_tree_size_files_and_a_stable_fingerprint(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "data")
    first = datasets.describe(tree)
    assert first["name"] == "data" and first["path"] == str(tree.resolve())
    assert first["size"] == len("a,b\n1,2\n") + 100 + 200 + LARGE
    assert first["files"] == 4
    assert len(first["fingerprint"]) == 64
    assert fingerprint(tree) == first["fingerprint"]
    assert datasets.describe(tree, name="digits")["name"] == "digits"


def test_small_file_content_counts_even_with_size_and_mtime_kept(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "data")
    before = fingerprint(tree)
    small = tree / "images" / "one.bin"
    stat = small.stat()
    small.write_bytes(b"\x03" * 100)  # same size
    os.utime(small, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert small.stat().st_mtime_ns == stat.st_mtime_ns
    assert fingerprint(tree) != before


def test_large_file_is_described_by_size_and_mtime(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "data")
    before = fingerprint(tree)
    big = tree / "big.bin"
    stat = big.stat()
    big.write_bytes(b"\x07" * LARGE)  # other content, same size and mtime: not read
    os.utime(big, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert fingerprint(tree) == before
    os.utime(big, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert fingerprint(tree) != before


def test_small_files_are_known_by_content_not_by_mtime(tmp_path: Path) -> None:
    tree = tmp_path / "data"
    tree.mkdir()
    (tree / "a.txt").write_text("alpha")
    (tree / "b.txt").write_text("beta")
    before = fingerprint(tree)
    os.utime(tree / "a.txt", ns=(0, 10**18))
    assert fingerprint(tree) == before
    copy = shutil.copytree(tree, tmp_path / "elsewhere" / "data", copy_function=shutil.copy)
    assert fingerprint(Path(copy)) == before
    (tree / "b.txt").rename(tree / "c.txt")  # a renamed file is another tree
    assert fingerprint(tree) != before


def test_content_past_the_budget_is_described_by_mtime(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    tree = tmp_path / "data"
    tree.mkdir()
    (tree / "a.bin").write_bytes(b"a" * 60)
    (tree / "b.bin").write_bytes(b"b" * 60)
    monkeypatch.setattr(datasets, "CONTENT_BUDGET_BYTES", 100)  # a.bin fits, b.bin does not
    before = fingerprint(tree)
    for name, changed in (("b.bin", False), ("a.bin", True)):
        stat = (tree / name).stat()
        (tree / name).write_bytes(b"z" * 60)
        os.utime(tree / name, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        assert (fingerprint(tree) != before) is changed, name
        before = fingerprint(tree)


def test_a_single_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "train.csv"
    data.write_text("x,y\n1,2\n")
    monkeypatch.chdir(tmp_path)
    entry = datasets.describe("train.csv")
    assert entry["path"] == str(data.resolve())
    assert (entry["name"], entry["size"], entry["files"]) == ("train.csv", 8, 1)
    assert datasets.describe(f"file://{data}")["fingerprint"] == entry["fingerprint"]
    data.write_text("x,y\n1,3\n")
    assert datasets.describe(data)["fingerprint"] != entry["fingerprint"]


def test_a_uri_is_kept_as_given(tmp_path: Path) -> None:
    entry = datasets.describe("s3://bucket/data/train/")
    assert entry["path"] == "s3://bucket/data/train/"
    assert entry["name"] == "train"
    assert entry["size"] is entry["files"] is entry["fingerprint"] is None
    assert datasets.describe("https://example.com/d.csv", name="remote")["name"] == "remote"


def test_a_missing_path_is_invalid_input(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "data.npz"
    with pytest.raises(InvalidInput, match="nowhere/data.npz"):
        datasets.describe(missing)


def test_the_dataset_is_a_task_artifact(backend: Backend, tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "data")
    task = handle(backend)
    entry = task.add_input_dataset(tree)
    remote = task.add_input_dataset("s3://bucket/imagenet/", name="imagenet")
    assert entry["name"] == "data" and entry["files"] == 4
    with pytest.raises(InvalidInput, match="missing"):
        task.add_input_dataset(tmp_path / "missing")

    stored = backend.store.artifacts.list_artifacts(task.id)
    by_name = {artifact.name: artifact for artifact in stored}
    assert set(by_name) == {"dataset/data", "dataset/imagenet"}
    artifact = by_name["dataset/data"]
    assert artifact.kind == "input-dataset" and artifact.content_type == "application/json"
    assert artifact.metadata == {key: entry[key] for key in
                                 ("path", "size", "files", "fingerprint", "recorded")}
    manifest = json.loads(b"".join(backend.store.artifacts.open_blob(artifact.sha256)))
    assert manifest == entry

    found = datasets.input_datasets(stored)
    assert sorted(found, key=lambda d: d["name"]) == sorted([entry, remote],
                                                            key=lambda d: d["name"])
    assert datasets.input_datasets([a for a in stored if a.kind != "input-dataset"]) == []

    (tree / "labels.csv").write_text("a,b\n1,3\n")
    again = task.add_input_dataset(tree)  # a name recorded again replaces the dataset
    assert again["fingerprint"] != entry["fingerprint"]
    stored = backend.store.artifacts.list_artifacts(task.id)
    assert [d["fingerprint"] for d in datasets.input_datasets(stored)
            if d["name"] == "data"] == [again["fingerprint"]]


OFFLINE_RUN = """
    import json, sys
    from tunehouse import Task
    task = Task.init(project_name="sdk/datasets", task_name="offline")
    entry = task.add_input_dataset(sys.argv[1], name="tree")
    task.upload_artifact("summary", {"best": 0.5})
    task.close()
    print("DATASET=" + json.dumps(entry))
    print("TASK=" + task.id)
"""


def test_offline_runs_record_datasets_and_sync_uploads_them(
        tmp_path: Path, shared_server: ServerProcess) -> None:
    tree = make_tree(tmp_path / "data")
    home = tmp_path / "client"
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(OFFLINE_RUN))
    env = {**shared_server.client_env(home=home), "PYTHONPATH": str(REPO_ROOT),
           "TUNEHOUSE_SERVER": f"http://127.0.0.1:{free_port()}", "TUNEHOUSE_INIT_TIMEOUT": "1"}
    done = subprocess.run([sys.executable, str(script), str(tree)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "running offline" in done.stderr
    lines = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    task_id, entry = lines["TASK"], json.loads(lines["DATASET"])
    assert (home / "offline" / task_id).is_dir()

    synced = run_cli("sync", env=shared_server.client_env(home=home))
    assert synced.returncode == 0, synced.stderr
    store = shared_server.store()
    try:
        stored = store.artifacts.list_artifacts(task_id)
        assert {a.name: a.kind for a in stored} == {"dataset/tree": "input-dataset",
                                                    "summary": "json"}
        assert datasets.input_datasets(stored) == [entry]
    finally:
        store.close()

