"""``corpus export --format deepfakebench``: what DeepfakeBench's dataset loader reads.

DeepfakeBench (Yan et al., NeurIPS 2023) trains on pre-cropped faces and finds everything through one
JSON per dataset. Its loader's rules, which this exporter follows and the tests check:
- ``dataset_json/<Name>.json`` = ``{Name: {<Name>_Real | <Name>_Fake: {train|val|test: {video:
  {"label": <Name>_Real|<Name>_Fake, "frames": [...], "masks": [...]}}}}}`` (no compression level: that
  nesting is only for FF++'s own names);
- frame paths are ``./`` relative paths containing ``frames/<video>/<int>.png``; the loader sorts frames
  by the integer file name and finds a frame's landmarks and mask by replacing ``frames`` with
  ``landmarks`` (and ``.png`` with ``.npy``) or ``masks``;
- labels map to integers through ``label_dict`` in its config: ``label_dict.yaml`` holds the snippet.

Frames are our aligned crops (the target's cached alignment, rescaled to ``--resolution`` px), evenly spaced over
the video; landmarks are the 68 points in crop pixels (float32, (68, 2)); masks are the blend-mask
video's frames cut with the same alignment (fakes only; real videos list none).

``--compression`` picks c0/c23/c40 and ``--variant`` a perturbed or occluded tree, so each robustness
set exports as a dataset of its own (its frames live under its own tree, ``perturbed/GB_3/.../frames``,
so several exports can share one output folder).

``--dfb-root DIR`` writes into a DeepfakeBench checkout the way its own preprocessing does, because its
``train.py``/``test.py`` run from that root and the loader resolves ``./`` frame paths against the working
directory (its ``rgb_dir`` prefixes only paths not starting with ``.``, joined by a backslash, so it cannot
help): frames, landmarks and masks under ``DIR/datasets/rgb/<Name>/``, the JSON in
``DIR/preprocessing/dataset_json/<Name>.json`` (the config's ``dataset_json_folder``), frame paths
``./datasets/rgb/<Name>/...``. The loader never rescales landmarks (only the image, to the config's
``resolution``), so frames, masks and landmarks are all written at ``--resolution`` (256 or 224): one
export is one resolution. Names of FF++'s family (``FF-DF``, ``FaceForensics++``, ... and their ``_c40``
forms) get the compression level the loader indexes for them (``{split: {c23: {video: ...}}}``).
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.corpus.identities import SPLITS
from pipeline.corpus.layout import Layout
from pipeline.corpus.manifest import read_manifest
from pipeline.errors import FacepipeError
from pipeline.media.atomic import atomic_path, write_image, write_json, write_text
from pipeline.media.paths import inside

# The loader (DeepfakeBench training/dataset/abstract_dataset.py) indexes these by compression level.
FFPP_FAMILY = ("FaceForensics++", "FaceShifter", "DeepFakeDetection", "FF-DF", "FF-F2F", "FF-FS", "FF-NT")
RESOLUTIONS = (256, 224)  # DeepfakeBench detectors' input sizes; landmarks are written in these pixels
JSON_FOLDER = "preprocessing/dataset_json"  # DeepfakeBench's dataset_json_folder, relative to its root


def ffpp_key(name: str, compression: str) -> str | None:
    """The JSON's top key for a name of FF++'s family (the loader strips ``_c40`` and then reads the
    ``c40`` level, whatever the config says), ``None`` for any other name; a ``_c40`` name of another
    compression is refused, since the loader would look for frames that are not there."""
    if name in FFPP_FAMILY:
        return name
    base = name[:-4] if name.endswith("_c40") else ""
    if base in FFPP_FAMILY[:1] + FFPP_FAMILY[3:]:
        if compression != "c40":
            raise FacepipeError(f"--name {name}: DeepfakeBench reads the c40 level for it; export with --compression c40")
        return base
    return None


def _frames_dir(relative_video: str) -> str:
    """``.../c23/videos/000_001.mp4`` -> ``.../c23/frames/000_001``."""
    path = Path(relative_video)
    return (path.parent.parent / "frames" / path.stem).as_posix()


def _decode(path: Path, wanted: set[int]) -> dict[int, np.ndarray]:
    from pipeline.media.decode import FileSource

    source = FileSource(path)
    source.open()
    frames: dict[int, np.ndarray] = {}
    try:
        for frame in source.frames():
            if frame.index in wanted:
                frames[frame.index] = frame.image
            if len(frames) == len(wanted):
                break
    finally:
        source.close()
    return frames


def export_video(root: Path, out: Path, line: dict[str, Any], count: int, size: int, resolution: int | None = None,
                 prefix: str = "") -> tuple[list[str], list[str]]:
    """Frames, landmarks and masks of one video at ``resolution`` px (default: the crop ``size``), under
    ``out/prefix``; returns the ``./``-relative frame and mask paths the JSON lists."""
    from pipeline.corpus.faces import face_records
    from stages.align import warp_face
    from stages.faces.geometry import transform

    faces = Layout(root).state() / "faces"
    records = face_records(inside(faces, str(line.get("target")), f"{root} manifest, target of {line['path']}"))
    numbers = sorted(i for i in records if i < int(line["frames"]))
    if not numbers:
        return [], []
    picks = sorted({numbers[round(k)] for k in np.linspace(0, len(numbers) - 1, min(count, len(numbers)))})
    images = _decode(inside(root, line["path"]), set(picks))
    masks = _decode(inside(root, line["mask"]), set(picks)) if line.get("mask") else {}
    folder = (f"{prefix}/" if prefix else "") + _frames_dir(line["path"])
    resolution = resolution or size
    scale = np.array([[resolution / size], [resolution / size]])  # crop pixels -> output pixels
    frame_paths, mask_paths = [], []
    for number in picks:
        if number not in images:
            continue
        record = records[number]
        matrix = np.asarray(record["matrix"], np.float64) * scale
        name = f"{folder}/{number:03d}.png"
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        if not write_image(out / name, warp_face(images[number], matrix, resolution)):
            raise FacepipeError(f"cannot write {out / name}")
        # albumentations refuses keypoints outside the image, so a point past the crop's edge is clamped to it
        landmarks = np.clip(transform(np.asarray(record["landmarks"], np.float64), matrix), 0, resolution - 1)
        landmarks = landmarks.astype(np.float32)
        lm_path = out / name.replace("frames", "landmarks").replace(".png", ".npy")
        lm_path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(lm_path) as temp:
            with open(temp, "wb") as handle:
                np.save(handle, landmarks)
        frame_paths.append(f"./{name}")
        if number in masks:
            mask_name = name.replace("frames", "masks")
            (out / mask_name).parent.mkdir(parents=True, exist_ok=True)
            grey = warp_face(masks[number], matrix, resolution)[..., 0]
            write_image(out / mask_name, grey)
            mask_paths.append(f"./{mask_name}")
    return frame_paths, mask_paths


def default_name(variant: str) -> str:
    """``Facepipe`` for the unperturbed tree; ``Facepipe_GB_3``, ``Facepipe_occluded_block_3`` for a variant."""
    variant = variant.strip("/")
    if not variant:
        return "Facepipe"
    return "Facepipe_" + (variant.split("/", 1)[1] if variant.startswith("perturbed/") else variant.replace("/", "_"))


def choose(lines: list[dict[str, Any]], root: Path, compression: str, variant: str) -> list[dict[str, Any]]:
    """The manifest lines of one compression and one variant tree; a one-line error for one the corpus lacks."""
    ok = [l for l in lines if l.get("status") == "ok"]
    compressions = sorted({l.get("compression") for l in ok if l.get("compression")})
    if compression not in compressions:
        raise FacepipeError(f"--compression {compression}: {root} has only {', '.join(compressions) or 'no videos'}")
    variants = sorted({l.get("variant") or "" for l in ok} - {""})
    variant = variant.strip("/")
    if variant and variant not in variants:
        raise FacepipeError(f"--variant {variant}: {root} has " + (", ".join(variants) if variants else "no variant trees"))
    chosen = [l for l in ok if (l.get("variant") or "") == variant and l.get("compression") == compression]
    if not chosen:
        raise FacepipeError(f"{root}: no {variant or 'unperturbed'} {compression} videos to export")
    for line in chosen:
        if line.get("label") not in ("real", "fake") or line.get("split") not in SPLITS or not line.get("target") \
                or not isinstance(line.get("frames"), int):
            raise FacepipeError(f"{root}/manifest.jsonl: the line of {line.get('path')} lacks a valid label, split, "
                                f"target or frames")
    return chosen


def _planned(out: Path, name: str, chosen: list[dict[str, Any]], dfb: bool = False) -> list[Path]:
    """What this export puts in ``out`` that could already be there: its dataset JSON and the frame,
    landmark and mask folders of its videos (``label_dict.yaml`` is merged, not replaced)."""
    json_folder, prefix = (JSON_FOLDER, f"datasets/rgb/{name}/") if dfb else ("dataset_json", "")
    paths = [out / json_folder / f"{name}.json"]
    for line in chosen:
        folder = prefix + _frames_dir(line["path"])
        paths += [out / folder, out / folder.replace("frames", "landmarks"), out / folder.replace("frames", "masks")]
    return paths


def check_output(out: Path, name: str, chosen: list[dict[str, Any]], overwrite: bool, dfb: bool = False) -> list[Path]:
    """Refuse, before any work, an output that is a file or that already holds this export (without
    ``--overwrite``); returns what the export replaces."""
    if out.exists() and not out.is_dir():
        raise FacepipeError(f"output {out} is a file, not a folder; give a folder for the export")
    if not out.exists() and not out.parent.is_dir():
        raise FacepipeError(f"output folder's parent does not exist: {out.parent}")
    if dfb and not out.is_dir():
        raise FacepipeError(f"--dfb-root {out}: not a folder; give DeepfakeBench's root (where train.py runs from)")
    existing = [p for p in _planned(out, name, chosen, dfb) if p.exists()]
    if existing and not overwrite:
        shown = ", ".join(p.relative_to(out).as_posix() for p in existing[:2]) + (" ..." if len(existing) > 2 else "")
        raise FacepipeError(f"output {out} already holds {len(existing)} file(s) or folder(s) of export {name} "
                            f"({shown}); pass --overwrite to replace them")
    return existing


def _merge_label_dict(path: Path, entries: dict[str, int]) -> str:
    """``label_dict.yaml`` for every dataset exported into this folder so far (several sets share one)."""
    known: dict[str, int] = {}
    if path.is_file():
        for text in path.read_text(errors="replace").splitlines():
            key, sep, value = text.strip().partition(":")
            if sep and text.startswith("  ") and value.strip() in ("0", "1"):
                known[key.strip()] = int(value)
    known.update(entries)
    body = "".join(f"  {key}: {value}\n" for key, value in known.items())
    return f"# merge into DeepfakeBench's config: label_dict\nlabel_dict:\n{body}"


def _move_tree(staging: Path, out: Path, replaced: list[Path]) -> None:
    """Move a finished staging folder into ``out``: renamed whole when ``out`` is new, else file by file
    after removing what ``--overwrite`` replaces (so no stale frame of an earlier export stays listed)."""
    if not out.exists():
        os.replace(staging, out)
        return
    for path in replaced:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    for source in sorted(p for p in staging.rglob("*") if p.is_file()):
        target = out / source.relative_to(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
    shutil.rmtree(staging, ignore_errors=True)


def export_deepfakebench(corpus: str | Path, output: str | Path, name: str, compression: str, count: int,
                         variant: str = "", overwrite: bool = False, dfb_root: bool = False,
                         resolution: int = 256) -> int:
    """Export one compression of one tree (``variant``: ``""`` = unperturbed, ``perturbed/GB_3``,
    ``occluded/block_3``); frames are cut with the target's cached alignment in every tree. With
    ``dfb_root``, ``output`` is DeepfakeBench's root and the files go where its loader looks for them.

    Everything is written into a hidden staging folder beside (or inside) ``output`` and moved into
    place only when the whole export succeeded, so a bad video or Ctrl-C leaves ``output`` as it was."""
    root, out = Path(corpus), Path(output)
    if "frames" in name or "/" in name or "\\" in name or not name.strip("."):
        raise FacepipeError(f"--name {name!r}: must not contain 'frames', '/' or '\\' (the loader rewrites "
                            f"'frames' in paths)")
    if resolution not in RESOLUTIONS:
        raise FacepipeError(f"--resolution {resolution}: must be one of {', '.join(map(str, RESOLUTIONS))} "
                            f"(landmarks are written in that resolution's pixels)")
    top = ffpp_key(name, compression)
    if not root.is_dir():
        raise FacepipeError(f"corpus not found: {root}")
    try:
        lines = read_manifest(root)
    except FileNotFoundError:
        raise FacepipeError(f"{root}: no manifest.jsonl; is this a corpus made by `facepipe corpus build`?") from None
    chosen = choose(lines, root, compression, variant)
    import json

    try:
        size = int(json.loads(Layout(root).plan().read_text())["align"][0])
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        raise FacepipeError(f"{Layout(root).plan()}: missing or unreadable; is this a corpus made by "
                            f"`facepipe corpus build`?") from None
    replaced = check_output(out, name, chosen, overwrite, dfb_root)
    prefix, json_folder = (f"datasets/rgb/{name}", JSON_FOLDER) if dfb_root else ("", "dataset_json")
    real, fake = f"{name}_Real", f"{name}_Fake"
    table: dict[str, dict[str, dict[str, Any]]] = {real: {s: {} for s in SPLITS}, fake: {s: {} for s in SPLITS}}
    holder = out if out.is_dir() else out.parent
    staging = holder / f".{out.name}.{os.getpid()}-{secrets.token_hex(4)}.facepipe-export"
    staging.mkdir()  # mode from the umask, unlike mkdtemp's 0700: it may become ``out`` itself
    try:
        for line in chosen:
            frames, masks = export_video(root, staging, line, count, size, resolution, prefix)
            if not frames:
                continue
            label = real if line["label"] == "real" else fake
            video = Path(line["path"]).stem if label == real else f"{line['method']}_{Path(line['path']).stem}"
            table[label][line["split"]][video] = {"label": label, "frames": frames, "masks": masks}
        (staging / json_folder).mkdir(parents=True, exist_ok=True)
        if top is not None:  # the loader reads table[label][split][compression] for FF++'s family
            table = {label: {split: {compression: videos} for split, videos in splits.items()}
                     for label, splits in table.items()}
        write_json(staging / json_folder / f"{name}.json", {top or name: table})
        label_dict = f"{JSON_FOLDER}/facepipe_label_dict.yaml" if dfb_root else "label_dict.yaml"
        write_text(staging / label_dict, _merge_label_dict(out / label_dict, {real: 0, fake: 1}))
        _move_tree(staging, out, replaced)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return len(chosen)


def config_hint(name: str, compression: str, resolution: int, dfb_root: bool) -> str:
    """What a DeepfakeBench user adds to its configs, printed after an export (its defaults break the
    export: ``lmdb: True`` looks for an LMDB and ``dataset_json_v3``; test.py lets test_config.yaml's
    ``label_dict`` win; train.py lets the detector yaml's win when it has one)."""
    where = "run train.py/test.py from that folder" if dfb_root else \
        "frame paths are relative to -o; use --dfb-root DIR to export into DeepfakeBench's root"
    lines = [f"DeepfakeBench ({where}):",
             "  in training/config/train_config.yaml AND training/config/test_config.yaml:",
             "    lmdb: false",
             f"    dataset_json_folder: {JSON_FOLDER if dfb_root else '<-o>/dataset_json'}",
             "    label_dict:   # add these entries (also to the detector yaml's label_dict if it has one)",
             f"      {name}_Real: 0",
             f"      {name}_Fake: 1",
             "  in the detector yaml (training/config/detector/<model>.yaml):",
             f"    train_dataset: [{name}]",
             f"    test_dataset: [{name}]",
             f"    resolution: {resolution}   # frames, masks and landmarks are {resolution} px"]
    if ffpp_key(name, compression) is not None and not name.endswith("_c40"):
        lines.append(f"    compression: {compression}")
    return "\n".join(lines)
