"""The one way facepipe writes a file: into a hidden temporary beside it, renamed when complete.

A reader (a player, a loader, a re-run that checks what is done) never sees half a file, and an
interrupted run leaves nothing at the final path. Every writer in the project goes through here:
the encoder, JSON and JSONL outputs, mask and preview PNGs, facesets, checkpoints.

Temporaries still open when the process is told to stop (SIGTERM, SIGHUP, Ctrl-C) are removed by
:func:`remove_open_temporaries`, which the command line calls on its way out.
"""

from __future__ import annotations

import json
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:
    import numpy as np

_OPEN: set[Path] = set()
_LOCK = threading.Lock()


def temporary_name(path: Path) -> Path:
    """``.NAME.facepipe-partial.EXT`` beside ``path``: hidden, and the extension kept so tools infer the format."""
    return path.with_name(f".{path.stem}.{os.getpid()}.facepipe-partial{path.suffix}")


class AtomicFile:
    """A temporary path to fill; :meth:`commit` renames it into place, :meth:`abort` deletes it."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.temp = temporary_name(self.path)
        with _LOCK:
            _OPEN.add(self.temp)

    def commit(self) -> None:
        os.replace(self.temp, self.path)
        self._forget()

    def abort(self) -> None:
        self.temp.unlink(missing_ok=True)
        self._forget()

    def _forget(self) -> None:
        with _LOCK:
            _OPEN.discard(self.temp)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """``with atomic_path(p) as temp: write(temp)``: renamed to ``p`` on success, deleted on any error."""
    handle = AtomicFile(path)
    try:
        yield handle.temp
    except BaseException:
        handle.abort()
        raise
    handle.commit()


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as temp:
        with open(temp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, data: Any, indent: int | None = 2) -> None:
    separators = None if indent else (",", ":")
    write_text(path, json.dumps(data, indent=indent, separators=separators) + "\n")


def write_image(path: str | Path, image: "np.ndarray", icc_profile: bytes | None = None) -> bool:
    """An image in the format its extension names (PNG, JPEG, WebP); False when OpenCV cannot encode it.

    With ``icc_profile`` (a photo's colour profile, which OpenCV cannot write) and Pillow installed,
    a JPEG, PNG or WebP is encoded by Pillow with the profile embedded instead.
    """
    import cv2

    suffix = (Path(path).suffix or ".png").lower()
    if icc_profile and suffix in (".jpg", ".jpeg", ".png", ".webp") and image.ndim == 3 and image.shape[2] == 3:
        encoded = _encode_with_profile(image, suffix, icc_profile)
        if encoded is not None:
            write_bytes(path, encoded)
            return True
    ok, buffer = cv2.imencode(suffix, image)
    if not ok:
        return False
    write_bytes(path, buffer.tobytes())
    return True


def _encode_with_profile(image: "np.ndarray", suffix: str, icc_profile: bytes) -> bytes | None:
    import numpy as np  # at run time too: this module imports numpy only for type checking

    try:
        import io

        from PIL import Image
    except ImportError:
        return None
    options: dict[str, Any] = {"icc_profile": icc_profile}
    if suffix in (".jpg", ".jpeg"):
        options.update(format="JPEG", quality=95, subsampling=0)
    elif suffix == ".webp":
        options.update(format="WEBP", quality=95)
    else:
        options.update(format="PNG")
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image[:, :, ::-1])).save(out, **options)
    return out.getvalue()


def remove_open_temporaries() -> None:
    """Delete every temporary not yet committed or aborted (called when the process is stopped)."""
    with _LOCK:
        paths = list(_OPEN)
        _OPEN.clear()
    for temp in paths:
        try:
            temp.unlink(missing_ok=True)
        except OSError:
            pass
