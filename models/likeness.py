"""Whether a face reads as a man's or a woman's: a logistic regression on dlib's identity embedding.

Why: the bundled people are a man and a woman, and a face painted with someone of the other sex was
what viewers named first (a man's face on a woman's head, her brows and make-up at its rim). dlib's
embedding alone does not pick the right one: on our clips the nearest bundled person followed
ancestry before sex (a white man sat nearer the white woman than the East-Asian man). Sex is linear
in that embedding, so 129 numbers learnt here from the people clips do it (fitted by
``python -m stages.faces.likeness_fit``, which needs the face stages: which clips, and the
cross-validated accuracy, are in the JSON it writes).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

BUNDLED_LIKENESS = Path(__file__).resolve().parent / "bundled_bank" / "likeness.json"


@functools.lru_cache(maxsize=2)
def _weights(path: Path) -> tuple[np.ndarray, float]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return np.asarray(data["weights"], np.float64), float(data["bias"])


def woman_probability(embedding: np.ndarray, path: Path = BUNDLED_LIKENESS) -> float:
    """P(the face reads as a woman's) from its dlib embedding."""
    weights, bias = _weights(path)
    return float(1.0 / (1.0 + np.exp(-(np.asarray(embedding, np.float64) @ weights + bias))))
