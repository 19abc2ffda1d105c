"""How many complete trials the parameters' importance needs before it can be trusted:
the measurement behind ``tunehouse.hpo.importance.RELIABLE_MIN_TRIALS``.

Synthetic searches shaped like the example's (``examples/search_space.yaml``: a learning
rate in a range, dropout and batch size as choices; and the same with three more
parameters that matter little): for each number of complete trials, 20 independent sets
of random trials go through ``compute_importance`` (the one method: fANOVA with a fixed
seed), and each is compared with the figures of 400 trials. Printed per size: the mean
and median largest error of a figure, and how often the most important parameter is the
right one. Figures are printed, never asserted.

Run: ``.venv/bin/python benchmarks/importance_reliability.py [--sets 20]`` (about a minute).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tunehouse.hpo.config import Objective  # noqa: E402
from tunehouse.hpo.importance import compute_importance, reliable_minimum  # noqa: E402
from tunehouse.hpo.progress import TrialResult  # noqa: E402
from tunehouse.hpo.space import parse_space  # noqa: E402

EXAMPLE = ("General/learning_rate: uniform(0.0001, 0.01)\n"
           "General/dropout_rate: choice([0.2, 0.3, 0.4])\n"
           "General/batch_size: choice([16, 32, 64])\n")
EXTRA = ("General/a: uniform(0, 1)\nGeneral/b: uniform(0, 1)\n"
         "General/c: choice([x, y])\n")
OBJECTIVE = Objective("accuracy", "validation", "max")


def accuracy(p: dict[str, str], rng: random.Random) -> float:
    lr, dropout, batch = (float(p["General/learning_rate"]), float(p["General/dropout_rate"]),
                          float(p["General/batch_size"]))
    value = 0.95 - 1000 * (lr - 0.004) ** 2 - 1.5 * (dropout - 0.2) ** 2 - 1e-5 * (batch - 16) ** 2
    if "General/a" in p:
        value -= 0.02 * float(p["General/a"]) + 0.01 * float(p["General/b"])
    return value + rng.gauss(0, 0.01)


def trials(count: int, extra: bool, rng: random.Random) -> list[TrialResult]:
    found = []
    for number in range(count):
        p = {"General/learning_rate": repr(rng.uniform(0.0001, 0.01)),
             "General/dropout_rate": rng.choice(["0.2", "0.3", "0.4"]),
             "General/batch_size": rng.choice(["16", "32", "64"])}
        if extra:
            p.update({"General/a": repr(rng.random()), "General/b": repr(rng.random()),
                      "General/c": rng.choice(["x", "y"])})
        found.append(TrialResult(number=number, task_id=str(number), state="completed",
                                 values=[accuracy(p, rng)], iteration=None, parameters=p))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", type=int, default=20)
    args = parser.parse_args()
    for extra in (False, True):
        space = parse_space(EXAMPLE + (EXTRA if extra else ""))
        size = len(space.task_keys())
        reference = compute_importance(space, OBJECTIVE, trials(400, extra, random.Random(99)))
        top = next(iter(reference.values))
        print(f"{size} parameters (reliable from {reliable_minimum(size)} trials); 400 trials: "
              + ", ".join(f"{k.split('/')[1]} {v:.3f}" for k, v in reference.values.items()))
        for count in (5, 8, 10, 12, 15, 20, 30, 40):
            errors, right = [], 0
            for index in range(args.sets):
                got = compute_importance(space, OBJECTIVE,
                                         trials(count, extra, random.Random(index)))
                errors.append(max(abs(got.values.get(k, 0.0) - v)
                                  for k, v in reference.values.items()))
                right += bool(got.values) and next(iter(got.values)) == top
            print(f"  {count:3d} trials: largest error mean {statistics.mean(errors):.3f} "
                  f"median {statistics.median(errors):.3f}; most important right "
                  f"{right}/{args.sets}")


if __name__ == "__main__":
    main()
