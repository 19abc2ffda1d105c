"""Write to stdout and stderr from Python, from os.write and from C (libc write)."""

import ctypes
import os
import sys

from tunehouse import Task

task = Task.init(project_name="sdk/console", task_name="console",
                 auto_resource_monitoring=False)
print(f"TASK_ID={task.id}")
print("python print")
print("python stderr", file=sys.stderr)
sys.stdout.flush()
os.write(1, b"os.write stdout\n")
os.write(2, b"os.write stderr\n")
libc = ctypes.CDLL(None)
message = b"libc write stdout\n"
libc.write(1, message, len(message))
os.write(1, b"progress 10%\rprogress 50%\rprogress 100%\n")
os.write(1, b"no newline at the end")
