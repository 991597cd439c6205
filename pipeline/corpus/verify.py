"""``corpus verify``: re-check a whole corpus from its files, one line per problem.

Checks: every video decodes to the end without an error; every output has the frame count of its
original (the trimmed real video at the same compression) and of its manifest line; every fake's mask
video has as many frames as the fake; splits are identity-disjoint and the split files agree with the
manifest; the manifest and the tree list the same videos; no temporary is left behind; no failed job.
"""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pipeline.corpus.identities import SPLITS
from pipeline.corpus.layout import STATE
from pipeline.corpus.manifest import MANIFEST, read_manifest
from pipeline.errors import FacepipeError


def decode_count(path: Path) -> tuple[int, str]:
    """(frames decoded, first error line or "") by decoding the whole video stream."""
    from pipeline.media.ffmpeg import ffmpeg_exe

    done = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-i", str(path), "-map", "0:v:0",
                           "-f", "null", "-progress", "pipe:1", "-nostats", "-"], capture_output=True, text=True)
    frames = 0
    for line in done.stdout.splitlines():
        if line.startswith("frame="):
            frames = int(line.split("=", 1)[1] or 0)
    error = done.stderr.strip().splitlines()[0] if done.stderr.strip() else ""
    if done.returncode != 0 and not error:
        error = f"ffmpeg exit {done.returncode}"
    return frames, error


def verify_corpus(directory: str | Path) -> tuple[list[str], int]:
    """(problems, videos checked)."""
    root = Path(directory)
    if not (root / MANIFEST).is_file():
        raise FacepipeError(f"{root}: no {MANIFEST}; is this a corpus made by `facepipe corpus build`?")
    try:
        lines = read_manifest(root)
    except ValueError as exc:
        raise FacepipeError(f"{root / MANIFEST}: not valid JSON lines ({exc})") from None
    problems: list[str] = []
    ok = [l for l in lines if l.get("status") == "ok"]
    problems += [f"job {l.get('key')} failed: {l.get('error')}" for l in lines if l.get("status") == "failed"]

    listed = {l["path"] for l in ok} | {l["mask"] for l in ok if l.get("mask")}
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*.mp4")
               if STATE not in p.relative_to(root).parts and not p.name.startswith(".")}
    problems += [f"{path}: in the manifest but missing" for path in sorted(listed - on_disk)]
    problems += [f"{path}: in the tree but not in the manifest" for path in sorted(on_disk - listed)]
    problems += [f"{p.relative_to(root)}: temporary left behind" for p in root.rglob("*facepipe-partial*")]

    present = sorted(listed & on_disk)
    with ThreadPoolExecutor(2) as pool:
        counts = dict(zip(present, pool.map(lambda rel: decode_count(root / rel), present)))
    for path, (frames, error) in counts.items():
        if error:
            problems.append(f"{path}: does not decode: {error}")
    originals = {(l["target"], l["compression"]): counts.get(l["path"], (None, ""))[0]
                 for l in ok if l["label"] == "real" and not l.get("variant")}
    for line in ok:
        frames = counts.get(line["path"], (None, ""))[0]
        if frames is None:
            continue
        if frames != line.get("frames"):
            problems.append(f"{line['path']}: {frames} frames, the manifest says {line.get('frames')}")
        original = originals.get((line["target"], line["compression"]))
        if original is None:
            problems.append(f"{line['path']}: its original {line['target']} ({line['compression']}) is not in the corpus")
        elif frames != original:
            problems.append(f"{line['path']}: {frames} frames, its original {line['target']} has {original}")
        if line["label"] == "fake":
            masks = counts.get(line.get("mask") or "", (None, ""))[0]
            if masks is not None and masks != frames:
                problems.append(f"{line['mask']}: {masks} mask frames for {frames} frames of {line['path']}")
    problems += _check_splits(root, ok)
    return problems, len(counts)


def _check_splits(root: Path, ok: list[dict[str, Any]]) -> list[str]:
    problems = []
    by_identity: dict[str, set[str]] = {}
    split_of_target: dict[str, str] = {}
    for line in ok:
        by_identity.setdefault(line["target_identity"], set()).add(line["split"])
        split_of_target[line["target"]] = line["split"]
    for identity, splits in sorted(by_identity.items()):
        if len(splits) > 1:
            problems.append(f"identity {identity} is in several splits: {', '.join(sorted(splits))}")
    for name in SPLITS:
        path = root / "splits" / f"{name}.json"
        try:
            pairs = json.loads(path.read_text())
        except (OSError, ValueError):
            problems.append(f"splits/{name}.json: missing or not JSON")
            continue
        for pair in pairs:
            if not (isinstance(pair, list) and len(pair) == 2):
                problems.append(f"splits/{name}.json: {pair!r} is not [target, source]")
            elif split_of_target.get(pair[0], name) != name:
                problems.append(f"splits/{name}.json: target {pair[0]} is in split {split_of_target[pair[0]]} in the manifest")
    return problems
