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

Several corpora (``facepipe detector eval DET CORPUS CORPUS ...``, ``bench/cross_corpus.py``) give one
cross-corpus table, DeepfakeBench's headline shape turned on its side: a block of rows per test corpus
(overall, compression, method, perturbation), columns frame AUC, video AUC, frame EER and accuracy. Each
row says which split was scored and whether the corpus is the detector's own training corpus (its card's
``corpus``: "same corpus", in-corpus) or another ("cross-corpus"). ``split="all"`` scores every video of a
corpus of people the detector never saw; the training corpus is still scored on its test split only (the
only videos of it the detector never saw), and the table says so.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import Config
from pipeline.detection.corpus import CLEAN, Video, read_corpus, require_both_classes, require_split
from pipeline.detection.data import CropSet, Progress, gather
from pipeline.detection.metrics import figures, roc_points
from pipeline.detection.plots import line_chart
from pipeline.errors import FacepipeError

ROC_PNG = "roc.png"
EVAL_JSON = "eval.json"
TABLE_MD = "robustness.md"
CROSS_JSON = "cross-corpus.json"
CROSS_MD = "cross-corpus.md"
SPLITS = ("test", "all")  # what ``--split`` may name: the test split, or every video of the corpus
SAME, CROSS, UNKNOWN = "same corpus", "cross-corpus", "unknown"  # a corpus against the detector's training corpus


def test_videos(corpus_dir: Path) -> list[Video]:
    return scored_videos(corpus_dir, "test")


def scored_videos(corpus_dir: Path, split: str = "test") -> list[Video]:
    """The videos ``split`` scores (``all``: every one); a corpus without them is a one-line error."""
    videos = read_corpus(corpus_dir)
    require_both_classes(videos, f"{corpus_dir}")
    if split == "all":
        return videos
    try:
        chosen = require_split(videos, split, corpus_dir)
    except FacepipeError as error:
        raise FacepipeError(f"{error}; score a corpus the detector never saw on every video with --split all") from None
    require_both_classes(chosen, f"{corpus_dir}: the {split} split")
    return chosen


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


VS_CLEAN_REALS = "vs clean reals"  # a perturbation row whose reals are the clean ones (none were perturbed)


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
            chosen = [i for i in perturbed if videos[i].perturbation == p]
            if {videos[i].label for i in chosen} == {1}:
                # Perturbed fakes only (DeeperForensics perturbs no reals; a random mix draws a type per
                # video): scored against the clean reals of the same compressions, and named so.
                comps = {videos[i].compression for i in chosen}
                borrowed = [i for i in clean if videos[i].label == 0 and videos[i].compression in comps]
                if borrowed:
                    out["perturbation"][f"{p} {VS_CLEAN_REALS}"] = borrowed + chosen
                    continue
            out["perturbation"][p] = chosen
    return out


def evaluate(detector: Any, corpus_dir: Path, config: Config, cache_dir: Path | None,
             progress: Progress | None = None, split: str = "test", videos: list[Video] | None = None,
             what: str | None = None) -> tuple[dict[str, Any], CropSet, np.ndarray]:
    """Every figure, and the crops and scores behind them (for the ROC PNG and the attack bench).
    ``videos``: the corpus's videos of ``split`` already read (:func:`scored_videos`)."""
    cfg = config.detector
    if videos is None:
        videos = scored_videos(corpus_dir, split)
    crops = gather(videos, config, cfg.eval_frames, cfg.seed + 1, cache_dir, progress, what or f"{split} crops")
    probs = detector.fake_probability(crops.images) if len(crops) else np.zeros(0)
    counts = {"test_videos": len(videos), "test_crops": len(crops)} if split == "test" else {}
    report: dict[str, Any] = {"corpus": str(Path(corpus_dir).resolve()), "architecture": detector.architecture,
                              "split": split, **counts, "videos": len(videos), "crops": len(crops),
                              "frames_per_video": cfg.eval_frames,
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


# -- several corpora: one cross-corpus table ---------------------------------------------------------

CROSS_HEADER = ("corpus", "split", "vs training", "group", "slice", "videos real/fake", "frame AUC", "video AUC",
                "frame EER", "frame acc")


def unique_names(paths: list[Path]) -> list[str]:
    """Each corpus's name in the table: its folder's name; a name met again gets ``-2``, ``-3``, ..."""
    names: list[str] = []
    for path in paths:
        base = Path(path).resolve().name or str(path)
        name, n = base, 1
        while name in names:
            n += 1
            name = f"{base}-{n}"
        names.append(name)
    return names


@dataclass(frozen=True)
class CorpusPlan:
    """A corpus to score, read and checked (manifest, split, both classes) before the detector scores anything."""

    name: str  # in the table
    path: Path
    split: str  # the split scored: "test" or "all"
    relation: str  # SAME (the detector's training corpus), CROSS, or UNKNOWN (the card names no corpus)
    seen_people: int  # identities among the scored videos that the detector trained or validated on (its card)
    videos: list[Video] = field(repr=False)


def plan_corpora(paths: list[Path], split: str, card: dict[str, Any]) -> list[CorpusPlan]:
    """Name, relation and videos of every corpus, against the detector's card (its training record).
    The training corpus is scored on its test split even with ``split="all"``: the rest it trained on."""
    if split not in SPLITS:
        raise FacepipeError(f"split {split!r}: use one of {', '.join(SPLITS)}")
    trained_on = card.get("corpus")
    home = Path(trained_on).resolve() if trained_on else None
    splits = card.get("splits") if isinstance(card.get("splits"), dict) else {}
    seen = {str(i) for key in ("train", "val") for i in (splits.get(key) or []) if i}
    plans = []
    for name, path in zip(unique_names(paths), paths):
        path = Path(path)
        relation = UNKNOWN if home is None else SAME if path.resolve() == home else CROSS
        chosen = "test" if relation == SAME else split
        videos = scored_videos(path, chosen)
        people = {v.identity for v in videos if v.identity}
        plans.append(CorpusPlan(name, path, chosen, relation, len(people & seen), videos))
    return plans


@dataclass(frozen=True)
class SliceRow:
    """One slice's figures (frame and video level) of one corpus."""

    group: str  # overall, compression, method, perturbation
    slice: str
    real: int  # videos with a face
    fake: int
    frame_auc: float | None
    video_auc: float | None
    frame_eer: float | None
    frame_accuracy: float | None


@dataclass(frozen=True)
class CorpusResult:
    """One corpus's block of the table; ``report`` is what ``eval.json`` holds for that corpus alone."""

    name: str
    path: str
    split: str
    relation: str
    seen_people: int
    report: dict[str, Any]

    def rows(self) -> list[SliceRow]:
        out = []
        for group, named in self.report["slices"].items():
            for name, figs in named.items():
                f, v = figs["frame"], figs["video"]
                out.append(SliceRow(group, name, v["real"], v["fake"], f["auc"], v["auc"], f["eer"], f["accuracy"]))
        return out

    @property
    def vs_training(self) -> str:
        return self.relation + (f", {self.seen_people} people seen in training" if self.seen_people else "")


@dataclass(frozen=True)
class CrossCorpusReport:
    """One detector on several corpora: the cross-corpus table and, per corpus, its full report."""

    detector: str
    architecture: str
    trained_on: str | None  # the card's training corpus
    frames_per_video: int
    threshold: float
    corpora: list[CorpusResult]

    def cells(self) -> list[tuple[str, ...]]:
        """The table's rows as text (CROSS_HEADER's columns): a block per corpus, then, with two or more
        cross-corpus corpora, their unweighted mean of the overall figures (DeepfakeBench's "Avg.")."""
        rows = [(c.name, c.split, c.vs_training, r.group, r.slice, f"{r.real}/{r.fake}", _fmt(r.frame_auc),
                 _fmt(r.video_auc), _fmt(r.frame_eer), _fmt(r.frame_accuracy))
                for c in self.corpora for r in c.rows()]
        cross = [r for c in self.corpora if c.relation == CROSS for r in c.rows() if r.group == "overall"]
        if len(cross) >= 2:
            rows.append((f"mean of {len(cross)} corpora", "", CROSS, "overall", "all",
                         f"{sum(r.real for r in cross)}/{sum(r.fake for r in cross)}",
                         *(_fmt(_mean([getattr(r, k) for r in cross])) for k in ("frame_auc", "video_auc", "frame_eer",
                                                                                 "frame_accuracy"))))
        return rows

    def markdown(self) -> str:
        trained = f"trained on `{Path(self.trained_on).name}`" if self.trained_on else "training corpus unknown"
        return (f"Detector `{self.detector}` ({self.architecture}, {trained}), {self.frames_per_video} frames per video, "
                f"threshold {self.threshold}.\n\n" + markdown_table(CROSS_HEADER, self.cells()))

    def to_json(self) -> dict[str, Any]:
        return {"detector": self.detector, "architecture": self.architecture, "trained_on": self.trained_on,
                "frames_per_video": self.frames_per_video, "threshold": self.threshold,
                "table": {"header": list(CROSS_HEADER), "rows": [list(r) for r in self.cells()]},
                "corpora": [{"name": c.name, "path": c.path, "split": c.split, "relation": c.relation,
                             "seen_people": c.seen_people, "report": c.report} for c in self.corpora]}


def evaluate_corpora(detector: Any, detector_dir: Path, plans: list[CorpusPlan], config: Config,
                     cache_for: Any, progress: Progress | None = None) -> CrossCorpusReport:
    """Score every planned corpus (``cache_for(corpus_path)``: its crop cache) into one report."""
    results = []
    for plan in plans:
        report, _, _ = evaluate(detector, plan.path, config, cache_for(plan.path), progress, plan.split, plan.videos,
                                f"{plan.name} crops")
        report["detector"] = str(Path(detector_dir).resolve())
        results.append(CorpusResult(plan.name, str(plan.path.resolve()), plan.split, plan.relation, plan.seen_people,
                                    report))
    card = detector.card.record if getattr(detector, "card", None) is not None else {}
    return CrossCorpusReport(str(detector_dir), detector.architecture, card.get("corpus"), config.detector.eval_frames,
                             config.detector.threshold, results)


def markdown_table(header: tuple[str, ...] | list[str], rows: list[tuple[str, ...]]) -> str:
    def cell(value: object) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]) + "\n"


def _mean(values: list[float | None]) -> float | None:
    """None when any corpus lacks the figure: a mean over some of them would read as one over all."""
    return None if not values or any(v is None for v in values) else round(float(np.mean(values)), 4)
