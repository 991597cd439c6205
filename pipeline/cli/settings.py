"""The application's configuration schema: which ``[table]`` of ``pipeline.toml`` belongs to whom.

The run-wide tables (pipeline, decode, encode, capture, train, corpus, detector) are listed here; each stage's table is
its own ``Stage.Config``, read from the stage table (``stages.STAGES``), so a new stage needs no
line here. The order is the order of ``pipeline.toml``.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.config import Config, PipelineConfig
from pipeline.config import load_config as load_with_schema
from stages import STAGES

REPO_DEFAULTS = Path(__file__).resolve().parents[2] / "pipeline.toml"


def section_types() -> dict[str, type]:
    """Every config table's dataclass. Importing a stage module is cheap: stages load heavy libraries in ``open``."""
    from models.train_config import TrainConfig
    from pipeline.corpus.config import CorpusConfig
    from pipeline.media.capture import CaptureConfig
    from pipeline.detection.config import DetectorConfig
    from pipeline.media.decode import DecodeConfig
    from pipeline.media.encode import EncodeConfig

    sections: dict[str, type] = {"pipeline": PipelineConfig, "decode": DecodeConfig, "encode": EncodeConfig,
                                 "capture": CaptureConfig, "train": TrainConfig,
                                 "corpus": CorpusConfig, "detector": DetectorConfig}
    for name in STAGES:
        sections[name] = STAGES.load(name).Config
    return sections


def load_config(user_file: str | Path | None = None, overrides: list[str] | None = None,
                defaults_file: Path | None = REPO_DEFAULTS) -> Config:
    """Defaults <- repository ``pipeline.toml`` <- ``user_file`` <- ``--set`` overrides."""
    return load_with_schema(section_types(), user_file, overrides, defaults_file, stage_names=list(STAGES))
