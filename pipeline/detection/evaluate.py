"""``facepipe detector eval``: the test split, frame and video level, sliced like DeeperForensics' table.

The test split is identity-disjoint from train and val (the corpus splits by identity), so no face
scored here was seen in training. Slices:

* ``overall``: every clean test video (all compressions);
* ``compression``: clean videos of one compression (c0 / c23 / c40);
* ``method``: the real videos plus the fakes of one method, clean, at c23 when the corpus has c23;
* ``perturbation``: the real and fake videos carrying one perturbation (type and level), the robustness rows;
  their clean counterparts at the same compression are the ``clean`` row next to them.

A video's P(fake) is the mean of its sampled frames'. Videos with no face in any sampled frame are
listed and left out (never scored 0.5).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import Config
from pipeline.detection.corpus import CLEAN, Video, read_corpus, require_both_classes, require_split
from pipeline.detection.data import CropSet, Progress, gather
from pipeline.detection.metrics import figures, roc_points
from pipeline.detection.plots import line_chart

ROC_PNG = "roc.png"
EVAL_JSON = "eval.json"
TABLE_MD = "robustness.md"


def test_videos(corpus_dir: Path) -> list[Video]:
    videos = read_corpus(corpus_dir)
    require_both_classes(videos, f"{corpus_dir}")
    test = require_split(videos, "test", corpus_dir)
    require_both_classes(test, f"{corpus_dir}: the test split")
    return test


def slice_figures(videos: list[Video], crops: CropSet, probs: np.ndarray, chosen: list[int], threshold: float) -> dict[str, Any]:
    """Frame- and video-level figures over the videos ``chosen`` (indices into ``videos``)."""
    keep = np.isin(crops.video, chosen)
    frame = figures(crops.labels[keep], probs[keep], threshold)
    video_scores = video_means(crops, probs)
    scored = [i for i in chosen if i in video_scores]
    video = figures(np.asarray([videos[i].label for i in scored]), np.asarray([video_scores[i] for i in scored]), threshold)
    return {"frame": frame, "video": video}


def video_means(crops: CropSet, probs: np.ndarray) -> dict[int, float]:
    sums: dict[int, list[float]] = defaultdict(list)
    for v, p in zip(crops.video.tolist(), probs.tolist()):
        sums[v].append(p)
    return {v: float(np.mean(ps)) for v, ps in sums.items()}


def slices(videos: list[Video]) -> dict[str, dict[str, list[int]]]:
    """Named groups of video indices: overall, by compression, method and perturbation."""
    clean = [i for i, v in enumerate(videos) if v.perturbation == CLEAN]
    out: dict[str, dict[str, list[int]]] = {"overall": {"all": clean}, "compression": {}, "method": {}, "perturbation": {}}
    for c in sorted({videos[i].compression for i in clean}):
        out["compression"][c] = [i for i in clean if videos[i].compression == c]
    compressions = {videos[i].compression for i in clean}
    at = "c23" if "c23" in compressions else None
    base = [i for i in clean if at is None or videos[i].compression == at]
    reals = [i for i in base if videos[i].label == 0]
    for m in sorted({videos[i].method for i in base if videos[i].label == 1}):
        out["method"][m] = reals + [i for i in base if videos[i].label == 1 and videos[i].method == m]
    perturbed = [i for i, v in enumerate(videos) if v.perturbation != CLEAN]
    if perturbed:
        pcomp = {videos[i].compression for i in perturbed}
        out["perturbation"]["clean"] = [i for i in clean if videos[i].compression in pcomp]
        for p in sorted({videos[i].perturbation for i in perturbed}):
            out["perturbation"][p] = [i for i in perturbed if videos[i].perturbation == p]
    return out


def evaluate(detector: Any, corpus_dir: Path, config: Config, cache_dir: Path | None,
             progress: Progress | None = None) -> tuple[dict[str, Any], CropSet, np.ndarray]:
    """Every figure, and the crops and scores behind them (for the ROC PNG and the attack bench)."""
    cfg = config.detector
    videos = test_videos(corpus_dir)
    crops = gather(videos, config, cfg.eval_frames, cfg.seed + 1, cache_dir, progress, "test crops")
    probs = detector.fake_probability(crops.images) if len(crops) else np.zeros(0)
    report: dict[str, Any] = {"corpus": str(Path(corpus_dir).resolve()), "architecture": detector.architecture,
                              "test_videos": len(videos), "test_crops": len(crops), "frames_per_video": cfg.eval_frames,
                              "threshold": cfg.threshold, "no_face_videos": crops.no_face, "slices": {}}
    for group, named in slices(videos).items():
        report["slices"][group] = {name: slice_figures(videos, crops, probs, chosen, cfg.threshold)
                                   for name, chosen in named.items() if chosen}
    return report, crops, probs


def roc_png(videos: list[Video], crops: CropSet, probs: np.ndarray, title: str) -> np.ndarray:
    """Frame-level ROC of every clean compression, and the video-level ROC overall."""
    series = {}
    named = slices(videos)
    for name, chosen in [("all", named["overall"]["all"]), *named["compression"].items()]:
        keep = np.isin(crops.video, chosen)
        labels = crops.labels[keep]
        if len(set(labels.tolist())) == 2:
            fpr, tpr = roc_points(labels, probs[keep])
            auc = figures(labels, probs[keep])["auc"]
            series[f"frame {name} AUC {auc:.3f}"] = (fpr, tpr)
    means = video_means(crops, probs)
    clean = [i for i in named["overall"]["all"] if i in means]
    labels = np.asarray([videos[i].label for i in clean])
    if len(set(labels.tolist())) == 2:
        scores = np.asarray([means[i] for i in clean])
        fpr, tpr = roc_points(labels, scores)
        series[f"video all AUC {figures(labels, scores)['auc']:.3f}"] = (fpr, tpr)
    return line_chart(series, title, "false positive rate (y: true positive rate)", (0.0, 1.0), (0.0, 1.0), diagonal=True)


def table_rows(report: dict[str, Any]) -> list[tuple[str, str, str, str, str, str, str]]:
    """(group, slice, videos, frame AUC, video AUC, accuracy, EER) per slice, for the console and markdown."""
    rows = []
    for group, named in report["slices"].items():
        for name, figs in named.items():
            f, v = figs["frame"], figs["video"]
            rows.append((group, name, f"{v['real']}/{v['fake']}", _fmt(f["auc"]), _fmt(v["auc"]), _fmt(f["accuracy"]),
                         _fmt(f["eer"])))
    return rows


def markdown(report: dict[str, Any]) -> str:
    head = "| slice | group | videos real/fake | frame AUC | video AUC | frame acc | frame EER |\n|---|---|---|---|---|---|---|\n"
    return head + "".join(f"| {name} | {group} | {n} | {fa} | {va} | {acc} | {eer} |\n"
                          for group, name, n, fa, va, acc, eer in table_rows(report))


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"
