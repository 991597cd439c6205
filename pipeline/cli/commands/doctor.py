"""``facepipe doctor``: what this machine offers facepipe, in one table."""

from __future__ import annotations

import argparse
import importlib.util
import platform
from pathlib import Path

from rich.console import Console
from rich.table import Table

from pipeline.media.ffmpeg import ffmpeg_exe, ffmpeg_version, video_encoders

MODEL_DIR = Path(__file__).resolve().parents[2] / "models"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("doctor", help="show ffmpeg, encoders, torch device and model files found")
    parser.set_defaults(func=main)


def _torch_line() -> str:
    try:
        import torch
    except Exception as exc:  # noqa: BLE001
        return f"not importable ({exc.__class__.__name__})"
    device = f"CUDA: {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "CPU only"
    return f"{torch.__version__}, {device}, {torch.get_num_threads()} threads"


def _package(name: str) -> str:
    spec = importlib.util.find_spec(name)
    return "installed" if spec else "missing"


def rows() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = [("python", platform.python_version())]
    try:
        found.append(("ffmpeg", f"{ffmpeg_version()} at {ffmpeg_exe()}"))
        wanted = ["libx264", "libx265", "libvpx-vp9", "libaom-av1", "libsvtav1", "h264_nvenc"]
        have = video_encoders()
        found.append(("encoders", ", ".join(f"{name} {'yes' if name in have else 'no'}" for name in wanted)))
    except Exception as exc:  # noqa: BLE001 - doctor reports, it does not fail
        found.append(("ffmpeg", f"not usable: {exc}"))
    found.append(("torch", _torch_line()))
    for module in ("cv2", "yuface", "dlib", "face_alignment", "safetensors", "skimage"):
        found.append((module, _package(module)))
    weights = sorted(str(p.relative_to(MODEL_DIR)) for p in MODEL_DIR.rglob("*.safetensors")) if MODEL_DIR.is_dir() else []
    found.append(("model files", ", ".join(weights) or "none found under models/"))
    return found


def main(args: argparse.Namespace) -> int:
    table = Table(title="facepipe doctor")
    table.add_column("what")
    table.add_column("found")
    for what, value in rows():
        table.add_row(what, value)
    Console().print(table)
    return 0
