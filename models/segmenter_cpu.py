"""The visible-face segmenter run by numpy: what ``convert`` and ``live`` use on a CPU, with no torch.

Why: the segmenter is the only network of the default swap (``swap.method = 'bank'``), and importing
torch to run it cost a second or more of every command's start (13 s for the sample's 194 frames),
while the network itself is tiny (a 64-px U-Net of 3x3 convolutions). Here its batch norms are folded
into the convolutions once, each 3x3 convolution is one matrix product over the nine shifted copies of
its input (channels last), and one crop takes about as long as torch on one thread (2 ms).

Same file, same checks as ``models.family.load_model_file`` (no pickles, ``checked_card``, the
architecture, ``check_fit``), same output as ``models.segmenter.Segmenter`` to float
rounding. A GPU keeps the torch path (``open_segmenter``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from models import BUNDLED_SEGMENTER
from models.family import InputContract, check_fit, checked_card, read_tensors
from models.inputs import resize_to
from pipeline.errors import FacepipeError

if TYPE_CHECKING:
    from models.segmenter import Segmenter

ARCHITECTURE = "facepipe-xseg-unet-v1"
BN_EPS = 1e-5  # torch's BatchNorm2d default, which the trained network used


def expected_shapes(resolution: int, width: int) -> dict[str, tuple[int, ...]]:
    """Every tensor ``models.segmenter.SegmenterNet(resolution, width)`` saves, by name and shape."""
    w = (width, width * 2, width * 4, width * 6)
    shapes: dict[str, tuple[int, ...]] = {}

    def conv(name: str, cin: int, cout: int, k: int = 3) -> None:
        shapes[f"{name}.weight"], shapes[f"{name}.bias"] = (cout, cin, k, k), (cout,)

    def norm(name: str, c: int) -> None:
        for part in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{name}.{part}"] = (c,)
        shapes[f"{name}.num_batches_tracked"] = ()

    def block(name: str, cin: int, cout: int) -> None:
        conv(f"{name}.0", cin, cout), norm(f"{name}.1", cout), conv(f"{name}.3", cout, cout), norm(f"{name}.4", cout)

    conv("stem.0", 3, w[0]), norm("stem.1", w[0])
    for i, (cin, cout) in enumerate(((w[0], w[0]), (w[0], w[1]), (w[1], w[2]), (w[2], w[3]))):
        block(f"enc.{i}", cin, cout)
    for i in range(3):
        shapes[f"up.{i}.weight"], shapes[f"up.{i}.bias"] = (w[i + 1], w[i], 2, 2), (w[i],)
        block(f"dec.{i}", w[i] * 2, w[i])
    conv("refine.0", w[0] + 3, 8), conv("refine.2", 8, 1, 1)
    return shapes


def _columns_weight(weight: np.ndarray) -> np.ndarray:
    """(Cout, C, k, k) -> (k*k*C, Cout): rows in the order ``_conv3`` lays out its columns."""
    return np.ascontiguousarray(weight.transpose(2, 3, 1, 0).reshape(-1, weight.shape[0]), np.float32)


def _folded(tensors: dict[str, np.ndarray], conv: str, norm: str | None) -> tuple[np.ndarray, np.ndarray]:
    """A convolution with the batch norm after it folded in (eval mode), as (columns weight, bias)."""
    weight, bias = tensors[f"{conv}.weight"], tensors[f"{conv}.bias"]
    if norm is not None:
        scale = tensors[f"{norm}.weight"] / np.sqrt(tensors[f"{norm}.running_var"] + BN_EPS)
        weight = weight * scale[:, None, None, None]
        bias = (bias - tensors[f"{norm}.running_mean"]) * scale + tensors[f"{norm}.bias"]
    return _columns_weight(weight), bias.astype(np.float32)


def _conv3(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int = 1) -> np.ndarray:
    """3x3 convolution, padding 1, of ``x`` (H, W, C) by a ``_columns_weight`` -> (H/stride, W/stride, Cout)."""
    height, width, channels = x.shape
    padded = np.zeros((height + 2, width + 2, channels), np.float32)
    padded[1:-1, 1:-1] = x
    rows, cols = -(-height // stride), -(-width // stride)
    shifted = [padded[dy:dy + height:stride, dx:dx + width:stride] for dy in range(3) for dx in range(3)]
    columns = np.concatenate(shifted, axis=2).reshape(rows * cols, 9 * channels)
    return (columns @ weight + bias).reshape(rows, cols, -1)


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0, out=x)


class SegmenterForward:
    """``SegmenterNet.forward`` on one (R, R, 3) float32 image in [0, 1], channels last -> (R, R) logits."""

    def __init__(self, tensors: dict[str, np.ndarray]) -> None:
        def block(name: str) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
            return _folded(tensors, f"{name}.0", f"{name}.1"), _folded(tensors, f"{name}.3", f"{name}.4")

        self.stem = _folded(tensors, "stem.0", "stem.1")
        self.encoders = [block(f"enc.{i}") for i in range(4)]
        self.decoders = [block(f"dec.{i}") for i in range(3)]
        self.ups = [(tensors[f"up.{i}.weight"].astype(np.float32), tensors[f"up.{i}.bias"].astype(np.float32))
                    for i in range(3)]
        self.refine = _folded(tensors, "refine.0", None)
        last = tensors["refine.2.weight"]
        self.out = (last.reshape(last.shape[0], -1).T.astype(np.float32), tensors["refine.2.bias"].astype(np.float32))

    @staticmethod
    def _block(x: np.ndarray, convs: tuple[tuple[np.ndarray, np.ndarray], ...]) -> np.ndarray:
        for weight, bias in convs:
            x = _relu(_conv3(x, weight, bias))
        return x

    @staticmethod
    def _up(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
        """2x2 transposed convolution, stride 2: each input pixel becomes a 2x2 patch."""
        height, width, channels = x.shape
        out = weight.shape[1]
        patches = (x.reshape(-1, channels) @ weight.reshape(channels, -1)).reshape(height, width, out, 2, 2)
        return patches.transpose(0, 3, 1, 4, 2).reshape(2 * height, 2 * width, out) + bias

    def __call__(self, image: np.ndarray) -> np.ndarray:
        x = _relu(_conv3(image, *self.stem, stride=2))
        skips = []
        for number, convs in enumerate(self.encoders):
            if number:
                height, width, channels = x.shape
                x = x.reshape(height // 2, 2, width // 2, 2, channels).max(axis=(1, 3))
            x = self._block(x, convs)
            skips.append(x)
        x = skips.pop()
        for number in (2, 1, 0):
            x = self._block(np.concatenate([self._up(x, *self.ups[number]), skips[number]], axis=2),
                            self.decoders[number])
        height, width = x.shape[:2]
        x = cv2.resize(x, (2 * width, 2 * height), interpolation=cv2.INTER_LINEAR)  # bilinear, half-pixel centres
        x = _relu(_conv3(np.concatenate([x, image], axis=2), *self.refine))
        weight, bias = self.out
        return (x.reshape(-1, x.shape[2]) @ weight + bias).reshape(height * 2, width * 2)


def load_forward(path: str | Path) -> tuple[SegmenterForward, int]:
    """The segmenter in ``path`` (a .safetensors file) and its input resolution, or a one-line error."""
    path = Path(path)
    if not path.is_file():
        raise FacepipeError(f"occlusion segmenter not found: {path} (set blend.occlusion_model, or "
                            f"blend.occlusion = \"none\")")
    tensors, meta = read_tensors(path, framework="numpy")
    found = meta.get("architecture", "none recorded")
    if found != ARCHITECTURE:
        raise FacepipeError(f"{path}: architecture {found!r} is not a segmenter ({ARCHITECTURE})")
    checked_card(path)
    try:
        resolution, width = int(meta["resolution"]), int(meta["width"])
    except (KeyError, ValueError) as exc:
        raise FacepipeError(f"{path}: bad model shape in header ({exc})") from None
    check_fit(path, ARCHITECTURE, expected_shapes(resolution, width), tensors)
    return SegmenterForward(tensors), resolution


class CpuSegmenter:
    """Aligned crops in, visible-face masks out (at the crops' size): ``models.segmenter.Segmenter``
    without torch."""

    def __init__(self, path: str | Path = BUNDLED_SEGMENTER) -> None:
        self.forward, self.resolution = load_forward(path)
        self.contract = InputContract(self.resolution, "BGR", (0.0, 1.0), "none", "area")

    def visible(self, crop: np.ndarray) -> np.ndarray:
        """The visible-face mask of one crop."""
        return self([crop])[0]

    def __call__(self, crops: list[np.ndarray]) -> list[np.ndarray]:
        masks = []
        size = self.resolution
        for crop in crops:
            crop = np.asarray(crop)[..., :3]
            height, width = crop.shape[:2]
            crop = resize_to(crop, size, self.contract.resize)
            logits = self.forward(crop.astype(np.float32) / np.float32(255.0))
            probability = (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
            masks.append(cv2.resize(probability, (width, height), interpolation=cv2.INTER_LINEAR))
        return masks


def open_segmenter(path: str | Path, device: str) -> CpuSegmenter | Segmenter:
    """The segmenter for ``device``: numpy on a CPU (no torch to import), torch on a GPU."""
    if device == "cpu":
        return CpuSegmenter(path)
    from models.segmenter import Segmenter

    return Segmenter(path, device)
