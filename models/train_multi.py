"""Training of the multi-identity swap model (``models.multi_identity``): reconstruction only.

L1 + SSIM on the masked face from a randomly warped input, and a mask loss, with the ``[train]``
settings' weights; no discriminator: a corpus needs a swap with the method's artefacts, cheaply, not
the best-looking one. It stops at a wall-clock budget and resumes from its checkpoint (weights, Adam
state, trained seconds).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from models.augment import AugmentSettings, make_pair
from models.family import ModelCard, read_tensors
from models.generator import ModelSpec
from models.losses import mask_regulariser, reconstruction
from models.multi_identity import CARD, OPTIMIZER, MultiGenerator, load, save, warm_start
from models.optimiser_state import load_adam
from models.train_config import TrainConfig
from pipeline.errors import FacepipeError


def train(facesets: dict[str, np.ndarray], directory: Path, spec: ModelSpec, minutes: float, *, batch: int = 8,
          seed: int = 0, cfg: TrainConfig | None = None, save_every: float = 60.0, per_step: int = 4,
          init: str | Path | None = None, log: Callable[[str], None] = lambda message: None) -> ModelCard:
    """Train (or resume) until ``minutes`` of training in total; returns the card.

    ``facesets`` maps identity -> (N, R, R, 4) uint8 BGRA crops at ``spec.resolution``. ``init``: a
    two-identity swap model to start from (``warm_start``) when no model is in ``directory`` yet.
    ``cfg``: the ``[train]`` settings whose learning rate, Adam beta1, SSIM weight and mask weight
    apply here as they do to the swap pair (the defaults when None).
    """
    cfg = cfg or TrainConfig()
    identities = sorted(facesets)
    torch.manual_seed(seed)
    model = MultiGenerator(spec, identities)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, 0.999))
    trained, steps = 0.0, 0
    started_from: dict[str, Any] | None = None
    if (directory / CARD).is_file():
        loaded, card = load(directory)
        if loaded.identities != identities or loaded.spec != spec:
            raise FacepipeError(f"{directory}: the model there was trained on other identities or another shape; "
                                f"remove it to train afresh")
        model = loaded
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, 0.999))
        if (directory / OPTIMIZER).is_file():
            tensors, meta = read_tensors(directory / OPTIMIZER)
            try:
                load_adam(optimizer, tensors, "g", json.loads(meta.get("groups", "[]")))
            except (ValueError, KeyError):
                log("optimizer state does not fit; continuing with a fresh optimizer")
        trained, steps = float(card.record.get("trained_seconds", 0.0)), int(card.record.get("steps", 0))
        started_from = card.record.get("started_from")
    elif init:
        started_from = warm_start(model, init)
        log(f"gan: starting from {started_from['model']}")
    budget = minutes * 60.0
    if steps and trained >= budget:
        return card  # already trained to this budget
    data = {name: torch.from_numpy(faces).permute(0, 3, 1, 2).float().div_(255.0) for name, faces in facesets.items()}
    settings = AugmentSettings()
    generator = torch.Generator().manual_seed(seed + steps)
    model.train()
    last_save = time.perf_counter()
    started = time.perf_counter()
    base = trained

    def card_extra() -> dict[str, Any]:
        return {"trained_seconds": round(trained, 1), "steps": steps, "train_minutes": minutes, "started_from": started_from,
                "faces": {n: int(len(f)) for n, f in facesets.items()}}

    while trained < budget:
        optimizer.zero_grad(set_to_none=True)
        total = 0.0
        # a few identities per step: the shared encoder gets more updates per second than with all of them,
        # and every decoder is still visited often (at random, so none is starved)
        chosen = torch.randperm(len(identities), generator=generator)[:per_step].tolist()
        for number in chosen:
            name = identities[number]
            faces = data[name]
            pick = torch.randint(0, len(faces), (batch,), generator=generator)
            warped, target, mask = make_pair(faces[pick], settings, generator)
            out, rgb, alpha = model(warped, number)
            loss, _ = reconstruction(out, target, mask, cfg.ssim_weight)
            loss = loss + cfg.mask_weight * mask_regulariser(alpha, mask)
            loss.backward()
            total += float(loss.detach())
        optimizer.step()
        steps += 1
        trained = base + time.perf_counter() - started
        if time.perf_counter() - last_save >= save_every:
            save(model, directory, card_extra(), optimizer)
            last_save = time.perf_counter()
            log(f"gan: step {steps}, {trained / 60:.1f} of {minutes:g} min, loss {total / len(chosen):.4f}")
    if steps == 0:
        raise FacepipeError("gan: --train-minutes 0 and no trained model; give a budget or --model")
    return save(model, directory, card_extra(), optimizer)
