"""Crops to network input, by the model card's input contract: the one preprocessing path.

Crops come from OpenCV, so they are BGR ``uint8``; a contract that says ``RGB`` gets its channels
reversed here, by name, rather than by a helper whose name hides it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from models.family import InputContract

if TYPE_CHECKING:
    import torch

_UPSCALE = {"area-down-cubic-up": cv2.INTER_CUBIC, "area-down-linear-up": cv2.INTER_LINEAR, "area": cv2.INTER_AREA}


def as_batch(crops: Any) -> list[np.ndarray] | np.ndarray:
    """One crop or many as a batch; a one-line ValueError for anything but uint8 (N,H,W,3|4)."""
    if isinstance(crops, np.ndarray):
        if crops.ndim == 3:
            crops = crops[None]
        if crops.ndim != 4 or crops.shape[-1] not in (3, 4) or crops.dtype != np.uint8:
            raise ValueError(f"expected uint8 crops (N,H,W,3), got {crops.dtype} {crops.shape}")
        return crops
    return [np.asarray(c) for c in crops]


def resize_to(crop: np.ndarray, size: int, resize: str) -> np.ndarray:
    """``crop`` at ``size`` x ``size`` the way the contract names (area when shrinking, by default)."""
    if crop.shape[0] == size and crop.shape[1] == size:
        return crop
    if resize not in _UPSCALE:
        raise ValueError(f"unknown resize rule {resize!r} (known: {', '.join(_UPSCALE)})")
    shrink = crop.shape[0] > size
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA if shrink else _UPSCALE[resize])


def to_input(crops: Any, contract: InputContract, device: torch.device | str = "cpu") -> torch.Tensor:
    """(N,H,W,3|4) BGR uint8 crops -> (N,3,size,size) float in the contract's range, channel order."""
    size = contract.size
    out = np.empty((len(crops), size, size, 3), np.uint8)
    for i, crop in enumerate(crops):
        crop = resize_to(np.asarray(crop)[..., :3], size, contract.resize)
        out[i] = crop[..., ::-1] if contract.channels == "RGB" else crop
    low, high = contract.value_range
    import torch  # here, not at the top: ``resize_to`` serves the torch-free segmenter too (``models.segmenter_cpu``)

    x = torch.from_numpy(out).to(device).permute(0, 3, 1, 2).float().div_(255.0)
    return x if (low, high) == (0.0, 1.0) else x.mul_(high - low).add_(low)
