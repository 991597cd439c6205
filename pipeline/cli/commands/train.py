"""``facepipe train --faces-a DIR --faces-b DIR -o MODEL_DIR``: train the GAN swap model.

Torch is imported inside :func:`main` only, so ``facepipe --help`` stays fast.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from pipeline.cli.commands.common import add_config_options
from pipeline.cli.settings import load_config
from pipeline.errors import Cancelled, FacepipeError, Stopped


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train", help="train a face-swap model on two facesets",
        description="Train the GAN swap model (shared encoder, decoder per identity, PatchGAN per identity) on "
                    "facesets written by `facepipe extract`. Settings come from the [train] table; Ctrl-C saves.")
    parser.add_argument("--faces-a", nargs="+", required=True, metavar="DIR",
                        help="faceset(s) of identity A (the face replaced), or one faceset pack (.npz, see --pack-to)")
    parser.add_argument("--faces-b", nargs="+", required=True, metavar="DIR",
                        help="faceset(s) of identity B (the face painted in), or one faceset pack (.npz)")
    parser.add_argument("-o", "--output", metavar="MODEL_DIR", help="model directory (checkpoint, card, previews)")
    parser.add_argument("--pack-to", metavar="DIR", help="train nothing: write the prepared training sets (crops at "
                        "train.resolution, landmarks, the hold-out split) as DIR/a.npz and DIR/b.npz, a few MB each, "
                        "to carry to another machine (e.g. one with a GPU)")
    parser.add_argument("--iterations", type=int, metavar="N", help="total iterations (overrides train.iterations)")
    parser.add_argument("--max-minutes", type=float, metavar="M", help="stop (saving and evaluating as usual) after M minutes of this run")
    parser.add_argument("--resume", action="store_true", help="continue the checkpoint in MODEL_DIR (iteration count and optimiser state)")
    parser.add_argument("--overwrite", action="store_true", help="start afresh even if MODEL_DIR already holds a checkpoint")
    add_config_options(parser)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    overrides = list(args.set) + ([f"train.iterations={args.iterations}"] if args.iterations is not None else [])
    # Training runs no frame stages: do not fail on a stage list meant for `convert`.
    overrides.append("pipeline.stages=[]")
    config = load_config(args.config, overrides)
    cfg = config.train
    if args.pack_to:
        return _pack(args, cfg)
    if not args.output:
        raise FacepipeError("train needs -o MODEL_DIR (or --pack-to DIR to only prepare the faces)")
    out_dir = Path(args.output)
    from models.checkpoint import WEIGHTS

    if (out_dir / WEIGHTS).exists() and not (args.resume or args.overwrite):
        raise FacepipeError(f"{out_dir} already holds a model; use --resume to continue it or --overwrite to start afresh")
    if out_dir.exists() and not out_dir.is_dir():
        raise FacepipeError(f"{out_dir} exists and is not a directory")

    import torch
    from rich.console import Console

    from models.checkpoint import torch_device
    from models.evaluate import evaluate
    from models.training import Trainer, set_threads

    console = Console(stderr=True, quiet=args.quiet)
    set_threads(cfg.threads)
    device = torch_device(config.pipeline.device)
    faces_a, faces_b = _load_faces(args, cfg)
    for faces in (faces_a, faces_b):
        _note_pack_settings(console, faces.prepared, cfg)
    say(console, [f"faces: A {len(faces_a.train)} train + {len(faces_a.held)} held out ({faces_a.duplicates} duplicates dropped)",
                  f"B {len(faces_b.train)} train + {len(faces_b.held)} held out ({faces_b.duplicates} duplicates dropped)",
                  f"{cfg.resolution} px on {device} ({torch.get_num_threads()} threads)"])
    trainer = Trainer(cfg, out_dir, faces_a, faces_b, device, resume=args.resume)
    if args.resume:
        console.print(f"resuming at iteration {trainer.iteration}")
    elif "initialised_from" in trainer.card_extra:
        console.print(f"starting from {trainer.card_extra['initialised_from']['model']} (train.init = {cfg.init!r}; "
                      f"'none' trains from scratch)")
    else:
        console.print(f"starting from random weights (train.init = {cfg.init!r}: no bundled model has this shape)"
                      if cfg.init == "auto" else "starting from random weights")
    if trainer.iteration >= cfg.iterations:
        raise FacepipeError(f"{out_dir} is already at iteration {trainer.iteration}; ask for more with --iterations N")
    log = _Log(console, trainer.iteration, cfg.iterations, args.quiet)
    try:
        with log:
            final = trainer.run(cfg.iterations, on_step=log.step, on_save=log.saved,
                                max_seconds=args.max_minutes * 60 if args.max_minutes else None)
    except KeyboardInterrupt as exc:
        if isinstance(exc, Stopped):  # the trainer saved on the way out: say so, not "partial output removed"
            raise Cancelled(f"stopped by {signal.Signals(exc.signum).name} at iteration {trainer.iteration}; checkpoint "
                            f"saved in {out_dir} (continue with --resume)", exit_code=128 + exc.signum) from None
        raise Cancelled(f"interrupted at iteration {trainer.iteration}; checkpoint saved in {out_dir} (continue with --resume)") from None
    held_a = faces_a.held if len(faces_a.held) else faces_a.train
    held_b = faces_b.held if len(faces_b.held) else faces_b.train
    figures = evaluate(trainer.nets, held_a, held_b, device)
    figures["split"] = "held-out" if len(faces_a.held) and len(faces_b.held) else "training (no hold-out configured)"
    trainer.save(final, evaluation=figures)
    rate = trainer.iteration / trainer.wall_seconds if trainer.wall_seconds else 0.0
    say(console, [f"saved {out_dir}", f"iteration {trainer.iteration} ({rate:.2f} it/s)",
                  f"A->A L1 {figures.get('a2a', {}).get('l1')}", f"B->B L1 {figures.get('b2b', {}).get('l1')}",
                  f"discriminator accuracy {figures.get('discriminator_accuracy')}", f"on {figures['split']}"])
    return 0


def _pack(args: argparse.Namespace, cfg) -> int:
    """``--pack-to``: load, de-duplicate and split both identities once, and write them as packs."""
    from rich.console import Console

    from models.faceset_pack import save_pack

    console = Console(stderr=True, quiet=args.quiet)
    phrases = []
    for name, faces in zip("ab", _load_faces(args, cfg)):
        path = Path(args.pack_to) / f"{name}.npz"
        save_pack(faces, path)
        phrases.append(f"{path}: {len(faces.train)} train + {len(faces.held)} held out, {path.stat().st_size / 1e6:.1f} MB")
    say(console, phrases + [f"{cfg.resolution} px"])
    return 0


def _load_faces(args: argparse.Namespace, cfg) -> tuple:
    """Both identities' faces, de-duplicated, split and masked as ``[train]`` says (packs as packed)."""
    from models.faceset import load_faceset

    split = {"gap": cfg.holdout_gap, "by": cfg.holdout_by, "dedupe_psnr": cfg.dedupe_psnr, "occlusion": cfg.occlusion_mask}
    return tuple(load_faceset(dirs, cfg.resolution, cfg.holdout, **split) for dirs in (args.faces_a, args.faces_b))


def _note_pack_settings(console, prepared: dict, cfg) -> None:
    """A pack was split and masked when it was packed: say so when this run's settings differ.
    ``prepared`` is keyed by the ``[train]`` names of those settings, plus ``pack``."""
    if "pack" not in prepared:
        return
    differ = [f"{key} = {value!r}" for key, value in prepared.items()
              if key != "pack" and hasattr(cfg, key) and value != getattr(cfg, key)]
    if differ:
        say(console, [f"{prepared['pack']}: packed with", *differ, "(those apply, not this run's train settings)"])


def say(console, phrases: list[str]) -> None:
    """A message of several phrases, packed into lines that fit 80 columns (never cut mid-phrase)."""
    from pipeline.cli.progress import pack

    for line in pack(phrases, min(80, console.width)):
        console.print(line, soft_wrap=True, highlight=False, markup=False)


def _losses(losses: dict[str, float]) -> list[str]:
    return [f"{k} {v:.4f}" for k, v in losses.items()]


class _Log:
    """Rich progress bar on a terminal; plain periodic lines when output is a file (nohup)."""

    def __init__(self, console, start: int, total: int, quiet: bool) -> None:
        self.console = console
        self.start, self.total = start, total
        self.tty = console.is_terminal and not quiet
        self.rate = 0.0
        self.step_seconds = 0.0
        self.last_line = time.monotonic()
        self.progress = None
        if self.tty:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
            from rich.table import Column
            from rich.text import Text

            class TrainProgress(Progress):
                """The bar on one line, the losses below it packed to the terminal's width."""

                losses: list[str] = []

                def get_renderables(self):
                    yield self.make_tasks_table(self.tasks)
                    if self.losses:
                        from pipeline.cli.progress import pack

                        yield Text("\n".join(pack(self.losses, min(80, self.console.width))), no_wrap=True,
                                   overflow="ellipsis")

            self.progress = TrainProgress(TextColumn("train"), BarColumn(bar_width=None, table_column=Column(min_width=8, ratio=1)),
                                          MofNCompleteColumn(), TextColumn("{task.fields[rate]} it/s", table_column=Column(no_wrap=True)),
                                          TimeRemainingColumn(), console=console)
            self.task = self.progress.add_task("train", total=total, completed=start, rate="-")

    def __enter__(self) -> "_Log":
        if self.progress:
            self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self.progress:
            self.progress.__exit__(*exc)

    def step(self, iteration: int, losses: dict[str, float], seconds: float) -> None:
        # Average the seconds per step, then invert: averaging rates would overstate the speed.
        self.step_seconds = 0.95 * self.step_seconds + 0.05 * seconds if self.step_seconds else seconds
        self.rate = 1.0 / max(self.step_seconds, 1e-6)
        if self.progress:
            self.progress.losses = _losses(losses)
            self.progress.update(self.task, completed=iteration, rate=f"{self.rate:.2f}")
        elif not self.console.quiet and (time.monotonic() - self.last_line > 30 or iteration == self.total):
            self.last_line = time.monotonic()
            left = (self.total - iteration) / self.rate if self.rate else 0.0
            phrases = [f"iteration {iteration}/{self.total}", f"{self.rate:.2f} it/s", f"{left / 60:.0f} min left",
                       *_losses(losses)]
            from pipeline.cli.progress import pack

            print("\n".join(pack(phrases)), file=sys.stderr, flush=True)

    def saved(self, iteration: int) -> None:
        if not self.progress and not self.console.quiet:
            print(f"checkpoint saved at iteration {iteration}", file=sys.stderr, flush=True)
