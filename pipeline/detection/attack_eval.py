"""The occlusion attack measured against a detector, in crop space (``bench/attack.py``).

Each test face is its aligned crop; the occlusion stage runs on the crop as if it were the frame
(identity alignment), so the classifier re-scores exactly the pixels the attack wrote. Rows:

* clean: frame AUC of real vs fake crops;
* random occluders of each kind at levels 1-5, drawn over real and fake faces alike (the face box);
* the attack on fake faces at each budget: success rate among faces the detector called fake, mean
  queries, mean occluded share of the face box, and the AUC with the attacked fakes (reals clean).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from pipeline.detection.augment import CropOccluder
from pipeline.detection.data import CropSet
from pipeline.detection.metrics import figures
from pipeline.frame import Face, Frame
from pipeline.stage import StageContext

IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


@dataclass
class AttackRow:
    kind: str
    level: int
    budget: int
    auc: float | None
    success: float | None
    attacked: int
    fooled: int
    queries: float | None
    area: float | None


def random_occluder_auc(score: Callable[[np.ndarray], np.ndarray], crops: CropSet, kind: str, level: int,
                        seed: int = 0) -> tuple[float | None, float]:
    """AUC when every face carries one random occluder of ``kind`` at ``level``; and the mean share covered."""
    occluder = CropOccluder()
    rng = np.random.default_rng([seed, level, ord(kind[0])])
    images, areas = [], []
    for image, box, marks in zip(crops.images, crops.crop_boxes, crops.crop_landmarks):
        out, area = occluder(image, box, marks, rng, kind=kind, level=level)
        images.append(out)
        areas.append(area)
    return figures(crops.labels, score(np.stack(images)))["auc"], float(np.mean(areas))


def attack_fakes(classifier: str, crops: CropSet, budget: int, kind: str = "block", level: int = 3,
                 threshold: float = 0.5, seed: int = 0) -> tuple[AttackRow, np.ndarray]:
    """Run the occlusion stage in attack mode on every fake crop; returns the row and the attacked crops."""
    from stages.occlude import OccludeConfig, OccludeStage

    stage = OccludeStage(OccludeConfig(mode="attack", kind=kind, anchor="face", level=level, seed=seed, budget=budget,
                                       batch=16, threshold=threshold, classifier=classifier))
    stage.open(StageContext(video=None, config=stage.config, device="cpu", warn=lambda message: None))  # type: ignore[arg-type]
    attacked = crops.images.copy()
    for i in np.nonzero(crops.labels == 1)[0]:
        face = Face(box=crops.crop_boxes[i], landmarks=crops.crop_landmarks[i], track_id=int(i), matrix=IDENTITY,
                    crop=attacked[i])
        frame = Frame(index=int(i), pts=0.0, image=attacked[i].copy(), faces=[face])
        stage.process([frame])
        attacked[i] = frame.image
    summary = stage.summary()
    found = summary.attack if summary is not None else None
    if summary is None or found is None:  # no fake crop to attack
        return AttackRow(kind, level, budget, None, None, 0, 0, None, None), attacked
    return AttackRow(kind, level, budget, None, found.success_rate, found.attacked, found.fooled,
                     found.queries_mean, summary.mean_area), attacked


def attack_table(classifier: str, score: Callable[[np.ndarray], np.ndarray], crops: CropSet, budgets: list[int],
                 kinds: list[str], levels: list[int], attack_kinds: list[str], attack_level: int,
                 log: Callable[[str], None] = print) -> dict[str, Any]:
    clean = figures(crops.labels, score(crops.images))["auc"]
    log(f"clean AUC {clean}")
    random_rows = []
    for kind in kinds:
        for level in levels:
            auc, area = random_occluder_auc(score, crops, kind, level)
            random_rows.append({"kind": kind, "level": level, "auc": auc, "area": round(area, 4)})
            log(f"random {kind} L{level}: AUC {auc} ({area:.1%} of the face box)")
    attack_rows = []
    for kind in attack_kinds:
        for budget in budgets:
            row, attacked = attack_fakes(classifier, crops, budget, kind, attack_level)
            row.auc = figures(crops.labels, score(attacked))["auc"]
            attack_rows.append(row.__dict__)
            log(f"attack {kind} budget {budget}: AUC {row.auc}, success {row.success}, queries {row.queries}, area {row.area}")
    return {"clean_auc": clean, "random": random_rows, "attack": attack_rows, "attack_kinds": attack_kinds,
            "attack_level": attack_level, "faces": int(len(crops)), "fake_faces": int(crops.labels.sum())}
