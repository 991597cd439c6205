"""The one place a device name (``auto``, ``cpu``, ``cuda``, ``cuda:N``) becomes a torch device string.

Torch is imported only when a GPU could be there: checking CUDA costs a second or more of imports, and
the default swap needs no torch at all on a CPU (``models.segmenter_cpu``). ``auto`` answers ``cpu``
without torch when the installed torch is a CPU build (its version ends in ``+cpu``, as PyTorch's CPU
wheels do), or on Linux when no GPU driver's device node exists (NVIDIA's ``/dev/nvidiactl``, AMD ROCm's
``/dev/kfd``, WSL's ``/dev/dxg``): CUDA cannot run there, whatever torch would say.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

from pipeline.errors import FacepipeError

DEVICE_HELP = "torch device: auto (the first CUDA GPU when present, else cpu), cpu, cuda or cuda:N"
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def check_device_name(name: str, where: str = "device") -> None:
    if not _DEVICE.match(name or ""):
        raise FacepipeError(f"{where} = {name!r}: must be auto, cpu, cuda or cuda:N")


GPU_DEVICE_NODES = ("/dev/nvidiactl", "/dev/kfd", "/dev/dxg")


def gpu_possible() -> bool:
    """False when torch could not find a GPU here, known without importing it (see the module docstring)."""
    try:
        if metadata.version("torch").endswith("+cpu"):
            return False
    except metadata.PackageNotFoundError:
        return False
    if sys.platform.startswith("linux"):
        return any(Path(node).exists() for node in GPU_DEVICE_NODES)
    return True


def resolve_device(requested: str | None) -> str:
    """``auto`` is CUDA when torch sees a GPU, else CPU; an unavailable CUDA device is a one-line error."""
    requested = requested or "auto"
    check_device_name(requested)
    if requested == "cpu" or (requested == "auto" and not gpu_possible()):
        return "cpu"
    try:
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # noqa: BLE001 - torch missing or broken: CPU
        count = 0
    if requested == "auto":
        return "cuda" if count else "cpu"
    index = int(requested.split(":")[1]) if ":" in requested else 0
    if index >= count:
        seen = f"{count} CUDA GPU{'s' if count != 1 else ''}" if count else "no CUDA GPU"
        raise FacepipeError(f"device {requested!r} requested but torch sees {seen}; use 'auto' or 'cpu'")
    return requested
