"""What a detector knows about its own reliability: a calibrated P(fake) and how familiar a face is.

Two things are fitted once training has picked its epoch, both on the **val split** (people the
network never trained on), because that is the situation a user's clip is in:

* **Calibration** (Platt scaling): ``P = sigmoid(a * logit + b)``, fitted by logistic regression on
  the val crops' logits. A network selected for AUC ranks well but its raw 0.5 sits wherever training
  left it; on unseen people it called real clips fake at 0.98. The fit is folded into the network's
  last linear layer (``w, c -> a*w, a*c + b``), so the weights, the TorchScript export and every
  caller get the calibrated probability with no extra step and no change of file format.
* **Familiarity**: the features entering that last layer, standardised by the train crops' mean and
  spread; a face's *distance* is the root mean square of its standardised features. The threshold is
  a high percentile of the val crops' distances, so about 1 in 100 faces of ordinary unseen people
  lies beyond it. A video whose faces mostly lie beyond it is reported "uncertain", with the reason,
  instead of a confident verdict: the network is then extrapolating (a resolution, light, make-up or
  kind of picture its corpus did not hold).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

FAMILIAR_PERCENTILE = 99.0  # of unseen (val) faces' distances: the edge of what training covered
UNUSUAL_SHARE = 0.5  # a video is uncertain when more than this share of its faces are unusual


def last_linear(net: nn.Module) -> nn.Linear:
    """The layer that makes the fake logit: the last ``nn.Linear`` with one output."""
    found = [m for m in net.modules() if isinstance(m, nn.Linear) and m.out_features == 1]
    if not found:
        raise ValueError(f"{type(net).__name__} has no final nn.Linear(…, 1); calibration cannot be folded in")
    return found[-1]


@torch.inference_mode()
def logits_and_features(net: nn.Module, batches: Any) -> tuple[np.ndarray, np.ndarray]:
    """Logits ``(N,)`` and last-layer input features ``(N, D)`` for an iterable of input tensors."""
    layer = last_linear(net)
    captured: list[torch.Tensor] = []
    hook = layer.register_forward_hook(lambda module, inputs, output: captured.append(inputs[0].detach()))
    logits = []
    try:
        net.eval()
        for x in batches:
            logits.append(net(x).reshape(-1))
    finally:
        hook.remove()
    if not logits:
        return np.zeros(0), np.zeros((0, layer.in_features))
    return torch.cat(logits).double().numpy(), torch.cat(captured).double().numpy()


@dataclass(frozen=True)
class Platt:
    a: float
    b: float

    def apply(self, logits: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(self.a * np.asarray(logits) + self.b)))


def fit_platt(logits: np.ndarray, labels: np.ndarray) -> Platt:
    """Logistic regression of the labels on the logits (almost unregularised); a slope kept positive.

    The classes are weighted to equal mass: a corpus holds several fakes per real, and fitted on its
    raw proportions P = 0.5 would mean "as likely as in a corpus that is 3/4 fake", so a user's real
    clip would start out suspected. Balanced, 0.5 is the point where real and fake are even."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1e4, max_iter=1000, class_weight="balanced").fit(
        np.asarray(logits).reshape(-1, 1), np.asarray(labels))
    a = float(model.coef_[0, 0])
    if a <= 0:  # a network that ranks val backwards: do not flip it, only re-centre it
        return Platt(1.0, float(model.intercept_[0]))
    return Platt(a, float(model.intercept_[0]))


@torch.no_grad()
def fold_platt(net: nn.Module, platt: Platt) -> None:
    layer = last_linear(net)
    layer.weight.mul_(platt.a)
    if layer.bias is not None:
        layer.bias.mul_(platt.a).add_(platt.b)


@dataclass(frozen=True)
class Familiarity:
    """Standardising statistics of the train features and the distance beyond which a face is unusual."""

    mean: np.ndarray
    scale: np.ndarray
    threshold: float

    def distance(self, features: np.ndarray) -> np.ndarray:
        z = (np.asarray(features, np.float64) - self.mean) / self.scale
        return np.sqrt(np.mean(z * z, axis=1)) if len(z) else np.zeros(0)

    def as_card(self) -> dict[str, Any]:
        return {"mean": [round(float(v), 6) for v in self.mean], "scale": [round(float(v), 6) for v in self.scale],
                "threshold": round(float(self.threshold), 4), "percentile": FAMILIAR_PERCENTILE}

    @classmethod
    def from_card(cls, data: Any) -> "Familiarity | None":
        try:
            mean = np.asarray(data["mean"], np.float64)
            scale = np.asarray(data["scale"], np.float64)
            threshold = float(data["threshold"])
        except (TypeError, KeyError, ValueError):
            return None
        if mean.shape != scale.shape or mean.ndim != 1 or not np.all(scale > 0) or not np.isfinite(threshold):
            return None
        return cls(mean, scale, threshold)


def fit_familiarity(train_features: np.ndarray, reference_features: np.ndarray) -> Familiarity:
    """Statistics from ``train_features``; the threshold from ``reference_features`` (unseen people)."""
    mean = train_features.mean(axis=0)
    scale = np.maximum(train_features.std(axis=0), 1e-6)
    partial = Familiarity(mean, scale, 0.0)
    reference = partial.distance(reference_features) if len(reference_features) else partial.distance(train_features)
    return Familiarity(mean, scale, float(np.percentile(reference, FAMILIAR_PERCENTILE)))


def uncertain_reason(distances: list[float], familiarity: Familiarity | None) -> str | None:
    """Why a video's verdict cannot be trusted, or None when its faces look like the training data."""
    if familiarity is None or not distances:
        return None
    unusual = sum(d > familiarity.threshold for d in distances)
    if unusual <= UNUSUAL_SHARE * len(distances):
        return None
    return (f"{unusual} of {len(distances)} faces are unlike the detector's training data (median feature distance "
            f"{float(np.median(distances)):.2f}; {FAMILIAR_PERCENTILE:g} % of the faces of unseen people in its "
            f"val split lie within {familiarity.threshold:.2f})")
