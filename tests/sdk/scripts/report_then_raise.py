"""Report N scalars as fast as possible, then die of an uncaught exception."""

import sys

from tunehouse import Task

count = int(sys.argv[1])
task = Task.init(project_name="sdk/crash", task_name="report then raise",
                 auto_resource_monitoring=False)
print(f"TASK_ID={task.id}")
logger = task.get_logger()
for i in range(count):
    logger.report_scalar("metric", "value", float(i), i)
raise ValueError(f"boom after {count} scalars")
