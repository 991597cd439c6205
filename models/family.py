"""One home for every model kind: the card schema, saving, and the one loader.

Every model facepipe ships or trains (a swap pair, a multi-identity swap, a deepfake detector, the
occlusion segmenter, and whatever comes next) is a folder with ``<stem>.safetensors`` and
``<stem>.json``. The safetensors header names the architecture; :data:`models.ARCHITECTURES` maps
that name to a network class implementing :class:`ModelNet`, so a new kind is one module with such a
class plus one line in that table. The JSON card (:class:`ModelCard`) declares what any caller needs
to use the file without reading code: its kind, architecture, input contract (size, channel order,
value range, normalisation, resize), the weights' checksum, and how it was trained.

Only safetensors is ever read: plain tensors with a JSON header, so nothing in a model file can run
code (unlike pickle / ``torch.save``). Every refusal is a one-line :class:`FacepipeError`.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from pipeline.errors import FacepipeError
from pipeline.media.atomic import atomic_path, write_json

CARD_FORMAT = "facepipe-model"
CARD_VERSION = 2
# Cards written before the family existed, by their ``format``; they still load (a user's models).
LEGACY_FORMATS = {"facepipe-swap-model": "swap-pair", "facepipe-multi-swap-model": "swap-multi",
                  "facepipe-detector": "detector"}
RESERVED = ("format", "version", "kind", "architecture", "input", "files")


@dataclass(frozen=True)
class InputContract:
    """What a network takes: ``(N, 3, size, size)`` float tensors built from uint8 crops.

    ``channels`` is the order the network was trained on (crops arrive BGR from OpenCV);
    ``resize`` names how a crop of another size is brought to ``size``: ``area`` always, or
    ``area-down-cubic-up`` / ``area-down-linear-up`` (area when shrinking, the other when enlarging).
    ``normalisation`` says what happens after scaling to ``value_range``: ``none``, or
    ``inside-network`` when the network normalises its own input (so its export needs nothing else).
    """

    size: int
    channels: str = "BGR"
    value_range: tuple[float, float] = (0.0, 1.0)
    normalisation: str = "none"
    resize: str = "area-down-cubic-up"

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "value_range": list(self.value_range)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "InputContract":
        return cls(int(data["size"]), str(data.get("channels", "BGR")), tuple(data.get("value_range", (0.0, 1.0))),
                   str(data.get("normalisation", "none")), str(data.get("resize", "area-down-cubic-up")))


@runtime_checkable
class ModelNet(Protocol):
    """What a network class in ``models.ARCHITECTURES`` provides, so the family can save and load it."""

    kind: ClassVar[str]  # "swap-pair", "swap-multi", "detector", "segmenter", ...
    file_stem: ClassVar[str]  # file stem in a model folder: "model" -> model.safetensors + model.json
    architecture: ClassVar[str]

    def header(self) -> dict[str, str]: ...  # safetensors metadata that fixes the tensor shapes

    @classmethod
    def from_header(cls, meta: dict[str, str]) -> "ModelNet": ...  # the untrained network a header describes

    def input_contract(self) -> InputContract: ...

    def state_dict(self) -> dict[str, Any]: ...


@dataclass
class ModelCard:
    """The card beside every model file. ``record`` is how it was trained (data, recipe, losses,
    evaluation) and any kind-specific facts (a swap model's spec, a multi model's identities); it is
    free-form by kind and stored at the card's top level next to the common keys."""

    kind: str
    architecture: str
    input: InputContract | None
    files: dict[str, str] = field(default_factory=dict)  # "weights", "sha256", and extras ("torchscript")
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def sha256(self) -> str | None:
        return self.files.get("sha256")

    def to_json(self) -> dict[str, Any]:
        common: dict[str, Any] = {"format": CARD_FORMAT, "version": CARD_VERSION, "kind": self.kind,
                                  "architecture": self.architecture}
        if self.input is not None:
            common["input"] = self.input.to_json()
        record = {k: v for k, v in self.record.items() if k not in RESERVED}
        return {**common, **record, "files": dict(self.files)}


def read_card(path: Path) -> ModelCard | None:
    """The card at ``path`` (None when there is none); a one-line error when it is not a model card."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        raise FacepipeError(f"{path}: model card is not valid JSON") from None
    if not isinstance(data, dict):
        raise FacepipeError(f"{path}: not a facepipe model card")
    fmt = data.get("format")
    if fmt == CARD_FORMAT:
        kind = data.get("kind")
    elif fmt in LEGACY_FORMATS:
        kind = LEGACY_FORMATS[fmt]
    elif fmt is None and data.get("architecture") == "facepipe-xseg-unet-v1":
        kind = "segmenter"  # the first segmenter card named no format
    else:
        raise FacepipeError(f"{path}: not a facepipe model card (format {fmt!r})")
    try:
        contract = InputContract.from_json(data["input"]) if isinstance(data.get("input"), dict) else None
    except (KeyError, TypeError, ValueError):
        raise FacepipeError(f"{path}: model card has a malformed input contract") from None
    files = data.get("files") if isinstance(data.get("files"), dict) else {}
    record = {k: v for k, v in data.items() if k not in RESERVED}
    return ModelCard(str(kind), str(data.get("architecture", "")), contract, {k: str(v) for k, v in files.items()}, record)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def git_commit() -> str | None:
    """The commit this code runs from, recorded in cards (None outside a git checkout)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def refuse_pickle(path: Path) -> None:
    """Name a pickle for what it is (a safetensors header, 8-byte length + '{', is never mistaken for one)."""
    with path.open("rb") as f:
        head = f.read(9)
    size = path.stat().st_size
    if len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") <= size - 8:
        return
    if (head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")) or head.startswith(b"PK\x03\x04"):
        raise FacepipeError(f"{path}: is a pickle/torch.save file, not safetensors; refusing to load it (pickles can run code)")


def read_tensors(path: Path, framework: str = "pt") -> tuple[dict[str, Any], dict[str, str]]:
    """All tensors and the header metadata of one safetensors file, or a one-line error; ``framework``
    "numpy" reads numpy arrays without importing torch."""
    from safetensors import safe_open

    if not path.is_file():
        raise FacepipeError(f"model file not found: {path}")
    refuse_pickle(path)
    try:
        with safe_open(str(path), framework=framework, device="cpu") as f:
            meta = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # safetensors raises several types for malformed headers/data
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FacepipeError(f"{path}: corrupt or not a safetensors file ({reason})") from None
    return tensors, meta


def write_tensors(path: Path, tensors: dict[str, Any], meta: dict[str, str]) -> None:
    """float32 CPU copies of ``tensors`` (non-float kept as they are), written atomically."""
    from safetensors.torch import save_file

    out = {k: (v.detach().float() if v.is_floating_point() else v.detach()).cpu().contiguous() for k, v in tensors.items()}
    with atomic_path(path) as temp:
        save_file(out, str(temp), metadata=meta)


def check_fit(weights: Path, architecture: str, expected: dict[str, tuple[int, ...]], tensors: dict[str, Any]) -> None:
    """Refuse tensors (torch or numpy) that do not match the network's own names and ``expected``
    shapes, or that hold NaN/inf."""
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    wrong = sorted(k for k in set(expected) & set(tensors) if tuple(expected[k]) != tuple(tensors[k].shape))
    if missing or extra or wrong:
        detail = f"missing {missing[0]}" if missing else f"unexpected {extra[0]}" if extra else f"shape of {wrong[0]}"
        raise FacepipeError(f"{weights}: tensors do not fit architecture {architecture} ({detail})")
    if not all(_finite(t) for t in tensors.values()):
        raise FacepipeError(f"{weights}: contains NaN/inf weights; the training run diverged")


def _finite(tensor: Any) -> bool:
    """No NaN/inf in a float tensor; torch's checked by torch (it is loaded when its tensors are), numpy's by numpy."""
    if hasattr(tensor, "is_floating_point"):
        import torch

        return not tensor.is_floating_point() or bool(torch.isfinite(tensor).all())
    import numpy as np

    return tensor.dtype.kind != "f" or bool(np.isfinite(tensor).all())


def checked_card(weights: Path) -> ModelCard | None:
    """The card beside ``weights`` (None when there is none), refused when its checksum is not theirs."""
    card = read_card(weights.with_suffix(".json"))
    if card is not None and card.sha256 not in (None, sha256(weights)):
        raise FacepipeError(f"{weights}: checksum does not match {weights.with_suffix('.json').name}; "
                            f"the file is corrupt or was replaced")
    return card


def save_model(net: ModelNet, directory: Path, record: dict[str, Any], extra_files: dict[str, str] | None = None) -> ModelCard:
    """Weights (header = ``net.header()``), then the card naming their checksum (card last: it marks done)."""
    directory.mkdir(parents=True, exist_ok=True)
    weights = directory / f"{net.file_stem}.safetensors"
    write_tensors(weights, net.state_dict(), {**net.header(), "kind": net.kind})
    card = ModelCard(net.kind, net.architecture, net.input_contract(),
                     {"weights": weights.name, "sha256": sha256(weights), **(extra_files or {})}, dict(record))
    write_json(weights.with_suffix(".json"), card.to_json())
    return card


@dataclass
class LoadedModel:
    """A validated network (on the CPU, eval mode) with its card and where it came from."""

    net: Any
    card: ModelCard
    weights: Path
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def contract(self) -> InputContract:
        return self.card.input or self.net.input_contract()


def _weights_path(path: Path, kind: str | None) -> Path:
    """A model folder or file as the weights file: the kind's stem first, else any known stem present
    (so a folder of another kind is named for what it holds, not reported missing)."""
    from models import ARCHITECTURES

    if not path.is_dir():
        return path
    classes = [ARCHITECTURES.load(name) for name in ARCHITECTURES]
    wanted = [c.file_stem for c in classes if kind is None or c.kind == kind]
    stems = list(dict.fromkeys(wanted + [c.file_stem for c in classes]))
    for stem in stems:
        if (path / f"{stem}.safetensors").is_file():
            return path / f"{stem}.safetensors"
    return path / f"{stems[0]}.safetensors"


def load_model_file(path: str | Path, kind: str | None = None, architecture: str | None = None) -> LoadedModel:
    """The one loader: validate and load any model kind from its folder or ``.safetensors`` file.

    ``kind`` / ``architecture``, when given, must be what the file holds. Refuses pickles, unknown
    architectures, a checksum that does not match the card, tensors that do not fit, and NaN weights.
    """
    from models import ARCHITECTURES

    path = Path(path)
    if path.suffix == ".json":
        raise FacepipeError(f"{path}: give the model folder or its .safetensors file, not the card")
    weights = _weights_path(path, kind)
    tensors, meta = read_tensors(weights)
    found = meta.get("architecture", "none recorded")
    if found not in ARCHITECTURES:
        raise FacepipeError(f"{weights}: architecture {found!r} is not one facepipe knows "
                            f"({', '.join(ARCHITECTURES)}); this model cannot be used here")
    cls = ARCHITECTURES.load(found)
    if kind is not None and cls.kind != kind:
        raise FacepipeError(f"{weights}: holds a {cls.kind} model ({found}), not a {kind}")
    if architecture is not None and found != architecture:
        raise FacepipeError(f"{weights}: architecture {found!r} is not the expected {architecture!r}")
    card = checked_card(weights)
    try:
        net = cls.from_header(meta)
    except (KeyError, ValueError) as exc:
        raise FacepipeError(f"{weights}: bad model shape in header ({exc})") from None
    expected = net.state_dict()
    check_fit(weights, found, {k: tuple(v.shape) for k, v in expected.items()}, tensors)
    net.load_state_dict({k: v.to(expected[k].dtype) for k, v in tensors.items()})
    if card is None:
        card = ModelCard(cls.kind, found, None, {"weights": weights.name})
    return LoadedModel(net.eval(), card, weights, meta)
