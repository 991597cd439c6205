"""Swap-model checkpoints: safetensors weights + a JSON model card, validated before use.

Only safetensors is ever read: it is plain tensors with a JSON header, so nothing in a model file can
execute code (unlike pickle / ``torch.save``). Every refusal is a one-line :class:`FacepipeError`.

A model directory holds ``model.safetensors`` (generator + both discriminators), ``model.json`` (the
model card) and, while training, ``optimizer.safetensors``. :func:`load_model` returns a
:class:`SwapModel`, the API the swap and occlusion-attack stages use.

Input convention for :meth:`SwapModel.swap` and :meth:`SwapModel.score`: aligned face crops as written
by ``facepipe extract`` / the align stage, BGR ``uint8``, shape (N,H,W,3) (a 4th alpha channel is
ignored), any square size: they are resized to the model resolution internally and results come back
at the input size.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import asdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from models import ARCHITECTURES, BUNDLED_MODELS, model_path
from models.discriminator import PatchDiscriminator
from models.generator import ARCHITECTURE, Generator, ModelSpec
from pipeline.device import resolve_device
from pipeline.media.atomic import atomic_path
from pipeline.errors import FacepipeError

BUNDLED_MODEL_DIR = BUNDLED_MODELS["bundled"]  # the default swap model (128 px)
FAST_MODEL_DIR = BUNDLED_MODELS["fast"]  # 64 px: live's profile, the corpus GAN's start
BUNDLED_MODEL_DIRS = (BUNDLED_MODEL_DIR, FAST_MODEL_DIR)
WEIGHTS = "model.safetensors"
CARD = "model.json"
OPTIMIZER = "optimizer.safetensors"
CARD_FORMAT = "facepipe-swap-model"


class Networks(torch.nn.Module):
    """The trainable parts of one model, under the key prefixes stored in the file."""

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

    architecture = ARCHITECTURE

    def header(self) -> dict[str, str]:
        """The safetensors metadata that fixes this network's shapes."""
        return {"architecture": ARCHITECTURE, **self.spec.header(), "disc_width": str(self.disc_width)}

    @classmethod
    def from_header(cls, meta: dict[str, str]) -> "Networks":
        """Build the (untrained) networks a checkpoint header describes; ValueError/KeyError when malformed."""
        spec = ModelSpec.from_header(meta)
        spec.check()
        return cls(spec, int(meta["disc_width"]))


def default_face_mask(resolution: int) -> torch.Tensor:
    """A centred ellipse, used until the faceset's own average mask is known."""
    m = np.zeros((resolution, resolution), np.float32)
    cv2.ellipse(m, (resolution // 2, resolution // 2), (int(resolution * 0.38), int(resolution * 0.46)), 0, 0, 360, 1.0, -1)
    return torch.from_numpy(m)[None, None]


def _atomic_write(path: Path, write: Any) -> None:
    """``write(temp)`` then rename into place: readers never see half a file."""
    with atomic_path(path) as temp:
        write(temp)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def save_weights(nets: Networks, directory: Path, card: dict[str, Any], optimizer_tensors: dict[str, torch.Tensor] | None = None,
                 optimizer_meta: dict[str, str] | None = None) -> None:
    """Write weights (and optionally optimiser state), then the card that names their checksum."""
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().float().cpu().contiguous() for k, v in nets.state_dict().items()}
    _atomic_write(directory / WEIGHTS, lambda p: save_file(tensors, str(p), metadata=nets.header()))
    if optimizer_tensors is not None:
        opt = {k: v.detach().cpu().contiguous() for k, v in optimizer_tensors.items()}
        _atomic_write(directory / OPTIMIZER, lambda p: save_file(opt, str(p), metadata=optimizer_meta or {}))
    card = dict(card)
    card.update({"format": CARD_FORMAT, "version": 1, "architecture": nets.architecture, "resolution": nets.spec.resolution,
                 "spec": {**asdict(nets.spec), "disc_width": nets.disc_width},
                 "files": {"weights": WEIGHTS, "sha256": sha256(directory / WEIGHTS)}})
    _atomic_write(directory / CARD, lambda p: p.write_text(json.dumps(card, indent=2, sort_keys=False) + "\n"))


def _refuse_pickle(path: Path) -> None:
    """Name a pickle for what it is (a safetensors header, 8-byte length + '{', is never mistaken for one)."""
    with path.open("rb") as f:
        head = f.read(9)
    size = path.stat().st_size
    if len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") <= size - 8:
        return
    if (head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")) or head.startswith(b"PK\x03\x04"):
        raise FacepipeError(f"{path}: is a pickle/torch.save file, not safetensors; refusing to load it (pickles can run code)")


def read_tensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """All tensors and the header metadata of one safetensors file, or a one-line error."""
    if not path.is_file():
        raise FacepipeError(f"model file not found: {path}")
    _refuse_pickle(path)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # safetensors raises several types for malformed headers/data
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FacepipeError(f"{path}: corrupt or not a safetensors file ({reason})") from None
    return tensors, meta


def _resolve(path_or_dir: str | Path) -> tuple[Path, Path]:
    p = Path(path_or_dir)
    if p.is_dir():
        return p / WEIGHTS, p / CARD
    return p, p.with_suffix(".json") if p.suffix != ".json" else p


def read_card(card_path: Path) -> dict[str, Any] | None:
    if not card_path.is_file():
        return None
    try:
        card = json.loads(card_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise FacepipeError(f"{card_path}: model card is not valid JSON") from None
    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
        raise FacepipeError(f"{card_path}: not a facepipe swap-model card")
    return card


def load_networks(path_or_dir: str | Path, resolution: int | None = None, spec: ModelSpec | None = None,
                  disc_width: int | None = None) -> tuple[Networks, dict[str, Any]]:
    """Validate and load a checkpoint. ``resolution``/``spec`` (when given) must match the file's."""
    weights, card_path = _resolve(path_or_dir)
    if weights.suffix == ".json":
        raise FacepipeError(f"{weights}: give the model directory or its .safetensors file, not the card")
    tensors, meta = read_tensors(weights)
    card = read_card(card_path) or {}
    found = meta.get("architecture", "none recorded")
    if found not in ARCHITECTURES:
        raise FacepipeError(f"{weights}: architecture {found!r} is not one facepipe knows "
                            f"({', '.join(ARCHITECTURES)}); this model cannot be used here")
    try:
        nets = ARCHITECTURES.load(found).from_header(meta)
    except (KeyError, ValueError) as exc:
        raise FacepipeError(f"{weights}: bad model shape in header ({exc})") from None
    file_spec, file_disc = nets.spec, nets.disc_width
    if resolution is not None and file_spec.resolution != resolution:
        raise FacepipeError(f"{weights}: model resolution is {file_spec.resolution} px, expected {resolution} px")
    if spec is not None and (spec != file_spec or (disc_width is not None and disc_width != file_disc)):
        raise FacepipeError(f"{weights}: model shape {asdict(file_spec)} differs from the configured {asdict(spec)}")
    if card and card.get("files", {}).get("sha256") not in (None, sha256(weights)):
        raise FacepipeError(f"{weights}: checksum does not match {card_path.name}; the file is corrupt or was replaced")
    expected = nets.state_dict()
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    wrong = sorted(k for k in set(expected) & set(tensors) if tuple(expected[k].shape) != tuple(tensors[k].shape))
    if missing or extra or wrong:
        detail = (f"missing {missing[0]}" if missing else f"unexpected {extra[0]}" if extra else f"shape of {wrong[0]}")
        raise FacepipeError(f"{weights}: tensors do not fit architecture {found} ({detail})")
    if any(not torch.isfinite(t).all() for t in tensors.values() if t.is_floating_point()):
        raise FacepipeError(f"{weights}: contains NaN/inf weights; the training run diverged")
    nets.load_state_dict(tensors)
    return nets, card


def torch_device(device: str | None) -> torch.device:
    """``pipeline.device.resolve_device`` as a ``torch.device``."""
    return torch.device(resolve_device(device))


def to_tensor(crops: np.ndarray, size: int, device: torch.device) -> torch.Tensor:
    """(N,H,W,3|4) BGR uint8 -> (N,3,size,size) float in [0,1]."""
    out = np.empty((len(crops), size, size, 3), np.uint8)
    for i, c in enumerate(crops):
        c = np.asarray(c)[..., :3]
        if c.shape[0] != size or c.shape[1] != size:
            c = cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA if c.shape[0] > size else cv2.INTER_CUBIC)
        out[i] = c
    return torch.from_numpy(out).to(device).permute(0, 3, 1, 2).float().div_(255.0)


def _as_batch(crops: Any) -> list[np.ndarray] | np.ndarray:
    if isinstance(crops, np.ndarray):
        if crops.ndim == 3:
            crops = crops[None]
        if crops.ndim != 4 or crops.shape[-1] not in (3, 4) or crops.dtype != np.uint8:
            raise ValueError(f"expected uint8 crops (N,H,W,3), got {crops.dtype} {crops.shape}")
        return crops
    return [np.asarray(c) for c in crops]


class SwapModel:
    """A loaded swap model for inference: ``swap`` paints an identity, ``score`` judges real vs fake."""

    def __init__(self, nets: Networks, card: dict[str, Any], device: torch.device) -> None:
        self.nets = nets.to(device).eval()
        self.card = card
        self.device = device
        self.resolution = nets.spec.resolution

    @torch.inference_mode()
    def swap(self, crops: np.ndarray, direction: str = "a2b", batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
        """Paint identity ``direction[-1]`` onto aligned crops.

        Returns ``(faces, masks)``: faces BGR uint8 (N,H,W,3) at the input size, already composited
        (generator face where the mask is high, the input crop elsewhere); masks float32 (N,H,W) in
        [0,1], where the generator painted, for blending into the frame.
        """
        target = _direction(direction)
        crops = _as_batch(crops)
        faces: list[np.ndarray] = []
        masks: list[np.ndarray] = []
        for start in range(0, len(crops), batch_size):
            chunk = crops[start:start + batch_size]
            x = to_tensor(chunk, self.resolution, self.device)
            rgb, alpha = self.nets.g.decoder(target)(self.nets.g.encoder(x))
            rgb_np = (rgb.permute(0, 2, 3, 1).float().cpu().numpy() * 255.0)
            alpha_np = alpha[:, 0].float().cpu().numpy()
            for c, face, a in zip(chunk, rgb_np, alpha_np):
                c = np.asarray(c)[..., :3]
                h, w = c.shape[:2]
                if (h, w) != face.shape[:2]:
                    face = cv2.resize(face, (w, h), interpolation=cv2.INTER_CUBIC)
                    a = cv2.resize(a, (w, h), interpolation=cv2.INTER_LINEAR)
                a = np.clip(a, 0.0, 1.0).astype(np.float32)
                out = a[..., None] * face + (1.0 - a[..., None]) * c.astype(np.float32)
                faces.append(np.clip(out + 0.5, 0, 255).astype(np.uint8))
                masks.append(a)
        if not faces:
            return np.zeros((0, 0, 0, 3), np.uint8), np.zeros((0, 0, 0), np.float32)
        return np.stack(faces), np.stack(masks)

    @torch.inference_mode()
    def score(self, crops: np.ndarray, identity: str = "b", batch_size: int = 64) -> np.ndarray:
        """Probability (N,) float32 that each aligned crop is a real photo of ``identity`` ("a"/"b").

        The identity's PatchGAN discriminator, looking through the training set's average face mask,
        averaged over patches. Low means "looks generated" (or not that person).
        """
        if identity not in ("a", "b"):
            raise ValueError("identity must be 'a' or 'b'")
        crops = _as_batch(crops)
        disc = self.nets.disc(identity)
        out: list[np.ndarray] = []
        for start in range(0, len(crops), batch_size):
            x = to_tensor(crops[start:start + batch_size], self.resolution, self.device)
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
