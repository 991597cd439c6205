"""The multi-identity swap kind: one shared encoder, one decoder per identity, and its inference.

Why: the two-identity model (``models.generator.Generator``) costs ~40 CPU-minutes per pair at 64 px;
a corpus of N people would need N x (N-1) of them. Here every identity gets its own decoder over the
same encoder, so one model serves every (target, source) pair: encode the target's face, decode with
the source identity's decoder. The encoder sees every identity, so it learns pose/expression/light
but not who; each decoder learns to paint one person.

The blocks are those of ``models.generator`` (so the 64-px architecture matches the bundled model).
Saved and loaded through ``models.family``; the header and the card list the identities in decoder
order. Training lives in ``models.train_multi``.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from models.family import InputContract, ModelCard, load_model_file, save_model, write_tensors
from models.generator import Decoder, Encoder, ModelSpec, composite
from models.optimiser_state import dump_adam
from models.painter import Painted, paint
from pipeline.errors import FacepipeError

ARCHITECTURE = "facepipe-deepfakes-gan-multi-v1"
WEIGHTS, CARD, OPTIMIZER = "model.safetensors", "model.json", "optimizer.safetensors"


class MultiGenerator(nn.Module):
    """Shared encoder plus ``decoders[i]`` for identity ``identities[i]``."""

    kind: ClassVar[str] = "swap-multi"
    file_stem: ClassVar[str] = "model"
    architecture: ClassVar[str] = ARCHITECTURE

    def __init__(self, spec: ModelSpec, identities: list[str]) -> None:
        super().__init__()
        spec.check()
        if len(identities) < 2 or len(set(identities)) != len(identities):
            raise ValueError("a multi-identity model needs at least 2 distinct identities")
        self.spec = spec
        self.identities = list(identities)
        self.encoder = Encoder(spec)
        self.decoders = nn.ModuleList(Decoder(spec) for _ in identities)

    def header(self) -> dict[str, str]:
        return {"architecture": ARCHITECTURE, **self.spec.header(), "identities": json.dumps(self.identities)}

    @classmethod
    def from_header(cls, meta: dict[str, str]) -> "MultiGenerator":
        try:
            identities = json.loads(meta["identities"])
        except json.JSONDecodeError as exc:
            raise ValueError(f"identities: {exc}") from None
        return cls(ModelSpec.from_header(meta), identities)

    def input_contract(self) -> InputContract:
        return InputContract(self.spec.resolution, "BGR", (0.0, 1.0), "none", "area-down-cubic-up")

    def index(self, identity: str) -> int:
        try:
            return self.identities.index(identity)
        except ValueError:
            raise FacepipeError(f"identity {identity!r} has no decoder in this model (it knows "
                                f"{', '.join(self.identities)})") from None

    def forward(self, x: torch.Tensor, identity: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rgb, alpha = self.decoders[identity](self.encoder(x))
        return composite(rgb, alpha, x), rgb, alpha


def save(model: MultiGenerator, directory: Path, record: dict[str, Any], optimizer: torch.optim.Optimizer | None) -> ModelCard:
    """Optimiser state (when given), then the weights and the card naming their checksum (all atomic)."""
    directory.mkdir(parents=True, exist_ok=True)
    if optimizer is not None:
        opt, groups = dump_adam(optimizer, "g")
        write_tensors(directory / OPTIMIZER, opt, {"groups": json.dumps(groups)})
    return save_model(model, directory, {"spec": asdict(model.spec), "identities": model.identities, **record})


def load(directory: str | Path) -> tuple[MultiGenerator, ModelCard]:
    """A validated multi-identity model (safetensors only); one-line errors."""
    loaded = load_model_file(directory, kind="swap-multi")
    return loaded.net, loaded.card


class MultiSwapModel:
    """Inference: paint ``identity`` onto aligned crops; the same contract as ``SwapModel.swap``."""

    def __init__(self, directory: str | Path, device: str = "cpu") -> None:
        self.model, self.card = load(directory)
        self.device = torch.device(device)
        self.model.to(self.device).eval()
        self.resolution = self.model.spec.resolution
        self.contract = self.card.input or self.model.input_contract()

    def swap(self, crops: np.ndarray, identity: str, batch_size: int = 32) -> Painted:
        decoder = self.model.decoders[self.model.index(identity)]
        return paint(lambda x: decoder(self.model.encoder(x)), crops, self.contract, self.device, batch_size)


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
    return {"model": str(Path(init).resolve()), "sha256": card.sha256, "architecture": card.architecture}
