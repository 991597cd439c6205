"""``facepipe corpus build|import|verify|export``: fake/real video corpora in the FaceForensics++ layout.

Exit codes: 0 done; 1 the build finished but some jobs failed (listed, and in the manifest), or verify
found problems; 2 bad input or settings (nothing built).

The library is ``pipeline.corpus``; this module parses options into ``[corpus]`` settings, opens the
job engine (local process pool by default, a Dask LocalCluster with ``--workers N``, an existing Dask
cluster with ``--scheduler``), shows progress and prints the summary.
"""

from __future__ import annotations

import argparse

from pipeline.cli.commands.common import add_config_options
from pipeline.errors import FacepipeError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "corpus", help="build, import, verify or export a fake/real video corpus (FaceForensics++ layout)",
        description="Turn a folder of real videos (one identity each) into a deepfake-detection corpus: "
                    "original_sequences/, manipulated_sequences/<Method>/ with blend-mask videos, "
                    "identity-disjoint splits, DeeperForensics perturbations and a manifest.")
    commands = parser.add_subparsers(dest="corpus_command", metavar="ACTION")
    build = commands.add_parser("build", help="build (or resume) a corpus")
    build.add_argument("inputs", metavar="REAL_VIDEOS_DIR", help="folder of real videos, one identity each")
    build.add_argument("-o", "--output", required=True, metavar="CORPUS_DIR", help="corpus folder (created; re-run to resume)")
    build.add_argument("--methods", metavar="LIST", help="comma-separated: warp,gan (corpus.methods)")
    build.add_argument("--compressions", metavar="LIST", help="comma-separated: c0,c23,c40 (corpus.compressions)")
    build.add_argument("--perturb", metavar="LIST", help="comma-separated variants: CS:3, CS:3+GB:2, random, random2 "
                                                          "(corpus.perturb)")
    build.add_argument("--identities", metavar="CSV", help="video,identity rows when one person has several videos")
    build.add_argument("--max-frames", type=int, metavar="N", help="use the first N frames of each video (corpus.max_frames)")
    build.add_argument("--fold-splits", action="store_true",
                       help="too few identities for 2 per split: fold val (then test) into train instead of "
                            "refusing (corpus.fold_splits)")
    build.add_argument("--seed", type=int, help="seed of pairs, splits and perturbations (corpus.seed)")
    build.add_argument("--train-minutes", type=float, metavar="MIN", help="gan: training budget (corpus.train_minutes)")
    build.add_argument("--model", metavar="DIR", help="gan: use this multi-identity model instead of training one")
    build.add_argument("--occlude", metavar="LIST", help="comma-separated occlusion variants KIND:LEVEL[:ANCHOR]: block:3, "
                                                          "noise:2, object:5:lower (corpus.occlude; material from [occlude])")
    engine = build.add_mutually_exclusive_group()
    engine.add_argument("--workers", type=int, metavar="N", help="parallel jobs on a Dask LocalCluster of N workers "
                                                                "(a process pool when Dask is not installed)")
    engine.add_argument("--scheduler", metavar="tcp://HOST:8786", help="run the jobs on an existing Dask cluster")
    build.add_argument("--engine", choices=("serial", "local", "dask"), help="job engine (corpus.engine)")
    add_config_options(build)
    build.set_defaults(func=main_build)

    imported = commands.add_parser("import", help="write the manifest of a FaceForensics++ or DeeperForensics-1.0 "
                                                  "download, so facepipe's detector and corpus commands read it")
    imported.add_argument("root", metavar="ROOT", help="the dataset's root folder (manifest.jsonl is written there)")
    imported.add_argument("--format", default="auto", choices=("auto", "ffpp", "deeperforensics"),
                          help="the tree's layout (default: recognised from its folders)")
    imported.add_argument("--splits", metavar="DIR", help="folder of the official splits (default ROOT/splits for "
                                                          "FF++'s train/val/test.json, ROOT/lists/splits for "
                                                          "DeeperForensics' train/val/test.txt)")
    imported.add_argument("--overwrite", action="store_true",
                          help="replace a manifest.jsonl that `corpus import` did not write")
    imported.add_argument("--faces", action="store_true",
                          help="also cache every original's faces in ROOT/.facepipe, which `corpus export` needs "
                               "(a face pass over each real video: slow on a full download)")
    add_config_options(imported)
    imported.set_defaults(func=main_import)

    verify = commands.add_parser("verify", help="re-check a corpus: decodes, frame counts, masks, splits, manifest")
    verify.add_argument("corpus", metavar="CORPUS_DIR")
    verify.add_argument("-q", "--quiet", action="store_true", help="print only problems")
    verify.set_defaults(func=main_verify)

    export = commands.add_parser("export", help="export a corpus for a detector framework")
    export.add_argument("corpus", metavar="CORPUS_DIR")
    export.add_argument("--format", default="deepfakebench", choices=("deepfakebench",))
    where = export.add_mutually_exclusive_group(required=True)
    where.add_argument("-o", "--output", metavar="DIR", help="a folder of its own (frame paths relative to it)")
    where.add_argument("--dfb-root", metavar="DIR",
                       help="DeepfakeBench's root: writes datasets/rgb/<Name>/ and preprocessing/dataset_json/<Name>.json "
                            "so its loader, run from DIR, finds every file")
    export.add_argument("--name", help="dataset name in dataset_json (default Facepipe, or Facepipe_<variant> "
                                       "with --variant: Facepipe_GB_3, Facepipe_occluded_block_3)")
    export.add_argument("--compression", default="c23", choices=("c0", "c23", "c40"),
                        help="which compression's videos (default c23; must be one the corpus was built with)")
    export.add_argument("--variant", default="", metavar="VARIANT",
                        help="a variant tree instead of the unperturbed one: perturbed/GB_3, occluded/block_3 "
                             "(the robustness sets)")
    export.add_argument("--frames", type=int, default=32, metavar="N", help="frames per video, evenly spaced (default 32)")
    export.add_argument("--resolution", type=int, default=256, choices=(256, 224),
                        help="side of frames, masks and landmark coordinates (default 256): the detector config's "
                             "resolution, since DeepfakeBench resizes images but not landmarks")
    export.add_argument("--overwrite", action="store_true",
                        help="replace this export's files already in DIR (refused without it)")
    export.add_argument("-q", "--quiet", action="store_true")
    export.set_defaults(func=main_export)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def _overrides(args: argparse.Namespace) -> list[str]:
    out = list(args.set)

    def as_list(text: str) -> str:
        return "[" + ",".join(f'"{item.strip()}"' for item in text.split(",") if item.strip()) + "]"

    if args.methods is not None:
        out.append(f"corpus.methods={as_list(args.methods)}")
    if args.compressions is not None:
        out.append(f"corpus.compressions={as_list(args.compressions)}")
    if args.perturb is not None:
        out.append(f"corpus.perturb={as_list(args.perturb)}")
    if args.occlude is not None:
        out.append(f"corpus.occlude={as_list(args.occlude)}")
    for flag, key in (("max_frames", "max_frames"), ("seed", "seed"), ("train_minutes", "train_minutes")):
        if getattr(args, flag) is not None:
            out.append(f"corpus.{key}={getattr(args, flag)}")
    if args.fold_splits:
        out.append("corpus.fold_splits=true")
    if args.model is not None:
        out.append(f'corpus.model="{args.model}"')
    return out


def _engine(args: argparse.Namespace, config) -> tuple[int, str | None, str | None]:
    """(workers, scheduler, engine name): --scheduler and --workers pick Dask, as the issue asks."""
    if args.scheduler:
        return 0, args.scheduler, "dask"
    if args.workers is not None:
        if args.workers < 1:
            raise FacepipeError(f"--workers {args.workers}: must be 1 or more")
        if args.engine:
            return args.workers, None, args.engine
        try:
            import distributed  # noqa: F401
        except ImportError:
            return args.workers, None, "local" if args.workers > 1 else "serial"
        return args.workers, None, "dask"
    name = args.engine or config.corpus.engine
    return config.corpus.workers, None, name


def main_build(args: argparse.Namespace) -> int:
    from pipeline.cli.progress import console, job_progress, warn
    from pipeline.cli.settings import load_config
    from pipeline.corpus.build import BuildOptions, build_corpus

    if args.max_frames is not None and args.max_frames < 0:
        raise FacepipeError(f"--max-frames {args.max_frames}: must be 0 (all) or more")
    config = load_config(args.config, _overrides(args))
    workers, scheduler, engine = _engine(args, config)
    options = BuildOptions(args.inputs, args.output, args.identities, workers, scheduler, engine, warn,
                           lambda label, total: job_progress(label, total, args.quiet),
                           log=(lambda message: None) if args.quiet else (lambda message: console.print(message, markup=False)))
    result = build_corpus(options, config)
    if not args.quiet:
        from pipeline.corpus.summary import summary_table

        console.print(summary_table(result.lines, args.output))
    if result.failures:
        for failure in result.failures:
            print(f"facepipe: failed: {failure.key}: {failure.error}", file=__import__("sys").stderr)
        raise FacepipeError(f"{len(result.failures)} job(s) failed (listed in {args.output}/manifest.jsonl); "
                            f"re-run the same command to retry them", exit_code=1)
    return 0


def main_import(args: argparse.Namespace) -> int:
    from pipeline.cli.progress import job_progress, warn
    from pipeline.corpus.importers import import_corpus

    config = None
    if args.faces:
        from pipeline.cli.settings import load_config

        config = load_config(args.config, list(args.set))
    result = import_corpus(args.root, args.format, args.splits, args.overwrite, warn,
                           lambda label, total: job_progress(label, total, args.quiet), config)
    if not args.quiet:
        splits = ", ".join(f"{name or 'no split'} {count}" for name, count in sorted(result.by_split.items()))
        failed = f", {result.failed} unreadable" if result.failed else ""
        faces = f"; {result.faces} face cache(s) written" if args.faces else ""
        print(f"imported {args.root} ({result.title}): {result.real} real and {result.fake} fake videos{failed} "
              f"({splits}; {', '.join(result.compressions)}) -> {result.manifest}{faces}")
    return 0


def main_verify(args: argparse.Namespace) -> int:
    from pipeline.corpus.verify import verify_corpus

    problems, checked = verify_corpus(args.corpus)
    for problem in problems:
        print(problem)
    if problems:
        raise FacepipeError(f"{len(problems)} problem(s) in {args.corpus}", exit_code=1)
    if not args.quiet:
        print(f"corpus {args.corpus}: {checked} videos checked, no problems")
    return 0


def main_export(args: argparse.Namespace) -> int:
    from pipeline.corpus.export import config_hint, default_name, export_deepfakebench

    if args.frames < 1:
        raise FacepipeError(f"--frames {args.frames}: must be 1 or more")
    name = args.name or default_name(args.variant)
    dfb = args.dfb_root is not None
    count = export_deepfakebench(args.corpus, args.dfb_root if dfb else args.output, name, args.compression,
                                 args.frames, args.variant, args.overwrite, dfb, args.resolution)
    if not args.quiet:
        target = f"{args.dfb_root} (preprocessing/dataset_json/{name}.json, datasets/rgb/{name}/)" if dfb \
            else f"{args.output} (dataset_json/{name}.json)"
        print(f"exported {count} videos to {target}")
        print(config_hint(name, args.compression, args.resolution, dfb))
    return 0
