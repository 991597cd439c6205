"""Real/fake face classifiers ("deepfake detectors"): architectures behind one name table.

Every network maps ``(N, 3, S, S)`` float RGB in [0, 1] at its own ``input_size`` to ``(N,)`` fake
logits. Normalisation lives inside the network, so the exported TorchScript needs nothing else.
Each architecture module exposes ``build(**hyper) -> nn.Module`` and ``INPUT_SIZE``.
"""

from pipeline.registry import Registry

DETECTORS = Registry("detector architecture", {
    "meso4": "models.detectors.meso4:Meso4",
    "mesoinception4": "models.detectors.mesoinception4:MesoInception4",
    "xceptionmini": "models.detectors.xceptionmini:XceptionMini",
}, setting="detector.architecture")
