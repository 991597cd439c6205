"""``manifest.jsonl`` (one line per output video), ``manifest.csv`` and the DeeperForensics meta lines.

The manifest is rebuilt at the end of every build from the job records in ``.facepipe/records`` plus
this run's failures and skipped inputs, so a resumed run lists every video exactly once.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from pipeline.errors import FacepipeError
from pipeline.media.atomic import write_text
from pipeline.media.paths import inside

MANIFEST = "manifest.jsonl"
MANIFEST_CSV = "manifest.csv"
META = "perturbations.txt"
COLUMNS = ["status", "path", "label", "method", "target", "source", "target_identity", "source_identity", "split",
           "compression", "perturbation", "occlusion", "frames", "fps", "size", "mask", "seed", "model",
           "model_sha256", "facepipe_version", "git_commit", "error"]


def read_records(directory: Path) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.json")):
        try:
            lines.extend(json.loads(path.read_text())["lines"])
        except (OSError, ValueError, KeyError):
            continue  # an unreadable record is a job to redo, not a manifest line
    return lines


def write_manifest(root: Path, lines: list[dict[str, Any]]) -> None:
    ordered = sorted(lines, key=lambda l: (l.get("status") != "ok", str(l.get("path", "")), str(l.get("key", ""))))
    write_text(root / MANIFEST, "".join(json.dumps(line, sort_keys=True) + "\n" for line in ordered))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, COLUMNS + ["key", "video", "warning"], extrasaction="ignore")
    writer.writeheader()
    for line in ordered:
        row = dict(line)
        row["perturbation"] = " ".join(line.get("perturbation") or [])
        row["size"] = "x".join(map(str, line["size"])) if line.get("size") else ""
        occlusion = line.get("occlusion")
        row["occlusion"] = (f"{occlusion['kind']}:{occlusion['level']}:{occlusion['anchor']} seed={occlusion['seed']} "
                            f"frames={occlusion.get('frames', '')}" if occlusion else "")
        writer.writerow(row)
    write_text(root / MANIFEST_CSV, buffer.getvalue())
    meta = [" ".join([line["path"], *line["perturbation"]]) for line in ordered
            if line.get("status") == "ok" and line.get("perturbation")]
    write_text(root / META, "".join(m + "\n" for m in meta))


PATH_FIELDS = ("path", "mask")  # the fields readers open (relative to the corpus)


def read_manifest(root: Path, check_paths: bool = True) -> list[dict[str, Any]]:
    """The manifest's lines; a missing file raises FileNotFoundError, a bad line a one-line FacepipeError.

    With ``check_paths`` every ``path`` and ``mask`` of a finished video must lie inside ``root``: a
    manifest is data anyone can hand over, and ``../../x`` would make export read and mirror files
    outside both the corpus and its output folder. ``verify`` reads without it and lists such lines."""
    path = root / MANIFEST
    lines: list[dict[str, Any]] = []
    for number, text in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not text.strip():
            continue
        try:
            line = json.loads(text)
        except ValueError:
            raise FacepipeError(f"{path}:{number}: not a JSON line") from None
        if not isinstance(line, dict):
            raise FacepipeError(f"{path}:{number}: not a JSON object")
        if check_paths:
            check_line_paths(root, line, f"{path}:{number}")
        lines.append(line)
    return lines


def check_line_paths(root: Path, line: dict[str, Any], where: str) -> None:
    """Refuse (one line) a finished video's ``path`` or ``mask`` that leads outside ``root``."""
    if line.get("status", "ok") != "ok":
        return
    for field in PATH_FIELDS:
        if field == "path" or line.get(field) is not None:
            inside(root, line.get(field), where)
