"""A corpus as the detector sees it: the lines of ``manifest.jsonl`` (FaceForensics++ layout).

Only the manifest is read, never the corpus generator's code, so any tree that writes the same
fields works. Fields used: ``path`` (relative to the corpus), ``label`` (real/fake), ``split``,
``method``, ``compression`` and ``perturbation`` (a list of ``TYPE:LEVEL`` strings or
``{"type", "level"}`` objects; empty = clean) or ``occlusion`` (set = the occluded variant of that
folder, never clean). Lines with an ``error`` (failed jobs) are skipped. A ``path`` that leads outside the corpus (``../``, an
absolute path, a symlink out) is refused with one line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from pipeline.errors import FacepipeError
from pipeline.media.paths import inside

MANIFEST = "manifest.jsonl"
CLEAN = "clean"


@dataclass(frozen=True)
class Video:
    path: Path  # absolute
    key: str  # the path relative to the corpus: a stable name for caches and reports
    label: int  # 1 = fake
    split: str
    method: str  # "real" for originals
    compression: str
    perturbation: str  # "clean", "CS_3", or a mix "CS_3+GB_2"
    identity: str

    @property
    def label_name(self) -> str:
        return "fake" if self.label else "real"


def _perturbation(value: Any) -> str:
    if not value:
        return CLEAN
    items = value if isinstance(value, list) else [value]
    names = []
    for item in items:
        if isinstance(item, dict):
            names.append(f"{item.get('type', '?')}_{item.get('level', '?')}")
        else:
            names.append(str(item).replace(":", "_"))
    return "+".join(names) or CLEAN


def _occlusion(row: dict[str, Any]) -> str:
    """An occluded video (``occlusion`` set, under ``occluded/<KIND>_<LEVEL>``) is a robustness variant, not
    clean: named after its folder, ``occluded_block_3``."""
    occlusion = row.get("occlusion")
    if not occlusion:
        return ""
    variant = str(row.get("variant") or "")
    if variant:
        return variant.replace("/", "_")
    if isinstance(occlusion, dict):
        return f"occluded_{occlusion.get('kind', '?')}_{occlusion.get('level', '?')}"
    return f"occluded_{occlusion}"


def _label(value: Any, where: str) -> int:
    text = str(value).lower()
    if text in ("fake", "1", "true"):
        return 1
    if text in ("real", "0", "false"):
        return 0
    raise FacepipeError(f"{where}: label {value!r} is neither 'real' nor 'fake'")


def read_corpus(corpus_dir: str | Path) -> list[Video]:
    """Every usable video of the corpus; a missing or broken manifest is a one-line error."""
    root = Path(corpus_dir)
    manifest = root / MANIFEST
    if not root.is_dir():
        raise FacepipeError(f"corpus not found: {root}")
    if not manifest.is_file():
        raise FacepipeError(f"{root}: no {MANIFEST}; build the corpus with `facepipe corpus build`")
    videos: list[Video] = []
    for number, line in enumerate(manifest.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{manifest}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise FacepipeError(f"{where}: not a JSON line") from None
        if not isinstance(row, dict) or row.get("error") or row.get("status") in ("failed", "skipped"):
            continue
        if "path" not in row or "label" not in row:
            raise FacepipeError(f"{where}: a manifest line needs 'path' and 'label'")
        label = _label(row["label"], where)
        identity = row.get("target_identity") or row.get("identity") or row.get("target") or ""
        path = inside(root, row["path"], where)  # a manifest is data: ../ or /abs would read outside the corpus
        videos.append(Video(path=path, key=str(row["path"]), label=label,
                            split=str(row.get("split") or ""), method=str(row.get("method") or ("fake" if label else "real")) if label else "real",
                            compression=str(row.get("compression") or "c23"),
                            perturbation=_occlusion(row) or _perturbation(row.get("perturbation", row.get("perturbations"))),
                            identity=str(identity)))
    if not videos:
        raise FacepipeError(f"{manifest}: lists no videos")
    return videos


def select(videos: Iterable[Video], split: str, compression: str | None = None, clean_only: bool = False) -> list[Video]:
    return [v for v in videos if v.split == split and (compression is None or v.compression == compression)
            and (not clean_only or v.perturbation == CLEAN)]


def require_both_classes(videos: list[Video], what: str) -> None:
    labels = {v.label for v in videos}
    if labels != {0, 1}:
        have = "no videos" if not labels else f"only {'fake' if 1 in labels else 'real'} videos"
        raise FacepipeError(f"{what} has {have}; a detector needs both real and fake videos")


def require_split(videos: list[Video], split: str, corpus_dir: str | Path) -> list[Video]:
    chosen = [v for v in videos if v.split == split]
    if not chosen:
        splits = sorted({v.split for v in videos if v.split})
        raise FacepipeError(f"{corpus_dir}: no '{split}' split in the manifest (splits found: {', '.join(splits) or 'none'})")
    return chosen
