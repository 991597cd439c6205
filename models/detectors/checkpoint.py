"""The detector kind: ``detector.safetensors`` + ``detector.json`` (card) + ``detector.ts`` (TorchScript).

Saved and loaded through :mod:`models.family` (the header names the architecture; pickles, another
architecture and tensors that do not fit are refused in one line). The TorchScript export wraps the
network so that it takes what ``occlude.classifier`` feeds -- ``(N, 3, S, S)`` RGB in [0, 1] at any
``S`` -- resizes to the network's input size itself and returns P(fake) ``(N,)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.detectors import DETECTORS
from models.detectors.base import DetectorNet
from models.detectors.calibration import Familiarity, logits_and_features
from models.family import InputContract, ModelCard, load_model_file, save_model
from models.inputs import to_input
from pipeline.errors import FacepipeError
from pipeline.media.atomic import atomic_path

WEIGHTS = "detector.safetensors"
CARD = "detector.json"
SCRIPT = "detector.ts"
BUNDLED_DETECTOR_DIR = Path(__file__).resolve().parent / "bundled"


def build(architecture: str) -> DetectorNet:
    return DETECTORS.load(architecture)()


class Probability(nn.Module):
    """Resize to the network's input, run it, sigmoid: the module ``occlude.classifier`` loads."""

    def __init__(self, net: nn.Module, size: int) -> None:
        super().__init__()
        self.net = net
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.size or x.shape[-2] != self.size:
            x = F.interpolate(x, size=[self.size, self.size], mode="bilinear", align_corners=False, antialias=True)
        return torch.sigmoid(self.net(x))


def save_detector(net: DetectorNet, architecture: str, directory: Path, record: dict[str, Any]) -> ModelCard:
    """The TorchScript export, then the weights and the card naming both (card last: it marks done)."""
    directory.mkdir(parents=True, exist_ok=True)
    export = build(architecture)
    export.load_state_dict(net.state_dict())
    scripted = torch.jit.script(Probability(export.eval(), export.INPUT_SIZE))
    with atomic_path(directory / SCRIPT) as temp:
        scripted.save(str(temp))
    return save_model(export, directory, record, {"torchscript": SCRIPT})


def load_detector(path: str | Path, architecture: str | None = None) -> tuple[DetectorNet, ModelCard]:
    """Validated network (eval mode) and card from a detector folder or its .safetensors file."""
    path = Path(path)
    if not path.exists():
        raise FacepipeError(f"detector not found: {path}")
    loaded = load_model_file(path, kind="detector", architecture=architecture)
    return loaded.net, loaded.card


class Detector:
    """A loaded detector for inference: BGR crops -> P(fake), through the card's input contract."""

    def __init__(self, net: DetectorNet, card: ModelCard | None = None) -> None:
        self.net = net.eval()
        self.card = card or ModelCard("detector", net.architecture, None)
        self.architecture = net.architecture
        self.contract: InputContract = self.card.input or net.input_contract()
        self.size = self.contract.size
        self.familiarity = Familiarity.from_card(self.card.record.get("familiarity"))

    @torch.inference_mode()
    def fake_probability(self, crops: np.ndarray, batch_size: int = 64) -> np.ndarray:
        out = [torch.sigmoid(self.net(to_input(crops[i:i + batch_size], self.contract))).numpy()
               for i in range(0, len(crops), batch_size)]
        return np.concatenate(out).astype(np.float64) if out else np.zeros(0, np.float64)

    def score_faces(self, crops: np.ndarray, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray | None]:
        """P(fake) of each crop and, when the card carries familiarity statistics, each crop's feature
        distance from the training data (None without them: a detector trained before they existed)."""
        if self.familiarity is None:
            return self.fake_probability(crops, batch_size), None
        batches = (to_input(crops[i:i + batch_size], self.contract) for i in range(0, len(crops), batch_size))
        logits, features = logits_and_features(self.net, batches)
        return 1.0 / (1.0 + np.exp(-logits)), self.familiarity.distance(features)


def open_detector(path: str | Path | None = None) -> Detector:
    """The detector in ``path`` (a folder or .safetensors), or the bundled one."""
    if not path:
        if not (BUNDLED_DETECTOR_DIR / WEIGHTS).is_file():
            raise FacepipeError(f"no bundled detector in {BUNDLED_DETECTOR_DIR}; give --detector DET_DIR "
                                "(train one with `facepipe detector train`)")
        path = BUNDLED_DETECTOR_DIR
    return Detector(*load_detector(path))
