"""The swap-pair kind: a shared encoder, decoders A and B, a PatchGAN per identity, and inference.

Saved and loaded through :mod:`models.family` (``model.safetensors`` + the card ``model.json``; while
training also ``optimizer.safetensors``). :func:`load_model` returns a :class:`SwapModel`, the API the
swap and occlusion-attack stages use.

Input convention for :meth:`SwapModel.swap` and :meth:`SwapModel.score`: aligned face crops as written
by ``facepipe extract`` / the align stage, BGR ``uint8``, shape (N,H,W,3) (a 4th alpha channel is
ignored), any square size: they are brought to the model resolution by the card's input contract and
results come back at the input size.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
import torch

from models import BUNDLED_MODELS, model_path
from models.discriminator import PatchDiscriminator
from models.family import InputContract, ModelCard, load_model_file, read_card, save_model, write_tensors
from models.generator import ARCHITECTURE, Generator, ModelSpec
from models.inputs import as_batch, to_input
from models.painter import Painted, paint
from pipeline.device import resolve_device
from pipeline.errors import FacepipeError

BUNDLED_MODEL_DIR = BUNDLED_MODELS["bundled"]  # the default swap model (128 px)
FAST_MODEL_DIR = BUNDLED_MODELS["fast"]  # 64 px: live's profile, the corpus GAN's start
BUNDLED_MODEL_DIRS = (BUNDLED_MODEL_DIR, FAST_MODEL_DIR)
WEIGHTS = "model.safetensors"
CARD = "model.json"
OPTIMIZER = "optimizer.safetensors"


class Networks(torch.nn.Module):
    """The trainable parts of one swap-pair model, under the key prefixes stored in the file."""

    kind: ClassVar[str] = "swap-pair"
    file_stem: ClassVar[str] = "model"
    architecture: ClassVar[str] = ARCHITECTURE

    def __init__(self, spec: ModelSpec, disc_width: int) -> None:
        super().__init__()
        self.spec = spec
        self.disc_width = disc_width
        self.g = Generator(spec)
        self.d_a = PatchDiscriminator(spec.resolution, disc_width)
        self.d_b = PatchDiscriminator(spec.resolution, disc_width)
        # Average face mask of the training data: what the discriminators look through.
        self.register_buffer("face_mask", default_face_mask(spec.resolution))

    def disc(self, identity: str) -> PatchDiscriminator:
        return self.d_a if identity == "a" else self.d_b

    def header(self) -> dict[str, str]:
        """The safetensors metadata that fixes this network's shapes."""
        return {"architecture": ARCHITECTURE, **self.spec.header(), "disc_width": str(self.disc_width)}

    @classmethod
    def from_header(cls, meta: dict[str, str]) -> "Networks":
        """Build the (untrained) networks a header describes; ValueError/KeyError when malformed."""
        spec = ModelSpec.from_header(meta)
        spec.check()
        return cls(spec, int(meta["disc_width"]))

    def input_contract(self) -> InputContract:
        return InputContract(self.spec.resolution, "BGR", (0.0, 1.0), "none", "area-down-cubic-up")


def default_face_mask(resolution: int) -> torch.Tensor:
    """A centred ellipse, used until the faceset's own average mask is known."""
    m = np.zeros((resolution, resolution), np.float32)
    cv2.ellipse(m, (resolution // 2, resolution // 2), (int(resolution * 0.38), int(resolution * 0.46)), 0, 0, 360, 1.0, -1)
    return torch.from_numpy(m)[None, None]


def save_weights(nets: Networks, directory: Path, record: dict[str, Any], optimizer_tensors: dict[str, torch.Tensor] | None = None,
                 optimizer_meta: dict[str, str] | None = None) -> ModelCard:
    """Optimiser state (when given) first, then the weights and the card that names their checksum."""
    directory.mkdir(parents=True, exist_ok=True)
    if optimizer_tensors is not None:
        write_tensors(directory / OPTIMIZER, optimizer_tensors, optimizer_meta or {})
    shape = {"resolution": nets.spec.resolution, "spec": {**asdict(nets.spec), "disc_width": nets.disc_width}}
    return save_model(nets, directory, {**record, **shape})


def load_networks(path_or_dir: str | Path, resolution: int | None = None, spec: ModelSpec | None = None,
                  disc_width: int | None = None) -> tuple[Networks, ModelCard]:
    """A validated swap pair; ``resolution``/``spec`` (when given) must match the file's."""
    loaded = load_model_file(path_or_dir, kind="swap-pair")
    nets: Networks = loaded.net
    if resolution is not None and nets.spec.resolution != resolution:
        raise FacepipeError(f"{loaded.weights}: model resolution is {nets.spec.resolution} px, expected {resolution} px")
    if spec is not None and (spec != nets.spec or (disc_width is not None and disc_width != nets.disc_width)):
        raise FacepipeError(f"{loaded.weights}: model shape {asdict(nets.spec)} differs from the configured {asdict(spec)}")
    return nets, loaded.card


def torch_device(device: str | None) -> torch.device:
    """``pipeline.device.resolve_device`` as a ``torch.device``."""
    return torch.device(resolve_device(device))


class SwapModel:
    """A loaded swap pair for inference: ``swap`` paints an identity, ``score`` judges real vs fake."""

    def __init__(self, nets: Networks, card: ModelCard | None, device: torch.device) -> None:
        self.nets = nets.to(device).eval()
        self.card = card or ModelCard(nets.kind, nets.architecture, None)
        self.device = device
        self.resolution = nets.spec.resolution
        self.contract = self.card.input or nets.input_contract()

    def swap(self, crops: np.ndarray, direction: str = "a2b", batch_size: int = 32) -> Painted:
        """Paint identity ``direction[-1]`` onto aligned crops (see :class:`models.painter.Painted`)."""
        decoder = self.nets.g.decoder(_direction(direction))
        return paint(lambda x: decoder(self.nets.g.encoder(x)), crops, self.contract, self.device, batch_size)

    @torch.inference_mode()
    def score(self, crops: np.ndarray, identity: str = "b", batch_size: int = 64) -> np.ndarray:
        """Probability (N,) float32 that each aligned crop is a real photo of ``identity`` ("a"/"b").

        The identity's PatchGAN discriminator, looking through the training set's average face mask,
        averaged over patches. Low means "looks generated" (or not that person).
        """
        if identity not in ("a", "b"):
            raise ValueError("identity must be 'a' or 'b'")
        crops = as_batch(crops)
        disc = self.nets.disc(identity)
        out: list[np.ndarray] = []
        for start in range(0, len(crops), batch_size):
            x = to_input(crops[start:start + batch_size], self.contract, self.device)
            out.append(disc.probability(x * self.nets.face_mask).float().cpu().numpy())
        return np.concatenate(out).astype(np.float32) if out else np.zeros(0, np.float32)


def _direction(direction: str) -> str:
    if direction not in ("a2b", "b2a", "a2a", "b2b"):
        raise ValueError(f"direction must be one of a2b, b2a, a2a, b2b, not {direction!r}")
    return direction[-1]


def load_model(path_or_dir: str | Path = BUNDLED_MODEL_DIR, device: str | torch.device | None = "auto") -> SwapModel:
    """Load a swap model for inference (default: the bundled one; the names of ``BUNDLED_MODELS`` work
    too); refuses anything malformed."""
    path = model_path(path_or_dir)
    if not path.exists():
        raise FacepipeError(f"swap model not found: {path} (set swap.model to a folder made by `facepipe train`, "
                            f"or restore models/bundled/ from the repository)")
    nets, card = load_networks(path)
    dev = device if isinstance(device, torch.device) else torch_device(device)
    return SwapModel(nets, card, dev)


def bundled_with_shape(spec: ModelSpec) -> Path | None:
    """The first bundled swap model (the default, then the fast one) whose card has ``spec``'s generator shape."""
    wanted = {"resolution": spec.resolution, "width": spec.width, "latent": spec.latent, "decoder_width": spec.decoder_width}
    for directory in BUNDLED_MODEL_DIRS:
        card = read_card(directory / CARD)
        found = (card.record if card else {}).get("spec", {})
        shape = {key: found.get(key, 0 if key == "decoder_width" else None) for key in wanted}
        if shape == wanted and (directory / WEIGHTS).is_file():
            return directory
    return None
