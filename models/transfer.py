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
import shutil
import signal
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import save_file

from models.checkpoint import CARD, WEIGHTS, load_networks, save_weights
from models.family import read_card, read_tensors, sha256
from pipeline.errors import FacepipeError
from pipeline.media.atomic import atomic_path

SHARD = "weights-{:02d}.safetensors"


def split(model_dir: Path, out_dir: Path, max_mb: float = 15.0) -> list[Path]:
    """Write ``model_dir``'s weights as float16 shards (and its card and pictures) into ``out_dir``.

    Shards of an earlier split in ``out_dir`` are removed first, and every shard's header names the
    checksum of the weights it came from, so ``join`` can never mix two models.
    """
    weights = Path(model_dir) / WEIGHTS
    tensors, meta = read_tensors(weights)
    source = sha256(weights)
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
    for stale in out_dir.glob("weights-*.safetensors"):
        stale.unlink()
    written = []
    for number, shard in enumerate(shards):
        path = out_dir / SHARD.format(number)
        with atomic_path(path) as temp:
            save_file(shard, str(temp), metadata={**meta, "shard": f"{number + 1}/{len(shards)}", "source": source})
        written.append(path)
    for name in (CARD, "preview.png", "losses.png"):
        if (Path(model_dir) / name).is_file():
            with atomic_path(out_dir / name) as temp:
                shutil.copyfile(Path(model_dir) / name, temp)
    return written


def join(shard_dir: Path, model_dir: Path) -> Path:
    """Rebuild a model directory from ``split``'s shards; the result loads like any trained model.

    The shards must be one complete split (the same source checksum, numbers 1..N once each, no
    tensor twice); the model is built and checked in a temporary folder beside ``model_dir`` and only
    then moved in, so a failed join leaves ``model_dir`` as it was.
    """
    paths = sorted(Path(shard_dir).glob("weights-*.safetensors"))
    if not paths:
        raise FacepipeError(f"{shard_dir}: no weights-NN.safetensors shards")
    tensors: dict[str, torch.Tensor] = {}
    headers: list[dict[str, str]] = []
    for path in paths:
        part, meta = read_tensors(path)
        if set(part) & set(tensors):
            raise FacepipeError(f"{path}: holds tensors another shard holds too; shards of two splits are mixed")
        tensors.update({k: v.float() if v.is_floating_point() else v for k, v in part.items()})
        headers.append(meta)
    numbers = sorted(int(h.get("shard", "0/0").split("/")[0]) for h in headers)
    totals = {h.get("shard", "0/0").split("/")[1] for h in headers}
    sources = {h.get("source") for h in headers}
    if len(sources) != 1 or len(totals) != 1 or numbers != list(range(1, int(totals.pop() or 0) + 1)):
        raise FacepipeError(f"{shard_dir}: {len(paths)} shards found that are not one complete split "
                            f"(shard numbers {numbers}, {len(sources)} source model(s))")
    meta = {k: v for k, v in headers[0].items() if k not in ("shard", "source")}
    found = read_card(Path(shard_dir) / CARD)
    card = dict(found.record) if found else {}
    card["transfer"] = "weights carried as float16 shards (models/transfer.py)"
    model_dir = Path(model_dir)
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=model_dir.parent, prefix=f".{model_dir.name}.join-") as folder:
        build = Path(folder)
        save_file(tensors, str(build / WEIGHTS), metadata=meta)
        nets, _ = load_networks(build)  # checks every tensor against the architecture
        save_weights(nets, build, card)
        for name in ("preview.png", "losses.png"):
            if (Path(shard_dir) / name).is_file():
                shutil.copyfile(Path(shard_dir) / name, build / name)
        model_dir.mkdir(exist_ok=True)
        for name in (WEIGHTS, "preview.png", "losses.png", CARD):  # the card last: it names the weights' checksum
            if (build / name).is_file():
                (build / name).replace(model_dir / name)
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
    # SIGTERM unwinds like Ctrl-C, so temporary shards and build folders are removed on the way out.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
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
