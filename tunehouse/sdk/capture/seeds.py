"""Seeding the random number generators a run uses, and recording the seed.

``random`` is always seeded; NumPy and TensorFlow only when the script already imported
them (tunehouse never imports TensorFlow, and importing NumPy is left to the script).
"""

from __future__ import annotations

import random
import sys

DEFAULT_SEED = 1337


def apply_seed(seed: int) -> list[str]:
    """Seed ``random`` and the already imported NumPy / TensorFlow; the names seeded."""
    seeded = ["random"]
    random.seed(seed)
    numpy = sys.modules.get("numpy")
    if numpy is not None and hasattr(numpy, "random"):
        numpy.random.seed(seed % 2**32)
        seeded.append("numpy")
    tensorflow = sys.modules.get("tensorflow")
    set_seed = getattr(getattr(tensorflow, "random", None), "set_seed", None)
    if set_seed is not None:
        set_seed(seed)
        seeded.append("tensorflow")
    return seeded
