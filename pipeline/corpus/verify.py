"""``corpus verify``: re-check a whole corpus from its files, one line per problem.

Checks: every video decodes to the end without an error; every output has the frame count of its
original (the trimmed real video at the same compression) and of its manifest line; every fake's mask
video has as many frames as the fake; every output of an input with audio has audio, no longer than
its video; occluded videos name their occluder (matching their folder), were occluded, and a real video
shares its occluder seed with its fakes; splits are identity-disjoint, every fake's source identity is
in its target's split (a source from another split leaks that person), no video is in a split the plan
folded away, and the split files agree with the manifest; the manifest and the tree list the same videos; no temporary is left behind; no failed job.

A tree imported by ``facepipe corpus import`` (its lines carry ``"importer"``) is a download facepipe did
not make, so only what holds for any corpus is checked: every listed file decodes with the manifest's
frame count, masks match their fakes, splits are identity-disjoint, no failed line. The build's own
promises are skipped: a fake's frame count equal to its original's, sound, the split files (the
importer read them, perhaps from elsewhere) and every video of the tree being listed (a download holds
videos the import leaves out on purpose: DeepFakeDetection, DeeperForensics' source videos).
"""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.corpus.identities import SPLITS
from pipeline.corpus.layout import STATE
from pipeline.corpus.manifest import MANIFEST, check_line_paths, read_manifest
from pipeline.errors import FacepipeError

AUDIO_SLACK = 0.1  # seconds: an audio packet (AAC 21-23 ms, MP3 24-26 ms) past the last frame is fine


@dataclass
class Decoded:
    """What decoding a whole file found: video frames and seconds, audio seconds (None: no audio stream)."""

    frames: int
    video_seconds: float = 0.0
    audio_seconds: float | None = None
    error: str = ""


def decode(path: Path, copy: bool = False) -> Decoded:
    """Decode the video stream (and the first audio stream, if any) to the end; per-frame timing from framecrc.

    ``copy``: a stream-copy packet scan instead (no decoding, milliseconds): it still finds a truncated
    file and counts its frames, which is what a re-run of ``build`` checks every finished job's files with."""
    from pipeline.media.ffmpeg import ffmpeg_exe

    codec = ["-c", "copy"] if copy else []
    done = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-i", str(path), "-map", "0:v:0",
                           "-map", "0:a:0?", *codec, "-fps_mode", "passthrough", "-f", "framecrc", "-"],
                          capture_output=True, text=True, errors="replace")
    timebase: dict[int, float] = {}
    span: dict[int, list[float]] = {}
    frames = 0
    for line in done.stdout.splitlines():
        if line.startswith("#tb "):
            stream, value = line[4:].split(":", 1)
            num, den = value.strip().split("/")
            timebase[int(stream)] = int(num) / int(den)
        elif line and not line.startswith("#"):
            fields = line.split(",")
            stream, pts, duration = int(fields[0]), int(fields[2]), int(fields[3])
            frames += stream == 0
            low_high = span.setdefault(stream, [pts, pts + duration])
            low_high[0], low_high[1] = min(low_high[0], pts), max(low_high[1], pts + duration)
    seconds = {k: (v[1] - v[0]) * timebase.get(k, 0.0) for k, v in span.items()}
    error = done.stderr.strip().splitlines()[0] if done.stderr.strip() else ""
    if done.returncode != 0 and not error:
        error = f"ffmpeg exit {done.returncode}"
    has_audio = any(line.startswith("#media_type 1: audio") for line in done.stdout.splitlines())
    return Decoded(frames, seconds.get(0, 0.0), seconds.get(1, 0.0) if has_audio else None, error)


def source_audio(root: Path, ok: list[dict[str, Any]]) -> dict[str, bool]:
    """Target video number -> whether its input video has audio: probed from the input when it is still
    there (the truth), else what the build recorded (``source_audio`` in the manifest)."""
    from pipeline.media.decode import probe

    try:
        inputs = {number: path for number, path, _ in json.loads((root / STATE / "plan.json").read_text())["inputs"]}
    except (OSError, ValueError, KeyError):
        inputs = {}
    audio: dict[str, bool] = {}
    for line in ok:
        target = line["target"]
        if target in audio:
            continue
        try:
            audio[target] = probe(inputs[target]).has_audio
        except (KeyError, FacepipeError):
            audio[target] = bool(line.get("source_audio"))
    return audio


def verify_corpus(directory: str | Path) -> tuple[list[str], int]:
    """(problems, videos checked)."""
    root = Path(directory)
    if not (root / MANIFEST).is_file():
        raise FacepipeError(f"{root}: no {MANIFEST}; is this a corpus made by `facepipe corpus build` "
                            f"(or a download listed by `facepipe corpus import`)?")
    lines = read_manifest(root, check_paths=False)  # a path leading outside is a problem to list, not to open
    problems: list[str] = []
    ok = []
    for number, line in enumerate(lines, 1):
        if line.get("status") != "ok":
            continue
        try:
            check_line_paths(root, line, f"{MANIFEST} line {number}")
        except FacepipeError as exc:
            problems.append(str(exc))
            continue
        ok.append(line)
    problems += [f"job {l.get('key')} failed: {l.get('error')}" for l in lines if l.get("status") == "failed"]
    imported = any(l.get("importer") for l in lines)

    listed = {l["path"] for l in ok} | {l["mask"] for l in ok if l.get("mask")}
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*.mp4")
               if STATE not in p.relative_to(root).parts and not p.name.startswith(".")}
    problems += [f"{path}: in the manifest but missing" for path in sorted(listed - on_disk)]
    if not imported:
        problems += [f"{path}: in the tree but not in the manifest" for path in sorted(on_disk - listed)]
    problems += [f"{p.relative_to(root)}: temporary left behind" for p in root.rglob("*facepipe-partial*")]

    present = sorted(listed & on_disk)
    with ThreadPoolExecutor(2) as pool:
        decoded = dict(zip(present, pool.map(lambda rel: decode(root / rel), present)))
    counts = {path: (d.frames, d.error) for path, d in decoded.items()}
    for path, (frames, error) in counts.items():
        if error:
            problems.append(f"{path}: does not decode: {error}")
    originals = {(l["target"], l["compression"]): counts.get(l["path"], (None, ""))[0]
                 for l in ok if l["label"] == "real" and not l.get("variant")}
    if not imported:
        problems += _check_audio(ok, decoded, source_audio(root, ok))
    problems += _check_occlusion(ok)
    for line in ok:
        frames = counts.get(line["path"], (None, ""))[0]
        if frames is None:
            continue
        if frames != line.get("frames"):
            problems.append(f"{line['path']}: {frames} frames, the manifest says {line.get('frames')}")
        original = originals.get((line["target"], line["compression"]))
        if imported:  # a download's fakes need not have (or match) their original at that compression
            pass
        elif original is None:
            problems.append(f"{line['path']}: its original {line['target']} ({line['compression']}) is not in the corpus")
        elif frames != original:
            problems.append(f"{line['path']}: {frames} frames, its original {line['target']} has {original}")
        if line["label"] == "fake":
            masks = counts.get(line.get("mask") or "", (None, ""))[0]
            if masks is not None and masks != frames:
                problems.append(f"{line['mask']}: {masks} mask frames for {frames} frames of {line['path']}")
    problems += _check_splits(root, ok, files=not imported)
    return problems, len(counts)


def _check_audio(ok: list[dict[str, Any]], decoded: dict[str, Decoded], has_audio: dict[str, bool]) -> list[str]:
    """A video whose input has audio carries it, cut to the video's length (not longer by more than 0.1 s)."""
    problems = []
    for line in ok:
        found = decoded.get(line["path"])
        if found is None or found.error or not has_audio.get(line["target"]):
            continue
        if found.audio_seconds is None:
            problems.append(f"{line['path']}: no audio, but its input video has audio")
        elif found.audio_seconds > found.video_seconds + AUDIO_SLACK:
            problems.append(f"{line['path']}: {found.audio_seconds:.2f} s of audio for {found.video_seconds:.2f} s of video")
    return problems


def _check_occlusion(ok: list[dict[str, Any]]) -> list[str]:
    """Occluded videos say which occluder in their ``occlusion`` field, matching their folder, with at least
    one occluded frame; a real video and its fakes in one variant share the occluder's seed; no other
    video claims an occlusion."""
    from pipeline.corpus.occlude import FOLDER, from_record

    problems = []
    seeds: dict[tuple[str, str], set[int]] = {}
    for line in ok:
        variant, occlusion = line.get("variant") or "", line.get("occlusion")
        if not variant.startswith(FOLDER + "/"):
            if occlusion:
                problems.append(f"{line['path']}: has an occlusion field but is not under {FOLDER}/")
            continue
        if not isinstance(occlusion, dict):
            problems.append(f"{line['path']}: occluded video without an occlusion field in the manifest")
            continue
        if from_record(occlusion).folder() != variant:
            problems.append(f"{line['path']}: occlusion {occlusion.get('kind')}:{occlusion.get('level')}:"
                            f"{occlusion.get('anchor')} does not match its folder {variant}")
        if not occlusion.get("frames"):
            problems.append(f"{line['path']}: no frame was occluded")
        seeds.setdefault((line["target"], variant), set()).add(occlusion.get("seed"))
    for (target, variant), found in sorted(seeds.items()):
        if len(found) > 1:
            problems.append(f"{variant}: the videos of target {target} have different occluder seeds {sorted(found)}")
    return problems


def _check_splits(root: Path, ok: list[dict[str, Any]], files: bool = True) -> list[str]:
    """No identity in two splits, as a target or as a source; with ``files``, the plan and the split files
    agree with the manifest."""
    problems = []
    by_identity: dict[str, set[str]] = {}
    split_of_target: dict[str, str] = {}
    for line in ok:
        by_identity.setdefault(line["target_identity"], set()).add(line["split"])
        split_of_target[line["target"]] = line["split"]
    for identity, splits in sorted(by_identity.items()):
        if len(splits) > 1:
            problems.append(f"identity {identity} is in several splits: {', '.join(sorted(splits))}")
    borrowed = set()
    for line in ok:
        source = line.get("source_identity")
        if line["label"] != "fake" or source is None:
            continue
        home = by_identity.get(source)  # None: its real video is not in the corpus (a failed job, listed)
        if home is not None and line["split"] not in home:
            borrowed.add((line.get("method"), line["target"], line.get("source"), line["split"], source,
                          ", ".join(sorted(home))))
    for method, target, source, split, identity, home in sorted(borrowed, key=str):
        problems.append(f"{method} fake {target}_{source} ({split}): its source identity {identity} is in "
                        f"split {home}, not {split}")
    if not files:
        return problems
    try:
        folded = json.loads((root / STATE / "plan.json").read_text()).get("splits", {}).get("folded", {})
    except (OSError, ValueError, AttributeError):
        folded = {}
    for name in sorted(set(folded) & set(split_of_target.values())):
        problems.append(f"split {name} was folded into {folded[name]} (plan.json) but the manifest has videos in it")
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
            elif split_of_target.get(pair[1], name) != name:
                problems.append(f"splits/{name}.json: source {pair[1]} of target {pair[0]} is in split "
                                f"{split_of_target[pair[1]]} in the manifest")
    return problems
