"""Die of Ctrl-C (``keyboard``) or wait to be sent SIGTERM (``sigterm``)."""

import sys
import time
from pathlib import Path

from tunehouse import Task

mode, folder = sys.argv[1], Path(sys.argv[2])
task = Task.init(project_name="sdk/interrupt", task_name=mode, auto_resource_monitoring=False)
print(f"TASK_ID={task.id}", flush=True)
logger = task.get_logger()
for i in range(10):
    logger.report_scalar("m", "s", float(i), i)
if mode == "keyboard":
    raise KeyboardInterrupt
(folder / "ready").touch()
while True:
    time.sleep(0.1)
