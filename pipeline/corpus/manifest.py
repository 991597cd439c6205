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

from pipeline.media.atomic import write_text

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


def read_manifest(root: Path) -> list[dict[str, Any]]:
    path = root / MANIFEST
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
