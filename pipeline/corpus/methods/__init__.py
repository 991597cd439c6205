"""Manipulation methods of a corpus: each turns a target video's faces into a source identity's.

A method is a class with ``name``, ``folder`` (its ``manipulated_sequences/<folder>``), ``prepare``
(run once in the build process before any job: training, for methods that need it; returns what the
manifest should name as the model) and ``stage(job)`` (a frame stage, built inside the job's worker,
that sets ``face.swapped`` and ``face.swapped_mask`` on the target's aligned faces; the blend stage
then pastes them). A new method is one module and one line here.
"""

from __future__ import annotations

from pipeline.registry import Registry

METHODS = Registry("corpus method", {
    "warp": "pipeline.corpus.methods.warp:WarpMethod",
    "gan": "pipeline.corpus.methods.gan:GanMethod",
}, setting="--methods")
