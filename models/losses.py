"""Losses: masked L1 + SSIM reconstruction, LSGAN adversarial terms, mask regulariser.

Reconstruction is measured only where the faceset mask says "face": the background of a training
crop is passed through by the alpha mask anyway, and spending capacity on it blurs the face.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def _gaussian_window(size: int, sigma: float, channels: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    coords = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()


def ssim(x: torch.Tensor, y: torch.Tensor, window: int = 7, sigma: float = 1.5) -> torch.Tensor:
    """Mean structural similarity of two (N,C,H,W) batches in [0,1]; per sample (N,)."""
    c = x.shape[1]
    w = _gaussian_window(window, sigma, c, x.device, x.dtype)
    pad = window // 2
    mu_x = F.conv2d(x, w, padding=pad, groups=c)
    mu_y = F.conv2d(y, w, padding=pad, groups=c)
    sxx = F.conv2d(x * x, w, padding=pad, groups=c) - mu_x**2
    syy = F.conv2d(y * y, w, padding=pad, groups=c) - mu_y**2
    sxy = F.conv2d(x * y, w, padding=pad, groups=c) - mu_x * mu_y
    c1, c2 = 0.01**2, 0.03**2
    num = (2 * mu_x * mu_y + c1) * (2 * sxy + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2)
    return (num / den).mean(dim=(1, 2, 3))


def masked_l1(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean absolute error inside the mask, per sample (N,)."""
    err = (x - y).abs() * mask
    return err.sum(dim=(1, 2, 3)) / (mask.sum(dim=(1, 2, 3)) * x.shape[1] + 1e-6)


def masked_ssim(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """SSIM of the two crops with everything outside the mask blacked out, per sample (N,)."""
    return ssim(x * mask, y * mask)


def reconstruction(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, ssim_weight: float,
                   parts: torch.Tensor | None = None, parts_weight: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(L1 + ssim_weight * (1 - SSIM)) on the masked face, and the L1 part alone (for logging).

    ``parts`` (N,1,H,W) in [0,1] marks the eyes and mouth: there the L1 error counts ``1 + parts_weight``
    times (normalised by the same mask, so the figure stays comparable), the lesson of DeepFaceLab's
    eyes-and-mouth priority.
    """
    l1 = masked_l1(x, y, mask).mean()
    loss = l1
    if parts is not None and parts_weight > 0:
        extra = ((x - y).abs() * (mask * parts)).sum(dim=(1, 2, 3)) / (mask.sum(dim=(1, 2, 3)) * x.shape[1] + 1e-6)
        loss = loss + parts_weight * extra.mean()
    if ssim_weight > 0:
        loss = loss + ssim_weight * (1.0 - masked_ssim(x, y, mask).mean())
    return loss, l1


def adversarial_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """LSGAN discriminator loss on sigmoid patch outputs: real -> 1, fake -> 0."""
    return 0.5 * (((real - 1.0) ** 2).mean() + (fake**2).mean())


def adversarial_g(fake: torch.Tensor) -> torch.Tensor:
    """LSGAN generator loss: make the discriminator call the fake real."""
    return ((fake - 1.0) ** 2).mean()


def mask_regulariser(alpha: torch.Tensor, target_mask: torch.Tensor, tv_weight: float = 0.1) -> torch.Tensor:
    """Alpha should follow the faceset's face mask and be smooth.

    Unsupervised, alpha drifts to 1 over the whole crop (nothing outside the face pays for it) or,
    pushed down by a plain sparsity term, lets the source skin show through smooth cheeks. The face
    mask that ``extract`` stores is the right answer, so alpha is pulled towards it (L1), plus a
    total-variation term against speckle.
    """
    tv = (alpha[:, :, 1:, :] - alpha[:, :, :-1, :]).abs().mean() + (alpha[:, :, :, 1:] - alpha[:, :, :, :-1]).abs().mean()
    return (alpha - target_mask).abs().mean() + tv_weight * tv
