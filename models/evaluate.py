"""Figures for the model card: held-out reconstruction and discriminator accuracy.

Reconstruction (A->A, B->B) is measured on unaugmented crops, inside the faceset mask, as masked L1
(0..1 pixel scale) and masked SSIM of the decoder's raw face (before compositing with the input). Discriminator accuracy asks each identity's PatchGAN to tell real
crops of that identity (should score > 0.5) from swaps into it (A->B for D_B, B->A for D_A; < 0.5).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from models import losses
from models.checkpoint import Networks
from models.generator import composite


@torch.no_grad()
def evaluate(nets: Networks, faces_a: np.ndarray, faces_b: np.ndarray, device: torch.device, batch: int = 64) -> dict[str, Any]:
    """``faces_*``: (N,R,R,4) uint8 BGRA crops at the model resolution (held-out ones for honest figures)."""
    was_training = nets.training
    nets.eval()
    result: dict[str, Any] = {}
    swapped: dict[str, list[torch.Tensor]] = {"a": [], "b": []}  # swaps *into* the identity
    real_scores: dict[str, list[torch.Tensor]] = {"a": [], "b": []}
    for own, other, faces in (("a", "b", faces_a), ("b", "a", faces_b)):
        l1s, ssims = [], []
        for start in range(0, len(faces), batch):
            chunk = torch.from_numpy(faces[start:start + batch]).permute(0, 3, 1, 2).float().div(255).to(device)
            x, m = chunk[:, :3], chunk[:, 3:4]
            code = nets.g.encoder(x)
            rgb, alpha = nets.g.decoder(own)(code)
            # Score the generator's own painting, not the composite: where alpha is low the composite is
            # the input itself, which would flatter the figures.
            l1s.append(losses.masked_l1(rgb, x, m))
            ssims.append(losses.masked_ssim(rgb, x, m))
            rgb_s, alpha_s = nets.g.decoder(other)(code)
            swapped[other].append(composite(rgb_s, alpha_s, x))
            real_scores[own].append(nets.disc(own).probability(x * nets.face_mask))
        if l1s:
            result[f"{own}2{own}"] = {"l1": round(float(torch.cat(l1s).mean()), 4), "ssim": round(float(torch.cat(ssims).mean()), 4)}
    correct, total = 0, 0
    for ident in ("a", "b"):
        if not real_scores[ident] or not swapped[ident]:
            continue
        real = torch.cat(real_scores[ident])
        fake = torch.cat([nets.disc(ident).probability(s * nets.face_mask) for s in swapped[ident]])
        acc_real = float((real > 0.5).float().mean())
        acc_fake = float((fake < 0.5).float().mean())
        n_real, n_fake = len(real), len(fake)
        result[f"discriminator_{ident}"] = {
            "accuracy": round((acc_real * n_real + acc_fake * n_fake) / (n_real + n_fake), 4),
            "real_detected": round(acc_real, 4), "swap_detected": round(acc_fake, 4),
            "mean_p_real": round(float(real.mean()), 4), "mean_p_swap": round(float(fake.mean()), 4),
            "real_crops": n_real, "swapped_crops": n_fake,
        }
        correct += acc_real * n_real + acc_fake * n_fake
        total += n_real + n_fake
    if total:
        result["discriminator_accuracy"] = round(correct / total, 4)
    nets.train(was_training)
    return result
