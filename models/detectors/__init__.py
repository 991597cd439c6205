"""Real/fake face classifiers ("deepfake detectors"): architectures behind one name table.

Every network is a ``models.detectors.base.DetectorNet``: ``(N, 3, S, S)`` float RGB in [0, 1] at its
own ``INPUT_SIZE`` to ``(N,)`` fake logits, normalising its own input, so the exported TorchScript
needs nothing else.
"""

from models import ARCHITECTURES
from pipeline.registry import Registry

# The detector entries of the one architecture table, as the choices of ``detector.architecture``.
DETECTORS = Registry("detector architecture", {name: target for name, target in ARCHITECTURES.items()
                                               if target.startswith("models.detectors.")}, setting="detector.architecture")
