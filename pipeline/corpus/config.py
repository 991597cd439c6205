"""The ``[corpus]`` table of ``pipeline.toml``: what ``facepipe corpus build`` makes by default.

Kept free of heavy imports so that config loading stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.config import option


@dataclass
class CorpusConfig:
    """Methods, compressions, perturbation and occlusion variants, splits and engine of a corpus build."""

    methods: list[str] = option(["warp", "gan"], "manipulation methods (see `pipeline.corpus.methods.METHODS`)")
    compressions: list[str] = option(["c23"], "FF++ compression levels: c0 = lossless libx264rgb, c23/c40 = x264 CRF 23/40")
    perturb: list[str] = option([], "DeeperForensics perturbation variants: TYPE:LEVEL (CS:3), mixes (CS:3+GB:2), "
                                "random (a random type and level per video) or random2..random4 (a random mix)")
    occlude: list[str] = option([], "occlusion variants, the occlusion stage's occluders on real and fake alike: KIND:LEVEL "
                                "or KIND:LEVEL:ANCHOR (block:3, noise:2, object:5:lower) -> occluded/<KIND>_<LEVEL>/; "
                                "material (image, grey, noise_sigma, block_size) from [occlude]")
    splits: list[float] = option([0.72, 0.14, 0.14], "train/val/test fractions of the identities (identity-disjoint)")
    fold_splits: bool = option(False, "when the corpus has too few identities for 2 per split (a fake's source and "
                               "target share its split), fold the smallest splits into the largest (val first, "
                               "then test) instead of refusing; recorded in .facepipe/plan.json (--fold-splits)")
    seed: int = option(0, "seed for pairs, splits, perturbation randomness and GAN initialisation", min=0)
    max_frames: int = option(0, "use only the first N frames of every input video; 0 = all", unit="frames", min=0)
    preset: str = option("veryfast", "x264 preset of the corpus videos",
                         choices=("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow"))
    train_minutes: float = option(20.0, "gan: wall-clock training budget of the multi-identity model (resumable: a "
                                  "re-run continues to this total)", unit="min", min=0.0, max=100000.0)
    model: str = option("", "gan: a trained multi-identity model folder to use instead of training one")
    gan_resolution: int = option(64, "gan: model crop size", unit="px", choices=(64, 128))
    gan_batch: int = option(8, "gan: faces per identity per training step", min=1, max=256)
    gan_init: str = option("bundled", "gan: start a new multi-identity model from a two-identity swap model's encoder "
                           "and decoders (bundled = models/bundled; a model folder; none = from scratch); a model "
                           "already in the corpus resumes as it is")
    engine: str = option("local", "job engine when neither --workers nor --scheduler is given",
                         choices=("serial", "local", "dask"))
    workers: int = option(0, "parallel jobs; 0 = one per core", min=0, max=4096)
