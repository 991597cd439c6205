"""Inference for every swap generator: encode a crop, decode one identity, composite, at the crop's size.

A two-identity model and a multi-identity one differ only in which decoder paints; both hand
:func:`paint` a function from input tensor to (RGB, alpha) and get the same outputs back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol

import cv2
import numpy as np
import torch

from models.family import InputContract
from models.inputs import as_batch, to_input

Decode = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@dataclass
class Painted:
    """``faces``: BGR uint8 (N,H,W,3) at the input size, already composited (generator face where the
    mask is high, the input crop elsewhere); ``masks``: float32 (N,H,W) in [0,1], where it painted."""

    faces: np.ndarray
    masks: np.ndarray

    def __iter__(self) -> Any:  # ``faces, masks = model.swap(...)``
        return iter((self.faces, self.masks))


@torch.inference_mode()
def paint(decode: Decode, crops: Any, contract: InputContract, device: torch.device, batch_size: int = 32) -> Painted:
    """Run ``decode`` over ``crops`` in batches and composite each result onto its crop."""
    crops = as_batch(crops)
    faces: list[np.ndarray] = []
    masks: list[np.ndarray] = []
    for start in range(0, len(crops), batch_size):
        chunk = crops[start:start + batch_size]
        rgb, alpha = decode(to_input(chunk, contract, device))
        rgb_np = rgb.permute(0, 2, 3, 1).float().cpu().numpy() * 255.0
        alpha_np = alpha[:, 0].float().cpu().numpy()
        for crop, face, a in zip(chunk, rgb_np, alpha_np):
            crop = np.asarray(crop)[..., :3]
            h, w = crop.shape[:2]
            if (h, w) != face.shape[:2]:
                face = cv2.resize(face, (w, h), interpolation=cv2.INTER_CUBIC)
                a = cv2.resize(a, (w, h), interpolation=cv2.INTER_LINEAR)
            a = np.clip(a, 0.0, 1.0).astype(np.float32)
            out = a[..., None] * face + (1.0 - a[..., None]) * crop.astype(np.float32)
            faces.append(np.clip(out + 0.5, 0, 255).astype(np.uint8))
            masks.append(a)
    if not faces:
        return Painted(np.zeros((0, 0, 0, 3), np.uint8), np.zeros((0, 0, 0), np.float32))
    return Painted(np.stack(faces), np.stack(masks))


class FaceSwapper(Protocol):
    """What the swap stage runs: a pair model (``target`` = a direction such as ``a2b``) or a
    multi-identity one (``target`` = an identity name)."""

    resolution: int

    def swap(self, crops: Any, target: str, batch_size: int = 32) -> Painted: ...
