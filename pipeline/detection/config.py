"""The ``[detector]`` table of ``pipeline.toml``. Free of torch so that config loading stays cheap."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.config import option


@dataclass
class DetectorConfig:
    """Data sampling, network, optimiser and augmentation for ``facepipe detector train/eval/score``."""

    architecture: str = option("xceptionmini", "network: meso4 (MesoNet paper), mesoinception4, or xceptionmini "
                               "(small Xception-style, trains from scratch on a CPU)",
                               choices=("meso4", "mesoinception4", "xceptionmini"))
    frames_per_video: int = option(32, "training/validation: frames sampled per video (seeded); 0 = every frame. "
                                   "32 of a 4-5 s corpus video: at 8 meso4 never left P(fake) ~0.5 on the demo corpus",
                                   unit="frames", min=0, max=100_000)
    eval_frames: int = option(32, "evaluation: frames sampled per test video (a video's P(fake) is their mean); "
                              "0 = every frame", unit="frames",
                              min=0, max=100_000)
    epochs: int = option(12, "passes over the training crops", min=1, max=10_000)
    max_steps: int = option(0, "stop after this many optimiser steps; 0 = no limit (epochs decide)", min=0)
    batch_size: int = option(32, "crops per optimiser step", unit="crops", min=1, max=4096)
    lr: float = option(1e-3, "Adam learning rate (cosine decay to 5 % over the run)", min=0.0, max=1.0)
    weight_decay: float = option(1e-4, "AdamW weight decay", min=0.0, max=1.0)
    seed: int = option(0, "seed for frame sampling, initialisation, batches and augmentation", min=0)
    balance: bool = option(True, "draw real and fake crops equally often (corpora have several fakes per real)")
    flip: float = option(0.5, "augmentation: probability of a horizontal flip", min=0.0, max=1.0)
    jpeg: float = option(0.3, "augmentation: probability of a JPEG round trip at quality 30-90", min=0.0, max=1.0)
    blur: float = option(0.2, "augmentation: probability of a Gaussian blur, sigma 0.3-1.5 px", min=0.0, max=1.0)
    rescale: float = option(0.2, "augmentation: probability of a low-resolution round trip (the crop of a face "
                            "50-150 px wide)", min=0.0, max=1.0)
    noise: float = option(0.2, "augmentation: probability of Gaussian noise, sigma 2-8 levels", min=0.0, max=1.0)
    colour: float = option(0.3, "augmentation: probability of brightness/contrast/saturation jitter", min=0.0, max=1.0)
    occlusion: float = option(0.3, "with --occlusion-augment: probability of one occlusion-stage occluder "
                              "(block, noise or black bar, random anchor and level) per crop; 0.5 cost clean AUC "
                              "on the demo corpus (README)", min=0.0, max=1.0)
    methods: list[str] = option([], "fake methods trained on (manifest names, e.g. Warp, GAN); empty = every "
                                "method of the corpus. Leaving one out measures how a detector meets a method it never saw")
    train_variants: str = option("clean", "which videos of the train and val splits are trained on: clean only "
                                 "(the perturbed and occluded variants stay robustness tests), or all of them "
                                 "(a detector for real-world clips)", choices=("clean", "all"))
    threads: int = option(0, "CPU threads for torch; 0 = all cores", min=0, max=256)
    workers: int = option(1, "processes cutting face crops from videos (1 = in this process)", min=1, max=256)
    threshold: float = option(0.5, "P(fake) at or above which a face or video is called fake (accuracy)",
                              min=0.0, max=1.0)
