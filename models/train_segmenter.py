"""Train the occlusion segmenter (``models.segmenter``) on facesets with synthetic occluders.

Usage::

    python -m models.train_segmenter FACESET [FACESET ...] -o models/segmenter \
        [--objects 'occluders/mask_*.jpg'] [--exclude CLIP:FIRST-LAST ...] [--minutes 15] [--resolution 64] [--seed 0]

Every crop's face mask (the faceset PNG's alpha: the landmark hull) is the label where nothing covers
it; each batch composites fresh synthetic occluders (``models.synthetic_occluders``) and removes them
from the label. ``--exclude`` drops frames of a clip that contain real occluders (a real hand under
a hull label would teach the network that hands are face). Writes the weights every two minutes and
at the end (atomically), with a card recording data, settings and the final loss.
"""

from __future__ import annotations

import argparse
import glob
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from models.schedule import cosine_to_floor
from models.segmenter import SegmenterNet, save_segmenter
from pipeline.media.faceset import list_faces
from pipeline.media.occluder_images import load_object
from models.synthetic_occluders import KIND_WEIGHTS, occlude_sample

CROP = 128  # synthesis size; the network sees it shrunk to --resolution (anti-aliased occluder edges)


def load_crops(dirs: list[str], exclude: list[str]) -> tuple[np.ndarray, dict[str, int]]:
    """BGRA crops at CROP px from every faceset, minus the excluded frame ranges."""
    ranges: dict[str, list[tuple[int, int]]] = {}
    for item in exclude:
        clip, span = item.rsplit(":", 1)
        first, last = (int(v) for v in span.split("-"))
        ranges.setdefault(clip, []).append((first, last))
    crops, clips = [], {}
    for d in dirs:
        entries, _ = list_faces(d)
        for entry in entries:
            if any(a <= entry.frame <= b for a, b in ranges.get(entry.clip, [])):
                continue
            img = cv2.imread(str(entry.path), cv2.IMREAD_UNCHANGED)
            if img is None or img.ndim != 3 or img.shape[2] != 4:
                continue
            crops.append(cv2.resize(img, (CROP, CROP), interpolation=cv2.INTER_AREA))
            clips[entry.clip] = clips.get(entry.clip, 0) + 1
    return np.stack(crops), clips


def augment(crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Flip, a small similarity jitter (alignment noise), brightness/contrast: image and alpha together."""
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    matrix = cv2.getRotationMatrix2D((CROP / 2, CROP / 2), rng.uniform(-8, 8), rng.uniform(0.93, 1.07))
    matrix[:, 2] += rng.uniform(-0.04, 0.04, 2) * CROP
    crop = cv2.warpAffine(np.ascontiguousarray(crop), matrix, (CROP, CROP), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT)
    bgr = crop[..., :3].astype(np.float32) * rng.uniform(0.7, 1.3) + rng.uniform(-25, 25)
    bgr = bgr * rng.uniform(0.9, 1.1, 3)  # white balance
    return np.dstack([np.clip(bgr, 0, 255).astype(np.uint8), crop[..., 3]])


def batch(crops: np.ndarray, size: int, resolution: int, rng: np.random.Generator, objects: list) -> tuple[torch.Tensor, torch.Tensor]:
    images, masks = [], []
    for i in rng.integers(len(crops), size=size):
        crop = augment(crops[i], rng)
        image, visible = occlude_sample(crop[..., :3], crop[..., 3].astype(np.float32) / 255, rng, crops, objects)
        if rng.random() < 0.25:
            image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.5, 2.0))
        images.append(cv2.resize(image, (resolution, resolution), interpolation=cv2.INTER_AREA))
        masks.append(cv2.resize(visible, (resolution, resolution), interpolation=cv2.INTER_AREA))
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float().div_(255.0)
    y = torch.from_numpy(np.stack(masks))[:, None].float()
    return x, y


def loss_fn(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, target)
    p = torch.sigmoid(logits)
    dice = 1 - (2 * (p * target).sum((1, 2, 3)) + 1) / (p.sum((1, 2, 3)) + target.sum((1, 2, 3)) + 1)
    return bce + dice.mean()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("facesets", nargs="+")
    parser.add_argument("-o", "--output", required=True, help="model folder (segmenter.safetensors + segmenter.json)")
    parser.add_argument("--exclude", action="append", default=[], metavar="CLIP:FIRST-LAST")
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--objects", default="", help="glob of object photos to occlude with (none: drawn occluders only)")
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    crops, clips = load_crops(args.facesets, args.exclude)
    objects = [load_object(p) for p in sorted(glob.glob(args.objects))] if args.objects else []
    net = SegmenterNet(args.resolution, args.width)
    optimiser = torch.optim.Adam(net.parameters(), lr=args.lr)
    output = Path(args.output) / f"{SegmenterNet.file_stem}.safetensors"
    started = last_save = time.monotonic()
    step, recent = 0, []
    deadline = started + args.minutes * 60

    def save() -> None:
        card = {"description": "visible-face segmenter (XSeg-like U-Net) for occlusion-aware blending",
                "output": "probability that a pixel is visible face (1) rather than occluder/background (0)",
                "trained_on": {"facesets": args.facesets, "clips": clips, "faces": int(len(crops)),
                               "excluded": args.exclude},
                "synthetic_occluders": KIND_WEIGHTS, "objects": [o.path for o in objects],
                "settings": {k: v for k, v in vars(args).items() if k not in ("facesets", "output")},
                "iterations": step, "minutes": round((time.monotonic() - started) / 60, 1),
                "final_loss": round(float(np.mean(recent)) if recent else float("nan"), 4)}
        save_segmenter(net, output, card)

    net.train()
    while time.monotonic() < deadline:
        progress = (time.monotonic() - started) / (deadline - started)
        for group in optimiser.param_groups:  # over the time budget
            group["lr"] = args.lr * cosine_to_floor(progress)
        x, y = batch(crops, args.batch, args.resolution, rng, objects)
        loss = loss_fn(net(x), y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        step += 1
        recent = (recent + [float(loss.detach())])[-100:]
        if step % 50 == 0:
            print(f"step {step} loss {np.mean(recent):.4f} {time.monotonic() - started:.0f}s", flush=True)
        if time.monotonic() - last_save > 120:
            net.eval()
            save()
            net.train()
            last_save = time.monotonic()
    net.eval()
    save()
    print(f"done: {step} steps, loss {np.mean(recent):.4f}, {len(crops)} faces")


if __name__ == "__main__":
    main()
