"""``facepipe detector train|eval|score``: a real/fake face classifier trained on our corpora.

The work lives in ``pipeline.detection``; this module parses arguments, shows rich progress and
prints tables. Torch is imported only inside the subcommands, so ``facepipe --help`` stays fast.
"""

from __future__ import annotations

import argparse
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from pipeline.cli.commands.common import add_config_options
from pipeline.media.atomic import write_json
from pipeline.errors import FacepipeError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "detector", help="deepfake detector: train on a corpus, evaluate, score a video",
        description="Train a real/fake face classifier (meso4, mesoinception4, xceptionmini) on the aligned faces of a "
                    "corpus made by `facepipe corpus build`, evaluate it on the corpus's test split, or score a video.")
    sub = parser.add_subparsers(dest="detector_command", metavar="SUBCOMMAND", required=True)

    train = sub.add_parser("train", help="train a detector on a corpus's train split (validated on val)")
    train.add_argument("corpus", metavar="CORPUS_DIR", help="corpus folder with manifest.jsonl")
    train.add_argument("-o", "--output", required=True, metavar="DET_DIR", help="detector folder (created)")
    train.add_argument("--architecture", "-a", help="network (overrides detector.architecture)")
    train.add_argument("--occlusion-augment", action="store_true",
                       help="also draw the occlusion stage's occluders over training faces (hardens against the attack)")
    train.add_argument("--cache", metavar="DIR", help="face-crop cache (default CORPUS_DIR/cache/detector)")
    train.add_argument("--overwrite", action="store_true", help="replace a detector already in DET_DIR")
    train.add_argument("--restart", action="store_true",
                       help="discard an interrupted training saved in DET_DIR and start from epoch 1 "
                            "(by default a re-run continues it)")
    add_config_options(train)
    train.set_defaults(func=main_train)

    evaluate = sub.add_parser(
        "eval", help="AUC/EER/accuracy on the test split, by method, compression, perturbation; several corpora: "
                     "one cross-corpus table",
        description="Score a detector on a corpus's test split (eval.json, roc.png, robustness.md), or on several "
                    "corpora at once: one table (cross-corpus.md, cross-corpus.json), a block of rows per corpus, "
                    "each marked 'same corpus' (the detector's training corpus) or 'cross-corpus'.")
    evaluate.add_argument("detector", metavar="DET_DIR", help="detector folder (made by `detector train`)")
    evaluate.add_argument("corpus", metavar="CORPUS_DIR", nargs="+", help="corpus folder(s) with manifest.jsonl")
    evaluate.add_argument("-o", "--output", metavar="DIR",
                          help="where eval.json, roc.png, robustness.md go (several corpora: cross-corpus.md and "
                               "cross-corpus.json) (default DET_DIR)")
    evaluate.add_argument("--split", choices=("test", "all"), default="test",
                          help="videos scored: the test split (default), or all of them for corpora of people the "
                               "detector never saw (its own training corpus is always scored on its test split)")
    evaluate.add_argument("--cache", metavar="DIR", help="face-crop cache (default CORPUS_DIR/cache/detector)")
    add_config_options(evaluate)
    evaluate.set_defaults(func=main_eval)

    score = sub.add_parser("score", help="P(fake) of a video, per frame and per face")
    score.add_argument("video", metavar="VIDEO", help="video file")
    score.add_argument("--detector", metavar="DET_DIR", help="detector folder (default: the bundled detector)")
    score.add_argument("--json", metavar="FILE", help="write per-frame, per-face scores as JSON")
    score.add_argument("-o", "--output", metavar="OVERLAY", help="write the video with faces boxed and coloured by P(fake)")
    score.add_argument("--overwrite", "-y", action="store_true", help="replace the overlay video if it exists")
    add_config_options(score)
    score.set_defaults(func=main_score)


def _config(args: argparse.Namespace, extra: list[str] | None = None) -> Any:
    from pipeline.cli.settings import load_config

    return load_config(args.config, list(args.set) + ["pipeline.stages=[]"] + (extra or []))


def _threads(config: Any) -> None:
    if config.detector.threads:
        import torch

        torch.set_num_threads(config.detector.threads)


def _cache(args: argparse.Namespace, corpus: str | Path | None = None) -> Path:
    return Path(args.cache) if args.cache else Path(corpus or args.corpus) / "cache" / "detector"


@contextmanager
def task_progress(quiet: bool) -> Iterator[Callable[[str, int, int], None]]:
    """A rich bar per named task (crops, steps); nothing when quiet or not on a terminal."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from pipeline.cli.progress import stderr_console, wants_bar

    if not wants_bar(quiet):
        yield lambda what, done, total: None
        return
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), console=stderr_console()) as progress:
        tasks: dict[str, int] = {}

        def update(what: str, done: int, total: int) -> None:
            if what not in tasks:
                tasks[what] = progress.add_task(what, total=total)
            progress.update(tasks[what], completed=done, total=total)

        yield update


def main_train(args: argparse.Namespace) -> int:
    from pipeline.cli.progress import console

    extra = [f'detector.architecture="{args.architecture}"'] if args.architecture else []
    config = _config(args, extra)
    out = Path(args.output)
    from models.detectors.checkpoint import WEIGHTS
    from pipeline.detection.resume import STATE

    if out.exists() and not out.is_dir():
        raise FacepipeError(f"{out} exists and is not a folder")
    interrupted = (out / STATE).is_file() and not args.restart
    if (out / WEIGHTS).exists() and not args.overwrite and not interrupted:
        raise FacepipeError(f"{out} already holds a detector; use --overwrite to replace it")
    from pipeline.detection.train import CURVES, train_detector

    log = (lambda message: None) if args.quiet else (lambda message: console.print(message, highlight=False))
    with task_progress(args.quiet) as progress:
        card = train_detector(Path(args.corpus), out, config, occlusion_augment=args.occlusion_augment,
                              cache_dir=_cache(args), progress=progress, log=log, restart=args.restart)
    figs = card["figures"]
    resumed = "; resumed from epoch " + ", ".join(str(r["epoch"]) for r in card["resumed"]) if card["resumed"] else ""
    val = f"val AUC {figs['val_auc']:.4f}, EER {figs['val_eer']:.4f}" if figs.get("val_auc") is not None else "no val split"
    print(f"wrote {out}: {card['training']['architecture']} on {card['data']['train_crops']} crops "
          f"({card['data']['train_real']} real, {card['data']['train_fake']} fake), best epoch {figs['best_epoch']}, {val}; "
          f"curves {out / CURVES}{resumed}")
    return 0


def main_eval(args: argparse.Namespace) -> int:
    from models.detectors.checkpoint import open_detector
    from pipeline.cli.progress import warn
    from pipeline.detection.evaluate import SAME, plan_corpora

    config = _config(args)
    _threads(config)
    detector = open_detector(args.detector)
    out = Path(args.output) if args.output else Path(args.detector)
    if out.exists() and not out.is_dir():
        raise FacepipeError(f"-o {out}: exists and is not a folder")
    plans = plan_corpora([Path(c) for c in args.corpus], args.split, detector.card.record)  # every corpus checked first
    for plan in plans:
        if plan.relation == SAME and args.split != plan.split:
            warn(f"{plan.path} is the detector's training corpus: scored on its test split only")
    out.mkdir(parents=True, exist_ok=True)
    if len(plans) == 1:
        return _eval_one(args, detector, plans[0], config, out)
    return _eval_many(args, detector, plans, config, out)


def _eval_one(args: argparse.Namespace, detector: Any, plan: Any, config: Any, out: Path) -> int:
    from rich.table import Table

    from pipeline.cli.progress import console
    from pipeline.detection.evaluate import EVAL_JSON, ROC_PNG, TABLE_MD, evaluate, markdown, roc_png, table_rows
    from pipeline.media.atomic import write_image, write_text

    split = "test split" if plan.split == "test" else "every video"
    with task_progress(args.quiet) as progress:
        report, crops, probs = evaluate(detector, plan.path, config, _cache(args, plan.path), progress, plan.split,
                                        plan.videos)
    report["detector"] = str(Path(args.detector).resolve())
    write_json(out / EVAL_JSON, report)
    write_image(out / ROC_PNG, roc_png(crops.videos, crops, probs, f"{detector.architecture} on {plan.path.name} ({plan.split})"))
    write_text(out / TABLE_MD, markdown(report))
    table = Table(title=f"{detector.architecture} on {plan.path}, {split}", title_justify="left")
    for column in ("group", "slice", "videos r/f", "frame AUC", "video AUC", "frame acc", "frame EER"):
        table.add_column(column, justify="left" if column in ("group", "slice") else "right")
    for row in table_rows(report):
        table.add_row(*row)
    if not args.quiet:
        console.print(table)
    overall = report["slices"]["overall"]["all"]
    print(f"{plan.split}: frame AUC {_f(overall['frame']['auc'])}, video AUC {_f(overall['video']['auc'])}, "
          f"EER {_f(overall['frame']['eer'])}; wrote {out / EVAL_JSON}, {out / ROC_PNG}, {out / TABLE_MD}")
    return 0


def _eval_many(args: argparse.Namespace, detector: Any, plans: list[Any], config: Any, out: Path) -> int:
    from rich.table import Table

    from pipeline.cli.progress import console
    from pipeline.detection.evaluate import CROSS_HEADER, CROSS_JSON, CROSS_MD, evaluate_corpora
    from pipeline.media.atomic import write_text

    with task_progress(args.quiet) as progress:
        result = evaluate_corpora(detector, Path(args.detector), plans, config, lambda corpus: _cache(args, corpus),
                                  progress)
    write_json(out / CROSS_JSON, result.to_json())
    write_text(out / CROSS_MD, result.markdown())
    if not args.quiet:
        table = Table(title=f"{detector.architecture} ({args.detector}) on {len(plans)} corpora", title_justify="left")
        for i, column in enumerate(CROSS_HEADER):
            table.add_column(column, justify="right" if i >= 5 else "left")
        for row in result.cells():
            table.add_row(*row)
        console.print(table)
    for corpus in result.corpora:
        overall = corpus.report["slices"]["overall"]["all"]
        print(f"{corpus.name} ({corpus.split}, {corpus.vs_training}): frame AUC {_f(overall['frame']['auc'])}, "
              f"video AUC {_f(overall['video']['auc'])}, EER {_f(overall['frame']['eer'])}")
    print(f"wrote {out / CROSS_MD}, {out / CROSS_JSON}")
    return 0


def main_score(args: argparse.Namespace) -> int:
    from models.detectors.checkpoint import open_detector
    from pipeline.cli.progress import frame_progress, warn
    from pipeline.detection.score import score_video
    from pipeline.media.encode import check_output_path

    config = _config(args)
    if not Path(args.video).is_file():
        raise FacepipeError(f"input not found: {args.video}")
    overlay = check_output_path(args.output, [args.video], args.overwrite) if args.output else None
    from pipeline.cli.video_job import check_side_file

    check_side_file(args.json, "--json", args.output, args.video)  # a folder or no folder: refused before scoring
    _threads(config)
    detector = open_detector(args.detector)
    with frame_progress(f"score {Path(args.video).name}", None, args.quiet) as progress:
        result = score_video(args.video, detector, config, overlay, warn, on_frame=progress.update)
    if args.json:
        write_json(args.json, result.as_json())
    if result.p_fake is None:
        raise FacepipeError(f"{args.video}: no face found in {len(result.frames)} frames; P(fake) is undefined (no face)")
    print(f"{args.video}: P(fake) {result.p_fake:.4f} ({result.verdict}), "
          f"{result.faces} faces in {len(result.frames)} frames, detector {result.detector}")
    if result.uncertain:
        print(f"uncertain: {result.uncertain}")
    return 0


def _f(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}"
