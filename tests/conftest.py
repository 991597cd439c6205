"""Shared fixtures: the real media folder, a CLI runner, and small media made with ffmpeg."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
MEDIA = REPO.parent / "shared" / "media"


def media(name: str) -> Path:
    path = MEDIA / name
    if not path.exists():
        pytest.skip(f"real test media not found: {path} (clone with shared/ beside the repo)")
    return path


@pytest.fixture(scope="session")
def ffmpeg_bin() -> str:
    from pipeline.media.ffmpeg import ffmpeg_exe

    return ffmpeg_exe()


def run_cli(*args: str, timeout: float = 300, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``facepipe`` as a user would (a fresh process), capturing its output."""
    return subprocess.run([sys.executable, "-m", "pipeline.cli.main", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd or REPO)


def ffmpeg_make(ffmpeg: str, *args: str) -> None:
    subprocess.run([ffmpeg, "-hide_banner", "-nostdin", "-v", "error", "-y", *map(str, args)], check=True)


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    diff = (a.astype(np.float64) - b.astype(np.float64)) ** 2
    if mask is not None:
        diff = diff[mask.astype(bool)]
    mse = float(diff.mean()) if diff.size else 0.0
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def read_frames(path: str | Path) -> list[np.ndarray]:
    from pipeline.media.decode import FileSource

    source = FileSource(path)
    source.open()
    try:
        return [frame.image for frame in source.frames()]
    finally:
        source.close()
