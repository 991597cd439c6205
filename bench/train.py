"""Swap-model speed: training iterations/s and inference faces/s (batch 1 and 32), for the two bundled shapes.

    python bench/train.py                 # CPU, and CUDA too when torch sees a GPU
    python bench/train.py --shapes 64:0 --iterations 5 --threads 2
    python bench/train.py --threads 2 --markdown docs/benchmarks.md      # the table into its section (train)

Training is one full iteration of the real loop (both identities, augmentation, GAN terms on, batch
from ``[train] batch_size``). Inference is :meth:`SwapModel.swap` end to end on 256-px aligned crops
(as ``facepipe extract`` writes them): resize in, generator, resize out, composite. Data are random
pixels: speed does not depend on content. Shapes are ``RES:DECODER_WIDTH`` with ``[train]``'s width and
latent: ``64:0`` is the fast bundled model (models/bundled_fast), ``128:24`` the default one (models/bundled).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # why: pipeline/cli/main.py

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import add_options, begin_run, publish  # noqa: E402
from models.checkpoint import Networks, SwapModel  # noqa: E402
from models.faceset_data import Faceset  # noqa: E402
from models.generator import ModelSpec  # noqa: E402
from models.train_config import TrainConfig  # noqa: E402
from models.training import Trainer, set_threads  # noqa: E402


def _faces(n: int, res: int, rng: np.random.Generator) -> np.ndarray:
    faces = rng.integers(0, 256, (n, res, res, 4), dtype=np.uint8)
    faces[..., 3] = 255
    return faces


def bench_training(res: int, decoder_width: int, device: torch.device, iterations: int, cfg: TrainConfig) -> float:
    rng = np.random.default_rng(0)
    cfg = replace(cfg, resolution=res, decoder_width=decoder_width, gan_warmup=0, preview_every=10**6, save_every=10**6)
    fa = Faceset(_faces(64, res, rng), _faces(0, res, rng))
    fb = Faceset(_faces(64, res, rng), _faces(0, res, rng))
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, Path(tmp), fa, fb, device)
        for _ in range(2):  # warm-up: allocator, cuDNN autotune, first-call overheads
            trainer.step()
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(iterations):
            trainer.step()
        _sync(device)
        return iterations / (time.perf_counter() - t0)


def bench_inference(res: int, decoder_width: int, device: torch.device, batch: int, seconds: float, cfg: TrainConfig) -> float:
    torch.manual_seed(0)
    model = SwapModel(Networks(ModelSpec(res, cfg.width, cfg.latent, decoder_width), cfg.disc_width), None, device)
    crops = np.random.default_rng(1).integers(0, 256, (batch, 256, 256, 3), dtype=np.uint8)
    model.swap(crops, "a2b", batch_size=batch)
    _sync(device)
    done, t0 = 0, time.perf_counter()
    while done == 0 or time.perf_counter() - t0 < seconds:
        model.swap(crops, "a2b", batch_size=batch)
        done += batch
    _sync(device)
    return done / (time.perf_counter() - t0)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=["64:0", "128:24"], metavar="RES:DECODER_WIDTH")
    parser.add_argument("--iterations", type=int, default=5, help="timed training iterations per resolution (CPU)")
    parser.add_argument("--seconds", type=float, default=3.0, help="time per inference measurement")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads; 0 = all cores")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    add_options(parser, "train")
    args = parser.parse_args()
    run = begin_run(args)
    set_threads(args.threads)
    devices = [torch.device("cpu")] if args.device in ("auto", "cpu") else []
    if args.device in ("auto", "cuda") and torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    cfg = TrainConfig()
    intro = (f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, batch {cfg.batch_size} per identity, "
             f"width {cfg.width}, latent {cfg.latent}")
    print(intro)
    # A markdown table; with --markdown it is written into docs/benchmarks.md (the one copy of these figures).
    lines = [f"| device | res : decoder_width | train it/s (batch {cfg.batch_size} + {cfg.batch_size}) | faces/s batch 1 "
             "| faces/s batch 32 |", "| --- | --- | --- | --- | --- |"]
    print("\n".join(lines))
    for device in devices:
        name = torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu"
        iters = args.iterations if device.type == "cpu" else max(20, args.iterations)
        for shape in args.shapes:
            res, decoder_width = (int(v) for v in shape.split(":"))
            train = bench_training(res, decoder_width, device, iters, replace(cfg, amp=True))
            b1 = bench_inference(res, decoder_width, device, 1, args.seconds, cfg)
            b32 = bench_inference(res, decoder_width, device, 32, args.seconds, cfg)
            lines.append(f"| {name} | {res} : {decoder_width} | {train:.2f} | {b1:.0f} | {b32:.0f} |")
            print(lines[-1], flush=True)
    publish(args, run, f"{intro}. Training = one full iteration of the real loop (random pixels: speed does not depend on "
            "content); inference = `SwapModel.swap` on 256-px aligned crops. `64 : 0` is the fast bundled model's shape, "
            "`128 : 24` the default's.\n\n" + "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
