"""A multi-identity swap model: one shared encoder, one decoder per identity.

Why: the two-identity model (``models.generator.Generator``) costs ~40 CPU-minutes per pair at 64 px;
a corpus of N people would need N x (N-1) of them. Here every identity gets its own decoder over the
same encoder, so one model serves every (target, source) pair: encode the target's face, decode with
the source identity's decoder. The encoder sees every identity, so it learns pose/expression/light
but not who; each decoder learns to paint one person.

The blocks are those of ``models.generator`` (so the 64-px architecture matches the bundled model);
the checkpoint is its own architecture, ``facepipe-deepfakes-gan-multi-v1``, in safetensors with a
JSON card that lists the identities in decoder order. Training is reconstruction only (L1 + SSIM
on the masked face from a randomly warped input, and a mask loss), no discriminator: a corpus needs
a swap with the method's artefacts, cheaply, not the best-looking one. It stops at a wall-clock budget
and resumes from its checkpoint (weights, Adam state, trained seconds).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

from models.checkpoint import read_tensors, sha256, to_tensor
from models.generator import Decoder, Encoder, ModelSpec, composite
from pipeline.errors import FacepipeError
from pipeline.media.atomic import atomic_path, write_json

ARCHITECTURE = "facepipe-deepfakes-gan-multi-v1"
CARD_FORMAT = "facepipe-multi-swap-model"
WEIGHTS, CARD, OPTIMIZER = "model.safetensors", "model.json", "optimizer.safetensors"


class MultiGenerator(nn.Module):
    """Shared encoder plus ``decoders[i]`` for identity ``identities[i]``."""

    def __init__(self, spec: ModelSpec, identities: list[str]) -> None:
        super().__init__()
        spec.check()
        if len(identities) < 2 or len(set(identities)) != len(identities):
            raise ValueError("a multi-identity model needs at least 2 distinct identities")
        self.spec = spec
        self.identities = list(identities)
        self.encoder = Encoder(spec)
        self.decoders = nn.ModuleList(Decoder(spec) for _ in identities)

    def index(self, identity: str) -> int:
        try:
            return self.identities.index(identity)
        except ValueError:
            raise FacepipeError(f"identity {identity!r} has no decoder in this model (it knows "
                                f"{', '.join(self.identities)})") from None

    def forward(self, x: torch.Tensor, identity: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rgb, alpha = self.decoders[identity](self.encoder(x))
        return composite(rgb, alpha, x), rgb, alpha


def save(model: MultiGenerator, directory: Path, extra: dict[str, Any], optimizer: torch.optim.Optimizer | None) -> None:
    """Weights, optimiser state, then the card naming the weights' checksum (all atomic)."""
    directory.mkdir(parents=True, exist_ok=True)
    meta = {"architecture": ARCHITECTURE, **model.spec.header(),
            "identities": json.dumps(model.identities)}
    tensors = {k: v.detach().float().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(directory / WEIGHTS) as temp:
        save_file(tensors, str(temp), metadata=meta)
    if optimizer is not None:
        from models.training import _dump_adam

        opt, groups = _dump_adam(optimizer, "g")
        with atomic_path(directory / OPTIMIZER) as temp:
            save_file({k: v.contiguous() for k, v in opt.items()}, str(temp), metadata={"groups": json.dumps(groups)})
    card = {"format": CARD_FORMAT, "version": 1, "architecture": ARCHITECTURE, "spec": asdict(model.spec),
            "identities": model.identities, **extra, "files": {"weights": WEIGHTS, "sha256": sha256(directory / WEIGHTS)}}
    write_json(directory / CARD, card)


def load(directory: str | Path) -> tuple[MultiGenerator, dict[str, Any]]:
    """Validate and load a multi-identity model (safetensors only); one-line errors."""
    root = Path(directory)
    weights, card_path = root / WEIGHTS, root / CARD
    tensors, meta = read_tensors(weights)
    if meta.get("architecture") != ARCHITECTURE:
        raise FacepipeError(f"{weights}: architecture {meta.get('architecture', 'none recorded')!r} is not {ARCHITECTURE!r}")
    try:
        card = json.loads(card_path.read_text())
        spec = ModelSpec.from_header(meta)
        identities = json.loads(meta["identities"])
    except (OSError, ValueError, KeyError) as exc:
        raise FacepipeError(f"{root}: unreadable model card or header ({exc})") from None
    if card.get("files", {}).get("sha256") != sha256(weights):
        raise FacepipeError(f"{weights}: checksum does not match {CARD}; the file is corrupt or was replaced")
    model = MultiGenerator(spec, identities)
    try:
        model.load_state_dict(tensors)
    except RuntimeError as exc:
        raise FacepipeError(f"{weights}: tensors do not fit {ARCHITECTURE} ({str(exc).splitlines()[0]})") from None
    return model, card


class MultiSwapModel:
    """Inference: paint ``identity`` onto aligned crops; the same contract as ``SwapModel.swap``."""

    def __init__(self, directory: str | Path, device: str = "cpu") -> None:
        self.model, self.card = load(directory)
        self.device = torch.device(device)
        self.model.to(self.device).eval()
        self.resolution = self.model.spec.resolution

    @torch.inference_mode()
    def swap(self, crops: np.ndarray, identity: str, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
        import cv2

        index = self.model.index(identity)
        faces, masks = [], []
        for start in range(0, len(crops), batch_size):
            chunk = crops[start:start + batch_size]
            x = to_tensor(chunk, self.resolution, self.device)
            rgb, alpha = self.model.decoders[index](self.model.encoder(x))
            for c, face, a in zip(chunk, rgb.permute(0, 2, 3, 1).cpu().numpy() * 255.0, alpha[:, 0].cpu().numpy()):
                c = np.asarray(c)[..., :3]
                h, w = c.shape[:2]
                face = cv2.resize(face, (w, h), interpolation=cv2.INTER_CUBIC)
                a = np.clip(cv2.resize(a, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0).astype(np.float32)
                faces.append(np.clip(a[..., None] * face + (1 - a[..., None]) * c + 0.5, 0, 255).astype(np.uint8))
                masks.append(a)
        return np.stack(faces), np.stack(masks)


def warm_start(model: MultiGenerator, init: str | Path) -> dict[str, Any]:
    """Start ``model`` from a two-identity swap model: its encoder, and its decoders A and B taken in
    turn (identity 0 from A, 1 from B, 2 from A, ...). Returns what the card records of the start.

    Why: from scratch, a CPU budget of minutes leaves the decoders painting a grey blur, so a corpus's
    "fakes" are their targets with a faint smudge (the demo corpus, 13 steps: 2 grey levels inside the
    mask). Started from a trained swap model, every decoder paints a sharp face from step 0 and the
    budget goes into moving it towards its identity, as DeepFaceLab's pretrained models do.
    """
    from models.checkpoint import load_networks

    nets, card = load_networks(init, spec=model.spec)
    model.encoder.load_state_dict(nets.g.encoder.state_dict())
    for number, decoder in enumerate(model.decoders):
        decoder.load_state_dict(nets.g.decoder("ab"[number % 2]).state_dict())
    return {"model": str(Path(init).resolve()), "sha256": card.get("files", {}).get("sha256"),
            "architecture": card.get("architecture")}


def train(facesets: dict[str, np.ndarray], directory: Path, spec: ModelSpec, minutes: float, *, batch: int = 8,
          seed: int = 0, lr: float = 3e-4, save_every: float = 60.0, per_step: int = 4, init: str | Path | None = None,
          log: Callable[[str], None] = lambda message: None) -> dict[str, Any]:
    """Train (or resume) until ``minutes`` of training in total; returns the card.

    ``facesets`` maps identity -> (N, R, R, 4) uint8 BGRA crops at ``spec.resolution``. ``init``: a
    two-identity swap model to start from (``warm_start``) when no model is in ``directory`` yet.
    """
    from models.augment import AugmentSettings, make_pair
    from models.losses import mask_regulariser, reconstruction

    identities = sorted(facesets)
    torch.manual_seed(seed)
    model = MultiGenerator(spec, identities)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.5, 0.999))
    trained, steps = 0.0, 0
    started_from: dict[str, Any] | None = None
    if (directory / CARD).is_file():
        loaded, card = load(directory)
        if loaded.identities != identities or loaded.spec != spec:
            raise FacepipeError(f"{directory}: the model there was trained on other identities or another shape; "
                                f"remove it to train afresh")
        model = loaded
        optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.5, 0.999))
        if (directory / OPTIMIZER).is_file():
            from models.training import _load_adam

            tensors, meta = read_tensors(directory / OPTIMIZER)
            try:
                _load_adam(optimizer, tensors, "g", json.loads(meta.get("groups", "[]")))
            except (ValueError, KeyError):
                log("optimizer state does not fit; continuing with a fresh optimizer")
        trained, steps = float(card.get("trained_seconds", 0.0)), int(card.get("steps", 0))
        started_from = card.get("started_from")
    elif init:
        started_from = warm_start(model, init)
        log(f"gan: starting from {started_from['model']}")
    budget = minutes * 60.0
    if steps and trained >= budget:
        return json.loads((directory / CARD).read_text())  # already trained to this budget
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
            loss, _ = reconstruction(out, target, mask, 0.5)
            loss = loss + 0.3 * mask_regulariser(alpha, mask)
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
    save(model, directory, card_extra(), optimizer)
    return json.loads((directory / CARD).read_text())
