"""The one way facepipe writes a file: into a hidden temporary beside it, renamed when complete.

A reader (a player, a loader, a re-run that checks what is done) never sees half a file, and an
interrupted run leaves nothing at the final path. Every writer in the project goes through here:
the encoder, JSON and JSONL outputs, mask and preview PNGs, facesets, checkpoints.

Temporaries still open when the process is told to stop (SIGTERM, SIGHUP, Ctrl-C) are removed by
:func:`remove_open_temporaries`, which the command line calls on its way out. A process killed
outright (kill -9, power loss) cannot do that; its temporaries carry its PID, so the next writer into
the same folder removes those whose process is gone (:func:`remove_stale_temporaries`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:
    import numpy as np

_OPEN: set[Path] = set()
_LOCK = threading.Lock()
_SWEPT: set[Path] = set()  # folders already cleared of stale temporaries by this process
_PARTIAL = re.compile(r"^\.(?P<stem>.*)\.(?P<pid>\d+)\.facepipe-partial(?P<suffix>.*)$")


def temporary_name(path: Path) -> Path:
    """``.NAME.PID.facepipe-partial.EXT`` beside ``path``: hidden, the extension kept so tools infer the
    format, and the writer's PID so that a later run can tell a dead writer's leftover from a live one."""
    return path.with_name(f".{path.stem}.{os.getpid()}.facepipe-partial{path.suffix}")


def partial_pid(name: str) -> int | None:
    """The writer's PID in a temporary's file name; None for any other name."""
    match = _PARTIAL.match(name)
    return int(match["pid"]) if match else None


def pid_alive(pid: int) -> bool:
    """Whether a process with this PID exists on this machine (another user's counts as alive)."""
    if pid == os.getpid():
        return True
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(directory: str | Path) -> list[Path]:
    """Delete the temporaries in ``directory`` whose writer is gone (killed with SIGKILL, a crash).

    A live writer's temporary (this process, a concurrent run, a pool worker) is kept. Returns what
    was removed.
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(".") or ".facepipe-partial" not in entry.name:
            continue
        pid = partial_pid(entry.name)
        if pid is None or pid_alive(pid):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)
            removed.append(Path(entry.path))
        except FileNotFoundError:
            pass  # another run removed it first
        except OSError:
            pass
    return removed


def _sweep_once(directory: Path) -> None:
    """:func:`remove_stale_temporaries` the first time this process writes into ``directory``
    (once, so writing thousands of faces into one folder does not rescan it each time)."""
    key = directory.absolute()
    with _LOCK:
        if key in _SWEPT:
            return
        _SWEPT.add(key)
    remove_stale_temporaries(key)


class AtomicFile:
    """A temporary path to fill; :meth:`commit` renames it into place, :meth:`abort` deletes it."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.temp = temporary_name(self.path)
        _sweep_once(self.path.parent)
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
