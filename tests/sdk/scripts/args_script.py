"""Parse arguments (before Task.init when argv says so), connect a dict, print the values."""

import argparse
import json
import sys

from tunehouse import Task

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.1)
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--augment", action="store_true")
parser.add_argument("--optimizer", default="sgd")
order = sys.argv.pop(1) if len(sys.argv) > 1 and sys.argv[1] in ("before", "after") else "after"
if order == "before":
    args = parser.parse_args()
    task = Task.init(project_name="sdk/args", task_name="args")
else:
    task = Task.init(project_name="sdk/args", task_name="args")
    args = parser.parse_args()
config = task.connect({"batch": 32, "layers": [8, 8]}, name="General")
print(f"TASK_ID={task.id}")
print("ARGS=" + json.dumps({k: [v, type(v).__name__] for k, v in vars(args).items()}))
print("CONFIG=" + json.dumps({k: [v, type(v).__name__] for k, v in config.items()}))
