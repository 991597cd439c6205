"""One writer per output folder: an exclusive, non-blocking ``flock`` on the folder itself.

Two runs writing one faceset (or corpus) at once race on its index: the later one's alignments.json
replaces the earlier one's rows and leaves its crops orphaned. The second run is refused at once,
with one line, instead. The lock is taken on the directory (no lock file to leave behind or to race
on when it is deleted), the kernel drops it when the process dies however it dies (kill -9 too),
and a folder this lock created is removed again if the run left it empty (a bad input leaves no
empty folder). The same mechanism as ``corpus build``'s lock (``fcntl.flock`` with ``LOCK_NB``).
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

from pipeline.errors import FacepipeError


class FolderLock:
    """``with FolderLock(folder, "extract"):`` — holds the folder for this process, or raises
    :class:`FacepipeError` naming the command that already holds it."""

    def __init__(self, folder: str | Path, what: str) -> None:
        self.folder = Path(folder)
        self.what = what
        self._fd: int | None = None
        self._created: list[Path] = []

    def acquire(self) -> "FolderLock":
        """Create the folder if need be and lock it; FacepipeError when another run holds it."""
        import fcntl

        missing = []
        for parent in [self.folder, *self.folder.parents]:
            if parent.exists():
                break
            missing.append(parent)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._created = missing  # deepest first, the order to remove them in
        fd = os.open(self.folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise FacepipeError(f"{self.folder}: another `{self.what}` is writing to this folder; "
                                f"wait for it to finish or choose another output") from None
        self._fd = fd
        return self

    def release(self) -> None:
        """Unlock; remove the folders this lock created if the run put nothing in them."""
        if self._fd is None:
            return
        for folder in self._created:
            try:
                folder.rmdir()  # only succeeds when empty
            except OSError:
                break
        self._created = []
        os.close(self._fd)  # closing the descriptor releases the flock
        self._fd = None

    def __enter__(self) -> "FolderLock":
        return self.acquire()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.release()
