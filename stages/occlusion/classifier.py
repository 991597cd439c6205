"""Fake-face classifiers for the occlusion attack, all reduced to one call: crops -> P(fake).

Three kinds:

* ``detector`` (the default): the bundled deepfake detector (``models/detectors/bundled``), or a detector
  folder made by ``facepipe detector train``: its TorchScript export ``detector.ts``, which takes any
  crop size and returns P(fake).

* ``discriminator``: the swap model's PatchGAN for one identity (``SwapModel.score`` gives
  P(real photo of that person)); the fake probability is ``1 - score``.
* a **TorchScript** file (``torch.jit.save`` / ``torch.jit.script(model).save(path)``). It receives
  ``(N, 3, S, S)`` float32 RGB in [0, 1] (S = ``occlude.classifier_size``, or the crop size) and returns
  ``(N,)`` or ``(N, 1)``: P(fake), or a fake logit when ``occlude.classifier_output = "logit"``.
  Put any normalisation (ImageNet mean/std ...) inside the scripted module.

Why TorchScript and not ``torch.load``: a whole ``nn.Module`` saved with ``torch.save`` is a pickle, and
unpickling runs arbitrary code; ``torch.load(weights_only=True)`` refuses such files, and a state dict
alone needs the architecture's source. A TorchScript archive holds code as TorchScript, which
``torch.jit.load`` compiles without unpickling Python objects, so it is the one self-contained format
accepted here. Pickles are recognised and refused with a one-line error.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from pipeline.errors import FacepipeError


class FakeClassifier(Protocol):
    name: str

    def fake_probability(self, crops: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) BGR uint8 aligned crops -> (N,) float64 P(fake) in [0, 1]."""
        ...


class DiscriminatorClassifier:
    """The swap model's discriminator for ``identity``: P(fake) = 1 - P(real photo of that person)."""

    def __init__(self, model_path: str | Path, identity: str, device: str) -> None:
        from models.checkpoint import load_model  # torch: only when an attack runs

        self.model = load_model(model_path, device)
        self.identity = identity
        self.name = f"discriminator:{identity}"

    def fake_probability(self, crops: np.ndarray) -> np.ndarray:
        real = self.model.score(np.ascontiguousarray(crops), identity=self.identity)
        return 1.0 - np.asarray(real, np.float64)


class TorchScriptClassifier:
    """A TorchScript module mapping RGB crops to P(fake) (or a fake logit)."""

    def __init__(self, path: str | Path, device: str, size: int = 0, output: str = "probability") -> None:
        import torch

        self.path = Path(path)
        self.module = load_torchscript(self.path, device)
        self.device = torch.device(device)
        self.size = size
        self.output = output
        self.name = f"torchscript:{self.path.name}"

    def fake_probability(self, crops: np.ndarray) -> np.ndarray:
        import torch

        crops = np.asarray(crops)
        if self.size and crops.shape[1] != self.size:
            interp = cv2.INTER_AREA if crops.shape[1] > self.size else cv2.INTER_LINEAR
            crops = np.stack([cv2.resize(c, (self.size, self.size), interpolation=interp) for c in crops])
        rgb = np.ascontiguousarray(crops[..., 2::-1])
        x = torch.from_numpy(rgb).to(self.device).permute(0, 3, 1, 2).float().div_(255.0)
        with torch.inference_mode():
            try:
                y = self.module(x)
            except Exception as exc:  # noqa: BLE001 - a user's module can raise anything
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
                raise FacepipeError(f"classifier {self.path}: failed on a batch of {tuple(x.shape)} crops: {first}") from None
        if not isinstance(y, torch.Tensor):
            raise FacepipeError(f"classifier {self.path}: returned {type(y).__name__}, expected a tensor")
        y = y.detach().float().cpu().reshape(len(crops), -1)
        if y.shape[1] != 1:
            raise FacepipeError(f"classifier {self.path}: returned {y.shape[1]} values per crop, expected 1 (P(fake))")
        values = y[:, 0]
        if self.output == "logit":
            values = torch.sigmoid(values)
        values = values.numpy().astype(np.float64)
        if not np.isfinite(values).all():
            raise FacepipeError(f"classifier {self.path}: returned NaN/inf")
        return np.clip(values, 0.0, 1.0)


def load_torchscript(path: Path, device: str) -> Any:
    """``torch.jit.load`` with one-line errors; pickled modules are refused before anything is loaded."""
    import torch

    if not path.is_file():
        raise FacepipeError(f"occlude.classifier = {str(path)!r}: file not found")
    with path.open("rb") as handle:
        head = handle.read(2)
    if head[:1] == b"\x80":
        raise FacepipeError(f"{path}: is a pickle, not TorchScript; refusing it (unpickling runs code). "
                            "Export with torch.jit.script(model).save(path)")
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
        if not any(name.endswith("constants.pkl") or "/code/" in name for name in names):
            raise FacepipeError(f"{path}: is a torch.save archive, not TorchScript; refusing it (unpickling runs code). "
                                "Export with torch.jit.script(model).save(path)")
    try:
        module = torch.jit.load(str(path), map_location=device)
    except Exception as exc:  # noqa: BLE001 - torch raises RuntimeError/ValueError for bad files
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise FacepipeError(f"{path}: not a TorchScript file ({reason[:160]})") from None
    module.eval()
    return module


def load_classifier(spec: str, *, model: str, identity: str, device: str, size: int = 0,
                    output: str = "probability") -> FakeClassifier:
    """``detector`` (the bundled one), a detector folder, ``discriminator`` (of ``model``, empty = the
    bundled swap model) or a TorchScript file path."""
    if spec == "discriminator":
        from models.checkpoint import BUNDLED_MODEL_DIR

        return DiscriminatorClassifier(model or BUNDLED_MODEL_DIR, identity, device)
    if spec == "detector" or Path(spec).is_dir():
        from models.detectors.checkpoint import BUNDLED_DETECTOR_DIR, SCRIPT

        folder = BUNDLED_DETECTOR_DIR if spec == "detector" else Path(spec)
        if not (folder / SCRIPT).is_file():
            where = "the bundled detector is missing" if spec == "detector" else "not a detector folder"
            raise FacepipeError(f"occlude.classifier = {spec!r}: {where} (no {folder / SCRIPT}); "
                                "train one with `facepipe detector train` or use occlude.classifier = 'discriminator'")
        classifier = TorchScriptClassifier(folder / SCRIPT, device, size, "probability")
        classifier.name = "detector:bundled" if spec == "detector" else f"detector:{folder.name}"
        return classifier
    return TorchScriptClassifier(spec, device, size, output)
