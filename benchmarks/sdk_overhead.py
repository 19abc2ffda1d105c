"""SDK overhead: cost of report_scalar in the training thread, time until 1,000,000
scalars are stored, and Task.init wall time.

Run: ``.venv/bin/python benchmarks/sdk_overhead.py [--calls N] [--init-runs N]``

Targets: median <= 2 us and p99 <= 20 us per report_scalar call, 1,000,000 scalars stored
in <= 10 s, Task.init <= 300 ms. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.helpers.server import clean_env, running_server  # noqa: E402

REPORT_SCRIPT = r"""
import json, sys, time
from tunehouse import Task
calls = int(sys.argv[1])
task = Task.init("bench", "report", auto_connect_streams=False, auto_resource_monitoring=False,
                 capture={"git": False, "environment": False}, flush_timeout=600)
report = task.get_logger().report_scalar
clock = time.perf_counter_ns
samples = [0] * calls
start = time.perf_counter()
for i in range(calls):
    before = clock()
    report("loss", "train", 0.5, i)
    samples[i] = clock() - before
reported = time.perf_counter()
stored = task.flush(600)
flushed = time.perf_counter()
task.close()
summary = task.store.events.get_metric_summaries(task.id)[0]
samples.sort()
print(json.dumps({
    "median_ns": samples[calls // 2], "p99_ns": samples[int(calls * 0.99)],
    "max_ns": samples[-1], "report_s": reported - start, "stored_s": flushed - start,
    "flush_ok": stored, "count": summary.count,
}))
"""

INIT_SCRIPT = r"""
import json, time
t0 = time.perf_counter()
from tunehouse import Task
t1 = time.perf_counter()
task = Task.init("bench", "init")
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "init_s": t2 - t1}))
"""


def run_python(code: str, env: dict[str, str], *args: str) -> dict:
    env = dict(env, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True,
                          text=True, timeout=900, check=False, cwd=tempfile.gettempdir())
    if done.returncode != 0:
        raise SystemExit(f"benchmark script failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report_figures(label: str, env: dict[str, str], calls: int) -> None:
    result = run_python(REPORT_SCRIPT, env, str(calls))
    print(f"[{label}] report_scalar per call: median {result['median_ns'] / 1000:.2f} us, "
          f"p99 {result['p99_ns'] / 1000:.2f} us, max {result['max_ns'] / 1e6:.1f} ms "
          f"({calls:,} calls in {result['report_s']:.2f} s)")
    print(f"[{label}] {calls:,} scalars stored and acknowledged {result['stored_s']:.2f} s "
          f"after the first call (flush ok: {result['flush_ok']}, stored count "
          f"{result['count']:,})")


def init_figures(label: str, env: dict[str, str], runs: int) -> None:
    results = [run_python(INIT_SCRIPT, env) for _ in range(runs)]
    init = statistics.median(r["init_s"] for r in results) * 1000
    imports = statistics.median(r["import_s"] for r in results) * 1000
    print(f"[{label}] Task.init: median {init:.0f} ms over {runs} fresh processes "
          f"(plus {imports:.0f} ms for `from tunehouse import Task`)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--init-runs", type=int, default=7)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="tunehouse-bench-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        embedded_env = clean_env(TUNEHOUSE_HOME=str(home))
        run_python(INIT_SCRIPT, embedded_env)  # creates the database once
        report_figures("embedded", embedded_env, args.calls)
        init_figures("embedded", embedded_env, args.init_runs)
        with running_server(Path(tmp) / "server") as server:
            server_env = server.client_env()
            report_figures("server", server_env, args.calls)
            init_figures("server", server_env, args.init_runs)


if __name__ == "__main__":
    main()
