"""Fits ``models/bundled_bank/likeness.json`` (``models.likeness``): P(woman) from dlib's embedding.

    python -m stages.faces.likeness_fit ../shared/media/people ../shared/media/people_extra

Labels come from the clips' names (``man``/``boy`` or ``woman``/``girl``, as ``../shared/media``'s
README describes each person); the held-out clips stay out (``HELD_OUT``). Here, not in ``models/``,
because it finds the faces with this floor's detector and landmarks.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from models.likeness import BUNDLED_LIKENESS
from pipeline.media.atomic import write_json

HELD_OUT = ("lp_d18", "single_face", "retalking_face2", "retalking_face5", "facenet_crowd")
FRAMES_PER_CLIP = 6


def label_of(name: str) -> int | None:
    """1 = woman, 0 = man, None = the name says neither (or both)."""
    words = set(name.lower().replace("-", "_").split("_"))
    woman, man = bool(words & {"woman", "girl"}), bool(words & {"man", "boy"})
    return None if woman == man else int(woman)


def clip_embeddings(path: Path, count: int) -> list[np.ndarray]:
    """Embeddings of the largest face in ``count`` frames spread over a clip."""
    import cv2

    from stages.faces.artefacts import default_detector, default_landmarker, largest_face
    from stages.faces.identity import face_embedding

    detector, landmarker = default_detector(), default_landmarker()
    capture = cv2.VideoCapture(str(path))
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    out = []
    for index in np.linspace(0, max(total - 1, 0), count).round().astype(int):
        capture.set(cv2.CAP_PROP_POS_FRAMES, int(index))
        ok, image = capture.read()
        face = largest_face(image, detector) if ok else None
        if face is not None:
            out.append(face_embedding(image, np.asarray(landmarker(image, face), np.float64)))
    capture.release()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fit the man/woman likeness model on labelled people clips.")
    parser.add_argument("folders", nargs="+", type=Path, help="folders of one-person clips, sex in each name")
    parser.add_argument("-o", "--output", type=Path, default=BUNDLED_LIKENESS)
    args = parser.parse_args(argv)
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, cross_val_score

    rows, labels, groups, used = [], [], [], {}
    for clip in sorted(p for folder in args.folders for p in folder.glob("*.mp4")):
        label = label_of(clip.stem)
        if label is None or any(clip.stem.startswith(name) for name in HELD_OUT):
            continue
        embeddings = clip_embeddings(clip, FRAMES_PER_CLIP)
        rows += embeddings
        labels += [label] * len(embeddings)
        groups += [len(used)] * len(embeddings)
        used[clip.name] = "woman" if label else "man"
        print(f"{clip.name}: {len(embeddings)} faces", file=sys.stderr)
    x, y = np.asarray(rows), np.asarray(labels)
    model = LogisticRegression(C=1.0, max_iter=2000)
    folds = GroupKFold(n_splits=5)  # a person's faces never sit on both sides of a fold
    accuracy = cross_val_score(model, x, y, groups=groups, cv=folds).mean()
    model.fit(x, y)
    record = {"what": "P(woman) = sigmoid(embedding . weights + bias) on dlib's 128-D face embedding",
              "weights": [round(float(w), 6) for w in model.coef_[0]], "bias": round(float(model.intercept_[0]), 6),
              "faces": len(y), "clips": used, "held_out": list(HELD_OUT),
              "accuracy_5fold_by_person": round(float(accuracy), 3), "made_by": "python -m stages.faces.likeness_fit " +
              " ".join(str(f) for f in args.folders)}
    write_json(args.output, record, indent=1)  # atomic: an interrupted fit leaves the old file
    print(f"wrote {args.output}: {len(y)} faces of {len(used)} people, 5-fold accuracy by person {accuracy:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
