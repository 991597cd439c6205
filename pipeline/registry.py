"""Where each config table and each frame stage lives, as ``module:attribute`` strings.

Import is lazy so that ``facepipe --help`` does not load torch or dlib. A new stage adds one line to
``STAGES`` and its config table one line to ``SECTIONS``.
"""

from __future__ import annotations

import importlib
from typing import Any

from pipeline.errors import FacepipeError

SECTIONS: dict[str, str] = {
    "pipeline": "pipeline.config:PipelineConfig",
    "decode": "stages.decode:DecodeConfig",
    "encode": "stages.encode:EncodeConfig",
    "capture": "stages.capture:CaptureConfig",
    "train": "models.train_config:TrainConfig",
    "detect": "stages.detect:DetectConfig",
    "landmarks": "stages.landmarks:LandmarksConfig",
    "align": "stages.align:AlignConfig",
    "strip": "stages.strip:StripConfig",
    "rescale": "stages.rescale:RescaleConfig",
    "swap": "stages.swap:SwapConfig",
    "blend": "stages.blend:BlendConfig",
    "occlude": "stages.occlude:OccludeConfig",
}

STAGES: dict[str, str] = {
    "detect": "stages.detect:DetectStage",
    "landmarks": "stages.landmarks:LandmarksStage",
    "align": "stages.align:AlignStage",
    "strip": "stages.strip:StripStage",
    "rescale": "stages.rescale:RescaleStage",
    "swap": "stages.swap:SwapStage",
    "blend": "stages.blend:BlendStage",
    "occlude": "stages.occlude:OccludeStage",
}


def load(target: str) -> Any:
    module_name, attr = target.split(":")
    return getattr(importlib.import_module(module_name), attr)


def stage_class(name: str) -> Any:
    if name not in STAGES:
        raise FacepipeError(f"unknown stage {name!r} in pipeline.stages (known: {', '.join(sorted(STAGES))})")
    return load(STAGES[name])
