"""The faceset that ``extract`` writes and training reads: aligned crops plus one alignments file.

Layout (version 1)::

    FACESET/faces/<source-stem>_<frame:06d>_<track>.png   BGRA, aligned crop, alpha = strip mask
    FACESET/alignments.json                                {"version": 1, "align": {...}, "faces": [...]}

Each face record: file, source, frame, track, box [x0, y0, x1, y1], score, landmarks (68 x [x, y],
frame pixels) and matrix (2 x 3, frame -> crop). ``align`` holds size, coverage and the template
name from ``stages.faces.geometry``, so a consumer can re-align new frames exactly like these crops.

``sources`` (optional; readers ignore it) maps each source to the settings it was extracted with,
the next frame to do and whether it is complete, so that ``extract`` resumes. A record may carry
``embedding`` (128 floats, dlib's identity embedding) when the faceset was split by identity.

The writer is a runner ``Sink``. Every file goes through ``pipeline.media.atomic``: a crop or
alignments.json is whole or absent. alignments.json is rewritten every few seconds and when a
source ends, successfully or not, so an interrupted extract keeps what it wrote.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pipeline.errors import FacepipeError
from pipeline.media.atomic import write_image, write_json
from pipeline.media.paths import inside
from pipeline.frame import Face, Frame
from pipeline.videoinfo import VideoInfo

FACESET_VERSION = 1
ALIGNMENTS = "alignments.json"
FACES_DIR = "faces"


@dataclass
class SourceSummary:
    """Counts for the summary table of one source."""

    source: str
    frames: int = 0
    faces: int = 0
    frames_without_face: int = 0


def crop_with_alpha(face: Face) -> np.ndarray:
    """The aligned crop as BGRA uint8, alpha = mask (opaque when there is no mask)."""
    crop = face.crop
    assert crop is not None
    if face.mask is None:
        alpha = np.full(crop.shape[:2], 255, np.uint8)
    else:
        alpha = np.clip(np.asarray(face.mask, np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return np.dstack([crop, alpha])


def face_record(face: Face, file: str, source: str, frame: int) -> dict[str, Any]:
    """One entry of ``alignments.json``."""
    record = {
        "file": file,
        "source": source,
        "frame": int(frame),
        "track": int(face.track_id),
        "box": [round(float(v), 2) for v in face.box],
        "score": round(float(face.score), 4),
        "landmarks": [[round(float(x), 3), round(float(y), 3)] for x, y in np.asarray(face.landmarks)],
        "matrix": [[float(v) for v in row] for row in np.asarray(face.matrix)],
    }
    if face.embedding is not None:
        record["embedding"] = [round(float(v), 5) for v in np.asarray(face.embedding)]
    return record


def read_alignments(directory: str | Path) -> dict[str, Any]:
    """Load and check a faceset's alignments.json (training and tests use this)."""
    path = Path(directory) / ALIGNMENTS
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise FacepipeError(f"{path}: no alignments file; is {directory} a faceset made by `facepipe extract`?") from None
    except (OSError, ValueError) as exc:
        raise FacepipeError(f"{path}: cannot read alignments: {exc}") from None
    if not isinstance(data, dict) or data.get("version") != FACESET_VERSION or not isinstance(data.get("faces"), list):
        raise FacepipeError(f"{path}: not a version {FACESET_VERSION} faceset alignments file")
    for record in data["faces"]:  # a crop outside the faceset would be read by train, deleted by extract
        if isinstance(record, dict) and "file" in record:
            inside(directory, record["file"], str(path))
    return data


@dataclass
class FacesetEntry:
    """One crop of a faceset as a reader sees it."""

    path: Path
    clip: str  # the source video's file stem ("" when unknown)
    frame: int
    track: int = -1
    landmarks: np.ndarray | None = None  # (68, 2) float32 in crop pixels (training weights eyes and mouth by them)


_NAME = re.compile(r"^(?P<stem>.+)_(?P<frame>\d{6})_(?P<track>-?\d+)$")


def crop_landmarks(record: dict[str, Any]) -> np.ndarray | None:
    """A record's frame landmarks mapped into its crop (through ``matrix``), or None when it has none."""
    try:
        points = np.asarray(record["landmarks"], np.float64).reshape(-1, 2)
        matrix = np.asarray(record["matrix"], np.float64).reshape(2, 3)
    except (KeyError, TypeError, ValueError):
        return None
    return (points @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)


def list_faces(directory: str | Path) -> tuple[list[FacesetEntry], dict[str, Any]]:
    """Every crop of a faceset and its ``align`` settings; the one reader of the format.

    A folder without ``alignments.json`` (crops from another tool) is read as plain PNGs, in name
    order; clip and frame come from the file name when it follows the faceset pattern.
    """
    root = Path(directory)
    if (root / ALIGNMENTS).is_file():
        data = read_alignments(root)
        entries = []
        for record in data["faces"]:
            if not isinstance(record, dict) or "file" not in record:
                raise FacepipeError(f"{root / ALIGNMENTS}: a face record has no file")
            path = root / record["file"]  # read_alignments checked it lies inside the faceset
            match = _NAME.match(path.stem)  # the file stem is unique per source within a faceset
            clip = match["stem"] if match else Path(str(record.get("source", ""))).stem
            entries.append(FacesetEntry(path, clip, int(record.get("frame", len(entries))), int(record.get("track", -1)),
                                        crop_landmarks(record)))
        return entries, dict(data.get("align", {}))
    folder = root / FACES_DIR if (root / FACES_DIR).is_dir() else root
    entries = []
    for number, path in enumerate(sorted(folder.glob("*.png"))):
        match = _NAME.match(path.stem)
        if match:
            entries.append(FacesetEntry(path, match["stem"], int(match["frame"]), int(match["track"])))
        else:
            entries.append(FacesetEntry(path, "", number))
    return entries, {}


def draw_faces(image: np.ndarray, faces: list[Face]) -> np.ndarray:
    """A copy of ``image`` with boxes, track ids, scores and landmarks drawn (for ``--debug``)."""
    canvas = image.copy()
    thickness = max(1, round(max(image.shape[:2]) / 640))
    for face in faces:
        x0, y0, x1, y1 = (int(round(float(v))) for v in face.box)
        detected = face.detected
        colour = (0, 220, 0) if detected else (0, 200, 255)  # green: detector, orange: tracked
        cv2.rectangle(canvas, (x0, y0), (x1, y1), colour, thickness)
        cv2.putText(canvas, f"#{face.track_id} {face.score:.2f}", (x0, max(12, y0 - 4)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thickness, colour, thickness, cv2.LINE_AA)
        if face.landmarks is not None:
            for x, y in np.asarray(face.landmarks):
                cv2.circle(canvas, (int(round(float(x))), int(round(float(y)))), thickness, (0, 0, 255), -1, cv2.LINE_AA)
    return canvas


class FacesetWriter:
    """Runner sink writing faces of one or more sources into a faceset directory, resumably.

    Each source's state is kept in ``alignments.json`` beside its records (``"sources"``): the
    settings it was extracted with, the next source frame to do and whether it is complete. So:
    - an interrupted source (Ctrl-C, a crash, or a kill between two periodic commits) keeps every
      face committed so far, with a valid alignments file;
    - :meth:`plan` tells a re-run to skip a complete source extracted with the same settings, to
      resume an incomplete one from its next frame, or to start again when the settings changed
      (its old crops are then deleted when the new ones are committed);
    - the directory is created at the first face, so a bad input leaves no empty folder.
    """

    COMMIT_SECONDS = 10.0  # longest work a hard kill can lose

    def __init__(self, directory: str | Path, align: dict[str, Any], debug_dir: str | Path | None = None) -> None:
        self.directory = Path(directory)
        self.align = dict(align)
        self.debug_dir = Path(debug_dir) if debug_dir else None
        self.summaries: list[SourceSummary] = []
        self._summary: SourceSummary | None = None
        self._source = ""
        self._stems: dict[str, str] = {}  # source -> file stem, unique within the faceset
        self._records: dict[str, list[dict[str, Any]]] = {}  # source -> its face records, in order
        self._state: dict[str, dict[str, Any]] = {}  # source -> {"settings", "next_frame", "complete"}
        self._settings: dict[str, Any] = {}  # settings of the sources of the current run
        self._fresh: set[str] = set()  # sources whose old records this run replaces
        self._stale: set[str] = set()  # files of replaced records, deleted at the next commit
        self._last_commit = time.monotonic()
        self._lock = threading.Lock()  # a frame's crops and records, and close(), never interleave
        self._closed = True
        self._load_existing()

    def _load_existing(self) -> None:
        """Records already in the faceset (kept unless re-extracted); must share the alignment."""
        if not (self.directory / ALIGNMENTS).exists():
            return
        data = read_alignments(self.directory)
        if data.get("align") != self.align:
            raise FacepipeError(f"{self.directory} holds faces aligned with {data.get('align')}, not {self.align}; "
                                f"extract into a new directory")
        for record in data["faces"]:
            stem = Path(record["file"]).name.rsplit("_", 2)[0]
            self._stems.setdefault(record["source"], stem)
            self._records.setdefault(record["source"], []).append(record)
        state = data.get("sources")
        if isinstance(state, dict):
            self._state = {str(k): dict(v) for k, v in state.items() if isinstance(v, dict)}

    @property
    def faces(self) -> list[dict[str, Any]]:
        return [record for records in self._records.values() for record in records]

    def plan(self, source: str, settings: dict[str, Any]) -> int | None:
        """None: ``source`` is already complete with these settings (skip it); else the source frame to start at."""
        settings = json.loads(json.dumps(settings))  # as it will read back (tuples become lists)
        self._settings[source] = settings
        state = self._state.get(source)
        if state is not None and state.get("settings") == settings:
            if state.get("complete"):
                return None
            return int(state.get("next_frame", 0))
        if source in self._records or state is not None:
            self._fresh.add(source)  # its records are replaced once this run writes the source
        return 0

    def _stem_for(self, source: str) -> str:
        if source in self._stems:
            return self._stems[source]
        base = Path(source).stem or "source"
        stem, n = base, 2
        while stem in self._stems.values():
            stem, n = f"{base}-{n}", n + 1
        self._stems[source] = stem
        return stem

    def _begin(self, source: str) -> None:
        """First frame of ``source`` in this run: forget replaced records, note where it stands."""
        if source in self._fresh:
            self._fresh.discard(source)
            self._stale.update(r["file"] for r in self._records.pop(source, []))
        self._records.setdefault(source, [])
        state = self._state.setdefault(source, {})
        state.update(settings=self._settings.get(source, state.get("settings", {})), complete=False)
        state.setdefault("next_frame", 0)

    # --- Sink protocol ---------------------------------------------------------------------------
    def open(self, info: VideoInfo) -> None:
        self._closed = False
        self._source = str(info.path)
        self._summary = SourceSummary(self._source)
        self._touched: list[str] = []

    def write(self, frame: Frame) -> None:
        """All faces of ``frame``, then their records; a frame arriving after :meth:`close` (a worker
        still draining at Ctrl-C) is dropped, so what close() committed is what the folder holds."""
        with self._lock:
            if not self._closed:
                self._write_frame(frame)

    def _write_frame(self, frame: Frame) -> None:
        source = str(frame.meta.get("source", self._source))
        number = int(frame.meta.get("source_frame", frame.index))
        if source not in self._touched:
            self._touched.append(source)
            self._begin(source)
        stem = self._stem_for(source)
        assert self._summary is not None
        self._summary.frames += 1
        written = 0
        for face in frame.faces:
            if not face.selected or face.crop is None or face.landmarks is None or face.matrix is None:
                continue
            name = f"{FACES_DIR}/{stem}_{number:06d}_{max(face.track_id, 0)}.png"
            path = self.directory / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if not write_image(path, crop_with_alpha(face)):
                raise FacepipeError(f"cannot write {path}")
            self._stale.discard(name)
            self._records[source].append(face_record(face, name, source, number))
            written += 1
        self._summary.faces += written
        if not written:
            self._summary.frames_without_face += 1
        state = self._state[source]
        state["next_frame"] = number + 1
        if frame.meta.get("source") is not None and source != self._source:
            state["complete"] = True  # a photo: one frame is all of it
        if self.debug_dir is not None:
            self.debug_dir.mkdir(parents=True, exist_ok=True)
            write_image(self.debug_dir / f"{stem}_{number:06d}.jpg", draw_faces(frame.image, frame.faces))
        if time.monotonic() - self._last_commit > self.COMMIT_SECONDS:
            self._commit()

    def close(self, ok: bool) -> None:
        with self._lock:
            self._closed = True
            self._close(ok)

    def _close(self, ok: bool) -> None:
        if not ok:
            for source in self._touched:
                self._drop_unfinished_frame(source)
        if ok and self._source in self._state and self._source in self._touched:
            self._state[self._source]["complete"] = True
        if ok and self._source not in self._touched and self._source in self._settings:
            self._begin(self._source)  # a video without a single face is complete too
            self._state[self._source]["complete"] = True
        self._commit()
        if self._summary is not None:
            self.summaries.append(self._summary)

    def _drop_unfinished_frame(self, source: str) -> None:
        """After an interruption: forget the faces of a frame that did not finish.

        A frame counts as done once ``next_frame`` moves past it, after all its faces are written and
        recorded. Ctrl-C can land between a crop's rename into place and its record (or between two
        faces of one frame): such a crop, and any record of that frame, is removed here, so the faceset
        lists exactly its files and a re-run redoes the frame from the start instead of doubling it."""
        stem = self._stems.get(source)
        state = self._state.get(source)
        if stem is None or state is None:
            return
        done_below = int(state.get("next_frame", 0))
        records = self._records.get(source, [])
        unfinished = [r for r in records if int(r["frame"]) >= done_below]
        if unfinished:
            self._records[source] = [r for r in records if int(r["frame"]) < done_below]
        for path in (self.directory / FACES_DIR).glob(f"{stem}_*.png"):
            parts = path.name[:-len(".png")].rsplit("_", 2)
            if len(parts) == 3 and parts[0] == stem and parts[1].isdigit() and int(parts[1]) >= done_below:
                path.unlink(missing_ok=True)

    def _commit(self) -> None:
        self._last_commit = time.monotonic()
        if not self._state and not self._records:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        data = {"version": FACESET_VERSION, "align": self.align, "faces": self.faces, "sources": self._state}
        write_json(self.directory / ALIGNMENTS, data, indent=None)
        live = {r["file"] for r in self.faces}
        for name in self._stale - live:
            (self.directory / name).unlink(missing_ok=True)
        self._stale.clear()
