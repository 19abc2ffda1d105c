"""Report while the server is down and close with a short flush timeout (leaves a spool).

argv: folder. Writes ``ready`` after a flushed first batch, waits for ``killed``.
"""

import sys
import time
from pathlib import Path

from tunehouse import Task

folder = Path(sys.argv[1])
task = Task.init(project_name="sdk/spool", task_name="spool", auto_resource_monitoring=False,
                 auto_connect_streams=False, flush_timeout=2.0)
print(f"TASK_ID={task.id}", flush=True)
logger = task.get_logger()
for i in range(100):
    logger.report_scalar("m", "s", float(i), i)
assert task.flush(30)
(folder / "ready").touch()
while not (folder / "killed").exists():
    time.sleep(0.05)
for i in range(100, 600):
    logger.report_scalar("m", "s", float(i), i)
task.close()
