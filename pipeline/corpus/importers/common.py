"""What both importers share: the videos they find, the split rule, frame counts and the manifest.

An importer only *finds* videos (:class:`Candidate`) and reads the dataset's own split files
(:class:`SplitTable`); everything after that is the same for every format, so it lives here:

- **Splits never leak people.** Every person (a real video's number, a fake's target and source) gets
  the splits the official files put them in. A video is kept only when all its people sit in exactly
  the one split of its unit (a fake's pair or name; a real's person), else it is left out and counted
  in one warning line. With no split files at all every video is listed with split ``""``.
- **Paths stay inside the root.** Each path is checked with :func:`pipeline.media.paths.inside`, the
  check every reader applies: a video symlinked out of the root is refused here, at import, instead of
  writing a manifest that ``detector train`` or ``corpus export`` would refuse later.
- **Frames are counted** with ``verify``'s packet scan (no decoding), which also finds unreadable files:
  those become ``failed`` lines, which readers skip and ``corpus verify`` lists.
- **The manifest** is facepipe's own (``write_manifest``), each line marked ``"importer": <format>`` so
  that a re-import may replace it and ``corpus verify`` knows which facepipe-only checks to skip.
"""

from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from pipeline.corpus.identities import SPLITS
from pipeline.corpus.manifest import MANIFEST, read_manifest, write_manifest
from pipeline.errors import FacepipeError
from pipeline.media.paths import inside

if TYPE_CHECKING:
    from pipeline.config import Config

IMPORTER = "importer"  # the manifest field that marks a line written by ``corpus import``
PREFERRED = ("c23", "c0", "c40")  # which original a target's face cache is cut from

Warn = Callable[[str], None]
Progress = Callable[[str, int], AbstractContextManager[Callable[[Any], None]]]


@dataclass(frozen=True)
class Candidate:
    """One video an importer found; ``target`` is a real's own number, a fake's target (its frames)."""

    path: str  # relative to the root, posix
    label: str  # "real" | "fake"
    target: str
    compression: str  # c0 / c23 / c40 (pipeline.corpus.layout.COMPRESSIONS)
    method: str | None = None
    source: str | None = None  # a fake's source identity (whose face)
    variant: str = ""  # a perturbed copy's folder (DeeperForensics), "" for the clean tree
    perturbation: tuple[str, ...] = ()
    mask: str | None = None
    distortions: tuple[str, ...] = ()  # DeeperForensics' per-video meta (TYPE:LEVEL, in order)

    @property
    def people(self) -> tuple[str, ...]:
        return (self.target, self.source) if self.label == "fake" and self.source else (self.target,)

    @property
    def unit(self) -> str:
        """What a split file lists: a fake's ``TTT_SSS`` pair / name; a real's number."""
        return f"{self.target}_{self.source}" if self.label == "fake" else self.target


@dataclass
class SplitTable:
    """The official splits: the split of each listed fake (``TTT_SSS``, both orders for FF++ pairs)
    and every split each person appears in (more than one = a leak)."""

    units: dict[str, str] = field(default_factory=dict)
    people: dict[str, set[str]] = field(default_factory=dict)

    def add(self, split: str, target: str, source: str, both_orders: bool) -> None:
        for unit in ([f"{target}_{source}", f"{source}_{target}"] if both_orders else [f"{target}_{source}"]):
            if self.units.setdefault(unit, split) != split:
                self.units[unit] = ""  # one pair in two split files: no split can hold it
        for person in (target, source):
            self.people.setdefault(person, set()).add(split)


@dataclass
class Scan:
    """What an importer found: candidate videos, the official splits (None: no split files) and one
    line per missing or skipped part."""

    candidates: list[Candidate]
    splits: SplitTable | None
    warnings: list[str] = field(default_factory=list)


@dataclass
class ImportResult:
    """What ``import_corpus`` wrote: counts for the summary line, and the warnings it gave."""

    format: str
    title: str
    manifest: Path
    real: int
    fake: int
    failed: int
    by_split: dict[str, int]
    compressions: list[str]
    warnings: list[str]
    faces: int = 0  # face caches written with ``faces=True``


def list_videos(root: Path, folder: Path) -> list[str]:
    """The ``.mp4`` files of ``folder`` as root-relative paths, each refused (one line) if it leads out
    of the root: a symlink out would pass here and be refused by every reader of the manifest."""
    if not folder.is_dir():
        return []
    found = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or entry.suffix.lower() != ".mp4":
            continue
        relative = entry.relative_to(root).as_posix()
        try:
            inside(root, relative)
        except FacepipeError:
            raise FacepipeError(f"{relative}: leads outside {root} (a symlink out); every corpus path must stay "
                                f"inside the corpus: copy, hard-link or bind-mount the videos in") from None
        if entry.is_file():
            found.append(relative)
    return found


def subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")) if folder.is_dir() else []


def examples(items: list[str], count: int = 3) -> str:
    shown = ", ".join(items[:count])
    return shown + (f" and {len(items) - count} more" if len(items) > count else "")


def read_split_files(folder: Path, suffix: str, explicit: bool, what: str) -> dict[str, Path]:
    """split -> file of the ones present; a ``--splits`` folder holding none of them is refused."""
    present = {name: folder / f"{name}{suffix}" for name in SPLITS if (folder / f"{name}{suffix}").is_file()}
    if explicit and not present:
        raise FacepipeError(f"--splits {folder}: holds none of {', '.join(n + suffix for n in SPLITS)} ({what})")
    return present


def split_warning(folder: Path, suffix: str, present: dict[str, Path], hint: str) -> str | None:
    """One line for absent split files (all of them, or some)."""
    if not present:
        return (f"no split files in {folder} ({', '.join(n + suffix for n in SPLITS)}; {hint}): every video is "
                f"listed with no split, and `detector train` needs a train split")
    missing = [n for n in SPLITS if n not in present]
    if missing:
        return f"no {', '.join(n + suffix for n in missing)} in {folder}: no video is in {', '.join(missing)}"
    return None


def official_splits(folder: Path, suffix: str, explicit: bool, what: str, hint: str, warnings: list[str],
                    pairs: Callable[[Path], Iterable[tuple[str, str]]], both_orders: bool) -> SplitTable | None:
    """The dataset's split files in ``folder`` as a table (None when there are none, with one warning
    line); ``pairs`` reads one file into its (target, source) units, in that format's way."""
    present = read_split_files(folder, suffix, explicit, what)
    message = split_warning(folder, suffix, present, hint)
    if message:
        warnings.append(message)
    if not present:
        return None
    table = SplitTable()
    for split, path in present.items():
        for target, source in pairs(path):
            table.add(split, target, source, both_orders=both_orders)
    return table


def assign_splits(candidates: list[Candidate], table: SplitTable | None) -> tuple[list[tuple[Candidate, str]], str | None]:
    """Each kept video with its split, and one warning line for what was left out (or None)."""
    if table is None:
        return [(c, "") for c in candidates], None
    kept: list[tuple[Candidate, str]] = []
    unlisted: list[str] = []
    leaking: list[str] = []
    for candidate in candidates:
        if candidate.label == "fake":
            split = table.units.get(candidate.unit)
        else:
            homes = table.people.get(candidate.target, set())
            split = next(iter(homes)) if len(homes) == 1 else ("" if homes else None)
        if split is None:
            unlisted.append(candidate.path)
        elif not split or any(table.people.get(person, set()) != {split} for person in candidate.people):
            leaking.append(candidate.path)
        else:
            kept.append((candidate, split))
    parts = []
    if unlisted:
        parts.append(f"{len(unlisted)} in no split file ({examples(unlisted, 2)})")
    if leaking:
        parts.append(f"{len(leaking)} whose people sit in different splits, which would leak a person "
                     f"({examples(leaking, 2)})")
    if not parts:
        return kept, None
    return kept, f"left out {len(unlisted) + len(leaking)} video(s): " + "; ".join(parts)


def check_existing(root: Path, overwrite: bool) -> None:
    """A manifest the importer did not write (a built corpus, someone's own) is kept unless ``overwrite``."""
    path = root / MANIFEST
    if overwrite or not path.exists():
        return
    try:
        lines = read_manifest(root, check_paths=False)
    except (OSError, FacepipeError):
        lines = []
    if not lines or not all(line.get(IMPORTER) for line in lines):
        raise FacepipeError(f"{path} exists and was not written by `facepipe corpus import`; pass --overwrite "
                            f"to replace it")


def count_frames(root: Path, paths: list[str], on_done: Callable[[Any], None]) -> dict[str, tuple[int, str]]:
    """path -> (frames, error) by a stream-copy packet scan (verify's ``decode(copy=True)``)."""
    from pipeline.corpus.verify import decode

    def scan(relative: str) -> tuple[int, str]:
        found = decode(root / relative, copy=True)
        on_done(None)
        error = found.error or ("" if found.frames else "no video frames")
        return found.frames, error

    with ThreadPoolExecutor(max(1, min(8, os.cpu_count() or 1))) as pool:
        return dict(zip(paths, pool.map(scan, paths)))


def manifest_line(fmt: str, candidate: Candidate, split: str, frames: int, error: str) -> dict[str, Any]:
    """One manifest line, with the fields ``read_corpus``, ``verify`` and ``export`` read."""
    line: dict[str, Any] = {
        "status": "failed" if error else "ok", IMPORTER: fmt, "key": candidate.path, "path": candidate.path,
        "label": candidate.label, "method": candidate.method, "target": candidate.target, "source": candidate.source,
        "target_identity": candidate.target, "source_identity": candidate.source, "split": split,
        "compression": candidate.compression, "perturbation": list(candidate.perturbation), "occlusion": None,
        "variant": candidate.variant, "frames": frames, "mask": candidate.mask}
    if candidate.distortions:
        line["distortions"] = list(candidate.distortions)
    if error:
        line["error"] = f"does not read: {error}"
    return line


def originals_of(lines: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """target -> {compression: path} of the clean real videos listed."""
    originals: dict[str, dict[str, str]] = {}
    for line in lines:
        if line["status"] == "ok" and line["label"] == "real" and not line["variant"]:
            originals.setdefault(line["target"], {})[line["compression"]] = line["path"]
    return originals


def cache_faces(root: Path, fmt: str, lines: list[dict[str, Any]], config: Config, on_done: Callable[[Any], None],
                warn: Warn) -> int:
    """The face cache ``corpus export`` cuts frames with (``.facepipe/faces/<target>``, one face per
    frame, from the target's original: fakes of FF++ and DeeperForensics show their target's frames),
    plus the ``plan.json`` entry it reads. Finished caches are kept, so a re-run resumes."""
    from pipeline.corpus.faces import extract_faces, is_cached
    from pipeline.corpus.layout import Layout
    from pipeline.media.atomic import write_json

    layout = Layout(root)
    originals = originals_of(lines)
    orphans = sorted({l["target"] for l in lines if l["status"] == "ok" and l["target"] not in originals})
    if orphans:
        warn(f"--faces: {len(orphans)} target(s) have no original video to cut faces from "
             f"({examples(orphans)}); `corpus export` refuses their fakes")
    config = config.with_values({"detect.max_faces": 1})
    written, faceless, failed = 0, [], []
    for target, by_compression in sorted(originals.items()):
        video = by_compression[next(c for c in PREFERRED if c in by_compression)]
        directory = layout.faces(target)
        if not is_cached(directory):
            shutil.rmtree(directory, ignore_errors=True)  # an interrupted earlier run
            try:
                found = extract_faces(str(root / video), directory, config)
            except FacepipeError as exc:
                failed.append(f"{video}: {exc}")
                found = {"faces": 0}
            if not found["faces"]:
                faceless.append(video)
            written += 1
        on_done(None)
    if faceless or failed:
        warn(f"--faces: {len(faceless)} original(s) without a face ({examples(faceless + failed, 2)}); "
             f"`corpus export` refuses their videos")
    plan = layout.plan()
    plan.parent.mkdir(parents=True, exist_ok=True)
    write_json(plan, {IMPORTER: fmt, "align": [config.align.size, config.align.coverage]})
    return written


def write_import(root: Path, fmt: str, title: str, scan: Scan, warn: Warn, progress: Progress | None = None,
                 config: Config | None = None) -> ImportResult:
    """Splits, frame counts, then the manifest (and, with ``config``, the face cache)."""
    for message in scan.warnings:
        warn(message)
    kept, dropped = assign_splits(scan.candidates, scan.splits)
    if dropped:
        scan.warnings.append(dropped)
        warn(dropped)
    if not kept:
        raise FacepipeError(f"{root}: no {title} video to list (every one was left out; see the warnings above)")
    paths = [candidate.path for candidate, _ in kept]
    with (progress("counting frames", len(paths)) if progress else nullcontext(lambda result: None)) as on_done:
        frames = count_frames(root, paths, on_done)
    lines = [manifest_line(fmt, candidate, split, *frames[candidate.path]) for candidate, split in kept]
    failed = [line["path"] for line in lines if line["status"] != "ok"]
    if failed:
        message = (f"{len(failed)} video(s) do not read ({examples(failed, 2)}): listed as failed lines, which "
                   f"readers skip and `corpus verify` reports")
        scan.warnings.append(message)
        warn(message)
    write_manifest(root, lines)
    ok = [line for line in lines if line["status"] == "ok"]
    by_split: dict[str, int] = {}
    for line in ok:
        by_split[line["split"]] = by_split.get(line["split"], 0) + 1
    faces = 0
    if config is not None:
        with (progress("faces", len(originals_of(lines))) if progress else nullcontext(lambda r: None)) as on_done:
            faces = cache_faces(root, fmt, lines, config, on_done, warn)
    return ImportResult(fmt, title, root / MANIFEST, sum(l["label"] == "real" for l in ok),
                        sum(l["label"] == "fake" for l in ok), len(failed), by_split,
                        sorted({l["compression"] for l in ok}), scan.warnings, faces)
