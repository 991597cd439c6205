"""The one place a device name (``auto``, ``cpu``, ``cuda``, ``cuda:N``) becomes a torch device string.

Torch is imported only when the name is not ``cpu``: checking CUDA costs about a second of imports.
"""

from __future__ import annotations

import re

from pipeline.errors import FacepipeError

DEVICE_HELP = "torch device: auto (the first CUDA GPU when present, else cpu), cpu, cuda or cuda:N"
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def check_device_name(name: str, where: str = "device") -> None:
    if not _DEVICE.match(name or ""):
        raise FacepipeError(f"{where} = {name!r}: must be auto, cpu, cuda or cuda:N")


def resolve_device(requested: str | None) -> str:
    """``auto`` is CUDA when torch sees a GPU, else CPU; an unavailable CUDA device is a one-line error."""
    requested = requested or "auto"
    check_device_name(requested)
    if requested == "cpu":
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
