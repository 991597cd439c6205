"""The frame stages: one ``Stage`` subclass per module, and the table that names them.

A new stage is one module here (its ``Config`` dataclass and its ``Stage`` class) plus one line in
``STAGES``; its ``[name]`` table in ``pipeline.toml`` comes from its ``Config`` by itself. Helpers
shared by several stages live in the sub-packages: ``faces/`` (geometry, tracking, smoothing,
detector and landmark backends) and ``occlusion/`` (occluders, attack search, classifier loading).
"""

from __future__ import annotations

from pipeline.registry import Registry

STAGES = Registry("stage", {
    "detect": "stages.detect:DetectStage",
    "landmarks": "stages.landmarks:LandmarksStage",
    "align": "stages.align:AlignStage",
    "strip": "stages.strip:StripStage",
    "rescale": "stages.rescale:RescaleStage",
    "swap": "stages.swap:SwapStage",
    "blend": "stages.blend:BlendStage",
    "occlude": "stages.occlude:OccludeStage",
}, setting="pipeline.stages")
