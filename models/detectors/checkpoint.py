"""Detector checkpoints: ``detector.safetensors`` + ``detector.json`` (card) + ``detector.ts`` (TorchScript).

The safetensors header names the architecture; loading refuses pickles (``models.checkpoint.read_tensors``),
another architecture, or tensors that do not fit, each with one line. The TorchScript export wraps the
network so that it takes what ``occlude.classifier`` feeds -- ``(N, 3, S, S)`` RGB in [0, 1] at any
``S`` -- resizes to the network's input size itself and returns P(fake) ``(N,)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

from models.checkpoint import read_tensors, sha256
from models.detectors import DETECTORS
from pipeline.errors import FacepipeError
from pipeline.media.atomic import atomic_path, write_json

WEIGHTS = "detector.safetensors"
CARD = "detector.json"
SCRIPT = "detector.ts"
CARD_FORMAT = "facepipe-detector"
BUNDLED_DETECTOR_DIR = Path(__file__).resolve().parent / "bundled"


def build(architecture: str) -> nn.Module:
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


def save_detector(net: nn.Module, architecture: str, directory: Path, card: dict[str, Any]) -> None:
    """Weights, then the TorchScript export, then the card naming both checksums (card last: it marks done)."""
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().float().cpu().contiguous() for k, v in net.state_dict().items()}
    size = int(DETECTORS.load(architecture).INPUT_SIZE)
    with atomic_path(directory / WEIGHTS) as temp:
        save_file(tensors, str(temp), metadata={"architecture": architecture, "format": CARD_FORMAT,
                                                "input_size": str(size)})
    export = build(architecture)
    export.load_state_dict(net.state_dict())
    scripted = torch.jit.script(Probability(export.eval(), size))
    with atomic_path(directory / SCRIPT) as temp:
        scripted.save(str(temp))
    card = {**card, "format": CARD_FORMAT, "version": 1, "architecture": architecture, "input_size": size,
            "files": {"weights": WEIGHTS, "sha256": sha256(directory / WEIGHTS), "torchscript": SCRIPT}}
    write_json(directory / CARD, card)


def read_card(directory: Path) -> dict[str, Any]:
    path = directory / CARD
    if not path.is_file():
        raise FacepipeError(f"{directory}: no {CARD}; not a detector folder made by `facepipe detector train`")
    try:
        card = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise FacepipeError(f"{path}: detector card is not valid JSON") from None
    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
        raise FacepipeError(f"{path}: not a facepipe detector card")
    return card


def load_detector(path: str | Path, architecture: str | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Validated network (eval mode) and card from a detector folder or its .safetensors file."""
    path = Path(path)
    if not path.exists():
        raise FacepipeError(f"detector not found: {path}")
    directory, weights = (path, path / WEIGHTS) if path.is_dir() else (path.parent, path)
    tensors, meta = read_tensors(weights)
    found = meta.get("architecture")
    if meta.get("format") != CARD_FORMAT or found not in DETECTORS:
        raise FacepipeError(f"{weights}: architecture {found or 'none recorded'!r} is not a detector "
                            f"(known: {', '.join(DETECTORS)})")
    if architecture is not None and found != architecture:
        raise FacepipeError(f"{weights}: architecture {found!r} is not the expected {architecture!r}")
    card = read_card(directory) if (directory / CARD).is_file() else {"architecture": found}
    if card.get("files", {}).get("sha256") not in (None, sha256(weights)):
        raise FacepipeError(f"{weights}: checksum does not match {CARD}; the file is corrupt or was replaced")
    net = build(found)
    expected = net.state_dict()
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    wrong = sorted(k for k in set(expected) & set(tensors) if tuple(expected[k].shape) != tuple(tensors[k].shape))
    if missing or extra or wrong:
        detail = f"missing {missing[0]}" if missing else f"unexpected {extra[0]}" if extra else f"shape of {wrong[0]}"
        raise FacepipeError(f"{weights}: tensors do not fit architecture {found} ({detail})")
    if any(not torch.isfinite(t).all() for t in tensors.values() if t.is_floating_point()):
        raise FacepipeError(f"{weights}: contains NaN/inf weights; the training run diverged")
    net.load_state_dict({k: v.to(expected[k].dtype) for k, v in tensors.items()})
    return net.eval(), card


def to_input(crops: np.ndarray, size: int) -> torch.Tensor:
    """(N,H,W,3) BGR uint8 crops -> (N,3,size,size) RGB float in [0,1] (area-shrunk as the export would)."""
    import cv2

    out = np.empty((len(crops), size, size, 3), np.uint8)
    for i, crop in enumerate(crops):
        crop = np.asarray(crop)[..., :3]
        if crop.shape[0] != size:
            crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA if crop.shape[0] > size else cv2.INTER_LINEAR)
        out[i] = crop[..., ::-1]
    return torch.from_numpy(out).permute(0, 3, 1, 2).float().div_(255.0)


class Detector:
    """A loaded detector for inference: BGR crops -> P(fake)."""

    def __init__(self, net: nn.Module, card: dict[str, Any]) -> None:
        self.net = net.eval()
        self.card = card
        self.architecture = str(card.get("architecture"))
        self.size = int(DETECTORS.load(self.architecture).INPUT_SIZE)

    @torch.inference_mode()
    def fake_probability(self, crops: np.ndarray, batch_size: int = 64) -> np.ndarray:
        out = [torch.sigmoid(self.net(to_input(crops[i:i + batch_size], self.size))).numpy()
               for i in range(0, len(crops), batch_size)]
        return np.concatenate(out).astype(np.float64) if out else np.zeros(0, np.float64)


def open_detector(path: str | Path | None = None) -> Detector:
    """The detector in ``path`` (a folder or .safetensors), or the bundled one."""
    if not path:
        if not (BUNDLED_DETECTOR_DIR / WEIGHTS).is_file():
            raise FacepipeError(f"no bundled detector in {BUNDLED_DETECTOR_DIR}; give --detector DET_DIR "
                                "(train one with `facepipe detector train`)")
        path = BUNDLED_DETECTOR_DIR
    return Detector(*load_detector(path))
