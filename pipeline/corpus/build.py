"""``corpus build``: plan the corpus, extract faces once, prepare methods, run every video as a job.

Order of work (each step skips what an earlier run finished):
1. inputs -> numbered videos and identities (``identities.py``);
2. one face-extraction job per video into the cache (``faces.py``); a video without a face is skipped
   with a warning line in the manifest, the run goes on;
3. identity-disjoint splits and (target, source) pairs within each split over the videos that have faces
   (a corpus too small for its splits is refused before step 2, or folded on request); split files;
4. each method's ``prepare`` (``gan`` trains its multi-identity model here, resumably);
5. one job per real video and per (method, pair) fake, fanned out to every compression and variant;
6. the manifest, rebuilt from the job records; a summary; a non-zero exit if any job failed.
"""

from __future__ import annotations

import time
import zlib
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pipeline import __version__
from pipeline.config import Config
from pipeline.corpus.identities import SPLITS, Video, find_videos, make_pairs, plan_splits
from pipeline.corpus.job import BranchSpec, FacesJob, FakeSpec, RenderJob
from pipeline.corpus.layout import Layout, check_compressions
from pipeline.corpus.manifest import read_records, write_manifest
from pipeline.corpus.methods import Method, MethodCard, load_method
from pipeline.corpus.occlude import check_material, parse_occlusion
from pipeline.corpus.perturb import folder_name, parse_variant, resolve
from pipeline.corpus.render import job_done
from pipeline.errors import FacepipeError
from pipeline.jobs import JobResult, open_engine, run_jobs
from pipeline.media.atomic import write_json
from pipeline.media.lock import FolderLock

ProgressFactory = Callable[[str, int], AbstractContextManager[Callable[[JobResult], None]]]


@dataclass
class BuildOptions:
    inputs: str
    output: str
    identities: str | None = None
    workers: int = 0
    scheduler: str | None = None
    engine: str | None = None
    warn: Callable[[str], None] = print
    progress: ProgressFactory = field(default=lambda label, total: nullcontext(lambda result: None))
    log: Callable[[str], None] = lambda message: None  # progress notes (training), not warnings


@dataclass
class BuildResult:
    lines: list[dict[str, Any]]
    failures: list[JobResult]
    skipped: list[str]
    engine_seconds: float = 0.0


def git_commit() -> str | None:
    from models.family import git_commit as commit

    return commit()


def _seed(*parts: object) -> int:
    return zlib.crc32(":".join(map(str, parts)).encode()) & 0x7FFFFFFF


class Build:
    """One corpus build; the methods' ``prepare`` sees it (paths, videos, config)."""

    def __init__(self, options: BuildOptions, config: Config) -> None:
        self.options = options
        self.config = config
        self.corpus = config.corpus
        self.layout = Layout(Path(options.output))
        self.compressions = check_compressions(list(self.corpus.compressions))
        self.variants = [parse_variant(v) for v in self.corpus.perturb]
        self.occlusions = list(dict.fromkeys(parse_occlusion(v) for v in self.corpus.occlude))
        check_material(self.occlusions, config.occlude)
        self.methods: dict[str, Method] = {name: load_method(name)() for name in dict.fromkeys(self.corpus.methods)}
        if not self.methods:
            raise FacepipeError("no methods given: --methods warp,gan")
        self.videos: list[Video] = find_videos(options.inputs, options.identities, options.warn)
        # refuse a corpus too small for its splits now, before hours of face extraction
        plan_splits([v.identity for v in self.videos], list(self.corpus.splits), self.corpus.seed,
                    self.corpus.fold_splits)
        self.with_faces: list[Video] = []
        self.split_of: dict[str, str] = {}
        self.commit = git_commit()

    # -- steps ------------------------------------------------------------------------------------
    def run(self) -> BuildResult:
        self.layout.root.mkdir(parents=True, exist_ok=True)
        self.layout.state().mkdir(exist_ok=True)
        with FolderLock(self.layout.root, "corpus build"):  # one build per corpus: a second would race on its files
            return self._run()

    def _run(self) -> BuildResult:
        self._check_plan()
        _remove_leftovers(self.layout.root)
        started = time.perf_counter()
        engine = open_engine(self.options.workers, self.options.scheduler, self.options.engine)
        self.engine_seconds = time.perf_counter() - started
        failures: list[JobResult] = []
        try:
            skipped = self._faces(engine, failures)
            self._plan_pairs()
            for method in self.methods.values():
                method.prepare(self)
            jobs = self._video_jobs({name: method.card() for name, method in self.methods.items()})
            todo = self._todo(jobs)
            with self.options.progress("videos", len(todo)) as on_done:
                results = run_jobs(_run_job, todo, engine, on_done)
            failures += [r for r in results if not r.ok]
        finally:
            engine.close()
        lines = read_records(self.layout.records())
        lines = [l for l in lines if l.get("label") in ("real", "fake")]
        lines += [{"status": "failed", "key": r.key, "error": r.error} for r in failures]
        lines += [{"status": "skipped", "video": v.path, "target": v.number, "warning": "no face found"} for v in skipped]
        write_manifest(self.layout.root, lines)
        return BuildResult([l for l in lines if l.get("status") == "ok"], failures, [v.path for v in skipped],
                           self.engine_seconds)

    @staticmethod
    def _todo(jobs: list[tuple[str, RenderJob]]) -> list[tuple[str, RenderJob]]:
        """The jobs not done: ``job_done`` scans every output (an ffmpeg per file), so a few at once."""
        from concurrent.futures import ThreadPoolExecutor

        def done(job: RenderJob) -> bool:
            return job_done(Path(job.record), job.files(), job.lines[0].get("model_sha256"))

        with ThreadPoolExecutor(4) as pool:
            finished = list(pool.map(done, [job for _, job in jobs]))
        return [(key, job) for (key, job), ok in zip(jobs, finished) if not ok]

    def _check_plan(self) -> None:
        """A corpus folder is tied to its inputs: numbering must not shift under an existing corpus."""
        import json

        plan = {"inputs": [[v.number, v.path, v.identity] for v in self.videos], "seed": self.corpus.seed,
                "max_frames": self.corpus.max_frames, "align": [self.config.align.size, self.config.align.coverage]}
        path = self.layout.plan()
        if path.is_file():
            old = json.loads(path.read_text())
            old.pop("splits", None)  # the split record is written by ``_plan_pairs``, not an input
            if old != plan:
                raise FacepipeError(f"{self.layout.root} was built from other inputs or settings (inputs, seed, "
                                    f"max_frames, align); build into a new folder")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_json(path, plan)

    def _faces(self, engine: Any, failures: list[JobResult]) -> list[Video]:
        from pipeline.corpus.faces import is_cached

        config = self.cache_config()
        jobs = []
        for video in self.videos:
            directory = self.layout.faces(video.number)
            record = self.layout.record(f"faces-{video.number}")
            if is_cached(directory) and record.is_file():
                continue
            key = f"faces-{video.number}"
            jobs.append((key, FacesJob(key, video.path, str(directory), config, str(record))))
        with self.options.progress("faces", len(jobs)) as on_done:
            results = run_jobs(_run_job, jobs, engine, on_done)
        failures += [r for r in results if not r.ok]
        import json

        skipped = []
        for video in self.videos:
            record = self.layout.record(f"faces-{video.number}")
            if not record.is_file():
                continue  # failed: already in failures
            faces = json.loads(record.read_text())["lines"][0].get("faces", 0)
            if faces:
                self.with_faces.append(video)
            else:
                self.options.warn(f"{Path(video.path).name}: no face found; skipped")
                skipped.append(video)
        if len({v.identity for v in self.with_faces}) < 2:
            raise FacepipeError(f"fewer than 2 identities with faces ({len(self.with_faces)} videos); nothing to swap")
        return skipped

    def cache_config(self) -> Config:
        """The run's config with what the face cache needs: the trim, one face per frame."""
        return self.config.with_values({"decode.max_frames": self.corpus.max_frames, "detect.max_faces": 1})

    def _plan_pairs(self) -> None:
        """Splits and pairs over the videos with faces; a folding is warned about and kept in the plan."""
        import json

        identities = [v.identity for v in self.with_faces]
        splits = plan_splits(identities, list(self.corpus.splits), self.corpus.seed, self.corpus.fold_splits)
        if splits.folded:
            folds = ", ".join(f"{name} into {into}" for name, into in splits.folded.items())
            self.options.warn(f"{len(set(identities))} identities with faces are too few for every split "
                              f"(2 identities each): folded {folds} (corpus.fold_splits; recorded in "
                              f"{self.layout.relative(self.layout.plan())})")
        self.split_of = splits.split_of
        plan = json.loads(self.layout.plan().read_text())
        plan["splits"] = splits.record()
        write_json(self.layout.plan(), plan)
        self.pairs = make_pairs(self.with_faces, self.split_of, self.corpus.seed)
        lists: dict[str, list[list[str]]] = {name: [] for name in SPLITS}
        for target, source in self.pairs:
            lists[self.split_of[target.identity]].append([target.number, source.number])
        self.layout.splits().mkdir(parents=True, exist_ok=True)
        for name, pairs in lists.items():
            write_json(self.layout.splits() / f"{name}.json", pairs)

    # -- jobs -------------------------------------------------------------------------------------
    def _branches(self, key: str, target: str, paths: Callable[[str, str], Path], mask: Callable[[str], Path] | None,
                  base: dict[str, Any]) -> tuple[list[BranchSpec], list[dict[str, Any]]]:
        """Branch specs (variant -> files) of one job and its manifest lines.

        Branches: the unperturbed tree, each perturbation variant, each occlusion variant. An occlusion's
        seed depends on the target video, not the job, so a real video and its fakes get the same occluder."""
        branches, lines = [], []
        variants = [("", None), *((v, None) for v in self.variants), *((o.tag(), o) for o in self.occlusions)]
        for variant, occlusion in variants:
            if occlusion is not None:
                folder, steps = occlusion.folder(), []
                seed = _seed(self.corpus.seed, "occlude", target, variant)
                record = occlusion.record(seed)
            else:
                folder = folder_name(variant) if variant else ""
                steps = resolve(variant, self.corpus.seed, key) if variant else []
                seed, record = _seed(self.corpus.seed, key, variant), None
            files = {c: str(paths(c, folder)) for c in self.compressions}
            mask_path = str(mask(folder)) if mask else None
            branches.append(BranchSpec(f"{key}-{folder.replace('/', '-') or 'none'}".replace(":", "_").replace("+", "-"),
                                       folder, [(s.kind, s.level) for s in steps], seed, record, files, mask_path))
            for compression, path in files.items():
                lines.append(dict(base, path=self.layout.relative(Path(path)), compression=compression,
                                  perturbation=[s.tag() for s in steps], variant=folder, occlusion=record,
                                  mask=self.layout.relative(Path(mask_path)) if mask_path else None))
        return branches, lines

    def _common(self, target: Video, source: Video | None, method: str | None, card: MethodCard) -> dict[str, Any]:
        """The manifest fields every line of one job shares."""
        return {"status": "ok", "label": "fake" if source else "real", "method": method,
                "target": target.number, "source": source.number if source else None,
                "target_identity": target.identity, "source_identity": source.identity if source else None,
                "split": self.split_of[target.identity], "occlusion": None, "seed": self.corpus.seed,
                "model": card.model, "model_sha256": card.model_sha256,
                "facepipe_version": __version__, "git_commit": self.commit}

    def _video_jobs(self, cards: dict[str, MethodCard]) -> list[tuple[str, RenderJob]]:
        """One job per real video and one per (method, pair) fake; ``cards``: each method's, by name."""
        layout = self.layout
        scratch = str(layout.state() / "tmp")

        def job(key: str, target: Video, specs: tuple[list[BranchSpec], list[dict[str, Any]]],
                fake: FakeSpec | None = None) -> tuple[str, RenderJob]:
            branches, lines = specs
            return key, RenderJob(key, target.path, str(layout.faces(target.number)), branches, lines,
                                  str(layout.record(key)), self.config, self.corpus.max_frames, self.corpus.preset,
                                  scratch, fake)

        jobs = []
        for video in self.with_faces:
            key = f"real-{video.number}"
            jobs.append(job(key, video, self._branches(key, video.number,
                                                       lambda c, f, n=video.number: layout.original(n, c, f), None,
                                                       self._common(video, None, None, MethodCard()))))
        for name, method in self.methods.items():
            for target, source in self.pairs:
                pair = f"{target.number}_{source.number}"
                key = f"{name}-{pair}"
                specs = self._branches(key, target.number, lambda c, f, p=pair: layout.fake(method.folder, p, c, f),
                                       lambda f, p=pair: layout.mask(method.folder, p, f),
                                       self._common(target, source, method.folder, cards[name]))
                fake = FakeSpec(name, str(layout.faces(source.number)), source.identity, cards[name].model)
                jobs.append(job(key, target, specs, fake))
        return jobs


def _remove_leftovers(root: Path) -> None:
    """Temporaries of a killed run (kill -9 leaves them; nothing else writes here while we hold the lock)."""
    for path in root.rglob("*.facepipe-partial*"):
        path.unlink(missing_ok=True)
    for path in (root / ".facepipe" / "tmp").glob("*"):
        path.unlink(missing_ok=True)


def _run_job(job: FacesJob | RenderJob) -> list[dict[str, Any]]:
    from pipeline.corpus.render import run_job

    return run_job(job)


def build_corpus(options: BuildOptions, config: Config) -> BuildResult:
    return Build(options, config).run()
