"""The frame stages: one ``Stage`` subclass per module, the table that names them, and the stage lists
that several commands run alike (``FACE_STAGES``, ``FACESET_STAGES``).

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

# Every aligned crop cut outside a configured run (the detector's crops and scores, the attack, one
# image's faces) goes through these, so all of them see faces framed alike.
FACE_STAGES = ("detect", "landmarks", "align")
# What a faceset is written from (``facepipe extract``, the corpus's face cache): the crops and their masks.
FACESET_STAGES = (*FACE_STAGES, "strip")
