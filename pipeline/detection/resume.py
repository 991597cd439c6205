"""The resumable state of ``facepipe detector train``: one file in DET_DIR, rewritten after every epoch.

One file, because the network, optimiser, scheduler, RNG states, history and best-so-far only make
sense together: written through the atomic writer, a kill leaves either the previous epoch's state or
this epoch's, never a mix. ``torch.save`` holds tensors and plain values alike and is read back with
``weights_only=True``, so no pickled code can run. The state names the *recipe* it belongs to (the
corpus manifest's checksum and every training setting): a re-run with another corpus or other settings
is refused with one line instead of silently mixing two trainings. The file is deleted once the
detector is saved.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import FacepipeError
from pipeline.media.atomic import atomic_path

STATE = "training-state.pt"
STATE_FORMAT = "facepipe-detector-training-state"
# Settings that change how fast or what is reported, not what is learnt: a resume may change them.
FREE_SETTINGS = ("threads", "workers", "eval_frames", "threshold")


@dataclass
class TrainingState:
    """Everything the epoch loop needs to carry on as if it had never stopped."""

    recipe: dict[str, Any]
    epoch: int  # epochs finished
    step: int  # optimiser steps taken
    seconds: float  # training wall time so far
    history: dict[str, list[float]]
    best_score: float
    best_epoch: int
    best_weights: dict[str, Any]
    net: dict[str, Any]
    optimiser: dict[str, Any]
    schedule: dict[str, Any]
    numpy_rng: dict[str, Any]
    torch_rng: Any
    resumes: list[dict[str, int]] = field(default_factory=list)  # {"epoch", "step"} at each resume


def recipe(corpus_dir: Path, settings: dict[str, Any], crops: dict[str, Any], occlusion_augment: bool) -> dict[str, Any]:
    """What a training's result depends on: the manifest's content and every learning setting."""
    manifest = Path(corpus_dir) / "manifest.jsonl"
    digest = hashlib.sha256(manifest.read_bytes()).hexdigest() if manifest.is_file() else ""
    learnt = {k: v for k, v in settings.items() if k not in FREE_SETTINGS}
    return {"manifest_sha256": digest, **learnt, "occlusion_augment": occlusion_augment,
            **{f"crop_{k}": v for k, v in crops.items()}}


def save_state(directory: Path, state: TrainingState) -> None:
    import torch

    directory.mkdir(parents=True, exist_ok=True)
    with atomic_path(directory / STATE) as temp:
        torch.save({"format": STATE_FORMAT, **dataclasses.asdict(state)}, str(temp))


def load_state(directory: Path) -> TrainingState | None:
    """The saved state, or None when there is none; an unreadable one is a one-line error."""
    import torch

    path = directory / STATE
    if not path.is_file():
        return None
    try:
        data = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any damage or a pickle with code is one line
        raise FacepipeError(f"{path}: unreadable training state ({type(error).__name__}); "
                            "use --restart to discard it") from None
    if not isinstance(data, dict) or data.pop("format", None) != STATE_FORMAT:
        raise FacepipeError(f"{path}: not a facepipe detector training state; use --restart to discard it")
    names = {f.name for f in dataclasses.fields(TrainingState)}
    if set(data) != names:
        raise FacepipeError(f"{path}: training state from another facepipe version; use --restart to discard it")
    return TrainingState(**data)


def require_same_recipe(state: TrainingState, wanted: dict[str, Any], directory: Path) -> None:
    """Refuse to continue another corpus's or other settings' training, naming the first difference."""
    keys = sorted(set(state.recipe) | set(wanted))
    differ = [k for k in keys if state.recipe.get(k) != wanted.get(k)]
    if differ:
        key = differ[0]
        what = "corpus (its manifest.jsonl differs)" if key == "manifest_sha256" else \
            f"setting: {key} = {state.recipe.get(key)!r} there, {wanted.get(key)!r} now"
        raise FacepipeError(f"{directory}: holds an interrupted training of a different {what}; "
                            f"re-run with the same corpus and settings, or use --restart to discard it")


def discard_state(directory: Path) -> None:
    (directory / STATE).unlink(missing_ok=True)
    for stale in directory.glob(f".{Path(STATE).stem}.*.facepipe-partial*"):  # left by a SIGKILL mid-write
        stale.unlink(missing_ok=True)
