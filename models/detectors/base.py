"""What every detector network shares: the model-family contract (``models.family.ModelNet``).

A detector maps ``(N, 3, S, S)`` RGB in [0, 1] at its ``INPUT_SIZE`` to ``(N,)`` fake logits and
normalises its own input, so its TorchScript export needs nothing else.
"""

from __future__ import annotations

from typing import ClassVar

from torch import nn

from models.family import InputContract

CARD_FORMAT = "facepipe-detector"  # kept in the weights header: files written before the family carry it


class DetectorNet(nn.Module):
    kind: ClassVar[str] = "detector"
    file_stem: ClassVar[str] = "detector"
    architecture: ClassVar[str] = ""
    INPUT_SIZE: ClassVar[int] = 256

    def header(self) -> dict[str, str]:
        return {"architecture": self.architecture, "format": CARD_FORMAT, "input_size": str(self.INPUT_SIZE)}

    @classmethod
    def from_header(cls, meta: dict[str, str]) -> "DetectorNet":
        if meta.get("format", CARD_FORMAT) != CARD_FORMAT:
            raise ValueError(f"header format {meta.get('format')!r} is not a detector's")
        return cls()

    def input_contract(self) -> InputContract:
        return InputContract(self.INPUT_SIZE, "RGB", (0.0, 1.0), "inside-network", "area-down-linear-up")
