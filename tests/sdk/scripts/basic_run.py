"""A typical tracked script: argparse, connect, scalars, text, tables and artifacts."""

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from tunehouse import Logger, Task

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.1)
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--name", default="resnet")
args = parser.parse_args()

task = Task.init(project_name="sdk/basic", task_name="basic run", tags=["t1"])
print(f"TASK_ID={task.id}")
config = task.connect({"batch": 32, "dropout": 0.5, "use_bn": True, "layers": [64, 32],
                       "optimizer": {"name": "adam", "beta": 0.9}, "note": None})


class Hyper:
    momentum = 0.9

    def __init__(self) -> None:
        self.width = 128
        self.label = "wide"

    def method(self) -> int:
        return 1


hyper = task.connect(Hyper(), name="Hyper")
task.connect_configuration({"schedule": {"warmup": 5}}, name="training")
logger = Logger.current_logger()
for epoch in range(args.epochs):
    logger.report_scalar("loss", "train", 1.0 / (epoch + 1), epoch)
    logger.report_scalar("loss", "val", 2.0 / (epoch + 1), epoch)
logger.report_scalar("nan", "series", float("nan"), 0)
logger.report_single_value("accuracy", 0.93)
logger.report_text("free text line")
logger.report_table("table", "rows", iteration=1,
                    table_plot=pd.DataFrame({"a": [1, 2], "b": [3.5, 4.5]}))
logger.report_table("table", "lists", table_plot=[["x", "y"], [1, 2]])
data_file = Path("data.txt")
data_file.write_text("some data\n")
folder = Path("folder")
(folder / "sub").mkdir(parents=True, exist_ok=True)
(folder / "sub" / "f.txt").write_text("inside")
task.upload_artifact("file", data_file)
task.upload_artifact("folder", str(folder))
task.upload_artifact("dict", {"k": [1, 2]})
task.upload_artifact("array", np.arange(6).reshape(2, 3))
task.upload_artifact("frame", pd.DataFrame({"c": [1, 2, 3]}))
os.write(1, b"fd-level stdout\n")
print("python stdout line")
print("python stderr line", file=sys.stderr)
task.add_tags(["t2"])
print("CONFIG=" + json.dumps(config))
print("HYPER=" + json.dumps({"width": hyper.width, "label": hyper.label,
                             "momentum": hyper.momentum}))
print("PARAMS=" + json.dumps(task.get_parameters()))
print("SCALARS=" + json.dumps(task.get_reported_scalars()))
