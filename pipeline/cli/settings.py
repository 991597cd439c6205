"""The application's configuration schema: which ``[table]`` of ``pipeline.toml`` belongs to whom.

The run-wide tables (pipeline, decode, encode, capture, train, corpus, detector) are listed here; each stage's table is
its own ``Stage.Config``, read from the stage table (``stages.STAGES``), so a new stage needs no
line here. The order is the order of ``pipeline.toml``.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable, Mapping

from pipeline.config import Config, PipelineConfig, SectionType
from pipeline.config import load_config as load_with_schema
from pipeline.registry import Registry
from stages import STAGES

REPO_DEFAULTS = Path(__file__).resolve().parents[2] / "pipeline.toml"


# Run-wide tables whose modules are costly to import (numpy, the corpus and detector rooms): loaded on use.
RUN_TABLES = Registry("config table", {
    "capture": "pipeline.media.capture:CaptureConfig",
    "train": "models.train_config:TrainConfig",
    "corpus": "pipeline.corpus.config:CorpusConfig",
    "detector": "pipeline.detection.config:DetectorConfig",
})


def _stage_config(name: str) -> Callable[[], type]:
    return lambda: STAGES.load(name).Config


def section_schema() -> dict[str, SectionType]:
    """Every config table: a dataclass, or a loader for tables whose module is costly to import.

    decode and encode are read by every run; the other tables (and every stage's, whose modules import
    numpy) are imported only when a run uses them (:func:`pipeline.config.load_config`).
    """
    from pipeline.media.decode import DecodeConfig
    from pipeline.media.encode import EncodeConfig

    sections: dict[str, SectionType] = {"pipeline": PipelineConfig, "decode": DecodeConfig, "encode": EncodeConfig}
    for name in RUN_TABLES:
        sections[name] = functools.partial(RUN_TABLES.load, name)
    for name in STAGES:
        sections[name] = _stage_config(name)
    return sections


def section_types() -> dict[str, type]:
    """Every config table's dataclass, all imported (for the documentation and the tests)."""
    return {name: cls if isinstance(cls, type) else cls() for name, cls in section_schema().items()}


def load_config(user_file: str | Path | None = None, overrides: list[str] | None = None,
                defaults_file: Path | None = REPO_DEFAULTS, profile: Mapping[str, Mapping[str, Any]] | None = None,
                profile_name: str = "profile") -> Config:
    """Defaults <- repository ``pipeline.toml`` <- a command's ``profile`` <- ``user_file`` <- ``--set``."""
    return load_with_schema(section_schema(), user_file, overrides, defaults_file, stage_names=list(STAGES),
                            profile=profile, profile_name=profile_name)


# -- --face: the retrieval swap (swap.method = "bank") ----------------------------------------------

FACE_HELP = ("paint this person in: a video, a folder of photos or videos of them, or a bank file from `facepipe bank` "
             "(sets swap.method = 'bank' and swap.face; their faces are found once and cached). A video of them "
             "talking, smiling and turning their head gives the most expressions. Default: the bundled bank")


def add_face_option(parser: Any, help: str = FACE_HELP) -> None:
    """``--face VIDEO_OR_FOLDER`` on a command that swaps."""
    parser.add_argument("--face", metavar="VIDEO_OR_FOLDER", help=help)


def face_overrides(face: str | None) -> list[str]:
    """The settings ``--face`` stands for (the path made absolute, so folder jobs find it too)."""
    if not face:
        return []
    import json

    return ['swap.method="bank"', f"swap.face={json.dumps(str(Path(face).expanduser().absolute()))}"]


def prepare_face_bank(config: Config, quiet: bool) -> None:
    """Build the bank of ``swap.face`` before the run, with a progress bar, when a run paints from one
    (the swap stage then finds it in the cache); check a bank file's header; say once that a bank of
    photos has one expression each."""
    if "swap" not in config.pipeline.stages:
        return
    from pipeline.cli.progress import frame_progress, warn
    from stages.faces.bank import check_bank_file
    from stages.swap import bundled_bank_path, face_bank_spec, open_face_bank, painting_method

    swap = config.section("swap")
    if painting_method(swap) != "bank":
        return
    spec = face_bank_spec(swap)
    if spec is None:  # a bank file or the bundled bank: nothing to build; the swap stage opens it
        check_bank_file(swap.face or str(bundled_bank_path()))
        return
    open_face_bank(swap, progress=lambda label, total: frame_progress(label, total, quiet))
    if spec.kind == "photos":
        count = len(spec.files)
        warn(f"swap.face = {spec.face!r} is {count} photo{'s' if count != 1 else ''}: the bank has one expression per "
             "photo, so faces are painted with the nearest of those; a video of the person talking, smiling and "
             "turning gives far more")
