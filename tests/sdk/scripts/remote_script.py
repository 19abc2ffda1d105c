"""Connect parameters, then ``execute_remotely``: locally the process ends at that line.

Argument ``clone`` queues a clone instead of the task itself; the queue comes from
``REMOTE_QUEUE`` (unset: the default queue). The lines after the call print
``AFTER_EXECUTE_REMOTELY`` (only under an agent, where the call does nothing).
"""

import argparse
import os
import sys

from tunehouse import Task

clone = len(sys.argv) > 1 and sys.argv[1] == "clone"
if clone:
    sys.argv.pop(1)
parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.1)
args = parser.parse_args()
task = Task.init(project_name="sdk/remote", task_name="remote run")
config = task.connect({"batch": 32}, name="General")
print(f"TASK_ID={task.id}", flush=True)
result = task.execute_remotely(queue_name=os.environ.get("REMOTE_QUEUE"), clone=clone)
print("AFTER_EXECUTE_REMOTELY", flush=True)
print(f"RESULT={result}")
print(f"VALUES={args.lr},{config['batch']}")
