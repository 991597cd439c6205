"""After training: calibrate P(fake) on the val split, fit familiarity, and state the calibration.

``models.detectors.calibration`` says what each fit is and why it uses unseen people. This module
feeds it the crops ``detector train`` already cut and writes the card's ``calibration`` and
``familiarity`` blocks. Calibration is fitted on the val split's clean videos (every compression), the
kind of clip a user scores: fitted over heavy DeeperForensics perturbations too, where any detector is
weak, its curve flattens and clean fakes land near 0.5. Familiarity takes every val video, so a
degraded but ordinary clip is not called unusual. The calibration figure quoted is measured on the **test** split (people in
neither train nor val), since the val split has been used to fit the calibration itself.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Iterator

import numpy as np

from pipeline.detection.corpus import CLEAN
from pipeline.detection.data import CropSet
from pipeline.detection.evaluate import video_means


@dataclass(frozen=True)
class CalledFake:
    """How many videos of each class a calibrated detector calls fake (video P = mean of its frames)."""

    split: str
    real_videos: int
    real_called_fake: int
    fake_videos: int
    fake_called_fake: int
    threshold: float

    @property
    def real_share(self) -> float | None:
        return self.real_called_fake / self.real_videos if self.real_videos else None


def _batches(images: np.ndarray, contract: Any, size: int = 64) -> Iterator[Any]:
    from models.inputs import to_input

    for i in range(0, len(images), size):
        yield to_input(images[i:i + size], contract)


def called_fake(crops: CropSet, probs: np.ndarray, split: str, threshold: float) -> CalledFake:
    means = video_means(crops, probs)  # the eval command's video P(fake)
    real = [v for v in means if crops.videos[v].label == 0]
    fake = [v for v in means if crops.videos[v].label == 1]
    return CalledFake(split, len(real), sum(means[v] >= threshold for v in real), len(fake),
                      sum(means[v] >= threshold for v in fake), threshold)


def calibrate(net: Any, train: CropSet, val: CropSet | None, test: CropSet | None, threshold: float) -> dict[str, Any]:
    """Fold the val-fitted calibration into ``net`` and return the card's two blocks."""
    from models.detectors.calibration import fit_familiarity, fit_platt, fold_platt, logits_and_features

    contract = net.input_contract()
    _, train_features = logits_and_features(net, _batches(train.images, contract))
    block: dict[str, Any] = {"threshold": threshold}
    if val is not None and len(set(val.labels.tolist())) == 2:
        val_logits, val_features = logits_and_features(net, _batches(val.images, contract))
        clean = np.asarray([val.videos[v].perturbation == CLEAN for v in val.video.tolist()], bool)
        if len(set(val.labels[clean].tolist())) < 2:
            clean[:] = True
        platt = fit_platt(val_logits[clean], val.labels[clean])
        fold_platt(net, platt)
        familiarity = fit_familiarity(train_features, val_features)
        block.update({"platt": {"a": round(platt.a, 5), "b": round(platt.b, 5)},
                      "fitted_on": f"val split: {int(clean.sum())} clean crops of "
                                   f"{len({v.identity for v in val.videos})} people"})
        reference = "val"
    else:
        familiarity = fit_familiarity(train_features, train_features)
        block.update({"platt": None, "fitted_on": "nothing: no val split with both classes (raw network output)"})
        reference = "train"
    if test is not None and len(test):
        test_logits, _ = logits_and_features(net, _batches(test.images, contract))
        block["test"] = asdict(called_fake(test, 1.0 / (1.0 + np.exp(-test_logits)), "test", threshold))
    return {"calibration": block, "familiarity": {**familiarity.as_card(), "threshold_from": reference}}
