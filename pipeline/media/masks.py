"""Per-frame mask PNGs (blend alpha, occluder masks): ``DIR/000123.png``, each written atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.errors import FacepipeError
from pipeline.media.atomic import write_image


class MaskWriter:
    """``DIR/000123.png``: per frame, 255 x a float mask (occluder or blend alpha; 0 where untouched)."""

    def __init__(self, directory: str | Path, create_parents: bool = False) -> None:
        self.directory = Path(directory)
        if self.directory.exists() and not self.directory.is_dir():
            raise FacepipeError(f"masks folder {self.directory} is a file")
        if not create_parents and not self.directory.resolve().parent.is_dir():
            raise FacepipeError(f"masks folder's parent does not exist: {self.directory.resolve().parent}")
        self.directory.mkdir(parents=create_parents, exist_ok=True)

    def write(self, index: int, mask: np.ndarray) -> None:
        """Written to a temporary name and renamed, so a reader never sees half a PNG."""
        image = np.clip(mask * 255.0 + 0.5, 0, 255).astype(np.uint8)
        if not write_image(self.directory / f"{index:06d}.png", image):
            raise FacepipeError(f"cannot write mask PNG into {self.directory}")
