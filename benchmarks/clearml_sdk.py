"""The real clearml SDK against tunehouse: a ``report_scalar`` loop, end to end.

A real server subprocess (``python -m tunehouse server``) and the clearml SDK
(``tests/helpers/clearml.py``: pinned, in its own virtual environment, reporter in a
thread) run ``Task.init`` then ``--scalars`` calls of ``Logger.report_scalar`` (one
series, one point per iteration) and ``task.close()``. Measured:

* the loop: the SDK's own time per ``report_scalar`` call (it only queues the event);
* close: ``task.close()``, which waits until the SDK has sent every event;
* end to end: from the first call until tunehouse's store holds every point (read
  through the JSON API: the metric summary's count).

Run: ``.venv/bin/python benchmarks/clearml_sdk.py [--scalars 100000]``.
ClearML's own figure for its SDK: about 1.3 ms per ``report_scalar`` call of its own
time. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers.clearml import clearml_python, run_sdk, sdk_env  # noqa: E402
from tests.helpers.server import running_server  # noqa: E402
from tests.helpers.wait import wait_until  # noqa: E402

SCRIPT = """
import json, sys, time
from clearml import Task

count = int(sys.argv[1])
task = Task.init(project_name="bench", task_name="report_scalar", reuse_last_task_id=False,
                 auto_resource_monitoring=False, auto_connect_frameworks=False)
logger = task.get_logger()
start = time.time()
for i in range(count):
    logger.report_scalar("loss", "train", value=1.0 / (i + 1), iteration=i)
looped = time.time()
task.close()
closed = time.time()
print("RESULT=" + json.dumps({"task": task.id, "start": start, "loop_s": looped - start,
                              "close_s": closed - looped}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scalars", type=int, default=100_000)
    args = parser.parse_args()
    python = clearml_python()
    with tempfile.TemporaryDirectory() as tmp, running_server(Path(tmp) / "home") as server:
        env = sdk_env(server.url, server.access_key, server.secret_key, Path(tmp) / "sdk")
        run = run_sdk(python, SCRIPT, env, Path(tmp) / "work", args=(str(args.scalars),),
                      timeout=3600)
        if run.returncode != 0:
            raise SystemExit(f"the SDK script failed:\n{run.stdout}\n{run.stderr}")
        result = json.loads(run.value("RESULT"))
        with server.store() as store:
            def stored() -> bool:
                summaries = store.events.get_metric_summaries(result["task"])
                return bool(summaries) and summaries[0].count >= args.scalars
            wait_until(stored, timeout=600, what=f"{args.scalars} scalars stored",
                       interval=0.05)
            end_to_end = time.time() - result["start"]
    per_call_ms = result["loop_s"] / args.scalars * 1000
    print(f"{args.scalars} report_scalar calls: loop {result['loop_s']:.2f} s "
          f"({per_call_ms:.3f} ms/call of the SDK's own time; ClearML quotes ~1.3 ms)")
    print(f"task.close() (flushes every event): {result['close_s']:.2f} s")
    print(f"end to end, first call to all {args.scalars} points in tunehouse's store: "
          f"{end_to_end:.2f} s ({args.scalars / end_to_end:,.0f} scalars/s)")


if __name__ == "__main__":
    main()
