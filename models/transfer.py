"""Carry a trained model between machines in pieces: float16 shards of at most a few MB, and back.

Why: the GPU machine that trains a 128-px model hands files back under a per-file size limit
(16 MiB here), while the model's float32 file is about 48 MB. ``split`` writes the weights as
float16 shards plus the card; ``join`` rebuilds a normal model directory (float32 weights, the card
with its new checksum) that ``load_model`` accepts. float16 keeps 11 significant bits, far below
what changes a uint8 output pixel (the joined model's swaps differ from the original's by < 1 level
on average; ``tests/test_model.py`` checks the round trip).

    python -m models.transfer split MODEL_DIR OUT_DIR [--max-mb 15]
    python -m models.transfer join SHARD_DIR MODEL_DIR
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

from models.checkpoint import CARD, WEIGHTS, load_networks, read_tensors, save_weights
from pipeline.errors import FacepipeError

SHARD = "weights-{:02d}.safetensors"


def split(model_dir: Path, out_dir: Path, max_mb: float = 15.0) -> list[Path]:
    """Write ``model_dir``'s weights as float16 shards (and its card and pictures) into ``out_dir``."""
    tensors, meta = read_tensors(Path(model_dir) / WEIGHTS)
    out_dir.mkdir(parents=True, exist_ok=True)
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for key in sorted(tensors):
        tensor = tensors[key].half() if tensors[key].is_floating_point() else tensors[key]
        nbytes = tensor.numel() * tensor.element_size()
        if shards[-1] and size + nbytes > max_mb * 1e6:
            shards.append({})
            size = 0
        shards[-1][key] = tensor.contiguous()
        size += nbytes
    written = []
    for number, shard in enumerate(shards):
        path = out_dir / SHARD.format(number)
        save_file(shard, str(path), metadata={**meta, "shard": f"{number + 1}/{len(shards)}"})
        written.append(path)
    for name in (CARD, "preview.png", "losses.png"):
        if (Path(model_dir) / name).is_file():
            shutil.copyfile(Path(model_dir) / name, out_dir / name)
    return written


def join(shard_dir: Path, model_dir: Path) -> Path:
    """Rebuild a model directory from ``split``'s shards; the result loads like any trained model."""
    paths = sorted(Path(shard_dir).glob("weights-*.safetensors"))
    if not paths:
        raise FacepipeError(f"{shard_dir}: no weights-NN.safetensors shards")
    tensors: dict[str, torch.Tensor] = {}
    meta: dict[str, str] = {}
    for path in paths:
        part, meta = read_tensors(path)
        tensors.update({k: v.float() if v.is_floating_point() else v for k, v in part.items()})
    total = int(meta.get("shard", "0/0").split("/")[1] or 0)
    if total != len(paths):
        raise FacepipeError(f"{shard_dir}: {len(paths)} shards found, the header says {total}")
    meta = {k: v for k, v in meta.items() if k != "shard"}
    model_dir.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(model_dir / WEIGHTS), metadata=meta)
    card = json.loads((Path(shard_dir) / CARD).read_text()) if (Path(shard_dir) / CARD).is_file() else {}
    card.pop("files", None)
    (model_dir / CARD).unlink(missing_ok=True)  # the old checksum would refuse the new file
    nets, _ = load_networks(model_dir)  # checks every tensor against the architecture
    card["transfer"] = "weights carried as float16 shards (models/transfer.py)"
    save_weights(nets, model_dir, card)
    for name in ("preview.png", "losses.png"):
        if (Path(shard_dir) / name).is_file():
            shutil.copyfile(Path(shard_dir) / name, model_dir / name)
    return model_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.transfer", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    s = sub.add_parser("split")
    s.add_argument("model_dir", type=Path)
    s.add_argument("out_dir", type=Path)
    s.add_argument("--max-mb", type=float, default=15.0)
    j = sub.add_parser("join")
    j.add_argument("shard_dir", type=Path)
    j.add_argument("model_dir", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.verb == "split":
            for path in split(args.model_dir, args.out_dir, args.max_mb):
                print(path)
        else:
            print(join(args.shard_dir, args.model_dir))
    except FacepipeError as exc:
        print(f"models.transfer: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
