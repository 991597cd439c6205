"""AUC, EER and accuracy of P(fake) scores (scikit-learn does the ROC)."""

from __future__ import annotations

from typing import Any

import numpy as np


def figures(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> dict[str, Any]:
    """``auc``, ``eer``, ``accuracy`` and counts; AUC/EER are None when one class is missing."""
    from sklearn.metrics import roc_auc_score, roc_curve

    labels = np.asarray(labels, np.int64)
    scores = np.asarray(scores, np.float64)
    out: dict[str, Any] = {"n": int(len(labels)), "real": int((labels == 0).sum()), "fake": int((labels == 1).sum()),
                           "accuracy": round(float(((scores >= threshold) == (labels == 1)).mean()), 4) if len(labels) else None,
                           "auc": None, "eer": None}
    if len(set(labels.tolist())) == 2:
        out["auc"] = round(float(roc_auc_score(labels, scores)), 4)
        fpr, tpr, _ = roc_curve(labels, scores)
        fnr = 1.0 - tpr
        i = int(np.nanargmin(np.abs(fnr - fpr)))
        out["eer"] = round(float((fpr[i] + fnr[i]) / 2.0), 4)
    return out


def roc_points(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(np.asarray(labels, np.int64), np.asarray(scores, np.float64))
    return fpr, tpr
