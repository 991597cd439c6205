"""``facepipe detector train``: crops of the train split -> a network -> safetensors, card, TorchScript.

Validation on the val split after every epoch (frame-level AUC); the epoch with the best val AUC is
what gets saved (early-stopping by selection, as DeepfakeBench does). Real and fake crops are drawn
equally often by default, since a corpus has several fakes per real video.

After every epoch the whole training state is saved in DET_DIR (``pipeline.detection.resume``), so a
killed run re-run with the same command carries on from the last finished epoch: same batches, same
augmentation draws, same history, nothing done twice. The card records each resume.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from models.schedule import cosine_to_floor
from pipeline.config import Config
from pipeline.detection.augment import AugmentRates, CropOccluder, augment
from pipeline.detection.calibrate import calibrate
from pipeline.detection.corpus import CLEAN, Video, read_corpus, require_both_classes, require_split
from pipeline.detection.data import CropSet, Progress, gather
from pipeline.detection.metrics import figures
from pipeline.detection.plots import line_chart
from pipeline.detection.resume import TrainingState, discard_state, load_state, recipe, require_same_recipe, save_state
from pipeline.errors import FacepipeError
from pipeline.media.atomic import write_image

CURVES = "curves.png"


def training_videos(corpus_dir: Path, variants: str = "clean",
                    methods: list[str] | None = None) -> tuple[list[Video], list[Video], list[Video]]:
    """Train, val and test videos (every compression; perturbed and occluded variants too when
    ``variants`` is ``"all"``; fakes of ``methods`` only, when given); test is always clean and keeps
    every method. Bad corpora are refused with one line."""
    videos = read_corpus(corpus_dir)
    require_both_classes(videos, f"{corpus_dir}")
    if methods:
        known = {v.method for v in videos if v.label}
        unknown = [m for m in methods if m not in known]
        if unknown:
            raise FacepipeError(f"detector.methods: {unknown[0]!r} is not a method of {corpus_dir} "
                                f"(it has {', '.join(sorted(known))})")

    def wanted(v: Video) -> bool:
        return (variants == "all" or v.perturbation == CLEAN) and (not v.label or not methods or v.method in methods)

    train = [v for v in require_split(videos, "train", corpus_dir) if wanted(v)]
    require_both_classes(train, f"{corpus_dir}: the train split")
    val = [v for v in videos if v.split == "val" and wanted(v)]
    test = [v for v in videos if v.split == "test" and v.perturbation == CLEAN]
    return train, val, test


def to_batch(images: list[np.ndarray], contract: "Any") -> "Any":
    """Training crops through the network's input contract (the same path inference takes)."""
    from models.inputs import to_input

    return to_input(np.stack(images), contract)


def train_detector(corpus_dir: Path, out_dir: Path, config: Config, *, occlusion_augment: bool, cache_dir: Path | None,
                   progress: Progress | None = None, log: Callable[[str], None] = print,
                   restart: bool = False) -> dict[str, Any]:
    """Train (continuing a saved state in ``out_dir`` unless ``restart``), select the best epoch on val, save."""
    import torch

    from models.family import git_commit
    from models.detectors.checkpoint import build, save_detector

    cfg = config.detector
    crop_settings = {"size": 256, "coverage": config.align.coverage, "detect": config.detect.backend,
                     "landmarks": config.landmarks.backend}
    wanted = recipe(corpus_dir, dataclasses.asdict(cfg), crop_settings, occlusion_augment)
    if restart:
        discard_state(out_dir)
    state = load_state(out_dir)
    if state is not None:
        require_same_recipe(state, wanted, out_dir)
    train_videos, val_videos, test_videos = training_videos(corpus_dir, cfg.train_variants, cfg.methods)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.set_flush_denormal(True)
    train = gather(train_videos, config, cfg.frames_per_video, cfg.seed, cache_dir, progress, "train crops")
    require_crops(train, "train split")
    val = gather(val_videos, config, cfg.frames_per_video, cfg.seed, cache_dir, progress, "val crops") if val_videos else None
    if val is not None and len(set(val.labels.tolist())) < 2:
        log("the val split lacks a class; selecting the last epoch instead of the best val AUC")
        val = None

    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    net = build(cfg.architecture)
    contract = net.input_contract()
    rates = AugmentRates(cfg.flip, cfg.jpeg, cfg.blur, cfg.noise, cfg.colour, cfg.occlusion if occlusion_augment else 0.0,
                         cfg.rescale)
    occluder = CropOccluder() if occlusion_augment else None
    labels = train.labels
    weights = np.where(labels == 1, 0.5 / max(1, labels.sum()), 0.5 / max(1, (labels == 0).sum())) if cfg.balance \
        else np.full(len(labels), 1.0 / len(labels))
    weights = weights / weights.sum()
    steps_per_epoch = max(1, math.ceil(len(train) / cfg.batch_size))
    total = steps_per_epoch * cfg.epochs
    if cfg.max_steps:
        total = min(total, cfg.max_steps)
    optimiser = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: cosine_to_floor(step / max(1, total)))
    loss_fn = torch.nn.BCEWithLogitsLoss()
    history: dict[str, list[float]] = {"epoch": [], "train_loss": [], "val_loss": [], "val_auc": [], "val_eer": []}
    best: tuple[float, int, dict[str, Any]] | None = None
    step, epoch, before, resumes = 0, 0, 0.0, []
    if state is not None:
        net.load_state_dict(state.net)
        optimiser.load_state_dict(state.optimiser)
        schedule.load_state_dict(state.schedule)
        rng.bit_generator.state = state.numpy_rng
        torch.set_rng_state(state.torch_rng)
        history, step, epoch, before = state.history, state.step, state.epoch, state.seconds
        best = (state.best_score, state.best_epoch, state.best_weights)
        resumes = state.resumes + [{"epoch": epoch, "step": step}]
        log(f"resuming from epoch {epoch} (step {step} of {total}) saved in {out_dir}")
    started = time.monotonic()
    while step < total:
        epoch += 1
        net.train()
        losses = []
        for _ in range(min(steps_per_epoch, total - step)):
            pick = rng.choice(len(train), size=cfg.batch_size, p=weights)
            images = [augment(train.images[i], rng, rates, occluder, train.crop_boxes[i], train.crop_landmarks[i])
                      for i in pick]
            x = to_batch(images, contract)
            y = torch.from_numpy(labels[pick].astype(np.float32))
            loss = loss_fn(net(x), y)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            step += 1
            losses.append(float(loss.detach()))
            if progress:
                progress("train steps", step, total)
        record = {"epoch": epoch, "train_loss": float(np.mean(losses))}
        if val is not None:
            probs = predict(net, val.images)
            figs = figures(val.labels, probs, cfg.threshold)
            record.update({"val_loss": bce(val.labels, probs), "val_auc": figs["auc"], "val_eer": figs["eer"]})
        for key in history:
            history[key].append(record.get(key, float("nan")))
        score = record.get("val_auc") if val is not None else epoch
        log(f"epoch {epoch}: loss {record['train_loss']:.4f}" + (f", val AUC {record['val_auc']:.4f}, EER {record['val_eer']:.4f}"
                                                               if val is not None else ""))
        if best is None or (score is not None and score >= best[0]):
            best = (float(score or 0.0), epoch, {k: v.detach().clone() for k, v in net.state_dict().items()})
        save_state(out_dir, TrainingState(
            recipe=wanted, epoch=epoch, step=step, seconds=before + time.monotonic() - started, history=history,
            best_score=best[0], best_epoch=best[1], best_weights=best[2], net=net.state_dict(),
            optimiser=optimiser.state_dict(), schedule=schedule.state_dict(), numpy_rng=rng.bit_generator.state,
            torch_rng=torch.get_rng_state(), resumes=resumes))
    assert best is not None
    net.load_state_dict(best[2])
    net.eval()
    test = gather(test_videos, config, cfg.eval_frames, cfg.seed + 1, cache_dir, progress, "test crops") \
        if test_videos else None  # the eval command's sampling, so its cache serves both
    reliability = calibrate(net, train, val, test, cfg.threshold)
    log(calibration_line(reliability["calibration"]))
    out_dir.mkdir(parents=True, exist_ok=True)
    write_image(out_dir / CURVES, curves_png(history))
    card = {
        "corpus": str(Path(corpus_dir).resolve()),
        "data": {"train_videos": len(train_videos), "val_videos": len(val_videos), "train_crops": len(train),
                 "train_real": int((labels == 0).sum()), "train_fake": int((labels == 1).sum()),
                 "val_crops": len(val) if val is not None else 0, "frames_per_video": cfg.frames_per_video,
                 "no_face_videos": train.no_face + (val.no_face if val is not None else []),
                 "methods": sorted({v.method for v in train_videos}),
                 "compressions": sorted({v.compression for v in train_videos}),
                 "variants": sorted({v.perturbation for v in train_videos})},
        "splits": {"train": sorted({v.identity for v in train_videos}), "val": sorted({v.identity for v in val_videos}),
                   "test": sorted({v.identity for v in test_videos})},
        "figures": {"best_epoch": best[1], "val_auc": history["val_auc"][best[1] - 1] if val is not None else None,
                    "val_eer": history["val_eer"][best[1] - 1] if val is not None else None,
                    "train_seconds": round(before + time.monotonic() - started, 1), "steps": step},
        **reliability,
        "resumed": resumes,
        "history": history,
        "training": {**dataclasses.asdict(cfg), "occlusion_augment": occlusion_augment},
        "crops": crop_settings,
        "git_commit": git_commit(),
    }
    save_detector(net, cfg.architecture, out_dir, _clean(card))
    discard_state(out_dir)  # after the card: a kill before this line resumes at the end and saves again
    return card


def calibration_line(block: dict[str, Any]) -> str:
    """One line for the log: what the calibration was fitted on and how it does on the test split."""
    line = f"calibrated on {block['fitted_on']}" if block.get("platt") else f"not calibrated ({block['fitted_on']})"
    test = block.get("test")
    if test and test["real_videos"]:
        line += (f"; test split: {test['real_called_fake']} of {test['real_videos']} real and {test['fake_called_fake']} "
                 f"of {test['fake_videos']} fake videos called fake")
    return line


def require_crops(crops: CropSet, what: str) -> None:
    if len(set(crops.labels.tolist())) < 2:
        raise FacepipeError(f"{what}: faces were found in only one class of videos "
                            f"({len(crops.no_face)} videos without a face); cannot train")


def predict(net: Any, images: np.ndarray, batch: int = 64) -> np.ndarray:
    import torch

    from models.inputs import to_input

    net.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(images), batch):
            out.append(torch.sigmoid(net(to_input(images[i:i + batch], net.input_contract()))).numpy())
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)


def bce(labels: np.ndarray, probs: np.ndarray) -> float:
    p = np.clip(probs, 1e-6, 1 - 1e-6)
    return float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)))


def curves_png(history: dict[str, list[float]]) -> np.ndarray:
    epochs = np.asarray(history["epoch"], np.float64)
    loss = line_chart({"train loss": (epochs, history["train_loss"]), "val loss": (epochs, history["val_loss"])},
                      "loss (BCE)", "epoch", y_range=(0.0, max(0.8, float(np.nanmax(history["train_loss"] + [0.0])))))
    auc = line_chart({"val AUC": (epochs, history["val_auc"]), "val EER": (epochs, history["val_eer"])},
                     "validation (frame level)", "epoch", y_range=(0.0, 1.0))
    return np.concatenate([loss, auc], axis=0)


def _clean(value: Any) -> Any:
    """NaN -> None so the card is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value
