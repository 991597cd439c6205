"""``facepipe doctor``: what this machine offers facepipe, in one table, and whether the configured run would work.

An encoder counts as usable only when one test frame really goes through it: ffmpeg lists the
encoders it was built with (``h264_nvenc`` on a machine without an NVIDIA GPU), not those that work.
With ``-c``/``--set`` the table checks that configuration (its ``encode.codec``, ``pipeline.device``,
``swap.model``). ``-q`` prints only the problems; the exit status is 1 when the configured run cannot work.
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
from pathlib import Path

from pipeline.cli.commands.common import add_config_options

MODEL_DIR = Path(__file__).resolve().parents[3] / "models"
SOFTWARE_ENCODERS = ["libx264", "libx265", "libvpx-vp9", "libaom-av1", "libsvtav1"]
HARDWARE_ENCODERS = ["h264_nvenc", "hevc_nvenc", "h264_qsv", "h264_vaapi", "h264_videotoolbox"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "doctor", help="show ffmpeg, encoders that work, torch device and model files; check a configuration",
        description="Show what this machine offers facepipe. Encoders are tried with one test frame, so only "
                    "those that work here are called usable. With -c/--set, the given configuration is checked; "
                    "the exit status is 1 when it cannot run.")
    add_config_options(parser)
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


def encoder_word(name: str) -> str:
    """yes, no, or listed but not usable: ffmpeg lists hardware encoders that fail without their device."""
    from pipeline.media.ffmpeg import encoder_check, video_encoders

    if name not in video_encoders():
        return "no"
    return "yes" if not encoder_check(name) else "listed, not usable"


def rows(config=None) -> tuple[list[tuple[str, str]], list[str]]:
    """(what, found) rows, and the problems that stop the configured run."""
    from pipeline.media.ffmpeg import encoder_check, ffmpeg_exe, ffmpeg_version

    found: list[tuple[str, str]] = [("python", platform.python_version())]
    problems: list[str] = []
    try:
        found.append(("ffmpeg", f"{ffmpeg_version()} at {ffmpeg_exe()}"))
        found.append(("encoders", "; ".join(f"{name}: {encoder_word(name)}" for name in SOFTWARE_ENCODERS)))
        found.append(("hardware encoders", "; ".join(f"{name}: {encoder_word(name)}" for name in HARDWARE_ENCODERS)
                      + " (not yet an encode.codec choice)"))
        if config is not None:
            codec = config.encode.codec
            reason = encoder_check(codec)
            found.append(("encode.codec", f"{codec}: {'usable' if not reason else 'NOT usable: ' + reason}"))
            if reason:
                problems.append(f"encode.codec = {codec!r} does not work with {ffmpeg_exe()}: {reason}")
    except Exception as exc:  # noqa: BLE001 - doctor reports, it does not fail
        found.append(("ffmpeg", f"not usable: {exc}"))
        problems.append(f"ffmpeg not usable: {exc}")
    torch_line = _torch_line()
    found.append(("torch", torch_line))
    if torch_line.startswith("not importable"):
        problems.append(f"torch {torch_line}")
    if config is not None:
        from pipeline.device import resolve_device

        try:
            found.append(("pipeline.device", f"{config.pipeline.device} -> {resolve_device(config.pipeline.device)}"))
        except Exception as exc:  # noqa: BLE001
            found.append(("pipeline.device", f"{config.pipeline.device}: NOT usable: {exc}"))
            problems.append(str(exc))
    for module in ("cv2", "yuface", "dlib", "face_alignment", "safetensors", "skimage", "sklearn"):
        found.append((module, _package(module)))
    weights = sorted(str(p.relative_to(MODEL_DIR)) for p in MODEL_DIR.rglob("*.safetensors")) if MODEL_DIR.is_dir() else []
    found.append(("model files", ", ".join(weights) or "none found under models/"))
    if config is not None:
        from pipeline.cli.video_job import check_stage_setup
        from pipeline.errors import FacepipeError

        try:  # the very checks convert makes before its first frame: doctor never passes what convert refuses
            check_stage_setup(config, list(config.pipeline.stages))
            found.append(("stages", (", ".join(config.pipeline.stages) or "none") + ": ok"))
        except FacepipeError as exc:
            found.append(("stages", f"NOT usable: {exc}"))
            problems.append(str(exc))
    return found, problems


def main(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from pipeline.cli.settings import load_config

    config = load_config(args.config, list(args.set))
    found, problems = rows(config)
    console = Console()
    if not args.quiet:
        table = Table(title="facepipe doctor")
        table.add_column("what")
        table.add_column("found")
        for what, value in found:
            table.add_row(what, value)
        console.print(table)
    for problem in problems:
        print(f"facepipe: problem: {problem}")
    return 1 if problems else 0
