"""Report scalars before, during and after a server outage, coordinated by files.

argv: folder. Writes ``phase1`` after the first 1000 scalars (flushed), waits for
``killed``, reports 2000 more (the server is down), writes ``phase2``, waits for
``restarted``, reports 1000 more and closes.
"""

import sys
import time
from pathlib import Path

from tests.helpers.wait import wait_for_file  # the repository is on PYTHONPATH
from tunehouse import Task

folder = Path(sys.argv[1])


def wait_for(name: str) -> None:
    wait_for_file(folder / name, 120)


task = Task.init(project_name="sdk/outage", task_name="outage", auto_resource_monitoring=False)
print(f"TASK_ID={task.id}", flush=True)
logger = task.get_logger()
for i in range(1000):
    logger.report_scalar("m", "s", float(i), i)
assert task.flush(30), "first flush failed"
(folder / "phase1").touch()
wait_for("killed")
for i in range(1000, 3000):
    logger.report_scalar("m", "s", float(i), i)
    if i % 250 == 0:
        time.sleep(0.3)
time.sleep(2.5)
(folder / "phase2").touch()
wait_for("restarted")
for i in range(3000, 4000):
    logger.report_scalar("m", "s", float(i), i)
task.close()
print("CLOSED", flush=True)
