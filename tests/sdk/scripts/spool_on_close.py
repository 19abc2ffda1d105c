"""Report while the server is down and close with a short flush timeout (leaves a spool).

argv: folder. Writes ``ready`` after a flushed first batch, waits for ``killed``.
"""

import sys
from pathlib import Path

from tests.helpers.wait import wait_for_file  # the repository is on PYTHONPATH
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
wait_for_file(folder / "killed", 120)
for i in range(100, 600):
    logger.report_scalar("m", "s", float(i), i)
task.close()
