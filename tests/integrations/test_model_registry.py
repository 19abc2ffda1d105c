"""Model registry: OutputModel/InputModel from the SDK and ``tunehouse models`` (no TF)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers.cli import CliResult, run_cli
from tests.helpers.server import clean_env, running_server
from tests.integrations.conftest import REPO_ROOT, ScriptRun, open_home_store
from tunehouse.errors import Conflict
from tunehouse.store.records import ModelUpdate

REGISTER_SCRIPT = """
    import json, os
    from pathlib import Path
    from tunehouse import Task, OutputModel, InputModel

    task = Task.init(project_name="registry", task_name="classifier")
    Path("weights.bin").write_bytes(b"version one")
    first = OutputModel(name="classifier", framework="keras", tags=["a"]).update_weights(
        "weights.bin", format="file")
    Path("weights.bin").write_bytes(b"version two")
    second = OutputModel(name="classifier", framework="keras").update_weights("weights.bin")
    folder = Path("saved") / "classifier"
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"graph")
    (folder / "variables" / "variables.index").write_bytes(b"index")
    output = OutputModel(name="classifier", framework="tensorflow")
    third = output.update_weights(folder, format="saved_model")
    os.utime(folder / "saved_model.pb", (1, 1))  # times do not change the archive's hash
    again = OutputModel(name="folder-twin").update_weights(folder)
    published = output.publish()

    file_copy = Path(InputModel(name="classifier", version=2).get_local_copy())
    folder_copy = Path(InputModel(name="classifier").get_local_copy())
    cached = InputModel(model_id=second.id).get_local_copy()
    task.close()
    print("RESULT " + json.dumps({
        "task": task.id,
        "versions": [first.version, second.version, third.version],
        "same_archive_hash": third.sha256 == again.sha256,
        "file_copy": file_copy.read_bytes().decode(),
        "file_name": file_copy.name,
        "folder_files": sorted(str(p.relative_to(folder_copy)) for p in folder_copy.rglob("*")),
        "folder_pb": (folder_copy / "saved_model.pb").read_bytes().decode(),
        "cache_hit": cached == str(file_copy),
        "published": published.published,
    }))
"""


def cli(*args: str, env: dict[str, str], cwd: Path) -> CliResult:
    return run_cli("models", *args, env=env, cwd=cwd)


def check_cli_flow(env: dict[str, str], cwd: Path) -> None:
    """promote, rollback (audited), refusals, show and download through the CLI."""
    def ok(*args: str) -> str:
        proc = cli(*args, env=env, cwd=cwd)
        assert proc.returncode == 0, f"models {args}: {proc.stdout}\n{proc.stderr}"
        return proc.stdout

    listing = ok("list", "--name", "classifier")
    assert "3 model versions" in listing
    assert "classifier" in ok("show", "classifier:2")
    assert "production -> version 1" in ok("promote", "classifier", "1")
    assert "(was version 1)" in ok("promote", "classifier", "3", "--stage", "production")
    assert "rolled back to version 1 (was version 3)" in ok(
        "rollback", "classifier", "--to", "1")

    forward = cli("rollback", "classifier", "--to", "2", env=env, cwd=cwd)
    assert forward.returncode == 2 and "earlier version" in forward.stderr
    assert "Traceback" not in forward.stderr
    missing = cli("rollback", "nosuchmodel", "--to", "1", env=env, cwd=cwd)
    assert missing.returncode == 2 and "nosuchmodel" in missing.stderr
    no_stage = cli("rollback", "classifier", "--to", "1", "--stage", "staging", env=env, cwd=cwd)
    assert no_stage.returncode == 2 and "staging" in no_stage.stderr

    dest = cwd / "downloaded"
    path = Path(ok("download", "classifier", "--stage", "production", "--dest",
                   str(dest)).strip())
    assert path == dest / "weights.bin" and path.read_bytes() == b"version one"
    folder = Path(ok("download", "classifier", "--version", "3").strip())
    assert (folder / "saved_model.pb").read_bytes() == b"graph"
    assert "published" in ok("publish", "classifier", "2")


def check_registry_records(store, audit_log, task_id: str) -> None:  # type: ignore[no-untyped-def]
    versions = store.models.list_models(name="classifier")
    assert [(m.version, m.framework) for m in versions] == [
        (1, "keras"), (2, "keras"), (3, "tensorflow")]
    assert all(m.task_id == task_id for m in versions)
    assert versions[2].format == "saved_model" and versions[2].metadata["archive"] == "tar.gz"
    assert store.models.find_model("classifier", stage="production").version == 1
    moves = [e.details for e in audit_log.list_audit_events(target_type="model",
                                                            target_id="classifier")]
    assert {"stage": "production", "from": 3, "to": 1, "kind": "rollback"} in moves
    assert {"stage": "production", "from": None, "to": 1, "kind": "promote"} in moves
    for published in (versions[1], versions[2]):
        assert store.models.get_model(published.id).published
        with pytest.raises(Conflict):
            store.models.update_model(published.id, ModelUpdate(tags=["changed"]))


def check_script_result(run: ScriptRun) -> str:
    result = run.result
    assert result["versions"] == [1, 2, 3]
    assert result["same_archive_hash"] is True
    assert result["file_copy"] == "version two" and result["file_name"] == "weights.bin"
    assert result["folder_files"] == ["saved_model.pb", "variables",
                                      "variables/variables.index"]
    assert result["folder_pb"] == "graph"
    assert result["cache_hit"] is True
    assert result["published"] is True
    return str(result["task"])


def test_registry_versions_stages_rollback_embedded(
        run_script: Callable[..., ScriptRun], home: Path, tmp_path: Path) -> None:
    task_id = check_script_result(run_script(REGISTER_SCRIPT))
    env = clean_env(TUNEHOUSE_HOME=str(home), PYTHONPATH=str(REPO_ROOT))
    check_cli_flow(env, tmp_path)
    from tunehouse.server.accounts import open_accounts

    store = open_home_store(home)
    try:
        check_registry_records(store, open_accounts(store).audit, task_id)
    finally:
        store.close()


def test_registry_through_a_server(run_script: Callable[..., ScriptRun],
                                   tmp_path: Path) -> None:
    with running_server(tmp_path / "server-home") as server:
        env = {**server.client_env(), "PYTHONPATH": str(REPO_ROOT)}
        task_id = check_script_result(run_script(REGISTER_SCRIPT, env=env))
        check_cli_flow(env, tmp_path)
        from tunehouse.client.accounts import HttpAccounts

        store = server.store()
        try:
            with HttpAccounts(server.url, server.access_key, server.secret_key) as admin:
                check_registry_records(store, admin.audit, task_id)
        finally:
            store.close()
