"""``extract --by-identity``: one faceset per person, from dlib's identity embedding of every face.

Faces are embedded as they are written (:class:`EmbeddingSink`, in the writer's thread). The network
costs about 0.2 s per face on a CPU, so a face track is embedded on its first face and every
``EMBED_EVERY``-th face after that; the faces in between take the track's latest embedding. When the
extraction is complete, the embeddings of the whole faceset are clustered (average linkage, threshold
``--identity-distance``), one face track at a time, and each person's faces become ``OUT/person-NN`` (largest first), a faceset of
its own whose crops are hard links to the pooled ones in ``OUT/all`` (copies where links fail).
People with fewer than ``MIN_FACES`` faces (stray detections, a passer-by) go to ``OUT/unsorted``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.frame import Frame
from pipeline.media.atomic import write_json
from pipeline.media.faceset import ALIGNMENTS, FACES_DIR, FACESET_VERSION, read_alignments
from pipeline.videoinfo import VideoInfo

EMBED_EVERY = 5
MIN_FACES = 3
POOLED = "all"
PEOPLE_LIST = "people.json"


class EmbeddingSink:
    """Puts an identity embedding on every selected face, then hands the frame to ``sink``."""

    def __init__(self, sink: Any) -> None:
        self.sink = sink
        self._tracks: dict[int, tuple[int, np.ndarray]] = {}  # track -> (faces since embedding, embedding)
        self.embedded = 0

    def open(self, info: VideoInfo) -> None:
        self._tracks = {}
        self.sink.open(info)

    def write(self, frame: Frame) -> None:
        from stages.faces.identity import face_embedding

        if frame.meta.get("scene_cut"):
            self._tracks = {}  # track ids restart after a cut (and for every photo)
        for face in frame.faces:
            if not face.selected or face.landmarks is None:
                continue
            known = self._tracks.get(face.track_id) if face.track_id >= 0 else None
            if known is None or known[0] >= EMBED_EVERY:
                known = (0, face_embedding(frame.image, face.landmarks))
                self.embedded += 1
            face.embedding = known[1]
            if face.track_id >= 0:
                self._tracks[face.track_id] = (known[0] + 1, known[1])
        self.sink.write(frame)

    def close(self, ok: bool) -> None:
        self.sink.close(ok)


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def face_tracks(records: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Faces grouped by (source, track): the tracker already says these are one person, so a track
    is clustered as one unit (its mean embedding). That keeps a person's occluded or turned frames
    (a hand over the face) with the rest of their track instead of making a set of their own."""
    tracks: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for record in records:
        if record.get("embedding"):
            tracks.setdefault((record["source"], int(record.get("track", -1))), []).append(record)
    return list(tracks.values())


def split_by_identity(out_dir: Path, threshold: float, min_faces: int = MIN_FACES) -> list[dict[str, Any]]:
    """Cluster the pooled faceset ``out_dir/all`` into ``out_dir/person-NN``; returns one row per set."""
    from stages.faces.identity import cluster_embeddings

    pooled = out_dir / POOLED
    data = read_alignments(pooled)
    tracks = face_tracks(data["faces"])
    centres = np.array([np.mean([r["embedding"] for r in faces], axis=0) for faces in tracks], np.float32)
    labels = cluster_embeddings(centres, threshold) if len(tracks) else np.array([], np.int64)
    sizes = np.bincount(labels, weights=[len(faces) for faces in tracks]) if len(tracks) else np.array([])
    order = np.argsort(-sizes, kind="stable")  # number the people by face count, largest first
    rank = np.argsort(order)
    groups: dict[str, list[dict[str, Any]]] = {}
    for faces, label in zip(tracks, labels):
        name = f"person-{rank[label] + 1:02d}" if sizes[label] >= min_faces else "unsorted"
        groups.setdefault(name, []).extend(faces)
    _remove_previous(out_dir)
    rows = []
    for name in sorted(groups, key=lambda n: (n == "unsorted", n)):
        target = out_dir / name
        for record in groups[name]:
            _link(pooled / record["file"], target / record["file"])
        write_json(target / ALIGNMENTS, {"version": FACESET_VERSION, "align": data["align"], "faces": groups[name]},
                   indent=None)
        sources = sorted({Path(r["source"]).name for r in groups[name]})
        rows.append({"set": name, "faces": len(groups[name]), "sources": sources})
    write_json(out_dir / PEOPLE_LIST, {"threshold": threshold, "sets": rows})
    return rows


def _remove_previous(out_dir: Path) -> None:
    """Delete the person sets an earlier run wrote (named in people.json), never anything else."""
    listing = out_dir / PEOPLE_LIST
    if not listing.is_file():
        return
    import json

    try:
        names = [row["set"] for row in json.loads(listing.read_text())["sets"]]
    except (OSError, ValueError, KeyError, TypeError):
        return
    for name in names:
        folder = out_dir / name
        if name != POOLED and folder.is_dir() and (folder / FACES_DIR).is_dir():
            shutil.rmtree(folder)
