"""Warm trial interpreters (tunehouse.agent.warm): a task run in a slot's warm interpreter
ends as it ends in a fresh Python (status, reason, console), leaves nothing to the next
one, obeys aborts and time limits while its interpreter still imports, never sees the
agent's key, dies with its agent, and falls back to a cold start with the reason said.

Plain Python scripts; light standard modules (``json``, ``decimal``) stand for the heavy
imports, recorded as an SDK run records them (``Environment.extra["warm_imports"]``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from tests.agent.conftest import StartAgent, console, script_task, unique, wait_for
from tests.helpers.server import ServerProcess
from tests.helpers.wait import wait_for_file, wait_until
from tunehouse.agent.warm import COLD_START_TAG
from tunehouse.common.environment_extra import WARM_IMPORTS_KEY
from tunehouse.store.base import Store
from tunehouse.store.records import (
    Environment,
    Script,
    Task,
    TaskQuery,
    TaskStatus,
    TaskUpdate,
)

pytestmark = pytest.mark.timeout(240)

IMPORTS = ["decimal", "json"]
REPO_ROOT = Path(__file__).resolve().parents[2]

#: name -> (script, argv after it); each must end the same cold and warm.
BATTERY: dict[str, tuple[str, list[str]]] = {
    "exit-0": ("print('hello')\n", []),
    "exit-3": ("import sys\nprint('leaving with 3')\nsys.exit(3)\n", []),
    "exit-message": ("import sys\nsys.exit('bad input: no data')\n", []),
    "exception": ("def train():\n    raise ValueError('boom in train')\n\n"
                  "print('start', flush=True)\ntrain()\n", []),
    "signal": ("import os, signal\nprint('bye', flush=True)\n"
               "os.kill(os.getpid(), signal.SIGTERM)\n", []),
    "os-exit": ("import os\nprint('hard exit', flush=True)\nos._exit(7)\n", []),
    "argparse": (textwrap.dedent("""
        import argparse
        parser = argparse.ArgumentParser()
        parser.add_argument("--lr", type=float, default=0.1)
        parser.add_argument("name")
        args = parser.parse_args()
        print(parser.prog, args.lr, args.name)
    """), ["--lr", "0.5", "run-one"]),
    "main-guard": (textwrap.dedent("""
        import os, pickle, sys
        import __main__

        class Point:
            x = 1

        def main():
            print(__name__, os.path.basename(__file__), os.path.basename(sys.argv[0]))
            print("main module is this script:", __main__.Point is Point)
            print("pickled:", pickle.loads(pickle.dumps(Point())).x)

        if __name__ == "__main__":
            main()
    """), []),
    "threads-at-exit": (textwrap.dedent("""
        import threading, time

        def late():
            time.sleep(0.5)
            print("thread finished after main", flush=True)

        threading.Thread(target=late).start()
        threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
        print("main done", flush=True)
    """), []),
    "atexit": (textwrap.dedent("""
        import atexit, sys
        atexit.register(lambda: print("atexit handler ran", flush=True))
        print("exiting with 2")
        sys.exit(2)
    """), []),
    "chdir": (textwrap.dedent("""
        import os
        start = os.getcwd()
        os.makedirs("sub", exist_ok=True)
        os.chdir("sub")
        open("made-here.txt", "w").write("x")
        print("moved into", os.path.relpath(os.getcwd(), start),
              os.path.exists(os.path.join(start, "sub", "made-here.txt")))
    """), []),
    "last-moment-output": (textwrap.dedent("""
        import atexit, sys
        atexit.register(lambda: sys.stderr.write("stderr written in atexit"))
        sys.stdout.write("no newline and no flush")
    """), []),
    "finalizers": (textwrap.dedent("""
        import os, tempfile, time
        from concurrent.futures import ThreadPoolExecutor

        class Noisy:
            def __del__(self):
                print("finalized at exit", flush=True)

        keep = Noisy()
        unclosed = open(os.path.join(tempfile.gettempdir(), "tunehouse-battery-"
                                     + os.environ["TUNEHOUSE_TASK_ID"]), "w")
        unclosed.write("written, never flushed nor closed")
        pool = ThreadPoolExecutor(1)
        pool.submit(lambda: (time.sleep(0.3), print("pool work done", flush=True)))
        print("main done", flush=True)
    """), []),
    "environment": (textwrap.dedent("""
        import os, sys
        print(sorted(k for k in os.environ if k.startswith(("TUNEHOUSE_", "CUDA_"))))
        print("attempt", os.environ["TUNEHOUSE_TASK_ATTEMPT"],
              "devices", repr(os.environ["CUDA_VISIBLE_DEVICES"]))
        print("stdin is empty:", sys.stdin.read() == "")
    """), []),
}


def _task(store: Store, text: str, argv: list[str] | None = None, *,
          imports: list[str] | None = None, cold: bool = False, name: str = "task",
          packages: list[str] | None = None) -> str:
    """A stored-script task recorded with ``imports`` (its environment's warm imports)."""
    task_id = script_task(store, text, name=name, argv=argv)
    store.tasks.set_environment(task_id, Environment(
        packages=packages or [], extra={WARM_IMPORTS_KEY: imports or IMPORTS}))
    if cold:
        store.tasks.update_task(task_id, TaskUpdate(tags=[COLD_START_TAG]))
    return task_id


def _git_task(store: Store, repo: Path, files: dict[str, str], *, cold: bool) -> str:
    """A task whose code is a commit of the git repository ``repo`` (made of ``files``)."""
    repo.mkdir(exist_ok=True)
    for name, text in files.items():
        (repo / name).write_text(text)
    for args in (["init", "-q"], ["add", "."],
                 ["-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "c"]):
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, check=True,
                            capture_output=True, text=True).stdout.strip()
    task_id = script_task(store, "")
    store.tasks.set_script(task_id, Script(repository=str(repo), commit=commit,
                                           entry_point="task.py", argv=["task.py"]))
    store.tasks.set_environment(task_id, Environment(extra={WARM_IMPORTS_KEY: IMPORTS}))
    if cold:
        store.tasks.update_task(task_id, TaskUpdate(tags=[COLD_START_TAG]))
    return task_id


def _outcome(store: Store, task: Task) -> tuple[str, str, list[str], list[str]]:
    """Status, reason and the task's own console lines (not the agent's): stdout's, then
    stderr's (the two pipes are read apart, so their lines interleave by chance); the
    task's id (in its workspace's path) as ``TASK``."""
    lines = store.events.get_logs(task.id, limit=10_000)

    def stream(name: str) -> list[str]:
        return [line.text.replace(task.id, "TASK") for line in lines if line.stream == name]

    return task.status.value, task.status_reason, stream("stdout"), stream("stderr")


def _start_line(store: Store, task_id: str) -> str:
    return next(line for line in console(store, task_id)
                if line.startswith(("tunehouse agent: warm start", "tunehouse agent: cold start")))


def _pid_module(folder: Path, name: str, *, sleep_s: float = 0.0) -> None:
    """A module ``name`` in ``folder`` that writes its process id to ``$WARM_TEST_PIDS/NAME``
    when imported (then sleeps ``sleep_s``): it marks a warm interpreter's imports."""
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.py").write_text(textwrap.dedent(f"""
        import os, time
        _folder = os.environ.get("WARM_TEST_PIDS")
        if _folder:
            with open(os.path.join(_folder, {name!r}), "w") as _out:
                _out.write(str(os.getpid()))
        time.sleep({sleep_s})
    """))


def _dead(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        return "zombie" in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:  # gone (also between a check and the read)
        return True


def test_battery_ends_the_same_cold_and_warm(tmp_path: Path, shared_server: ServerProcess,
                                             start_agent: StartAgent) -> None:
    """Each script runs cold (tagged), then warm; both store the same outcome."""
    queue = unique("warm-battery")
    store = shared_server.store()
    try:
        pairs: dict[str, tuple[str, str]] = {}
        for name, (text, argv) in BATTERY.items():
            pairs[name] = (_task(store, text, argv, cold=True, name=f"{name}-cold"),
                           _task(store, text, argv, name=f"{name}-warm"))
        sibling = {"task.py": "import helper\nprint(helper.greet(), __name__)\n",
                   "helper.py": "def greet():\n    return 'hi from the sibling module'\n"}
        pairs["sibling-module"] = (_git_task(store, tmp_path / "cold-repo", sibling, cold=True),
                                   _git_task(store, tmp_path / "warm-repo", sibling, cold=False))
        for cold_id, warm_id in pairs.values():
            store.queues.enqueue(cold_id, queue)
            store.queues.enqueue(warm_id, queue)
        start_agent(shared_server, "--queue", queue, "--cpu-only")
        for name, (cold_id, warm_id) in pairs.items():
            cold = _outcome(store, wait_for(store, cold_id, timeout=120))
            warm = _outcome(store, wait_for(store, warm_id, timeout=120))
            assert _start_line(store, cold_id).startswith("tunehouse agent: cold start"), name
            assert _start_line(store, warm_id).startswith("tunehouse agent: warm start"), name
            assert warm == cold, name
        expected = {
            "exit-0": ("completed", "exit code 0"),
            "exit-3": ("failed", "exit code 3: leaving with 3"),
            "exit-message": ("failed", "exit code 1: bad input: no data"),
            "exception": ("failed", "exit code 1: ValueError: boom in train"),
            "signal": ("failed", "killed by SIGTERM: bye"),
            "os-exit": ("failed", "exit code 7: hard exit"),
            "atexit": ("failed", "exit code 2: atexit handler ran"),
        }
        for name, (status, reason) in expected.items():
            assert _outcome(store, store.tasks.get_task(pairs[name][1]))[:2] == (status, reason)
        texts = {name: [*outcome[2], *outcome[3]] for name, (_, warm) in pairs.items()
                 if (outcome := _outcome(store, store.tasks.get_task(warm)))}
        assert texts["argparse"] == ["task.py 0.5 run-one"]
        assert texts["main-guard"] == ["__main__ task.py task.py",
                                       "main module is this script: True", "pickled: 1"]
        assert texts["threads-at-exit"] == ["main done", "thread finished after main"]
        assert texts["chdir"] == ["moved into sub True"]
        assert texts["last-moment-output"] == ["no newline and no flush",
                                               "stderr written in atexit"]
        assert texts["finalizers"] == ["main done", "pool work done", "finalized at exit"]
        for task_id in pairs["finalizers"]:  # the file the script left open was flushed
            left_open = Path(tempfile.gettempdir()) / f"tunehouse-battery-{task_id}"
            assert left_open.read_text() == "written, never flushed nor closed"
            left_open.unlink()
        assert texts["sibling-module"] == ["hi from the sibling module __main__"]
        assert texts["environment"][1:] == ["attempt 1 devices ''", "stdin is empty: True"]
        assert "'TUNEHOUSE_ACCESS_KEY'" in texts["environment"][0]
        traceback = texts["exception"]
        assert traceback[1] == "Traceback (most recent call last):"
        assert "warm_boot" not in "\n".join(traceback) and "runpy" not in "\n".join(traceback)
    finally:
        store.close()


def test_a_trial_leaves_nothing_to_the_next(shared_server: ServerProcess,
                                            start_agent: StartAgent) -> None:
    """Globals set in a warm-imported module and its state stay with the trial's process."""
    queue = unique("warm-leak")
    store = shared_server.store()
    try:
        primer = _task(store, "print('primer')\n", cold=True)
        first = _task(store, textwrap.dedent("""
            import decimal, json, os
            json.LEAKED = "from the first trial"
            decimal.getcontext().prec = 5
            print("pid", os.getpid())
        """))
        second = _task(store, textwrap.dedent("""
            import decimal, json, os
            print("leaked:", getattr(json, "LEAKED", None), decimal.getcontext().prec)
            print("pid", os.getpid())
        """))
        for task_id in (primer, first, second):
            store.queues.enqueue(task_id, queue)
        start_agent(shared_server, "--queue", queue, "--cpu-only")
        for task_id in (primer, first, second):
            assert wait_for(store, task_id, timeout=120).status is TaskStatus.completed
        assert _start_line(store, second).startswith("tunehouse agent: warm start")
        lines = console(store, second)
        assert "leaked: None 28" in lines
        first_pid = next(line for line in console(store, first) if line.startswith("pid"))
        assert first_pid not in lines
    finally:
        store.close()


@pytest.mark.parametrize("stop", ["abort", "time-limit"])
def test_abort_and_time_limit_during_the_warm_start(
        tmp_path: Path, shared_server: ServerProcess, start_agent: StartAgent,
        stop: str) -> None:
    """The task is claimed while its interpreter still imports: an abort or the time limit
    ends it there; the interpreter goes on importing for the tasks after it, and dies when
    the agent stops."""
    queue = unique("warm-stop")
    modules, pids = tmp_path / "modules", tmp_path / "pids"
    pids.mkdir()
    _pid_module(modules, "slowimport", sleep_s=120)
    store = shared_server.store()
    try:
        primer = _task(store, "print('primer')\n", imports=["slowimport"], cold=True)
        task_id = _task(store, "print('never printed')\n", imports=["slowimport"])
        store.queues.enqueue(primer, queue)
        limit = ["--time-limit", "3"] if stop == "time-limit" else []
        agent = start_agent(shared_server, "--queue", queue, "--cpu-only", *limit,
                            env={"PYTHONPATH": str(modules), "WARM_TEST_PIDS": str(pids)})
        assert wait_for(store, primer, timeout=120).status is TaskStatus.completed
        warm_pid = int(wait_for_file(pids / "slowimport", 60, nonempty=True).read_text())
        store.queues.enqueue(task_id, queue)
        wait_for(store, task_id, {TaskStatus.in_progress}, timeout=60)
        if stop == "abort":
            store.tasks.request_abort(task_id, "user pressed stop")
        done = wait_for(store, task_id, timeout=60)
        if stop == "abort":
            assert (done.status, done.status_reason) == (TaskStatus.aborted, "aborted on request")
        else:
            assert (done.status, done.status_reason) == (TaskStatus.failed,
                                                         "time limit of 3 s exceeded")
        assert "never printed" not in console(store, task_id)
        assert not _dead(warm_pid)
        agent.proc.send_signal(signal.SIGTERM)
        agent.wait(timeout=60)
        wait_until(lambda: _dead(warm_pid), 30, "the warm interpreter to go with its agent")
    finally:
        store.close()


def test_fallbacks_to_a_cold_start_say_why(tmp_path: Path, shared_server: ServerProcess,
                                           start_agent: StartAgent) -> None:
    """Another package list, a task tagged cold-start, imports that fail and a script
    folder providing a recorded module start cold, with the reason in the agent's log."""
    queue = unique("warm-fallback")
    store = shared_server.store()
    hello = "print('hello')\n"
    try:
        tasks = {
            "primer": _task(store, hello, cold=True),
            "other-packages": _task(store, hello, packages=["numpy==2.0.0"]),
            "tagged": _task(store, hello, packages=["numpy==2.0.0"], cold=True),
            "bad-imports-primer": _task(store, hello, imports=["no_such_module_xyz"]),
            "bad-imports": _task(store, hello, imports=["no_such_module_xyz"]),
            "shadowed": _git_task(store, tmp_path / "repo", {
                "task.py": "import json\nprint(json.MINE)\n", "json.py": "MINE = 'mine'\n"},
                cold=False),
        }
        for task_id in tasks.values():
            store.queues.enqueue(task_id, queue)
        agent = start_agent(shared_server, "--queue", queue, "--cpu-only")
        for name, task_id in tasks.items():
            assert wait_for(store, task_id, timeout=120).status is TaskStatus.completed, name
        reasons = {name: _start_line(store, task_id) for name, task_id in tasks.items()}
        assert "no warm interpreter was made for this environment yet" in \
            reasons["other-packages"]
        assert f"tag {COLD_START_TAG}" in reasons["tagged"]
        assert "its imports failed: no_such_module_xyz: ModuleNotFoundError" in \
            reasons["bad-imports"]
        assert "script's folder has modules named as recorded imports (json)" in \
            reasons["shadowed"]
        assert console(store, tasks["shadowed"])[-1] == "mine"
        assert "its imports failed: no_such_module_xyz" in agent.log()
    finally:
        store.close()


def test_no_warm_starts_every_task_cold(shared_server: ServerProcess,
                                        start_agent: StartAgent) -> None:
    queue = unique("no-warm")
    store = shared_server.store()
    try:
        tasks = [_task(store, "print('hello')\n") for _ in range(2)]
        for task_id in tasks:
            store.queues.enqueue(task_id, queue)
        agent = start_agent(shared_server, "--queue", queue, "--cpu-only", "--no-warm")
        for task_id in tasks:
            assert wait_for(store, task_id, timeout=120).status is TaskStatus.completed
            assert not any("warm start" in line or "cold start" in line
                           for line in console(store, task_id))
        assert "warm interpreters are off" in agent.log()
    finally:
        store.close()


def test_waiting_interpreter_lacks_the_agent_key_and_dies_with_the_agent(
        tmp_path: Path, shared_server: ServerProcess, start_agent: StartAgent) -> None:
    modules, pids = tmp_path / "modules", tmp_path / "pids"
    pids.mkdir()
    _pid_module(modules, "pidmark")
    queue = unique("warm-isolation")
    store = shared_server.store()
    try:
        primer = _task(store, "import os\nprint(os.environ['TUNEHOUSE_ACCESS_KEY'])\n",
                       imports=["pidmark"], cold=True)
        store.queues.enqueue(primer, queue)
        agent = start_agent(shared_server, "--queue", queue, "--cpu-only",
                            env={"PYTHONPATH": str(modules), "WARM_TEST_PIDS": str(pids)})
        assert wait_for(store, primer, timeout=120).status is TaskStatus.completed
        assert console(store, primer)[-1] != shared_server.access_key  # the owner's own key
        warm_pid = int(wait_for_file(pids / "pidmark", 60, nonempty=True).read_text())
        environ = Path(f"/proc/{warm_pid}/environ").read_bytes()
        assert shared_server.access_key.encode() not in environ
        assert shared_server.secret_key.encode() not in environ
        assert b"TUNEHOUSE_" not in environ
        agent.proc.send_signal(signal.SIGKILL)
        agent.wait(timeout=30)
        wait_until(lambda: _dead(warm_pid), 30, "the warm interpreter to die with its agent")
    finally:
        store.close()


def test_clones_of_a_recorded_run_start_warm_with_its_imports(
        tmp_path: Path, shared_server: ServerProcess, start_agent: StartAgent) -> None:
    """The SDK records the run's imports (tunehouse, numpy); its clones inherit them, and
    the second one runs in a warm interpreter where Task.init reports as the clone."""
    project = unique("warm-sdk")
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(f"""
        import numpy as np
        from tunehouse import Task
        task = Task.init(project_name={project!r}, task_name="train")
        task.get_logger().report_scalar("loss", "train", float(np.float64(0.25)), 0)
        print("reported as", task.id)
    """))
    env = {**shared_server.client_env(home=tmp_path / "user"), "PYTHONPATH": str(REPO_ROOT)}
    local = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=120)
    assert local.returncode == 0, local.stderr
    store = shared_server.store()
    try:
        base = store.tasks.list_tasks(TaskQuery(project=project)).tasks[0]
        assert {"numpy", "tunehouse"} <= set(
            store.tasks.get_environment(base.id).extra[WARM_IMPORTS_KEY])
        queue = unique("warm-clones")
        clones = [store.tasks.clone_task(base.id, name=f"clone {i}").id for i in range(2)]
        for clone in clones:
            store.queues.enqueue(clone, queue)
        start_agent(shared_server, "--queue", queue, "--cpu-only")
        for clone in clones:
            done = wait_for(store, clone, timeout=120)
            assert done.status is TaskStatus.completed, (done.status_reason,
                                                         done.status_message)
            assert f"reported as {clone}" in console(store, clone)
            assert [s.y for s in store.events.get_scalars(clone, "loss", "train")] == [[0.25]]
        assert _start_line(store, clones[1]).startswith("tunehouse agent: warm start")
    finally:
        store.close()
