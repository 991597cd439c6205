"""Finding the ffmpeg binary and asking it what it can do.

The system ``ffmpeg`` on PATH wins (it may have hardware encoders); otherwise the static build that
``imageio-ffmpeg`` ships is used, so ``pip install`` alone is enough. ``FACEPIPE_FFMPEG`` overrides both.
ffprobe is deliberately not required: imageio-ffmpeg does not ship it, so probing is done with ffmpeg
itself (see ``stages/decode.py``) and behaves the same on every machine.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from typing import IO

from pipeline.errors import FacepipeError


@functools.lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    override = os.environ.get("FACEPIPE_FFMPEG")
    if override:
        if not shutil.which(override) and not os.access(override, os.X_OK):
            raise FacepipeError(f"FACEPIPE_FFMPEG={override} is not an executable")
        return override
    system = shutil.which("ffmpeg")
    if system:
        return system
    bundled = _bundled_binary()
    if bundled:
        return bundled
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # noqa: BLE001 - any failure means: no bundled binary
        raise FacepipeError("ffmpeg not found: install it (apt install ffmpeg) or `pip install imageio-ffmpeg`") from None


def _bundled_binary() -> str | None:
    """The executable in imageio-ffmpeg's ``binaries`` folder, found without importing or running it.

    ``imageio_ffmpeg.get_ffmpeg_exe()`` validates its binary by running ``ffmpeg -version`` (about
    50 ms on every start, a tenth of a short passthrough); an executable file there is trusted, and a
    broken one still fails with ffmpeg's own error on first use.
    """
    from importlib.util import find_spec

    spec = find_spec("imageio_ffmpeg")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = os.path.join(next(iter(spec.submodule_search_locations)), "binaries")
    try:
        names = sorted(name for name in os.listdir(folder) if name.startswith("ffmpeg"))
    except OSError:
        return None
    candidates = [os.path.join(folder, name) for name in names]
    return next((path for path in candidates if os.path.isfile(path) and os.access(path, os.X_OK)), None)


@functools.lru_cache(maxsize=1)
def ffmpeg_version() -> str:
    out = subprocess.run([ffmpeg_exe(), "-hide_banner", "-version"], capture_output=True, text=True).stdout
    match = re.search(r"ffmpeg version (\S+)", out)
    return match.group(1) if match else "unknown"


@functools.lru_cache(maxsize=1)
def video_encoders() -> frozenset[str]:
    out = subprocess.run([ffmpeg_exe(), "-hide_banner", "-encoders"], capture_output=True, text=True).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith("V") and len(parts[0]) == 6:
            names.add(parts[1])
    return frozenset(names)


@functools.lru_cache(maxsize=None)
def encoder_check(name: str) -> str:
    """"" when ``name`` really encodes here, else ffmpeg's one-line reason.

    ``ffmpeg -encoders`` lists what the build was compiled with, not what works: a build with NVENC
    lists ``h264_nvenc`` on a machine without an NVIDIA GPU. One tiny frame through the encoder into
    the null muxer (well under a second for software encoders) tells the difference.
    """
    if name not in video_encoders():
        return "not in this ffmpeg build"
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-f", "lavfi",
               "-i", "color=c=gray:size=256x256:rate=25:duration=0.04", "-frames:v", "1", "-pix_fmt", "yuv420p",
               "-c:v", name, "-f", "null", "-"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, errors="replace", timeout=30)
    except subprocess.TimeoutExpired:
        return "a one-frame test encode did not finish in 30 s"
    if result.returncode == 0:
        return ""
    lines = [line.strip() for line in result.stderr.strip().splitlines() if line.strip()]
    return lines[0] if lines else f"ffmpeg exit {result.returncode}"


def widen_pipe(stream: object, size: int = 1 << 20) -> None:
    """Ask the kernel for a bigger pipe buffer (Linux; 64 KiB by default): a video frame then crosses in
    a few writes instead of dozens, which saves context switches between us and the ffmpeg child."""
    try:
        import fcntl

        fcntl.fcntl(stream.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), size)  # type: ignore[attr-defined]
    except (OSError, ValueError, AttributeError, ImportError):
        pass  # not Linux, or above /proc/sys/fs/pipe-max-size: the default buffer still works


def last_error_line(log: IO[bytes]) -> str:
    """The last line an ffmpeg child wrote to its stderr file (its own summary of what went wrong)."""
    log.seek(0)
    lines = log.read().decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else ""


def damage_complaint(log: IO[bytes]) -> str:
    """"partial file" when an ffmpeg child's stderr says its input is cut short, else ""."""
    log.seek(0)
    text = log.read().decode(errors="replace")
    return "partial file" if "partial file" in text or "truncat" in text.lower() else ""
